/**
 * The phone's media: RTP-shaped datagrams (the RFC 3550 §5.1 fixed header) whose payload begins
 * with a probe carrying the send instant, so the receiver can read one-way latency.
 *
 *   0..11   RTP header: V=2, P=0, X=0, CC=0, M, PT, sequence, timestamp, SSRC
 *   12..15  'SYPH', marks the probe
 *   16..19  clock id of the sender's host (clock.ts)
 *   20..27  send instant, nanoseconds on that clock
 *   28..    zeros up to the payload size
 */
export const RTP_HEADER_BYTES = 12;
export const PROBE_BYTES = 16;
export const MIN_PAYLOAD_BYTES = PROBE_BYTES;
export const MAX_PAYLOAD_BYTES = 65_507 - RTP_HEADER_BYTES;
/** A dynamic payload type (RFC 3551 §6): the payload is no codec's. */
export const PAYLOAD_TYPE = 96;
/** The media clock of the RTP timestamp. */
export const MEDIA_CLOCK_RATE = 48_000;

const PROBE_MAGIC = 0x53595048; // 'SYPH'

export interface MediaPacket {
  readonly payloadType: number;
  readonly marker: boolean;
  readonly sequence: number;
  readonly timestamp: number;
  readonly ssrc: number;
}

export interface Probe {
  readonly clockId: number;
  readonly sentNs: bigint;
}

export type DecodedMedia =
  | { readonly ok: true; readonly packet: MediaPacket; readonly probe: Probe | null; readonly payloadBytes: number }
  | { readonly ok: false; readonly reason: string };

export function encodeMediaPacket(p: MediaPacket, probe: Probe, payloadBytes: number): Buffer {
  const buf = Buffer.alloc(RTP_HEADER_BYTES + Math.max(payloadBytes, PROBE_BYTES));
  buf[0] = 0x80;
  buf[1] = (p.marker ? 0x80 : 0) | (p.payloadType & 0x7f);
  buf.writeUInt16BE(p.sequence & 0xffff, 2);
  buf.writeUInt32BE(p.timestamp >>> 0, 4);
  buf.writeUInt32BE(p.ssrc >>> 0, 8);
  buf.writeUInt32BE(PROBE_MAGIC, 12);
  buf.writeUInt32BE(probe.clockId >>> 0, 16);
  buf.writeBigUInt64BE(probe.sentNs, 20);
  return buf;
}

/** Reads any RTP packet (CSRCs, header extension and padding are skipped); the probe when it carries one. */
export function decodeMediaPacket(buf: Buffer): DecodedMedia {
  if (buf.length < RTP_HEADER_BYTES) return { ok: false, reason: `${buf.length} bytes, shorter than an RTP header` };
  const b0 = buf[0]!;
  if (b0 >> 6 !== 2) return { ok: false, reason: `RTP version ${b0 >> 6}, not 2` };
  let start = RTP_HEADER_BYTES + 4 * (b0 & 0x0f);
  if (b0 & 0x10) {
    if (buf.length < start + 4) return { ok: false, reason: 'header extension cut short' };
    start += 4 + 4 * buf.readUInt16BE(start + 2);
  }
  let end = buf.length;
  if (b0 & 0x20) end -= buf[buf.length - 1]!;
  if (start > end) return { ok: false, reason: 'header or padding longer than the packet' };
  const packet: MediaPacket = {
    payloadType: buf[1]! & 0x7f,
    marker: (buf[1]! & 0x80) !== 0,
    sequence: buf.readUInt16BE(2),
    timestamp: buf.readUInt32BE(4),
    ssrc: buf.readUInt32BE(8),
  };
  const probe = end - start >= PROBE_BYTES && buf.readUInt32BE(start) === PROBE_MAGIC
    ? { clockId: buf.readUInt32BE(start + 4), sentNs: buf.readBigUInt64BE(start + 8) }
    : null;
  return { ok: true, packet, probe, payloadBytes: end - start };
}
