import { channel } from 'node:diagnostics_channel';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { getHeapStatistics } from 'node:v8';
import type { Logger } from '../lib/log.ts';

/** New work a request asks of the proxy: what overload control may refuse. */
export type WorkClass = 'call' | 'register' | 'other';

export const WORK_CLASSES: readonly WorkClass[] = ['call', 'register', 'other'];

/** The `overload` section of a route script; every field is optional and reloadable. */
export interface OverloadOptions {
  /** false: never refuse (default true). */
  readonly enabled?: boolean;
  /**
   * How long datagrams may wait in a signaling socket's queue before new work is cut, ms
   * (default 200: a request forwarded and its answer both wait there, and past T1, 500 ms, the
   * senders retransmit); it is cut at once when the queue is half full.
   */
  readonly maxQueueDelayMs?: number;
  /** Event-loop delay (p99 of a 100 ms sample, two samples in a row) beyond which new work is cut, ms (default 250). */
  readonly maxLoopDelayMs?: number;
  /** Requests in progress (not yet answered finally) beyond which every new request is refused (default 20,000). */
  readonly maxPending?: number;
  /** JavaScript heap in use beyond which every new request is refused, MB (default: 75 % of V8's heap limit). */
  readonly maxHeapMB?: number;
  /** Fixed ceilings on new calls and on REGISTERs per second, below what the proxy measures it can serve. */
  readonly callsPerSecond?: number;
  readonly registrationsPerSecond?: number;
  /** Retry-After of a refusal, seconds; each refusal draws from [retryAfterSec, 2 × retryAfterSec] so retries spread (default 5). */
  readonly retryAfterSec?: number;
}

/** What overload control reads of the proxy; every reader is cheap. */
export interface LoadReaders {
  /** Requests in progress, all dialects. */
  pending(): number;
  /** New requests the proxy has answered finally so far (its own answers and the ones it passed on), per class. */
  completed(): Readonly<Record<WorkClass, number>>;
  /** JavaScript heap in use, bytes. */
  heapUsed?(): number;
  /** The heap the process may have, bytes. */
  heapLimit?(): number;
  /** The event loop's delay over the last sample (p99, ms), then starts a new sample. */
  loopDelay?(): number;
  /** The share of the last sample the event loop was busy (0-1), then starts a new sample. */
  utilization?(): number;
  now?(): number;
}

export type OverloadState = 'normal' | 'overloaded';

/** One read of a signaling socket, as overload control sees it. */
export interface SocketReadSignal {
  /** The read emptied the socket's queue. */
  readonly drained: boolean;
  /** How long the read's oldest datagram waited in the queue, ms, where the engine can tell. */
  readonly waitedMs?: number | undefined;
  /** How full the queue still is (0-1), after a read that filled its batch, where the engine can tell. */
  readonly fill?: number | undefined;
  /** Datagrams the kernel dropped on the socket so far (a full queue). */
  readonly drops?: number | undefined;
}

/** Why new work is being cut or refused. */
export type OverloadCause = 'queue' | 'loop' | 'pending' | 'heap' | 'ceiling';

export interface OverloadStats {
  state: OverloadState;
  /** Times the proxy went from normal to overloaded. */
  episodes: number;
  cause: OverloadCause | null;
  offered: Record<WorkClass, number>;
  admitted: Record<WorkClass, number>;
  refused: Record<WorkClass, number>;
  /** Refusals because a cap (requests in progress, heap) was reached. */
  refusedAtCap: number;
  /** New requests admitted per second now, per class (null: not limited). */
  limits: Record<WorkClass, number | null>;
  queueDelayMs: number;
  /** Datagrams the kernel dropped on the signaling sockets (full queues), as last read. */
  socketDrops: number;
  loopDelayMs: number;
  pending: number;
  heapMB: number;
}

const TICK_MS = 100;
/** Ticks of completions a cut measures the served rate over. */
const WINDOW_TICKS = 5;
/**
 * Each cut keeps this share of the rate served just before it; a cut that did not end the
 * congestion is followed by deeper ones (the rate it started from was far above capacity).
 */
const DECREASE = [0.95, 0.85, 0.7, 0.5] as const;
/**
 * Deeper cuts stop at this share of the rate served when the congestion began: a queue that
 * still stands then is made by the refusals (and what was admitted before), not by new work.
 */
const FLOOR = 0.25;
/** A cut takes a moment to drain the queue it found: no second cut sooner. */
const CUT_SPACING_MS = 300;
/**
 * Climbing: a loop with idle time can take more, about in proportion (up to +50 % a tick,
 * towards TARGET_BUSY of the loop); below the rate served when the last cut came the limit
 * climbs back fast; a busy loop above it probes by PROBE a tick.
 */
const TARGET_BUSY = 0.95;
const MAX_STEP = 1.5;
const REGAIN = 0.25;
const PROBE = 0.02;
/** While nothing waits in the queues longer than this share of maxQueueDelayMs, the probe steps are larger. */
const CLEAR = 0.1;
const PROBE_CLEAR = 0.06;
/** A class whose limit refused nothing for this long is limited no more. */
const RELEASE_MS = 2000;
/** A limit never goes below this many per second, so a class is never shut out entirely. */
const MIN_RATE = 5;
/** A socket's queue this full is cut for at once, however briefly it has stood: it would overflow soon. */
const QUEUE_FILL_CUT = 0.5;
/** A token bucket holds this many seconds' worth of its rate (a batch's burst of new requests). */
const BURST_S = 0.05;
const LOG_EVERY_MS = 5000;

/**
 * Each sample of the control, for a diagnostic subscriber (bench/overload/probe.mjs):
 * published only while something subscribes to `switchyard:overload`.
 */
export interface OverloadSample {
  /** performance.now() of the sample, ms. */
  readonly t: number;
  /** The longest any read's oldest datagram waited since the last sample, ms. */
  readonly waitedMs: number;
  readonly loopDelayMs: number;
  readonly utilization: number;
  readonly pending: number;
  /** Datagrams the kernel dropped on the signaling sockets so far (full queues). */
  readonly socketDrops: number;
  /** Cuts of the limits so far. */
  readonly cuts: number;
  readonly limits: Record<WorkClass, number | null>;
  readonly offered: Record<WorkClass, number>;
  readonly admitted: Record<WorkClass, number>;
  readonly refused: Record<WorkClass, number>;
  readonly completed: Readonly<Record<WorkClass, number>>;
}

const samples = channel('switchyard:overload');

interface Limiter {
  /** Per second; null while the class is not limited. */
  rate: number | null;
  /** The rate the class was served when the last cut came: climbing back to it is safe. */
  served: number;
  /** The rate it was served when the congestion began (the first cut of a series). */
  servedBefore: number;
  tokens: number;
  refilled: number;
  lastRefusal: number;
  /** Completions per tick, the last WINDOW_TICKS ticks, and the count at the start of this tick. */
  window: number[];
  completedAtTick: number;
  /** Admitted per tick, the last WINDOW_TICKS ticks, and in the tick under way. */
  admittedWindow: number[];
  admittedInTick: number;
}

function counts(): Record<WorkClass, number> {
  return { call: 0, register: 0, other: 0 };
}

/**
 * Overload control. A proxy past its capacity must not serve less the more it is offered, so
 * the excess is refused before it costs anything: new calls, REGISTERs and other out-of-dialog
 * requests are admitted at a rate the proxy can serve and the rest answered 503 at once (by
 * the dispatcher, statelessly), while everything that belongs to work already admitted
 * (responses, ACK, CANCEL, BYE, in-dialog requests) is always served.
 *
 * The rate is found by measurement, not configured. When datagrams wait in a signaling
 * socket's queue for longer than `maxQueueDelayMs` (the native UDP engine reads the kernel's
 * receive timestamp of each batch's oldest datagram) or the queue is half full, or the event
 * loop runs late,
 * each class is cut to 95 % of the rate at which the proxy has been completing it (answering
 * it finally) over the last half second; a cut that does not end the congestion is followed by
 * deeper ones. Then each class still refused climbs back: in proportion to the loop's idle time,
 * fast up to that rate, in steps above it, larger while nothing waits in the queues
 * (multiplicative decrease and a gentler increase, as TCP finds a link's rate). A class
 * that refuses nothing for two seconds is limited no more. Two caps hold whatever the rate:
 * requests in progress and the heap.
 */
export class OverloadControl {
  private opts: OverloadOptions;
  private readonly limiters: Record<WorkClass, Limiter>;
  private readonly offeredCount = counts();
  private readonly admittedCount = counts();
  private readonly refusedCount = counts();
  private refusedAtCap = 0;
  private episodes = 0;
  private state: OverloadState = 'normal';
  private cause: OverloadCause | null = null;
  private since = 0;
  private lastCut = -Infinity;
  /** Cuts so far. */
  private cuts = 0;
  private lastRefusal = -Infinity;
  /** Cuts in a row without a congestion-free sample between them. */
  private severity = 0;
  private tickStartedAt: number;
  private loopLateTicks = 0;
  private heapCapped = false;
  private lastLoopDelay = 0;
  private lastUtilization = 0;
  private elu = performance.eventLoopUtilization();
  private lastPending = 0;
  private lastHeap = 0;
  private lastLog = -Infinity;
  private refusedAtLog = 0;
  /** Per listener: since when its socket has not been seen empty. */
  private readonly standing = new Map<string, number>();
  /** Per listener: how long the last read's oldest datagram waited, where the engine tells. */
  private readonly waited = new Map<string, number>();
  /** The longest any read's oldest datagram waited since the last sample (or a queue stood, where no wait is told). */
  private waitedInTick = 0;
  /** Per listener: datagrams its socket's full queue made the kernel drop, as last read. */
  private readonly socketDrops = new Map<string, number>();
  private timer: NodeJS.Timeout | null = null;
  private readonly now: () => number;
  private readonly histogram = monitorEventLoopDelay({ resolution: 10 });

  constructor(private readonly readers: LoadReaders, opts: OverloadOptions = {}, private readonly log?: Logger) {
    this.opts = opts;
    this.now = readers.now ?? (() => performance.now());
    this.tickStartedAt = this.now();
    const done = readers.completed();
    const limiter = (c: WorkClass): Limiter => ({ rate: null, served: 0, servedBefore: 0, tokens: 0, refilled: -Infinity, lastRefusal: -Infinity, window: [], completedAtTick: done[c], admittedWindow: [], admittedInTick: 0 });
    this.limiters = { call: limiter('call'), register: limiter('register'), other: limiter('other') };
  }

  configure(opts: OverloadOptions): void {
    this.opts = opts;
  }

  get enabled(): boolean {
    return this.opts.enabled !== false;
  }

  /** Seconds a refused sender is told to wait, spread so that refused senders do not all come back together. */
  retryAfterSec(): number {
    const base = this.opts.retryAfterSec ?? 5;
    return base + Math.floor(Math.random() * (base + 1));
  }

  /** Takes one new request of class `work`: true when it is let in, false when it is to be refused. */
  admit(work: WorkClass): boolean {
    this.offeredCount[work]++;
    if (!this.enabled) return this.let(work);
    if (this.heapCapped || this.readers.pending() >= this.maxPending()) {
      this.refusedAtCap++;
      this.enter(this.heapCapped ? 'heap' : 'pending');
      return this.refuse(work, this.now());
    }
    const rate = this.rateOf(work);
    if (rate === null) return this.let(work);
    const l = this.limiters[work];
    const now = this.now();
    l.tokens = Math.min(Math.max(1, rate * BURST_S), l.tokens + ((now - l.refilled) * rate) / 1000);
    l.refilled = now;
    if (l.tokens >= 1) {
      l.tokens -= 1;
      return this.let(work);
    }
    l.lastRefusal = now;
    if (this.state === 'normal') this.enter(l.rate === null ? 'ceiling' : 'queue');
    return this.refuse(work, now);
  }

  /** A request `admit` refused turned out to repeat one in progress: it is its transaction's, not a refusal. */
  repeated(work: WorkClass): void {
    this.refusedCount[work]--;
    this.offeredCount[work]--;
  }

  /**
   * A listener's socket was read. New work is cut at once, without waiting for the next sample,
   * when the read's oldest datagram waited longer than maxQueueDelayMs, or the queue is half
   * full (it would overflow soon), or, where the engine does not tell how long datagrams wait,
   * the queue has not been seen empty for longer than maxQueueDelayMs.
   */
  socketRead(listener: string, read: SocketReadSignal): void {
    if (read.drops !== undefined) this.socketDrops.set(listener, read.drops);
    const now = this.now();
    if (read.waitedMs !== undefined) {
      this.waited.set(listener, read.drained ? 0 : read.waitedMs);
      this.waitedInTick = Math.max(this.waitedInTick, read.waitedMs);
      if (this.enabled && read.waitedMs > this.maxQueueDelay()) this.cut(now, 'queue');
    }
    if (read.drained) {
      this.standing.delete(listener);
      return;
    }
    const since = this.standing.get(listener);
    if (since === undefined) this.standing.set(listener, now);
    if (!this.enabled) return;
    if (read.fill !== undefined && read.fill > QUEUE_FILL_CUT) this.cut(now, 'queue');
    else if (read.waitedMs === undefined && since !== undefined && now - since > this.maxQueueDelay()) this.cut(now, 'queue');
  }

  /** One sample: loop delay, caps, the rate each class was completed at; cuts or regrows the limits. */
  tick(): void {
    const now = this.now();
    const loopDelay = this.readers.loopDelay?.() ?? this.sampleLoopDelay();
    this.lastLoopDelay = loopDelay;
    this.lastUtilization = this.readers.utilization?.() ?? this.sampleUtilization();
    this.lastPending = this.readers.pending();
    this.lastHeap = this.readers.heapUsed?.() ?? getHeapStatistics().used_heap_size;
    this.heapCapped = this.lastHeap >= this.maxHeapBytes();
    const done = this.readers.completed();
    for (const c of WORK_CLASSES) {
      const l = this.limiters[c];
      l.window.push(done[c] - l.completedAtTick);
      if (l.window.length > WINDOW_TICKS) l.window.shift();
      l.completedAtTick = done[c];
      l.admittedWindow.push(l.admittedInTick);
      if (l.admittedWindow.length > WINDOW_TICKS) l.admittedWindow.shift();
      l.admittedInTick = 0;
    }
    this.tickStartedAt = now;
    if (!this.enabled) {
      for (const c of WORK_CLASSES) this.limiters[c].rate = null;
      this.leave(now);
      return;
    }
    this.loopLateTicks = loopDelay > (this.opts.maxLoopDelayMs ?? 250) ? this.loopLateTicks + 1 : 0;
    const queueDelay = this.queueDelay(now);
    if (this.heapCapped) this.enter('heap');
    else if (this.lastPending >= this.maxPending()) this.enter('pending');
    const waited = Math.max(this.waitedInTick, queueDelay);
    this.waitedInTick = 0;
    if (queueDelay > this.maxQueueDelay()) this.cut(now, 'queue');
    else if (this.loopLateTicks >= 2) this.cut(now, 'loop');
    else this.regrow(now, waited < CLEAR * this.maxQueueDelay());
    if (this.state === 'overloaded') this.report(now, queueDelay);
    if (samples.hasSubscribers) this.publish(now, waited, done);
  }

  private publish(now: number, waited: number, completed: Readonly<Record<WorkClass, number>>): void {
    const sample: OverloadSample = {
      t: now, waitedMs: waited, loopDelayMs: this.lastLoopDelay, utilization: this.lastUtilization, pending: this.lastPending,
      socketDrops: this.totalSocketDrops(), cuts: this.cuts,
      limits: this.stats().limits, offered: { ...this.offeredCount }, admitted: { ...this.admittedCount }, refused: { ...this.refusedCount }, completed: { ...completed },
    };
    samples.publish(sample);
  }

  start(): void {
    if (this.timer !== null) return;
    this.histogram.enable();
    this.timer = setInterval(() => this.tick(), TICK_MS);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    this.histogram.disable();
  }

  stats(): OverloadStats {
    const limits = counts() as Record<WorkClass, number | null>;
    for (const c of WORK_CLASSES) {
      const r = this.rateOf(c);
      limits[c] = r === null ? null : Math.round(r);
    }
    return {
      state: this.state, episodes: this.episodes, cause: this.cause,
      offered: { ...this.offeredCount }, admitted: { ...this.admittedCount }, refused: { ...this.refusedCount },
      refusedAtCap: this.refusedAtCap, limits,
      queueDelayMs: Math.round(this.queueDelay(this.now())), socketDrops: this.totalSocketDrops(),
      loopDelayMs: Math.round(this.lastLoopDelay),
      pending: this.lastPending, heapMB: Math.round(this.lastHeap / 1048576),
    };
  }

  private let(work: WorkClass): true {
    this.admittedCount[work]++;
    this.limiters[work].admittedInTick++;
    return true;
  }

  private refuse(work: WorkClass, now: number): false {
    this.refusedCount[work]++;
    this.lastRefusal = now;
    return false;
  }

  /** The class's admitted rate now: the measured limit under the configured ceiling; null when unlimited. */
  private rateOf(work: WorkClass): number | null {
    const measured = this.limiters[work].rate;
    const ceiling = work === 'call' ? this.opts.callsPerSecond : work === 'register' ? this.opts.registrationsPerSecond : undefined;
    if (ceiling === undefined) return measured;
    return measured === null ? ceiling : Math.min(measured, ceiling);
  }

  /** Cuts every class the proxy has been completing (or already limits) to a share of its completion rate. */
  private cut(now: number, cause: OverloadCause): void {
    if (now - this.lastCut < CUT_SPACING_MS) return;
    this.severity = now - this.lastCut < 2 * CUT_SPACING_MS + TICK_MS ? Math.min(this.severity + 1, DECREASE.length - 1) : 0;
    this.lastCut = now;
    this.cuts++;
    this.enter(cause);
    const factor = DECREASE[this.severity]!;
    for (const c of WORK_CLASSES) {
      const l = this.limiters[c];
      const served = this.servedRate(c, now);
      if (served === 0 && l.rate === null) continue;
      if (this.severity === 0) l.servedBefore = served;
      const next = Math.max(MIN_RATE, l.servedBefore * FLOOR, Math.min(l.rate ?? Infinity, served) * factor);
      if (l.rate === null) {
        l.tokens = Math.max(1, next * BURST_S);
        l.refilled = now;
      }
      l.served = Math.max(next, Math.min(served, l.rate ?? Infinity));
      l.rate = next;
      l.lastRefusal = now;
    }
  }

  /**
   * A sample without congestion: each class still refused climbs (by larger steps while nothing
   * waits in the queues, `clear`); one that is not refused is let go.
   */
  private regrow(now: number, clear: boolean): void {
    if (now - this.lastCut >= CUT_SPACING_MS) this.severity = 0;
    let limited = false;
    for (const c of WORK_CLASSES) {
      const l = this.limiters[c];
      if (l.rate === null) continue;
      if (now - l.lastRefusal > RELEASE_MS) {
        l.rate = null;
        continue;
      }
      limited = true;
      if (now - l.lastRefusal > TICK_MS) continue; // demand is below the limit: nothing to climb for
      const idle = Math.min(MAX_STEP, TARGET_BUSY / Math.max(this.lastUtilization, 0.01));
      const probe = clear ? PROBE_CLEAR : PROBE;
      const regain = l.rate < l.served ? l.rate + Math.max((l.served - l.rate) * REGAIN, l.served * probe) : l.rate * (1 + probe);
      l.rate = Math.max(regain, l.rate * idle);
    }
    if (!limited && now - this.lastRefusal > RELEASE_MS && !this.heapCapped && this.lastPending < this.maxPending()) this.leave(now);
  }

  /**
   * The rate the class was completed at, per second: the best of the last one to WINDOW_TICKS
   * whole ticks (a window that reaches back before the load began would understate it), or the
   * tick under way when there is no whole one yet.
   */
  private servedRate(c: WorkClass, now: number): number {
    const l = this.limiters[c];
    let best = 0;
    let sum = 0;
    for (let k = 1; k <= l.window.length; k++) {
      sum += l.window[l.window.length - k]!;
      best = Math.max(best, (sum * 1000) / (k * TICK_MS));
    }
    const seconds = (now - this.tickStartedAt) / 1000;
    if (l.window.length === 0 && seconds > 0) best = (this.readers.completed()[c] - l.completedAtTick) / seconds;
    // Completions lag admissions by the time a request takes: when the load has only just
    // begun, half the admitted rate is the better guess (a deeper cut follows if it was not).
    let admitted = 0;
    for (const n of l.admittedWindow) admitted += n;
    admitted += l.admittedInTick;
    const span = (l.admittedWindow.length * TICK_MS + (now - this.tickStartedAt)) / 1000;
    return Math.max(best, span > 0 ? (0.5 * admitted) / span : 0);
  }

  /** How long datagrams now wait in the signaling sockets' queues, ms. */
  queueDelayMs(): number {
    return this.queueDelay(this.now());
  }

  /** How long datagrams wait in the signaling sockets' queues: measured where the engine tells, else since they were last seen empty. */
  private queueDelay(now: number): number {
    let longest = 0;
    for (const w of this.waited.values()) longest = Math.max(longest, w);
    for (const [listener, since] of this.standing) if (!this.waited.has(listener)) longest = Math.max(longest, now - since);
    return longest;
  }

  private sampleUtilization(): number {
    const now = performance.eventLoopUtilization();
    const u = performance.eventLoopUtilization(now, this.elu).utilization;
    this.elu = now;
    return u;
  }

  private sampleLoopDelay(): number {
    const p99 = this.histogram.count > 0 ? this.histogram.percentile(99) / 1e6 : 0;
    this.histogram.reset();
    return p99;
  }

  private maxQueueDelay(): number {
    return this.opts.maxQueueDelayMs ?? 200;
  }

  private maxPending(): number {
    return this.opts.maxPending ?? 20_000;
  }

  private maxHeapBytes(): number {
    if (this.opts.maxHeapMB !== undefined) return this.opts.maxHeapMB * 1048576;
    return 0.75 * (this.readers.heapLimit?.() ?? getHeapStatistics().heap_size_limit);
  }

  private enter(cause: OverloadCause): void {
    this.cause = cause;
    if (this.state === 'overloaded') return;
    this.state = 'overloaded';
    this.episodes++;
    this.since = this.now();
    this.lastLog = this.since;
    this.refusedAtLog = this.totalRefused();
    this.log?.warn({ cause, queueDelayMs: Math.round(this.queueDelay(this.since)), loopDelayMs: Math.round(this.lastLoopDelay), pending: this.lastPending },
      'overload: refusing part of the new requests (503 with Retry-After)');
  }

  private leave(now: number): void {
    if (this.state === 'normal') return;
    this.state = 'normal';
    this.cause = null;
    this.log?.warn({ seconds: Math.round((now - this.since) / 100) / 10, refused: { ...this.refusedCount }, episodes: this.episodes },
      'overload over: every new request is admitted again');
  }

  /** While overloaded, a line every few seconds: what was refused since the last one, and the limits. */
  private report(now: number, queueDelay: number): void {
    if (now - this.lastLog < LOG_EVERY_MS) return;
    const total = this.totalRefused();
    this.log?.warn({ cause: this.cause, refusedSinceLast: total - this.refusedAtLog, limits: this.stats().limits, queueDelayMs: Math.round(queueDelay),
      loopDelayMs: Math.round(this.lastLoopDelay), pending: this.lastPending, heapMB: Math.round(this.lastHeap / 1048576) }, 'overload: still refusing');
    this.lastLog = now;
    this.refusedAtLog = total;
  }

  private totalSocketDrops(): number {
    let n = 0;
    for (const d of this.socketDrops.values()) n += d;
    return n;
  }

  private totalRefused(): number {
    return this.refusedCount.call + this.refusedCount.register + this.refusedCount.other;
  }
}
