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

  test('a read whose oldest datagram waited longer than maxQueueDelayMs cuts at once; a queue drained of short waits does not', () => {
    const r = rig({ maxQueueDelayMs: 300 });
    r.offer('call', 1000, 1000);
    for (let i = 0; i < 20; i++) r.control.socketRead('sip', { drained: false, waitedMs: 250 });
    r.advance(1000);
    for (let i = 0; i < 20; i++) r.control.socketRead('sip', { drained: false, waitedMs: 250 });
    assert.equal(r.control.stats().state, 'normal', 'a queue that stands but is never 300 ms deep is within the target');
    assert.equal(r.control.stats().queueDelayMs, 250);
    r.control.socketRead('sip', { drained: true, waitedMs: 310 });
    assert.equal(r.control.stats().state, 'overloaded');
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

  test('a queue that keeps standing after a cut brings deeper cuts, down to a quarter of the rate served before', () => {
    const r = rig({ maxQueueDelayMs: 50 });
    r.offer('call', 1000, 1000);
    r.control.socketRead('sip', { drained: false });
    r.advance(60);
    r.control.socketRead('sip', { drained: false });
    const first = r.control.stats().limits.call!;
    r.offer('call', 200, 300);
    r.control.socketRead('sip', { drained: false });
    const second = r.control.stats().limits.call!;
    assert.ok(second <= first * 0.85 + 1, `${first} then ${second}`);
    r.offer('call', 200, 300);
    r.control.socketRead('sip', { drained: false });
    const third = r.control.stats().limits.call!;
    assert.ok(third <= second * 0.7 + 1, `${second} then ${third}`);
    // A queue that stands however deep the cuts go is the refusals' own: the cuts stop at a quarter.
    for (let i = 0; i < 10; i++) {
      r.offer('call', 50, 300);
      r.control.socketRead('sip', { drained: false });
    }
    const floor = r.control.stats().limits.call!;
    assert.ok(floor >= 240 && floor <= 300, `floor ${floor}`);
  });

  test('once the queue drains, a limit that still refuses climbs: fast while the loop has idle time, by small steps when busy', () => {
    const r = rig({ maxQueueDelayMs: 50 });
    r.offer('call', 1000, 1000);
    r.control.socketRead('sip', { drained: false });
    r.advance(60);
    r.control.socketRead('sip', { drained: false });
    r.control.socketRead('sip', { drained: true });
    const cut = r.control.stats().limits.call!;
    r.state.utilization = 1;
    r.offer('call', 500, 100);
    const busy = r.control.stats().limits.call!;
    assert.ok(busy > cut && busy <= cut * 1.3, `busy: ${cut} -> ${busy}`);
    r.state.utilization = 0.5;
    r.offer('call', 500, 100);
    const idle = r.control.stats().limits.call!;
    assert.ok(idle >= busy * 1.4, `idle: ${busy} -> ${idle}`);
  });

  test('on a busy loop the climb is larger while nothing waits in the queues than once something does', () => {
    const step = (waitedMs: number): number => {
      const r = rig({ maxQueueDelayMs: 300 });
      r.offer('call', 1000, 1000);
      r.control.socketRead('sip', { drained: true, waitedMs: 400 });
      r.offer('call', 200, 100); // the sample that saw the long wait
      const before = r.control.stats().limits.call!;
      r.control.socketRead('sip', { drained: true, waitedMs });
      r.offer('call', 400, 100);
      return r.control.stats().limits.call! / before;
    };
    assert.ok(Math.abs(step(5) - 1.06) < 0.01, `clear: ${step(5)}`);
    assert.ok(Math.abs(step(60) - 1.02) < 0.01, `something waits: ${step(60)}`);
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
