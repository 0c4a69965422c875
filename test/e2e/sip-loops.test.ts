/**
 * Forwarding loops (issue 17, item 1): a request whose next hop is the proxy itself, in any
 * spelling of its address, is answered 482 instead of being sent to itself; a request that comes
 * back through another element unchanged is a loop (RFC 3261 §16.3 item 4), answered 482;
 * Max-Forwards is read strictly and capped, and an OPTIONS that may go no further is not
 * forwarded. A registration and a call through the same proxy still succeed afterwards.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { legitCall, rssMb } from '../helpers/legit-call.ts';
import { freePort, freeRange } from '../helpers/ports.ts';
import { ProxyProcess, recordRoutingSipScript, writeScript } from '../helpers/proxy-process.ts';
import { header, SipUa } from '../helpers/sip-ua.ts';
import { sippVersion } from '../helpers/sipp.ts';

const LOOP = '127.0.0.1';
const PROXY = await freePort();

// The test's own peers send requests to other hosts on purpose: they are trusted to relay.
const SCRIPT = recordRoutingSipScript({ port: PROXY, ports: await freeRange(40), transports: ['udp', 'tcp'], relayFrom: ['127.0.0.0/8', '::1'] });

let proxy: ProxyProcess;
let ua: SipUa;
let seq = 0;

before(async () => {
  sippVersion();
  proxy = await ProxyProcess.start({ configFile: writeScript('sip-loops', SCRIPT) });
  ua = await SipUa.open(LOOP);
});
after(async () => {
  ua.close();
  assert.equal(await proxy.stop(), 0);
});

function request(method: string, ruri: string, maxForwards: string, extraVia?: string): string {
  const n = ++seq;
  return [
    `${method} ${ruri} SIP/2.0`,
    ...(extraVia !== undefined ? [`Via: ${extraVia}`] : []),
    `Via: SIP/2.0/UDP ${ua.hostport};branch=z9hG4bK-loop${n};rport`,
    `Max-Forwards: ${maxForwards}`,
    `From: <sip:mallory@${LOOP}>;tag=m${n}`,
    `To: <${ruri}>`,
    `Call-ID: loop-${n}@test`,
    `CSeq: 1 ${method}`,
    `Contact: <sip:mallory@${ua.hostport}>`,
    'Content-Length: 0',
    '', '',
  ].join('\r\n');
}

/** Everything that arrives at the UA within `ms`. */
async function collect(ms: number): Promise<string[]> {
  const from = ua.inbox.length;
  await new Promise((r) => setTimeout(r, ms));
  return ua.inbox.splice(from);
}

/**
 * Sends a request and waits for its final response (matched by Call-ID); an INVITE's failure is
 * acknowledged so it is not repeated. Returns the response's status.
 */
async function finalStatus(method: string, ruri: string, maxForwards: string): Promise<number> {
  const text = request(method, ruri, maxForwards);
  const callId = header(text, 'Call-ID')!;
  ua.send(text, PROXY, LOOP);
  const end = Date.now() + 3000;
  for (;;) {
    const i = ua.inbox.findIndex((m) => /^SIP\/2\.0 [2-6]\d\d /.test(m) && header(m, 'Call-ID') === callId);
    if (i >= 0) {
      const reply = ua.inbox.splice(i, 1)[0]!;
      const status = Number(reply.slice(8, 11));
      if (method === 'INVITE' && status >= 300) ua.send(ackFor(text, reply), PROXY, LOOP);
      return status;
    }
    if (Date.now() > end) throw new Error(`${method} ${ruri}: no final response; got ${ua.inbox.map((m) => m.split('\r\n')[0]).join(' | ')}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** The ACK of a failure (§17.1.1.3): the INVITE's Request-URI, top Via, From, Call-ID; the response's To. */
function ackFor(invite: string, reply: string): string {
  const via = header(invite, 'Via');
  return [
    `ACK ${invite.split(' ')[1]} SIP/2.0`, `Via: ${via}`, 'Max-Forwards: 70', `From: ${header(invite, 'From')}`, `To: ${header(reply, 'To')}`,
    `Call-ID: ${header(invite, 'Call-ID')}`, `CSeq: 1 ACK`, 'Content-Length: 0', '', '',
  ].join('\r\n');
}

describe('forwarding loops', () => {
  test('a request for the proxy\'s own address, in any spelling, is never sent to itself', async () => {
    const rss0 = rssMb(proxy.child.pid!);
    const hosts = [LOOP, '0.0.0.0', '127.1', '127.0.0.2', '[::ffff:7f00:1]', '[::ffff:127.0.0.1]', '[::1]', '[::]', 'localhost'];
    for (const host of hosts) {
      for (const method of ['INVITE', 'OPTIONS', 'MESSAGE']) {
        // The proxy's own URI with a user nobody registered: not found, not sent anywhere.
        assert.equal(await finalStatus(method, `sip:x@${host}:${PROXY}`, '999999999'), 404, `${method} sip:x@${host}:${PROXY}`);
      }
    }
    const rest = (await collect(300)).filter((m) => !/^SIP\/2\.0 (100|404) /.test(m));
    assert.deepEqual(rest.map((m) => m.split('\r\n')[0]), [], 'one answer per request, nothing forwarded');
    assert.ok(rssMb(proxy.child.pid!) < rss0 + 60, 'the proxy\'s memory did not grow with the attempts');
    assert.equal(proxy.logs.filter((l) => l.msg === 'forwarding failed').length, 0);
  });

  test('a request whose next hop resolves to the proxy though its URI names another host is refused 482', async () => {
    for (const maddr of [LOOP, '127.1', '0.0.0.0', '[::ffff:7f00:1]']) {
      for (const method of ['INVITE', 'OPTIONS']) {
        assert.equal(await finalStatus(method, `sip:x@elsewhere.invalid:${PROXY};maddr=${maddr}`, '70'), 482, `${method} maddr=${maddr}`);
      }
    }
    assert.ok(proxy.logsWith('request refused: its next hop is this proxy').length >= 6, 'each refusal is logged');
  });

  test('a request that comes back through another element unchanged is a loop: 482 (§16.3 item 4)', async () => {
    const ruri = `sip:bob@${ua.hostport}`;
    const invite = request('INVITE', ruri, '70');
    ua.send(invite, PROXY, LOOP);
    const forwarded = await ua.next(/^INVITE /, 3000);
    // A misconfigured next hop sends it straight back, its own Via on top.
    const back = forwarded.replace('\r\nVia: ', `\r\nVia: SIP/2.0/UDP ${ua.hostport};branch=z9hG4bK-reflect${seq};rport\r\nVia: `)
      .replace(/\r\nMax-Forwards: (\d+)/, (_m, v: string) => `\r\nMax-Forwards: ${Number(v) - 1}`);
    ua.send(back, PROXY, LOOP);
    const refused = await ua.next(/^SIP\/2\.0 482 /, 3000);
    assert.match(header(refused, 'Via')!, /branch=z9hG4bK-reflect/, 'the 482 goes to the element that sent the looped copy');
    ua.send(ackFor(back, refused), PROXY, LOOP);
    const again = (await collect(300)).filter((m) => /^INVITE /.test(m));
    assert.equal(again.length, 0, 'the looped copy was not forwarded again');
    // The first branch is still ringing: end it.
    ua.send(forwardedAnswer(forwarded, '486 Busy Here'), PROXY, LOOP);
    ua.send(ackFor(invite, await ua.next(/^SIP\/2\.0 486 /, 3000)), PROXY, LOOP);
  });

  test('Max-Forwards is read strictly: 0000000000 is zero, not absent', async () => {
    assert.equal(await finalStatus('INVITE', `sip:bob@${ua.hostport}`, '0000000000'), 483);
    assert.equal((await collect(200)).filter((m) => /^INVITE /.test(m)).length, 0, 'not forwarded');
  });

  test('an OPTIONS with Max-Forwards 0 is not forwarded: 483, or 200 when it is for the proxy itself', async () => {
    assert.equal(await finalStatus('OPTIONS', `sip:bob@${ua.hostport}`, '0'), 483);
    assert.equal((await collect(200)).filter((m) => /^OPTIONS /.test(m)).length, 0, 'not forwarded');
    assert.equal(await finalStatus('OPTIONS', `sip:${LOOP}:${PROXY}`, '0'), 200);
  });

  test('Max-Forwards is capped: a huge value leaves the proxy as at most 70', async () => {
    ua.send(request('MESSAGE', `sip:bob@${ua.hostport}`, '999999999'), PROXY, LOOP);
    const out = await ua.next(/^MESSAGE /, 3000);
    const mf = Number(header(out, 'Max-Forwards'));
    assert.ok(mf <= 70 && mf > 0, `Max-Forwards ${mf}`);
    ua.send(forwardedAnswer(out, '200 OK'), PROXY, LOOP);
    await ua.next(/^SIP\/2\.0 200 /, 3000);
  });

  test('after all that, a registration and a call go through', async () => {
    await legitCall(PROXY, { uas: await freePort(), uac: await freePort(), media: Number((await freeRange(4)).split('-')[0]) });
  });
});

/** A response from the UA to a request the proxy forwarded to it (its Vias copied). */
function forwardedAnswer(req: string, status: string): string {
  const lines = [`SIP/2.0 ${status}`];
  for (const m of req.matchAll(/\r\nVia: ([^\r\n]*)/g)) lines.push(`Via: ${m[1]}`);
  lines.push(`From: ${header(req, 'From')}`, `To: ${header(req, 'To')};tag=u1`, `Call-ID: ${header(req, 'Call-ID')}`, `CSeq: ${header(req, 'CSeq')}`, 'Content-Length: 0', '', '');
  return lines.join('\r\n');
}
