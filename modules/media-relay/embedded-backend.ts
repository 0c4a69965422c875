import { OpenMap, type MediaStream, type RelayedAddress } from '../../core/module.ts';
import type { CallMediaStats, PartyMedia, RelayBackend, RelayCall, RelayedStreams, RelayTotals, SessionEnd } from './backend.ts';
import { compareSessionKeys, type SessionCounters, type SessionEndReason } from './session.ts';
import type { PartySpec, RelaySession } from './relay/engine.ts';
import type { MediaRelay } from './relay/media-relay.ts';

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
}

/** A party whose address the relay learns from its own description. */
const UNKNOWN = { address: '', port: 0 };

/**
 * The relay in this process (MediaRelay and its engine). Both parties of a stream share its
 * sessions: a party's description opens them when the stream is new and says where that party
 * sends from; the relay is then written into the description as `advertise` and the ports.
 */
export class EmbeddedBackend implements RelayBackend {
  readonly kind = 'embedded';
  private readonly calls = new OpenMap<CallSessions>();
  private readonly listeners: ((e: SessionEnd) => void)[] = [];

  constructor(readonly mediaRelay: MediaRelay, private readonly advertise: string) {
    mediaRelay.onEnd((session, reason, stats) => {
      for (const l of this.listeners) l({ key: session.key, reason, stats });
    });
  }

  async relay(media: PartyMedia): Promise<RelayedStreams> {
    const { call, streams } = media;
    let held = this.calls.get(call.callId);
    if (held === undefined) {
      held = { streams: [], sessions: [] };
      this.calls.set(call.callId, held);
    }
    const which = media.side === 'caller' ? 'a' : 'b';
    const out = new Map<number, RelayedAddress>();
    for (const s of streams) {
      const got = await this.sessionsFor(call, held, s);
      if (this.calls.get(call.callId) !== held) return new Map(); // the call ended meanwhile: its sessions are gone
      if (got === null) continue;
      got.main.setExpected(which, s.rtp!);
      if (got.rtcp === null) {
        out.set(s.index, { address: this.advertise, rtpPort: got.main.port });
      } else {
        // With rtcp-mux and no a=rtcp, RTCP comes from the RTP port.
        got.rtcp.setExpected(which, s.rtcp ?? s.rtp!);
        out.set(s.index, { address: this.advertise, rtpPort: got.main.port, rtcpPort: got.rtcp.port });
      }
    }
    return out;
  }

  /** The stream's sessions, opened on first use; sessions that ended on their own (idle) are opened anew. */
  private async sessionsFor(call: RelayCall, held: CallSessions, s: MediaStream): Promise<StreamSessions | null> {
    for (let attempt = 0; attempt < 2; attempt++) {
      let pending = held.streams[s.index];
      if (pending === undefined) {
        pending = this.open(call, held, s);
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

  private async open(call: RelayCall, held: CallSessions, s: MediaStream): Promise<StreamSessions | null> {
    const a: PartySpec = { name: call.caller, address: UNKNOWN };
    const b: PartySpec = { name: call.callee, address: UNKNOWN };
    let got: StreamSessions | null;
    if (s.rtcp === null && !s.rtcpMux) {
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
