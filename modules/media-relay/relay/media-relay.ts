import { LogThrottle, type Endpoint, type Logger } from '../../../core/module.ts';
import type { RelayTotals } from '../backend.ts';
import type { SessionEndReason, SessionKey, SessionStats } from '../session.ts';
import type { BoundPort, LegOptions, MediaEngine, PartySpec, RelaySession } from './engine.ts';
import { PortPool, type PortRange } from './port-pool.ts';

export interface RelayOptions {
  readonly range: PortRange;
  idleTimeoutMs: number;
  /**
   * The re-latch rule of sessions with one leg per party: a party latched to a source that has
   * sent nothing for this long, while datagrams from elsewhere keep arriving on its port, latches
   * anew at the next one (its NAT mapping changed). 0: never; a new description from the party
   * that moves its address re-latches it in any case.
   */
  relatchAfterSilentMs: number;
}

/** What the re-latch rule last saw of one leg. */
interface LegWatch {
  packets: number;
  strangers: number;
  /** Since when the party has sent nothing. */
  since: number;
}

type EndListener = (session: RelaySession, reason: SessionEndReason, stats: SessionStats) => void;

/** A live session with what the idle sweep saw of it: its relayed count and since when it has not moved. */
interface Tracked {
  readonly session: RelaySession;
  count: number;
  since: number;
  /** Sessions with one leg per party: each leg, for the re-latch rule. */
  readonly legs: readonly [LegWatch, LegWatch] | null;
}

const WHICH = ['a', 'b'] as const;

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

  /**
   * A stream's RTP and RTCP sessions with one leg per party: party a's on an even/odd port
   * pair, party b's on another (RTP on the even ports, RTCP on the odd); null when two pairs
   * are not free.
   */
  async openLegs(callId: string, stream: number, a: PartySpec, b: PartySpec, opts: LegOptions): Promise<{ rtp: RelaySession; rtcp: RelaySession } | null> {
    const pa = await this.pool.allocatePair();
    if (pa === null) return this.noPort(callId);
    const pb = await this.pool.allocatePair();
    if (pb === null) {
      for (const got of [pa.rtp, pa.rtcp]) {
        got.handle.release();
        this.pool.release(got.port);
      }
      return this.noPort(callId);
    }
    const engine = this.engine;
    const rtcpOf = (p: PartySpec): PartySpec => ({ name: p.name, address: { address: p.address.address, port: p.address.port === 0 ? 0 : p.address.port + 1 } });
    let rtp: RelaySession | undefined;
    let rtcp: RelaySession;
    try {
      rtp = engine.startLegs({ callId, stream, component: 'rtp' }, pa.rtp.handle, pb.rtp.handle, a, b, opts);
      rtcp = engine.startLegs({ callId, stream, component: 'rtcp' }, pa.rtcp.handle, pb.rtcp.handle, rtcpOf(a), rtcpOf(b), opts);
    } catch (err) {
      // The engine could not join the ports (native: a worker's epoll refused one): nothing is left bound.
      rtp?.close();
      for (const got of [pa.rtp, pa.rtcp, pb.rtp, pb.rtcp]) {
        if (rtp === undefined || (got !== pa.rtp && got !== pb.rtp)) got.handle.release();
        this.pool.release(got.port);
      }
      this.log.warn({ callId, stream, err }, 'media legs not started');
      return null;
    }
    this.started(rtp);
    this.started(rtcp);
    this.totals.sessionsStarted += 2;
    this.log.debug({ callId, stream, ports: [pa.rtp.port, pb.rtp.port] }, 'media session legs started');
    return { rtp, rtcp };
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
    const now = Date.now();
    const legs: Tracked['legs'] = session.ports.length === 2 ? [{ packets: 0, strangers: 0, since: now }, { packets: 0, strangers: 0, since: now }] : null;
    const tracked: Tracked = { session, count: 0, since: now, legs };
    for (const port of session.ports) this.byPort[port - this.opts.range.min] = tracked;
    this.live++;
    return session;
  }

  /** Ends a live session and frees its port; null when it has already ended. */
  end(session: RelaySession, reason: SessionEndReason): SessionStats | null {
    const min = this.opts.range.min;
    if (this.byPort[session.port - min]?.session !== session) return null;
    for (const port of session.ports) this.byPort[port - min] = undefined;
    this.live--;
    session.close();
    const stats = session.stats(); // after close: the final counters, read from the engine once
    for (const port of session.ports) this.pool.release(port);
    const t = this.totals;
    t.sessionsEnded++;
    t.packetsRelayed += stats.parties[0].packets + stats.parties[1].packets;
    t.bytesRelayed += stats.parties[0].bytes + stats.parties[1].bytes;
    t.strangersDropped += stats.strangers;
    const e = this.endedByParty;
    e[0] += stats.parties[0]!.packets; e[1] += stats.parties[0]!.bytes; e[2] += stats.parties[1]!.packets; e[3] += stats.parties[1]!.bytes; e[4] += stats.sendErrors;
    if (this.log.isLevelEnabled('info')) {
      const { callId, stream, component } = session.key;
      this.log.info({ key: `${callId}/${stream}/${component}`, callId, stream, component, reason, ...stats }, 'media session ended');
    }
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

  setRelatchAfterSilent(ms: number): void {
    this.opts.relatchAfterSilentMs = ms;
  }

  /** Idle detection compares packet counts between sweeps, so the packet path reads no clock. */
  private sweep(): void {
    if (this.live === 0) return;
    const now = Date.now();
    const slots = this.byPort;
    const min = this.opts.range.min;
    for (let i = 0; i < slots.length; i++) {
      const seen = slots[i];
      if (seen === undefined || seen.session.port !== i + min) continue; // a session is swept at its first port
      const count = seen.session.relayedCount();
      if (count !== seen.count) {
        seen.count = count;
        seen.since = now;
        if (seen.legs !== null && this.opts.relatchAfterSilentMs > 0) this.watchLegs(seen.session, seen.legs, now);
      } else if (now - seen.since >= this.opts.idleTimeoutMs) {
        this.end(seen.session, 'idle');
      } else if (seen.legs !== null && this.opts.relatchAfterSilentMs > 0) {
        this.watchLegs(seen.session, seen.legs, now);
      }
    }
  }

  /** The re-latch rule (RelayOptions.relatchAfterSilentMs), for each leg of a session. */
  private watchLegs(session: RelaySession, legs: readonly [LegWatch, LegWatch], now: number): void {
    for (let i = 0; i < 2; i++) {
      const which = WHICH[i]!;
      const w = legs[i]!;
      const c = session.legCounters(which);
      const strangersArrived = c.strangers !== w.strangers;
      w.strangers = c.strangers;
      if (c.packets !== w.packets) {
        w.packets = c.packets;
        w.since = now;
        continue;
      }
      // A leg that never sent has not latched: its next datagram latches it anyway.
      if (c.packets > 0 && strangersArrived && now - w.since >= this.opts.relatchAfterSilentMs) {
        session.unlatch(which);
        w.since = now;
        this.log.info({ ...session.key, port: session.ports[i], party: which === 'a' ? 'caller' : 'callee' }, 'media party silent while another source sends to its port: it latches anew');
      }
    }
  }

  private restartSweeper(): void {
    if (this.sweeper !== null) clearInterval(this.sweeper);
    // The re-latch rule is applied at the sweep's pace too (at most a second late).
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
