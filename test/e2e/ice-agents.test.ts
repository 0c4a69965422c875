/**
 * Two real ICE agents (werift-ice) exchange offer and answer through switchyard's SIP path,
 * which adds the relay as a candidate. With their direct candidates reachable and low-priority
 * hints they connect directly; with the direct candidates unreachable they connect through
 * the relay candidate, the relay passing their STUN checks and data untouched.
 * Loopback only: each agent's host candidate is announced on 127.0.0.1, where it is bound.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { Candidate, Connection } from 'werift-ice';
import { ProxyProcess, writeScript } from '../helpers/proxy-process.ts';
import { freePort, freeRange } from '../helpers/ports.ts';
import { SipUa, answer } from '../helpers/sip-ua.ts';

const LOOP = '127.0.0.1';
const PROXY = await freePort();
const CLOSED_PORT = 9; // nothing listens there: a direct path that does not work

const SCRIPT = `import { defineProxy } from 'switchyard';
import { callRouting, dialog, iceHints, mediaRelay, registrar } from 'switchyard/modules';

export default defineProxy({
  listen: [{ dialect: 'sip', port: ${PROXY}, advertise: '${LOOP}' }],
  modules: [registrar(), dialog(), callRouting(), iceHints({ candidate: 'low-priority' }), mediaRelay({ ports: '${await freeRange(100)}', advertise: '${LOOP}' })],
  routes: {
    request(ctx) {
      if (ctx.msg.method === 'REGISTER') return ctx.register();
      if (ctx.msg.inDialog) return ctx.forwardCall();
      if (ctx.msg.method === 'INVITE') {
        ctx.engageMediaProxy();
        ctx.recordRoute();
      }
      return ctx.forwardCall();
    },
  },
});
`;

let proxy: ProxyProcess;
let seq = 0;
before(async () => { proxy = await ProxyProcess.start({ configFile: writeScript('ice-agents', SCRIPT) }); });
after(async () => { assert.equal(await proxy.stop(), 0); });

interface Agent {
  readonly ice: Connection;
  readonly host: Candidate;
}

async function agent(controlling: boolean): Promise<Agent> {
  const ice = new Connection(controlling, { useIpv4: true, useIpv6: false, interfaceAddresses: { udp4: LOOP } });
  await ice.gatherCandidates();
  const own = ice.localCandidates.find((c) => c.type === 'host');
  assert.ok(own !== undefined, 'a host candidate');
  // The socket is bound to 127.0.0.1: announce it there, so every check stays on loopback.
  return { ice, host: Candidate.fromSdp(own.toSdp().replace(/ \d+\.\d+\.\d+\.\d+ (\d+) typ/, ` ${LOOP} $1 typ`)) };
}

function sdpOf(a: Agent): string {
  return [
    'v=0', `o=- ${++seq} 1 IN IP4 ${LOOP}`, 's=-', `c=IN IP4 ${LOOP}`, 't=0 0',
    `a=ice-ufrag:${a.ice.localUsername}`, `a=ice-pwd:${a.ice.localPassword}`,
    `m=audio ${a.host.port} RTP/AVP 0`, 'a=rtcp-mux', `a=candidate:${a.host.toSdp()}`, '',
  ].join('\r\n');
}

/** Gives an agent what the SDP it received says; `blockDirect` points the peer's own candidates at a closed port. */
async function learn(a: Agent, sdp: string, blockDirect: boolean): Promise<Candidate[]> {
  const ufrag = /a=ice-ufrag:(\S+)/.exec(sdp)![1]!;
  const pwd = /a=ice-pwd:(\S+)/.exec(sdp)![1]!;
  a.ice.setRemoteParams({ iceLite: false, usernameFragment: ufrag, password: pwd });
  const cands = [...sdp.matchAll(/a=candidate:([^\r\n]+)/g)].map((m) => {
    const c = Candidate.fromSdp(m[1]!);
    if (blockDirect && c.type !== 'relay') c.port = CLOSED_PORT;
    return c;
  });
  for (const c of cands) await a.ice.addRemoteCandidate(c);
  await a.ice.addRemoteCandidate(undefined);
  return cands;
}

function body(msg: string): string {
  return msg.slice(msg.indexOf('\r\n\r\n') + 4);
}

/** A call whose offer and answer cross the proxy; returns what each agent received and the relay's port. */
async function callThroughProxy(blockDirect: boolean, callee: string): Promise<{ a: Agent; b: Agent; relayPort: number; close: () => Promise<void> }> {
  const [callerUa, calleeUa] = await Promise.all([SipUa.open(), SipUa.open()]);
  calleeUa.send([
    `REGISTER sip:${LOOP}:${PROXY} SIP/2.0`, `Via: SIP/2.0/UDP ${calleeUa.hostport};branch=z9hG4bK-agreg${++seq};rport`, 'Max-Forwards: 70',
    `From: <sip:${callee}@${LOOP}>;tag=r${seq}`, `To: <sip:${callee}@${LOOP}>`, `Call-ID: agreg-${seq}`, 'CSeq: 1 REGISTER',
    `Contact: <sip:${callee}@${calleeUa.hostport}>`, 'Expires: 60', 'Content-Length: 0', '', '',
  ].join('\r\n'), PROXY);
  assert.match(await calleeUa.next(/^SIP\/2\.0 /), /^SIP\/2\.0 200/);
  const [a, b] = await Promise.all([agent(true), agent(false)]);
  const offer = sdpOf(a);
  callerUa.send([
    `INVITE sip:${callee}@${LOOP}:${PROXY} SIP/2.0`, `Via: SIP/2.0/UDP ${callerUa.hostport};branch=z9hG4bK-aginv${++seq};rport`, 'Max-Forwards: 70',
    `From: <sip:caller@${LOOP}>;tag=c${seq}`, `To: <sip:${callee}@${LOOP}>`, `Call-ID: agcall-${seq}`, 'CSeq: 1 INVITE',
    `Contact: <sip:caller@${callerUa.hostport}>`, 'Content-Type: application/sdp', `Content-Length: ${Buffer.byteLength(offer)}`, '', offer,
  ].join('\r\n'), PROXY);
  const invite = await calleeUa.next(/^INVITE /);
  const toB = await learn(b, body(invite), blockDirect);
  const relay = toB.find((c) => c.type === 'relay');
  assert.ok(relay !== undefined && relay.host === LOOP, 'the callee sees the relay as a candidate');
  calleeUa.send(answer(invite, '200 OK', { tag: 'agb', contact: `sip:${callee}@${calleeUa.hostport}`, body: sdpOf(b) }), PROXY);
  const ok = await callerUa.next(/^SIP\/2\.0 200/);
  const toA = await learn(a, body(ok), blockDirect);
  assert.ok(toA.some((c) => c.type === 'relay' && c.port === relay.port), 'the caller sees the same relay candidate');
  return {
    a, b, relayPort: relay.port,
    close: async () => {
      await Promise.all([a.ice.close(), b.ice.close()]);
      callerUa.close();
      calleeUa.close();
    },
  };
}

async function connectAndTalk(a: Agent, b: Agent): Promise<void> {
  await Promise.race([
    Promise.all([a.ice.connect(), b.ice.connect()]),
    new Promise((_, reject) => setTimeout(() => reject(new Error('ICE did not connect within 15 s')), 15_000)),
  ]);
  const got = new Promise<string>((resolve) => b.ice.onData.subscribe((d) => resolve(d.toString())));
  await a.ice.send(Buffer.from('media after ICE'));
  assert.equal(await got, 'media after ICE');
}

test('direct candidates reachable, relay hinted low-priority: the agents connect directly', async () => {
  const call = await callThroughProxy(false, 'agdirect');
  try {
    await connectAndTalk(call.a, call.b);
    const chosen = call.a.ice.nominated!.remoteCandidate;
    assert.equal(chosen.type, 'host');
    assert.equal(chosen.port, call.b.host.port, 'the pair is host to host, not through the relay');
  } finally {
    await call.close();
  }
});

test('direct candidates unreachable: the agents connect through the relay candidate', async () => {
  const call = await callThroughProxy(true, 'agrelay');
  try {
    await connectAndTalk(call.a, call.b);
    const chosen = call.a.ice.nominated!.remoteCandidate;
    assert.equal(chosen.port, call.relayPort, 'the nominated pair goes to the relay');
    assert.equal(chosen.type, 'relay');
  } finally {
    await call.close();
  }
});
