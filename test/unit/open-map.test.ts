import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { OpenMap } from '../../core/lib/open-map.ts';

/** A small deterministic generator, so a failing sequence can be replayed. */
function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

function sorted<T>(it: Iterable<T>): T[] {
  return [...it].sort();
}

describe('OpenMap', () => {
  test('set, get, has, delete and size', () => {
    const m = new OpenMap<number>();
    assert.equal(m.get('alice'), undefined);
    m.set('alice', 1).set('bob', 2);
    assert.equal(m.get('alice'), 1);
    assert.equal(m.get('bob'), 2);
    assert.equal(m.has('alice'), true);
    assert.equal(m.has('carol'), false);
    assert.equal(m.size, 2);
    m.set('alice', 3);
    assert.equal(m.get('alice'), 3);
    assert.equal(m.size, 2);
    assert.equal(m.delete('alice'), true);
    assert.equal(m.delete('alice'), false);
    assert.equal(m.get('alice'), undefined);
    assert.equal(m.size, 1);
  });

  test('the empty string and keys that differ in one character are distinct keys', () => {
    const m = new OpenMap<string>();
    m.set('', 'empty').set('z9hG4bK1;INVITE', 'invite').set('z9hG4bK1;CANCEL', 'cancel').set('z9hG4bK1;INVITÉ', 'accent');
    assert.equal(m.get(''), 'empty');
    assert.equal(m.get('z9hG4bK1;INVITE'), 'invite');
    assert.equal(m.get('z9hG4bK1;CANCEL'), 'cancel');
    assert.equal(m.get('z9hG4bK1;INVITÉ'), 'accent');
    assert.equal(m.size, 4);
  });

  test('grows past its first capacity and keeps every entry', () => {
    const m = new OpenMap<number>(4);
    for (let i = 0; i < 10_000; i++) m.set(`call-${i}@host`, i);
    assert.equal(m.size, 10_000);
    for (let i = 0; i < 10_000; i++) assert.equal(m.get(`call-${i}@host`), i);
    for (let i = 0; i < 10_000; i += 2) assert.equal(m.delete(`call-${i}@host`), true);
    assert.equal(m.size, 5_000);
    for (let i = 0; i < 10_000; i++) assert.equal(m.get(`call-${i}@host`), i % 2 === 0 ? undefined : i);
  });

  test('keys and values list the live entries once each; clear empties it', () => {
    const m = new OpenMap<number>();
    for (let i = 0; i < 100; i++) m.set(`k${i}`, i);
    for (let i = 0; i < 100; i += 3) m.delete(`k${i}`);
    const live = Array.from({ length: 100 }, (_, i) => i).filter((i) => i % 3 !== 0);
    assert.deepEqual(sorted(m.keys()), sorted(live.map((i) => `k${i}`)));
    assert.deepEqual([...m.values()].sort((a, b) => a - b), live);
    m.clear();
    assert.equal(m.size, 0);
    assert.deepEqual([...m.keys()], []);
    assert.equal(m.get('k1'), undefined);
    m.set('k1', 1);
    assert.equal(m.get('k1'), 1);
  });

  test('200,000 random operations on a small key space agree with a Map', () => {
    // A small key space in a table that stays small makes long probe runs, so deletions
    // shift entries back across the wrap-around of the index again and again.
    const next = lcg(7);
    const m = new OpenMap<number>(8);
    const ref = new Map<string, number>();
    for (let op = 0; op < 200_000; op++) {
      const key = `branch-${Math.floor(next() * 300)}`;
      const r = next();
      if (r < 0.45) {
        m.set(key, op);
        ref.set(key, op);
      } else if (r < 0.9) {
        assert.equal(m.delete(key), ref.delete(key), `delete ${key} at op ${op}`);
      } else {
        assert.equal(m.get(key), ref.get(key), `get ${key} at op ${op}`);
      }
      assert.equal(m.size, ref.size);
    }
    for (const [k, v] of ref) assert.equal(m.get(k), v);
    assert.deepEqual(sorted(m.keys()), sorted(ref.keys()));
  });

  test('a table that never grows (16 slots, at most 8 entries) stays right as runs wrap around its end', () => {
    const next = lcg(11);
    const m = new OpenMap<number>(4);
    const ref = new Map<string, number>();
    for (let op = 0; op < 100_000; op++) {
      const key = `tx-${Math.floor(next() * 64)}`;
      if (ref.size < 8 && next() < 0.5) {
        m.set(key, op);
        ref.set(key, op);
      } else {
        assert.equal(m.delete(key), ref.delete(key), `delete ${key} at op ${op}`);
      }
      for (const [k, v] of ref) assert.equal(m.get(k), v, `get ${k} after op ${op}`);
    }
  });
});
