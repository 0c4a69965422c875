/** SourceRate (core/lib/source-rate.ts): a token bucket per source IP in fixed memory. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { SourceRate } from '../../core/lib/source-rate.ts';

describe('SourceRate', () => {
  test('a burst of twice the rate, then the rate; other sources apart; IPv4-mapped is IPv4', () => {
    let now = 0;
    const r = new SourceRate(5, () => now);
    let allowed = 0;
    for (let i = 0; i < 100; i++) if (r.allow('192.0.2.1')) allowed++;
    assert.equal(allowed, 10);
    assert.equal(r.allow('::ffff:192.0.2.1'), false, 'the same source in its dual-stack spelling');
    assert.equal(r.allow('198.51.100.7'), true);
    now = 1000;
    allowed = 0;
    for (let i = 0; i < 100; i++) if (r.allow('192.0.2.1')) allowed++;
    assert.equal(allowed, 5, 'a second later, a second\'s worth');
    assert.equal(r.refused, 90 + 1 + 95);
  });
});
