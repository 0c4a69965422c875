/**
 * A proxy restarted mid-call while its media is on a remote relay node: the media goes on
 * through the restart (the node carries it), the registration is kept (Redis), and the BYE
 * that comes after the restart still ends the call on the node (the call's relay is kept in
 * Redis: remote.callStore).
 */
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { after, before, test } from 'node:test';
import { NgClient } from '../../modules/media-relay/ng/client.ts';
import { ProxyProcess, writeScript } from '../helpers/proxy-process.ts';
import { redisVersion, startRedis, type RedisServer } from '../helpers/redis.ts';
import { startRelayNode, type RelayNodeProcess } from '../helpers/relay-node.ts';
import { freePort } from '../helpers/ports.ts';
import { receivedMediaPort, runSipp, sippVersion, startSipp, waitUntil } from '../helpers/sipp.ts';

const LOOP = '127.0.0.1';

const script = (port: number, ng: number, redisUrl: string): string => `import { defineProxy } from 'switchyard';
import { callRouting, dialog, mediaRelay, registrar } from 'switchyard/modules';

export default defineProxy({
  listen: [{ dialect: 'sip', port: ${port}, advertise: '${LOOP}' }],
  // The BYE after the restart comes by the Record-Route the first process marked: one key for both.
  sip: { routeSecret: 'remote-media-restart-route-secret-0123' },
  modules: [
    registrar({ store: '${redisUrl}' }), dialog(), callRouting(),
    mediaRelay({ relays: [{ name: 'node', ng: '${LOOP}:${ng}' }], remote: { callStore: '${redisUrl}' } }),
  ],
  routes: {
    async request(ctx) {
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

let redis: RedisServer;
let node: RelayNodeProcess;
let ng: NgClient;
let proxy: ProxyProcess;
let file = '';
let port = 0;

before(async () => {
  sippVersion();
  redisVersion();
  [redis, node] = await Promise.all([startRedis(), startRelayNode(['--advertise', LOOP])]);
  ng = await NgClient.open({ host: LOOP, port: node.ngPort });
  port = await freePort();
  file = writeScript('remote-media-restart', script(port, node.ngPort, redis.url));
  proxy = await ProxyProcess.start({ configFile: file, args: ['--no-warm-up'] });
});

after(async () => {
  await proxy?.stop();
  await ng?.close();
  await node?.stop();
  await redis?.stop();
});

test('media uninterrupted across a proxy restart; the BYE after it ends the call on the relay node', async () => {
  const [caller, callee] = [dgram.createSocket('udp4'), dgram.createSocket('udp4')];
  await Promise.all([new Promise<void>((r) => caller.bind(0, LOOP, r)), new Promise<void>((r) => callee.bind(0, LOOP, r))]);
  const [uasPort, uacPort] = [await freePort(), await freePort()];
  const reg = await runSipp('register_once.xml', [`${LOOP}:${port}`, '-s', 'bob', '-i', LOOP, '-p', String(uasPort), '-m', '1']);
  assert.equal(reg.code, 0, reg.output);
  const uas = startSipp('uas.xml', ['-i', LOOP, '-p', String(uasPort), '-m', '1', '-key', 'mport', String(callee.address().port)], 30_000);
  const uac = startSipp('uac.xml', [`${LOOP}:${port}`, '-s', 'bob', '-i', LOOP, '-p', String(uacPort), '-m', '1', '-d', '7000', '-key', 'mport', String(caller.address().port)], 30_000);
  let sending: NodeJS.Timeout | undefined;
  try {
    await waitUntil(() => /ACK sip:/.test(uac.messages()), 10_000, 'the caller to send its ACK');
    const toCaller = receivedMediaPort(uac.messages(), /^SIP\/2\.0 200/)!;
    const toCallee = receivedMediaPort(uas.messages(), /^INVITE/)!;
    assert.ok(toCaller >= node.media.min && toCaller <= node.media.max, 'media goes through the node');
    const listed = await ng.list();
    assert.ok(listed.ok && listed.value.length === 1);
    const callId = listed.value[0]!;

    // 20 ms RTP both ways for the rest of the call.
    let sent = 0;
    const got = { caller: 0, callee: 0 };
    caller.on('message', () => { got.caller++; });
    callee.on('message', () => { got.callee++; });
    sending = setInterval(() => {
      const rtp = Buffer.alloc(172);
      rtp[0] = 0x80;
      rtp.writeUInt16BE(sent & 0xffff, 2);
      caller.send(rtp, toCaller, LOOP);
      callee.send(rtp, toCallee, LOOP);
      sent++;
    }, 20);

    await waitUntil(() => got.callee >= 10, 2000, 'media before the restart');
    assert.equal(await proxy.stop(), 0);
    const duringStop = { sent, callee: got.callee };
    proxy = await ProxyProcess.start({ configFile: file, args: ['--no-warm-up'] });
    await waitUntil(() => sent > duringStop.sent + 50, 5000, 'a second of media after the restart');
    clearInterval(sending);
    sending = undefined;
    await waitUntil(() => got.caller === sent && got.callee === sent, 2000, `every packet through (sent ${sent}, got ${got.caller}/${got.callee})`).catch(() => undefined);
    assert.deepEqual(got, { caller: sent, callee: sent }, 'no packet lost across the restart');
    assert.ok(got.callee > duringStop.callee, 'packets kept arriving while the proxy was down and restarting');

    const [c, s] = await Promise.all([uac.done, uas.done]);
    assert.equal(c.code, 0, `caller: ${c.output}`);
    assert.equal(s.code, 0, `callee: ${s.output}`);
    await proxy.waitForLog((l) => l.msg === 'ending a call placed before a restart' && l.callId === callId, 3000);
    let gone = false;
    const deadline = Date.now() + 3000;
    while (!gone && Date.now() < deadline) {
      const q = await ng.query({ callId });
      gone = !q.ok && q.error.reason === 'Unknown call-id';
      if (!gone) await new Promise((r) => setTimeout(r, 50));
    }
    assert.ok(gone, 'the BYE after the restart deleted the call on the node');
  } finally {
    if (sending !== undefined) clearInterval(sending);
    uac.kill();
    uas.kill();
    caller.close();
    callee.close();
  }
});
