/**
 * Concurrent REGISTERs of one user through a running proxy: two phones of each user register
 * different contacts at the same moment, so both REGISTERs are handled in one batch of the
 * native signaling socket. Each must see the other's contact: a query afterwards lists both.
 * (The js UDP engine hands datagrams to the route one at a time; there they never share a
 * batch, and SWITCHYARD_REQUIRE_NATIVE=1 makes that a failure.)
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { ProxyProcess, writeScript } from '../helpers/proxy-process.ts';
import { SipUa, header, headers } from '../helpers/sip-ua.ts';

const LOOP = '127.0.0.1';
const USERS = 40;

const SCRIPT = `import { defineProxy } from 'switchyard';
import { registrar } from 'switchyard/modules';

export default defineProxy({
  listen: [{ dialect: 'sip', host: '${LOOP}', port: 0, transports: ['udp'] }],
  modules: [registrar()],
  // 80 REGISTERs reach a cold proxy in one instant: on a busy machine they can wait in the queue
  // past maxQueueDelayMs, and overload control would rightly refuse some. Not what is tested here.
  overload: { enabled: false },
  routes: {
    request(ctx) {
      if (ctx.msg.method === 'REGISTER') return ctx.register();
      return ctx.respond(501);
    },
  },
});
`;

let proxy: ProxyProcess;
let port = 0;
let udpEngine = '';
before(async () => {
  proxy = await ProxyProcess.start({ configFile: writeScript('registrar-race', SCRIPT), args: ['--no-warm-up', '--no-watch'] });
  const listening = await proxy.waitForLog((l) => l.msg === 'listening' && l.transport === 'udp');
  port = Number(listening.port);
  udpEngine = String(listening.udpEngine);
  assert.ok(port > 0, 'the proxy reports the port it bound');
  if (process.env.SWITCHYARD_REQUIRE_NATIVE === '1') assert.equal(udpEngine, 'native', 'SWITCHYARD_REQUIRE_NATIVE=1: the native UDP engine');
});
after(async () => { assert.equal(await proxy.stop(), 0); });

function register(ua: SipUa, user: string, callId: string, contact: string | null): string {
  return [
    `REGISTER sip:${LOOP}:${port} SIP/2.0`,
    `Via: SIP/2.0/UDP ${ua.hostport};branch=z9hG4bK-${callId};rport`,
    'Max-Forwards: 70',
    `From: <sip:${user}@${LOOP}>;tag=${callId}`,
    `To: <sip:${user}@${LOOP}>`,
    `Call-ID: ${callId}`,
    'CSeq: 1 REGISTER',
    ...(contact === null ? [] : [`Contact: <${contact}>`, 'Expires: 600']),
    'Content-Length: 0', '', '',
  ].join('\r\n');
}

/** The Contact URIs a 200 lists. */
function listed(reply: string): string[] {
  return headers(reply, 'Contact').map((v) => /^<([^>]*)>/.exec(v)?.[1] ?? v).sort();
}

/** Collects `n` responses on `ua`, keyed by Call-ID. */
async function responses(ua: SipUa, n: number): Promise<Map<string, string>> {
  const got = new Map<string, string>();
  while (got.size < n) {
    const r = await ua.next(/^SIP\/2\.0 /, 5000);
    got.set(header(r, 'Call-ID')!, r);
  }
  return got;
}

describe('registrar under concurrent REGISTERs', () => {
  test('two phones of one user registering in the same instant both stay bound', async (t) => {
    const [desk, mobile] = await Promise.all([SipUa.open(LOOP), SipUa.open(LOOP)]);
    t.after(() => { desk.close(); mobile.close(); });
    if (udpEngine !== 'native') t.diagnostic(`udpEngine ${udpEngine}: the REGISTERs are not handled in one batch`);
    const users = Array.from({ length: USERS }, (_, i) => `race${i}`);
    const contactOf = (ua: SipUa, user: string): string => `sip:${user}@${ua.hostport}`;
    const deskAnswers = responses(desk, USERS);
    const mobileAnswers = responses(mobile, USERS);
    // Back to back in one tick, alternating phones: they reach the proxy together.
    for (const user of users) {
      desk.send(register(desk, user, `desk-${user}`, contactOf(desk, user)), port, LOOP);
      mobile.send(register(mobile, user, `mobile-${user}`, contactOf(mobile, user)), port, LOOP);
    }
    for (const answers of [await deskAnswers, await mobileAnswers]) {
      for (const [callId, r] of answers) assert.match(r, /^SIP\/2\.0 200 /, `REGISTER ${callId} is accepted`);
    }

    const queries = responses(desk, USERS);
    for (const user of users) desk.send(register(desk, user, `query-${user}`, null), port, LOOP);
    const answered = await queries;
    const lost = users.filter((user) => listed(answered.get(`query-${user}`)!).length !== 2);
    assert.deepEqual(lost, [], 'every user keeps both contacts');
    for (const user of users) {
      assert.deepEqual(listed(answered.get(`query-${user}`)!), [contactOf(desk, user), contactOf(mobile, user)].sort());
    }
  });
});
