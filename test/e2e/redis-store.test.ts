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
import { freePort } from '../helpers/ports.ts';
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

  test('usersAt: users per dialect and source IP, across stores; a per-IP limit holds when two stores add users at once', async () => {
    const ip = '10.20.30.40';
    const plainAt = (aor: string, address: string): Binding => ({ aor, dialect: 'plain', listener: 'plain', address: { address, port: 40000 }, registeredAt: 1, expiresAt: Date.now() + 60_000 });
    const MAX = 4;
    const tries = [];
    for (let i = 0; i < 12; i++) {
      const aor = `per-ip-${i}`;
      // As the registrar's plainMaxUsersPerSource: a user new to the IP only while the IP has room.
      tries.push((i % 2 === 0 ? a : b).update(aor, (current, moment) => (moment.usersAt('plain', ip) >= MAX
        ? { bindings: current, result: false }
        : { bindings: [plainAt(aor, ip)], result: true })));
    }
    assert.equal((await Promise.all(tries)).filter(Boolean).length, MAX, 'exactly the room the IP had');
    const count = (dialect: 'plain' | 'sip', at: string) => a.update('probe-ip', (c, m) => ({ bindings: c, result: m.usersAt(dialect, at) }));
    assert.equal(await count('plain', ip), MAX);
    assert.equal(await count('plain', `::ffff:${ip}`), MAX, 'an IPv4-mapped address is the same IP');
    assert.equal(await count('sip', ip), 0, 'the dialects count apart');
    // A user that moves to another IP leaves this one's count; one that goes leaves it too.
    const admitted: string[] = [];
    for (let i = 0; i < 12; i++) if ((await b.lookup(`per-ip-${i}`)).length > 0) admitted.push(`per-ip-${i}`);
    await b.update(admitted[0]!, () => ({ bindings: [plainAt(admitted[0]!, '10.20.30.41')], result: null }));
    await a.update(admitted[1]!, () => ({ bindings: [], result: null }));
    assert.equal(await count('plain', ip), MAX - 2);
    assert.equal(await count('plain', '10.20.30.41'), 1);
    // A binding that expires stops counting at its expiry, without any update.
    await a.update('per-ip-brief', () => ({ bindings: [{ ...plainAt('per-ip-brief', '10.20.30.42'), expiresAt: Date.now() + 200 }], result: null }));
    assert.equal(await count('plain', '10.20.30.42'), 1);
    const deadline = Date.now() + 3000;
    while ((await count('plain', '10.20.30.42')) > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    assert.equal(await count('plain', '10.20.30.42'), 0);
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
