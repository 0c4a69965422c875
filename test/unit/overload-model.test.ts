/**
 * OverloadControl driving a modelled one-core proxy (test/helpers/overload-model.ts) through its
 * whole loop on a virtual clock: offered twice and three times what the model can serve, it
 * keeps completing calls near its capacity, its socket queue short and nothing dropped, and
 * serves the whole offered load again as soon as the load falls back. Without it the same
 * model loses a good part of its goodput to drops and retransmissions, which is what shows that
 * the figures below are the control's doing.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { runModel, type ModelResult } from '../helpers/overload-model.ts';

const CAPACITY = 5000;

function mean(xs: readonly number[]): number {
  return xs.reduce((a, b) => a + b, 0) / xs.length;
}

function run(multiple: number, control: boolean): ModelResult {
  return runModel({ phases: [{ rate: CAPACITY * multiple, seconds: 10 }, { rate: CAPACITY * 0.6, seconds: 4 }], control: control ? {} : false, seed: 7 });
}

describe('overload control on a modelled proxy', () => {
  for (const multiple of [2, 3]) {
    test(`offered ${multiple}x its capacity: goodput near capacity, a short queue, nothing dropped after the onset, recovery within a second`, () => {
      const r = run(multiple, true);
      assert.equal(r.capacity, CAPACITY);
      const during = mean(r.goodput.slice(2, 10));
      assert.ok(during >= 0.88 * CAPACITY, `goodput ${during}`);
      // The onset may overflow the queue for a moment (the control acts on a half-full queue); then nothing.
      assert.ok(r.droppedPerSecond[0]! < 1000, `dropped at the onset: ${r.droppedPerSecond[0]}`);
      assert.deepEqual(r.droppedPerSecond.slice(1), r.droppedPerSecond.slice(1).map(() => 0));
      assert.equal(r.failed, 0, 'no call fails on timeouts: the excess is refused');
      assert.ok(Math.max(...r.maxWaitMs.slice(1, 10)) < 100, `queue wait ${r.maxWaitMs.map(Math.round).join(' ')}`);
      // After the drop to 60 % of capacity, every call offered completes again within a second.
      for (const g of r.goodput.slice(11, 14)) assert.ok(g >= 0.95 * 0.6 * CAPACITY, `recovery ${r.goodput.slice(10).join(' ')}`);
    });
  }

  test('the same model without the control loses goodput to drops and retransmissions', () => {
    const r = run(3, false);
    assert.ok(r.dropped > 100_000);
    assert.ok(mean(r.goodput.slice(2, 10)) < 0.7 * CAPACITY);
  });
});
