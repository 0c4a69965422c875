import type { Endpoint } from '../../../core/module.ts';
import type { SessionKey, SessionStats } from '../session.ts';

/** Each session socket's receive queue: room for a burst (a jitter-buffer flush, a scheduling hiccup); memory is used only while queued. */
export const MEDIA_SOCKET_BUFFER_BYTES = 1024 * 1024;

/** A party of a session: its name (for the counters) and where it is expected to send from. */
export interface PartySpec {
  readonly name: string;
  readonly address: Endpoint;
}

/**
 * A media relay session on one port: every datagram from one party goes, unchanged, to the
 * other. Senders are told apart by source address; a party that has not sent yet latches to
 * a new source from its own IP (symmetric NAT learning, as rtpproxy); anything else is dropped.
 */
export interface RelaySession {
  readonly key: SessionKey;
  readonly port: number;
  /** Closed: no longer relaying. */
  readonly ended: boolean;
  /**
   * Where a party says its media comes from (SIP: the address and port in its SDP). A party
   * that has not sent yet simply expects it; one whose address moved (a re-INVITE) latches anew.
   */
  setExpected(which: 'a' | 'b', e: Endpoint): void;
  /** Where a party is expected to send from, as last set (in the socket's address form). */
  expected(which: 'a' | 'b'): Endpoint;
  /** Datagrams relayed so far, both ways (the idle sweep compares it between sweeps). */
  relayedCount(): number;
  stats(): SessionStats;
  /** Stops relaying and frees the socket; idempotent. */
  close(): void;
}

/** A port an engine has bound, not yet carrying a session. */
export interface BoundPort {
  readonly port: number;
  /** Starts relaying on this port between `a` and `b`. */
  start(key: SessionKey, a: PartySpec, b: PartySpec): RelaySession;
  /** Frees a port that never started a session. */
  release(): void;
}

/**
 * Where datagrams are forwarded: the native engine (worker threads, recvmmsg/sendmmsg) or the
 * pure-JS one (`dgram`, on the event loop). Both follow the same rules; the tests run both.
 */
export interface MediaEngine {
  readonly kind: 'native' | 'js';
  /** Threads forwarding media (the JS engine: the event loop, 1). */
  readonly workers: number;
  /** Binds `port` on the engine's host; rejects when it cannot (held by another program...). */
  bind(port: number): Promise<BoundPort>;
  /** Stops forwarding; every session's socket is closed. */
  close(): void;
}
