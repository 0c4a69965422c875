/**
 * Open relay and SSRF (issue 17, item 13): one UDP MESSAGE to `sip:x@127.0.0.1:<port>;transport=tcp`
 * made the proxy connect there and write the request; `maddr` and Routes on in-dialog requests
 * sent traffic wherever the sender liked. Against the default script as it ships: a request for
 * another domain (any host or port that is not this proxy's) from an untrusted, unauthenticated
 * sender gets 403 Not Relaying before any connection or lookup; a Route or a Request-URI leading
 * elsewhere is followed only inside a dialog this proxy record-routed (its Route carries the
 * dialog's mark); `maddr` from an untrusted sender is ignored. Calls through the proxy still work.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { legitCall } from '../helpers/legit-call.ts';
import { freePort, freeRange } from '../helpers/ports.ts';
import { ProxyProcess, REPO } from '../helpers/proxy-process.ts';
import { answersTo, placeCall, registerAt, sipRequest } from '../helpers/sip-call.ts';
import { answer, header, SipUa } from '../helpers/sip-ua.ts';
import { sippVersion } from '../helpers/sipp.ts';

const LOOP = '127.0.0.1';
const PROXY = await freePort();

let proxy: ProxyProcess;
let stranger: SipUa;
let caller: SipUa;
let callee: SipUa;
/** A TCP service on loopback that must never hear from the proxy (Redis, say). */
let victim: net.Server;
let victimPort = 0;
const connections: string[] = [];

before(async () => {
  sippVersion();
  victim = net.createServer((s) => {
    s.on('data', (d) => connections.push(d.toString('latin1')));
    connections.push('connected');
  });
  await new Promise<void>((resolve) => victim.listen(0, LOOP, () => resolve()));
  victimPort = (victim.address() as net.AddressInfo).port;
  proxy = await ProxyProcess.start({
    configFile: path.join(REPO, 'proxy.config.ts'),
    args: ['--plain-port', '0', '--sip-port', String(PROXY), '--media-ports', await freeRange(40)],
    env: { ...process.env, SWITCHYARD_ADVERTISE: LOOP },
  });
  [stranger, caller, callee] = await Promise.all([SipUa.open('127.0.0.2'), SipUa.open(LOOP), SipUa.open(LOOP)]);
  await registerAt(callee, PROXY, 'bob');
});
after(async () => {
  for (const u of [stranger, caller, callee]) u.close();
  assert.equal(await proxy.stop(), 0);
  await new Promise<void>((resolve) => victim.close(() => resolve()));
});

describe('no open relay', () => {
  test('requests for another host or port, over UDP naming TCP, are refused 403 Not Relaying', async () => {
    const texts = [
      sipRequest(stranger, PROXY, 'MESSAGE', { ruri: `sip:x@${LOOP}:${victimPort};transport=tcp`, body: 'SET owned 1\r\n' }),
      sipRequest(stranger, PROXY, 'INVITE', { ruri: `sip:x@${LOOP}:${victimPort};transport=tcp` }),
      sipRequest(stranger, PROXY, 'OPTIONS', { ruri: 'sip:x@relay-me.example.com' }),
      sipRequest(stranger, PROXY, 'MESSAGE', { ruri: `sip:x@${LOOP}:${PROXY};maddr=127.0.0.1;transport=tcp` }),
    ];
    const finals = await answersTo(stranger, PROXY, texts);
    const statuses = texts.map((t) => finals.get(header(t, 'Call-ID')!));
    assert.deepEqual(statuses.slice(0, 3), ['SIP/2.0 403 Not Relaying', 'SIP/2.0 403 Not Relaying', 'SIP/2.0 403 Not Relaying']);
    assert.equal(statuses[3], 'SIP/2.0 404 Not Found', 'a URI naming the proxy is local: its maddr changes nothing');
  });

  test('a Route elsewhere, or an in-dialog Request-URI elsewhere, outside a dialog the proxy record-routed: 403', async () => {
    const ours = `<sip:${LOOP}:${PROXY};lr>`;
    const theirs = `<sip:${LOOP}:${victimPort};transport=tcp;lr>`;
    const texts = [
      sipRequest(stranger, PROXY, 'MESSAGE', { ruri: 'sip:x@example.com', toTag: 't1', extra: [`Route: ${theirs}`] }),
      sipRequest(stranger, PROXY, 'BYE', { ruri: 'sip:x@example.com', toTag: 't2', extra: [`Route: ${ours}, ${theirs}`] }),
      sipRequest(stranger, PROXY, 'BYE', { ruri: `sip:x@${LOOP}:${victimPort};transport=tcp`, toTag: 't3', extra: [`Route: ${ours}`] }),
      sipRequest(stranger, PROXY, 'BYE', { ruri: `sip:x@${LOOP}:${victimPort};transport=tcp`, toTag: 't4', extra: [`Route: <sip:${LOOP}:${PROXY};lr;mark=AAAAAAAAAAAA>`] }),
      sipRequest(stranger, PROXY, 'INFO', { ruri: `sip:x@${LOOP}:${victimPort};transport=tcp`, toTag: 't5' }),
      sipRequest(stranger, PROXY, 'OPTIONS', { ruri: 'sip:x@example.com', extra: [`Route: ${theirs}`] }),
    ];
    const finals = await answersTo(stranger, PROXY, texts);
    assert.deepEqual(texts.map((t) => finals.get(header(t, 'Call-ID')!)), Array(texts.length).fill('SIP/2.0 403 Not Relaying'));
    await proxy.waitForLog((l) => typeof l.msg === 'string' && l.msg.startsWith('request refused: it names a next hop elsewhere'));
  });

  test('inside a dialog the proxy record-routed, a party\'s maddr is ignored: the request goes to the other party', async () => {
    const call = await placeCall(caller, callee, PROXY, 'bob');
    assert.match(header(call.ok, 'Record-Route')!, /;lr;mark=[A-Za-z0-9_-]{12}>/, 'the proxy marks its Record-Route');
    const elsewhere = await SipUa.open('127.0.0.5', callee.port);
    try {
      const info = call.fromCaller('INFO', 2).replace(/^INFO (\S+) /, 'INFO $1;maddr=127.0.0.5 ');
      caller.send(info, PROXY, LOOP);
      const got = await callee.next(/^INFO /);
      callee.send(answer(got, '200 OK'), PROXY, LOOP);
      assert.match(await caller.next(/^SIP\/2\.0 [2-6]\d\d /), /^SIP\/2\.0 200 /);
      assert.deepEqual(elsewhere.inbox, []);
    } finally {
      elsewhere.close();
    }
    caller.send(call.fromCaller('BYE', 3), PROXY, LOOP);
    callee.send(answer(await callee.next(/^BYE /), '200 OK'), PROXY, LOOP);
    assert.match(await caller.next(/^SIP\/2\.0 [2-6]\d\d /), /^SIP\/2\.0 200 /);
  });

  test('a call through the same proxy works, and the TCP service never heard from it', async () => {
    await legitCall(PROXY, { uas: await freePort(), uac: await freePort(), media: Number((await freeRange(4)).split('-')[0]) }, 'carol');
    assert.deepEqual(connections, []);
  });
});
