import { isIP } from 'node:net';
import { OpenMap, type MediaStream, type RelayedAddress } from '../../core/module.ts';
import type { CallMediaStats, PartyMedia, RelayBackend, RelayCall, RelayedStreams, RelayTotals, SessionEnd } from './backend.ts';
import { compareSessionKeys, type SessionCounters, type SessionEndReason } from './session.ts';
import type { LegOptions, PartySpec, RelaySession } from './relay/engine.ts';
import type { MediaRelay } from './relay/media-relay.ts';

/** The addresses the relay writes into descriptions, one per family. */
export interface RelayAddresses {
  readonly ipv4: string;
  readonly ipv6: string;
}

export type AddressFamily = 'ipv4' | 'ipv6';

/** A stream's sessions: one for all of it, or its RTP with its RTCP. */
interface StreamSessions {
  readonly main: RelaySession;
  readonly rtcp: RelaySession | null;
}

/** What the relay holds for one call. */
interface CallSessions {
  /** Each stream's sessions (opening, opened, or null: no port), by stream index. */
  readonly streams: (Promise<StreamSessions | null> | undefined)[];
  /** Every session opened for the call, ended ones included until the call ends. */
  readonly sessions: RelaySession[];
  /** The address family each party's own description last used, caller then callee. */
  readonly families: [AddressFamily | undefined, AddressFamily | undefined];
}

/** A party whose address the relay learns from its own description. */
const UNKNOWN = { address: '', port: 0 };

/** The family of an IP literal (IPv4-mapped IPv6 is IPv4); undefined for anything else. */
export function familyOf(address: string | undefined): AddressFamily | undefined {
  if (address === undefined) return undefined;
  const v = isIP(address);
  if (v === 4) return 'ipv4';
  if (v !== 6) return undefined;
  return address.toLowerCase().startsWith('::ffff:') && address.includes('.') ? 'ipv4' : 'ipv6';
}

/**
 * The relay in this process (MediaRelay and its engine). Both parties of a stream share its
 * sessions: a party's description opens them when the stream is new and says where that party
 * is; the description is then rewritten to name the relay as the party that reads it must reach
 * it: the port that party sends to, at the relay's address in that party's family.
 *
 * Where the dialect tells both parties one port (the plain protocol), a stream has one session
 * on one port, and its parties are told apart by their addresses. Otherwise (SIP) each party
 * has a leg of its own: the caller sends to the caller's port, the callee to the callee's.
 */
export class EmbeddedBackend implements RelayBackend {
  readonly kind = 'embedded';
  readonly convertsMedia = false;
  private readonly calls = new OpenMap<CallSessions>();
  private readonly listeners: ((e: SessionEnd) => void)[] = [];

  constructor(readonly mediaRelay: MediaRelay, private readonly addresses: RelayAddresses, private readonly legOptions: LegOptions = { strictSource: false }) {
    mediaRelay.onEnd((session, reason, stats) => {
      for (const l of this.listeners) l({ key: session.key, reason, stats });
    });
  }

  async relay(media: PartyMedia): Promise<RelayedStreams> {
    const { call, streams } = media;
    let held = this.calls.get(call.callId);
    if (held === undefined) {
      held = { streams: [], sessions: [], families: [undefined, undefined] };
      this.calls.set(call.callId, held);
    }
    const side = media.side === 'caller' ? 0 : 1;
    const which = side === 0 ? 'a' : 'b';
    const shared = media.description.sharedRelayPort;
    const ownFamily = streams.map((s) => familyOf(s.rtp?.address)).find((f) => f !== undefined);
    if (ownFamily !== undefined) held.families[side] = ownFamily;
    // The reader: the other party, in the family of its own description, else of its signaling.
    const readerFamily = held.families[1 - side] ?? familyOf(media.readerSignal) ?? ownFamily ?? 'ipv4';
    const address = this.addresses[readerFamily];
    // Only strict latching reads the party's signaling IP.
    const legOptions: LegOptions = media.strictSource === undefined ? this.legOptions : { ...this.legOptions, strictSource: media.strictSource };
    const signal = legOptions.strictSource && !shared ? media.signal : undefined;
    const out = new Map<number, RelayedAddress>();
    for (const s of streams) {
      const got = await this.sessionsFor(call, held, s, shared, legOptions);
      if (this.calls.get(call.callId) !== held) return new Map(); // the call ended meanwhile: its sessions are gone
      if (got === null) continue;
      got.main.setExpected(which, s.rtp!);
      if (signal !== undefined) got.main.setSignal(which, signal);
      if (got.rtcp === null) {
        out.set(s.index, { address, rtpPort: got.main.port });
        continue;
      }
      // With rtcp-mux and no a=rtcp, RTCP comes from the RTP port.
      got.rtcp.setExpected(which, s.rtcp ?? s.rtp!);
      if (signal !== undefined) got.rtcp.setSignal(which, signal);
      // The reader sends to its own leg's ports.
      const leg = shared ? 0 : 1 - side;
      out.set(s.index, { address, rtpPort: got.main.ports[leg]!, rtcpPort: got.rtcp.ports[leg]! });
    }
    return out;
  }

  /** The stream's sessions, opened on first use; sessions that ended on their own (idle) are opened anew. */
  private async sessionsFor(call: RelayCall, held: CallSessions, s: MediaStream, shared: boolean, legOptions: LegOptions): Promise<StreamSessions | null> {
    for (let attempt = 0; attempt < 2; attempt++) {
      let pending = held.streams[s.index];
      if (pending === undefined) {
        pending = this.open(call, held, s, shared, legOptions);
        held.streams[s.index] = pending;
      }
      const got = await pending;
      if (got === null) {
        if (held.streams[s.index] === pending) held.streams[s.index] = undefined; // a later description tries again
        return null;
      }
      if (!got.main.ended && (got.rtcp === null || !got.rtcp.ended)) return got;
      if (held.streams[s.index] === pending) {
        held.streams[s.index] = undefined;
        this.mediaRelay.end(got.main, 'replaced');
        if (got.rtcp !== null) this.mediaRelay.end(got.rtcp, 'replaced');
      }
    }
    return null;
  }

  private async open(call: RelayCall, held: CallSessions, s: MediaStream, shared: boolean, legOptions: LegOptions): Promise<StreamSessions | null> {
    const a: PartySpec = { name: call.caller, address: UNKNOWN };
    const b: PartySpec = { name: call.callee, address: UNKNOWN };
    let got: StreamSessions | null;
    if (!shared) {
      const legs = await this.mediaRelay.openLegs(call.callId, s.index, a, b, legOptions);
      got = legs === null ? null : { main: legs.rtp, rtcp: legs.rtcp };
    } else if (s.rtcp === null && !s.rtcpMux) {
      const one = await this.mediaRelay.open({ callId: call.callId, stream: s.index, component: 'media' }, a, b);
      got = one === null ? null : { main: one, rtcp: null };
    } else {
      const pair = await this.mediaRelay.openPair(call.callId, s.index, a, b);
      got = pair === null ? null : { main: pair.rtp, rtcp: pair.rtcp };
    }
    if (got === null) return null;
    if (this.calls.get(call.callId) !== held) {
      this.mediaRelay.end(got.main, 'ended');
      if (got.rtcp !== null) this.mediaRelay.end(got.rtcp, 'ended');
      return null;
    }
    held.sessions.push(got.main);
    if (got.rtcp !== null) held.sessions.push(got.rtcp);
    return got;
  }

  end(callId: string, reason: SessionEndReason): CallMediaStats | null {
    const held = this.calls.get(callId);
    if (held === undefined) return null;
    this.calls.delete(callId);
    const ended: SessionCounters[] = [];
    for (const session of held.sessions) {
      const stats = this.mediaRelay.end(session, reason);
      if (stats !== null) ended.push({ key: session.key, stats });
    }
    return ended.length === 0 ? null : { sessions: ended.sort((x, y) => compareSessionKeys(x.key, y.key)) };
  }

  async stats(callId: string): Promise<CallMediaStats | null> {
    const held = this.calls.get(callId);
    const live = held?.sessions.filter((s) => !s.ended) ?? [];
    if (live.length === 0) return null;
    return { sessions: live.map((s) => ({ key: s.key, stats: s.stats() })).sort((x, y) => compareSessionKeys(x.key, y.key)) };
  }

  async totals(): Promise<RelayTotals> {
    return { ...this.mediaRelay.totals };
  }

  onEnded(listener: (e: SessionEnd) => void): void {
    this.listeners.push(listener);
  }

  setIdleTimeout(ms: number): void {
    this.mediaRelay.setIdleTimeout(ms);
  }

  close(): void {
    this.calls.clear();
    this.mediaRelay.close();
  }
}
