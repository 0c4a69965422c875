export interface PortRange {
  readonly min: number;
  readonly max: number;
}

/** `5000-5999` → { min: 5000, max: 5999 } */
export function parsePortRange(text: string): PortRange | null {
  const m = /^(\d{1,5})\s*-\s*(\d{1,5})$/.exec(text.trim());
  if (m === null) return null;
  const min = Number(m[1]);
  const max = Number(m[2]);
  return min >= 1 && max <= 65535 && min <= max ? { min, max } : null;
}

/** How a pool binds a port (rejecting when it cannot) and lets go of one it bound. */
export interface PortBinder<T> {
  bind(port: number): Promise<T>;
  unbind(bound: T): void;
}

/**
 * Hands out media ports round-robin from a range, so a freed port is not reused at once,
 * and skips ports that cannot be bound (another program holds them, e.g. SIP's 5060).
 */
export class PortPool<T> {
  private next: number;
  private readonly inUse = new Set<number>();
  /** Ports skipped because bind failed, over the pool's life. */
  bindFailures = 0;

  constructor(private range: PortRange, private readonly binder: PortBinder<T>) {
    this.next = range.min;
  }

  get size(): number {
    return this.range.max - this.range.min + 1;
  }

  get used(): number {
    return this.inUse.size;
  }

  /** Binds the next free port; null when every port in the range is taken or unbindable. */
  async allocate(): Promise<{ handle: T; port: number } | null> {
    const span = this.size;
    for (let tried = 0; tried < span; tried++) {
      const port = this.next;
      this.next = port >= this.range.max ? this.range.min : port + 1;
      if (this.inUse.has(port)) continue;
      this.inUse.add(port); // reserve before an asynchronous bind so two sessions never race for it
      try {
        return { handle: await this.binder.bind(port), port };
      } catch {
        this.inUse.delete(port);
        this.bindFailures++;
      }
    }
    return null;
  }

  /**
   * Binds an even port and the odd one above it (RTP and RTCP, RFC 3550 §11), round-robin
   * over the even ports of the range; null when no such pair is free.
   */
  async allocatePair(): Promise<{ rtp: { handle: T; port: number }; rtcp: { handle: T; port: number } } | null> {
    const first = this.range.min + (this.range.min % 2);
    const pairs = Math.floor((this.range.max - first + 1) / 2);
    if (this.next % 2 === 1 || this.next < first) this.next = this.next < first ? first : this.next + 1;
    for (let tried = 0; tried < pairs; tried++) {
      if (this.next + 1 > this.range.max) this.next = first;
      const port = this.next;
      this.next = port + 2 > this.range.max ? first : port + 2;
      if (this.inUse.has(port) || this.inUse.has(port + 1)) continue;
      this.inUse.add(port);
      this.inUse.add(port + 1);
      let rtp: T | undefined;
      try {
        rtp = await this.binder.bind(port);
        const rtcp = await this.binder.bind(port + 1);
        return { rtp: { handle: rtp, port }, rtcp: { handle: rtcp, port: port + 1 } };
      } catch {
        if (rtp !== undefined) this.binder.unbind(rtp);
        this.inUse.delete(port);
        this.inUse.delete(port + 1);
        this.bindFailures++;
      }
    }
    return null;
  }

  release(port: number): void {
    this.inUse.delete(port);
  }
}
