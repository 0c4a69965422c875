/**
 * Media port exhaustion (issue 17, item 15): one INVITE with hundreds of m= lines, or a flood of
 * INVITEs nobody answers, used to take every relay port, and later calls then went through
 * with their media silently unrelayed. Now a description with more streams than
 * maxStreamsPerCall is refused with 488 before any port is taken, one source holds at most its
 * port budget (503 past it), and a call the relay has no port for is refused with 503 and
 * logged, never passed unrelayed; calls from other sources go through meanwhile and after.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { legitCall } from '../helpers/legit-call.ts';
import { freePort, freeRange } from '../helpers/ports.ts';
import { ProxyProcess, recordRoutingSipScript, writeScript } from '../helpers/proxy-process.ts';
import { answersTo, registerAt, sipRequest } from '../helpers/sip-call.ts';
import { answer, header, sdp, SipUa } from '../helpers/sip-ua.ts';
import { sippVersion } from '../helpers/sipp.ts';

const LOOP = '127.0.0.1';
const PROXY = await freePort();
/** 80 ports: 20 SIP calls of one stream (a port pair per party); one source may hold half. */
const RANGE = await freeRange(80);

let proxy: ProxyProcess;
let sink: SipUa;
const ringing: string[] = [];

before(async () => {
  sippVersion();
  proxy = await ProxyProcess.start({ configFile: writeScript('media-exhaustion', recordRoutingSipScript({ port: PROXY, ports: RANGE, transports: ['udp'] })) });
  sink = await SipUa.open(LOOP);
  await registerAt(sink, PROXY, 'sink');
  // The callee rings for every INVITE and never answers; a CANCEL ends its call.
  sink.socket.on('message', (buf) => {
    const m = buf.toString('latin1');
    if (m.startsWith('INVITE ')) {
      ringing.push(m);
      sink.send(answer(m, '180 Ringing', { tag: 'sink' }), PROXY, LOOP);
    } else if (m.startsWith('CANCEL ')) {
      sink.send(answer(m, '200 OK', { tag: 'sink' }), PROXY, LOOP);
      const inv = ringing.find((x) => header(x, 'Call-ID') === header(m, 'Call-ID'));
      if (inv !== undefined) sink.send(answer(inv, '487 Request Terminated', { tag: 'sink' }), PROXY, LOOP);
    }
  });
});
after(async () => {
  sink.close();
  assert.equal(await proxy.stop(), 0);
});

function cancelOf(invite: string): string {
  return invite.replace(/^INVITE /, 'CANCEL ').replace(/CSeq: (\d+) INVITE/, 'CSeq: $1 CANCEL').replace(/\r\nContent-Type:[^\r]*/, '').replace(/\r\nContent-Length: \d+\r\n\r\n[\s\S]*$/, '\r\nContent-Length: 0\r\n\r\n');
}

describe('media ports are budgeted', () => {
  const attackers: SipUa[] = [];
  const held: { ua: SipUa; invite: string }[] = [];

  after(() => { for (const a of attackers) a.close(); });

  test('an INVITE with 500 m= lines is refused 488 and takes no port', async () => {
    const ua = await SipUa.open('127.0.0.2');
    attackers.push(ua);
    const body = sdp(ua.host, 41000, Array.from({ length: 499 }, (_, i) => `m=audio ${41002 + 2 * i} RTP/AVP 0`));
    const text = sipRequest(ua, PROXY, 'INVITE', { to: 'sink', body });
    ua.send(text, PROXY, LOOP);
    const final = await ua.next(/^SIP\/2\.0 [2-6]\d\d /);
    assert.match(final, /^SIP\/2\.0 488 Too Many Media Streams\r\n/);
    assert.ok(!ringing.some((m) => header(m, 'Call-ID') === header(text, 'Call-ID')), 'the callee never saw it');
    await proxy.waitForLog((l) => l.msg === 'media not relayed: the description is refused' && l.status === 488);
  });

  test('one source holds at most its budget: past it 503; a call from another source goes through meanwhile', async () => {
    const a = attackers[0]!;
    const texts = Array.from({ length: 15 }, () => sipRequest(a, PROXY, 'INVITE', { to: 'sink', body: sdp(a.host, 41000) }));
    const answers = await answersTo(a, PROXY, texts, /^SIP\/2\.0 (18\d|[2-6]\d\d) /);
    const statuses = [...answers.values()];
    assert.equal(statuses.filter((s) => s === 'SIP/2.0 180 Ringing').length, 10, statuses.join(' | '));
    assert.equal(statuses.filter((s) => s === 'SIP/2.0 503 Media Ports Exhausted For This Source').length, 5, statuses.join(' | '));
    for (const t of texts) if (answers.get(header(t, 'Call-ID')!) === 'SIP/2.0 180 Ringing') held.push({ ua: a, invite: t });
    await legitCall(PROXY, { uas: await freePort(), uac: await freePort(), media: Number((await freeRange(4)).split('-')[0]) }, 'carol');
  });

  test('with every port taken, a call is refused 503 No Media Port and logged, never forwarded unrelayed', async () => {
    const b = await SipUa.open('127.0.0.3');
    attackers.push(b);
    const texts = Array.from({ length: 10 }, () => sipRequest(b, PROXY, 'INVITE', { to: 'sink', body: sdp(b.host, 41000) }));
    const answers = await answersTo(b, PROXY, texts, /^SIP\/2\.0 (18\d|[2-6]\d\d) /);
    // The rest of the range (a port some other program took meanwhile makes it shorter: then 503 here already).
    for (const status of answers.values()) assert.ok(status === 'SIP/2.0 180 Ringing' || status === 'SIP/2.0 503 No Media Port', status);
    for (const t of texts) if (answers.get(header(t, 'Call-ID')!) === 'SIP/2.0 180 Ringing') held.push({ ua: b, invite: t });
    const c = await SipUa.open('127.0.0.4');
    attackers.push(c);
    const late = sipRequest(c, PROXY, 'INVITE', { to: 'sink', body: sdp(c.host, 41000) });
    c.send(late, PROXY, LOOP);
    assert.match(await c.next(/^SIP\/2\.0 [2-6]\d\d /), /^SIP\/2\.0 503 No Media Port\r\n/);
    assert.ok(!ringing.some((m) => header(m, 'Call-ID') === header(late, 'Call-ID')), 'the callee never saw it');
    await proxy.waitForLog((l) => l.msg === 'media not relayed: the description is refused' && l.reason === 'No Media Port');
  });

  test('once the ringing calls are cancelled, their ports serve a legitimate call', async () => {
    for (const h of held) h.ua.send(cancelOf(h.invite), PROXY, LOOP);
    for (const h of held) {
      const id = header(h.invite, 'Call-ID')!;
      await h.ua.next(new RegExp(`^SIP/2\\.0 487 `), 5000).catch(() => assert.fail(`no 487 for ${id}`));
    }
    await legitCall(PROXY, { uas: await freePort(), uac: await freePort(), media: Number((await freeRange(4)).split('-')[0]) }, 'carol');
  });
});
