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
  /** One byte per port of the range, 1 while the port is reserved or bound. */
  private readonly inUse: Uint8Array;
  private inUseCount = 0;
  /** The first even port of the range: RTP/RTCP pairs start on even ports. */
  private readonly firstEven: number;
  /** Even/odd pairs with both ports free, so that a full pool says so without a scan. */
  private freePairs: number;
  /** Ports skipped because bind failed, over the pool's life. */
  bindFailures = 0;

  constructor(private readonly range: PortRange, private readonly binder: PortBinder<T>) {
    this.next = range.min;
    this.inUse = new Uint8Array(range.max - range.min + 1);
    this.firstEven = range.min + (range.min % 2);
    this.freePairs = Math.floor((range.max - this.firstEven + 1) / 2);
  }

  get size(): number {
    return this.range.max - this.range.min + 1;
  }

  get used(): number {
    return this.inUseCount;
  }

  /** Binds the next free port; null when every port in the range is taken or unbindable. */
  async allocate(): Promise<{ handle: T; port: number } | null> {
    const span = this.size;
    for (let tried = 0; tried < span; tried++) {
      const port = this.next;
      this.next = port >= this.range.max ? this.range.min : port + 1;
      if (this.isUsed(port)) continue;
      this.mark(port, 1); // reserve before an asynchronous bind so two sessions never race for it
      try {
        return { handle: await this.binder.bind(port), port };
      } catch {
        this.mark(port, 0);
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
    if (this.freePairs === 0) return null;
    const first = this.firstEven;
    const pairs = Math.floor((this.range.max - first + 1) / 2);
    if (this.next % 2 === 1 || this.next < first) this.next = this.next < first ? first : this.next + 1;
    for (let tried = 0; tried < pairs; tried++) {
      if (this.next + 1 > this.range.max) this.next = first;
      const port = this.next;
      this.next = port + 2 > this.range.max ? first : port + 2;
      if (this.isUsed(port) || this.isUsed(port + 1)) continue;
      this.mark(port, 1);
      this.mark(port + 1, 1);
      let rtp: T | undefined;
      try {
        rtp = await this.binder.bind(port);
        const rtcp = await this.binder.bind(port + 1);
        return { rtp: { handle: rtp, port }, rtcp: { handle: rtcp, port: port + 1 } };
      } catch {
        if (rtp !== undefined) this.binder.unbind(rtp);
        this.mark(port, 0);
        this.mark(port + 1, 0);
        this.bindFailures++;
      }
    }
    return null;
  }

  release(port: number): void {
    if (port >= this.range.min && port <= this.range.max) this.mark(port, 0);
  }

  private isUsed(port: number): boolean {
    return this.inUse[port - this.range.min] === 1;
  }

  private mark(port: number, used: 0 | 1): void {
    const i = port - this.range.min;
    if (this.inUse[i] === used) return;
    const even = port - ((port - this.firstEven) & 1);
    const hasPair = even >= this.firstEven && even + 1 <= this.range.max;
    const pairWasFree = hasPair && !this.isUsed(even) && !this.isUsed(even + 1);
    this.inUse[i] = used;
    this.inUseCount += used === 1 ? 1 : -1;
    if (hasPair) this.freePairs += (!this.isUsed(even) && !this.isUsed(even + 1) ? 1 : 0) - (pairWasFree ? 1 : 0);
  }
}
