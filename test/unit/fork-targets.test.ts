/**
 * Which contacts a call rings (modules/call-routing/forks.ts): every verified one, and of the
 * unverified at most so many per address.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { forkTargets, type ForkBinding } from '../../modules/call-routing/forks.ts';

const at = (address: string, port: number, transport?: 'udp' | 'tcp'): ForkBinding => ({ address: { address, port }, ...(transport ? { transport } : {}) });

describe('forkTargets', () => {
  test('unverified contacts at one address: one rings, chosen at random; other addresses each ring', () => {
    const victim = Array.from({ length: 10 }, (_, i) => at('192.0.2.5', 5000 + i));
    const elsewhere = [at('198.51.100.1', 5060), at('::ffff:203.0.113.9', 5060)];
    const seen = new Set<number>();
    for (let n = 0; n < 200; n++) {
      const { ring, skipped } = forkTargets([...victim, ...elsewhere], () => false, 1);
      assert.equal(skipped, 9);
      assert.equal(ring.length, 3);
      assert.deepEqual(ring.slice(-2), elsewhere, 'order kept');
      seen.add(ring[0]!.address.port);
    }
    assert.ok(seen.size > 5, 'each contact of the address gets its turn');
  });

  test('verified contacts (answered before, or over TCP) all ring; the limit counts the rest', () => {
    const bindings = [at('192.0.2.5', 1), at('192.0.2.5', 2), at('192.0.2.5', 3, 'tcp'), at('192.0.2.5', 4), at('192.0.2.5', 5)];
    const { ring, skipped } = forkTargets(bindings, (b) => b.address.port === 1 || b.address.port === 2, 1);
    assert.equal(skipped, 1);
    assert.deepEqual(ring.slice(0, 3).map((b) => b.address.port), [1, 2, 3]);
    assert.equal(ring.length, 5 - 1);
  });
});
