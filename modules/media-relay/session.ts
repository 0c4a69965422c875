import type { Endpoint } from '../../core/module.ts';

/**
 * What one relay session carries of a stream: all of it when the stream has no RTCP of its own
 * (`media`: the plain protocol's one port per call), else its RTP or its RTCP.
 */
export type SessionComponent = 'media' | 'rtp' | 'rtcp';

/** Names a relay session: the call, the stream (its index in the description) and the component. */
export interface SessionKey {
  readonly callId: string;
  readonly stream: number;
  readonly component: SessionComponent;
}

export type SessionEndReason = 'bye' | 'idle' | 'ended' | 'dialog' | 'shutdown' | 'replaced';

/** A party of a session, as its counters report it. */
export interface PartyStats {
  /** The party's user. */
  readonly name: string;
  /** Party a is the caller, b the callee. */
  readonly role: 'caller' | 'callee';
  /** The relay port this party sends to: the session's one port, or its own leg's. */
  readonly relayPort: number;
  /** Where the relay sends this party's media: where it was latched, else where it was expected. */
  readonly media: Endpoint;
  readonly latched: boolean;
  /** Datagrams (and their bytes) taken from this party and forwarded. */
  readonly packets: number;
  readonly bytes: number;
}

export interface SessionStats {
  /** The session's first port (a two-leg session: the caller's leg). */
  readonly port: number;
  readonly durationMs: number;
  readonly parties: readonly [PartyStats, PartyStats];
  readonly strangers: number;
  readonly sendErrors: number;
}

/** A session's counters with its name. */
export interface SessionCounters {
  readonly key: SessionKey;
  readonly stats: SessionStats;
}

const COMPONENT_ORDER: Readonly<Record<SessionComponent, number>> = { media: 0, rtp: 0, rtcp: 1 };

/** Stream order, RTP before RTCP: the order counters are reported in. */
export function compareSessionKeys(x: SessionKey, y: SessionKey): number {
  return x.stream - y.stream || COMPONENT_ORDER[x.component] - COMPONENT_ORDER[y.component];
}
