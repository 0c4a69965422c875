import { decodeMediaPacket, MEDIA_CLOCK_RATE } from './media-packet.ts';
import { ReceiverStats, type Arrival, type ReceptionSnapshot } from './receiver-stats.ts';

export interface ReceiverSnapshot extends ReceptionSnapshot {
  /** The source counted: the SSRC of the first packet. */
  readonly ssrc: number | null;
  /** Datagrams from the media port that are not RTP. */
  readonly malformed: number;
  /** RTP packets of another SSRC, not counted. */
  readonly otherSource: number;
}

export type MediaOutcome =
  | { readonly ok: true; readonly arrival: Arrival }
  | { readonly ok: false; readonly reason: string };

/** The media one call receives: decodes each datagram and counts it for the first source seen. */
export class MediaReceiver {
  private readonly stats = new ReceiverStats(MEDIA_CLOCK_RATE);
  private ssrc: number | null = null;
  private malformed = 0;
  private otherSource = 0;

  /** `localClockId`: the id of the clock `now` reads; a probe stamped on it gives latency. */
  constructor(private readonly localClockId: number, private readonly now: () => bigint) {}

  handle(datagram: Buffer): MediaOutcome {
    const arrivalNs = this.now();
    const decoded = decodeMediaPacket(datagram);
    if (!decoded.ok) {
      this.malformed++;
      return decoded;
    }
    const { packet, probe } = decoded;
    if (this.ssrc === null) this.ssrc = packet.ssrc;
    else if (packet.ssrc !== this.ssrc) {
      this.otherSource++;
      return { ok: false, reason: `SSRC ${packet.ssrc.toString(16)}, not the call's ${this.ssrc.toString(16)}` };
    }
    const latencyNs = probe !== null && probe.clockId === this.localClockId ? arrivalNs - probe.sentNs : null;
    return { ok: true, arrival: this.stats.record(packet.sequence, packet.timestamp, arrivalNs, latencyNs, decoded.payloadBytes) };
  }

  snapshot(): ReceiverSnapshot {
    return { ...this.stats.snapshot(), ssrc: this.ssrc, malformed: this.malformed, otherSource: this.otherSource };
  }
}
