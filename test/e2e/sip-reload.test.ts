/**
 * A SIP call keeps the script generation that armed its failure route: a reload while it rings
 * changes what new calls get, not what the ringing call's failure route does.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { after, before, test } from 'node:test';
import { ProxyProcess, writeScript } from '../helpers/proxy-process.ts';
import { freePort, freeRange } from '../helpers/ports.ts';
import { SipUa, answer } from '../helpers/sip-ua.ts';

const LOOP = '127.0.0.1';
const PROXY = await freePort();

const script = (generation: string): string => `import { defineProxy } from 'switchyard';
import { callRouting, dialog, registrar } from 'switchyard/modules';

export default defineProxy({
  listen: [{ dialect: 'sip', port: ${PROXY}, advertise: '${LOOP}' }],
  modules: [registrar(), dialog(), callRouting()],
  routes: {
    request(ctx) {
      if (ctx.msg.method === 'REGISTER') return ctx.register();
      if (ctx.msg.inDialog) return ctx.forwardCall();
      return ctx.forwardCall({ onFailure: 'busy' });
    },
    failure: {
      busy(ctx) {
        return ctx.respond(480, '${generation} says later');
      },
    },
  },
});
`;

let proxy: ProxyProcess;
let file: string;
let seq = 0;
before(async () => {
  file = writeScript('sip-reload', script('first'));
  proxy = await ProxyProcess.start({ configFile: file });
});
after(async () => { assert.equal(await proxy.stop(), 0); });

function invite(ua: SipUa, user: string): string {
  seq++;
  return [
    `INVITE sip:${user}@${LOOP}:${PROXY} SIP/2.0`, `Via: SIP/2.0/UDP ${ua.hostport};branch=z9hG4bK-rl${seq};rport`, 'Max-Forwards: 70',
    `From: <sip:caller@${LOOP}>;tag=rl${seq}`, `To: <sip:${user}@${LOOP}>`, `Call-ID: reload-${seq}`, 'CSeq: 1 INVITE', 'Content-Length: 0', '', '',
  ].join('\r\n');
}

test('a ringing call runs the failure route of the script that forwarded it; the next call runs the new one', async () => {
  const [caller, phone] = await Promise.all([SipUa.open(), SipUa.open()]);
  phone.send([
    `REGISTER sip:${LOOP}:${PROXY} SIP/2.0`, `Via: SIP/2.0/UDP ${phone.hostport};branch=z9hG4bK-rlreg;rport`, 'Max-Forwards: 70',
    `From: <sip:ring@${LOOP}>;tag=r`, `To: <sip:ring@${LOOP}>`, 'Call-ID: rl-reg', 'CSeq: 1 REGISTER', `Contact: <sip:ring@${phone.hostport}>`, 'Content-Length: 0', '', '',
  ].join('\r\n'), PROXY);
  assert.match(await phone.next(/^SIP\/2\.0/), /^SIP\/2\.0 200/);

  caller.send(invite(caller, 'ring'), PROXY);
  const ringing = await phone.next(/^INVITE /);
  phone.send(answer(ringing, '180 Ringing', { tag: 'p' }), PROXY);
  await caller.next(/^SIP\/2\.0 180/);

  const from = proxy.logs.length;
  writeFileSync(file, script('second'));
  await proxy.waitForLog((l) => l.msg === 'script reloaded', 8000, from);

  phone.send(answer(ringing, '486 Busy Here', { tag: 'p' }), PROXY);
  assert.match(await caller.next(/^SIP\/2\.0 4/), /^SIP\/2\.0 480 first says later\r\n/, 'generation 1 handles the call it armed');

  caller.send(invite(caller, 'ring'), PROXY);
  const next = await phone.next(/^INVITE /);
  phone.send(answer(next, '486 Busy Here', { tag: 'q' }), PROXY);
  assert.match(await caller.next(/^SIP\/2\.0 4/), /^SIP\/2\.0 480 second says later\r\n/, 'a new call gets generation 2');
  caller.close();
  phone.close();
});
