/**
 * OverloadControl driving a modelled one-core proxy (test/helpers/overload-model.ts) through its
 * whole loop on a virtual clock: offered twice and three times what the model can serve, it
 * keeps completing calls near its capacity, its socket queue short and nothing dropped, and
 * serves the whole offered load again as soon as the load falls back. Without it the same
 * model loses a good part of its goodput to drops and retransmissions, which is what shows that
 * the figures below are the control's doing.
 *
 * The best any admission can do is bounded by what the refusals themselves cost: with the
 * refusal at a tenth of a call (as measured, kernel included) and the core all the proxy's, 3x
 * its capacity leaves room for 78 % of it. The figures are held to that bound, also on a core
 * shared with other processes that hold the proxy off for 150 ms at a time (as on a benchmark
 * machine shared with test suites): there the control steering to a standing queue keeps
 * 89-91 % of the bound at 1.5-3x over six seeds, where the one before it (cuts in a fixed
 * series, 0.95 then 0.85, 0.7, 0.5 of the served rate, while any read waited too long) kept
 * 78-80 %.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { runModel, SWITCHYARD_MEASURED, type ModelCosts, type ModelResult, type Steal } from '../helpers/overload-model.ts';

const CAPACITY = 5000;

function mean(xs: readonly number[]): number {
  return xs.reduce((a, b) => a + b, 0) / xs.length;
}

function run(multiple: number, control: boolean): ModelResult {
  return runModel({ phases: [{ rate: CAPACITY * multiple, seconds: 10 }, { rate: CAPACITY * 0.6, seconds: 4 }], control: control ? {} : false, seed: 7 });
}

/**
 * Goodput over seconds [from, to) against the best an admission could do: offered `rate`, each
 * call refused costing `refusal + absorbed` of the core the proxy had that second, and each
 * completed call the whole of its messages.
 */
function ofBest(r: ModelResult, costs: ModelCosts, rate: number, from: number, to: number): number {
  const call = costs.invite + costs.ringing + costs.ok + costs.ack + costs.bye + costs.byeOk;
  const refusal = costs.refusal + costs.absorbed;
  let got = 0;
  let best = 0;
  for (let s = from; s < to; s++) {
    got += r.goodput[s]!;
    best += Math.min(rate, (r.share[s]! * 1e6 - rate * refusal) / (call - refusal));
  }
  return got / best;
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

  test('refusals at their measured cost: 1.5, 2 and 3x the capacity keep 97 % of the best an admission could do, and less is served the more is offered only by what the refusals cost', () => {
    const got: number[] = [];
    for (const multiple of [1.5, 2, 3]) {
      const rate = CAPACITY * multiple;
      const r = runModel({ phases: [{ rate, seconds: 10 }, { rate: CAPACITY * 0.6, seconds: 4 }], control: {}, seed: 7, costs: SWITCHYARD_MEASURED });
      const ratio = ofBest(r, SWITCHYARD_MEASURED, rate, 2, 10);
      assert.ok(ratio >= 0.97, `${multiple}x: ${Math.round(100 * ratio)} % of the best`);
      assert.ok(Math.max(...r.maxWaitMs.slice(2, 10)) < 150, `${multiple}x: queue wait ${r.maxWaitMs.map(Math.round).join(' ')}`);
      for (const g of r.goodput.slice(11, 14)) assert.ok(g >= 0.95 * 0.6 * CAPACITY, `${multiple}x: recovery ${r.goodput.slice(10).join(' ')}`);
      got.push(mean(r.goodput.slice(2, 10)));
    }
    assert.ok(got[0]! >= got[1]! && got[1]! >= got[2]!, `goodput at 1.5, 2, 3x: ${got.map(Math.round).join(', ')}`);
    // With refusals at a tenth of a call, 3x leaves room for 78 % of the capacity.
    assert.ok(got[2]! >= 0.75 * CAPACITY, `3x: ${got[2]}`);
  });

  test('on a core shared with other processes (70 % of it, held off 150 ms at a time): 2 and 3x keep 85 % of the best an admission could do (over six seeds)', () => {
    const steal: Steal = { share: 0.7, heldMs: 150 };
    for (const multiple of [2, 3]) {
      const rate = CAPACITY * multiple;
      const ratios = [1, 2, 3, 4, 5, 6].map((seed) => ofBest(runModel({ phases: [{ rate, seconds: 12 }], control: {}, seed, costs: SWITCHYARD_MEASURED, steal }), SWITCHYARD_MEASURED, rate, 2, 12));
      assert.ok(mean(ratios) >= 0.85, `${multiple}x: ${ratios.map((x) => Math.round(100 * x)).join(', ')} % of the best`);
    }
  });
});
