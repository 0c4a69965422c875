/**
 * The TCP hardening bounds hold on the TLS and WebSocket listeners too: connections per source
 * address (handshakes in progress counted), a deadline for the handshake, the header-section
 * and message bounds, the write-queue bound for a peer that does not read, CRLF keep-alive
 * pongs. Each abuse is closed and counted, and the listeners still serve afterwards.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import tls from 'node:tls';
import { after, before, describe, test } from 'node:test';
import { freePort } from '../helpers/ports.ts';
import { ProxyProcess, writeScript } from '../helpers/proxy-process.ts';
import { SipUa } from '../helpers/sip-ua.ts';
import { StreamUa, rawWebSocket } from '../helpers/stream-ua.ts';
import { makeCa, makeCert, pem, type CertFiles } from '../helpers/test-certs.ts';

const LOOP = '127.0.0.1';
/** The listeners' handshake deadline here (the default is 10 s). */
const HANDSHAKE_MS = 2000;
/** STREAM_LIMITS.perSource, as the proxy enforces it. */
const PER_SOURCE = 128;

/** A TCP port nothing listens on: a connection to it is refused. */
const CLOSED = await freePort(LOOP);

let proxy: ProxyProcess;
let ca: CertFiles;
let udpPort: number;
let tlsPort: number;
let wsPort: number;
let seq = 0;
let idleClosedAfter: Promise<number>;

before(async () => {
  const file = writeScript('sip-stream-limits', '');
  const dir = path.dirname(file);
  ca = makeCa(dir);
  makeCert(dir, 'proxy', ca);
  writeFileSync(file, `import { defineProxy } from 'switchyard';
import { callRouting, dialog, registrar } from 'switchyard/modules';

export default defineProxy({
  listen: [
    { dialect: 'sip', port: 0, host: '${LOOP}', transports: ['udp', 'tcp'] },
    { dialect: 'sip', transport: 'tls', port: 0, host: '${LOOP}', cert: 'proxy.pem', key: 'proxy.key', handshakeTimeoutMs: ${HANDSHAKE_MS} },
    { dialect: 'sip', transport: 'ws', port: 0, host: '${LOOP}', handshakeTimeoutMs: ${HANDSHAKE_MS} },
  ],
  modules: [registrar(), dialog(), callRouting()],
  routes: {
    request(ctx) {
      if (ctx.msg.method === 'REGISTER') return ctx.register();
      if (ctx.msg.ruri.user === 'tcp-closed') return ctx.forwardCall({ toUri: 'sip:x@${LOOP}:${CLOSED};transport=tcp' });
      if (ctx.msg.ruri.user === 'tls-closed') return ctx.forwardCall({ toUri: 'sips:x@${LOOP}:${CLOSED}' });
      return ctx.forwardCall();
    },
  },
});
`);
  proxy = await ProxyProcess.start({ configFile: file });
  const port = (t: string): Promise<number> => proxy.waitForLog((l) => l.msg === 'listening' && l.transport === t).then((l) => Number(l.port));
  udpPort = await port('udp');
  tlsPort = await port('tls');
  wsPort = await port('ws');
  // A TLS peer that finishes its handshake and then says nothing, watched by the last test
  // (from another loopback address: the cap test counts the connections from 127.0.0.1).
  const idle = await tlsConnect('127.0.0.2');
  idle.on('error', () => undefined);
  const secured = Date.now();
  idleClosedAfter = new Promise((r) => idle.once('close', () => r(Date.now() - secured)));
});

after(async () => {
  const stopping = proxy.waitForLog((l) => l.msg === 'switchyard stopped', 10_000);
  assert.equal(await proxy.stop(), 0);
  const sip = ((await stopping).stats as { sip: Record<string, number> }).sip;
  for (const k of ['tlsRefusedPerSource', 'wsRefusedPerSource', 'tlsHandshakeFailures', 'wsHandshakeFailures', 'tlsFramingErrors', 'wsFramingErrors', 'tlsWriteQueueOverflows', 'wsWriteQueueOverflows', 'tlsFirstMessageTimeouts']) {
    assert.ok((sip[k] ?? 0) >= 1, `${k} counted: ${JSON.stringify(sip)}`);
  }
});

/** An OPTIONS for the proxy itself (answered 200 by it), with `pad` extra header lines. */
function options(transport: 'TLS' | 'WS', pad: string[] = []): string {
  const n = ++seq;
  return [
    `OPTIONS sip:${LOOP}:${transport === 'WS' ? wsPort : tlsPort};transport=${transport.toLowerCase()} SIP/2.0`,
    `Via: SIP/2.0/${transport} ${transport === 'WS' ? 'limits.invalid' : `${LOOP}:9`};branch=z9hG4bK-lim${n}`,
    'Max-Forwards: 70', `From: <sip:m@${LOOP}>;tag=t${n}`, `To: <sip:${LOOP}>`, `Call-ID: lim-${n}@test`, 'CSeq: 1 OPTIONS',
    ...pad, 'Content-Length: 0', '', '',
  ].join('\r\n');
}

function register(user: string, transport: 'TLS' | 'WS', local: { address: string; port: number }): string {
  const host = transport === 'WS' ? `${user}.invalid` : `${local.address}:${local.port}`;
  return [
    `REGISTER sip:${LOOP} SIP/2.0`, `Via: SIP/2.0/${transport} ${host};branch=z9hG4bK-reg${++seq}`, 'Max-Forwards: 70',
    `From: <sip:${user}@${LOOP}>;tag=r${seq}`, `To: <sip:${user}@${LOOP}>`, `Call-ID: lim-reg-${seq}`, 'CSeq: 1 REGISTER',
    `Contact: <sip:${user}@${host};transport=${transport.toLowerCase()}>`, 'Expires: 600', 'Content-Length: 0', '', '',
  ].join('\r\n');
}

const closed = (s: net.Socket): Promise<void> => new Promise((r) => (s.destroyed ? r() : s.once('close', () => r())));

function rawConnect(port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host: LOOP, port }, () => resolve(s));
    s.once('error', reject);
  });
}

async function tlsConnect(localAddress = LOOP): Promise<tls.TLSSocket> {
  const s = tls.connect({ socket: net.connect({ host: LOOP, port: tlsPort, localAddress }), host: LOOP, ca: pem(ca.cert) });
  await new Promise<void>((resolve, reject) => { s.once('secureConnect', () => resolve()); s.once('error', reject); });
  return s;
}

/** Opens PER_SOURCE + 2 TCP connections that never start their handshake: two are refused at once, the rest closed at the deadline. */
async function capAndDeadline(port: number, name: 'TLS' | 'WS'): Promise<void> {
  const from = proxy.logs.length;
  const socks: net.Socket[] = [];
  const closedAt: number[] = [];
  const t0 = Date.now();
  for (let i = 0; i < PER_SOURCE + 2; i++) {
    const s = await rawConnect(port);
    s.on('error', () => undefined);
    s.once('close', () => closedAt.push(Date.now() - t0));
    socks.push(s);
  }
  await proxy.waitForLog((l) => l.msg === `${name} connection refused: too many from this address`, 5000, from);
  const early = Date.now() - t0;
  while (closedAt.length < 2 && Date.now() - t0 < 5000) await new Promise((r) => setTimeout(r, 20));
  assert.ok(early < HANDSHAKE_MS, `the refusals came before any deadline (${early} ms)`);
  assert.equal(closedAt.filter((t) => t < HANDSHAKE_MS - 200).length, 2, `beyond ${PER_SOURCE} from one address, each new ${name} connection is closed at once`);
  await Promise.race([Promise.all(socks.map(closed)), new Promise((r) => setTimeout(r, HANDSHAKE_MS + 5000))]);
  assert.equal(closedAt.length, PER_SOURCE + 2, `every connection that never finished its ${name} handshake was closed (${closedAt.length})`);
  assert.ok(Math.max(...closedAt) < HANDSHAKE_MS + 4000, `closed at the handshake deadline (last after ${Math.max(...closedAt)} ms)`);
}

describe('TLS and WebSocket listeners under abuse', () => {
  test('connections from one address are capped on both listeners, handshakes in progress counted; each stalled handshake is closed at its deadline', async () => {
    await Promise.all([capAndDeadline(tlsPort, 'TLS'), capAndDeadline(wsPort, 'WS')]);
    // The caps are per address and the slots come back: both listeners serve again.
    const ua = await StreamUa.tls(tlsPort, pem(ca.cert));
    ua.send(register('after-cap', 'TLS', ua.local));
    await ua.next(/^SIP\/2\.0 200 /);
    ua.close();
    const browser = await StreamUa.ws(`ws://${LOOP}:${wsPort}`);
    browser.send(register('after-cap-ws', 'WS', browser.local));
    await browser.next(/^SIP\/2\.0 200 /);
    browser.close();
  });

  test('TLS: a header section larger than the bound closes the connection', async () => {
    const s = await tlsConnect();
    s.on('error', () => undefined);
    const wasClosed = closed(s);
    s.write(`OPTIONS sip:${LOOP} SIP/2.0\r\nX-Long: ${'h'.repeat(40_000)}`);
    await Promise.race([wasClosed, new Promise((r) => setTimeout(r, 5000))]);
    assert.ok(s.destroyed, 'closed before the blank line ever came');
  });

  test('TLS: a CRLFCRLF ping gets a CRLF pong, then the connection carries SIP', async () => {
    const s = await tlsConnect();
    let got = '';
    s.setEncoding('latin1').on('data', (c: string) => { got += c; });
    s.write('\r\n\r\n');
    const until = async (pred: () => boolean): Promise<void> => {
      const end = Date.now() + 5000;
      while (!pred() && Date.now() < end) await new Promise((r) => setTimeout(r, 10));
    };
    await until(() => got.length >= 2);
    assert.equal(got, '\r\n');
    got = '';
    s.write(options('TLS'));
    await until(() => /\r\n\r\n$/.test(got));
    s.destroy();
    assert.match(got, /^SIP\/2\.0 200 /);
  });

  test('TLS: a peer that never reads its replies is closed at the write-queue bound', async () => {
    const s = await tlsConnect();
    s.pause();
    s.on('error', () => undefined);
    const wasClosed = closed(s);
    const from = proxy.logs.length;
    // Each 200 copies the 12 KB Via: 30 MB of replies asked for in all.
    const bigVia = `Via: SIP/2.0/TLS ${LOOP}:9;branch=z9hG4bK-big;x=${'a'.repeat(12_000)}`;
    for (let i = 0; i < 2500 && !s.destroyed; i++) {
      if (!s.write(options('TLS').replace('\r\nMax-Forwards', `\r\n${bigVia}\r\nMax-Forwards`))) {
        await Promise.race([new Promise((r) => s.once('drain', r)), wasClosed]);
      }
    }
    await proxy.waitForLog((l) => l.msg === 'TLS connection closed: the peer does not read', 10_000, from);
    s.resume();
    await Promise.race([wasClosed, new Promise((r) => setTimeout(r, 5000))]);
    assert.ok(s.destroyed, 'the connection is gone');
  });

  test('WS: a frame whose header section passes the bound is closed as too big; a CRLFCRLF frame gets a CRLF pong', async () => {
    const ping = await StreamUa.ws(`ws://${LOOP}:${wsPort}`);
    const pong = new Promise<string>((r) => ping.ws.once('message', (d) => r(d.toString())));
    ping.ws.send('\r\n\r\n');
    assert.equal(await pong, '\r\n');
    ping.close();

    const big = await StreamUa.ws(`ws://${LOOP}:${wsPort}`);
    const code = new Promise<number>((r) => big.ws.once('close', (c) => r(c)));
    // 40 KB of header lines: under the 64 KB frame bound, over the 16 KB header-section one.
    big.ws.send(options('WS', Array.from({ length: 400 }, (_, i) => `X-${i}: ${'p'.repeat(90)}`)));
    assert.equal(await code, 1009);
  });

  test('WS: a connection that never sends its HTTP upgrade is closed at the deadline; a plain HTTP request gets 426', async () => {
    const s = await rawConnect(wsPort);
    s.on('error', () => undefined);
    const t0 = Date.now();
    await Promise.race([closed(s), new Promise((r) => setTimeout(r, HANDSHAKE_MS + 5000))]);
    assert.ok(s.destroyed && Date.now() - t0 < HANDSHAKE_MS + 4000, `closed after ${Date.now() - t0} ms`);

    const h = await rawConnect(wsPort);
    let got = '';
    h.setEncoding('latin1').on('data', (c: string) => { got += c; });
    h.write(`GET / HTTP/1.1\r\nHost: ${LOOP}\r\n\r\n`);
    await closed(h);
    assert.match(got, /^HTTP\/1\.1 426 /);
  });

  test('WS: a peer that never reads its replies is closed at the write-queue bound', async () => {
    const slow = await rawWebSocket(wsPort);
    const dropped = proxy.waitForLog((l) => l.msg === 'WS connection closed: the peer does not read', 20_000, proxy.logs.length);
    let seen = false;
    void dropped.then(() => { seen = true; }, () => undefined);
    const bigVia = `Via: SIP/2.0/WS big.invalid;branch=z9hG4bK-big;x=${'a'.repeat(12_000)}`;
    for (let i = 0; i < 3000 && !seen && !slow.socket.destroyed; i++) {
      slow.send(options('WS').replace('\r\nMax-Forwards', `\r\n${bigVia}\r\nMax-Forwards`));
      if (i % 50 === 49) await new Promise<void>((r) => setImmediate(r));
    }
    await dropped;
    slow.socket.destroy();
  });

  test('a TCP or TLS next hop that refuses the connection: the branch fails at once with 503, not after Timer B', async () => {
    const caller = await SipUa.open(LOOP);
    try {
      for (const user of ['tcp-closed', 'tls-closed']) {
        const started = Date.now();
        caller.send(`INVITE sip:${user}@${LOOP}:${udpPort} SIP/2.0\nVia: SIP/2.0/UDP ${caller.hostport};branch=z9hG4bK-${user};rport\nMax-Forwards: 70\nFrom: <sip:c@${LOOP}>;tag=${user}\nTo: <sip:${user}@${LOOP}>\nCall-ID: ${user}\nCSeq: 1 INVITE\nContact: <sip:c@${caller.hostport}>\nContent-Length: 0\n\n`, udpPort);
        await caller.next(/^SIP\/2\.0 503 /, 5000);
        assert.ok(Date.now() - started < 3000, `${user}: ${Date.now() - started} ms`);
      }
    } finally {
      caller.close();
    }
  });

  test('TLS: a peer that finishes its handshake and then sends nothing is closed at the first-message deadline (15 s)', async () => {
    const after = await idleClosedAfter;
    assert.ok(after >= 14_000 && after < 20_000, `closed ${after} ms after its handshake`);
  });
});
