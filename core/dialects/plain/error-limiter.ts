/**
 * Token bucket per source IP for ERROR replies, so a flood of garbage from a forged
 * source cannot turn the proxy into an amplifier. Memory is bounded: when the table
 * is full, the oldest buckets are forgotten.
 */
export interface ErrorLimiterOptions {
  /** Sustained ERROR replies per second per source IP. */
  ratePerSecond: number;
  /** Burst allowed above the sustained rate. */
  burst: number;
  /** Source IPs remembered at most. */
  maxSources: number;
}

interface Bucket { tokens: number; at: number }

export class ErrorLimiter {
  private readonly buckets = new Map<string, Bucket>();
  suppressed = 0;

  constructor(private readonly opts: ErrorLimiterOptions, private readonly now: () => number = () => performance.now()) {}

  /** True when an ERROR may be sent to this source IP now (and takes a token). */
  allow(ip: string): boolean {
    const t = this.now();
    let b = this.buckets.get(ip);
    if (b === undefined) {
      if (this.buckets.size >= this.opts.maxSources) this.evictOldest();
      b = { tokens: this.opts.burst, at: t };
      this.buckets.set(ip, b);
    } else {
      b.tokens = Math.min(this.opts.burst, b.tokens + ((t - b.at) / 1000) * this.opts.ratePerSecond);
      b.at = t;
    }
    if (b.tokens >= 1) {
      b.tokens -= 1;
      return true;
    }
    this.suppressed++;
    return false;
  }

  private evictOldest(): void {
    // Map iteration order is insertion order: drop the first tenth.
    let n = Math.max(1, Math.floor(this.opts.maxSources / 10));
    for (const key of this.buckets.keys()) {
      this.buckets.delete(key);
      if (--n === 0) break;
    }
  }
}
