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
  test('hands out distinct ports of the range', async () => {
    const pool = new PortPool({ min: 22000, max: 22004 }, dgramBinder('::'));
    assert.equal(pool.size, 5);
    const got = [await take(pool), await take(pool), await take(pool)];
    assert.equal(new Set(got).size, 3);
    for (const p of got) assert.ok(p !== null && p >= 22000 && p <= 22004);
    assert.equal(pool.used, 3);
    assert.equal(pool.bindFailures, 0);
  });

  test('ports are chosen at random: the next port cannot be told from the last ones', async () => {
    const pool = new PortPool<number>({ min: 30000, max: 31999 }, { bind: async (port) => port, unbind: () => {} });
    const singles: number[] = [];
    for (let i = 0; i < 40; i++) singles.push((await pool.allocate())!.port);
    const steps = singles.slice(1).map((p, i) => p - singles[i]!);
    assert.ok(steps.filter((d) => d === 1).length <= 2, `successive ports ${singles.join(' ')}`);
    const pairs: number[] = [];
    for (let i = 0; i < 40; i++) pairs.push((await pool.allocatePair())!.rtp.port);
    const pairSteps = pairs.slice(1).map((p, i) => p - pairs[i]!);
    assert.ok(pairSteps.filter((d) => d === 2).length <= 2, `successive pairs ${pairs.join(' ')}`);
    assert.ok(pairs.every((p) => p % 2 === 0));
    // Two pools draw different sequences.
    const other = new PortPool<number>({ min: 30000, max: 31999 }, { bind: async (port) => port, unbind: () => {} });
    const again: number[] = [];
    for (let i = 0; i < 10; i++) again.push((await other.allocate())!.port);
    assert.notDeepEqual(again, singles.slice(0, 10));
  });

  test('a released port is not reused at once: the free ports go first, then the quarantined one', async () => {
    const pool = new PortPool({ min: 22010, max: 22013 }, dgramBinder('::'));
    const a = (await take(pool))!;
    const b = (await take(pool))!;
    await give(pool, a);
    assert.equal(pool.used, 1);
    const next = [(await take(pool))!, (await take(pool))!];
    assert.ok(!next.includes(a), `the freed ${a} waits while ${next.join(', ')} are free`);
    assert.deepEqual([a, b, ...next].sort(), [22010, 22011, 22012, 22013]);
    assert.equal(await take(pool), a, 'with nothing else free, the quarantined port is handed out');
    assert.equal(pool.used, 4);
    assert.equal(await pool.allocate(), null);
  });

  test('a pair freed is not the next pair handed out while others are free', async () => {
    const pool = new PortPool<number>({ min: 22400, max: 22419 }, { bind: async (port) => port, unbind: () => {} });
    for (let round = 0; round < 20; round++) {
      const got = (await pool.allocatePair())!;
      pool.release(got.rtp.port);
      pool.release(got.rtcp.port);
      const next = (await pool.allocatePair())!;
      assert.notEqual(next.rtp.port, got.rtp.port);
      pool.release(next.rtp.port);
      pool.release(next.rtcp.port);
    }
    assert.equal(pool.used, 0);
  });

  test('a port another socket holds is skipped and counted, never an error', async () => {
    await hold(22021);
    const pool = new PortPool({ min: 22020, max: 22023 }, dgramBinder('::'));
    const got = [await take(pool), await take(pool), await take(pool)];
    assert.deepEqual(got.sort(), [22020, 22022, 22023], '22021 is held by someone else');
    assert.equal(await pool.allocate(), null);
    assert.ok(pool.bindFailures >= 1);
    assert.equal(pool.used, 3, 'the unbindable port is not counted as used');
  });

  test('an IPv4 socket on the port also makes a dual-stack pool skip it', async () => {
    await hold(22031, '127.0.0.1');
    const pool = new PortPool({ min: 22030, max: 22032 }, dgramBinder('::'));
    assert.deepEqual([await take(pool), await take(pool)].sort(), [22030, 22032]);
    assert.equal(await pool.allocate(), null);
    assert.ok(pool.bindFailures >= 1);
  });

  test('an IPv4-only pool binds IPv4 sockets and skips held ports too', async () => {
    await hold(22040, '127.0.0.1');
    const pool = new PortPool({ min: 22040, max: 22041 }, dgramBinder('127.0.0.1'));
    const got = await pool.allocate();
    assert.ok(got);
    open.add(got.handle);
    assert.equal(got.port, 22041, '22040 is held');
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
    assert.deepEqual([await take(pool), await take(pool), await take(pool)].sort(), [22050, 22051, 22052]);
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
    assert.ok(pool.bindFailures >= 2, 'each port was tried');
    assert.equal(pool.used, 0);
  });

  test('a held port that is freed later is handed out on a later round', async () => {
    const holder = await hold(22071);
    const pool = new PortPool({ min: 22070, max: 22071 }, dgramBinder('::'));
    assert.equal(await take(pool), 22070, 'the only port that binds');
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
