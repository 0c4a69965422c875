/**
 * PortPool and parsePortRange. Media ports used here: 22000-22499 only (media-session
 * tests use 22500-22999, so the two files can run at the same time).
 */
import { afterEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type dgram from 'node:dgram';
import { bindUdp, createUdpSocket } from '../../core/transport/udp-socket.ts';
import { dgramBinder } from '../../modules/media-relay/relay/js-engine.ts';
import { PortPool, parsePortRange } from '../../modules/media-relay/relay/port-pool.ts';

/** Every socket a test opens, closed after it whatever happens. */
const open = new Set<dgram.Socket>();

function closeSocket(s: dgram.Socket): Promise<void> {
  open.delete(s);
  return new Promise((resolve) => {
    try {
      s.close(() => resolve());
    } catch {
      resolve(); // already closed
    }
  });
}

afterEach(async () => {
  await Promise.all([...open].map(closeSocket));
});

async function take(pool: PortPool<dgram.Socket>): Promise<number | null> {
  const got = await pool.allocate();
  if (got === null) return null;
  open.add(got.handle);
  assert.equal(got.handle.address().port, got.port, 'the socket is bound to the port it reports');
  return got.port;
}

/** Gives a port back the way the relay does: close its socket, release it. */
async function give(pool: PortPool<dgram.Socket>, port: number): Promise<void> {
  const s = [...open].find((x) => x.address().port === port);
  assert.ok(s, `no open socket on ${port}`);
  await closeSocket(s);
  pool.release(port);
}

async function hold(port: number, host = '::'): Promise<dgram.Socket> {
  const s = createUdpSocket(host);
  open.add(s);
  await bindUdp(s, port, host);
  return s;
}

describe('parsePortRange', () => {
  test('accepts min-max ranges', () => {
    assert.deepEqual(parsePortRange('5000-5999'), { min: 5000, max: 5999 });
    assert.deepEqual(parsePortRange(' 5000 - 5999 '), { min: 5000, max: 5999 });
    assert.deepEqual(parsePortRange('1-65535'), { min: 1, max: 65535 });
    assert.deepEqual(parsePortRange('7000-7000'), { min: 7000, max: 7000 });
    assert.deepEqual(parsePortRange('00080-00090'), { min: 80, max: 90 });
  });

  test('rejects port 0, ports above 65535, reversed ranges and non-ranges', () => {
    for (const bad of ['0-10', '70000-70001', '1-65536', '9-3', 'abc', '', '5000', '5000-', '-5000', '5000-5999-6000', '5000:5999', '5000 5999', '5e3-6e3', '123456-123457', '-1-5', '1.5-2', '0x10-0x20', '5000-5999x']) {
      assert.equal(parsePortRange(bad), null, JSON.stringify(bad));
    }
  });
});

describe('PortPool', () => {
  test('hands out ports round-robin from the start of the range', async () => {
    const pool = new PortPool({ min: 22000, max: 22004 }, dgramBinder('::'));
    assert.equal(pool.size, 5);
    const got = [await take(pool), await take(pool), await take(pool)];
    assert.deepEqual(got, [22000, 22001, 22002]);
    assert.equal(pool.used, 3);
    assert.equal(pool.bindFailures, 0);
  });

  test('a released port is not reused at once: the pool moves on and wraps around', async () => {
    const pool = new PortPool({ min: 22010, max: 22013 }, dgramBinder('::'));
    assert.equal(await take(pool), 22010);
    assert.equal(await take(pool), 22011);
    await give(pool, 22010);
    assert.equal(pool.used, 1);
    assert.equal(await take(pool), 22012, 'not the freed 22010');
    assert.equal(await take(pool), 22013);
    assert.equal(await take(pool), 22010, 'after the end of the range it wraps to the freed port');
    await give(pool, 22012);
    assert.equal(await take(pool), 22012, '22011 and 22013 are in use, so the next free one in order');
    assert.equal(pool.used, 4);
  });

  test('a port another socket holds is skipped and counted, never an error', async () => {
    await hold(22021);
    const pool = new PortPool({ min: 22020, max: 22023 }, dgramBinder('::'));
    assert.equal(await take(pool), 22020);
    assert.equal(await take(pool), 22022, '22021 is held by someone else');
    assert.equal(pool.bindFailures, 1);
    assert.equal(pool.used, 2, 'the unbindable port is not counted as used');
    assert.equal(await take(pool), 22023);
  });

  test('an IPv4 socket on the port also makes a dual-stack pool skip it', async () => {
    await hold(22031, '127.0.0.1');
    const pool = new PortPool({ min: 22030, max: 22032 }, dgramBinder('::'));
    assert.equal(await take(pool), 22030);
    assert.equal(await take(pool), 22032);
    assert.equal(pool.bindFailures, 1);
  });

  test('an IPv4-only pool binds IPv4 sockets and skips held ports too', async () => {
    await hold(22040, '127.0.0.1');
    const pool = new PortPool({ min: 22040, max: 22042 }, dgramBinder('127.0.0.1'));
    const got = await pool.allocate();
    assert.ok(got);
    open.add(got.handle);
    assert.equal(got.port, 22041);
    assert.equal(got.handle.address().family, 'IPv4');
    assert.equal(got.handle.address().address, '127.0.0.1');
  });

  test('the dual-stack pool binds AF_INET6 sockets on ::', async () => {
    const pool = new PortPool({ min: 22045, max: 22045 }, dgramBinder('::'));
    const got = await pool.allocate();
    assert.ok(got);
    open.add(got.handle);
    assert.equal(got.handle.address().family, 'IPv6');
    assert.equal(got.handle.address().address, '::');
  });

  test('exhaustion returns null; a released port can then be had again', async () => {
    const pool = new PortPool({ min: 22050, max: 22052 }, dgramBinder('::'));
    assert.deepEqual([await take(pool), await take(pool), await take(pool)], [22050, 22051, 22052]);
    assert.equal(await pool.allocate(), null);
    assert.equal(await pool.allocate(), null);
    assert.equal(pool.used, 3);
    await give(pool, 22051);
    assert.equal(await take(pool), 22051);
    assert.equal(await pool.allocate(), null);
  });

  test('a range where every port is held by others returns null and counts each failure', async () => {
    await hold(22060);
    await hold(22061);
    const pool = new PortPool({ min: 22060, max: 22061 }, dgramBinder('::'));
    assert.equal(await pool.allocate(), null);
    assert.equal(pool.bindFailures, 2);
    assert.equal(pool.used, 0);
  });

  test('a held port that is freed later is handed out on a later round', async () => {
    const holder = await hold(22071);
    const pool = new PortPool({ min: 22070, max: 22071 }, dgramBinder('::'));
    assert.equal(await take(pool), 22070);
    assert.equal(await pool.allocate(), null, '22070 in use, 22071 held');
    await closeSocket(holder);
    assert.equal(await take(pool), 22071);
  });

  test('concurrent allocations never get the same port', async () => {
    const pool = new PortPool({ min: 22100, max: 22119 }, dgramBinder('::'));
    const results = await Promise.all(Array.from({ length: 25 }, () => pool.allocate()));
    const ports: number[] = [];
    for (const r of results) {
      if (r === null) continue;
      open.add(r.handle);
      ports.push(r.port);
    }
    assert.equal(ports.length, 20);
    assert.equal(new Set(ports).size, 20);
    assert.equal(results.filter((r) => r === null).length, 5);
    for (const p of ports) assert.ok(p >= 22100 && p <= 22119);
  });

  test('a one-port range', async () => {
    const pool = new PortPool({ min: 22150, max: 22150 }, dgramBinder('::'));
    assert.equal(pool.size, 1);
    assert.equal(await take(pool), 22150);
    assert.equal(await pool.allocate(), null);
    await give(pool, 22150);
    assert.equal(await take(pool), 22150);
  });

  test('pairs: a pool with no free even/odd pair answers null without trying a bind, and finds the pair a release frees', async () => {
    let binds = 0;
    const pool = new PortPool<number>({ min: 22201, max: 22210 }, { bind: async (port) => { binds++; return port; }, unbind: () => {} });
    // 22201 has no even partner; the pairs are 22202/3 ... 22208/9 (four), 22210 has no odd partner.
    const got: number[] = [];
    for (let i = 0; i < 4; i++) got.push((await pool.allocatePair())!.rtp.port);
    assert.deepEqual(got.sort(), [22202, 22204, 22206, 22208]);
    assert.equal(pool.used, 8);
    const before = binds;
    assert.equal(await pool.allocatePair(), null);
    assert.equal(binds, before, 'a full pool is known without a scan or a bind');
    // A single port leaves its pair broken; the pair comes back once both are free.
    pool.release(22205);
    assert.equal(await pool.allocatePair(), null);
    pool.release(22204);
    assert.equal((await pool.allocatePair())!.rtp.port, 22204);
    // Single ports still come from anywhere free: the unpaired ends.
    const singles = [(await pool.allocate())!.port, (await pool.allocate())!.port].sort();
    assert.deepEqual(singles, [22201, 22210]);
    assert.equal(await pool.allocate(), null);
    assert.equal(pool.used, 10);
  });
});
