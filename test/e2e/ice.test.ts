/**
 * ICE hints end to end: SIPp calls whose SDP carries ICE get the relay as a candidate of the
 * class the script chose (per call, here by callee), or none; and the STUN Binding responder
 * on the signaling ports answers over IPv4 and IPv6.
 */
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { after, before, describe, test } from 'node:test';
import { ProxyProcess, writeScript } from '../helpers/proxy-process.ts';
import { freePort, freeRange } from '../helpers/ports.ts';
import { received, runSipp, sippVersion, startSipp, traceOf } from '../helpers/sipp.ts';
import { bindingRequest, mappedAddress } from '../helpers/stun-client.ts';

const LOOP = '127.0.0.1';
const PROXY = await freePort();
const PLAIN = await freePort();
const UAS = await freePort();
const UAC = await freePort();

const SCRIPT = `import { defineProxy } from 'switchyard';
import { callRouting, dialog, iceHints, mediaRelay, registrar } from 'switchyard/modules';

export default defineProxy({
  listen: [
    { dialect: 'sip', port: ${PROXY}, advertise: '${LOOP}', stun: true },
    { dialect: 'plain', port: ${PLAIN}, stun: true },
  ],
  modules: [registrar(), dialog(), callRouting(), iceHints({ candidate: 'low-priority' }), mediaRelay({ ports: '${await freeRange(100)}', advertise: '${LOOP}' })],
  routes: {
    request(ctx) {
      const { msg } = ctx;
      if (msg.method === 'REGISTER') return ctx.register();
      if (msg.inDialog) return ctx.forwardCall();
      if (msg.method === 'INVITE') {
        ctx.engageMediaProxy();
        ctx.recordRoute();
        // The candidate class per call: the module's default, or what the callee's name asks for.
        if (msg.ruri.user === 'high') ctx.setIceHints({ candidate: 'high-priority' });
        if (msg.ruri.user === 'none') ctx.setIceHints({ candidate: 'none' });
      }
      return ctx.forwardCall();
    },
  },
});
`;

let proxy: ProxyProcess;
before(async () => {
  sippVersion();
  proxy = await ProxyProcess.start({ configFile: writeScript('ice', SCRIPT) });
});
after(async () => { assert.equal(await proxy.stop(), 0); });

/** The relay candidates (component, priority, address, port) in the first received message whose start line matches. */
function relayCandidates(trace: string, startLine: RegExp): { component: number; priority: number; address: string; port: number }[] {
  const msg = received(trace).find((m) => startLine.test(m.split('\n')[0] ?? ''));
  assert.ok(msg !== undefined, `no received message matching ${startLine}`);
  return [...msg.matchAll(/\na=candidate:\S+ (\d) UDP (\d+) (\S+) (\d+) typ relay/g)].map((m) => ({ component: Number(m[1]), priority: Number(m[2]), address: m[3]!, port: Number(m[4]) }));
}

async function iceCall(user: string): Promise<{ toCallee: ReturnType<typeof relayCandidates>; toCaller: ReturnType<typeof relayCandidates> }> {
  const reg = await runSipp('register_once.xml', [`${LOOP}:${PROXY}`, '-s', user, '-i', LOOP, '-p', String(UAS), '-m', '1']);
  assert.equal(reg.code, 0, reg.output);
  const uas = startSipp('uas_ice.xml', ['-i', LOOP, '-p', String(UAS), '-m', '1', '-key', 'mport', String(await freePort())]);
  await new Promise((r) => setTimeout(r, 300));
  const mport = Number((await freeRange(2)).split('-')[0]); // RTP and RTCP on consecutive ports
  const uac = await runSipp('uac_ice.xml', [`${LOOP}:${PROXY}`, '-s', user, '-i', LOOP, '-p', String(UAC), '-m', '1', '-d', '100', '-key', 'mport', String(mport), '-key', 'mrtcp', String(mport + 1)]);
  const s = await uas.done;
  assert.equal(uac.code, 0, `caller: ${uac.output}`);
  assert.equal(s.code, 0, `callee: ${s.output}`);
  return { toCallee: relayCandidates(traceOf(s.dir), /^INVITE/), toCaller: relayCandidates(traceOf(uac.dir), /^SIP\/2\.0 200/) };
}

describe('ICE candidate hints through SIPp', () => {
  test('low-priority (the module default): a relay candidate per component below the client\'s own', async () => {
    const { toCallee, toCaller } = await iceCall('low');
    assert.deepEqual(toCallee.map((c) => c.component), [1, 2], 'RTP and RTCP for the offer without rtcp-mux');
    assert.deepEqual(toCaller.map((c) => c.component), [1], 'RTP only for the rtcp-mux answer');
    for (const c of [...toCallee, ...toCaller]) {
      assert.equal(c.address, LOOP);
      assert.ok(c.priority < 1694498815, `below the srflx candidate (${c.priority})`);
    }
    assert.equal(toCallee[1]!.port, toCallee[0]!.port + 1, 'RTCP candidate on the relay RTCP port');
  });

  test('high-priority, chosen per call by the script: above every candidate the client offered', async () => {
    const { toCallee, toCaller } = await iceCall('high');
    assert.ok(toCallee.length === 2 && toCaller.length === 1);
    // The offered host candidates: 2130706431 (RTP), 2130706430 (RTCP).
    const host = (component: number): number => (component === 1 ? 2130706431 : 2130706430);
    for (const c of [...toCallee, ...toCaller]) assert.ok(c.priority > host(c.component), `above the host candidate of component ${c.component} (${c.priority})`);
  });

  test('none: the SDP keeps only the client\'s candidates', async () => {
    const { toCallee, toCaller } = await iceCall('none');
    assert.deepEqual(toCallee, []);
    assert.deepEqual(toCaller, []);
  });
});

describe('STUN on the signaling ports', () => {
  async function ask(family: 4 | 6, port: number, request: Buffer): Promise<{ res: Buffer | null; local: number }> {
    const s = family === 4 ? dgram.createSocket('udp4') : dgram.createSocket({ type: 'udp6', ipv6Only: true });
    await new Promise<void>((r) => s.bind(0, family === 4 ? LOOP : '::1', r));
    const local = s.address().port;
    const res = new Promise<Buffer | null>((resolve) => {
      const t = setTimeout(() => resolve(null), 500);
      s.once('message', (m) => { clearTimeout(t); resolve(m); });
    });
    s.send(request, port, family === 4 ? LOOP : '::1');
    const out = { res: await res, local };
    s.close();
    return out;
  }

  test('a Binding request over IPv4 and IPv6, on the SIP and the plain port, gets the mapped address back', async () => {
    for (const port of [PROXY, PLAIN]) {
      const v4 = await ask(4, port, bindingRequest({ fingerprint: true }));
      assert.ok(v4.res !== null, `an answer on ${port} over IPv4`);
      assert.deepEqual(mappedAddress(v4.res), { address: LOOP, port: v4.local });
      const v6 = await ask(6, port, bindingRequest());
      assert.ok(v6.res !== null, `an answer on ${port} over IPv6`);
      assert.deepEqual(mappedAddress(v6.res), { address: '::1', port: v6.local });
    }
  });

  test('malformed STUN gets no answer, and the listener goes on serving its dialect', async () => {
    const bad = bindingRequest({ fingerprint: true });
    bad[bad.length - 1]! ^= 1;
    assert.equal((await ask(4, PROXY, bad)).res, null);
    const reg = await ask(4, PLAIN, Buffer.from('REGISTER stunner'));
    assert.equal(reg.res?.toString(), 'ACK_REGISTER stunner');
  });
});
