import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { nonceKey, NonceMint } from '../../modules/auth/nonce.ts';

const T0 = Date.UTC(2025, 0, 1);

function mintAt(clock: { now: number }, key = Buffer.alloc(32, 7)): NonceMint {
  return new NonceMint(key, () => clock.now);
}

describe('nonces', () => {
  test('a nonce is fresh within its lifetime and expired after, carrying its issue and expiry times', () => {
    const clock = { now: T0 };
    const mint = mintAt(clock);
    const nonce = mint.issue('switchyard', 300);
    assert.match(nonce, /^[A-Za-z0-9_-]{48}$/, 'base64url: safe in a quoted string');
    assert.deepEqual(mint.check(nonce, 'switchyard'), { status: 'fresh', issuedAt: T0, expiresAt: T0 + 300_000 });
    clock.now = T0 + 299_999;
    assert.equal(mint.check(nonce, 'switchyard').status, 'fresh');
    clock.now = T0 + 300_000;
    assert.deepEqual(mint.check(nonce, 'switchyard'), { status: 'expired', issuedAt: T0, expiresAt: T0 + 300_000 });
  });

  test('each nonce is different, even in the same millisecond', () => {
    const mint = mintAt({ now: T0 });
    const seen = new Set(Array.from({ length: 1000 }, () => mint.issue('r', 60)));
    assert.equal(seen.size, 1000);
  });

  test('bound to the realm: a nonce of another realm is unknown', () => {
    const mint = mintAt({ now: T0 });
    assert.deepEqual(mint.check(mint.issue('a', 60), 'b'), { status: 'unknown' });
  });

  test('another key (another process, a restart) does not know the nonce; a shared key does', () => {
    const clock = { now: T0 };
    const nonce = mintAt(clock, Buffer.from('one shared secret of thirty-two bytes')).issue('r', 60);
    assert.equal(mintAt(clock, Buffer.from('another secret, also long enough!!!!')).check(nonce, 'r').status, 'unknown');
    assert.equal(mintAt(clock, Buffer.from('one shared secret of thirty-two bytes')).check(nonce, 'r').status, 'fresh');
    assert.notDeepEqual(nonceKey(), nonceKey(), 'a random key per process');
    assert.deepEqual(nonceKey('configured'), Buffer.from('configured'));
  });

  test('any change to a nonce makes it unknown: its lifetime cannot be stretched', () => {
    const mint = mintAt({ now: T0 });
    const nonce = mint.issue('r', 60);
    const bytes = Buffer.from(nonce, 'base64url');
    for (let i = 0; i < bytes.length; i++) {
      const forged = Buffer.from(bytes);
      forged[i]! ^= 1;
      assert.equal(mint.check(forged.toString('base64url'), 'r').status, 'unknown', `byte ${i} flipped`);
    }
  });

  test('malformed nonces are unknown, not errors', () => {
    const mint = mintAt({ now: T0 });
    for (const bad of ['', 'x', 'A'.repeat(48), 'A'.repeat(47) + '=', '!'.repeat(48), 'A'.repeat(100_000)]) {
      assert.deepEqual(mint.check(bad, 'r'), { status: 'unknown' });
    }
  });

  test('a lifetime out of range is a programming error', () => {
    const mint = mintAt({ now: T0 });
    assert.throws(() => mint.issue('r', 0), RangeError);
    assert.throws(() => mint.issue('r', 1.5), RangeError);
    assert.throws(() => mint.issue('r', 0x1000000), RangeError);
  });
});
