/**
 * Reflection (issue 17, item 14): a 260-byte REGISTER query returned a 49.8 KB 200; ten contacts
 * registered at a victim's address made one INVITE send it sixty; STUN answered without a limit;
 * a stray 2xx went to whatever its second Via named. Now a user's bindings (and so the 200
 * listing them) are bounded in bytes, an INVITE rings at most one unverified contact per address,
 * STUN answers are rate-limited per source, and a response goes on only for a transaction this
 * proxy has, to where that transaction's request came from (a repeated 2xx still reaches the
 * caller). A call through the same proxy works.
 */
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { after, before, describe, test } from 'node:test';
import { legitCall } from '../helpers/legit-call.ts';
import { freePort, freeRange } from '../helpers/ports.ts';
import { ProxyProcess, writeScript } from '../helpers/proxy-process.ts';
import { placeCall, registerAt, sipRequest } from '../helpers/sip-call.ts';
import { answer, header, SipUa } from '../helpers/sip-ua.ts';
import { sippVersion } from '../helpers/sipp.ts';
import { bindingRequest } from '../helpers/stun-client.ts';

const LOOP = '127.0.0.1';
const PROXY = await freePort();

let proxy: ProxyProcess;

before(async () => {
  sippVersion();
  const script = `import { defineProxy } from 'switchyard';
import { callRouting, dialog, mediaRelay, registrar } from 'switchyard/modules';

export default defineProxy({
  listen: [{ dialect: 'sip', port: ${PROXY}, advertise: '${LOOP}', transports: ['udp'], stun: true }],
  modules: [registrar(), dialog(), callRouting(), mediaRelay({ ports: '${await freeRange(40)}', advertise: '${LOOP}' })],
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
  proxy = await ProxyProcess.start({ configFile: writeScript('sip-reflection', script) });
});
after(async () => {
  assert.equal(await proxy.stop(), 0);
});

describe('the proxy is no amplifier', () => {
  test('a REGISTER query is answered with at most the 4 KB a user may hold, not tens of KB', async () => {
    const ua = await SipUa.open('127.0.0.2');
    try {
      const contact = (i: number, pad: number): string => `<sip:amp-${i}@${ua.hostport};pad=${'p'.repeat(pad)}>`;
      ua.send(sipRequest(ua, PROXY, 'REGISTER', { to: 'amp', extra: [`Contact: ${Array.from({ length: 10 }, (_, i) => contact(i, 4400)).join(', ')}`] }), PROXY, LOOP);
      assert.match(await ua.next(/^SIP\/2\.0 [2-6]\d\d /), /^SIP\/2\.0 403 Registration Too Large/);
      ua.send(sipRequest(ua, PROXY, 'REGISTER', { to: 'amp', extra: [`Contact: ${Array.from({ length: 3 }, (_, i) => contact(i, 1000)).join(', ')}`] }), PROXY, LOOP);
      assert.match(await ua.next(/^SIP\/2\.0 [2-6]\d\d /), /^SIP\/2\.0 200 /);
      const query = sipRequest(ua, PROXY, 'REGISTER', { to: 'amp' });
      ua.send(query, PROXY, LOOP);
      const listed = await ua.next(/^SIP\/2\.0 [2-6]\d\d /);
      assert.match(listed, /^SIP\/2\.0 200 /);
      assert.equal((listed.match(/\r\nContact: /g) ?? []).length, 3);
      const ratio = Buffer.byteLength(listed, 'latin1') / Buffer.byteLength(query, 'latin1');
      assert.ok(Buffer.byteLength(listed, 'latin1') < 5000, `a ${Buffer.byteLength(query)}-byte query got ${Buffer.byteLength(listed, 'latin1')} bytes`);
      assert.ok(ratio < 20, `amplification ${ratio.toFixed(1)}`);
    } finally {
      ua.close();
    }
  });

  test('ten contacts registered at one address that never answered: one INVITE reaches one of them', async () => {
    const victims = await Promise.all(Array.from({ length: 10 }, () => SipUa.open('127.0.0.5')));
    const caller = await SipUa.open(LOOP);
    try {
      // Each REGISTER "from the victim" (a forged source, on the wire).
      for (const v of victims) {
        v.send(sipRequest(v, PROXY, 'REGISTER', { to: 'victim', extra: [`Contact: <sip:victim@${v.hostport}>`] }), PROXY, LOOP);
        assert.match(await v.next(/^SIP\/2\.0 [2-6]\d\d /), /^SIP\/2\.0 200 /);
      }
      caller.send(sipRequest(caller, PROXY, 'INVITE', { to: 'victim' }), PROXY, LOOP);
      // The first INVITE, then its first two retransmissions (Timer A: 0.5 s, 1 s later).
      const first = await new Promise<SipUa>((resolve) => {
        for (const v of victims) v.socket.on('message', (b) => { if (b.toString('latin1').startsWith('INVITE ')) resolve(v); });
      });
      for (let i = 0; i < 3; i++) await first.next(/^INVITE /, 3000);
      const reached = victims.filter((v) => v === first || v.inbox.some((m) => m.startsWith('INVITE ')));
      assert.equal(reached.length, 1, `INVITEs reached ${reached.length} of the ten contacts`);
      await proxy.waitForLog((l) => l.msg === 'call rings fewer contacts: several unverified ones at one address' && l.skipped === 9);
    } finally {
      for (const v of victims) v.close();
      caller.close();
    }
  });

  test('STUN: a burst of Binding requests from one source gets at most a burst of answers; another source is answered', async () => {
    const flood = dgram.createSocket('udp4');
    await new Promise<void>((r) => flood.bind(0, '127.0.0.6', r));
    let answers = 0;
    flood.on('message', () => { answers++; });
    try {
      for (let i = 0; i < 200; i++) flood.send(bindingRequest(), PROXY, LOOP);
      const other = dgram.createSocket('udp4');
      await new Promise<void>((r) => other.bind(0, '127.0.0.7', r));
      const answered = new Promise<Buffer>((resolve) => other.once('message', resolve));
      other.send(bindingRequest(), PROXY, LOOP); // sent after the flood: answered after it
      await answered;
      other.close();
      assert.ok(answers >= 1 && answers <= 12, `answers to 200 requests from one source: ${answers}`);
      await proxy.waitForLog((l) => l.msg === 'STUN answers held back: a source past its rate');
    } finally {
      flood.close();
    }
  });

  test('a response for no transaction of this proxy goes nowhere; a callee\'s repeated 200 still reaches the caller', async () => {
    const [caller, callee, forger, victim] = await Promise.all([SipUa.open(LOOP), SipUa.open(LOOP), SipUa.open('127.0.0.8'), SipUa.open('127.0.0.9')]);
    try {
      await registerAt(callee, PROXY, 'echo');
      const call = await placeCall(caller, callee, PROXY, 'echo');
      // The callee saw the proxy's branch prefix; a 200 under it with a made-up rest names the victim next.
      const ours = /branch=(z9hG4bK[^.;]+\.)/.exec(header(call.invite, 'Via')!)![1]!;
      for (const branch of [`${ours}madeup123456`, 'z9hG4bK-stray']) {
        forger.send([
          'SIP/2.0 200 OK', `Via: SIP/2.0/UDP ${LOOP}:${PROXY};branch=${branch}`, `Via: SIP/2.0/UDP ${victim.hostport};branch=z9hG4bK-v`,
          `From: <sip:a@${LOOP}>;tag=1`, `To: <sip:b@${LOOP}>;tag=2`, 'Call-ID: stray@test', 'CSeq: 1 INVITE', 'Content-Length: 0', '', '',
        ].join('\r\n'), PROXY, LOOP);
      }
      // The callee repeats its 200 (as it does until the ACK it may have missed): the caller gets it again, relayed as before.
      callee.send(answer(call.invite, '200 OK', { tag: /tag=([^;\r]+)/.exec(header(call.ok, 'To')!)![1]!, contact: `sip:echo@${callee.hostport}`, body: call.ok.slice(call.ok.indexOf('\r\n\r\n') + 4) }), PROXY, LOOP);
      const again = await caller.next(/^SIP\/2\.0 200 /);
      assert.equal(again, call.ok, 'the same 200 the caller got first');
      assert.deepEqual(victim.inbox, [], 'nothing reached the address in the second Via');
      caller.send(call.fromCaller('BYE', 2), PROXY, LOOP);
      callee.send(answer(await callee.next(/^BYE /), '200 OK'), PROXY, LOOP);
      await caller.next(/^SIP\/2\.0 200 /);
    } finally {
      for (const u of [caller, callee, forger, victim]) u.close();
    }
  });

  test('a call through the same proxy works', async () => {
    await legitCall(PROXY, { uas: await freePort(), uac: await freePort(), media: Number((await freeRange(4)).split('-')[0]) }, 'carol');
  });
});
