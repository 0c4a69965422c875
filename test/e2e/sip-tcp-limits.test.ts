/**
 * SIP over TCP under abuse (issue 17, items 2, 3 and 8): a peer that never reads its replies is
 * closed once its backlog passes a bound (the proxy's memory stays bounded); bytes trickled slowly
 * are framed incrementally (bounded CPU); connections per address and header sections are capped.
 * Calls still go through afterwards.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { after, before, describe, test } from 'node:test';
import { legitCall, rssMb } from '../helpers/legit-call.ts';
import { freePort, freeRange } from '../helpers/ports.ts';
import { ProxyProcess, recordRoutingSipScript, writeScript } from '../helpers/proxy-process.ts';
import { sippVersion } from '../helpers/sipp.ts';

const LOOP = '127.0.0.1';
const PROXY = await freePort();

const SCRIPT = recordRoutingSipScript({ port: PROXY, ports: await freeRange(40), transports: ['udp', 'tcp'] });

let proxy: ProxyProcess;
let seq = 0;

before(async () => {
  sippVersion();
  proxy = await ProxyProcess.start({ configFile: writeScript('sip-tcp-limits', SCRIPT) });
});
after(async () => {
  assert.equal(await proxy.stop(), 0);
});

function cpuSec(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/** An OPTIONS for the proxy itself (answered 200 by it) over TCP, with `pad` extra header lines. */
function options(pad: string[] = []): string {
  const n = ++seq;
  return [
    `OPTIONS sip:${LOOP}:${PROXY};transport=tcp SIP/2.0`,
    `Via: SIP/2.0/TCP ${LOOP}:9;branch=z9hG4bK-tcp${n}`,
    'Max-Forwards: 70', `From: <sip:m@${LOOP}>;tag=t${n}`, `To: <sip:${LOOP}:${PROXY}>`, `Call-ID: tcp-${n}@test`, 'CSeq: 1 OPTIONS',
    ...pad, 'Content-Length: 0', '', '',
  ].join('\r\n');
}

function connect(): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host: LOOP, port: PROXY, noDelay: true }, () => resolve(s));
    s.once('error', reject);
  });
}

const closed = (s: net.Socket): Promise<void> => new Promise((r) => (s.destroyed ? r() : s.once('close', () => r())));

/** Answers over a fresh connection: the TCP side still serves. */
async function tcpServes(): Promise<void> {
  const s = await connect();
  let got = '';
  s.setEncoding('latin1').on('data', (c: string) => { got += c; });
  s.write(options());
  const end = Date.now() + 5000;
  while (!/^SIP\/2\.0 200 /.test(got) && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
  s.destroy();
  assert.match(got, /^SIP\/2\.0 200 /, 'an OPTIONS over a new TCP connection is answered');
}

describe('TCP under abuse', () => {
  test('a peer that never reads its replies is closed; the proxy does not hold its backlog', async () => {
    const rss0 = rssMb(proxy.child.pid!);
    const s = await connect();
    s.pause(); // never reads: replies pile up, first in the kernel, then in the proxy
    s.on('error', () => undefined);
    // Each request's 200 copies its Via: 12 KB of reply per request, 30 MB asked for in all.
    const bigVia = `Via: SIP/2.0/TCP ${LOOP}:9;branch=z9hG4bK-big;x=${'a'.repeat(12_000)}`;
    const wasClosed = closed(s);
    let sent = 0;
    for (let i = 0; i < 2500 && !s.destroyed; i++) {
      const text = options().replace('\r\nMax-Forwards', `\r\n${bigVia}\r\nMax-Forwards`);
      if (!s.write(text)) await Promise.race([new Promise((r) => s.once('drain', r)), wasClosed]);
      sent++;
    }
    await Promise.race([wasClosed, new Promise((r) => setTimeout(r, 10_000))]);
    assert.ok(s.destroyed, `the proxy closed the connection (after ${sent} requests)`);
    await proxy.waitForLog((l) => l.msg === 'TCP connection closed: the peer does not read');
    assert.ok(rssMb(proxy.child.pid!) < rss0 + 100, `the proxy's memory stays bounded (${rss0.toFixed(0)} -> ${rssMb(proxy.child.pid!).toFixed(0)} MB)`);
    await tcpServes();
  });

  test('a slow sender of a huge header section is framed incrementally and closed at the bound: bounded CPU', async () => {
    const cpu0 = cpuSec(proxy.child.pid!);
    // 60 KB of short header lines, 64 bytes a millisecond on each of four connections.
    const pad = Array.from({ length: 3000 }, (_, i) => `X-${i}: p`);
    const conns = await Promise.all([connect(), connect(), connect(), connect()]);
    for (const s of conns) s.on('error', () => undefined);
    const text = Buffer.from(options(pad), 'latin1');
    for (let i = 0; i < text.length && conns.some((s) => !s.destroyed); i += 64) {
      for (const s of conns) if (!s.destroyed) s.write(text.subarray(i, i + 64));
      await new Promise((r) => setTimeout(r, 1));
    }
    await Promise.race([Promise.all(conns.map(closed)), new Promise((r) => setTimeout(r, 5000))]);
    const used = cpuSec(proxy.child.pid!) - cpu0;
    assert.ok(used < 0.4, `the proxy's CPU for the trickle: ${used.toFixed(2)} s`);
    assert.ok(conns.every((s) => s.destroyed), 'each connection was closed once its header section passed the bound');
  });

  test('a message of ordinary size trickled a few bytes at a time is answered', async () => {
    const s = await connect();
    let got = '';
    s.setEncoding('latin1').on('data', (c: string) => { got += c; });
    const text = Buffer.from(options(Array.from({ length: 50 }, (_, i) => `X-Pad-${i}: ${'p'.repeat(60)}`)), 'latin1');
    for (let i = 0; i < text.length; i += 16) {
      s.write(text.subarray(i, i + 16));
      await new Promise((r) => setImmediate(r));
    }
    const end = Date.now() + 5000;
    while (!/^SIP\/2\.0 200 /.test(got) && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
    s.destroy();
    assert.match(got, /^SIP\/2\.0 200 /);
  });

  test('CRLF keep-alives: each CRLFCRLF ping gets a CRLF pong, also split across reads; the connection then carries SIP', async () => {
    const s = await connect();
    let got = '';
    const arrived = (n: number): Promise<void> => new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`expected ${n} bytes, got ${JSON.stringify(got)}`)), 5000);
      const check = (): void => { if (got.length >= n) { clearTimeout(t); s.off('data', check); resolve(); } };
      s.on('data', check);
      check();
    });
    s.setEncoding('latin1').on('data', (c: string) => { got += c; });
    s.write('\r\n\r\n');
    await arrived(2);
    assert.equal(got, '\r\n', 'one pong for one ping');
    s.write('\r\n');
    await new Promise((r) => setTimeout(r, 50)); // half a ping: the proxy must wait for the rest
    assert.equal(got, '\r\n', 'no pong for half a ping');
    s.write('\r\n');
    await arrived(4);
    assert.equal(got, '\r\n\r\n');
    got = '';
    s.write(options());
    await arrived(12);
    const end = Date.now() + 5000;
    while (!/\r\n\r\n$/.test(got) && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
    s.destroy();
    assert.match(got, /^SIP\/2\.0 200 /, 'a request after the pings is answered on the same connection');
  });

  test('a header section larger than the bound closes the connection', async () => {
    const s = await connect();
    s.on('error', () => undefined);
    const wasClosed = closed(s);
    s.write(`OPTIONS sip:${LOOP}:${PROXY} SIP/2.0\r\nX-Long: ${'h'.repeat(40_000)}`);
    await Promise.race([wasClosed, new Promise((r) => setTimeout(r, 5000))]);
    assert.ok(s.destroyed, 'closed before the blank line ever came');
  });

  test('connections from one address are capped; the rest are refused at once and logged', async () => {
    const socks: net.Socket[] = [];
    let refused = 0;
    for (let i = 0; i < 140; i++) {
      const s = await connect();
      s.on('error', () => undefined);
      s.once('close', () => refused++);
      socks.push(s);
    }
    const end = Date.now() + 5000;
    while (refused < 12 && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
    assert.equal(refused, 12, 'beyond 128 from one address, each new connection is closed at once');
    await proxy.waitForLog((l) => l.msg === 'TCP connection refused: too many from this address');
    for (const s of socks) s.destroy();
    await new Promise((r) => setTimeout(r, 200));
    await tcpServes();
  });

  test('after all that, a registration and a call go through', async () => {
    await legitCall(PROXY, { uas: await freePort(), uac: await freePort(), media: Number((await freeRange(4)).split('-')[0]) });
  });
});
