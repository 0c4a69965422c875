/**
 * The control API with real SIP peers: a SIPp call through the proxy is listed by `ctl calls`
 * with its relay ports, and `ctl hangup` ends it: both SIPp sides receive a BYE inside the
 * dialog and answer it, and /metrics counts the call as ended by the operator.
 */
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { after, before, describe, test } from 'node:test';
import { adminPort, ctl, ctlJson, moved, scrape } from '../helpers/admin.ts';
import { ProxyProcess, writeScript } from '../helpers/proxy-process.ts';
import { received, runSipp, sippVersion, startSipp } from '../helpers/sipp.ts';

const LOOP = '127.0.0.1';

const SCRIPT = `import { defineProxy } from 'switchyard';
import { callRouting, dialog, mediaRelay, registrar } from 'switchyard/modules';

export default defineProxy({
  listen: [{ dialect: 'sip', port: 0, host: '${LOOP}', advertise: '${LOOP}', transports: ['udp'] }],
  modules: [registrar(), dialog(), callRouting(), mediaRelay({ ports: '42400-42499', advertise: '${LOOP}' })],
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
`;

/** A UDP port free on loopback now (SIPp needs a number). */
function freePort(): Promise<number> {
  const s = dgram.createSocket('udp4');
  return new Promise((resolve) => s.bind(0, LOOP, () => {
    const { port } = s.address();
    s.close(() => resolve(port));
  }));
}

describe('ctl with SIPp', () => {
  let proxy: ProxyProcess;
  let admin: number;
  let remote: string;

  before(async () => {
    sippVersion();
    proxy = await ProxyProcess.start({ configFile: writeScript('admin-sipp', SCRIPT), args: ['--admin', `${LOOP}:0`, '--no-warm-up'] });
    admin = await adminPort(proxy);
    const sip = await proxy.waitForLog((l) => l.msg === 'listening' && l.dialect === 'sip');
    remote = `${LOOP}:${sip.port as number}`;
  });
  after(async () => {
    assert.equal(await proxy.stop(), 0);
  });

  test('a SIPp call appears in ctl calls, and ctl hangup sends both parties a BYE', async () => {
    const [uasPort, uacPort] = [await freePort(), await freePort()];
    const reg = await runSipp('register.xml', [remote, '-s', 'bob', '-i', LOOP, '-p', String(uasPort), '-m', '1', '-key', 'expires', '3600']);
    assert.equal(reg.code, 0, reg.output);
    const regs = await ctlJson<{ registrations: { user: string; contact: string; address: { port: number } }[] }>(admin, ['registrations', 'bob']);
    assert.equal(regs.registrations.length, 1);
    assert.equal(regs.registrations[0]!.address.port, uasPort);

    const before = await scrape(admin);
    const uas = startSipp('uas.xml', ['-i', LOOP, '-p', String(uasPort), '-m', '1', '-key', 'mport', String(await freePort())]);
    const uac = startSipp('uac_hangup.xml', [remote, '-s', 'bob', '-i', LOOP, '-p', String(uacPort), '-m', '1', '-key', 'mport', String(await freePort())]);
    interface Listed { callId: string; caller: string; callee: string; state: string; dialect: string; media: { sessions: { port: number }[] } | null }
    let listed: Listed | undefined;
    const end = Date.now() + 10_000;
    while (listed === undefined && Date.now() < end) {
      const { calls } = await ctlJson<{ calls: Listed[] }>(admin, ['calls']);
      listed = calls.find((c) => c.state === 'confirmed');
    }
    assert.ok(listed, 'the call is listed as confirmed');
    assert.deepEqual([listed.dialect, listed.caller, listed.callee], ['sip', 'caller', 'bob']);
    assert.equal(listed.media?.sessions.length, 2, 'RTP and RTCP relayed');
    assert.ok(listed.media!.sessions.every((s) => s.port >= 42400 && s.port <= 42499));

    const hung = await ctl(admin, ['hangup', listed.callId]);
    assert.equal(hung.code, 0, hung.stderr);
    assert.match(hung.stdout, /ended: BYE answered by caller 200, callee 200/);
    const [a, b] = await Promise.all([uac.done, uas.done]);
    assert.equal(a.code, 0, `the caller got a BYE and answered it:\n${a.output}`);
    assert.equal(b.code, 0, `the callee got a BYE and answered it:\n${b.output}`);
    for (const side of [uac, uas]) {
      const bye = received(side.messages()).find((m) => m.startsWith('BYE '));
      assert.ok(bye, 'a BYE arrived');
      assert.match(bye, new RegExp(`Call-ID: ${listed.callId.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));
      assert.match(bye, /User-Agent: switchyard/);
    }
    const delta = moved(before, await scrape(admin));
    assert.equal(delta['switchyard_calls_started_total{dialect="sip"}'], 1);
    assert.equal(delta['switchyard_calls_answered_total{dialect="sip"}'], 1);
    assert.equal(delta['switchyard_calls_ended_total{reason="terminated"}'], 1);
    assert.equal(delta['switchyard_media_sessions_started_total'], 2);
    assert.deepEqual((await ctlJson<{ calls: unknown[] }>(admin, ['calls'])).calls, []);
  });
});
