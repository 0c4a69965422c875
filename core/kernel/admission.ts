import { performance, type EventLoopUtilization } from 'node:perf_hooks';

export interface AdmissionOptions {
  /** Event-loop utilisation (0-1) over one sample at or above which fewer new calls are admitted. */
  readonly high?: number;
  /** Utilisation below which the admitted share grows back. */
  readonly low?: number;
  /** Sample period, ms. */
  readonly intervalMs?: number;
  /**
   * Overloaded samples in a row before any call is refused: one long synchronous stretch (a
   * script reload compiling) is one sample, a real backlog is many.
   */
  readonly patience?: number;
  /** Requests retransmitted to the proxy in one sample from which on a saturated loop counts as overloaded. */
  readonly retransmissions?: number;
  /** The running count of retransmitted requests the proxy has absorbed. */
  readonly retransmitted?: () => number;
}

/** Share of new calls kept at each overloaded sample. */
const CUT = 0.7;
/** Share added at a sample without backlog. */
const STEP = 0.05;

/**
 * Admission control for new calls. A proxy whose event loop is saturated does not slow down
 * gently: datagrams wait in the socket's receive queue, their senders retransmit after T1
 * (500 ms), the proxy's own Timer A retransmits to callees whose answers are still queued, and
 * every retransmission is more work for a loop that has none to spare, until nearly every call
 * fails. A saturated loop alone is no proof of that (a cold start keeps it busy for a second or
 * two with answers still well within T1); a saturated loop while senders retransmit to it is.
 * Once that has lasted a few samples the share of new calls let in is cut (multiplicative
 * decrease per overloaded sample); the rest are refused with 503 at once, while calls in
 * progress, registrations and replies flow on. The share grows back as fast as it was cut once
 * the loop has slack (a cold start is over in a second or two, and every call refused after it
 * is a failure for nothing), and step by step while the loop is busy but nobody retransmits.
 */
export class AdmissionControl {
  /** Share of new calls admitted, 0-1. */
  share = 1;
  private credit = 0;
  private readonly high: number;
  private readonly low: number;
  private readonly intervalMs: number;
  private readonly patience: number;
  private readonly retransmissions: number;
  private readonly retransmitted: () => number;
  private lastRetransmitted = 0;
  private streak = 0;
  private timer: NodeJS.Timeout | null = null;
  private last: EventLoopUtilization | null = null;

  constructor(opts: AdmissionOptions = {}) {
    this.high = opts.high ?? 0.97;
    this.low = opts.low ?? 0.85;
    this.intervalMs = opts.intervalMs ?? 100;
    this.patience = opts.patience ?? 3;
    this.retransmissions = opts.retransmissions ?? 10;
    this.retransmitted = opts.retransmitted ?? (() => 0);
  }

  /** Takes one sample (loop utilisation, requests retransmitted to the proxy meanwhile) and adjusts the admitted share. */
  observe(utilization: number, retransmitted: number): void {
    if (utilization >= this.high && retransmitted >= this.retransmissions) {
      this.streak++;
      if (this.streak >= this.patience) this.share *= CUT;
      return;
    }
    this.streak = 0;
    if (utilization < this.low) this.share = Math.min(1, this.share / CUT + STEP);
    else if (retransmitted < this.retransmissions) this.share = Math.min(1, this.share + STEP); // the backlog is gone: carefully
  }

  /**
   * Whether the next new call is let in: a running credit admits exactly the share, spread
   * evenly (no randomness, so a given sequence of samples always sheds the same calls).
   */
  admit(): boolean {
    if (this.share >= 1) return true;
    this.credit += this.share;
    if (this.credit >= 1) {
      this.credit -= 1;
      return true;
    }
    return false;
  }

  /** Samples the event loop's utilisation every interval (the timer does not keep the process alive). */
  start(): void {
    if (this.timer !== null) return;
    this.last = performance.eventLoopUtilization();
    this.lastRetransmitted = this.retransmitted();
    this.timer = setInterval(() => {
      const now = performance.eventLoopUtilization();
      const retransmitted = this.retransmitted();
      this.observe(performance.eventLoopUtilization(now, this.last!).utilization, retransmitted - this.lastRetransmitted);
      this.last = now;
      this.lastRetransmitted = retransmitted;
    }, this.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
  }
}
