/**
 * DNS from untrusted input (issue 17, item 7): host names in SDP were resolved on libuv's
 * four-thread pool, and requests naming slow hosts queued lookups for minutes. Now a name in
 * SDP is never resolved (its stream is left unrelayed and logged), a stranger's request for
 * another domain is refused before any lookup, and a trusted sender's lookups are bounded: a
 * DNS server that has gone quiet sees at most `maxConcurrent` questions at once, a name is
 * given up after `timeoutMs` (503), past `maxQueued` waiting a request gets 503 at once, and an
 * answer is asked for once. A call through the same proxy works meanwhile.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { DnsServer } from '../helpers/dns-server.ts';
import { legitCall } from '../helpers/legit-call.ts';
import { freePort, freeRange } from '../helpers/ports.ts';
import { ProxyProcess, writeScript } from '../helpers/proxy-process.ts';
import { answersTo, registerAt, sipRequest } from '../helpers/sip-call.ts';
import { answer, header, sdp, SipUa } from '../helpers/sip-ua.ts';
import { sippVersion } from '../helpers/sipp.ts';

const LOOP = '127.0.0.1';
const PROXY = await freePort();

let dns: DnsServer;
let proxy: ProxyProcess;
let trusted: SipUa;
let stranger: SipUa;
let phone: SipUa;

before(async () => {
  sippVersion();
  // A question counts as outstanding for 300 ms: less than the proxy's 400 ms deadline.
  dns = await DnsServer.start({ 'gw.known.test': LOOP }, '.stall.test', 300);
  const script = `import { defineProxy } from 'switchyard';
import { callRouting, dialog, mediaRelay, registrar } from 'switchyard/modules';

export default defineProxy({
  listen: [{ dialect: 'sip', port: ${PROXY}, advertise: '${LOOP}', transports: ['udp'] }],
  modules: [registrar(), dialog(), callRouting({ relayFrom: ['${LOOP}'] }), mediaRelay({ ports: '${await freeRange(40)}', advertise: '${LOOP}' })],
  sip: { dns: { servers: ['${LOOP}:${dns.port}'], timeoutMs: 400, maxConcurrent: 2, maxQueued: 4 } },
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
  proxy = await ProxyProcess.start({ configFile: writeScript('sip-dns', script) });
  [trusted, stranger, phone] = await Promise.all([SipUa.open(LOOP), SipUa.open('127.0.0.2'), SipUa.open(LOOP)]);
  await registerAt(phone, PROXY, 'phone');
});
after(async () => {
  for (const u of [trusted, stranger, phone]) u.close();
  dns.close();
  assert.equal(await proxy.stop(), 0);
});

async function finalTo(ua: SipUa, text: string): Promise<string> {
  const id = header(text, 'Call-ID')!;
  ua.send(text, PROXY, LOOP);
  for (;;) {
    const m = await ua.next(/^SIP\/2\.0 [2-6]\d\d /, 5000);
    if (header(m, 'Call-ID') === id) return m.split('\r\n')[0]!;
  }
}

describe('names are never resolved from SDP, and resolved within bounds from signaling', () => {
  test('a host name in SDP is not resolved: the stream passes unrelayed and is logged; the call is forwarded at once', async () => {
    const body = sdp(LOOP, 41000).replace(`c=IN IP4 ${LOOP}`, 'c=IN IP4 media.sdp-name.test');
    trusted.send(sipRequest(trusted, PROXY, 'INVITE', { to: 'phone', body }), PROXY, LOOP);
    const inv = await phone.next(/^INVITE /);
    assert.match(inv, /\r\nc=IN IP4 media\.sdp-name\.test\r\n/, 'the stream is left as the caller wrote it');
    await proxy.waitForLog((l) => l.msg === 'stream not relayed: its address is not an IP literal' && l.host === 'media.sdp-name.test');
    assert.equal(dns.asked('media.sdp-name.test'), 0);
    phone.send(answer(inv, '486 Busy Here', { tag: 'busy' }), PROXY, LOOP);
    assert.match(await trusted.next(/^SIP\/2\.0 486 /), /^SIP\/2\.0 486 /);
  });

  test('a stranger\'s request for a host name elsewhere is refused before any lookup', async () => {
    assert.equal(await finalTo(stranger, sipRequest(stranger, PROXY, 'MESSAGE', { ruri: 'sip:x@a.stall.test' })), 'SIP/2.0 403 Not Relaying');
    assert.equal(dns.asked('a.stall.test'), 0);
  });

  test('twenty requests naming hosts of a silent DNS server: at most two questions at once, every request answered 503 within the bounds', async () => {
    const t0 = Date.now();
    const texts = Array.from({ length: 20 }, (_, i) => sipRequest(trusted, PROXY, 'MESSAGE', { ruri: `sip:x@n${i}.stall.test` }));
    const finals = [...(await answersTo(trusted, PROXY, texts)).values()];
    const elapsed = Date.now() - t0;
    assert.deepEqual(new Set(finals), new Set(['SIP/2.0 503 Service Unavailable']));
    assert.ok(dns.maxOutstanding <= 2, `questions outstanding at once: ${dns.maxOutstanding}`);
    const asked = new Set(dns.questions.filter((q) => q.includes('.stall.test')).map((q) => q.split('/')[0]));
    assert.ok(asked.size <= 6, `names asked: ${asked.size} (two running, four waiting, the rest refused)`);
    assert.ok(elapsed < 4000, `all answered in ${elapsed} ms`);
    // A name given up is not asked again at once.
    assert.equal(await finalTo(trusted, sipRequest(trusted, PROXY, 'MESSAGE', { ruri: 'sip:x@n0.stall.test' })), 'SIP/2.0 503 Service Unavailable');
    assert.equal(dns.asked('n0.stall.test'), 1);
  });

  test('a name that resolves is asked once and then taken from the cache', async () => {
    for (let i = 0; i < 3; i++) {
      trusted.send(sipRequest(trusted, PROXY, 'MESSAGE', { ruri: `sip:x@gw.known.test:${phone.port}` }), PROXY, LOOP);
      const msg = await phone.next(/^MESSAGE /);
      phone.send(answer(msg, '200 OK', { tag: 'gw' }), PROXY, LOOP);
      assert.match(await trusted.next(/^SIP\/2\.0 [2-6]\d\d /), /^SIP\/2\.0 200 /);
    }
    assert.equal(dns.asked('gw.known.test'), 1);
  });

  test('a call through the same proxy works', async () => {
    await legitCall(PROXY, { uas: await freePort(), uac: await freePort(), media: Number((await freeRange(4)).split('-')[0]) }, 'carol');
  });
});
