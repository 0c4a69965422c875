/**
 * A model of a one-core proxy under a SIPp-like call load, on a virtual clock, to drive
 * OverloadControl (core/kernel/overload.ts) through its whole loop without a real socket: a
 * socket queue of bounded size that drops what does not fit (each read says how long its oldest
 * datagram waited and how full the queue is), reads of up to 64 datagrams,
 * new calls taken after everything else in each batch, and senders that retransmit what went
 * unanswered (RFC 3261 Timers A, E and G as SIPp keeps them). Each datagram costs the CPU time
 * given for its kind; a refused INVITE costs `refusal`, and the ACK of the refusal is absorbed
 * at the cost of a glance. Optionally the core is shared with other processes (`steal`: the
 * proxy is held off it for stretches, as the scheduler does on a busy machine) and the proxy
 * starts cold (`coldStart`: every cost higher at first, as before the JIT has compiled it).
 *
 * Deterministic: arrivals are Poisson from a seeded generator.
 */
import { OverloadControl, type OverloadOptions, type WorkClass } from '../../core/kernel/overload.ts';

/** CPU time per datagram, µs. */
export interface ModelCosts {
  readonly invite: number;
  readonly ringing: number;
  readonly ok: number;
  readonly ack: number;
  readonly bye: number;
  readonly byeOk: number;
  /** A new INVITE refused from its raw bytes. */
  readonly refusal: number;
  /** The ACK of a refusal, or a retransmission absorbed by its transaction. */
  readonly absorbed: number;
}

export const SWITCHYARD_LIKE: ModelCosts = { invite: 70, ringing: 20, ok: 40, ack: 20, bye: 30, byeOk: 20, refusal: 5, absorbed: 3 };

/**
 * As measured on the benchmark machine with the kernel's share included: a refused call (its
 * INVITE and ACK received, the 503 sent) costs about a tenth of a completed one (bench/overload,
 * "refuse-all" against the PASS harness's CPU per call; BENCHMARKS.md, "Overload").
 */
export const SWITCHYARD_MEASURED: ModelCosts = { ...SWITCHYARD_LIKE, refusal: 14, absorbed: 6 };

/**
 * Other processes on the proxy's core: it runs for stretches and is held off for others (both
 * exponential), so that it has `share` of the core on average. Held off in the middle of a
 * batch, the time counts as busy to the event loop (as node's loop utilisation counts it).
 */
export interface Steal {
  readonly share: number;
  /** The mean stretch the proxy is held off, ms. */
  readonly heldMs: number;
}

/** A cold start: every cost is `factor` times higher at first, falling linearly to 1 over `seconds`. */
export interface ColdStart {
  readonly factor: number;
  readonly seconds: number;
}

export interface Phase {
  /** New calls offered per second. */
  readonly rate: number;
  readonly seconds: number;
}

export interface ModelOptions {
  readonly phases: readonly Phase[];
  readonly costs?: ModelCosts;
  /** Datagrams the socket's queue holds. */
  readonly queue?: number;
  readonly control?: OverloadOptions | false;
  readonly seed?: number;
  readonly steal?: Steal;
  readonly coldStart?: ColdStart;
}

export interface ModelResult {
  /** Calls completed (BYE answered) in each whole second. */
  readonly goodput: number[];
  /** Calls refused with 503, failed after every retransmission, and datagrams the queue dropped. */
  readonly refused: number;
  readonly failed: number;
  readonly dropped: number;
  /** Datagrams the queue dropped in each whole second. */
  readonly droppedPerSecond: number[];
  /** The longest any datagram waited in the queue, ms, per second. */
  readonly maxWaitMs: number[];
  /** The most calls admitted and not yet answered at once. */
  readonly maxPending: number;
  /** The admission limit on calls at the end of each whole second (null: not limited). */
  readonly limits: (number | null)[];
  /** The share of each whole second the proxy had its core (1 unless other processes take it, `steal`). */
  readonly share: number[];
  /** What the model's capacity is: calls per second with the CPU fully busy and nothing refused. */
  readonly capacity: number;
}

type Kind = 'invite' | 'ringing' | 'ok' | 'ack' | 'bye' | 'byeOk' | 'refusalAck';

interface Call {
  seen: boolean;
  answered: boolean;
  acked: boolean;
  byeAnswered: boolean;
  done: boolean;
  inviteTries: number;
}

interface Datagram {
  readonly kind: Kind;
  readonly call: Call;
  readonly sent: number;
}

/** A binary heap of timed events. */
class Timeline {
  private readonly at: number[] = [];
  private readonly run: (() => void)[] = [];

  push(t: number, fn: () => void): void {
    const { at, run } = this;
    let i = at.length;
    at.push(t);
    run.push(fn);
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (at[p]! <= t) break;
      at[i] = at[p]!;
      run[i] = run[p]!;
      i = p;
    }
    at[i] = t;
    run[i] = fn;
  }

  get next(): number {
    return this.at.length > 0 ? this.at[0]! : Infinity;
  }

  pop(): () => void {
    const { at, run } = this;
    const fn = run[0]!;
    const lastT = at.pop()!;
    const lastF = run.pop()!;
    const n = at.length;
    if (n > 0) {
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        if (l >= n) break;
        const r = l + 1;
        const c = r < n && at[r]! < at[l]! ? r : l;
        if (at[c]! >= lastT) break;
        at[i] = at[c]!;
        run[i] = run[c]!;
        i = c;
      }
      at[i] = lastT;
      run[i] = lastF;
    }
    return fn;
  }
}

function random(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const T1 = 500;
const T2 = 4000;
/** One way on loopback, and the peer's own turnaround, ms. */
const HOP = 0.3;
const INVITE_TRIES = 6;

export function runModel(opts: ModelOptions): ModelResult {
  const costs = opts.costs ?? SWITCHYARD_LIKE;
  const capacityQueue = opts.queue ?? 4000;
  const rand = random(opts.seed ?? 1);
  const stealRand = random((opts.seed ?? 1) + 1000);
  const timeline = new Timeline();
  const queue: Datagram[] = [];
  let head = 0;
  let now = 0;
  let pending = 0;
  let busy = 0;
  let busyAtTick = 0;
  let maxPending = 0;
  const completed: Record<WorkClass, number> = { call: 0, register: 0, other: 0 };
  const total = opts.phases.reduce((a, p) => a + p.seconds, 0);
  const goodput = new Array<number>(Math.ceil(total)).fill(0);
  const maxWaitMs = new Array<number>(Math.ceil(total)).fill(0);
  const droppedPerSecond = new Array<number>(Math.ceil(total)).fill(0);
  let refused = 0;
  let failed = 0;
  let dropped = 0;
  const control = opts.control === false ? null : new OverloadControl({
    pending: () => pending, completed: () => completed, heapUsed: () => 0, heapLimit: () => 1, loopDelay: () => 0, now: () => now,
    utilization: () => {
      const u = (busy - busyAtTick) / 100;
      busyAtTick = busy;
      return Math.min(1, u);
    },
  }, { maxHeapMB: 1e9, ...(opts.control ?? {}) });

  // The stretches the proxy is held off its core: [heldFrom, heldUntil), drawn as time goes on.
  let heldFrom = Infinity;
  let heldUntil = -Infinity;
  const steal = opts.steal;
  const share = new Array<number>(Math.ceil(total)).fill(1);
  const drawSteal = (from: number): void => {
    const held = -Math.log(1 - stealRand()) * steal!.heldMs;
    const run = -Math.log(1 - stealRand()) * steal!.heldMs * steal!.share / (1 - steal!.share);
    heldFrom = from + run;
    heldUntil = heldFrom + held;
    // Time held off, second by second.
    for (let t = heldFrom; t < heldUntil;) {
      const second = Math.floor(t / 1000);
      const next = Math.min(heldUntil, (second + 1) * 1000);
      if (second < share.length) share[second]! -= (next - t) / 1000;
      t = next;
    }
  };
  if (steal !== undefined && steal.share < 1) drawSteal(0);
  /** The proxy may run at `now` only after the stretch it is held off in. */
  const runnable = (): void => {
    for (;;) {
      while (now >= heldUntil) drawSteal(heldUntil);
      if (now < heldFrom) return;
      now = heldUntil;
    }
  };
  const cold = opts.coldStart;
  /** `us` of the proxy's own work, from `now` on: time held off on the way passes too. */
  const spend = (us: number): void => {
    let ms = us / 1000;
    if (cold !== undefined && now < cold.seconds * 1000) ms *= 1 + (cold.factor - 1) * (1 - now / (cold.seconds * 1000));
    if (steal === undefined || steal.share >= 1) {
      now += ms;
      return;
    }
    while (ms > 0) {
      runnable();
      const run = Math.min(ms, heldFrom - now);
      now += run;
      ms -= run;
    }
  };
  const limits = new Array<number | null>(Math.ceil(total)).fill(null);

  const arrive = (kind: Kind, call: Call, at: number): void => {
    timeline.push(at, () => {
      if (queue.length - head >= capacityQueue) {
        dropped++;
        droppedPerSecond[Math.min(droppedPerSecond.length - 1, Math.floor(at / 1000))]!++;
        return;
      }
      queue.push({ kind, call, sent: at });
    });
  };

  const sendInvite = (call: Call, at: number): void => {
    call.inviteTries++;
    arrive('invite', call, at);
    const tries = call.inviteTries;
    // Timer A: repeated until the proxy's 100 Trying (it sends one as it takes the INVITE).
    timeline.push(at + T1 * 2 ** (tries - 1), () => {
      if (call.seen || call.done) return;
      if (tries >= INVITE_TRIES) {
        call.done = true;
        failed++;
        return;
      }
      sendInvite(call, now);
    });
  };

  // The callee's 200 is repeated until the ACK reaches it (Timer G); the caller's BYE until its 200 (Timer E).
  const sendOk = (call: Call, at: number, every: number): void => {
    arrive('ok', call, at);
    timeline.push(at + every, () => {
      if (!call.acked && !call.done) sendOk(call, now, Math.min(every * 2, T2));
    });
  };
  const sendBye = (call: Call, at: number, every: number): void => {
    arrive('bye', call, at);
    timeline.push(at + every, () => {
      if (!call.byeAnswered && !call.done) sendBye(call, now, Math.min(every * 2, T2));
    });
  };

  let offeredUntil = 0;
  for (const phase of opts.phases) {
    const end = offeredUntil + phase.seconds * 1000;
    for (let t = offeredUntil + (-Math.log(1 - rand()) * 1000) / phase.rate; t < end; t += (-Math.log(1 - rand()) * 1000) / phase.rate) {
      const call: Call = { seen: false, answered: false, acked: false, byeAnswered: false, done: false, inviteTries: 0 };
      timeline.push(t, () => sendInvite(call, t));
    }
    offeredUntil = end;
  }

  const process = (d: Datagram, admitNew: boolean): void => {
    const c = d.call;
    const second = Math.min(maxWaitMs.length - 1, Math.floor(now / 1000));
    maxWaitMs[second] = Math.max(maxWaitMs[second]!, now - d.sent);
    switch (d.kind) {
      case 'invite':
        if (c.seen || c.done) {
          spend(costs.absorbed);
          return;
        }
        if (!admitNew) {
          spend(costs.refusal);
          c.done = true;
          refused++;
          arrive('refusalAck', c, now + 2 * HOP);
          return;
        }
        spend(costs.invite);
        c.seen = true;
        pending++;
        maxPending = Math.max(maxPending, pending);
        arrive('ringing', c, now + 2 * HOP);
        sendOk(c, now + 2 * HOP, T1);
        return;
      case 'ringing':
        spend(costs.ringing);
        return;
      case 'ok':
        spend(costs.ok);
        if (c.answered) return; // a repeat, passed on: the caller acknowledges it again
        c.answered = true;
        pending--;
        completed.call++;
        arrive('ack', c, now + 2 * HOP);
        sendBye(c, now + 2 * HOP, T1);
        return;
      case 'ack':
        spend(costs.ack);
        c.acked = true;
        return;
      case 'bye':
        spend(costs.bye);
        arrive('byeOk', c, now + 2 * HOP);
        return;
      case 'byeOk':
        spend(costs.byeOk);
        if (c.byeAnswered) return;
        c.byeAnswered = true;
        c.done = true;
        goodput[Math.min(goodput.length - 1, Math.floor(now / 1000))]!++;
        return;
      case 'refusalAck':
        spend(costs.absorbed);
        return;
    }
  };

  let nextTick = 100;
  const end = total * 1000;
  const deferred: Datagram[] = [];
  while (now < end) {
    while (timeline.next <= now) timeline.pop()();
    while (nextTick <= now) {
      control?.tick();
      if (nextTick % 1000 === 0 && nextTick / 1000 - 1 < limits.length) limits[nextTick / 1000 - 1] = control?.stats().limits.call ?? null;
      nextTick += 100;
    }
    if (head === queue.length) {
      now = Math.min(timeline.next, nextTick, end);
      continue;
    }
    if (steal !== undefined && steal.share < 1) {
      // Held off the core, the proxy reads its socket only when it runs again.
      const before = now;
      runnable();
      if (now > before) continue;
    }
    const n = Math.min(64, queue.length - head);
    const batch = queue.slice(head, head + n);
    head += n;
    if (head > 100_000) {
      queue.splice(0, head);
      head = 0;
    }
    control?.socketRead('sip', { drained: n < 64, waitedMs: now - batch[0]!.sent, fill: (queue.length - head) / capacityQueue });
    deferred.length = 0;
    const started = now;
    for (const d of batch) {
      if (d.kind === 'invite' && !d.call.seen) deferred.push(d);
      else process(d, true);
    }
    for (const d of deferred) process(d, d.call.seen || control === null || control.admit('call'));
    busy += now - started;
  }
  return { goodput, refused, failed, dropped, droppedPerSecond, maxWaitMs, maxPending, limits, share, capacity: Math.round(1e6 / (costs.invite + costs.ringing + costs.ok + costs.ack + costs.bye + costs.byeOk)) };
}
