/**
 * The SIP next-hop resolver (core/dialects/sip/resolver.ts): lookups bounded in number, in
 * waiting and in time, answers and failures cached, a slow lookup holding its slot until it
 * returns.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { DNS_DEFAULTS, SipResolver, type LookupFn } from '../../core/dialects/sip/resolver.ts';

/** A lookup the test answers by hand: each call waits until `answer(name)` or `fail(name)`. */
function manualLookup(): { lookup: LookupFn; calls: string[]; running: () => number; answer(name: string, address?: string, ttlSec?: number | null): void; fail(name: string): void } {
  const calls: string[] = [];
  const waiting = new Map<string, { resolve: (v: { address: string; ttlSec: number | null }) => void; reject: (e: Error) => void }[]>();
  let running = 0;
  const settle = (name: string, f: (w: { resolve: (v: { address: string; ttlSec: number | null }) => void; reject: (e: Error) => void }) => void): void => {
    const list = waiting.get(name) ?? [];
    waiting.delete(name);
    for (const w of list) f(w);
  };
  return {
    calls,
    running: () => running,
    lookup: (name) => {
      calls.push(name);
      running++;
      return new Promise((resolve, reject) => {
        const list = waiting.get(name) ?? [];
        list.push({ resolve: (v) => { running--; resolve(v); }, reject: (e) => { running--; reject(e); } });
        waiting.set(name, list);
      });
    },
    answer: (name, address = '192.0.2.1', ttlSec = null) => settle(name, (w) => w.resolve({ address, ttlSec })),
    fail: (name) => settle(name, (w) => w.reject(Object.assign(new Error('ENOTFOUND'), { code: 'ENOTFOUND' }))),
  };
}

const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

describe('SipResolver', () => {
  test('an answer is cached for cacheSec (or its shorter TTL); the same name asked twice at once is one lookup', async () => {
    let now = 0;
    const m = manualLookup();
    const r = new SipResolver({ ...DNS_DEFAULTS, cacheSec: 60 }, m.lookup, () => now);
    const a = r.resolve('gw.example.com');
    const b = r.resolve('GW.example.com');
    m.answer('gw.example.com', '192.0.2.7', 10);
    assert.deepEqual(await a, { address: '192.0.2.7' });
    assert.deepEqual(await b, { address: '192.0.2.7' });
    assert.equal(m.calls.length, 1);
    now = 9_000;
    assert.deepEqual(r.resolve('gw.example.com'), { address: '192.0.2.7' }, 'from the cache, at once');
    now = 11_000;
    const again = r.resolve('gw.example.com');
    assert.ok(again instanceof Promise, 'the TTL ran out');
    m.answer('gw.example.com', '192.0.2.8');
    assert.deepEqual(await again, { address: '192.0.2.8' });
    assert.equal(r.stats.dnsCacheHits, 1);
  });

  test('a name that does not resolve is unresolvable, and kept so for negativeCacheSec', async () => {
    let now = 0;
    const m = manualLookup();
    const r = new SipResolver({ ...DNS_DEFAULTS, negativeCacheSec: 5 }, m.lookup, () => now);
    const first = r.resolve('nowhere.invalid');
    m.fail('nowhere.invalid');
    assert.equal(await first, 'unresolvable');
    assert.equal(r.resolve('nowhere.invalid'), 'unresolvable');
    now = 6000;
    assert.ok(r.resolve('nowhere.invalid') instanceof Promise);
    assert.equal(m.calls.length, 2);
  });

  test('at most maxConcurrent lookups run and maxQueued wait; past that a name is unavailable at once', async () => {
    const m = manualLookup();
    const r = new SipResolver({ ...DNS_DEFAULTS, maxConcurrent: 2, maxQueued: 3 }, m.lookup);
    const pending = Array.from({ length: 5 }, (_, i) => r.resolve(`n${i}.example.com`));
    await tick();
    assert.equal(m.running(), 2, 'two run');
    assert.equal(r.resolve('n5.example.com'), 'unavailable', 'two running, three waiting: the sixth is refused');
    assert.equal(r.stats.dnsRefused, 1);
    for (let i = 0; i < 5; i++) {
      await tick();
      m.answer(`n${i}.example.com`);
    }
    for (const p of pending) assert.deepEqual(await p, { address: '192.0.2.1' });
    assert.equal(m.calls.length, 5);
  });

  test('a lookup past timeoutMs is given up (unavailable) but keeps its slot until it returns', async () => {
    const m = manualLookup();
    const r = new SipResolver({ ...DNS_DEFAULTS, timeoutMs: 50, maxConcurrent: 1, maxQueued: 1 }, m.lookup);
    const t0 = Date.now();
    assert.equal(await r.resolve('slow.example.com'), 'unavailable');
    assert.ok(Date.now() - t0 < 1000);
    assert.equal(r.stats.dnsTimeouts, 1);
    assert.equal(r.resolve('slow.example.com'), 'unavailable', 'kept as such for negativeCacheSec');
    const queued = r.resolve('next.example.com');
    await tick();
    assert.equal(m.calls.length, 1, 'the slot is still held by the stalled lookup');
    m.answer('slow.example.com');
    await tick();
    assert.equal(m.calls.length, 2, 'its return frees the slot');
    m.answer('next.example.com');
    assert.deepEqual(await queued, { address: '192.0.2.1' });
  });
});
