import { performance, type EventLoopUtilization } from 'node:perf_hooks';

export interface AdmissionOptions {
  /** Event-loop utilisation (0-1) over one sample at or above which fewer new calls are admitted. */
  readonly high?: number;
  /** Utilisation below which the admitted share grows back. */
  readonly low?: number;
  /** Sample period, ms. */
  readonly intervalMs?: number;
  /**
   * Saturated samples in a row before any call is refused: one long synchronous stretch (a
   * script reload compiling) is one sample, a real backlog is many.
   */
  readonly patience?: number;
}

/**
 * Admission control for new calls. A proxy whose event loop is saturated does not slow down
 * gently: datagrams wait in the socket's receive queue, their senders retransmit after T1
 * (500 ms), the proxy's own Timer A retransmits to callees whose answers are still queued, and
 * every retransmission is more work for a loop that has none to spare, until nearly every call
 * fails. So once the loop has stayed saturated for a while the share of new calls let in is cut
 * (multiplicative decrease per saturated sample, additive increase once the loop has slack
 * again); the rest are refused with 503 at once, while calls in progress, registrations and
 * replies flow on.
 */
export class AdmissionControl {
  /** Share of new calls admitted, 0-1. */
  share = 1;
  private credit = 0;
  private readonly high: number;
  private readonly low: number;
  private readonly intervalMs: number;
  private readonly patience: number;
  private streak = 0;
  private timer: NodeJS.Timeout | null = null;
  private last: EventLoopUtilization | null = null;

  constructor(opts: AdmissionOptions = {}) {
    this.high = opts.high ?? 0.97;
    this.low = opts.low ?? 0.85;
    this.intervalMs = opts.intervalMs ?? 100;
    this.patience = opts.patience ?? 8;
  }

  /** Takes one utilisation sample and adjusts the admitted share. */
  observe(utilization: number): void {
    if (utilization >= this.high) {
      this.streak++;
      if (this.streak >= this.patience) this.share *= 0.7;
      return;
    }
    this.streak = 0;
    if (utilization < this.low) this.share = Math.min(1, this.share + 0.05);
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
    this.timer = setInterval(() => {
      const now = performance.eventLoopUtilization();
      this.observe(performance.eventLoopUtilization(now, this.last!).utilization);
      this.last = now;
    }, this.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
  }
}
