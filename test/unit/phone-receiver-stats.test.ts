/** The phone's reception statistics (RFC 3550 A.1, A.3, A.8) against hand-computed cases. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { ReceiverStats, type Arrival } from '../../cli/phone/receiver-stats.ts';

const MS = 1_000_000n;

/** Feeds sequence numbers arriving 20 ms apart with timestamps that match (no jitter); returns each verdict. */
function feed(seqs: readonly number[], stats = new ReceiverStats(8000)): { stats: ReceiverStats; arrivals: Arrival[] } {
  const arrivals = seqs.map((seq, i) => stats.record(seq, i * 160, BigInt(i) * 20n * MS, null));
  return { stats, arrivals };
}

describe('loss: expected against received', () => {
  test('in order, nothing lost', () => {
    const s = feed([100, 101, 102, 103, 104]).stats.snapshot();
    assert.deepEqual([s.received, s.expected, s.lost, s.lossPercent], [5, 5, 0, 0]);
  });

  test('gaps count as lost: 0 1 2 5 6 9 expects 10, lost 4 (40%)', () => {
    const s = feed([0, 1, 2, 5, 6, 9]).stats.snapshot();
    assert.deepEqual([s.received, s.expected, s.lost, s.lossPercent], [6, 10, 4, 40]);
  });

  test('nothing after the highest received is expected yet', () => {
    const s = feed([7]).stats.snapshot();
    assert.deepEqual([s.received, s.expected, s.lost], [1, 1, 0]);
    assert.deepEqual(new ReceiverStats(8000).snapshot().expected, 0);
  });
});

describe('reordering and duplicates', () => {
  test('a late packet fills its gap and counts as reordered: 0 1 3 2 4', () => {
    const { stats, arrivals } = feed([0, 1, 3, 2, 4]);
    assert.deepEqual(arrivals, ['new', 'new', 'new', 'reordered', 'new']);
    const s = stats.snapshot();
    assert.deepEqual([s.received, s.expected, s.lost, s.reordered], [5, 5, 0, 1]);
  });

  test('a packet older than the first one received widens the expected range: 5 4 6', () => {
    const s = feed([5, 4, 6]).stats.snapshot();
    assert.deepEqual([s.received, s.expected, s.lost, s.reordered], [3, 3, 0, 1]);
  });

  test('duplicates, of the highest and of older packets, are counted once: 0 1 1 2 1 2 3', () => {
    const { stats, arrivals } = feed([0, 1, 1, 2, 1, 2, 3]);
    assert.deepEqual(arrivals, ['new', 'new', 'duplicate', 'new', 'duplicate', 'duplicate', 'new']);
    const s = stats.snapshot();
    assert.deepEqual([s.received, s.expected, s.lost, s.duplicates, s.reordered], [4, 4, 0, 3, 0]);
  });

  test('a reordered packet that arrives twice is one reordered packet and one duplicate: 0 2 1 1', () => {
    const s = feed([0, 2, 1, 1]).stats.snapshot();
    assert.deepEqual([s.received, s.lost, s.reordered, s.duplicates], [3, 0, 1, 1]);
  });

  test('a packet more than MAX_MISORDER (100) behind is discarded, as A.1 does', () => {
    const seqs = Array.from({ length: 201 }, (_, i) => i);
    const { stats, arrivals } = feed([...seqs, 50]);
    assert.equal(arrivals.at(-1), 'discarded');
    const s = stats.snapshot();
    assert.deepEqual([s.received, s.expected, s.discarded, s.duplicates], [201, 201, 1, 0]);
  });
});

describe('sequence number wrap-around', () => {
  test('65533 .. 2 crosses the wrap with nothing lost', () => {
    const s = feed([65533, 65534, 65535, 0, 1, 2]).stats.snapshot();
    assert.deepEqual([s.received, s.expected, s.lost], [6, 6, 0]);
  });

  test('a gap across the wrap: 65534 65535 1 2 lost 1 (the 0)', () => {
    const s = feed([65534, 65535, 1, 2]).stats.snapshot();
    assert.deepEqual([s.received, s.expected, s.lost], [4, 5, 1]);
  });

  test('reordering and duplicates across the wrap: 65535 1 0 2 65535 0', () => {
    const { stats, arrivals } = feed([65535, 1, 0, 2, 65535, 0]);
    assert.deepEqual(arrivals, ['new', 'new', 'reordered', 'new', 'duplicate', 'duplicate']);
    const s = stats.snapshot();
    assert.deepEqual([s.received, s.expected, s.lost, s.reordered, s.duplicates], [4, 4, 0, 1, 2]);
  });

  test('a late packet of the previous cycle that arrives first: 0 65535 1', () => {
    const s = feed([0, 65535, 1]).stats.snapshot();
    assert.deepEqual([s.received, s.expected, s.lost, s.reordered], [3, 3, 0, 1]);
  });

  test('many cycles: 200,000 packets in order', () => {
    const stats = new ReceiverStats(8000);
    for (let i = 0; i < 200_000; i++) stats.record((40_000 + i) & 0xffff, i * 160, BigInt(i) * 20n * MS, null);
    const s = stats.snapshot();
    assert.deepEqual([s.received, s.expected, s.lost, s.duplicates, s.reordered], [200_000, 200_000, 0, 0, 0]);
  });
});

describe('a jump beyond MAX_DROPOUT (3000)', () => {
  test('one stray packet far ahead is discarded and counting goes on', () => {
    const { stats, arrivals } = feed([10, 11, 40_000, 12]);
    assert.deepEqual(arrivals, ['new', 'new', 'discarded', 'new']);
    const s = stats.snapshot();
    assert.deepEqual([s.received, s.expected, s.lost, s.discarded, s.resyncs], [3, 3, 0, 1, 0]);
  });

  test('two sequential packets after the jump: the source restarted, counting resumes from there', () => {
    const { stats, arrivals } = feed([10, 11, 5000, 5001, 5002]);
    assert.deepEqual(arrivals, ['new', 'new', 'discarded', 'resync', 'new']);
    const s = stats.snapshot();
    // 10..11 (2 of 2), then 5001..5002 (2 of 2): the packet that signalled the jump is not counted.
    assert.deepEqual([s.received, s.expected, s.lost, s.discarded, s.resyncs], [4, 4, 0, 1, 1]);
  });

  test('a gap of less than MAX_DROPOUT is loss, not a restart', () => {
    const s = feed([10, 2999 + 10]).stats.snapshot();
    assert.deepEqual([s.received, s.expected, s.lost, s.discarded], [2, 3000, 2998, 0]);
  });
});

describe('interarrival jitter (A.8)', () => {
  test('J += (|D| - J) / 16 over transit differences, in arrival order', () => {
    // A 1000 Hz media clock: one timestamp unit per millisecond.
    const stats = new ReceiverStats(1000);
    // Sent at 0, 20, 40, 60 ms; arrived at 0, 20, 45, 60 ms: transits 0, 0, 5, 0, so |D| = 0, 5, 5.
    stats.record(0, 0, 0n, null);
    stats.record(1, 20, 20n * MS, null);
    assert.equal(stats.snapshot().jitterMs, 0);
    stats.record(2, 40, 45n * MS, null);
    assert.equal(stats.snapshot().jitterMs, 5 / 16);
    stats.record(3, 60, 60n * MS, null);
    assert.equal(stats.snapshot().jitterMs, 5 / 16 + (5 - 5 / 16) / 16);
  });

  test('converted from media clock units to milliseconds', () => {
    const stats = new ReceiverStats(8000);
    // 8 units (1 ms at 8 kHz) late once: J = 8 / 16 units = 0.0625 ms.
    stats.record(0, 0, 0n, null);
    stats.record(1, 160, 21n * MS, null);
    assert.equal(stats.snapshot().jitterMs, 1 / 16);
  });

  test('a reordered packet is compared with the one before it in arrival order', () => {
    const stats = new ReceiverStats(1000);
    stats.record(0, 0, 0n, null); // transit 0
    stats.record(2, 40, 40n * MS, null); // transit 0, |D| 0
    stats.record(1, 20, 41n * MS, null); // transit 21, |D| 21
    assert.equal(stats.snapshot().jitterMs, 21 / 16);
  });

  test('the timestamp wrapping at 2^32 is not a jump', () => {
    const stats = new ReceiverStats(1000);
    stats.record(0, 2 ** 32 - 10, 0n, null);
    stats.record(1, 10, 20n * MS, null);
    assert.equal(stats.snapshot().jitterMs, 0);
  });

  test('duplicates do not move it', () => {
    const stats = new ReceiverStats(1000);
    stats.record(0, 0, 0n, null);
    stats.record(0, 0, 30n * MS, null);
    assert.equal(stats.snapshot().jitterMs, 0);
  });
});

describe('latency', () => {
  test('min, average and max over the packets that carried it', () => {
    const stats = new ReceiverStats(8000);
    stats.record(0, 0, 0n, 2n * MS);
    stats.record(1, 160, 20n * MS, null);
    stats.record(2, 320, 40n * MS, 4n * MS);
    stats.record(3, 480, 60n * MS, 1n * MS / 2n);
    stats.record(3, 480, 61n * MS, 100n * MS); // a duplicate: not counted
    assert.deepEqual(stats.snapshot().latency, { minMs: 0.5, avgMs: 6.5 / 3, maxMs: 4 });
  });

  test('none measured is null', () => {
    assert.equal(feed([0, 1]).stats.snapshot().latency, null);
  });
});

test('property: any loss, local reordering and duplication is counted exactly', () => {
  fc.assert(fc.property(
    fc.integer({ min: 0, max: 65_535 }),
    fc.array(fc.record({ keep: fc.boolean(), copies: fc.integer({ min: 1, max: 3 }), delays: fc.array(fc.integer({ min: 0, max: 40 }), { minLength: 3, maxLength: 3 }) }), { minLength: 1, maxLength: 300 }),
    (first, plan) => {
      // Packet i (sequence first + i) is sent unless dropped, each copy arriving at i + a delay of up to 40 slots.
      const arrivals: { index: number; at: number }[] = [];
      plan.forEach((p, index) => {
        if (p.keep) for (let c = 0; c < p.copies; c++) arrivals.push({ index, at: index + p.delays[c]! + c / 4 });
      });
      fc.pre(arrivals.length > 0);
      arrivals.sort((a, b) => a.at - b.at);
      const stats = new ReceiverStats(8000);
      arrivals.forEach((a, n) => stats.record((first + a.index) & 0xffff, a.index * 160, BigInt(n) * MS, null));
      const kept = plan.map((p, i) => (p.keep ? i : -1)).filter((i) => i >= 0);
      const lowest = kept[0]!;
      const highest = kept.at(-1)!;
      const s = stats.snapshot();
      assert.equal(s.received, kept.length);
      assert.equal(s.expected, highest - lowest + 1);
      assert.equal(s.lost, highest - lowest + 1 - kept.length);
      assert.equal(s.duplicates, arrivals.length - kept.length);
      assert.equal(s.discarded, 0);
    },
  ), { numRuns: 500 });
});
