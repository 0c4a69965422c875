import { randomInt } from 'node:crypto';
import { encodeMediaPacket, MEDIA_CLOCK_RATE, PAYLOAD_TYPE } from './media-packet.ts';

export interface SenderOptions {
  /** Packets per second. */
  readonly rate: number;
  readonly payloadBytes: number;
  readonly ssrc: number;
  /** The id of the clock `now` reads (clock.ts). */
  readonly clockId: number;
  /** Nanoseconds on a monotonic clock. */
  readonly now: () => bigint;
  /** First sequence number and timestamp; random when not given (RFC 3550 §5.1). */
  readonly firstSequence?: number;
  readonly firstTimestamp?: number;
}

export interface SentCounts {
  readonly packets: number;
  readonly payloadBytes: number;
}

/** After a stall of the event loop, at most this many overdue packets go out at once; the rest are skipped. */
const MAX_CATCH_UP = 10;

/**
 * A steady stream of media packets: packet n is due at start + n / rate, sent from a timer that
 * is re-armed from the schedule, not from the last firing, so timer lateness does not add up.
 * The timestamp is the send instant on the media clock, so the receiver's jitter measures the
 * path and not this sender's timer.
 */
export class MediaSender {
  private timer: NodeJS.Timeout | null = null;
  private active = false;
  private startNs = 0n;
  /** Schedule slot of the next packet. */
  private slot = 0;
  private packets = 0;
  private payloadBytes = 0;
  private readonly intervalNs: number;
  private readonly firstSequence: number;
  private readonly firstTimestamp: number;

  constructor(private readonly transmit: (packet: Buffer) => void, private readonly o: SenderOptions) {
    this.intervalNs = 1e9 / o.rate;
    this.firstSequence = o.firstSequence ?? randomInt(0, 65_536);
    this.firstTimestamp = o.firstTimestamp ?? randomInt(0, 2 ** 32 - 1);
  }

  get sent(): SentCounts {
    return { packets: this.packets, payloadBytes: this.payloadBytes };
  }

  get running(): boolean {
    return this.active;
  }

  start(): void {
    if (this.active) return;
    this.active = true;
    this.startNs = this.o.now();
    this.slot = 0;
    this.tick();
  }

  stop(): void {
    this.active = false;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
  }

  private tick(): void {
    const now = this.o.now();
    const elapsed = Number(now - this.startNs);
    let burst = 0;
    while (this.active && this.slot * this.intervalNs <= elapsed && burst < MAX_CATCH_UP) {
      this.sendOne(now);
      this.slot++;
      burst++;
    }
    if (!this.active) return; // transmit() ended the call
    if (this.slot * this.intervalNs <= elapsed) this.slot = Math.floor(elapsed / this.intervalNs) + 1;
    const waitMs = (this.slot * this.intervalNs - elapsed) / 1e6;
    this.timer = setTimeout(() => this.tick(), Math.max(0, Math.floor(waitMs)));
  }

  private sendOne(now: bigint): void {
    const timestamp = this.firstTimestamp + Math.round((Number(now - this.startNs) * MEDIA_CLOCK_RATE) / 1e9);
    const packet = encodeMediaPacket(
      { payloadType: PAYLOAD_TYPE, marker: this.packets === 0, sequence: this.firstSequence + this.packets, timestamp: timestamp % 2 ** 32, ssrc: this.o.ssrc },
      { clockId: this.o.clockId, sentNs: now },
      this.o.payloadBytes,
    );
    this.packets++;
    this.payloadBytes += this.o.payloadBytes;
    this.transmit(packet);
  }
}
