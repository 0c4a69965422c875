/**
 * RecentFingerprints (core/lib/recent-fingerprints.ts): a fixed-memory set of the fingerprints
 * added last; each is remembered for at least half its slots' worth of later adds, and forgotten
 * once two tables' worth have come after it.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { RecentFingerprints } from '../../core/lib/recent-fingerprints.ts';

describe('RecentFingerprints', () => {
  test('empty until the first add; what was added is found, what was not is not', () => {
    const r = new RecentFingerprints(64);
    assert.equal(r.empty, true);
    r.add(0xdeadbeef);
    r.add(0);
    assert.equal(r.empty, false);
    assert.equal(r.has(0xdeadbeef), true);
    assert.equal(r.has(0), true, '0 is kept as well');
    assert.equal(r.has(0xdeadbeee), false);
  });

  test('each fingerprint stays for at least half the slots of later adds, then goes', () => {
    const slots = 1024;
    const r = new RecentFingerprints(slots);
    const key = (n: number): number => Math.imul(n + 1, 0x9e3779b1) >>> 0;
    for (let n = 0; n < 10 * slots; n++) {
      r.add(key(n));
      const oldestKept = Math.max(0, n - slots / 2 + 1);
      assert.equal(r.has(key(oldestKept)), true, `add ${n}: ${oldestKept} is still there`);
      if (n >= 2 * slots) assert.equal(r.has(key(n - 2 * slots)), false, `add ${n}: ${n - 2 * slots} is gone`);
    }
  });

  test('colliding fingerprints (same low bits) are all kept', () => {
    const r = new RecentFingerprints(16);
    const same = [0x10, 0x20, 0x30, 0x40, 0x50];
    for (const f of same) r.add(f);
    for (const f of same) assert.equal(r.has(f), true);
    assert.equal(r.has(0x60), false);
  });
});
