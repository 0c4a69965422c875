/**
 * Two switchyard proxies and one redis-server: a SIPp phone registered at proxy A is called by a
 * SIPp caller at proxy B, and the INVITE reaches it through A (where it registered). A proxy
 * restart keeps the registrations; Redis that stops answering under a REGISTER load costs 503s
 * (fast, no crash), and once it answers again the bindings are all there and new ones are taken;
 * Redis restarted under a call load from B to a phone at A: calls meanwhile fail cleanly (503),
 * neither proxy crashes, and after it the phone's binding is there and calls complete.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { ProxyProcess, writeScript } from '../helpers/proxy-process.ts';
import { redisVersion, startRedis, type RedisServer } from '../helpers/redis.ts';
import { freePort } from '../helpers/ports.ts';
import { SipUa } from '../helpers/sip-ua.ts';
import { received, runSipp, sippVersion, startSipp, traceOf, waitUntil } from '../helpers/sipp.ts';

const LOOP = '127.0.0.1';

const script = (port: number, redisUrl: string): string => `import { defineProxy } from 'switchyard';
import { callRouting, dialog, registrar } from 'switchyard/modules';

export default defineProxy({
  listen: [{ dialect: 'sip', port: ${port}, advertise: '${LOOP}' }],
  modules: [registrar({ store: '${redisUrl}', nodeAddress: '${LOOP}:${port}' }), dialog(), callRouting()],
  routes: {
    async request(ctx) {
      const { msg } = ctx;
      if (msg.method === 'REGISTER') return ctx.register();
      if (msg.inDialog) return ctx.forwardCall();
      if (msg.method === 'INVITE') ctx.recordRoute();
      return ctx.forwardCall();
    },
  },
});
`;

let redis: RedisServer;
let portA = 0;
let portB = 0;
let proxyA: ProxyProcess;
let proxyB: ProxyProcess;
let fileA = '';
let fileB = '';

const start = (file: string): Promise<ProxyProcess> => ProxyProcess.start({ configFile: file, args: ['--no-warm-up'] });

let seq = 0;
/** One REGISTER from `ua` for `user` at `port`; resolves with the status code. */
async function register(ua: SipUa, port: number, user: string, expires = 3600): Promise<number> {
  const n = ++seq;
  ua.send(`REGISTER sip:${LOOP}:${port} SIP/2.0
Via: SIP/2.0/UDP ${ua.hostport};branch=z9hG4bKreg${n};rport
From: <sip:${user}@${LOOP}>;tag=r${n}
To: <sip:${user}@${LOOP}>
Call-ID: reg-${user}-${n}
CSeq: ${n} REGISTER
Contact: <sip:${user}@${ua.hostport}>
Expires: ${expires}
Max-Forwards: 70
Content-Length: 0

`, port);
  const reply = await ua.next(/^SIP\/2\.0 [2-6]\d\d/, 4000);
  return Number(reply.split(' ')[1]);
}

/** bob registered at A from `uasPort`, then called from a caller at B; returns what the callee received. */
function callBobViaB(uasPort: number): Promise<string> {
  return callBobViaBTo('bob', uasPort);
}

/** A call from a caller at B to `user` at `uasPort`; returns the INVITE the callee received. */
async function callBobViaBTo(user: string, uasPort: number): Promise<string> {
  const [uacPort] = [await freePort()];
  const uas = startSipp('uas.xml', ['-i', LOOP, '-p', String(uasPort), '-m', '1', '-key', 'mport', '24990']);
  const uac = await runSipp('uac.xml', [`${LOOP}:${portB}`, '-s', user, '-i', LOOP, '-p', String(uacPort), '-m', '1', '-d', '100', '-key', 'mport', '24992']);
  const callee = await uas.done;
  assert.equal(uac.code, 0, `caller: ${uac.output}`);
  assert.equal(callee.code, 0, `callee: ${callee.output}`);
  return received(uas.messages()).find((m) => m.startsWith('INVITE')) ?? '';
}

describe('two proxies sharing registrations in Redis', () => {
  before(async () => {
    sippVersion();
    redisVersion();
    // Persistent, as a deployment's: a restart keeps the bindings.
    redis = await startRedis({ persist: true });
    [portA, portB] = [await freePort(), await freePort()];
    fileA = writeScript('shared-a', script(portA, redis.url));
    fileB = writeScript('shared-b', script(portB, redis.url));
    [proxyA, proxyB] = await Promise.all([start(fileA), start(fileB)]);
  });
  after(async () => {
    await proxyA?.stop();
    await proxyB?.stop();
    await redis?.stop();
  });

  test('registered at A, called from B: the INVITE reaches the phone through A; a restart of A keeps the registration', async () => {
    const uasPort = await freePort();
    const reg = await runSipp('register_once.xml', [`${LOOP}:${portA}`, '-s', 'bob', '-i', LOOP, '-p', String(uasPort), '-m', '1']);
    assert.equal(reg.code, 0, reg.output);

    const invite = await callBobViaB(uasPort);
    const vias = invite.split('\n').filter((l) => /^Via:/i.test(l));
    assert.match(vias[0] ?? '', new RegExp(`127\\.0\\.0\\.1:${portA}`), `the top Via is A's: the phone got it from A\n${invite}`);
    assert.match(vias[1] ?? '', new RegExp(`127\\.0\\.0\\.1:${portB}`), 'then B\'s');

    assert.equal(await proxyA.stop(), 0);
    proxyA = await start(fileA);
    const again = await callBobViaB(uasPort);
    assert.match(again.split('\n').find((l) => /^Via:/i.test(l)) ?? '', new RegExp(`:${portA}`), 'after A restarted, still through A');
  });

  test('Redis stops answering under a REGISTER load: 503 fast, no crash; back: nothing lost, new registrations taken', async () => {
    const ua = await SipUa.open(LOOP);
    try {
      for (let i = 0; i < 20; i++) assert.equal(await register(ua, i % 2 === 0 ? portA : portB, `load${i}`), 200);
      process.kill(redis.pid(), 'SIGSTOP');
      try {
        const started = Date.now();
        const statuses: number[] = [];
        for (let i = 0; i < 6; i++) statuses.push(await register(ua, i % 2 === 0 ? portA : portB, `down${i}`));
        assert.deepEqual(statuses, [503, 503, 503, 503, 503, 503]);
        assert.ok(Date.now() - started < 6 * 2000, `each 503 within the store's command timeout (${Date.now() - started} ms for 6)`);
      } finally {
        process.kill(redis.pid(), 'SIGCONT');
      }
      // Back: the ioredis connections may have been dropped by the command timeouts; they reconnect.
      let ok = 0;
      const deadline = Date.now() + 10_000;
      while (ok === 0 && Date.now() < deadline) ok = (await register(ua, portB, 'after')) === 200 ? 1 : 0;
      assert.equal(ok, 1, 'a registration is taken again');
      assert.equal(await register(ua, portA, 'after-a'), 200);
      // Every binding made before the outage is there: an in-dialog-free probe, a REGISTER query (no Contact) per user.
      for (let i = 0; i < 20; i++) {
        const n = ++seq;
        ua.send(`REGISTER sip:${LOOP}:${portB} SIP/2.0
Via: SIP/2.0/UDP ${ua.hostport};branch=z9hG4bKq${n};rport
From: <sip:load${i}@${LOOP}>;tag=q${n}
To: <sip:load${i}@${LOOP}>
Call-ID: query-${n}
CSeq: 1 REGISTER
Max-Forwards: 70
Content-Length: 0

`, portB);
        const reply = await ua.next(/^SIP\/2\.0 200/, 4000);
        assert.match(reply, new RegExp(`Contact: <sip:load${i}@`), `load${i} is still registered`);
      }
      assert.equal(proxyA.child.exitCode, null, 'A is running');
      assert.equal(proxyB.child.exitCode, null, 'B is running');
    } finally {
      ua.close();
    }
  });

  test('Redis restarted under a call load: the calls meanwhile fail with 503, no crash; after it the binding is there and calls complete', async () => {
    const uasPort = await freePort();
    const reg = await runSipp('register_once.xml', [`${LOOP}:${portA}`, '-s', 'carol', '-i', LOOP, '-p', String(uasPort), '-m', '1']);
    assert.equal(reg.code, 0, reg.output);
    const uas = startSipp('uas.xml', ['-i', LOOP, '-p', String(uasPort), '-key', 'mport', '24994'], 60_000);
    const CALLS = 80;
    try {
      // 20 calls/s for 4 s, each 100 ms long, at most 10 at once: bounded whatever happens.
      const load = startSipp('uac.xml', [`${LOOP}:${portB}`, '-s', 'carol', '-i', LOOP, '-p', String(await freePort()), '-r', '20', '-m', String(CALLS), '-l', '10', '-d', '100', '-key', 'mport', '24996'], 30_000);
      await waitUntil(() => received(uas.messages()).filter((m) => m.startsWith('INVITE')).length >= 10, 10_000, 'ten calls through A before the restart');
      await redis.restart();
      const run = await load.done;
      // The cumulative column of SIPp's last statistics screen.
      const count = (name: string): number => Number([...run.output.matchAll(new RegExp(`${name}\\s*\\|\\s*\\d+\\s*\\|\\s*(\\d+)`, 'g'))].at(-1)?.[1] ?? NaN);
      const [ok, failed] = [count('Successful call'), count('Failed call')];
      assert.equal(ok + failed, CALLS, `every call ended one way or the other:\n${run.output}`);
      assert.ok(ok >= 10, `calls before the restart completed (${ok})`);
      assert.equal(proxyA.child.exitCode, null, 'A is running');
      assert.equal(proxyB.child.exitCode, null, 'B is running');
      // What failed was refused by the proxies while Redis was away, nothing else.
      const refusals = received(traceOf(run.dir)).filter((m) => /^SIP\/2\.0 [4-6]\d\d/.test(m)).map((m) => m.split(' ')[1]);
      assert.ok(refusals.every((code) => code === '503'), `only 503s: ${[...new Set(refusals)].join(', ')}`);
    } finally {
      uas.kill();
      await uas.done;
    }
    // After the restart: carol's binding is there (persisted), and a call from B reaches her through A.
    const after = await callBobViaBTo('carol', uasPort);
    assert.match(after.split('\n').find((l) => /^Via:/i.test(l)) ?? '', new RegExp(`:${portA}`), 'through A, from the binding made before the restart');
  });
});

