import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { NonceCounts } from '../../modules/auth/nonce-count.ts';

const T0 = 1_000_000;
const TTL = 300_000;

describe('nonce counts', () => {
  test('each nc passes once; a repeated nc is a replay', () => {
    const counts = new NonceCounts(8, () => T0);
    assert.equal(counts.use('n', T0, T0 + TTL, 1), 'fresh');
    assert.equal(counts.use('n', T0, T0 + TTL, 1), 'replay');
    assert.equal(counts.use('n', T0, T0 + TTL, 2), 'fresh');
    assert.equal(counts.use('n', T0, T0 + TTL, 2), 'replay');
    assert.equal(counts.use('n', T0, T0 + TTL, 1), 'replay');
  });

  test('a first use may start above 1; a later nc may skip ahead', () => {
    const counts = new NonceCounts(8, () => T0);
    assert.equal(counts.use('n', T0, T0 + TTL, 5), 'fresh');
    assert.equal(counts.use('n', T0, T0 + TTL, 40), 'fresh');
    assert.equal(counts.use('n', T0, T0 + TTL, 5), 'replay', 'far below the highest: outside the window');
  });

  test('requests that overtook each other pass within a window of 32; each still once', () => {
    const counts = new NonceCounts(8, () => T0);
    assert.equal(counts.use('n', T0, T0 + TTL, 3), 'fresh');
    assert.equal(counts.use('n', T0, T0 + TTL, 1), 'fresh');
    assert.equal(counts.use('n', T0, T0 + TTL, 2), 'fresh');
    assert.equal(counts.use('n', T0, T0 + TTL, 2), 'replay');
    assert.equal(counts.use('n', T0, T0 + TTL, 40), 'fresh');
    assert.equal(counts.use('n', T0, T0 + TTL, 9), 'fresh', '31 below the highest: inside the window');
    assert.equal(counts.use('n', T0, T0 + TTL, 9), 'replay');
    assert.equal(counts.use('n', T0, T0 + TTL, 8), 'replay', '32 below: outside');
    assert.equal(counts.use('n', T0, T0 + TTL, 41), 'fresh');
    assert.equal(counts.use('n', T0, T0 + TTL, 40), 'replay', 'the window moved with the highest');
  });

  test('the largest nc there is', () => {
    const counts = new NonceCounts(8, () => T0);
    assert.equal(counts.use('n', T0, T0 + TTL, 0xffffffff), 'fresh');
    assert.equal(counts.use('n', T0, T0 + TTL, 0xffffffff), 'replay');
    assert.equal(counts.use('n', T0, T0 + TTL, 0xfffffffe), 'fresh');
  });

  test('nonces are counted apart', () => {
    const counts = new NonceCounts(8, () => T0);
    assert.equal(counts.use('a', T0, T0 + TTL, 1), 'fresh');
    assert.equal(counts.use('b', T0, T0 + TTL, 1), 'fresh');
    assert.equal(counts.use('a', T0, T0 + TTL, 1), 'replay');
  });

  test('a flood of nonces: the table never holds more than its capacity, and no forgotten nonce passes again', () => {
    const capacity = 1000;
    const clock = { now: T0 };
    const counts = new NonceCounts(capacity, () => clock.now);
    const heapBefore = process.memoryUsage().heapUsed;
    for (let i = 0; i < 200_000; i++) {
      clock.now = T0 + i;
      assert.equal(counts.use(`nonce-${i}`, clock.now, clock.now + TTL, 1), 'fresh');
      if (i % 10_000 === 0) assert.ok(counts.size <= capacity);
    }
    assert.equal(counts.size, capacity);
    const grown = process.memoryUsage().heapUsed - heapBefore;
    assert.ok(grown < 32 * 1024 * 1024, `the heap grew by ${grown} bytes`);
    // Every nonce that lost its slot while still valid is refused, whatever its count.
    for (const i of [0, 1, 5000, 198_999]) assert.equal(counts.use(`nonce-${i}`, T0 + i, T0 + i + TTL, 2), 'forgotten', `nonce ${i}`);
    // The ones still held count on.
    assert.equal(counts.use('nonce-199999', T0 + 199_999, T0 + 199_999 + TTL, 1), 'replay');
    assert.equal(counts.use('nonce-199999', T0 + 199_999, T0 + 199_999 + TTL, 2), 'fresh');
    // A nonce issued after the last forgotten one enters.
    assert.equal(counts.use('newer', T0 + 300_000, T0 + 600_000, 1), 'fresh');
  });

  test('an expired nonce leaving its slot does not refuse anyone', () => {
    const clock = { now: T0 };
    const counts = new NonceCounts(2, () => clock.now);
    assert.equal(counts.use('a', T0, T0 + 1000, 1), 'fresh');
    assert.equal(counts.use('b', T0 + 10, T0 + 1010, 1), 'fresh');
    clock.now = T0 + 2000; // both expired
    assert.equal(counts.use('c', T0 + 1500, T0 + 2500, 1), 'fresh', 'takes the slot of expired a');
    assert.equal(counts.use('early', T0 + 5, T0 + 3000, 1), 'fresh', 'issued before a, yet not refused: a was expired');
  });

  test('a valid nonce losing its slot refuses every nonce issued up to it that holds no slot', () => {
    const counts = new NonceCounts(2, () => T0);
    assert.equal(counts.use('a', T0 + 100, T0 + TTL, 1), 'fresh');
    assert.equal(counts.use('b', T0 + 50, T0 + TTL, 1), 'fresh');
    assert.equal(counts.use('c', T0 + 200, T0 + TTL, 1), 'fresh', 'a (issued at +100) is forgotten');
    assert.equal(counts.use('a', T0 + 100, T0 + TTL, 2), 'forgotten');
    assert.equal(counts.use('never-used', T0 + 90, T0 + TTL, 1), 'forgotten', 'issued before a: refused, to be safe');
    assert.equal(counts.use('b', T0 + 50, T0 + TTL, 2), 'fresh', 'b still holds its slot');
  });

  test('a capacity that is not a positive integer is refused', () => {
    assert.throws(() => new NonceCounts(0), RangeError);
    assert.throws(() => new NonceCounts(2.5), RangeError);
  });
});
