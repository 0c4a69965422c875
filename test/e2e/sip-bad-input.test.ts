/**
 * Bad SIP input over UDP and TCP: what can be answered gets 400 with a reason phrase, the
 * rest is dropped and counted; nothing crashes and calls go on.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import dgram from 'node:dgram';
import net from 'node:net';
import { after, before, describe, test } from 'node:test';
import { ProxyProcess, writeScript } from '../helpers/proxy-process.ts';
import { waitUntil } from '../helpers/sipp.ts';

const LOOP = '127.0.0.1';
const PROXY = 62260;

const SCRIPT = `import { defineProxy } from 'switchyard';
import { callRouting, dialog, mediaRelay, registrar } from 'switchyard/modules';

export default defineProxy({
  listen: [{ dialect: 'sip', port: ${PROXY}, advertise: '${LOOP}' }],
  modules: [registrar(), dialog(), callRouting(), mediaRelay({ ports: '24300-24399', advertise: '${LOOP}' })],
  routes: {
    request(ctx) {
      if (ctx.msg.method === 'REGISTER') return ctx.register();
      if (ctx.msg.inDialog) return ctx.forwardCall();
      if (ctx.msg.method === 'INVITE') ctx.engageMediaProxy();
      return ctx.forwardCall();
    },
  },
});
`;

let proxy: ProxyProcess;
let udp: dgram.Socket;
let port: number;
const inbox: string[] = [];

before(async () => {
  proxy = await ProxyProcess.start({ configFile: writeScript('sip-bad', SCRIPT) });
  udp = dgram.createSocket('udp4');
  await new Promise<void>((r) => udp.bind(0, LOOP, r));
  port = udp.address().port;
  udp.on('message', (m) => inbox.push(m.toString('latin1')));
});
after(async () => {
  udp.close();
  assert.equal(await proxy.stop(), 0, 'the proxy shuts down cleanly after all that');
});

function request(o: { method?: string; cseq?: string; drop?: string[]; extra?: string[]; body?: string; contentLength?: number; callId?: string } = {}): string {
  const method = o.method ?? 'OPTIONS';
  const body = o.body ?? '';
  const headers: [string, string][] = [
    ['Via', `SIP/2.0/UDP ${LOOP}:${port};branch=z9hG4bK-${Math.random().toString(36).slice(2)};rport`],
    ['Max-Forwards', '70'], ['From', `<sip:alice@${LOOP}>;tag=a1`], ['To', `<sip:bob@${LOOP}>`],
    ['Call-ID', o.callId ?? `bad-${Math.random().toString(36).slice(2)}`], ['CSeq', o.cseq ?? `1 ${method}`],
  ];
  const kept = headers.filter(([n]) => !(o.drop ?? []).includes(n));
  const lines = [`${method} sip:bob@${LOOP}:${PROXY} SIP/2.0`, ...kept.map(([n, v]) => `${n}: ${v}`), ...(o.extra ?? []), `Content-Length: ${o.contentLength ?? Buffer.byteLength(body)}`, '', body];
  return lines.join('\r\n');
}

async function send(text: string | Buffer): Promise<string[]> {
  const from = inbox.length;
  await new Promise<void>((r) => udp.send(typeof text === 'string' ? Buffer.from(text, 'latin1') : text, PROXY, LOOP, () => r()));
  await new Promise((r) => setTimeout(r, 150));
  return inbox.slice(from);
}

describe('bad SIP over UDP', () => {
  test('malformed start lines are dropped and counted', async () => {
    for (const bad of ['INVITE\r\n\r\n', 'HELLO WORLD\r\nVia: x\r\n\r\n', 'INVITE sip:bob@x SIP/3.0\r\n\r\n', 'SIP/2.0 2000 OK\r\n\r\n']) {
      assert.deepEqual(await send(bad), [], JSON.stringify(bad));
    }
  });

  test('a request missing a mandatory header it needs for an answer is dropped; one that can be answered gets 400', async () => {
    assert.deepEqual(await send(request({ drop: ['From'] })), []);
    assert.deepEqual(await send(request({ drop: ['Call-ID'] })), []);
    const mismatch = await send(request({ cseq: '1 BYE' }));
    assert.equal(mismatch.length, 1);
    assert.match(mismatch[0]!, /^SIP\/2\.0 400 [\x20-\x7e]+\r\n/);
  });

  test('a wrong Content-Length gets 400', async () => {
    const r = await send(request({ body: 'short', contentLength: 500 }));
    assert.equal(r.length, 1);
    assert.match(r[0]!, /^SIP\/2\.0 400 [\x20-\x7e]+\r\n/);
  });

  test('a header value with a bare CR or LF gets 400', async () => {
    const cr = await send(request({ extra: ['Subject: one\rtwo'] }));
    assert.match(cr[0] ?? '', /^SIP\/2\.0 400 /);
    const lf = await send(request({ extra: ['Subject: one\ntwo'] }));
    assert.match(lf[0] ?? '', /^SIP\/2\.0 400 /);
  });

  test('an INVITE whose SDP is truncated gets 400 Malformed SDP (the relay cannot read it)', async () => {
    const registered = await send(request({ method: 'REGISTER', extra: [`Contact: <sip:bob@${LOOP}:${port}>`] }));
    assert.match(registered[0] ?? '', /^SIP\/2\.0 200 OK\r\n/);
    const sdp = 'v=0\r\no=a 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=aud';
    const r = await send(request({ method: 'INVITE', body: sdp, extra: ['Content-Type: application/sdp'] }));
    const final = r.find((m) => !m.startsWith('SIP/2.0 100'));
    assert.match(final ?? '', /^SIP\/2\.0 400 Malformed SDP\r\n/);
    assert.ok(!r.some((m) => m.startsWith('INVITE')), 'the INVITE was not forwarded to bob');
  });

  test('random bytes never crash the proxy; a good request still gets its answer', async () => {
    for (let i = 0; i < 200; i++) await new Promise<void>((r) => udp.send(randomBytes(1 + Math.floor(Math.random() * 2000)), PROXY, LOOP, () => r()));
    const reg = await send(request({ method: 'REGISTER', extra: [`Contact: <sip:alice@${LOOP}:${port}>`] }).replace(/To: <sip:bob@/, 'To: <sip:alice@'));
    assert.match(reg[0] ?? '', /^SIP\/2\.0 200 OK\r\n/);
  });
});

describe('bad SIP over TCP', () => {
  test('a 70 KB message is dropped, its connection closed; other connections and calls go on', async () => {
    const s = net.connect(PROXY, LOOP);
    await new Promise((r) => s.once('connect', r));
    const closed = new Promise<void>((r) => s.once('close', () => r()));
    s.on('error', () => undefined);
    s.write(request({ body: 'x'.repeat(70 * 1024) }).replace('SIP/2.0/UDP', 'SIP/2.0/TCP'));
    await closed;
    // A REGISTER over TCP, split across writes, is framed and answered on the same connection.
    const t = net.connect(PROXY, LOOP);
    await new Promise((r) => t.once('connect', r));
    let got = '';
    t.on('data', (d) => { got += d.toString('latin1'); });
    const reg = request({ method: 'REGISTER', extra: [`Contact: <sip:carol@${LOOP};transport=tcp>`] }).replace(/To: <sip:bob@/, 'To: <sip:carol@').replace('SIP/2.0/UDP', 'SIP/2.0/TCP');
    t.write(reg.slice(0, 40));
    await new Promise((r) => setTimeout(r, 50));
    t.write(reg.slice(40));
    await waitUntil(() => got.includes('\r\n\r\n'), 3000, 'the REGISTER answer over TCP');
    assert.match(got, /^SIP\/2\.0 200 OK\r\n/);
    t.destroy();
  });

  test('what was dropped was counted', async () => {
    await waitUntil(() => proxy.logs.filter((l) => l.msg === 'unparsable datagram' || l.msg === 'unparsable message').length >= 8, 3000, 'the drop log');
  });
});
