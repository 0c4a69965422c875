import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { PackedTable } from '../../core/lib/packed-table.ts';

/** A small deterministic generator, so a failing sequence can be replayed. */
function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

describe('PackedTable', () => {
  test('set, get, has, delete and size', () => {
    const t = new PackedTable();
    assert.equal(t.get('alice'), undefined);
    t.set('alice', 'one');
    t.set('bob', 'two');
    assert.equal(t.get('alice'), 'one');
    assert.equal(t.get('bob'), 'two');
    assert.equal(t.has('alice'), true);
    assert.equal(t.has('carol'), false);
    assert.equal(t.size, 2);
    assert.equal(t.delete('alice'), true);
    assert.equal(t.delete('alice'), false);
    assert.equal(t.get('alice'), undefined);
    assert.equal(t.size, 1);
  });

  test('keys are exact: case, prefixes and the empty string are different keys', () => {
    const t = new PackedTable();
    for (const k of ['sip:a@x', 'sip:A@x', 'sip:a@x ', 'sip:a@', '']) t.set(k, `v(${k})`);
    for (const k of ['sip:a@x', 'sip:A@x', 'sip:a@x ', 'sip:a@', '']) assert.equal(t.get(k), `v(${k})`);
    assert.equal(t.get('sip:a@xx'), undefined);
    assert.equal(t.size, 5);
  });

  test('any Unicode in keys and values survives', () => {
    const t = new PackedTable();
    const key = 'sip:zoë@例え.jp;x=😀';
    const value = '["Grüße","\\u0000",3.5,null,"𝄞"]\u0000end';
    t.set(key, value);
    assert.equal(t.get(key), value);
    assert.equal(t.get('sip:zoe@例え.jp;x=😀'), undefined);
  });

  test('values that grow and shrink across size classes move and stay readable', () => {
    const t = new PackedTable();
    t.set('neighbour', 'n'.repeat(50));
    for (const len of [10, 100, 5000, 70, 200_000, 3, 0, 64, 4090]) {
      const v = 'x'.repeat(len) + len;
      t.set('grower', v);
      assert.equal(t.get('grower'), v);
      assert.equal(t.get('neighbour'), 'n'.repeat(50));
    }
    assert.equal(t.size, 2);
  });

  test('a value larger than a chunk is refused with a clear error and the old value stays', () => {
    const t = new PackedTable();
    t.set('big', 'small');
    assert.throws(() => t.set('big', 'y'.repeat(5 << 20)), /larger than a chunk/);
    assert.equal(t.get('big'), 'small');
  });

  test('a hundred thousand keys, then half deleted, then reinserted: the index grows and reuses tombstones', () => {
    const t = new PackedTable(16);
    const N = 100_000;
    for (let i = 0; i < N; i++) t.set(`sip:user${i}@example.com`, `[${i}]`);
    assert.equal(t.size, N);
    for (let i = 0; i < N; i += 2) assert.equal(t.delete(`sip:user${i}@example.com`), true);
    assert.equal(t.size, N / 2);
    for (let i = 0; i < N; i++) assert.equal(t.get(`sip:user${i}@example.com`), i % 2 === 0 ? undefined : `[${i}]`);
    for (let i = 0; i < N; i += 2) t.set(`sip:user${i}@example.com`, `[again ${i}]`);
    for (let i = 0; i < N; i++) assert.equal(t.get(`sip:user${i}@example.com`), i % 2 === 0 ? `[again ${i}]` : `[${i}]`);
    assert.equal(t.size, N);
  });

  test('random operations agree with a Map', () => {
    const rnd = lcg(7);
    const t = new PackedTable(16);
    const model = new Map<string, string>();
    for (let step = 0; step < 60_000; step++) {
      const key = `k${Math.floor(rnd() * 3000)}${rnd() < 0.05 ? 'é' : ''}`;
      const r = rnd();
      if (r < 0.55) {
        const v = 'v'.repeat(Math.floor(rnd() ** 3 * 6000)) + step;
        t.set(key, v);
        model.set(key, v);
      } else if (r < 0.8) {
        assert.equal(t.delete(key), model.delete(key), `delete ${key} at step ${step}`);
      } else {
        assert.equal(t.get(key), model.get(key), `get ${key} at step ${step}`);
      }
    }
    assert.equal(t.size, model.size);
    for (const [k, v] of model) assert.equal(t.get(k), v);
  });

  test('sweep hands over entries whose deadline has come, keeps or drops them as told, and resumes where it stopped', () => {
    const t = new PackedTable(64);
    for (let i = 0; i < 500; i++) t.set(`u${i}`, `v${i}`, i % 3 === 0 ? 0 : i % 3 === 1 ? 100 : 200);
    const seen: string[] = [];
    // in steps smaller than the index: several calls make one pass
    let handed = 0;
    for (let k = 0; k < 20; k++) {
      handed += t.sweep(150, 100, (key, value) => {
        seen.push(key);
        assert.equal(value, `v${key.slice(1)}`);
        const i = Number(key.slice(1));
        return i % 2 === 0 ? null : { value: `${value}+`, deadline: 300 };
      });
    }
    const due = Array.from({ length: 500 }, (_, i) => i).filter((i) => i % 3 === 1);
    assert.equal(handed, due.length, 'each due entry exactly once');
    assert.deepEqual(seen.sort(), due.map((i) => `u${i}`).sort());
    for (const i of due) assert.equal(t.get(`u${i}`), i % 2 === 0 ? undefined : `v${i}+`);
    assert.equal(t.get('u0'), 'v0', 'no deadline: never due');
    assert.equal(t.get('u2'), 'v2', 'a later deadline: not yet');
    assert.equal(t.size, 500 - due.filter((i) => i % 2 === 0).length);
  });

  test('clear forgets everything and the table is usable again', () => {
    const t = new PackedTable();
    for (let i = 0; i < 1000; i++) t.set(`k${i}`, 'v');
    t.clear();
    assert.equal(t.size, 0);
    assert.equal(t.get('k1'), undefined);
    t.set('k1', 'again');
    assert.equal(t.get('k1'), 'again');
  });
  test('scan: a pass in slices sees each entry once while others are set and deleted between slices; a rebuild changes the layout', () => {
    const t = new PackedTable(4096);
    for (let i = 0; i < 1000; i++) t.set(`k${i}`, `v${i}`);
    const layout = t.layout;
    const seen = new Map<string, number>();
    let slot = 0;
    let round = 0;
    while (slot >= 0) {
      slot = t.scan(slot, 256, (key, value) => {
        assert.ok(value.startsWith('v'));
        seen.set(key, (seen.get(key) ?? 0) + 1);
      });
      // Between slices: refresh some (a longer value, a new block), delete some, add a few (no rebuild at this size).
      t.set(`k${round}`, `v${round}-${'x'.repeat(200)}`);
      t.delete(`k${999 - round}`);
      t.set(`new${round++}`, 'v');
    }
    assert.equal(t.layout, layout, 'no rebuild at this size');
    for (let i = 20; i < 980; i++) assert.equal(seen.get(`k${i}`), 1, `k${i} seen once`);
    for (let i = 0; i < 50_000; i++) t.set(`more${i}`, 'v');
    assert.notEqual(t.layout, layout, 'the index grew: rebuilt');
  });
});
