/** The phone's media: the RTP-shaped packet, the paced sender, the receiver in front of the statistics. */
import assert from 'node:assert/strict';
import { afterEach, describe, mock, test } from 'node:test';
import { decodeMediaPacket, encodeMediaPacket, MEDIA_CLOCK_RATE, PAYLOAD_TYPE, RTP_HEADER_BYTES } from '../../cli/phone/media-packet.ts';
import { MediaReceiver } from '../../cli/phone/media-receiver.ts';
import { MediaSender } from '../../cli/phone/media-sender.ts';

describe('media packet', () => {
  test('an RTP fixed header (RFC 3550 §5.1) and a probe with the send time', () => {
    const buf = encodeMediaPacket({ payloadType: 96, marker: true, sequence: 0xbeef, timestamp: 0xdeadbeef, ssrc: 0x01020304 }, { clockId: 7, sentNs: 123_456_789_012n }, 160);
    assert.equal(buf.length, RTP_HEADER_BYTES + 160);
    assert.equal(buf[0], 0x80, 'V=2, no padding, no extension, no CSRC');
    assert.equal(buf[1], 0x80 | 96, 'marker and payload type');
    assert.equal(buf.readUInt16BE(2), 0xbeef);
    assert.equal(buf.readUInt32BE(4), 0xdeadbeef);
    assert.equal(buf.readUInt32BE(8), 0x01020304);
    assert.equal(buf.subarray(12, 16).toString('latin1'), 'SYPH');
    const d = decodeMediaPacket(buf);
    assert.ok(d.ok);
    assert.deepEqual(d.packet, { payloadType: 96, marker: true, sequence: 0xbeef, timestamp: 0xdeadbeef, ssrc: 0x01020304 });
    assert.deepEqual(d.probe, { clockId: 7, sentNs: 123_456_789_012n });
    assert.equal(d.payloadBytes, 160);
  });

  test('CSRCs, a header extension and padding are skipped to find the payload', () => {
    const probe = encodeMediaPacket({ payloadType: 0, marker: false, sequence: 1, timestamp: 2, ssrc: 3 }, { clockId: 9, sentNs: 42n }, 16).subarray(RTP_HEADER_BYTES);
    const header = Buffer.from([0xb1, 0x00, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3]); // V=2 P X CC=1
    const csrc = Buffer.alloc(4, 0xaa);
    const extension = Buffer.from([0xbe, 0xde, 0, 1, 1, 2, 3, 4]);
    const padding = Buffer.from([0, 0, 3]);
    const d = decodeMediaPacket(Buffer.concat([header, csrc, extension, probe, padding]));
    assert.ok(d.ok);
    assert.deepEqual(d.probe, { clockId: 9, sentNs: 42n });
    assert.equal(d.payloadBytes, 16);
  });

  test('what is not RTP is refused with a reason, never thrown', () => {
    for (const [bytes, reason] of [
      [Buffer.alloc(0), /shorter than an RTP header/],
      [Buffer.from('REGISTER alice\n'), /RTP version 1/],
      [Buffer.from([0x90, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xbe]), /extension cut short/],
      [Buffer.from([0xa0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff]), /padding longer/],
      [Buffer.from([0x8f, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]), /longer than the packet/],
    ] as const) {
      const d = decodeMediaPacket(bytes);
      assert.equal(d.ok, false);
      if (!d.ok) assert.match(d.reason, reason);
    }
  });

  test('a payload without the probe decodes, with no send time', () => {
    const plain = Buffer.concat([Buffer.from([0x80, 0, 0, 5, 0, 0, 0, 0, 0, 0, 0, 1]), Buffer.alloc(160, 0xff)]);
    const d = decodeMediaPacket(plain);
    assert.ok(d.ok);
    assert.equal(d.probe, null);
    assert.equal(d.packet.sequence, 5);
  });
});

describe('media sender', () => {
  afterEach(() => mock.timers.reset());

  /** A sender on mocked timers and a clock that moves with them, run for `ms`. */
  function run(rate: number, ms: number, opts: { stallAtMs?: number; stallMs?: number } = {}): Buffer[] {
    mock.timers.enable({ apis: ['setTimeout'] });
    let nowMs = 0;
    const sent: Buffer[] = [];
    const sender = new MediaSender((p) => sent.push(p), {
      rate, payloadBytes: 32, ssrc: 0x1234, clockId: 1, now: () => BigInt(Math.round(nowMs * 1e6)), firstSequence: 65_530, firstTimestamp: 2 ** 32 - 1000,
    });
    const advance = (by: number): void => {
      nowMs += by;
      mock.timers.tick(by);
    };
    sender.start();
    // Millisecond by millisecond, except for one stall of the event loop.
    while (nowMs < ms) advance(nowMs === opts.stallAtMs ? opts.stallMs! : 1);
    sender.stop();
    assert.equal(sender.sent.packets, sent.length);
    return sent;
  }

  test('50 packets/s: one per 20 ms, sequence +1 and timestamp +960 (48 kHz) each, wrapping', () => {
    const sent = run(50, 1000);
    assert.equal(sent.length, 51, 'at 0, 20, ..., 1000 ms');
    const packets = sent.map((b) => decodeMediaPacket(b)).map((d) => (assert.ok(d.ok), d));
    packets.forEach((d, i) => {
      assert.equal(d.packet.sequence, (65_530 + i) & 0xffff);
      assert.equal(d.packet.timestamp, (2 ** 32 - 1000 + i * (MEDIA_CLOCK_RATE / 50)) % 2 ** 32);
      assert.equal(d.packet.payloadType, PAYLOAD_TYPE);
      assert.equal(d.packet.marker, i === 0, 'the marker bit on the first packet only');
      assert.equal(d.probe?.sentNs, BigInt(i * 20) * 1_000_000n);
    });
  });

  test('a stalled event loop gets at most 10 packets of catch-up, and the schedule goes on', () => {
    const sent = run(100, 1000, { stallAtMs: 100, stallMs: 500 });
    const times = sent.map((b) => { const d = decodeMediaPacket(b); assert.ok(d.ok); return Number(d.probe!.sentNs / 1_000_000n); });
    assert.equal(times.filter((t) => t === 600).length, 10, 'one burst of 10 when the loop comes back');
    assert.ok(times.every((t, i) => i === 0 || t >= times[i - 1]!));
    // 0..100 ms: 11; the burst: 10; then every 10 ms from 610 to 1000: 40.
    assert.equal(sent.length, 11 + 10 + 40);
  });

  test('stop() ends the stream', () => {
    mock.timers.enable({ apis: ['setTimeout'] });
    const sent: Buffer[] = [];
    const sender = new MediaSender((p) => sent.push(p), { rate: 50, payloadBytes: 16, ssrc: 1, clockId: 1, now: () => 0n });
    sender.start();
    sender.stop();
    mock.timers.tick(1000);
    assert.equal(sent.length, 1);
    assert.equal(sender.running, false);
  });
});

describe('media receiver', () => {
  function packet(seq: number, ssrc: number, clockId: number, sentNs: bigint): Buffer {
    return encodeMediaPacket({ payloadType: 96, marker: false, sequence: seq, timestamp: seq * 960, ssrc }, { clockId, sentNs }, 16);
  }

  test('counts the first source; other SSRCs and non-RTP datagrams are dropped and counted', () => {
    let now = 10_000_000n;
    const r = new MediaReceiver(5, () => now);
    assert.deepEqual(r.handle(packet(1, 0xaaaa, 5, 9_000_000n)), { ok: true, arrival: 'new' });
    now += 20_000_000n;
    assert.deepEqual(r.handle(packet(2, 0xaaaa, 5, 29_500_000n)), { ok: true, arrival: 'new' });
    const other = r.handle(packet(3, 0xbbbb, 5, 0n));
    assert.equal(other.ok, false);
    assert.equal(r.handle(Buffer.from('hello')).ok, false);
    const s = r.snapshot();
    assert.deepEqual([s.ssrc, s.received, s.otherSource, s.malformed], [0xaaaa, 2, 1, 1]);
    assert.deepEqual(s.latency, { minMs: 0.5, avgMs: 0.75, maxMs: 1 });
  });

  test('a probe stamped on another host\'s clock gives no latency', () => {
    const r = new MediaReceiver(5, () => 1_000_000n);
    r.handle(packet(1, 1, 6, 0n));
    assert.equal(r.snapshot().latency, null);
    assert.equal(r.snapshot().received, 1);
  });
});
