/**
 * The registrar's Redis location store against a real redis-server: bindings and their expiry
 * (Redis TTL), atomic updates from two stores (two proxies) racing on one user, the user count
 * under a limit, and a server that goes away: updates fail fast with StoreUnavailableError,
 * and the store works again once the server is back.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createLogger } from '../../core/lib/log.ts';
import { RedisLocationStore, StoreUnavailableError } from '../../modules/registrar/redis-store.ts';
import type { Binding, LocationUpdate } from '../../modules/registrar/store.ts';
import { freePort } from '../helpers/rtpengine.ts';
import { redisVersion, startRedis, type RedisServer } from '../helpers/redis.ts';

const log = createLogger({ level: 'silent' });
let redis: RedisServer;
let a: RedisLocationStore;
let b: RedisLocationStore;

function binding(aor: string, port: number, expiresAt: number | null): Binding {
  return { aor, dialect: 'sip', listener: 'sip', address: { address: '127.0.0.1', port }, registeredAt: Date.now(), expiresAt, contact: `sip:${aor}@127.0.0.1:${port}`, transport: 'udp', connection: null, node: '127.0.0.1:5060' };
}

const add = (nb: Binding) => (current: readonly Binding[]): LocationUpdate<number> => ({ bindings: [...current, nb], result: current.length + 1 });

before(async () => {
  redisVersion();
  redis = await startRedis({ port: await freePort() });
  a = await RedisLocationStore.open({ url: redis.url, log, prefix: 't1:' });
  // The second over TCP, as a proxy on another host would connect.
  b = await RedisLocationStore.open({ url: `redis://127.0.0.1:${redis.port}/0`, log, prefix: 't1:' });
});

after(async () => {
  await a?.close();
  await b?.close();
  await redis?.stop();
});

describe('RedisLocationStore', () => {
  test('what one store writes the other reads, fields intact; an empty update forgets the user', async () => {
    const exp = Date.now() + 60_000;
    assert.equal(await a.update('alice', add(binding('alice', 5070, exp))), 1);
    const seen = await b.lookup('alice');
    assert.deepEqual(seen, [binding('alice', 5070, exp)].map((x) => ({ ...x, registeredAt: seen[0]!.registeredAt })));
    await b.update('alice', () => ({ bindings: [], result: null }));
    assert.deepEqual(await a.lookup('alice'), []);
  });

  test('bindings expire: a lookup never returns an expired one, and Redis drops the user at its last expiry', async () => {
    await a.update('brief', add(binding('brief', 5071, Date.now() + 300)));
    assert.equal((await b.lookup('brief')).length, 1);
    const deadline = Date.now() + 3000;
    while ((await b.lookup('brief')).length > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    assert.deepEqual(await b.lookup('brief'), []);
  });

  test('updates of one user from two stores at once lose nothing (compare-and-set, retried)', async () => {
    const N = 40;
    const exp = Date.now() + 60_000;
    const all = [];
    for (let i = 0; i < N; i++) all.push((i % 2 === 0 ? a : b).update('carol', add(binding('carol', 6000 + i, exp))));
    await Promise.all(all);
    const ports = (await a.lookup('carol')).map((x) => x.address.port).sort((x, y) => x - y);
    assert.deepEqual(ports, Array.from({ length: N }, (_, i) => 6000 + i));
  });

  test('a limit on users checked in the update holds when two stores add users at once', async () => {
    const before = (await Promise.all([a.update('probe', (c, m) => ({ bindings: c, result: m.users }))]))[0];
    const limit = before + 5;
    const tries = [];
    for (let i = 0; i < 20; i++) {
      tries.push((i % 2 === 0 ? a : b).update(`limited-${i}`, (current, moment) => (moment.users >= limit && current.length === 0
        ? { bindings: current, result: false }
        : { bindings: [binding(`limited-${i}`, 7000 + i, Date.now() + 60_000)], result: true })));
    }
    const admitted = (await Promise.all(tries)).filter(Boolean).length;
    assert.equal(admitted, 5, 'exactly the room there was');
  });

  test('Redis down: updates and lookups fail fast; back: the store works again', async () => {
    await redis.stop();
    const started = Date.now();
    await assert.rejects(a.update('dave', add(binding('dave', 5072, Date.now() + 60_000))), StoreUnavailableError);
    await assert.rejects(b.lookup('carol'), StoreUnavailableError);
    assert.ok(Date.now() - started < 2500, `failed within the command timeout (${Date.now() - started} ms)`);
    await redis.restart();
    const deadline = Date.now() + 10_000;
    let stored = false;
    while (!stored && Date.now() < deadline) {
      stored = await a.update('dave', add(binding('dave', 5072, Date.now() + 60_000))).then(() => true, () => false);
      if (!stored) await new Promise((r) => setTimeout(r, 100));
    }
    assert.ok(stored, 'the store reconnected');
    assert.equal((await b.lookup('dave').catch(async () => { await new Promise((r) => setTimeout(r, 500)); return b.lookup('dave'); })).length, 1);
  });
});
