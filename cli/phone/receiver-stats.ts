/**
 * Reception statistics of one RTP source, after RFC 3550 Appendix A.1 (sequence tracking),
 * A.3 (expected and lost) and A.8 (interarrival jitter), plus what A.1 leaves open: duplicates
 * are told apart from new packets (a window of recently received sequence numbers), so
 * `received` counts each packet once and `lost` never goes negative; a late packet counts as
 * reordered; one-way latency where the sender's clock is ours.
 */

/** A.1: a forward jump larger than this is not a gap but a discontinuity. */
export const MAX_DROPOUT = 3000;
/** A.1: a packet at most this far behind the highest is late, not a restart. */
export const MAX_MISORDER = 100;
const SEQ_MOD = 65_536;
/** Received-sequence memory for duplicate detection; covers everything MAX_MISORDER lets through. */
const WINDOW = 128;
const TIMESTAMP_MOD = 2 ** 32;

/**
 * What one packet was. `discarded`: far out of sequence and not counted (A.1's bad_seq);
 * `resync`: the second of two sequential packets after such a jump, so the source is taken to
 * have restarted its sequence and counting goes on from it.
 */
export type Arrival = 'new' | 'reordered' | 'duplicate' | 'discarded' | 'resync';

export interface LatencySummary {
  readonly minMs: number;
  readonly avgMs: number;
  readonly maxMs: number;
}

export interface ReceptionSnapshot {
  /** Distinct packets counted (duplicates and discarded packets are not). */
  readonly received: number;
  /** Highest extended sequence number minus the lowest, plus one (summed over resyncs). */
  readonly expected: number;
  readonly lost: number;
  readonly lossPercent: number;
  readonly duplicates: number;
  readonly reordered: number;
  readonly discarded: number;
  readonly resyncs: number;
  /** A.8's estimate, converted from media clock units to milliseconds. */
  readonly jitterMs: number;
  /** Over the counted packets that carried a send time on our clock; null when none did. */
  readonly latency: LatencySummary | null;
  readonly payloadBytes: number;
}

export class ReceiverStats {
  private started = false;
  private maxSeq = 0;
  /** cycles + sequence of the highest packet (A.1's extended sequence number). */
  private maxExt = 0;
  private baseExt = 0;
  private cycles = 0;
  private badSeq = -1;
  /** Counts of the current sequence epoch (since the first packet or the last resync). */
  private epochReceived = 0;
  /** Counts of the epochs before the last resync. */
  private priorExpected = 0;
  private priorReceived = 0;
  private duplicates = 0;
  private reordered = 0;
  private discarded = 0;
  private resyncs = 0;
  private payloadBytes = 0;
  private readonly seen = new Uint8Array(WINDOW);

  private originNs = 0n;
  private lastTransit = 0;
  private hasTransit = false;
  private jitter = 0;

  private latencyCount = 0;
  private latencySumNs = 0;
  private latencyMinNs = Infinity;
  private latencyMaxNs = -Infinity;

  /** `clockRate`: the RTP timestamp's units per second. */
  constructor(private readonly clockRate: number) {}

  /**
   * Counts one packet. `arrivalNs` is the receiver's clock at arrival (any origin, nanoseconds);
   * `latencyNs` the one-way latency when the packet's send time is on the receiver's clock.
   */
  record(sequence: number, timestamp: number, arrivalNs: bigint, latencyNs: bigint | null, payloadBytes = 0): Arrival {
    const seq = sequence & 0xffff;
    if (!this.started) {
      this.started = true;
      this.originNs = arrivalNs;
      this.beginEpoch(seq);
      this.count(timestamp, arrivalNs, latencyNs, payloadBytes);
      return 'new';
    }
    const udelta = (seq - this.maxSeq) & 0xffff;
    if (udelta === 0) {
      this.duplicates++;
      return 'duplicate';
    }
    if (udelta < MAX_DROPOUT) {
      if (seq < this.maxSeq) this.cycles += SEQ_MOD;
      this.advanceTo(this.cycles + seq, seq);
      this.badSeq = -1;
      this.count(timestamp, arrivalNs, latencyNs, payloadBytes);
      return 'new';
    }
    if (udelta <= SEQ_MOD - MAX_MISORDER) {
      if (seq !== this.badSeq) {
        this.badSeq = (seq + 1) & 0xffff;
        this.discarded++;
        return 'discarded';
      }
      this.priorExpected += this.maxExt - this.baseExt + 1;
      this.priorReceived += this.epochReceived;
      this.resyncs++;
      this.hasTransit = false;
      this.beginEpoch(seq);
      this.count(timestamp, arrivalNs, latencyNs, payloadBytes);
      return 'resync';
    }
    // Behind the highest by less than MAX_MISORDER; numerically above it means the previous cycle.
    const ext = seq > this.maxSeq ? this.cycles - SEQ_MOD + seq : this.cycles + seq;
    const slot = ext & (WINDOW - 1);
    if (this.seen[slot] === 1) {
      this.duplicates++;
      return 'duplicate';
    }
    this.seen[slot] = 1;
    // Sent before the first packet that arrived: the expected range grows to include it.
    if (ext < this.baseExt) this.baseExt = ext;
    this.reordered++;
    this.count(timestamp, arrivalNs, latencyNs, payloadBytes);
    return 'reordered';
  }

  snapshot(): ReceptionSnapshot {
    const received = this.priorReceived + this.epochReceived;
    const expected = this.started ? this.priorExpected + this.maxExt - this.baseExt + 1 : 0;
    const lost = expected - received;
    return {
      received,
      expected,
      lost,
      lossPercent: expected === 0 ? 0 : (lost / expected) * 100,
      duplicates: this.duplicates,
      reordered: this.reordered,
      discarded: this.discarded,
      resyncs: this.resyncs,
      jitterMs: (this.jitter / this.clockRate) * 1000,
      latency: this.latencyCount === 0 ? null : {
        minMs: this.latencyMinNs / 1e6,
        avgMs: this.latencySumNs / this.latencyCount / 1e6,
        maxMs: this.latencyMaxNs / 1e6,
      },
      payloadBytes: this.payloadBytes,
    };
  }

  private beginEpoch(seq: number): void {
    this.maxSeq = seq;
    this.cycles = 0;
    this.maxExt = seq;
    this.baseExt = seq;
    this.badSeq = -1;
    this.epochReceived = 0;
    this.seen.fill(0);
    this.seen[seq & (WINDOW - 1)] = 1;
  }

  /** A new highest packet: the slots it passes over now stand for sequence numbers not (yet) received. */
  private advanceTo(ext: number, seq: number): void {
    const gap = ext - this.maxExt;
    if (gap >= WINDOW) this.seen.fill(0);
    else for (let e = this.maxExt + 1; e < ext; e++) this.seen[e & (WINDOW - 1)] = 0;
    this.seen[ext & (WINDOW - 1)] = 1;
    this.maxExt = ext;
    this.maxSeq = seq;
  }

  private count(timestamp: number, arrivalNs: bigint, latencyNs: bigint | null, payloadBytes: number): void {
    this.epochReceived++;
    this.payloadBytes += payloadBytes;
    // A.8: transit time in media clock units; its origin is arbitrary, only differences count.
    const arrival = (Number(arrivalNs - this.originNs) * this.clockRate) / 1e9;
    const transit = arrival - (timestamp >>> 0);
    if (this.hasTransit) {
      let d = transit - this.lastTransit;
      d -= Math.round(d / TIMESTAMP_MOD) * TIMESTAMP_MOD; // the timestamp wrapped between the two
      this.jitter += (Math.abs(d) - this.jitter) / 16;
    }
    this.lastTransit = transit;
    this.hasTransit = true;
    if (latencyNs !== null) {
      const ns = Number(latencyNs);
      this.latencyCount++;
      this.latencySumNs += ns;
      if (ns < this.latencyMinNs) this.latencyMinNs = ns;
      if (ns > this.latencyMaxNs) this.latencyMaxNs = ns;
    }
  }
}
