import type dgram from 'node:dgram';
import { bindUdp, createUdpSocket } from '../../../core/transport/udp-socket.ts';

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

/**
 * Hands out media ports round-robin from a range, so a freed port is not reused at once,
 * and skips ports that cannot be bound (another program holds them, e.g. SIP's 5060).
 */
export class PortPool {
  private next: number;
  private readonly inUse = new Set<number>();
  /** Ports skipped because bind failed, over the pool's life. */
  bindFailures = 0;

  constructor(private range: PortRange, private readonly host: string) {
    this.next = range.min;
  }

  get size(): number {
    return this.range.max - this.range.min + 1;
  }

  get used(): number {
    return this.inUse.size;
  }

  /** Binds a socket on the next free port; null when every port in the range is taken or unbindable. */
  async allocate(): Promise<{ socket: dgram.Socket; port: number } | null> {
    const span = this.size;
    for (let tried = 0; tried < span; tried++) {
      const port = this.next;
      this.next = port >= this.range.max ? this.range.min : port + 1;
      if (this.inUse.has(port)) continue;
      this.inUse.add(port); // reserve before the asynchronous bind so two sessions never race for it
      const socket = createUdpSocket(this.host, { literalPeers: true });
      try {
        await bindUdp(socket, port, this.host);
        return { socket, port };
      } catch {
        this.inUse.delete(port);
        this.bindFailures++;
        try { socket.close(); } catch { /* a socket whose bind failed may already be closed */ }
      }
    }
    return null;
  }

  /**
   * Binds an even port and the odd one above it (RTP and RTCP, RFC 3550 §11), round-robin
   * over the even ports of the range; null when no such pair is free.
   */
  async allocatePair(): Promise<{ rtp: { socket: dgram.Socket; port: number }; rtcp: { socket: dgram.Socket; port: number } } | null> {
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
      const rtp = createUdpSocket(this.host, { literalPeers: true });
      const rtcp = createUdpSocket(this.host, { literalPeers: true });
      try {
        await bindUdp(rtp, port, this.host);
        try {
          await bindUdp(rtcp, port + 1, this.host);
          return { rtp: { socket: rtp, port }, rtcp: { socket: rtcp, port: port + 1 } };
        } catch {
          rtp.close();
          throw new Error('rtcp');
        }
      } catch {
        this.inUse.delete(port);
        this.inUse.delete(port + 1);
        this.bindFailures++;
        for (const s of [rtp, rtcp]) {
          try { s.close(); } catch { /* never bound, or closed above */ }
        }
      }
    }
    return null;
  }

  release(port: number): void {
    this.inUse.delete(port);
  }
}
