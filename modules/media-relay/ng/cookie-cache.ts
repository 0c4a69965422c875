/**
 * The NG server's memory of commands by (source, cookie): a command still being handled, so
 * its retransmission does not run it twice, and the answer of one handled lately, so a
 * retransmission gets the same answer (rtpengine keeps them about 30 s). Bounded by count,
 * bytes and age; the oldest answers go first.
 */

export interface CookieCacheOptions {
  /** Answers kept at most. */
  readonly maxEntries: number;
  /** Bytes of answers kept at most. */
  readonly maxBytes: number;
  /** How long an answer is kept. */
  readonly ttlMs: number;
  /** Commands being handled at once at most. */
  readonly maxInFlight: number;
  readonly now: () => number;
}

export const DEFAULT_COOKIE_CACHE: Omit<CookieCacheOptions, 'now'> = { maxEntries: 8192, maxBytes: 16 * 1024 * 1024, ttlMs: 30_000, maxInFlight: 1024 };

export type CookieLookup =
  | { readonly kind: 'new' }
  | { readonly kind: 'in-flight' }
  | { readonly kind: 'answered'; readonly answer: Buffer }
  | { readonly kind: 'busy' };

interface Answered {
  readonly answer: Buffer;
  readonly at: number;
}

/** Copies of a command that arrived while it was handled; each is answered once it is done, up to this many. */
const MAX_WAITING_COPIES = 4;

export class CookieCache {
  private readonly inFlight = new Map<string, { copies: number }>();
  private readonly answered = new Map<string, Answered>();
  private bytes = 0;

  constructor(private readonly options: CookieCacheOptions) {}

  static key(address: string, port: number, cookie: string): string {
    return `${address} ${port} ${cookie}`;
  }

  /** What to do with a command: handle it (`new`, now marked in flight), wait, resend an answer, or refuse (`busy`). */
  begin(key: string): CookieLookup {
    const done = this.answered.get(key);
    if (done !== undefined) {
      if (this.options.now() - done.at <= this.options.ttlMs) return { kind: 'answered', answer: done.answer };
      this.drop(key, done);
    }
    const pending = this.inFlight.get(key);
    if (pending !== undefined) {
      pending.copies = Math.min(pending.copies + 1, MAX_WAITING_COPIES);
      return { kind: 'in-flight' };
    }
    if (this.inFlight.size >= this.options.maxInFlight) return { kind: 'busy' };
    this.inFlight.set(key, { copies: 0 });
    return { kind: 'new' };
  }

  /** Keeps the answer of a handled command; returns how many further copies arrived meanwhile (each is owed the answer). */
  finish(key: string, answer: Buffer): number {
    const copies = this.inFlight.get(key)?.copies ?? 0;
    this.inFlight.delete(key);
    if (answer.length > this.options.maxBytes) return copies;
    const old = this.answered.get(key);
    if (old !== undefined) this.drop(key, old);
    this.answered.set(key, { answer, at: this.options.now() });
    this.bytes += answer.length;
    this.evict();
    return copies;
  }

  /** Ends a command without keeping its answer (one that is cheap to compute again); returns the copies owed it. */
  release(key: string): number {
    const copies = this.inFlight.get(key)?.copies ?? 0;
    this.inFlight.delete(key);
    return copies;
  }

  get size(): { readonly inFlight: number; readonly answered: number; readonly bytes: number } {
    return { inFlight: this.inFlight.size, answered: this.answered.size, bytes: this.bytes };
  }

  clear(): void {
    this.inFlight.clear();
    this.answered.clear();
    this.bytes = 0;
  }

  private drop(key: string, entry: Answered): void {
    this.answered.delete(key);
    this.bytes -= entry.answer.length;
  }

  /** Oldest first (a Map iterates in insertion order): over a bound, or past its age. */
  private evict(): void {
    const oldest = this.options.now() - this.options.ttlMs;
    for (const [key, entry] of this.answered) {
      const over = this.answered.size > this.options.maxEntries || this.bytes > this.options.maxBytes;
      if (!over && entry.at >= oldest) break;
      this.drop(key, entry);
    }
  }
}
