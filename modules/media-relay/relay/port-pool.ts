import { randomFillSync } from 'node:crypto';

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

/** Random words drawn a batch at a time: a port choice costs an array read, not a system call. */
const randomWords = new Uint32Array(256);
let randomAt = randomWords.length;

/** A random integer in [0, n), n <= 2^32. */
function randomBelow(n: number): number {
  if (randomAt === randomWords.length) {
    randomFillSync(randomWords);
    randomAt = 0;
  }
  return Math.floor((randomWords[randomAt++]! / 0x1_0000_0000) * n);
}

/**
 * Hands out media ports from a range at random, so that nobody can tell the port of the next
 * call from the last one (and latch onto it first), and skips ports that cannot be bound
 * (another program holds them, e.g. SIP's 5060). A freed port waits in a quarantine of the last
 * ones freed before it is handed out again, unless nothing else is free.
 */
export class PortPool<T> {
  /** One byte per port of the range, 1 while the port is reserved or bound. */
  private readonly inUse: Uint8Array;
  private inUseCount = 0;
  /** The first even port of the range: RTP/RTCP pairs start on even ports. */
  private readonly firstEven: number;
  private readonly pairCount: number;
  /** Even/odd pairs with both ports free (quarantined or not), so that a full pool says so without a scan. */
  private freePairs: number;
  /** 1 while a free port waits in the quarantine ring. */
  private readonly waiting: Uint8Array;
  /** The ports freed last, oldest first from `ringAt`. */
  private readonly ring: Int32Array;
  private ringAt = 0;
  private ringSize = 0;
  /** Ports skipped because bind failed, over the pool's life. */
  bindFailures = 0;

  constructor(private readonly range: PortRange, private readonly binder: PortBinder<T>) {
    const size = range.max - range.min + 1;
    this.inUse = new Uint8Array(size);
    this.waiting = new Uint8Array(size);
    this.ring = new Int32Array(Math.min(256, Math.max(1, Math.floor(size / 4))));
    this.firstEven = range.min + (range.min % 2);
    this.pairCount = Math.max(0, Math.floor((range.max - this.firstEven + 1) / 2));
    this.freePairs = this.pairCount;
  }

  get size(): number {
    return this.range.max - this.range.min + 1;
  }

  get used(): number {
    return this.inUseCount;
  }

  /** Binds a free port chosen at random; null when every port in the range is taken or unbindable. */
  async allocate(): Promise<{ handle: T; port: number } | null> {
    const span = this.size;
    const start = randomBelow(span);
    for (let pass = 0; pass < 2; pass++) {
      for (let k = 0; k < span; k++) {
        const port = this.range.min + ((start + k) % span);
        if (this.isUsed(port) || (pass === 0 && this.isWaiting(port))) continue;
        this.mark(port, 1); // reserve before an asynchronous bind so two sessions never race for it
        try {
          return { handle: await this.binder.bind(port), port };
        } catch {
          this.mark(port, 0);
          this.bindFailures++;
        }
      }
    }
    return null;
  }

  /**
   * Binds an even port and the odd one above it (RTP and RTCP, RFC 3550 §11), a pair chosen at
   * random; null when no such pair is free.
   */
  async allocatePair(): Promise<{ rtp: { handle: T; port: number }; rtcp: { handle: T; port: number } } | null> {
    if (this.freePairs === 0) return null;
    const pairs = this.pairCount;
    const start = randomBelow(pairs);
    for (let pass = 0; pass < 2; pass++) {
      for (let k = 0; k < pairs; k++) {
        const port = this.firstEven + 2 * ((start + k) % pairs);
        if (this.isUsed(port) || this.isUsed(port + 1)) continue;
        if (pass === 0 && (this.isWaiting(port) || this.isWaiting(port + 1))) continue;
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
        if (this.freePairs === 0) return null;
      }
    }
    return null;
  }

  /** A port its session no longer needs: free again, after the ports freed before it. */
  release(port: number): void {
    if (port < this.range.min || port > this.range.max || !this.isUsed(port)) return;
    this.mark(port, 0);
    const i = port - this.range.min;
    if (this.waiting[i] === 1) return; // still in the ring from an earlier release
    const ring = this.ring;
    if (this.ringSize === ring.length) {
      this.waiting[ring[this.ringAt]! - this.range.min] = 0;
      this.ringAt = (this.ringAt + 1) % ring.length;
      this.ringSize--;
    }
    this.waiting[i] = 1;
    ring[(this.ringAt + this.ringSize) % ring.length] = port;
    this.ringSize++;
  }

  private isUsed(port: number): boolean {
    return this.inUse[port - this.range.min] === 1;
  }

  private isWaiting(port: number): boolean {
    return this.waiting[port - this.range.min] === 1;
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
