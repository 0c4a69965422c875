/**
 * Forged responses (issue 17, item 11): a response to a forwarded request is taken only from the
 * address the request went to, and branches are random, so a stranger cannot answer (or end)
 * someone else's call; the real callee still can.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { ProxyProcess, writeScript } from '../helpers/proxy-process.ts';
import { answer, header, SipUa } from '../helpers/sip-ua.ts';

const LOOP = '127.0.0.1';
const PROXY = 62460;

const SCRIPT = `import { defineProxy } from 'switchyard';
import { callRouting, registrar } from 'switchyard/modules';

export default defineProxy({
  listen: [{ dialect: 'sip', port: ${PROXY}, advertise: '${LOOP}', transports: ['udp'] }],
  modules: [registrar(), callRouting({ relayFrom: ['127.0.0.1'] })],
  routes: { request(ctx) { return ctx.forwardCall(); } },
});
`;

let proxy: ProxyProcess;
let caller: SipUa;
let callee: SipUa;
let stranger: SipUa;

before(async () => {
  proxy = await ProxyProcess.start({ configFile: writeScript('sip-forged', SCRIPT) });
  [caller, callee, stranger] = await Promise.all([SipUa.open(LOOP), SipUa.open(LOOP), SipUa.open('127.0.0.2')]);
});
after(async () => {
  for (const u of [caller, callee, stranger]) u.close();
  assert.equal(await proxy.stop(), 0);
});

function invite(n: number): string {
  return [
    `INVITE sip:bob@${callee.hostport} SIP/2.0`, `Via: SIP/2.0/UDP ${caller.hostport};branch=z9hG4bK-f${n};rport`, 'Max-Forwards: 70',
    `From: <sip:alice@${LOOP}>;tag=a${n}`, `To: <sip:bob@${callee.hostport}>`, `Call-ID: forged-${n}@test`, 'CSeq: 1 INVITE',
    `Contact: <sip:alice@${caller.hostport}>`, 'Content-Length: 0', '', '',
  ].join('\r\n');
}

describe('forged responses', () => {
  test('a 486 from another address than the callee\'s is ignored; the callee\'s own answers go through', async () => {
    caller.send(invite(1), PROXY);
    const forwarded = await callee.next(/^INVITE /);
    // The stranger knows everything the forwarded INVITE carries, branch included.
    for (let i = 0; i < 5; i++) stranger.send(answer(forwarded, '486 Busy Here', { tag: 'evil' }), PROXY, LOOP);
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(caller.inbox.filter((m) => /^SIP\/2\.0 486 /.test(m)).length, 0, 'the forged 486 did not reach the caller');
    callee.send(answer(forwarded, '180 Ringing', { tag: 'bob' }), PROXY);
    await caller.next(/^SIP\/2\.0 180 /);
    callee.send(answer(forwarded, '603 Decline', { tag: 'bob' }), PROXY);
    const final = await caller.next(/^SIP\/2\.0 [3-6]\d\d /);
    assert.match(final, /^SIP\/2\.0 603 /, 'the callee\'s own answer ends the call');
  });

  test('a stray response that names the proxy in its top Via is not bounced to the Via after it', async () => {
    const victim = await SipUa.open(LOOP);
    try {
      for (const branch of ['z9hG4bK-stray', 'z9hG4bKmadeup.1']) {
        stranger.send([
          'SIP/2.0 200 OK', `Via: SIP/2.0/UDP ${LOOP}:${PROXY};branch=${branch}`, `Via: SIP/2.0/UDP ${victim.hostport};branch=z9hG4bK-v`,
          `From: <sip:a@${LOOP}>;tag=1`, `To: <sip:b@${LOOP}>;tag=2`, 'Call-ID: stray@test', 'CSeq: 1 INVITE', 'Content-Length: 0', '', '',
        ].join('\r\n'), PROXY, LOOP);
      }
      await new Promise((r) => setTimeout(r, 300));
      assert.deepEqual(victim.inbox, [], 'nothing reached the address in the second Via');
    } finally {
      victim.close();
    }
  });

  test('branches are random, not a counter', async () => {
    const branches: string[] = [];
    for (const n of [2, 3]) {
      caller.send(invite(n), PROXY);
      const forwarded = await callee.next(/^INVITE /);
      branches.push(/branch=([^;,\s]+)/.exec(header(forwarded, 'Via')!)![1]!);
      callee.send(answer(forwarded, '486 Busy Here', { tag: 'bob' }), PROXY);
      await caller.next(/^SIP\/2\.0 486 /);
    }
    const [a, b] = branches.map((x) => x.split('.')[1]!);
    assert.ok(a!.length >= 12 && b!.length >= 12, `random parts ${a} ${b}`);
    assert.notEqual(a!.slice(0, 6), b!.slice(0, 6), 'consecutive branches share no counter prefix');
  });
});
