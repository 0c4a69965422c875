/**
 * The control API and /metrics with real SIP peers: a SIPp call through the proxy is listed by
 * `ctl calls` with its relay ports, /metrics moves by exactly its requests and responses, and
 * `ctl hangup` ends it: both SIPp sides receive a BYE inside the dialog and answer it, over UDP
 * and over TCP (on the connections the parties' signaling uses).
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { adminPort, ctl, ctlJson, moved, scrape } from '../helpers/admin.ts';
import { freePort, freeRange } from '../helpers/ports.ts';
import { ProxyProcess, writeScript } from '../helpers/proxy-process.ts';
import { received, runSipp, sentMessage, sippVersion, startSipp, traceOf, untilTcpListening } from '../helpers/sipp.ts';

const LOOP = '127.0.0.1';

const script = (mediaPorts: string): string => `import { defineProxy } from 'switchyard';
import { callRouting, dialog, mediaRelay, registrar } from 'switchyard/modules';

export default defineProxy({
  listen: [{ dialect: 'sip', port: 0, host: '${LOOP}', advertise: '${LOOP}', transports: ['udp', 'tcp'] }],
  modules: [registrar(), dialog(), callRouting(), mediaRelay({ ports: '${mediaPorts}', advertise: '${LOOP}' })],
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

interface Listed { callId: string; caller: string; callee: string; state: string; dialect: string; media: { sessions: { port: number }[] } | null }

describe('ctl and /metrics with SIPp', () => {
  let proxy: ProxyProcess;
  let admin: number;
  let remote: string;
  let media: { min: number; max: number };

  before(async () => {
    sippVersion();
    const range = await freeRange(100);
    const [min, max] = range.split('-').map(Number) as [number, number];
    media = { min, max };
    proxy = await ProxyProcess.start({ configFile: writeScript('admin-sipp', script(range)), args: ['--admin', `${LOOP}:0`, '--no-warm-up'] });
    admin = await adminPort(proxy);
    const sip = await proxy.waitForLog((l) => l.msg === 'listening' && l.dialect === 'sip' && l.transport !== 'tcp');
    remote = `${LOOP}:${sip.port as number}`;
  });
  after(async () => {
    assert.equal(await proxy.stop(), 0);
  });

  /** The first call `ctl calls` lists as confirmed. */
  async function confirmedCall(): Promise<Listed> {
    const end = Date.now() + 10_000;
    for (;;) {
      const { calls } = await ctlJson<{ calls: Listed[] }>(admin, ['calls']);
      const call = calls.find((c) => c.state === 'confirmed');
      if (call !== undefined) return call;
      if (Date.now() > end) assert.fail(`no call listed as confirmed: ${JSON.stringify(calls)}`);
    }
  }

  test('a SIPp call appears in ctl calls, /metrics counts its messages, and ctl hangup sends both parties a BYE', async () => {
    const [uasPort, uacPort] = [await freePort(LOOP), await freePort(LOOP)];
    const beforeRegister = await scrape(admin);
    const reg = await runSipp('register.xml', [remote, '-s', 'bob', '-i', LOOP, '-p', String(uasPort), '-m', '1', '-key', 'expires', '3600']);
    assert.equal(reg.code, 0, reg.output);
    const regs = await ctlJson<{ registrations: { user: string; contact: string; address: { port: number } }[] }>(admin, ['registrations', 'bob']);
    assert.equal(regs.registrations.length, 1);
    assert.equal(regs.registrations[0]!.address.port, uasPort);
    const registered = moved(beforeRegister, await scrape(admin));
    // register.xml registers, then asks for less than Min-Expires.
    assert.equal(registered['switchyard_requests_received_total{dialect="sip",method="REGISTER"}'], 2);
    assert.equal(registered['switchyard_sip_responses_sent_total{class="2xx"}'], 1);
    assert.equal(registered['switchyard_sip_responses_sent_total{class="4xx"}'], 1);
    assert.equal(registered['switchyard_registrations{dialect="sip"}'], 1);
    assert.equal(registered['switchyard_registered_users'], 1);

    const before = await scrape(admin);
    const uas = startSipp('uas.xml', ['-i', LOOP, '-p', String(uasPort), '-m', '1', '-key', 'mport', String(await freePort(LOOP))]);
    const uac = startSipp('uac_hangup.xml', [remote, '-s', 'bob', '-i', LOOP, '-p', String(uacPort), '-m', '1', '-key', 'mport', String(await freePort(LOOP))]);
    const listed = await confirmedCall();
    assert.deepEqual([listed.dialect, listed.caller, listed.callee], ['sip', 'caller', 'bob']);
    assert.equal(listed.media?.sessions.length, 2, 'RTP and RTCP relayed');
    assert.ok(listed.media!.sessions.every((s) => s.port >= media.min && s.port <= media.max));

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
    // Retransmissions over UDP would add to what each side sent once: there were none on loopback.
    assert.equal(delta['switchyard_sip_retransmissions_total{direction="received"}'], undefined, 'no request retransmitted');
    const messages = Object.fromEntries(Object.entries(delta).filter(([k]) => /^switchyard_(requests|responses)_received_total|^switchyard_sip_responses_sent_total/.test(k)));
    assert.deepEqual(messages, {
      'switchyard_requests_received_total{dialect="sip",method="INVITE"}': 1,
      'switchyard_requests_received_total{dialect="sip",method="ACK"}': 1,
      'switchyard_responses_received_total{dialect="sip",class="1xx"}': 1, // the callee's 180
      'switchyard_responses_received_total{dialect="sip",class="2xx"}': 3, // its 200 to the INVITE, both parties' 200 to the proxy's BYEs
      'switchyard_sip_responses_sent_total{class="1xx"}': 2, // 100 Trying, the 180 passed on
      'switchyard_sip_responses_sent_total{class="2xx"}': 1,
    });
    assert.deepEqual((await ctlJson<{ calls: unknown[] }>(admin, ['calls'])).calls, []);
  });

  test('the same over TCP: ctl hangup sends each party its BYE on the connection its signaling uses', async () => {
    const [uasPort, uacPort] = [await freePort(LOOP), await freePort(LOOP)];
    const reg = await runSipp('register_once.xml', [remote, '-t', 't1', '-s', 'tcpbob', '-i', LOOP, '-p', String(uasPort), '-m', '1']);
    assert.equal(reg.code, 0, reg.output);
    const uas = startSipp('uas.xml', ['-t', 't1', '-i', LOOP, '-p', String(uasPort), '-m', '1', '-key', 'mport', String(await freePort(LOOP))]);
    await untilTcpListening(uasPort);
    const uac = startSipp('uac_hangup.xml', [remote, '-t', 't1', '-s', 'tcpbob', '-i', LOOP, '-p', String(uacPort), '-m', '1', '-key', 'mport', String(await freePort(LOOP))]);
    const listed = await confirmedCall();
    assert.deepEqual([listed.caller, listed.callee], ['caller', 'tcpbob']);

    const hung = await ctl(admin, ['hangup', listed.callId]);
    assert.equal(hung.code, 0, hung.stderr);
    assert.match(hung.stdout, /ended: BYE answered by caller 200, callee 200/);
    const [a, b] = await Promise.all([uac.done, uas.done]);
    assert.equal(a.code, 0, `the caller got a BYE over TCP and answered it:\n${a.output}`);
    assert.equal(b.code, 0, `the callee got a BYE over TCP and answered it:\n${b.output}`);
    for (const side of [uac, uas]) {
      const trace = side.messages();
      const bye = received(trace).find((m) => m.startsWith('BYE '));
      assert.ok(bye, 'a BYE arrived');
      assert.match(bye, /\nVia: SIP\/2\.0\/TCP 127\.0\.0\.1:\d+;branch=z9hG4bK/);
      assert.match(sentMessage(trace, /^SIP\/2\.0 200 OK[\s\S]*CSeq: \d+ BYE/) ?? '', /^SIP\/2\.0 200/, 'answered 200');
    }
    assert.deepEqual((await ctlJson<{ calls: unknown[] }>(admin, ['calls'])).calls, []);
  });
});
