/** LingerQueue (core/dialects/sip/linger.ts): entries expire oldest first, once, after their time. */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { LingerQueue } from '../../core/dialects/sip/linger.ts';

describe('LingerQueue', () => {
  test('nothing expires before its time; then every entry expires once, oldest first', () => {
    const expired: number[] = [];
    const q = new LingerQueue<number>(60_000, (n) => expired.push(n));
    for (let i = 0; i < 5; i++) q.add(i);
    q.sweep(performance.now());
    assert.deepEqual(expired, []);
    assert.equal(q.size, 5);
    q.sweep(performance.now() + 60_001);
    assert.deepEqual(expired, [0, 1, 2, 3, 4]);
    assert.equal(q.size, 0);
    q.sweep(performance.now() + 120_000);
    assert.deepEqual(expired, [0, 1, 2, 3, 4]);
  });

  test('a sweep stops at the first entry still in time; many entries stay in order across compaction', () => {
    const expired: number[] = [];
    const q = new LingerQueue<number>(60_000, (n) => expired.push(n));
    for (let i = 0; i < 3000; i++) q.add(i);
    const late = performance.now() + 120_000;
    for (let i = 3000; i < 3010; i++) q.add(i);
    // entries 0..2999 were added before `late - 60 s`: expire them, and the first later ones with them at most
    q.sweep(late - 60_000 - 1e-6);
    assert.ok(expired.length >= 0 && expired.length <= 3010);
    assert.deepEqual(expired, [...expired].sort((a, b) => a - b));
    q.sweep(late + 60_000);
    assert.equal(expired.length, 3010);
    assert.deepEqual(expired, Array.from({ length: 3010 }, (_, i) => i));
    assert.equal(q.size, 0);
  });

  test('clear drops entries without expiring them', () => {
    const expired: number[] = [];
    const q = new LingerQueue<number>(1000, (n) => expired.push(n));
    q.add(1);
    q.add(2);
    q.clear();
    q.sweep(performance.now() + 10_000);
    assert.deepEqual(expired, []);
    assert.equal(q.size, 0);
  });
});
