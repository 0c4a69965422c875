/**
 * Floods (issue 17, item 17): a source that sends more than its share, over UDP or TCP, in SIP
 * or the plain protocol, is banned and its messages dropped unanswered, while a legitimate SIPp
 * call from another address goes through; a trusted peer is never banned; a ban runs out. Every
 * flood is bounded in count; the sources are loopback addresses of their own (127.0.0.x).
 */
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import net from 'node:net';
import { after, before, describe, test } from 'node:test';
import { adminPort, scrape } from '../helpers/admin.ts';
import { legitCall } from '../helpers/legit-call.ts';
import { freePort, freeRange } from '../helpers/ports.ts';
import { ProxyProcess, writeScript } from '../helpers/proxy-process.ts';
import { sippVersion } from '../helpers/sipp.ts';

const LOOP = '127.0.0.1';
const SIP = await freePort();
const PLAIN = await freePort();
const MAX = 20;
const BAN_SEC = 1.5;

const SCRIPT = `import { defineProxy } from 'switchyard';
import { callRouting, dialog, floodLimits, mediaRelay, registrar } from 'switchyard/modules';

export default defineProxy({
  listen: [{ dialect: 'sip', port: ${SIP}, advertise: '${LOOP}', transports: ['udp', 'tcp'] }, { dialect: 'plain', port: ${PLAIN} }],
  modules: [
    registrar(), dialog(), callRouting(), mediaRelay({ ports: '${await freeRange(20)}', advertise: '${LOOP}' }),
    floodLimits({ maxMessages: ${MAX}, intervalSec: 1, banSec: ${BAN_SEC}, trustedPeers: ['127.0.0.3', '127.0.1.0/24'] }),
  ],
  routes: {
    request(ctx) {
      const { msg } = ctx;
      if (msg.from.user === 'scanner') {
        ctx.banSource(60);
        return ctx.drop();
      }
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

let proxy: ProxyProcess;
let admin: number;
let seq = 0;

before(async () => {
  sippVersion();
  proxy = await ProxyProcess.start({ configFile: writeScript('flood-limits', SCRIPT), args: ['--admin', `${LOOP}:0`, '--no-warm-up'] });
  admin = await adminPort(proxy);
});
after(async () => {
  assert.equal(await proxy.stop(), 0);
});

/** A REGISTER of user `user` from `from` (the proxy answers each one). */
function register(user: string, from: string, transport: 'UDP' | 'TCP' = 'UDP'): string {
  const n = ++seq;
  return [
    `REGISTER sip:${LOOP}:${SIP} SIP/2.0`, `Via: SIP/2.0/${transport} ${from}:9;branch=z9hG4bK-flood${n}`, 'Max-Forwards: 70',
    `From: <sip:${user}@${LOOP}>;tag=f${n}`, `To: <sip:${user}@${LOOP}>`, `Call-ID: flood-${user}@test`, `CSeq: ${n} REGISTER`,
    `Contact: <sip:${user}@${from}:9>`, 'Expires: 600', 'Content-Length: 0', '', '',
  ].join('\r\n');
}

/** A UDP socket on one of loopback's addresses, counting what comes back. */
async function udpFrom(address: string): Promise<{ socket: dgram.Socket; answers: () => number; close: () => Promise<void> }> {
  const socket = dgram.createSocket('udp4');
  let answers = 0;
  socket.on('message', () => { answers++; });
  await new Promise<void>((resolve, reject) => { socket.once('error', reject); socket.bind(0, address, () => resolve()); });
  return { socket, answers: () => answers, close: () => new Promise((r) => socket.close(() => r())) };
}

/**
 * Sends `count` datagrams (fewer when `until` says stop first), `burst` at a time, each burst once
 * the socket has sent the one before; resolves with how many were sent.
 */
async function flood(socket: dgram.Socket, port: number, count: number, make: () => string, burst = 50, until: () => boolean = () => false): Promise<number> {
  let sent = 0;
  while (sent < count && !until()) {
    const n = Math.min(burst, count - sent);
    await Promise.all(Array.from({ length: n }, () => new Promise<void>((resolve) => socket.send(make(), port, LOOP, () => resolve()))));
    sent += n;
    await new Promise((r) => setTimeout(r, 1));
  }
  return sent;
}

/** What the proxy answers a source now: a REGISTER sent every 100 ms until the first answer, within `withinMs`. */
async function firstAnswer(from: Awaited<ReturnType<typeof udpFrom>>, withinMs: number): Promise<number> {
  const start = performance.now();
  const before = from.answers();
  while (performance.now() - start < withinMs) {
    from.socket.send(register('poll', from.socket.address().address), SIP, LOOP);
    await new Promise((r) => setTimeout(r, 100));
    if (from.answers() > before) return performance.now();
  }
  throw new Error(`no answer within ${withinMs} ms`);
}

describe('flood limits', () => {
  test('a SIP flood from one address is banned while a SIPp call from another goes through', async () => {
    const flooder = await udpFrom('127.0.0.2');
    try {
      const before = await scrape(admin);
      // The flood goes on (at most 20,000 datagrams) until the call is over.
      let callOver = false;
      const during = flood(flooder.socket, SIP, 20_000, () => register('mallory', '127.0.0.2'), 20, () => callOver);
      try {
        await legitCall(SIP, { uas: await freePort(), uac: await freePort(), media: Number((await freeRange(4)).split('-')[0]) });
      } finally {
        callOver = true;
      }
      const sent = await during;
      const banned = await proxy.waitForLog((l) => l.msg === 'source banned' && l.source === '127.0.0.2');
      assert.equal(banned.by, 'rate');
      assert.equal(banned.messages, MAX + 1);
      // Each ban lets at most MAX through before it: the flood lasted a few bans.
      const after = await scrape(admin);
      const bans = after.get('switchyard_flood_bans_total')! - (before.get('switchyard_flood_bans_total') ?? 0);
      assert.ok(bans >= 1, 'banned');
      assert.ok(sent > MAX * (bans + 1) * 5, `the flood (${sent}) outlasted its bans`);
      assert.ok(flooder.answers() <= MAX * (bans + 1), `answered ${flooder.answers()} of ${sent} with ${bans} ban(s)`);
      const dropped = after.get('switchyard_flood_dropped_total')! - (before.get('switchyard_flood_dropped_total') ?? 0);
      assert.ok(dropped >= sent - MAX * (bans + 1), `the rest were dropped, and counted (${dropped})`);
      assert.ok(!proxy.logs.some((l) => l.msg === 'source banned' && l.source === LOOP), 'the legitimate caller was never banned');
    } finally {
      await flooder.close();
    }
  });

  test('a plain-protocol flood is banned as well, and a plain user elsewhere still registers', async () => {
    const flooder = await udpFrom('127.0.0.5');
    const user = await udpFrom(LOOP);
    try {
      const bans = await counter('switchyard_flood_bans_total');
      await flood(flooder.socket, PLAIN, 500, () => 'REGISTER eve\n');
      await waitForAsync(async () => (await counter('switchyard_flood_bans_total')) > bans, 'the ban');
      await waitFor(() => flooder.answers() === MAX, 'the answers before the ban');
      user.socket.send('REGISTER carol\n', PLAIN, LOOP);
      await waitFor(() => user.answers() === 1, 'carol registered');
    } finally {
      await Promise.all([flooder.close(), user.close()]);
    }
  });

  test('a flood over TCP is banned: what follows on the connection is dropped', async () => {
    const socket = await new Promise<net.Socket>((resolve, reject) => {
      const s = net.connect({ host: LOOP, port: SIP, localAddress: '127.0.0.4' }, () => resolve(s));
      s.once('error', reject);
    });
    // Every answer counts, whatever its status (a busy machine's overload control may answer 503),
    // counted over all that came so far: a chunk may end inside a status line.
    let received = '';
    let answers = 0;
    socket.setEncoding('latin1').on('data', (d: string) => { received += d; answers = received.match(/^SIP\/2\.0 \d{3} /gm)?.length ?? 0; });
    try {
      const before = await counter('switchyard_flood_dropped_total');
      for (let i = 0; i < 200; i++) socket.write(register('trudy', '127.0.0.4', 'TCP'));
      await waitForAsync(async () => (await counter('switchyard_flood_dropped_total')) - before >= 200 - MAX, 'the messages after the ban dropped');
      await waitFor(() => answers >= MAX, 'the answers before the ban', 15_000);
      assert.equal(answers, MAX, 'nothing answered after the ban');
    } finally {
      socket.destroy();
    }
  });

  test('a trusted peer is never banned, however much it sends', async () => {
    for (const address of ['127.0.0.3', '127.0.1.7']) {
      const peer = await udpFrom(address);
      try {
        await flood(peer.socket, SIP, 300, () => register('gateway', address));
        await waitFor(() => peer.answers() === 300, `all 300 answered (${address})`);
      } finally {
        await peer.close();
      }
      assert.ok(!proxy.logs.some((l) => l.msg === 'source banned' && l.source === address));
    }
  });

  test('the script bans a source at once (banSource): its next messages are dropped unanswered', async () => {
    const source = await udpFrom('127.0.0.8');
    try {
      const bans = await counter('switchyard_flood_bans_total');
      source.socket.send(register('scanner', '127.0.0.8'), SIP, LOOP);
      await waitForAsync(async () => (await counter('switchyard_flood_bans_total')) > bans, 'the ban');
      const dropped = await counter('switchyard_flood_dropped_total');
      source.socket.send(register('alice', '127.0.0.8'), SIP, LOOP);
      await waitForAsync(async () => (await counter('switchyard_flood_dropped_total')) > dropped, 'the next message dropped');
      assert.equal(source.answers(), 0);
    } finally {
      await source.close();
    }
  });

  test('a ban runs out after banSec: the source is answered again', async () => {
    const source = await udpFrom('127.0.0.6');
    try {
      const bans = await counter('switchyard_flood_bans_total');
      const floodAt = performance.now();
      await flood(source.socket, SIP, MAX + 10, () => register('oscar', '127.0.0.6'), MAX + 10);
      await waitForAsync(async () => (await counter('switchyard_flood_bans_total')) > bans, 'the ban');
      await waitFor(() => source.answers() === MAX, 'the answers before the ban');
      const answeredAt = await firstAnswer(source, BAN_SEC * 1000 + 3000);
      // The ban began after the flood did; the limiter's clock ticks every 50 ms.
      assert.ok(answeredAt - floodAt >= BAN_SEC * 1000 - 100, `answered ${Math.round(answeredAt - floodAt)} ms after the flood began, before the ban ran out`);
    } finally {
      await source.close();
    }
  });
});

/** A counter of the admin's /metrics (0 when absent). */
async function counter(name: string): Promise<number> {
  return (await scrape(admin)).get(name) ?? 0;
}

async function waitForAsync(cond: () => Promise<boolean>, what: string, timeoutMs = 5000): Promise<void> {
  const end = performance.now() + timeoutMs;
  while (!(await cond())) {
    if (performance.now() > end) throw new Error(`timed out: ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function waitFor(cond: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const end = performance.now() + timeoutMs;
  while (!cond()) {
    if (performance.now() > end) throw new Error(`timed out: ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
