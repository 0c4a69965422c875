/**
 * switchyard's media-relay module with a set of two remote relays over NG, one switchyard relay
 * node and one real rtpengine, and SIPp calls through the proxy: new calls are spread by weight
 * and their media flows through the relay that took them; a relay killed mid-test takes no new
 * call, signaling is not stalled (a call that tries it fails over within the command deadline),
 * its call is ended with a BYE to each party, and media of a call on the other relay goes on
 * untouched.
 */
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { after, before, describe, test } from 'node:test';
import { ProxyProcess, writeScript } from '../helpers/proxy-process.ts';
import { startRelayNode, type RelayNodeProcess } from '../helpers/relay-node.ts';
import { freePort } from '../helpers/ports.ts';
import { rtpengineMissing, startRtpengine, type Rtpengine } from '../helpers/rtpengine.ts';
import { receivedMediaPort, runSipp, sippVersion, startSipp, waitUntil, type SippProcess } from '../helpers/sipp.ts';

const LOOP = '127.0.0.1';
const TIMEOUT_MS = 400;

const script = (port: number, node: number, rtpe: number): string => `import { defineProxy } from 'switchyard';
import { callRouting, dialog, mediaRelay, registrar } from 'switchyard/modules';

export default defineProxy({
  listen: [{ dialect: 'sip', port: ${port}, advertise: '${LOOP}' }],
  modules: [
    registrar(), dialog(), callRouting(),
    mediaRelay({
      relays: [{ name: 'node', ng: '${LOOP}:${node}', weight: 1 }, { name: 'rtpe', ng: '${LOOP}:${rtpe}', weight: 1 }],
      remote: { timeoutMs: ${TIMEOUT_MS}, tries: 2, pingIntervalSec: 0.2, maxBackoffSec: 0.5, lostAfterFailures: 3 },
    }),
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

const missing = rtpengineMissing();
let rtpe: Rtpengine;
let node: RelayNodeProcess;
let proxy: ProxyProcess;
let proxyPort = 0;

interface Call {
  readonly uac: SippProcess;
  readonly uas: SippProcess;
  readonly callId: string;
  readonly relay: string;
  readonly toCaller: number;
  readonly toCallee: number;
  /** INVITE sent to ACK sent, ms. */
  readonly setupMs: number;
  readonly caller: dgram.Socket;
  readonly callee: dgram.Socket;
}

async function udp(): Promise<dgram.Socket> {
  const s = dgram.createSocket('udp4');
  await new Promise<void>((r) => s.bind(0, LOOP, r));
  return s;
}

/**
 * A SIPp call to bob through the proxy, up until the caller's ACK; it hangs up after `holdMs`,
 * or (`byeIn`) waits for the proxy to end it.
 */
async function call(holdMs: number, byeIn = false): Promise<Call> {
  const [caller, callee] = [await udp(), await udp()];
  const [uasPort, uacPort] = [await freePort(), await freePort()];
  await runSipp('register_once.xml', [`${LOOP}:${proxyPort}`, '-s', 'bob', '-i', LOOP, '-p', String(uasPort), '-m', '1']).then((r) => assert.equal(r.code, 0, r.output));
  const uas = startSipp('uas.xml', ['-i', LOOP, '-p', String(uasPort), '-m', '1', '-key', 'mport', String(callee.address().port)]);
  const placedBefore = proxy.logs.length;
  const started = Date.now();
  const uac = startSipp(byeIn ? 'uac_bye_in.xml' : 'uac.xml', [`${LOOP}:${proxyPort}`, '-s', 'bob', '-i', LOOP, '-p', String(uacPort), '-m', '1', '-d', String(holdMs), '-key', 'mport', String(caller.address().port)], 30_000);
  await waitUntil(() => /ACK sip:/.test(uac.messages()), 10_000, 'the caller to send its ACK');
  const setupMs = Date.now() - started;
  const placed = await proxy.waitForLog((l) => l.msg === 'call placed on media relay', 3000, placedBefore);
  const toCaller = receivedMediaPort(uac.messages(), /^SIP\/2\.0 200/);
  const toCallee = receivedMediaPort(uas.messages(), /^INVITE/);
  assert.ok(toCaller !== null && toCallee !== null);
  return { uac, uas, callId: String(placed.callId), relay: String(placed.relay), toCaller, toCallee, setupMs, caller, callee };
}

function rangeOf(relay: string): { min: number; max: number } {
  return relay === 'node' ? node.media : rtpe.media;
}

/** Sends `n` RTP packets each way, 20 ms apart; resolves with how many each side got from the relay. */
async function media(c: Call, n: number, seq0 = 0): Promise<{ atCaller: number; atCallee: number }> {
  let atCaller = 0;
  let atCallee = 0;
  const onCaller = (_m: Buffer, r: dgram.RemoteInfo): void => { if (r.port === c.toCaller) atCaller++; };
  const onCallee = (_m: Buffer, r: dgram.RemoteInfo): void => { if (r.port === c.toCallee) atCallee++; };
  c.caller.on('message', onCaller);
  c.callee.on('message', onCallee);
  try {
    for (let i = 0; i < n; i++) {
      const rtp = Buffer.alloc(172);
      rtp[0] = 0x80;
      rtp.writeUInt16BE(seq0 + i, 2);
      rtp.writeUInt32BE(0x1000, 8);
      c.caller.send(rtp, c.toCaller, LOOP);
      const back = Buffer.from(rtp);
      back.writeUInt32BE(0x2000, 8);
      c.callee.send(back, c.toCallee, LOOP);
      await new Promise((r) => setTimeout(r, 20));
    }
    await waitUntil(() => atCaller >= n && atCallee >= n, 2000, 'RTP both ways').catch(() => undefined);
    return { atCaller, atCallee };
  } finally {
    c.caller.off('message', onCaller);
    c.callee.off('message', onCallee);
  }
}

async function hangUp(c: Call): Promise<void> {
  const [a, b] = await Promise.all([c.uac.done, c.uas.done]);
  c.caller.close();
  c.callee.close();
  assert.equal(a.code, 0, `caller: ${a.output}`);
  assert.equal(b.code, 0, `callee: ${b.output}`);
}

describe('remote relays over NG: a switchyard relay node and rtpengine in one set', { skip: missing ?? false }, () => {
  before(async () => {
    sippVersion();
    [rtpe, node] = await Promise.all([startRtpengine(), startRelayNode(['--advertise', LOOP])]);
    proxyPort = await freePort();
    proxy = await ProxyProcess.start({ configFile: writeScript('remote-relays', script(proxyPort, node.ngPort, rtpe.ngPort)), args: ['--no-warm-up'] });
  });
  after(async () => {
    await proxy?.stop();
    await node?.stop();
    await rtpe?.stop();
  });

  test('calls alternate between the two relays (equal weights) and media flows through each', async () => {
    const seen: string[] = [];
    for (let i = 0; i < 4; i++) {
      const c = await call(600);
      try {
        seen.push(c.relay);
        const { min, max } = rangeOf(c.relay);
        assert.ok(c.toCaller >= min && c.toCaller <= max, `the caller's SDP names ${c.relay}'s ports (${c.toCaller})`);
        assert.ok(c.toCallee >= min && c.toCallee <= max, `the callee's SDP names ${c.relay}'s ports (${c.toCallee})`);
        const got = await media(c, 10);
        assert.deepEqual(got, { atCaller: 10, atCallee: 10 }, `media both ways through ${c.relay}`);
      } finally {
        await hangUp(c);
      }
    }
    assert.deepEqual([...seen].sort(), ['node', 'node', 'rtpe', 'rtpe'], `spread: ${seen.join(', ')}`);
  });

  test('a relay killed mid-test: its call ends with BYE to both parties, new calls go to the other, signaling is not stalled, media there is untouched', async () => {
    // Two calls that wait for the proxy to end them: equal weights put one on each relay.
    const long = [await call(0, true), await call(0, true)];
    const onNode = long.find((c) => c.relay === 'node');
    const onRtpe = long.find((c) => c.relay === 'rtpe');
    assert.ok(onNode !== undefined && onRtpe !== undefined, `one call on each relay: ${long.map((c) => c.relay).join(', ')}`);
    assert.deepEqual(await media(onNode, 5), { atCaller: 5, atCallee: 5 });
    const flowing = media(onRtpe, 150); // 3 s of packets across the kill
    const logFrom = proxy.logs.length;
    await node.stop('SIGKILL');
    const after: Call[] = [];
    try {
      for (let i = 0; i < 3; i++) {
        const c = await call(300);
        after.push(c);
        assert.equal(c.relay, 'rtpe', 'new calls go to the live relay');
        assert.ok(c.setupMs < 3 * TIMEOUT_MS + 2000, `call set up in ${c.setupMs} ms: a dead relay costs at most its command deadline`);
        assert.deepEqual(await media(c, 5), { atCaller: 5, atCallee: 5 });
      }
      // The node's call: both parties get a BYE from the proxy and answer it.
      const [a, b] = await Promise.all([onNode.uac.done, onNode.uas.done]);
      assert.equal(a.code, 0, `the caller got the proxy's BYE: ${a.output}`);
      assert.equal(b.code, 0, `the callee got the proxy's BYE: ${b.output}`);
      const ended = await proxy.waitForLog((l) => l.msg === 'call ended: its media relay was lost' && l.callId === onNode.callId, 10_000, logFrom);
      assert.deepEqual([ended.callee, ended.caller], [200, 200]);
      assert.deepEqual(await flowing, { atCaller: 150, atCallee: 150 }, 'the call on rtpengine kept its media');
      assert.equal(onRtpe.uac.messages().match(/BYE sip:/g), null, 'the call on the live relay was not ended');
    } finally {
      for (const c of after) await hangUp(c);
      for (const c of long) {
        c.uac.kill();
        c.uas.kill();
        c.caller.close();
        c.callee.close();
      }
    }
  });
});
