import { LogThrottle, type Endpoint, type Logger } from '../../../core/module.ts';
import type { RelayTotals } from '../backend.ts';
import type { SessionEndReason, SessionKey, SessionStats } from '../session.ts';
import type { BoundPort, MediaEngine, PartySpec, RelaySession } from './engine.ts';
import { PortPool, type PortRange } from './port-pool.ts';

export interface RelayOptions {
  readonly range: PortRange;
  idleTimeoutMs: number;
}

type EndListener = (session: RelaySession, reason: SessionEndReason, stats: SessionStats) => void;

/** A live session with what the idle sweep saw of it: its relayed count and since when it has not moved. */
interface Tracked {
  readonly session: RelaySession;
  count: number;
  since: number;
}

/**
 * The embedded media relay: owns the port pool and the live sessions, ends idle ones. Sessions
 * are found by their port; which call and stream a session serves is its key, kept by whoever
 * opened it.
 */
export class MediaRelay {
  private readonly pool: PortPool<BoundPort>;
  /** Each live session at its port's offset in the range. */
  private readonly byPort: (Tracked | undefined)[];
  private live = 0;
  private readonly endListeners = new Set<EndListener>();
  private sweeper: NodeJS.Timeout | null = null;
  /** A full port range is logged at most once a second, with how many were not logged. */
  private readonly noPortWarnings = new LogThrottle(1000);
  /** What ended sessions carried, per direction: [caller's packets, caller's bytes, callee's packets, callee's bytes, send errors]. */
  private readonly endedByParty: [number, number, number, number, number] = [0, 0, 0, 0, 0];
  readonly totals: RelayTotals = { sessionsStarted: 0, sessionsEnded: 0, packetsRelayed: 0, bytesRelayed: 0, strangersDropped: 0, noPortFailures: 0 };

  constructor(private readonly opts: RelayOptions, readonly engine: MediaEngine, private readonly log: Logger) {
    this.pool = new PortPool(opts.range, { bind: (port) => engine.bind(port), unbind: (bound) => bound.release() });
    this.byPort = new Array<Tracked | undefined>(opts.range.max - opts.range.min + 1).fill(undefined);
    this.restartSweeper();
  }

  get count(): number {
    return this.live;
  }

  get portsInUse(): number {
    return this.pool.used;
  }

  get portBindFailures(): number {
    return this.pool.bindFailures;
  }

  /** The live session on a port of the range. */
  sessionOn(port: number): RelaySession | undefined {
    return this.byPort[port - this.opts.range.min]?.session;
  }

  onEnd(l: EndListener): void {
    this.endListeners.add(l);
  }

  /** Opens a session on one port between two parties; null when no port is free. */
  async open(key: SessionKey, a: PartySpec, b: PartySpec): Promise<RelaySession | null> {
    const got = await this.pool.allocate();
    if (got === null) return this.noPort(key.callId);
    const session = this.started(got.handle.start(key, a, b));
    this.totals.sessionsStarted++;
    this.log.debug({ ...key, port: got.port }, 'media session started');
    return session;
  }

  /** A stream's RTP and RTCP sessions on an even/odd port pair; null when no pair is free. */
  async openPair(callId: string, stream: number, a: PartySpec, b: PartySpec): Promise<{ rtp: RelaySession; rtcp: RelaySession } | null> {
    const got = await this.pool.allocatePair();
    if (got === null) return this.noPort(callId);
    const rtcpOf = (e: Endpoint): Endpoint => ({ address: e.address, port: e.port === 0 ? 0 : e.port + 1 });
    const rtp = this.started(got.rtp.handle.start({ callId, stream, component: 'rtp' }, a, b));
    const rtcp = this.started(got.rtcp.handle.start({ callId, stream, component: 'rtcp' }, { name: a.name, address: rtcpOf(a.address) }, { name: b.name, address: rtcpOf(b.address) }));
    this.totals.sessionsStarted += 2;
    this.log.debug({ callId, stream, port: got.rtp.port }, 'media session pair started');
    return { rtp, rtcp };
  }

  private noPort(callId: string): null {
    const failures = ++this.totals.noPortFailures;
    const unlogged = this.noPortWarnings.pass();
    if (unlogged !== null) this.log.warn({ callId, failuresTotal: failures, alsoSinceLastWarning: unlogged }, 'no media port free: session not opened');
    return null;
  }

  private started(session: RelaySession): RelaySession {
    this.byPort[session.port - this.opts.range.min] = { session, count: 0, since: Date.now() };
    this.live++;
    return session;
  }

  /** Ends a live session and frees its port; null when it has already ended. */
  end(session: RelaySession, reason: SessionEndReason): SessionStats | null {
    const slot = session.port - this.opts.range.min;
    if (this.byPort[slot]?.session !== session) return null;
    this.byPort[slot] = undefined;
    this.live--;
    session.close();
    const stats = session.stats(); // after close: the final counters, read from the engine once
    this.pool.release(session.port);
    const t = this.totals;
    t.sessionsEnded++;
    t.packetsRelayed += stats.parties[0]!.packets + stats.parties[1]!.packets;
    t.bytesRelayed += stats.parties[0]!.bytes + stats.parties[1]!.bytes;
    t.strangersDropped += stats.strangers;
    const e = this.endedByParty;
    e[0] += stats.parties[0]!.packets; e[1] += stats.parties[0]!.bytes; e[2] += stats.parties[1]!.packets; e[3] += stats.parties[1]!.bytes; e[4] += stats.sendErrors;
    if (this.log.isLevelEnabled('info')) this.log.info({ ...session.key, reason, ...stats }, 'media session ended');
    for (const l of this.endListeners) l(session, reason, stats);
    return stats;
  }

  /**
   * Everything relayed since start, ended and live sessions alike, read when asked (a scrape):
   * the live sessions' counters come from their engine, one read per session.
   */
  relayedSoFar(): { callerPackets: number; callerBytes: number; calleePackets: number; calleeBytes: number; strangers: number; sendErrors: number } {
    const [cp, cb, ep, eb, se] = this.endedByParty;
    const out = { callerPackets: cp, callerBytes: cb, calleePackets: ep, calleeBytes: eb, strangers: this.totals.strangersDropped, sendErrors: se };
    for (const seen of this.byPort) {
      if (seen === undefined) continue;
      const s = seen.session.stats();
      out.callerPackets += s.parties[0]!.packets; out.callerBytes += s.parties[0]!.bytes;
      out.calleePackets += s.parties[1]!.packets; out.calleeBytes += s.parties[1]!.bytes;
      out.strangers += s.strangers;
      out.sendErrors += s.sendErrors;
    }
    return out;
  }

  setIdleTimeout(ms: number): void {
    this.opts.idleTimeoutMs = ms;
    this.restartSweeper();
  }

  /** Idle detection compares packet counts between sweeps, so the packet path reads no clock. */
  private sweep(): void {
    if (this.live === 0) return;
    const now = Date.now();
    const slots = this.byPort;
    for (let i = 0; i < slots.length; i++) {
      const seen = slots[i];
      if (seen === undefined) continue;
      const count = seen.session.relayedCount();
      if (count !== seen.count) {
        seen.count = count;
        seen.since = now;
      } else if (now - seen.since >= this.opts.idleTimeoutMs) {
        this.end(seen.session, 'idle');
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
    for (const seen of this.byPort) if (seen !== undefined) this.end(seen.session, 'shutdown');
    this.engine.close();
  }
}
