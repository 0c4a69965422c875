/**
 * Registration lockout (issue 17, item 16): one socket could fill the location table with
 * REGISTERs of made-up users (plain bindings never expire), and large contacts made each user
 * cost kilobytes. Now each dialect holds at most plainMaxUsersPerSource / sipMaxUsersPerSource
 * users per source IP (the defaults, 1000, here), one user's bindings at most maxBytesPerUser
 * bytes (403), and the table at most maxBytes (503 for a REGISTER that would add a binding); a
 * user registered before keeps being called, through the same proxy.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { legitCall, legitRegistration, type LegitPorts } from '../helpers/legit-call.ts';
import { freePort, freeRange } from '../helpers/ports.ts';
import { ProxyProcess, writeScript } from '../helpers/proxy-process.ts';
import { answersTo, sipRequest } from '../helpers/sip-call.ts';
import { SipUa } from '../helpers/sip-ua.ts';
import { sippVersion } from '../helpers/sipp.ts';
import { UdpPeer } from '../helpers/udp-peer.ts';

const LOOP = '127.0.0.1';
const SIP = await freePort();
const MAX_BYTES = 1_000_000;

let proxy: ProxyProcess;
let plainPort = 0;
let legit: LegitPorts;

before(async () => {
  sippVersion();
  const script = `import { defineProxy } from 'switchyard';
import { callRouting, dialog, mediaRelay, registrar } from 'switchyard/modules';

export default defineProxy({
  listen: [{ dialect: 'plain', port: 0 }, { dialect: 'sip', port: ${SIP}, advertise: '${LOOP}', transports: ['udp'] }],
  modules: [registrar({ maxBytes: ${MAX_BYTES} }), dialog(), callRouting(), mediaRelay({ ports: '${await freeRange(40)}', advertise: '${LOOP}' })],
  // The floods here test the registrar's limits: on a busy machine overload control would refuse some of them first.
  overload: { enabled: false },
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
  proxy = await ProxyProcess.start({ configFile: writeScript('registration-lockout', script) });
  plainPort = proxy.portOf('plain');
  legit = { uas: await freePort(), uac: await freePort(), media: Number((await freeRange(4)).split('-')[0]) };
  // A user registered before the flood.
  await legitRegistration(SIP, legit, 'carol');
});
after(async () => {
  assert.equal(await proxy.stop(), 0);
});

/** Registers plain users `prefix0..n-1` from one socket; resolves with the answers, in order. */
async function plainFlood(peer: UdpPeer, prefix: string, n: number): Promise<string[]> {
  const out: string[] = [];
  for (let i = 0; i < n; i += 100) {
    const batch = Array.from({ length: Math.min(100, n - i) }, (_, k) => `${prefix}${i + k}`);
    for (const u of batch) await peer.send(`REGISTER ${u}\n`, plainPort, LOOP);
    for (let k = 0; k < batch.length; k++) out.push(await peer.nextText(5000));
  }
  return out;
}

describe('registrations are bounded per source and in bytes', () => {
  test('plain: one source registers 1,000 users; the next gets ERROR too many users', async () => {
    const peer = await UdpPeer.open(4);
    try {
      const answers = await plainFlood(peer, 'pf', 1010);
      assert.equal(answers.filter((a) => a.startsWith('ACK_REGISTER ')).length, 1000);
      assert.deepEqual(new Set(answers.slice(1000)), new Set(['ERROR too many users\n']));
    } finally {
      await peer.close();
    }
  });

  test('SIP: one source registers 1,000 users; the next get 403; another source still registers', async () => {
    const ua = await SipUa.open('127.0.0.2');
    try {
      let ok = 0;
      const refused: string[] = [];
      for (let i = 0; i < 1010; i += 101) {
        const texts = Array.from({ length: Math.min(101, 1010 - i) }, (_, k) => sipRequest(ua, SIP, 'REGISTER', { to: `sf${i + k}`, extra: [`Contact: <sip:sf${i + k}@${ua.hostport}>`, 'Expires: 3600'] }));
        for (const status of (await answersTo(ua, SIP, texts)).values()) {
          if (status === 'SIP/2.0 200 OK') ok++;
          else refused.push(status);
        }
      }
      assert.equal(ok, 1000);
      assert.deepEqual(new Set(refused), new Set(['SIP/2.0 403 Too Many Users From This Address']));
      const other = await SipUa.open('127.0.0.3');
      const [status] = (await answersTo(other, SIP, [sipRequest(other, SIP, 'REGISTER', { to: 'elsewhere', extra: [`Contact: <sip:elsewhere@${other.hostport}>`] })])).values();
      other.close();
      assert.equal(status, 'SIP/2.0 200 OK');
    } finally {
      ua.close();
    }
  });

  test('large contacts: a user\'s bindings past 4 KB get 403, the table stops at maxBytes with 503', async () => {
    const ua = await SipUa.open('127.0.0.4');
    try {
      const big = (user: string, n: number): string => sipRequest(ua, SIP, 'REGISTER', {
        to: user, extra: [`Contact: ${Array.from({ length: n }, (_, i) => `<sip:${user}-${i}@${ua.hostport};pad=${'p'.repeat(900)}>`).join(', ')}`],
      });
      const [tooLarge] = (await answersTo(ua, SIP, [big('huge', 5)])).values();
      assert.equal(tooLarge, 'SIP/2.0 403 Registration Too Large');
      let stored = 0;
      let full = '';
      for (let i = 0; i < 400 && full === ''; i += 20) {
        for (const status of (await answersTo(ua, SIP, Array.from({ length: 20 }, (_, k) => big(`big${i + k}`, 3)))).values()) {
          if (status === 'SIP/2.0 200 OK') stored++;
          else full = status;
        }
      }
      assert.equal(full, 'SIP/2.0 503 Registrar Full');
      assert.ok(stored * 2800 < MAX_BYTES, `${stored} users of about 2.8 KB each fit in ${MAX_BYTES} bytes`);
    } finally {
      ua.close();
    }
  });

  test('the user registered before is still called through the same proxy', async () => {
    await legitCall(SIP, legit, 'carol', false);
  });
});
