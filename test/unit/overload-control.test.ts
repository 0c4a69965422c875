/**
 * OverloadControl (core/kernel/overload.ts) on a mocked clock: caps, the cut when a socket's
 * queue stands, deeper cuts while it keeps standing, the climb back, the release, ceilings,
 * and what it tells the log.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { OverloadControl, type OverloadOptions, type WorkClass } from '../../core/kernel/overload.ts';
import type { Logger } from '../../core/lib/log.ts';

interface Rig {
  control: OverloadControl;
  /** Moves the clock, ticking every 100 ms on the way. */
  advance(ms: number): void;
  /** Offers `n` new requests of `work` spread over `ms`, completing each admitted one at once; returns how many were admitted. */
  offer(work: WorkClass, n: number, ms: number): number;
  state: { now: number; pending: number; heap: number; utilization: number; loopDelay: number; completed: Record<WorkClass, number> };
  logs: { level: string; msg: string; obj: Record<string, unknown> }[];
}

function rig(opts: OverloadOptions = {}): Rig {
  const state = { now: 0, pending: 0, heap: 10 << 20, utilization: 1, loopDelay: 0, completed: { call: 0, register: 0, other: 0 } };
  const logs: Rig['logs'] = [];
  const log = {
    warn: (obj: Record<string, unknown>, msg: string) => logs.push({ level: 'warn', msg, obj }),
    info: (obj: Record<string, unknown>, msg: string) => logs.push({ level: 'info', msg, obj }),
  } as unknown as Logger;
  const control = new OverloadControl({
    pending: () => state.pending, completed: () => state.completed, heapUsed: () => state.heap, heapLimit: () => 1 << 30,
    loopDelay: () => state.loopDelay, utilization: () => state.utilization, now: () => state.now,
  }, opts, log);
  let nextTick = 100;
  const advance = (ms: number): void => {
    const end = state.now + ms;
    while (nextTick <= end) {
      state.now = nextTick;
      control.tick();
      nextTick += 100;
    }
    state.now = end;
  };
  const offer = (work: WorkClass, n: number, ms: number): number => {
    let admitted = 0;
    for (let i = 0; i < n; i++) {
      advance(ms / n);
      if (control.admit(work)) {
        admitted++;
        state.completed[work]++;
      }
    }
    return admitted;
  };
  return { control, advance, offer, state, logs };
}

describe('OverloadControl', () => {
  test('below every threshold each new request is admitted and nothing is limited', () => {
    const r = rig();
    assert.equal(r.offer('call', 500, 1000), 500);
    r.control.socketRead('sip', { drained: true });
    r.advance(1000);
    const s = r.control.stats();
    assert.equal(s.state, 'normal');
    assert.deepEqual(s.limits, { call: null, register: null, other: null });
    assert.deepEqual(s.refused, { call: 0, register: 0, other: 0 });
    assert.equal(r.logs.length, 0);
  });

  test('requests in progress at the cap: every new request is refused until they fall below it', () => {
    const r = rig({ maxPending: 3 });
    r.state.pending = 3;
    assert.equal(r.control.admit('call'), false);
    assert.equal(r.control.admit('register'), false);
    r.state.pending = 2;
    assert.equal(r.control.admit('call'), true);
    const s = r.control.stats();
    assert.equal(s.refusedAtCap, 2);
    assert.equal(s.cause, 'pending');
    assert.equal(r.logs.filter((l) => l.msg.startsWith('overload: refusing')).length, 1, 'entering overload is said once');
  });

  test('a heap past its cap refuses new requests from the next sample on', () => {
    const r = rig({ maxHeapMB: 100 });
    r.state.heap = 101 << 20;
    assert.equal(r.control.admit('call'), true, 'the heap is read at a sample, not on every request');
    r.advance(100);
    assert.equal(r.control.admit('call'), false);
    assert.equal(r.control.stats().cause, 'heap');
    r.state.heap = 50 << 20;
    r.advance(100);
    assert.equal(r.control.admit('call'), true);
  });

  test('a read whose oldest datagram waited longer than maxQueueDelayMs limits at once; a queue that never waits that long does not', () => {
    const r = rig({ maxQueueDelayMs: 300 });
    r.offer('call', 1000, 1000);
    for (let i = 0; i < 20; i++) r.control.socketRead('sip', { drained: false, waitedMs: 250 });
    r.offer('call', 1000, 1000);
    for (let i = 0; i < 20; i++) r.control.socketRead('sip', { drained: false, waitedMs: 250 });
    assert.equal(r.control.stats().state, 'normal', 'a queue that stands but is never 300 ms deep is within the target');
    assert.equal(r.control.stats().queueDelayMs, 250);
    r.control.socketRead('sip', { drained: true, waitedMs: 310 });
    const s = r.control.stats();
    assert.equal(s.state, 'overloaded');
    assert.ok(s.limits.call !== null && Math.abs(s.limits.call - 950) <= 20, `limit ${s.limits.call}`);
    assert.equal(r.control.stats().queueDelayMs, 0, 'a drained read leaves nothing waiting');
  });

  test('without wait times (an engine that cannot tell), a socket not seen empty for longer than maxQueueDelayMs cuts each busy class to 95 % of its completion rate', () => {
    const r = rig({ maxQueueDelayMs: 50 });
    r.offer('call', 1000, 1000); // 1000 calls/s completed
    r.control.socketRead('sip', { drained: false });
    r.advance(40);
    r.control.socketRead('sip', { drained: false });
    assert.equal(r.control.stats().state, 'normal', 'a queue standing for 40 ms is within the target');
    r.advance(20);
    r.control.socketRead('sip', { drained: false });
    const s = r.control.stats();
    assert.equal(s.state, 'overloaded');
    assert.equal(s.cause, 'queue');
    assert.ok(s.limits.call !== null && Math.abs(s.limits.call - 950) <= 20, `limit ${s.limits.call}`);
    assert.equal(s.limits.register, null, 'a class with no traffic is not limited');
    r.control.socketRead('sip', { drained: true });
    // Offered 3000/s for a second: about the limit is admitted (the climb adds a little), the rest refused.
    const admitted = r.offer('call', 3000, 1000);
    assert.ok(admitted > 850 && admitted < 1400, `admitted ${admitted}`);
    assert.equal(r.control.stats().refused.call, 3000 - admitted);
  });

  test('a queue half full is cut for at once, however briefly it has stood; the kernel\'s drops are reported', () => {
    const r = rig({ maxQueueDelayMs: 400 });
    r.offer('call', 1000, 1000);
    r.control.socketRead('sip', { drained: false, waitedMs: 5, fill: 0.45, drops: 0 });
    assert.equal(r.control.stats().state, 'normal');
    r.control.socketRead('sip', { drained: false, waitedMs: 5, fill: 0.55, drops: 17 });
    const s = r.control.stats();
    assert.equal(s.state, 'overloaded');
    assert.ok(s.limits.call !== null);
    assert.equal(s.socketDrops, 17);
  });

  /** A rig limited at about 950 calls/s (1000/s completed, then a read that waited 400 ms). */
  function limited(opts: OverloadOptions = {}): Rig {
    const r = rig({ maxQueueDelayMs: 200, ...opts });
    r.offer('call', 1000, 1000);
    r.control.socketRead('sip', { drained: false, waitedMs: 400 });
    assert.ok(Math.abs(r.control.stats().limits.call! - 950) <= 20);
    return r;
  }

  /** One sample of 100 ms with 2000/s offered and reads whose oldest datagrams waited `waits` ms; the limit after it. */
  function sample(r: Rig, ...waits: number[]): number {
    for (const w of waits) r.control.socketRead('sip', { drained: w < 10, waitedMs: w });
    r.offer('call', 200, 100);
    return r.control.stats().limits.call!;
  }

  test('the limit steers to a standing queue of a quarter of maxQueueDelayMs: it climbs below it, holds at it, falls above it', () => {
    const at = (wait: number): number => {
      const r = limited();
      const before = sample(r, wait);
      return sample(r, wait) / before;
    };
    assert.ok(Math.abs(at(0) - 1.03) < 0.005, `no queue: ${at(0)}`);
    assert.ok(Math.abs(at(50) - 1) < 0.005, `at the target: ${at(50)}`);
    assert.ok(Math.abs(at(150) - 0.94) < 0.005, `above it: ${at(150)}`);
    assert.ok(at(600) <= 0.71, `far above it, a sample cuts by up to 30 %: ${at(600)}`);
  });

  test('a queue that grows is cut for faster than one that stands; one that drains gives back what its growth took', () => {
    const r = limited();
    const before = sample(r, 100);
    const grown = sample(r, 150);
    assert.ok(grown < before * 0.8, `growing by 50 ms: ${before} -> ${grown}`);
    const stood = sample(r, 150);
    assert.ok(stood < grown && stood > grown * 0.9, `standing: ${grown} -> ${stood}`);
    const drained = sample(r, 100);
    assert.ok(drained > stood * 1.1, `draining: ${stood} -> ${drained}`);
  });

  test('a burst that drains within a sample is not a standing queue: the shortest wait of the sample steers', () => {
    const r = limited();
    const before = sample(r, 0);
    const after = sample(r, 300, 180, 0, 2);
    assert.ok(after > before, `${before} -> ${after}`);
  });

  test('however long a queue stands, the limit stays above a quarter of the best rate served lately', () => {
    const r = limited();
    for (let i = 0; i < 30; i++) sample(r, 500);
    const floor = r.control.stats().limits.call!;
    // 1000/s were completed before the congestion: the best second, decayed over the 3 s since.
    assert.ok(floor >= 200 && floor <= 250, `floor ${floor}`);
  });

  test('a limit that still refuses climbs fast while the loop has idle time, by small steps when it is busy', () => {
    const r = limited();
    sample(r, 0);
    r.state.utilization = 1;
    const before = r.control.stats().limits.call!;
    const busy = sample(r, 0);
    assert.ok(busy > before && busy <= before * 1.04, `busy: ${before} -> ${busy}`);
    r.state.utilization = 0.5;
    const idle = sample(r, 0);
    assert.ok(idle >= busy * 1.4, `idle: ${busy} -> ${idle}`);
    const queued = sample(r, 100);
    assert.ok(queued < idle, `idle time, but a queue standing above the target: ${idle} -> ${queued}`);
  });

  test('a socket queue nearly full cuts every limit at once, once in 300 ms', () => {
    const r = limited();
    for (let i = 0; i < 4; i++) sample(r, 50);
    const before = r.control.stats().limits.call!;
    r.control.socketRead('sip', { drained: false, waitedMs: 20, fill: 0.6 });
    assert.ok(Math.abs(r.control.stats().limits.call! - before * 0.8) < 2, `${before} -> ${r.control.stats().limits.call}`);
    r.control.socketRead('sip', { drained: false, waitedMs: 20, fill: 0.6 });
    assert.ok(Math.abs(r.control.stats().limits.call! - before * 0.8) < 2, 'not twice within 300 ms');
  });

  test('a class that refuses nothing for two seconds is let go, and the overload is over', () => {
    const r = rig({ maxQueueDelayMs: 50 });
    r.offer('call', 1000, 1000);
    r.control.socketRead('sip', { drained: false });
    r.advance(60);
    r.control.socketRead('sip', { drained: false });
    r.control.socketRead('sip', { drained: true });
    assert.equal(r.control.stats().state, 'overloaded');
    r.offer('call', 200, 2100); // 95/s, below the limit: nothing refused
    const s = r.control.stats();
    assert.equal(s.state, 'normal');
    assert.equal(s.limits.call, null);
    assert.ok(r.logs.some((l) => l.msg.startsWith('overload over')));
  });

  test('while refusing, the log says so once, then what was refused every five seconds, then that it is over', () => {
    const r = rig({ callsPerSecond: 1000 });
    r.offer('call', 60_000, 12_000); // 5000/s for 12 s against a ceiling of 1000/s
    r.offer('call', 100, 2500); // then well below it
    assert.equal(r.logs.filter((l) => l.msg.startsWith('overload: refusing')).length, 1);
    assert.equal(r.logs[0]!.obj.cause, 'ceiling');
    const still = r.logs.filter((l) => l.msg === 'overload: still refusing');
    assert.equal(still.length, 2);
    assert.ok(Math.abs((still[0]!.obj.refusedSinceLast as number) - 20_000) < 500, `${still[0]!.obj.refusedSinceLast}`);
    const over = r.logs.filter((l) => l.msg.startsWith('overload over'));
    assert.equal(over.length, 1);
    assert.equal((over[0]!.obj.refused as Record<string, number>).call, r.control.stats().refused.call);
  });

  test('a configured ceiling holds from the first request, below any measured limit', () => {
    const r = rig({ callsPerSecond: 10 });
    const admitted = r.offer('call', 100, 2000); // 50/s for 2 s
    assert.ok(admitted >= 19 && admitted <= 22, `admitted ${admitted}`);
    assert.equal(r.offer('register', 100, 1000), 100, 'other classes are not held by the calls ceiling');
  });

  test('a refused request that turns out to repeat one in progress is not counted as refused', () => {
    const r = rig({ maxPending: 1 });
    r.state.pending = 1;
    assert.equal(r.control.admit('call'), false);
    r.control.repeated('call');
    assert.equal(r.control.stats().refused.call, 0);
    assert.equal(r.control.stats().offered.call, 0);
  });

  test('disabled, it refuses nothing whatever the load', () => {
    const r = rig({ enabled: false, maxPending: 1, callsPerSecond: 1 });
    r.state.pending = 10;
    r.control.socketRead('sip', { drained: false });
    r.advance(500);
    r.control.socketRead('sip', { drained: false });
    assert.equal(r.offer('call', 100, 100), 100);
    assert.equal(r.control.stats().state, 'normal');
  });

  test('Retry-After is spread over [base, 2 × base]', () => {
    const r = rig({ retryAfterSec: 4 });
    const seen = new Set<number>();
    for (let i = 0; i < 500; i++) seen.add(r.control.retryAfterSec());
    assert.deepEqual([...seen].sort((a, b) => a - b), [4, 5, 6, 7, 8]);
  });
});
