import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ErrorLimiter, type ErrorLimiterOptions } from '../../core/dialects/plain/error-limiter.ts';

/** A limiter on a clock the test moves by hand (milliseconds). */
function limiter(opts: ErrorLimiterOptions, start = 1000): { l: ErrorLimiter; advance(ms: number): void } {
  let now = start;
  const l = new ErrorLimiter(opts, () => now);
  return { l, advance: (ms) => { now += ms; } };
}

function allowed(l: ErrorLimiter, ip: string, n: number): number {
  let k = 0;
  for (let i = 0; i < n; i++) if (l.allow(ip)) k++;
  return k;
}

function bucketCount(l: ErrorLimiter): number {
  // Memory bound is a property of the private table; read it for the bound test only.
  return (l as unknown as { buckets: Map<string, unknown> }).buckets.size;
}

describe('ErrorLimiter', () => {
  test('a new source gets the burst, then is suppressed', () => {
    const { l } = limiter({ ratePerSecond: 2, burst: 5, maxSources: 100 });
    assert.equal(allowed(l, '10.0.0.1', 5), 5);
    assert.equal(l.allow('10.0.0.1'), false);
    assert.equal(l.allow('10.0.0.1'), false);
    assert.equal(l.suppressed, 2);
  });

  test('tokens refill at the sustained rate', () => {
    const { l, advance } = limiter({ ratePerSecond: 4, burst: 4, maxSources: 100 });
    assert.equal(allowed(l, 'a', 10), 4);
    advance(250); // one token at 4/s
    assert.equal(l.allow('a'), true);
    assert.equal(l.allow('a'), false);
    advance(600); // 2.4 tokens
    assert.equal(allowed(l, 'a', 10), 2);
    advance(100); // the 0.4 left over plus 0.4 is still below one token
    assert.equal(l.allow('a'), false);
    advance(200); // 0.8 + 0.8
    assert.equal(l.allow('a'), true);
  });

  test('refill is capped at the burst however long the pause', () => {
    const { l, advance } = limiter({ ratePerSecond: 10, burst: 3, maxSources: 100 });
    assert.equal(allowed(l, 'a', 3), 3);
    advance(3_600_000);
    assert.equal(allowed(l, 'a', 100), 3);
  });

  test('a denied request takes no token', () => {
    const { l, advance } = limiter({ ratePerSecond: 1, burst: 1, maxSources: 100 });
    assert.equal(l.allow('a'), true);
    for (let i = 0; i < 50; i++) {
      advance(10);
      assert.equal(l.allow('a'), false);
    }
    // 500 ms of denied calls accrued half a token; 600 ms more makes one.
    advance(600);
    assert.equal(l.allow('a'), true);
  });

  test('sources are independent', () => {
    const { l } = limiter({ ratePerSecond: 1, burst: 2, maxSources: 100 });
    assert.equal(allowed(l, 'a', 5), 2);
    assert.equal(allowed(l, 'b', 5), 2);
    assert.equal(allowed(l, '::ffff:10.0.0.1', 5), 2);
    assert.equal(l.suppressed, 9);
  });

  test('the real clock is the default and a fresh source is allowed', () => {
    const l = new ErrorLimiter({ ratePerSecond: 1, burst: 1, maxSources: 10 });
    assert.equal(l.allow('x'), true);
  });

  test('memory is bounded by maxSources under a flood of distinct sources', () => {
    const { l, advance } = limiter({ ratePerSecond: 1, burst: 1, maxSources: 50 });
    for (let i = 0; i < 20_000; i++) {
      assert.equal(l.allow(`10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`), true, 'every new source gets its first ERROR');
      if (i % 100 === 0) advance(1);
      assert.ok(bucketCount(l) <= 50);
    }
    assert.ok(bucketCount(l) > 0);
  });

  test('when the table is full the oldest sources are forgotten first', () => {
    const { l } = limiter({ ratePerSecond: 0.001, burst: 1, maxSources: 10 });
    assert.equal(l.allow('old'), true);
    assert.equal(l.allow('old'), false, 'old is out of tokens');
    for (let i = 0; i < 9; i++) assert.equal(l.allow(`s${i}`), true);
    assert.equal(l.allow('s8'), false, 'a remembered source is still limited');
    assert.equal(l.allow('new'), true); // table full: evicts the oldest ('old')
    assert.ok(bucketCount(l) <= 10);
    assert.equal(l.allow('old'), true, 'a forgotten source starts again with a full bucket');
    assert.equal(l.allow('new'), false, 'the newest source is still remembered');
  });

  test('property: over any schedule, a source never gets more than burst + rate × elapsed ERRORs', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 20 }), fc.integer({ min: 1, max: 50 }),
        fc.array(fc.record({ dt: fc.integer({ min: 0, max: 500 }), ip: fc.constantFrom('a', 'b', 'c') }), { maxLength: 300 }),
        (rate, burst, schedule) => {
          const { l, advance } = limiter({ ratePerSecond: rate, burst, maxSources: 100 });
          let elapsed = 0;
          const got: Record<string, number> = { a: 0, b: 0, c: 0 };
          let denied = 0;
          for (const { dt, ip } of schedule) {
            advance(dt);
            elapsed += dt;
            if (l.allow(ip)) got[ip]!++;
            else denied++;
          }
          for (const ip of ['a', 'b', 'c']) {
            assert.ok(got[ip]! <= burst + (rate * elapsed) / 1000 + 1e-9, `${ip}: ${got[ip]} > ${burst} + ${rate}/s × ${elapsed} ms`);
          }
          assert.equal(l.suppressed, denied);
          return true;
        },
      ),
      { numRuns: 300 },
    );
  });
});
