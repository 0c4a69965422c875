import type { Endpoint } from '../../../core/address.ts';
import type { Logger } from '../../../core/log.ts';
import { MediaSession, type SessionEndReason, type SessionStats } from './media-session.ts';
import { PortPool, type PortRange } from './port-pool.ts';

export interface RelayOptions {
  readonly range: PortRange;
  readonly host: string;
  idleTimeoutMs: number;
}

export interface RelayTotals {
  sessionsStarted: number;
  sessionsEnded: number;
  packetsRelayed: number;
  bytesRelayed: number;
  strangersDropped: number;
  noPortFailures: number;
}

type EndListener = (session: MediaSession, reason: SessionEndReason, stats: SessionStats) => void;

/** The embedded media relay: owns the port pool and the live sessions, ends idle ones. */
export class MediaRelay {
  private readonly pool: PortPool;
  private readonly sessions = new Map<string, MediaSession>();
  /** The stream sessions (`<call>#<stream>[/rtcp]`) of each call, so a call's end does not scan every session. */
  private readonly byCall = new Map<string, Set<string>>();
  private readonly endListeners = new Set<EndListener>();
  private sweeper: NodeJS.Timeout | null = null;
  readonly totals: RelayTotals = { sessionsStarted: 0, sessionsEnded: 0, packetsRelayed: 0, bytesRelayed: 0, strangersDropped: 0, noPortFailures: 0 };

  constructor(private readonly opts: RelayOptions, private readonly log: Logger) {
    this.pool = new PortPool(opts.range, opts.host);
    this.restartSweeper();
  }

  get count(): number {
    return this.sessions.size;
  }

  get portsInUse(): number {
    return this.pool.used;
  }

  get portBindFailures(): number {
    return this.pool.bindFailures;
  }

  get(key: string): MediaSession | undefined {
    return this.sessions.get(key);
  }

  onEnd(l: EndListener): void {
    this.endListeners.add(l);
  }

  /** Opens a session for `key` between two parties; null when no port is free. Replaces an older session of the same key. */
  async open(key: string, a: { name: string; address: Endpoint }, b: { name: string; address: Endpoint }): Promise<MediaSession | null> {
    const old = this.sessions.get(key);
    if (old !== undefined) this.end(key, 'replaced');
    const got = await this.pool.allocate();
    if (got === null) {
      this.totals.noPortFailures++;
      return null;
    }
    const session = new MediaSession(key, got.socket, got.port, a, b);
    this.sessions.set(key, session);
    this.totals.sessionsStarted++;
    this.log.debug({ key, port: got.port }, 'media session started');
    return session;
  }

  /** An RTP/RTCP session pair on an even/odd port pair, keyed `<key>` and `<key>/rtcp`. */
  async openPair(key: string, a: { name: string; address: Endpoint }, b: { name: string; address: Endpoint }): Promise<{ rtp: MediaSession; rtcp: MediaSession } | null> {
    for (const k of [key, `${key}/rtcp`]) if (this.sessions.has(k)) this.end(k, 'replaced');
    const got = await this.pool.allocatePair();
    if (got === null) {
      this.totals.noPortFailures++;
      return null;
    }
    const rtcpOf = (e: Endpoint): Endpoint => ({ address: e.address, port: e.port === 0 ? 0 : e.port + 1 });
    const rtp = new MediaSession(key, got.rtp.socket, got.rtp.port, a, b);
    const rtcp = new MediaSession(`${key}/rtcp`, got.rtcp.socket, got.rtcp.port, { name: a.name, address: rtcpOf(a.address) }, { name: b.name, address: rtcpOf(b.address) });
    this.sessions.set(rtp.key, rtp);
    this.sessions.set(rtcp.key, rtcp);
    const call = key.split('#')[0]!;
    let keys = this.byCall.get(call);
    if (keys === undefined) this.byCall.set(call, (keys = new Set()));
    keys.add(rtp.key).add(rtcp.key);
    this.totals.sessionsStarted += 2;
    this.log.debug({ key, port: got.rtp.port }, 'media session pair started');
    return { rtp, rtcp };
  }

  /** Ends the session `callKey` and every stream session `callKey#...` of the same call. */
  endAll(callKey: string, reason: SessionEndReason): number {
    let n = this.end(callKey, reason) === null ? 0 : 1;
    for (const key of [...(this.byCall.get(callKey) ?? [])]) if (this.end(key, reason) !== null) n++;
    this.byCall.delete(callKey);
    return n;
  }

  end(key: string, reason: SessionEndReason): SessionStats | null {
    const s = this.sessions.get(key);
    if (s === undefined) return null;
    this.sessions.delete(key);
    const hash = key.indexOf('#');
    if (hash > 0) {
      const call = key.slice(0, hash);
      const keys = this.byCall.get(call);
      keys?.delete(key);
      if (keys?.size === 0) this.byCall.delete(call);
    }
    const stats = s.stats();
    s.close();
    this.pool.release(s.port);
    const t = this.totals;
    t.sessionsEnded++;
    t.packetsRelayed += stats.parties[0]!.packets + stats.parties[1]!.packets;
    t.bytesRelayed += stats.parties[0]!.bytes + stats.parties[1]!.bytes;
    t.strangersDropped += stats.strangers;
    this.log.info({ key, reason, ...stats }, 'media session ended');
    for (const l of this.endListeners) l(s, reason, stats);
    return stats;
  }

  setIdleTimeout(ms: number): void {
    this.opts.idleTimeoutMs = ms;
    this.restartSweeper();
  }

  /** Idle detection compares packet counts between sweeps, so the packet path reads no clock. */
  private sweep(): void {
    const now = Date.now();
    for (const s of [...this.sessions.values()]) {
      if (s.relayed !== s.relayedAtLastSweep) {
        s.relayedAtLastSweep = s.relayed;
        s.idleSince = now;
      } else if (now - s.idleSince >= this.opts.idleTimeoutMs) {
        this.end(s.key, 'idle');
      }
    }
  }

  private restartSweeper(): void {
    if (this.sweeper !== null) clearInterval(this.sweeper);
    const every = Math.max(50, Math.min(1000, Math.floor(this.opts.idleTimeoutMs / 4)));
    this.sweeper = setInterval(() => this.sweep(), every);
    this.sweeper.unref();
  }

  close(): void {
    if (this.sweeper !== null) clearInterval(this.sweeper);
    this.sweeper = null;
    for (const key of [...this.sessions.keys()]) this.end(key, 'shutdown');
  }
}
