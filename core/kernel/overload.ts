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
   * How long datagrams may wait in a signaling socket's queue before new work is limited, ms
   * (default 200: a request forwarded and its answer both wait there, and past T1, 500 ms, the
   * senders retransmit); it is limited at once when the queue is half full. The limits then
   * steer to a standing queue of a quarter of it.
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
/** Ticks of completions a first cut measures the served rate over. */
const WINDOW_TICKS = 5;
/** A first cut keeps this share of the rate served just before it (a transient queue is not a collapse). */
const FIRST_CUT = 0.95;
/**
 * The queue the limits steer to, as a share of maxQueueDelayMs: long enough that the loop never
 * runs dry between reads, short against the senders' timers (T1).
 */
const TARGET_SHARE = 0.25;
/**
 * The steering, once a class is limited (a proportional-integral controller on the standing
 * queue, as PIE, RFC 8033, steers a link's queue): each sample the limit moves by
 * -GAIN × (standing queue - target) × the sample's length, and by -TREND × how much the
 * standing queue grew since the last sample (times in seconds): a queue above the target and
 * growing is cut for fast, one above it but draining as fast as it should is left to drain (a
 * cut takes a moment to show: admitted work arrives over a call's round trips), and below the
 * target the limit climbs by up to GAIN × target × the sample's length (3 % a sample with the
 * defaults). A stall of the core (a collection, other processes) grows the queue and cuts;
 * the queue it leaves drains as fast once the proxy runs again, and that gives the cut back.
 */
const GAIN = 6;
const TREND = 4;
/** The most one sample moves a limit: a factor of MAX_DOWN down or MAX_UP up. */
const MAX_DOWN = 0.7;
const MAX_UP = 1.5;
/**
 * A loop with idle time (utilisation below TARGET_BUSY) can take more, about in proportion: the
 * limit of a class still refused climbs by up to MAX_UP a sample while no queue stands.
 */
const TARGET_BUSY = 0.95;
/**
 * A limit stays above this share of the rate the class was served at lately (its best second,
 * decaying by PEAK_DECAY a sample, half in about 14 s): a queue that stands at that limit is
 * made by the refusals and by what was admitted before, and cutting further would only idle
 * the proxy.
 */
const FLOOR = 0.25;
const PEAK_DECAY = 0.995;
/** A socket's queue this full is cut for at once, however briefly it has stood: it would overflow soon. */
const QUEUE_FILL_CUT = 0.5;
/** Such a cut keeps this share of each limit; no second one within CUT_SPACING_MS. */
const FILL_CUT = 0.8;
const CUT_SPACING_MS = 300;
/** A class whose limit refused nothing for this long is limited no more. */
const RELEASE_MS = 2000;
/** A limit never goes below this many per second, so a class is never shut out entirely. */
const MIN_RATE = 5;
/** A token bucket holds this many seconds' worth of its rate (a batch's burst of new requests). */
const BURST_S = 0.05;
const LOG_EVERY_MS = 5000;
/**
 * RFC 7339 loss-based feedback, for clients that ask (an `oc` parameter on their Via): how long
 * a value holds (oc-validity, ms), the most a client is asked to drop, and how long after an
 * overload clients are still told it is over (oc=0, oc-validity=0).
 */
const LOSS_VALIDITY_MS = 1000;
const MAX_LOSS = 0.95;
const LOSS_OVER_MS = 5000;
/** Clients that asked for feedback this long ago may still be applying it. */
const LISTEN_MS = 2000;
/** What clients would offer without dropping is smoothed over samples by this gain (a sample's count is noisy). */
const UNREDUCED_GAIN = 0.3;

/**
 * Each sample of the control, for a diagnostic subscriber (bench/overload/probe.mjs):
 * published only while something subscribes to `switchyard:overload`.
 */
export interface OverloadSample {
  /** performance.now() of the sample, ms. */
  readonly t: number;
  /** The longest any read's oldest datagram waited since the last sample, ms. */
  readonly waitedMs: number;
  /** The queue that stood over the sample (the shortest wait of any read in it), ms. */
  readonly standingMs: number;
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
  /** The best rate it was served at lately, per second (decaying): the floor's reference. */
  peak: number;
  tokens: number;
  refilled: number;
  lastRefusal: number;
  /** Completions per tick, the last 10 ticks, and the count at the start of this tick. */
  window: number[];
  completedAtTick: number;
  /** Admitted per tick, the last WINDOW_TICKS ticks, and in the tick under way. */
  admittedWindow: number[];
  admittedInTick: number;
  /** Offered per tick, the last WINDOW_TICKS ticks, and the count at the start of this tick. */
  offeredWindow: number[];
  offeredAtTick: number;
  /** The share of new requests clients that ask are told to drop (RFC 7339 `oc`, 0-1). */
  loss: number;
  /** What clients would offer per second without dropping any (smoothed), while overloaded. */
  unreduced: number;
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
 * receive timestamp of each batch's oldest datagram), or the queue is half full, or the event
 * loop runs late, each class is limited to 95 % of the rate at which the proxy has been
 * completing it (answering it finally). From then on each sample steers the limits by the
 * queue that stands (the shortest wait of any read in the sample: a queue that drains between
 * bursts does not stand): down while it is longer than a quarter of `maxQueueDelayMs` or
 * growing, up while it is shorter, and up in proportion to the loop's idle time while it has
 * some. So the limits settle where the proxy is busy all the time with a short queue: the
 * rate it can serve beside the refusals' own cost, whatever share of the core it gets. A class
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
  private lastFillCut = -Infinity;
  /** Cuts (first limits and sudden ones) and samples that lowered the limits, so far. */
  private cuts = 0;
  private lastRefusal = -Infinity;
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
  /** The longest and the shortest wait of any read since the last sample (reads that tell). */
  private waitedInTick = 0;
  private leastWaitInTick = Infinity;
  /** The standing queue at the last sample, ms. */
  private lastStanding = 0;
  /** Per listener: datagrams its socket's full queue made the kernel drop, as last read. */
  private readonly socketDrops = new Map<string, number>();
  /** RFC 7339 feedback per class (Via parameters), null when there is none to give; and its oc-seq, ms since the epoch. */
  private readonly lossParams: Record<WorkClass, string | null> = { call: null, register: null, other: null };
  private lossSeq = 0;
  /** Responses to clients that asked for feedback since the last sample, and when the last was. */
  private feedbackAsked = 0;
  private feedbackAskedAt = -Infinity;
  /** Infinity while overloaded; then until when clients are told it is over. */
  private lossOverUntil = -Infinity;
  private timer: NodeJS.Timeout | null = null;
  private readonly now: () => number;
  private readonly histogram = monitorEventLoopDelay({ resolution: 10 });

  constructor(private readonly readers: LoadReaders, opts: OverloadOptions = {}, private readonly log?: Logger) {
    this.opts = opts;
    this.now = readers.now ?? (() => performance.now());
    this.tickStartedAt = this.now();
    const done = readers.completed();
    const limiter = (): Limiter => ({
      rate: null, peak: 0, tokens: 0, refilled: -Infinity, lastRefusal: -Infinity, window: [], completedAtTick: 0, admittedWindow: [], admittedInTick: 0,
      offeredWindow: [], offeredAtTick: 0, loss: 0, unreduced: 0,
    });
    this.limiters = { call: limiter(), register: limiter(), other: limiter() };
    for (const c of WORK_CLASSES) this.limiters[c].completedAtTick = done[c];
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
   * RFC 7339 loss-based overload feedback for a response to a client that asked for it (an
   * `oc` parameter on its Via), about new requests of class `work`: the Via parameters
   * `oc=<percent to drop>;oc-validity=<ms>;oc-seq=<time>;oc-algo="loss"`, or null while there
   * is nothing to tell (no overload now nor lately). After an overload, `oc=0;oc-validity=0`
   * tells clients it is over.
   */
  feedback(work: WorkClass): string | null {
    this.feedbackAsked++;
    return this.lossParams[work];
  }

  /**
   * A listener's socket was read. A class not yet limited is limited at once, without waiting
   * for the next sample, when the read's oldest datagram waited longer than maxQueueDelayMs, or
   * the queue is half full (then every limit is cut at once: it would overflow soon), or, where
   * the engine does not tell how long datagrams wait, the queue has not been seen empty for
   * longer than maxQueueDelayMs. Each read's wait is noted for the next sample.
   */
  socketRead(listener: string, read: SocketReadSignal): void {
    if (read.drops !== undefined) this.socketDrops.set(listener, read.drops);
    const now = this.now();
    if (read.waitedMs !== undefined) {
      this.waited.set(listener, read.drained ? 0 : read.waitedMs);
      if (read.waitedMs > this.waitedInTick) this.waitedInTick = read.waitedMs;
      if (read.waitedMs < this.leastWaitInTick) this.leastWaitInTick = read.waitedMs;
      if (this.enabled && read.waitedMs > this.maxQueueDelay()) this.limitBusyClasses(now, 'queue');
    }
    if (read.drained) {
      this.standing.delete(listener);
      return;
    }
    const since = this.standing.get(listener);
    if (since === undefined) this.standing.set(listener, now);
    if (!this.enabled) return;
    if (read.fill !== undefined && read.fill > QUEUE_FILL_CUT) this.fillCut(now);
    else if (read.waitedMs === undefined && since !== undefined && now - since > this.maxQueueDelay()) this.limitBusyClasses(now, 'queue');
  }

  /** One sample: loop delay, caps, the rate each class was completed at; steers the limits. */
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
      if (l.window.length > 10) l.window.shift();
      l.completedAtTick = done[c];
      l.admittedWindow.push(l.admittedInTick);
      if (l.admittedWindow.length > WINDOW_TICKS) l.admittedWindow.shift();
      l.admittedInTick = 0;
      l.offeredWindow.push(this.offeredCount[c] - l.offeredAtTick);
      if (l.offeredWindow.length > WINDOW_TICKS) l.offeredWindow.shift();
      l.offeredAtTick = this.offeredCount[c];
      let second = 0;
      for (const n of l.window) second += n;
      l.peak = Math.max(l.peak * PEAK_DECAY, (second * 1000) / (l.window.length * TICK_MS));
    }
    this.tickStartedAt = now;
    const waited = this.waitedInTick;
    const standing = this.standingQueue(now);
    this.waitedInTick = 0;
    this.leastWaitInTick = Infinity;
    if (!this.enabled) {
      for (const c of WORK_CLASSES) this.limiters[c].rate = null;
      this.leave(now);
      this.updateLoss(now);
      if (samples.hasSubscribers) this.publish(now, waited, done);
      return;
    }
    this.loopLateTicks = loopDelay > (this.opts.maxLoopDelayMs ?? 250) ? this.loopLateTicks + 1 : 0;
    if (this.heapCapped) this.enter('heap');
    else if (this.lastPending >= this.maxPending()) this.enter('pending');
    if (this.loopLateTicks >= 2) this.limitBusyClasses(now, 'loop');
    else if (standing > this.maxQueueDelay()) this.limitBusyClasses(now, 'queue');
    this.steer(now, this.loopLateTicks >= 2 ? Math.max(standing, loopDelay) : standing);
    this.updateLoss(now);
    if (this.state === 'overloaded') this.report(now, this.queueDelay(now));
    if (samples.hasSubscribers) this.publish(now, waited, done);
  }

  private publish(now: number, waited: number, completed: Readonly<Record<WorkClass, number>>): void {
    const sample: OverloadSample = {
      t: now, waitedMs: waited, standingMs: this.lastStanding, loopDelayMs: this.lastLoopDelay, utilization: this.lastUtilization, pending: this.lastPending,
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

  /**
   * The share each class's clients are asked to drop (RFC 7339 loss): what they would send
   * without it (the rate offered, scaled back up by what they were asked to drop already, as if
   * every client that asked lately applies it) over the limit, so that clients that apply it
   * send about the limit; all they can while a cap refuses everything. A value changed gets a new oc-seq (the
   * time, strictly increasing).
   */
  private updateLoss(now: number): void {
    if (this.feedbackAsked > 0) this.feedbackAskedAt = now;
    this.feedbackAsked = 0;
    const overloaded = this.state === 'overloaded';
    if (!overloaded && now >= this.lossOverUntil) {
      if (this.lossParams.call !== null) for (const c of WORK_CLASSES) this.lossParams[c] = null;
      return;
    }
    const capped = this.heapCapped || this.lastPending >= this.maxPending();
    let changed = this.lossParams.call === null;
    for (const c of WORK_CLASSES) {
      const l = this.limiters[c];
      const rate = this.rateOf(c);
      let loss = 0;
      if (overloaded) {
        // The last sample's offered rate, as if its clients had dropped nothing (they were told l.loss then).
        const offered = ((l.offeredWindow[l.offeredWindow.length - 1] ?? 0) * 1000) / TICK_MS / (1 - (this.clientsListen(now) ? l.loss : 0));
        l.unreduced = l.unreduced === 0 ? offered : l.unreduced + UNREDUCED_GAIN * (offered - l.unreduced);
        if (capped) loss = MAX_LOSS;
        else if (rate !== null && l.unreduced > 0) loss = Math.min(MAX_LOSS, Math.max(0, 1 - rate / l.unreduced));
      } else {
        l.unreduced = 0;
      }
      if (Math.round(100 * loss) !== Math.round(100 * l.loss)) changed = true;
      l.loss = loss;
    }
    if (overloaded !== (this.lossOverUntil === Infinity)) {
      // An overload begins, or is over: clients are told so for LOSS_OVER_MS.
      this.lossOverUntil = overloaded ? Infinity : now + LOSS_OVER_MS;
      changed = true;
    }
    if (!changed) return;
    this.lossSeq = Math.max(Date.now(), this.lossSeq + 1);
    const seq = `${Math.floor(this.lossSeq / 1000)}.${String(this.lossSeq % 1000).padStart(3, '0')}`;
    for (const c of WORK_CLASSES) {
      this.lossParams[c] = overloaded
        ? `oc=${Math.round(100 * this.limiters[c].loss)};oc-validity=${LOSS_VALIDITY_MS};oc-seq=${seq};oc-algo="loss"`
        : `oc=0;oc-validity=0;oc-seq=${seq};oc-algo="loss"`;
    }
  }

  /** Whether clients asked for overload feedback lately (RFC 7339): only then may they be sending less than they would. */
  private clientsListen(now: number): boolean {
    return now - this.feedbackAskedAt <= LISTEN_MS;
  }

  /** The congestion begins: every class the proxy has been completing, and is not limiting yet, is limited to a share of its completion rate. */
  private limitBusyClasses(now: number, cause: OverloadCause): void {
    let limited = false;
    for (const c of WORK_CLASSES) {
      const l = this.limiters[c];
      if (l.rate !== null) continue;
      const served = this.servedRate(c, now);
      if (served === 0) continue;
      l.rate = Math.max(MIN_RATE, served * FIRST_CUT);
      l.tokens = Math.max(1, l.rate * BURST_S);
      l.refilled = now;
      l.lastRefusal = now;
      limited = true;
    }
    if (!limited) return;
    this.cuts++;
    this.enter(cause);
  }

  /** A socket's queue nearly full: every limit is cut at once, and the classes not limited yet are limited. */
  private fillCut(now: number): void {
    if (now - this.lastFillCut < CUT_SPACING_MS) return;
    this.lastFillCut = now;
    for (const c of WORK_CLASSES) {
      const l = this.limiters[c];
      if (l.rate !== null) l.rate = this.floored(l, l.rate * FILL_CUT);
    }
    this.cuts++;
    this.limitBusyClasses(now, 'queue');
    this.enter('queue');
  }

  /**
   * A sample: each limited class's limit moves with the standing queue (ms), down while it is
   * above the target or growing, up while it is below (more while the loop has idle time); a
   * class that refused nothing lately climbs no further, and one that refused nothing for
   * RELEASE_MS is let go.
   */
  private steer(now: number, standing: number): void {
    const target = TARGET_SHARE * this.maxQueueDelay();
    const growth = standing - this.lastStanding;
    this.lastStanding = standing;
    let factor = 1 - (GAIN * (standing - target) * TICK_MS) / 1e6 - (TREND * growth) / 1000;
    if (standing < target && this.lastUtilization < TARGET_BUSY) factor = Math.max(factor, TARGET_BUSY / Math.max(this.lastUtilization, 0.01));
    factor = Math.min(MAX_UP, Math.max(MAX_DOWN, factor));
    let limited = false;
    let lowered = false;
    for (const c of WORK_CLASSES) {
      const l = this.limiters[c];
      if (l.rate === null) continue;
      // Clients told to drop part of their new requests (RFC 7339) send less than they would:
      // the limit holds demand back as a refusal does.
      const heldBack = l.loss > 0 && this.clientsListen(now);
      if (now - l.lastRefusal > RELEASE_MS && !heldBack) {
        l.rate = null;
        continue;
      }
      limited = true;
      if (factor >= 1) {
        if (now - l.lastRefusal > TICK_MS && !heldBack) continue; // demand is below the limit: nothing to climb for
        l.rate *= factor;
      } else {
        // A limit above what the class is admitted at (its demand) is cut from that demand.
        l.rate = this.floored(l, Math.min(l.rate, this.admittedRate(c, now) * 1.1) * factor);
        lowered = true;
      }
    }
    if (lowered) this.cuts++;
    if (!limited && now - this.lastRefusal > RELEASE_MS && !this.heapCapped && this.lastPending < this.maxPending()) this.leave(now);
  }

  private floored(l: Limiter, rate: number): number {
    return Math.max(MIN_RATE, FLOOR * l.peak, rate);
  }

  /**
   * The queue that stood over the last sample, ms: the shortest wait of any read in it (a queue
   * that emptied in between was a burst, not a standing queue); where no read told one, the
   * last reads' (0 for a socket read empty) or how long a socket has not been seen empty.
   */
  private standingQueue(now: number): number {
    if (this.leastWaitInTick !== Infinity) {
      // A socket that tells no waits (the js engine) and has not been seen empty counts too.
      let longest = this.leastWaitInTick;
      for (const [listener, since] of this.standing) if (!this.waited.has(listener)) longest = Math.max(longest, now - since);
      return longest;
    }
    return this.queueDelay(now);
  }

  /** The rate the class was admitted at over the last WINDOW_TICKS ticks, per second. */
  private admittedRate(c: WorkClass, now: number): number {
    const l = this.limiters[c];
    let admitted = l.admittedInTick;
    for (const n of l.admittedWindow) admitted += n;
    const span = (l.admittedWindow.length * TICK_MS + (now - this.tickStartedAt)) / 1000;
    return span > 0 ? admitted / span : 0;
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
    for (let k = 1; k <= Math.min(WINDOW_TICKS, l.window.length); k++) {
      sum += l.window[l.window.length - k]!;
      best = Math.max(best, (sum * 1000) / (k * TICK_MS));
    }
    const seconds = (now - this.tickStartedAt) / 1000;
    if (l.window.length === 0 && seconds > 0) best = (this.readers.completed()[c] - l.completedAtTick) / seconds;
    // Completions lag admissions by the time a request takes: when the load has only just
    // begun, half the admitted rate is the better guess (the steering cuts further if it was not).
    return Math.max(best, 0.5 * this.admittedRate(c, now));
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
