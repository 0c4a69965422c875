/**
 * Registrations survive the proxy (issue 17, item 18): a SIP phone registered by SIPp and a
 * plain-protocol user are reachable after the proxy is killed with SIGKILL and started again on
 * the same state folder; a user that unregistered stays gone; a record torn by the crash is
 * left out with a warning, and a proxy that stops normally keeps them too.
 */
import assert from 'node:assert/strict';
import { appendFileSync, existsSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { PlainUser } from '../helpers/plain-client.ts';
import { freePort, freeRange } from '../helpers/ports.ts';
import { freshStateDir, ProxyProcess, writeScript } from '../helpers/proxy-process.ts';
import { SipUa } from '../helpers/sip-ua.ts';
import { runSipp, sippVersion, startSipp } from '../helpers/sipp.ts';

const LOOP = '127.0.0.1';
const SIP = await freePort();
const PLAIN = await freePort();
const STATE = freshStateDir();
const FILE = path.join(STATE, 'registrations.journal');
const env = { ...process.env, SWITCHYARD_STATE_DIR: STATE };

const SCRIPT = writeScript('registrations-restart', `import { defineProxy } from 'switchyard';
import { callRouting, dialog, mediaRelay, registrar } from 'switchyard/modules';

export default defineProxy({
  listen: [{ dialect: 'sip', port: ${SIP}, advertise: '${LOOP}' }, { dialect: 'plain', port: ${PLAIN} }],
  modules: [registrar(), dialog(), callRouting(), mediaRelay({ ports: '${await freeRange(20)}', advertise: '${LOOP}' })],
  routes: {
    request(ctx) {
      const { msg } = ctx;
      if (msg.method === 'REGISTER') return ctx.register();
      if (msg.inDialog) return ctx.forwardCall();
      if (msg.method === 'INVITE') {
        ctx.engageMediaProxy();
        ctx.recordRoute();
      }
      return ctx.forwardCall();
    },
  },
});
`);

let proxy: ProxyProcess;
let sipUa: SipUa;
let pat: PlainUser | undefined;
let seq = 0;

before(async () => {
  sippVersion();
  sipUa = await SipUa.open(LOOP);
});
after(async () => {
  sipUa.close();
  await pat?.close();
  if (proxy !== undefined) await proxy.stop();
});

function start(): Promise<ProxyProcess> {
  return ProxyProcess.start({ configFile: SCRIPT, env, args: ['--no-warm-up'] });
}

/** A REGISTER of `user` at the test's SIP socket, Expires `expires`; resolves with the status line. */
async function registerSip(user: string, expires: number): Promise<string> {
  const n = ++seq;
  sipUa.send([
    `REGISTER sip:${LOOP}:${SIP} SIP/2.0`, `Via: SIP/2.0/UDP ${sipUa.hostport};branch=z9hG4bK-rr${n};rport`, 'Max-Forwards: 70',
    `From: <sip:${user}@${LOOP}>;tag=r${n}`, `To: <sip:${user}@${LOOP}>`, `Call-ID: rr-${user}@test`, `CSeq: ${n} REGISTER`,
    `Contact: <sip:${user}@${sipUa.hostport}>`, `Expires: ${expires}`, 'Content-Length: 0', '', '',
  ].join('\r\n'), SIP, LOOP);
  return (await sipUa.next(/^SIP\/2\.0 /)).split('\r\n')[0]!;
}

/** An INVITE to `user` from the test's SIP socket; the status of the final answer. */
async function inviteStatus(user: string): Promise<string> {
  const n = ++seq;
  sipUa.send([
    `INVITE sip:${user}@${LOOP}:${SIP} SIP/2.0`, `Via: SIP/2.0/UDP ${sipUa.hostport};branch=z9hG4bK-ri${n};rport`, 'Max-Forwards: 70',
    `From: <sip:probe@${LOOP}>;tag=i${n}`, `To: <sip:${user}@${LOOP}>`, `Call-ID: ri-${n}@test`, 'CSeq: 1 INVITE',
    `Contact: <sip:probe@${sipUa.hostport}>`, 'Content-Length: 0', '', '',
  ].join('\r\n'), SIP, LOOP);
  return (await sipUa.next(/^SIP\/2\.0 [2-6]/)).split(' ')[1]!;
}

/** SIPp calls `user`, answered by a SIPp UAS on `uasPort` (where the user registered). */
async function sippCall(user: string, uasPort: number): Promise<void> {
  const [media] = (await freeRange(4)).split('-');
  const uas = startSipp('uas.xml', ['-i', LOOP, '-p', String(UAS), '-m', '1', '-key', 'mport', media!]);
  try {
    await new Promise((r) => setTimeout(r, 300));
    const uac = await runSipp('uac.xml', [`${LOOP}:${SIP}`, '-s', user, '-i', LOOP, '-p', String(await freePort()), '-m', '1', '-d', '100', '-key', 'mport', String(Number(media) + 2)]);
    assert.equal(uac.code, 0, `caller: ${uac.output}`);
    assert.equal((await uas.done).code, 0, 'callee');
  } finally {
    uas.kill();
  }
}

const UAS = await freePort();

describe('registrations across a crash and a restart', () => {

  test('registered before SIGKILL: a SIP phone (SIPp) and a plain user; one user unregistered', async () => {
    proxy = await start();
    const reg = await runSipp('register_once.xml', [`${LOOP}:${SIP}`, '-s', 'bob', '-i', LOOP, '-p', String(UAS), '-m', '1']);
    assert.equal(reg.code, 0, reg.output);
    pat = await PlainUser.register('pat', PLAIN);
    assert.match(await registerSip('carol', 600), / 200 /);
    assert.match(await registerSip('carol', 0), / 200 /);
    proxy.child.kill('SIGKILL');
    assert.equal(await proxy.stop(), null, 'killed, no clean shutdown');
    assert.ok(existsSync(`${FILE}.lock`), 'the lock the killed process left');
  });

  test('after a restart, a call to each still reaches it; the unregistered user is not found', async () => {
    // What a crash in the middle of a write leaves at the end of the file.
    appendFileSync(FILE, '["eve",[["sip","sip:udp:5060","127.0.0.1",50');
    proxy = await start();
    const restored = await proxy.waitForLog((l) => l.msg === 'registrations restored');
    assert.equal(restored.users, 2);
    assert.ok(proxy.logs.some((l) => typeof l.msg === 'string' && l.msg.includes('cut short')), 'the torn record is reported');
    await sippCall('bob', UAS);
    const quinn = await PlainUser.register('quinn', PLAIN);
    await quinn.send('CALL FROM:quinn TO:pat\n');
    assert.equal(await pat!.next(), 'CALL FROM:quinn TO:pat\n', 'the plain user is reached at the address it registered from');
    await pat!.send('CALL_FAILED FROM:pat TO:quinn busy\n');
    assert.equal(await quinn.next(), 'CALL_FAILED FROM:pat TO:quinn busy\n');
    await quinn.close();
    assert.equal(await inviteStatus('carol'), '404');
    assert.equal(await inviteStatus('eve'), '404');
  });

  test('a clean stop keeps them as well', async () => {
    assert.equal(await proxy.stop(), 0);
    assert.equal(existsSync(`${FILE}.lock`), false, 'the lock is released');
    proxy = await start();
    assert.equal((await proxy.waitForLog((l) => l.msg === 'registrations restored')).users, 3, 'bob, pat and quinn');
    await sippCall('bob', UAS);
  });
});
