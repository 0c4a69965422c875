import type { Endpoint } from '../../../core/lib/address.ts';
import type { Logger } from '../../../core/lib/log.ts';
import type { BoundPort, MediaEngine, PartySpec, RelaySession, SessionEndReason, SessionStats } from './engine.ts';
import { PortPool, type PortRange } from './port-pool.ts';
import { LogThrottle } from '../../../core/lib/log-throttle.ts';
import { OpenMap } from '../../../core/lib/open-map.ts';

export interface RelayOptions {
  readonly range: PortRange;
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

type EndListener = (session: RelaySession, reason: SessionEndReason, stats: SessionStats) => void;

/** The embedded media relay: owns the port pool and the live sessions, ends idle ones. */
export class MediaRelay {
  private readonly pool: PortPool<BoundPort>;
  /** Each live session with what the idle sweep saw of it: its relayed count and since when it has not moved. */
  private readonly sessions = new OpenMap<{ session: RelaySession; count: number; since: number }>();
  /** The stream sessions (`<call>#<stream>[/rtcp]`) of each call, so a call's end does not scan every session. */
  private readonly byCall = new OpenMap<Set<string>>();
  private readonly endListeners = new Set<EndListener>();
  private sweeper: NodeJS.Timeout | null = null;
  /** A full port range is logged at most once a second, with how many were not logged. */
  private readonly noPortWarnings = new LogThrottle(1000);
  readonly totals: RelayTotals = { sessionsStarted: 0, sessionsEnded: 0, packetsRelayed: 0, bytesRelayed: 0, strangersDropped: 0, noPortFailures: 0 };

  constructor(private readonly opts: RelayOptions, readonly engine: MediaEngine, private readonly log: Logger) {
    this.pool = new PortPool(opts.range, { bind: (port) => engine.bind(port), unbind: (bound) => bound.release() });
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

  get(key: string): RelaySession | undefined {
    return this.sessions.get(key)?.session;
  }

  onEnd(l: EndListener): void {
    this.endListeners.add(l);
  }

  /** Opens a session for `key` between two parties; null when no port is free. Replaces an older session of the same key. */
  async open(key: string, a: PartySpec, b: PartySpec): Promise<RelaySession | null> {
    const old = this.sessions.get(key);
    if (old !== undefined) this.end(key, 'replaced');
    const got = await this.pool.allocate();
    if (got === null) return this.noPort(key);
    const session = this.started(got.handle.start(key, a, b));
    this.totals.sessionsStarted++;
    this.log.debug({ key, port: got.port }, 'media session started');
    return session;
  }

  /** An RTP/RTCP session pair on an even/odd port pair, keyed `<key>` and `<key>/rtcp`. */
  async openPair(key: string, a: PartySpec, b: PartySpec): Promise<{ rtp: RelaySession; rtcp: RelaySession } | null> {
    for (const k of [key, `${key}/rtcp`]) if (this.sessions.has(k)) this.end(k, 'replaced');
    const got = await this.pool.allocatePair();
    if (got === null) return this.noPort(key);
    const rtcpOf = (e: Endpoint): Endpoint => ({ address: e.address, port: e.port === 0 ? 0 : e.port + 1 });
    const rtp = this.started(got.rtp.handle.start(key, a, b));
    const rtcp = this.started(got.rtcp.handle.start(`${key}/rtcp`, { name: a.name, address: rtcpOf(a.address) }, { name: b.name, address: rtcpOf(b.address) }));
    const call = key.split('#')[0]!;
    let keys = this.byCall.get(call);
    if (keys === undefined) this.byCall.set(call, (keys = new Set()));
    keys.add(rtp.key).add(rtcp.key);
    this.totals.sessionsStarted += 2;
    this.log.debug({ key, port: got.rtp.port }, 'media session pair started');
    return { rtp, rtcp };
  }

  private noPort(key: string): null {
    const failures = ++this.totals.noPortFailures;
    const unlogged = this.noPortWarnings.pass();
    if (unlogged !== null) this.log.warn({ key, failuresTotal: failures, alsoSinceLastWarning: unlogged }, 'no media port free: session not opened');
    return null;
  }

  private started(session: RelaySession): RelaySession {
    this.sessions.set(session.key, { session, count: 0, since: Date.now() });
    return session;
  }

  /** Ends the session `callKey` and every stream session `callKey#...` of the same call. */
  endAll(callKey: string, reason: SessionEndReason): number {
    let n = this.end(callKey, reason) === null ? 0 : 1;
    for (const key of [...(this.byCall.get(callKey) ?? [])]) if (this.end(key, reason) !== null) n++;
    this.byCall.delete(callKey);
    return n;
  }

  end(key: string, reason: SessionEndReason): SessionStats | null {
    const s = this.sessions.get(key)?.session;
    if (s === undefined) return null;
    this.sessions.delete(key);
    const hash = key.indexOf('#');
    if (hash > 0) {
      const call = key.slice(0, hash);
      const keys = this.byCall.get(call);
      keys?.delete(key);
      if (keys?.size === 0) this.byCall.delete(call);
    }
    s.close();
    const stats = s.stats(); // after close: the final counters, read from the engine once
    this.pool.release(s.port);
    const t = this.totals;
    t.sessionsEnded++;
    t.packetsRelayed += stats.parties[0]!.packets + stats.parties[1]!.packets;
    t.bytesRelayed += stats.parties[0]!.bytes + stats.parties[1]!.bytes;
    t.strangersDropped += stats.strangers;
    if (this.log.isLevelEnabled('info')) this.log.info({ key, reason, ...stats }, 'media session ended');
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
    for (const seen of [...this.sessions.values()]) {
      const count = seen.session.relayedCount();
      if (count !== seen.count) {
        seen.count = count;
        seen.since = now;
      } else if (now - seen.since >= this.opts.idleTimeoutMs) {
        this.end(seen.session.key, 'idle');
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
    this.engine.close();
  }
}
