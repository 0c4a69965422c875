/**
 * Things kept for one fixed time and then let go (finished transactions absorbing
 * retransmissions). Every entry lives equally long, so the oldest always expires first: one
 * queue and one coarse sweep replace a timer per entry. An entry goes up to one sweep period
 * late, which only keeps it absorbing a little longer.
 */
export class LingerQueue<T> {
  private items: (T | undefined)[] = [];
  private expiries: number[] = [];
  private head = 0;
  private timer: NodeJS.Timeout | null = null;

  constructor(private readonly ms: number, private readonly expire: (item: T) => void, private readonly sweepMs = Math.max(10, Math.min(1000, ms / 8))) {}

  get size(): number {
    return this.items.length - this.head;
  }

  add(item: T): void {
    this.items.push(item);
    this.expiries.push(performance.now() + this.ms);
    if (this.timer === null) {
      this.timer = setInterval(() => this.sweep(performance.now()), this.sweepMs);
      this.timer.unref();
    }
  }

  /** Lets go of every entry whose time is up at `now`. */
  sweep(now: number): void {
    const { items, expiries } = this;
    let h = this.head;
    while (h < items.length && expiries[h]! <= now) {
      const item = items[h]!;
      items[h] = undefined;
      h++;
      this.expire(item);
    }
    if (h === items.length) {
      this.items = [];
      this.expiries = [];
      this.head = 0;
      this.stop();
      return;
    }
    if (h > 1024 && h * 2 > items.length) {
      this.items = items.slice(h);
      this.expiries = expiries.slice(h);
      h = 0;
    }
    this.head = h;
  }

  /** Drops every entry without expiring it. */
  clear(): void {
    this.items = [];
    this.expiries = [];
    this.head = 0;
    this.stop();
  }

  private stop(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
  }
}
