/**
 * Any stranger could hang up any call (issue 17, item 10): a SIP BYE was matched on its
 * Call-ID alone, so one carrying the right Call-ID ended the dialog and the call's media, and
 * went on to the callee. Now, in the default script, an in-dialog request of a dialog the proxy
 * follows must carry the dialog's tags (else 481) and come from the address of the party it
 * names (else 403): the call and its media go on, the callee hears nothing; a CANCEL counts only
 * from where its INVITE came. The parties' own BYE still ends the call, and a call through the
 * same proxy works.
 */
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { legitCall } from '../helpers/legit-call.ts';
import { freePort, freeRange } from '../helpers/ports.ts';
import { ProxyProcess, REPO } from '../helpers/proxy-process.ts';
import { placeCall, registerAt, sipRequest, type PlacedCall } from '../helpers/sip-call.ts';
import { answer, header, sdp, SipUa } from '../helpers/sip-ua.ts';
import { sippVersion } from '../helpers/sipp.ts';

const LOOP = '127.0.0.1';
const PROXY = await freePort();

let proxy: ProxyProcess;
let caller: SipUa;
let callee: SipUa;
let stranger: SipUa;

before(async () => {
  sippVersion();
  // The default script as it ships, on free ports.
  proxy = await ProxyProcess.start({
    configFile: path.join(REPO, 'proxy.config.ts'),
    args: ['--plain-port', '0', '--sip-port', String(PROXY), '--media-ports', await freeRange(40)],
    env: { ...process.env, SWITCHYARD_ADVERTISE: LOOP },
  });
  [caller, callee, stranger] = await Promise.all([SipUa.open(LOOP), SipUa.open(LOOP), SipUa.open('127.0.0.2')]);
  await registerAt(callee, PROXY, 'bob');
});
after(async () => {
  for (const u of [caller, callee, stranger]) u.close();
  assert.equal(await proxy.stop(), 0);
});

async function mediaSocket(): Promise<dgram.Socket> {
  const s = dgram.createSocket('udp4');
  await new Promise<void>((resolve) => s.bind(0, LOOP, () => resolve()));
  return s;
}

/** Sends a datagram from `from` to the relay port and resolves with what `to` receives. */
function relays(from: dgram.Socket, relayPort: number, to: dgram.Socket, text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => { to.removeListener('message', got); reject(new Error(`"${text}" was not relayed`)); }, 2000);
    const got = (m: Buffer): void => {
      if (m.toString() !== text) return;
      clearTimeout(timer);
      to.removeListener('message', got);
      resolve(text);
    };
    to.on('message', got);
    from.send(Buffer.from(text), relayPort, LOOP);
  });
}

/** `text` as if the stranger sent it: its own Via (the answer comes back to it). */
function asStranger(text: string): string {
  return text.replace(/\r\nVia: SIP\/2\.0\/UDP [^;]+;/, `\r\nVia: SIP/2.0/UDP ${stranger.hostport};`);
}

describe('an in-dialog request counts only from a party of its dialog', () => {
  let call: PlacedCall;
  let callerMedia: dgram.Socket;
  let calleeMedia: dgram.Socket;

  before(async () => {
    [callerMedia, calleeMedia] = await Promise.all([mediaSocket(), mediaSocket()]);
    call = await placeCall(caller, callee, PROXY, 'bob', { callerMedia: callerMedia.address().port, calleeMedia: calleeMedia.address().port });
    await relays(callerMedia, call.callerRelayPort, calleeMedia, 'hello bob');
    await relays(calleeMedia, call.calleeRelayPort, callerMedia, 'hello alice');
  });
  after(() => { callerMedia.close(); calleeMedia.close(); });

  test('a BYE with the Call-ID but made-up tags is refused (481, or 403 when its route\'s mark is not its dialog\'s); the call and its media go on', async () => {
    // The caller's tag right, the callee's made up: the route's mark holds, the dialog's tags do not.
    const calleeGuessed = asStranger(call.fromCaller('BYE', 7)).replace(/\r\nTo: ([^\r]*);tag=[^\r;]*/, '\r\nTo: $1;tag=guess2');
    stranger.send(calleeGuessed, PROXY, LOOP);
    assert.match(await stranger.next(/^SIP\/2\.0 [2-6]\d\d /), /^SIP\/2\.0 481 /);
    // Both made up: the mark in the Route is another dialog's.
    const bothGuessed = calleeGuessed.replace(/\r\nFrom: ([^\r]*);tag=[^\r;]*/, '\r\nFrom: $1;tag=guess').replace('CSeq: 7 BYE', 'CSeq: 8 BYE').replace(/branch=([^;\r]+)/, 'branch=$1x');
    stranger.send(bothGuessed, PROXY, LOOP);
    assert.match(await stranger.next(/^SIP\/2\.0 [2-6]\d\d /), /^SIP\/2\.0 403 Not Relaying/);
    await relays(callerMedia, call.callerRelayPort, calleeMedia, 'still here');
  });

  test('a BYE with the right tags and route from another address gets 403; so does a re-INVITE; the callee hears neither', async () => {
    stranger.send(asStranger(call.fromCaller('BYE', 8)), PROXY, LOOP);
    assert.match(await stranger.next(/^SIP\/2\.0 [2-6]\d\d /), /^SIP\/2\.0 403 /);
    stranger.send(asStranger(call.fromCallee('BYE', 9)), PROXY, LOOP);
    assert.match(await stranger.next(/^SIP\/2\.0 [2-6]\d\d /), /^SIP\/2\.0 403 /);
    const reinvite = asStranger(call.fromCaller('INVITE', 10, ['Content-Type: application/sdp'])).replace(/Content-Length: 0\r\n\r\n$/, '') + `Content-Length: ${sdp('127.0.0.2', 9).length}\r\n\r\n${sdp('127.0.0.2', 9)}`;
    stranger.send(reinvite, PROXY, LOOP);
    assert.match(await stranger.next(/^SIP\/2\.0 [2-6]\d\d /), /^SIP\/2\.0 403 /);
    await relays(callerMedia, call.callerRelayPort, calleeMedia, 'still talking');
    await relays(calleeMedia, call.calleeRelayPort, callerMedia, 'yes');
    assert.ok(!callee.inbox.some((m) => /^(BYE|INVITE) /.test(m)), 'nothing reached the callee');
    await proxy.waitForLog((l) => l.msg === 'in-dialog request refused: not from a party of the dialog');
  });

  test('the caller\'s own BYE ends the call', async () => {
    caller.send(call.fromCaller('BYE', 11), PROXY, LOOP);
    const bye = await callee.next(/^BYE /);
    callee.send(answer(bye, '200 OK'), PROXY, LOOP);
    assert.match(await caller.next(/^SIP\/2\.0 [2-6]\d\d /), /^SIP\/2\.0 200 /);
  });
});

describe('a CANCEL counts only from where its INVITE came', () => {
  test('a stranger\'s CANCEL of a ringing call gets 481 and cancels nothing; the caller\'s does', async () => {
    const invite = sipRequest(caller, PROXY, 'INVITE', { to: 'bob', body: sdp(LOOP, 41000) });
    caller.send(invite, PROXY, LOOP);
    const atCallee = await callee.next(/^INVITE /);
    callee.send(answer(atCallee, '180 Ringing', { tag: 'ring' }), PROXY, LOOP);
    await caller.next(/^SIP\/2\.0 180 /);
    const cancel = invite.replace(/^INVITE /, 'CANCEL ').replace(/CSeq: 1 INVITE/, 'CSeq: 1 CANCEL').replace(/\r\nContent-Type:[^\r]*/, '').replace(/\r\nContent-Length: \d+\r\n\r\n[\s\S]*$/, '\r\nContent-Length: 0\r\n\r\n');
    stranger.send(cancel, PROXY, LOOP); // the caller's Via and branch, from elsewhere
    assert.match(await stranger.next(/^SIP\/2\.0 [2-6]\d\d /), /^SIP\/2\.0 481 /);
    caller.send(cancel, PROXY, LOOP);
    assert.match(await caller.next(/^SIP\/2\.0 200 /), /CSeq: 1 CANCEL/);
    const forwarded = await callee.next(/^CANCEL /);
    assert.equal(callee.inbox.filter((m) => m.startsWith('CANCEL ')).length, 0, 'one CANCEL reached the callee');
    callee.send(answer(forwarded, '200 OK', { tag: 'ring' }), PROXY, LOOP);
    callee.send(answer(atCallee, '487 Request Terminated', { tag: 'ring' }), PROXY, LOOP);
    assert.match(await caller.next(/^SIP\/2\.0 487 /), new RegExp(header(invite, 'Call-ID')!.replace(/[.@]/g, '\\$&')));
  });
});

describe('after all that', () => {
  test('a registration and a call go through the same proxy', async () => {
    await legitCall(PROXY, { uas: await freePort(), uac: await freePort(), media: Number((await freeRange(4)).split('-')[0]) }, 'carol');
  });
});
