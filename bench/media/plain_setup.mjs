#!/usr/bin/env node
// plain_setup.mjs <proxy-port> <ports-out> < endpoints
// Sets up one plain-protocol call per line of stdin ("<port A> <port B>", as udpload
// --print-endpoints gives them): user a<i> registers from 127.0.0.1:<A>, b<i> from <B>, a<i>
// calls b<i>, b<i> accepts. Writes each call's MEDIA_PORT as "<p> <p>" (both legs send to the
// one relay port), then closes its sockets so udpload can bind the same ports.
import dgram from 'node:dgram';
import { readFileSync, writeFileSync } from 'node:fs';

const [proxyPort, outFile] = process.argv.slice(2);
const eps = readFileSync(0, 'utf8').trim().split('\n').map((l) => l.trim().split(/\s+/).map(Number));
const PROXY = Number(proxyPort);
const sockets = new Map();

function open(port) {
  let s = sockets.get(port);
  if (s) return Promise.resolve(s);
  s = dgram.createSocket('udp4');
  s.inbox = [];
  s.waiters = [];
  s.on('message', (m) => { const w = s.waiters.shift(); if (w) w(m.toString()); else s.inbox.push(m.toString()); });
  sockets.set(port, s);
  return new Promise((resolve, reject) => { s.once('error', reject); s.bind(port, '127.0.0.1', () => resolve(s)); });
}

function next(s) {
  if (s.inbox.length) return Promise.resolve(s.inbox.shift());
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error('no answer from the proxy within 5 s')), 5000);
    s.waiters.push((m) => { clearTimeout(t); resolve(m); });
  });
}

const send = (s, text) => new Promise((r) => s.send(text, PROXY, '127.0.0.1', () => r()));
const expect = async (s, re) => {
  const m = await next(s);
  if (!re.test(m)) throw new Error(`unexpected ${JSON.stringify(m)} (wanted ${re})`);
  return m;
};

const lines = [];
for (let i = 0; i < eps.length; i++) {
  const [pa, pb] = eps[i];
  const a = await open(pa);
  const b = await open(pb);
  await send(a, `REGISTER a${i}`); await expect(a, /^ACK_REGISTER /);
  await send(b, `REGISTER b${i}`); await expect(b, /^ACK_REGISTER /);
  await send(a, `CALL FROM:a${i} TO:b${i}`); await expect(b, /^CALL /);
  await send(b, `ACK_CALL FROM:b${i} TO:a${i}`);
  await expect(a, /^ACK_CALL /);
  const mp = await expect(a, /^MEDIA_PORT /);
  await expect(b, /^MEDIA_PORT /);
  const port = Number(mp.trim().split(' ').pop());
  lines.push(`${port} ${port}`);
}
writeFileSync(outFile, lines.join('\n') + '\n');
await Promise.all([...sockets.values()].map((s) => new Promise((r) => s.close(r))));
