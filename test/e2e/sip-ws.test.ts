/**
 * SIP over WebSocket (RFC 7118), as a browser speaks it: `.invalid` Via hosts and Contacts,
 * requests for it delivered over its own connection, calls to and from a UDP phone with the
 * proxy kept in the path, a closed tab's binding gone (or unreachable) so that a call to it
 * fails at once, the Origin allow-list, and bad input over WS and WSS each bounded and closed.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { freeRange } from '../helpers/ports.ts';
import { ProxyProcess, writeScript } from '../helpers/proxy-process.ts';
import { StreamUa, rawWebSocket } from '../helpers/stream-ua.ts';
import { SipUa, answer, header, headers, sdp } from '../helpers/sip-ua.ts';
import { makeCa, makeCert, pem, type CertFiles } from '../helpers/test-certs.ts';

const LOOP = '127.0.0.1';
const ORIGIN = 'https://phone.example.test';

function script(o: { relayPorts: string; registrar: string }): string {
  return `import { defineProxy } from 'switchyard';
import { callRouting, dialog, mediaRelay, registrar } from 'switchyard/modules';

export default defineProxy({
  listen: [
    { dialect: 'sip', port: 0, host: '${LOOP}', transports: ['udp'] },
    { dialect: 'sip', transport: 'ws', port: 0, host: '${LOOP}', origins: ['${ORIGIN}'] },
    { dialect: 'sip', transport: 'wss', port: 0, host: '${LOOP}', cert: 'proxy.pem', key: 'proxy.key', origins: ['${ORIGIN}'], handshakeTimeoutMs: 500 },
  ],
  modules: [registrar(${o.registrar}), dialog(), callRouting(), mediaRelay({ ports: '${o.relayPorts}', advertise: '${LOOP}' })],
  routes: {
    request(ctx) {
      if (ctx.msg.method === 'REGISTER') return ctx.register();
      if (ctx.msg.inDialog) return ctx.forwardCall();
      if (ctx.msg.method === 'INVITE') { ctx.engageMediaProxy(); ctx.recordRoute(); }
      return ctx.forwardCall();
    },
  },
});
`;
}

interface Running { proxy: ProxyProcess; udp: number; ws: number; wss: number; ca: CertFiles }

async function startProxy(name: string, o: { relayPorts: string; registrar: string }): Promise<Running> {
  const file = writeScript(name, '');
  const dir = path.dirname(file);
  const ca = makeCa(dir);
  makeCert(dir, 'proxy', ca);
  writeFileSync(file, script(o));
  const proxy = await ProxyProcess.start({ configFile: file });
  const port = (t: string): Promise<number> => proxy.waitForLog((l) => l.msg === 'listening' && l.transport === t).then((l) => Number(l.port));
  return { proxy, udp: await port('udp'), ws: await port('ws'), wss: await port('wss'), ca };
}

/** A request as a browser's SIP stack writes it: Via over WS with an `.invalid` host, a Contact at that host. */
function browserRequest(method: string, o: { user: string; to: string; uri: string; callId: string; cseq?: number; transport?: 'WS' | 'WSS'; extra?: string[]; body?: string; toTag?: string }): string {
  const body = o.body ?? '';
  const host = `${o.user}abc.invalid`;
  return [
    `${method} ${o.uri} SIP/2.0`,
    `Via: SIP/2.0/${o.transport ?? 'WS'} ${host};branch=z9hG4bK-${Math.random().toString(36).slice(2)}`,
    'Max-Forwards: 70', `From: <sip:${o.user}@${LOOP}>;tag=${o.user}1`, `To: <sip:${o.to}@${LOOP}>${o.toTag ? `;tag=${o.toTag}` : ''}`,
    `Call-ID: ${o.callId}`, `CSeq: ${o.cseq ?? 1} ${method}`, `Contact: <sip:${o.user}@${host};transport=ws>`,
    ...(o.extra ?? []), ...(body ? ['Content-Type: application/sdp'] : []), `Content-Length: ${Buffer.byteLength(body)}`, '', body,
  ].join('\r\n');
}

async function registerUdp(ua: SipUa, user: string, proxyPort: number): Promise<void> {
  ua.send(`REGISTER sip:${LOOP}:${proxyPort} SIP/2.0\nVia: SIP/2.0/UDP ${ua.hostport};branch=z9hG4bK-r${user};rport\nMax-Forwards: 70\nFrom: <sip:${user}@${LOOP}>;tag=r${user}\nTo: <sip:${user}@${LOOP}>\nCall-ID: ws-reg-${user}\nCSeq: 1 REGISTER\nContact: <sip:${user}@${ua.hostport}>\nContent-Length: 0\n\n`, proxyPort);
  await ua.next(/^SIP\/2\.0 200 /);
}

let main: Running;

/** `p`, or a failure naming `what` after `ms`: a test that waits on the proxy never hangs. */
function within<T>(ms: number, p: Promise<T>, what: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`not within ${ms} ms: ${what}`)), ms);
    p.then((v) => { clearTimeout(t); resolve(v); }, (e: unknown) => { clearTimeout(t); reject(e as Error); });
  });
}

before(async () => { main = await startProxy('sip-ws', { relayPorts: await freeRange(40), registrar: '' }); });
after(async () => {
  const stopping = main.proxy.waitForLog((l) => l.msg === 'switchyard stopped', 10_000);
  assert.equal(await main.proxy.stop(), 0, 'the proxy shuts down cleanly');
  const sip = ((await stopping).stats as { sip: Record<string, number> }).sip;
  assert.ok(sip.wsFramingErrors! >= 2 && sip.wsRefusedUpgrades! >= 2 && sip.wsWriteQueueOverflows! >= 1 && sip.wssHandshakeFailures! >= 1, `bad input counted: ${JSON.stringify(sip)}`);
});

describe('SIP over WebSocket', () => {
  test('a browser registers over WS and calls a UDP phone; the phone hangs up over the browser\'s own connection', async () => {
    const alice = await StreamUa.ws(`ws://${LOOP}:${main.ws}`, { origin: ORIGIN });
    const bob = await SipUa.open(LOOP);
    try {
      alice.send(browserRequest('REGISTER', { user: 'alice', to: 'alice', uri: `sip:${LOOP}`, callId: 'ws-reg-alice', extra: ['Expires: 600'] }));
      const ok = await alice.next(/^SIP\/2\.0 200 /);
      assert.match(header(ok, 'Via') ?? '', /^SIP\/2\.0\/WS aliceabc\.invalid;.*received=127\.0\.0\.1/, 'answered over the same connection');
      await registerUdp(bob, 'bob', main.udp);

      alice.send(browserRequest('INVITE', { user: 'alice', to: 'bob', uri: `sip:bob@${LOOP}`, callId: 'ws-call-1', body: sdp(LOOP, 26190) }));
      const invite = await bob.next(/^INVITE /);
      const rr = headers(invite, 'Record-Route').join(', ').split(/,\s*/);
      const mark = /;mark=([\w-]+)/.exec(rr[0] ?? '')?.[1];
      assert.ok(mark, `the dialog's route mark: ${rr[0]}`);
      assert.deepEqual(rr, [`<sip:127.0.0.1:${main.udp};lr;mark=${mark}>`, `<sip:127.0.0.1:${main.ws};lr;mark=${mark};transport=ws>`], 'double Record-Route, UDP side first');
      assert.match(header(invite, 'Contact') ?? '', new RegExp(`alias=127\\.0\\.0\\.1~${alice.local.port}~5`), "the browser's Contact carries where it really is");
      bob.send(answer(invite, '200 OK', { tag: 'b1', contact: `sip:bob@${bob.hostport}`, body: sdp(LOOP, 26192) }), main.udp);
      const answered = await alice.next(/^SIP\/2\.0 200 /);
      assert.equal(headers(answered, 'Record-Route').length > 0, true);

      // Bob hangs up: to alice's (aliased) Contact, along the Record-Route.
      const contact = /<([^>]+)>/.exec(header(invite, 'Contact')!)![1]!;
      bob.send([
        `BYE ${contact} SIP/2.0`, `Via: SIP/2.0/UDP ${bob.hostport};branch=z9hG4bK-bbye;rport`, 'Max-Forwards: 70',
        `From: ${header(answered, 'To')}`, `To: ${header(answered, 'From')}`, 'Call-ID: ws-call-1', 'CSeq: 1 BYE', `Route: ${rr.join(', ')}`, 'Content-Length: 0', '', '',
      ].join('\n'), main.udp);
      const bye = await alice.next(/^BYE /);
      assert.match(bye, /^BYE sip:alice@aliceabc\.invalid;transport=ws SIP\/2\.0/, 'the alias is taken off again');
      assert.match(headers(bye, 'Via')[0]!, new RegExp(`^SIP/2\\.0/WS 127\\.0\\.0\\.1:${main.ws};`));
      alice.send(answer(bye, '200 OK'));
      await bob.next(/^SIP\/2\.0 200 /);
    } finally {
      alice.close();
      bob.close();
    }
  });

  test('a UDP phone calls a browser registered over WSS: the INVITE goes down its connection', async () => {
    const carol = await StreamUa.ws(`wss://${LOOP}:${main.wss}`, { origin: ORIGIN, ca: pem(main.ca.cert) });
    const dave = await SipUa.open(LOOP);
    try {
      carol.send(browserRequest('REGISTER', { user: 'carol', to: 'carol', uri: `sip:${LOOP}`, callId: 'wss-reg-carol', transport: 'WSS', extra: ['Expires: 600'] }));
      await carol.next(/^SIP\/2\.0 200 /);
      dave.send(`INVITE sip:carol@${LOOP}:${main.udp} SIP/2.0\nVia: SIP/2.0/UDP ${dave.hostport};branch=z9hG4bK-d1;rport\nMax-Forwards: 70\nFrom: <sip:dave@${LOOP}>;tag=d1\nTo: <sip:carol@${LOOP}>\nCall-ID: wss-call-1\nCSeq: 1 INVITE\nContact: <sip:dave@${dave.hostport}>\nContent-Type: application/sdp\nContent-Length: ${Buffer.byteLength(sdp(LOOP, 26194))}\n\n${sdp(LOOP, 26194)}`, main.udp);
      const invite = await carol.next(/^INVITE /);
      assert.match(invite, /^INVITE sip:carol@carolabc\.invalid;transport=ws SIP\/2\.0/);
      assert.match(headers(invite, 'Via')[0]!, new RegExp(`^SIP/2\\.0/WSS 127\\.0\\.0\\.1:${main.wss};`));
      carol.send(answer(invite, '486 Busy Here', { tag: 'c1' }));
      await dave.next(/^SIP\/2\.0 486 /);
    } finally {
      carol.close();
      dave.close();
    }
  });

  test('a closed tab: its binding goes with its connection and a call to it fails at once', async () => {
    const erin = await StreamUa.ws(`ws://${LOOP}:${main.ws}`, { origin: ORIGIN });
    const frank = await SipUa.open(LOOP);
    try {
      erin.send(browserRequest('REGISTER', { user: 'erin', to: 'erin', uri: `sip:${LOOP}`, callId: 'ws-reg-erin', extra: ['Expires: 600'] }));
      await erin.next(/^SIP\/2\.0 200 /);
      const from = main.proxy.logs.length;
      erin.close();
      await main.proxy.waitForLog((l) => l.msg === 'bindings of a closed connection removed' && (l.users as string[]).includes('erin'), 5000, from);
      const started = Date.now();
      frank.send(`INVITE sip:erin@${LOOP}:${main.udp} SIP/2.0\nVia: SIP/2.0/UDP ${frank.hostport};branch=z9hG4bK-f1;rport\nMax-Forwards: 70\nFrom: <sip:frank@${LOOP}>;tag=f1\nTo: <sip:erin@${LOOP}>\nCall-ID: ws-call-closed\nCSeq: 1 INVITE\nContact: <sip:frank@${frank.hostport}>\nContent-Length: 0\n\n`, main.udp);
      const refused = await frank.next(/^SIP\/2\.0 [4-6]\d\d /, 3000);
      assert.match(refused, /^SIP\/2\.0 404 /, 'no binding left: the callee is unknown');
      assert.ok(Date.now() - started < 2000);
    } finally {
      frank.close();
    }
  });

  test('connections from another Origin, or without the sip subprotocol, are refused', async () => {
    await assert.rejects(StreamUa.ws(`ws://${LOOP}:${main.ws}`, { origin: 'https://evil.example.test' }), /HTTP 403/);
    await assert.rejects(StreamUa.ws(`ws://${LOOP}:${main.ws}`, { origin: ORIGIN, protocol: 'chat' }), /HTTP 403/);
  });

  test('bad input: a frame that is not SIP, an oversize frame, a stalled WSS handshake, a reader that never reads', async () => {
    const junk = await StreamUa.ws(`ws://${LOOP}:${main.ws}`, { origin: ORIGIN });
    const closedJunk = within(5000, new Promise<number>((r) => junk.ws.once('close', (code) => r(code))), 'the junk frame\'s connection closed');
    junk.ws.send(Buffer.from([0, 1, 2, 3, 255, 254]));
    assert.equal(await closedJunk, 1002, 'not SIP: closed with a protocol error');

    const big = await StreamUa.ws(`ws://${LOOP}:${main.ws}`, { origin: ORIGIN });
    const closedBig = within(5000, new Promise<number>((r) => big.ws.once('close', (code) => r(code))), 'the oversize frame\'s connection closed');
    big.ws.send('OPTIONS sip:x SIP/2.0\r\n' + 'X: '.padEnd(70 * 1024, 'y'));
    assert.equal(await closedBig, 1009, 'oversize: closed as too big');

    const stalled = net.connect(main.wss, LOOP);
    stalled.on('error', () => undefined);
    const t0 = Date.now();
    await within(10_000, new Promise<void>((r) => stalled.once('close', () => r())), 'the stalled WSS handshake closed');
    assert.ok(Date.now() - t0 < 5000, 'a WSS handshake that never comes is dropped (timeout 500 ms)');

    // A peer that sends and never reads: its answers pile up until the proxy drops it.
    const slow = await rawWebSocket(main.ws, { origin: ORIGIN });
    const from = main.proxy.logs.length;
    const dropped = main.proxy.waitForLog((l) => l.msg === 'WS connection closed: the peer does not read', 20_000, from);
    let seen = false;
    void dropped.then(() => { seen = true; }, () => undefined);
    const pad = 'p'.padEnd(12_000, 'p'); // within the header-section bound: each answer copies it
    for (let i = 0; i < 3000 && !seen && !slow.socket.destroyed; i++) {
      slow.send(`OPTIONS sip:${LOOP}:${main.ws} SIP/2.0\r\nVia: SIP/2.0/WS slow.invalid;branch=z9hG4bK-s${i};x=${pad}\r\nMax-Forwards: 70\r\nFrom: <sip:slow@${LOOP}>;tag=s\r\nTo: <sip:${LOOP}>\r\nCall-ID: slow-${i}\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n`);
      if (i % 50 === 49) await new Promise<void>((r) => setImmediate(r));
    }
    await dropped;
    slow.socket.destroy();
  });
});

describe('SIP over WebSocket, bindings kept after the connection closes', () => {
  let kept: Running;
  before(async () => { kept = await startProxy('sip-ws-kept', { relayPorts: await freeRange(20), registrar: "{ dropOnDisconnect: [] }" }); });
  after(async () => { assert.equal(await kept.proxy.stop(), 0); });

  test('a call to a binding whose connection is gone fails at once with 480', async () => {
    const gina = await StreamUa.ws(`ws://${LOOP}:${kept.ws}`, { origin: ORIGIN });
    const hank = await SipUa.open(LOOP);
    try {
      gina.send(browserRequest('REGISTER', { user: 'gina', to: 'gina', uri: `sip:${LOOP}`, callId: 'ws-reg-gina', extra: ['Expires: 600'] }));
      await gina.next(/^SIP\/2\.0 200 /);
      gina.close();
      await gina.closed;
      const started = Date.now();
      hank.send(`INVITE sip:gina@${LOOP}:${kept.udp} SIP/2.0\nVia: SIP/2.0/UDP ${hank.hostport};branch=z9hG4bK-h1;rport\nMax-Forwards: 70\nFrom: <sip:hank@${LOOP}>;tag=h1\nTo: <sip:gina@${LOOP}>\nCall-ID: ws-call-gone\nCSeq: 1 INVITE\nContact: <sip:hank@${hank.hostport}>\nContent-Length: 0\n\n`, kept.udp);
      const refused = await hank.next(/^SIP\/2\.0 [4-6]\d\d /, 3000);
      assert.match(refused, /^SIP\/2\.0 480 /);
      assert.ok(Date.now() - started < 2000, 'not after Timer B');
    } finally {
      hank.close();
    }
  });
});
