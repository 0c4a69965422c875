/**
 * REGISTER/s and calls/s over UDP, TLS and WebSocket against one proxy (not a test).
 *
 * Starts bin/switchyard.mjs (pinned to CPU 0 when there are two) with a UDP, a TLS and a WS
 * listener and a certificate made here, then for each transport keeps `window` requests in
 * flight for `seconds`: REGISTERs of distinct users, then calls (INVITE → 200 → ACK → BYE → 200,
 * record-routed, no media) to a UDP callee. Prints completed operations per second and the
 * proxy's CPU time per operation (utime + stime from /proc).
 *
 *   node --import jiti/register bench/transports.ts [seconds=10] [window=32]
 */
import { execFileSync, spawn } from 'node:child_process';
import dgram from 'node:dgram';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import tls from 'node:tls';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const HOST = '127.0.0.1';
const seconds = Number(process.argv[2] ?? 10);
const window = Number(process.argv[3] ?? 32);

const dir = mkdtempSync(join(tmpdir(), 'sy-bench-transports-'));
execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '2', '-subj', '/CN=bench',
  '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', join(dir, 'p.key'), '-out', join(dir, 'p.pem')], { stdio: 'ignore' });
writeFileSync(join(dir, 'proxy.config.ts'), `import { defineProxy } from 'switchyard';
import { callRouting, dialog, registrar } from 'switchyard/modules';
export default defineProxy({
  listen: [
    { dialect: 'sip', port: 0, host: '${HOST}', transports: ['udp'] },
    { dialect: 'sip', transport: 'tls', port: 0, host: '${HOST}', cert: 'p.pem', key: 'p.key' },
    { dialect: 'sip', transport: 'ws', port: 0, host: '${HOST}' },
  ],
  modules: [registrar({ maxUsers: 2000000 }), dialog(), callRouting()],
  log: { level: 'info' },
  routes: {
    request(ctx) {
      if (ctx.msg.method === 'REGISTER') return ctx.register();
      if (ctx.msg.inDialog) return ctx.forwardCall();
      if (ctx.msg.method === 'INVITE') ctx.recordRoute();
      return ctx.forwardCall();
    },
  },
});
`);

const pin = availableParallelism() >= 2 ? ['taskset', '-c', '0'] : [];
const child = spawn(pin[0] ?? process.execPath, [...pin.slice(1), ...(pin.length ? [process.execPath] : []), join(root, 'bin', 'switchyard.mjs'), '--config', join(dir, 'proxy.config.ts'), '--no-warm-up'], { stdio: ['ignore', 'pipe', 'inherit'] });
const ports = new Map<string, number>();
await new Promise<void>((resolve) => {
  let buf = '';
  child.stdout!.setEncoding('utf8').on('data', (c: string) => {
    buf += c;
    for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      try {
        const l = JSON.parse(line) as { msg?: string; transport?: string; port?: number };
        if (l.msg === 'listening' && l.transport !== undefined) ports.set(l.transport, l.port!);
        if (l.msg?.startsWith('switchyard started')) resolve();
      } catch { /* not JSON */ }
    }
  });
});
if (availableParallelism() >= 2) try { execFileSync('taskset', ['-cp', '1', String(process.pid)], { stdio: 'ignore' }); } catch { /* no taskset */ }

function cpuMs(): number {
  const f = readFileSync(`/proc/${child.pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(f[11]) + Number(f[12])) * 10; // utime + stime in clock ticks of 10 ms
}

/** A client connection: sends text, hands every whole message it receives to `onMessage`. */
interface Client { send(text: string): void; local: string; onMessage: (m: string) => void; close(): void }

async function connect(transport: 'udp' | 'tls' | 'ws'): Promise<Client> {
  const port = ports.get(transport)!;
  if (transport === 'udp') {
    const s = dgram.createSocket('udp4');
    await new Promise<void>((r) => s.bind(0, HOST, r));
    const c: Client = { send: (t) => s.send(t, port, HOST), local: `${HOST}:${s.address().port}`, onMessage: () => undefined, close: () => s.close() };
    s.on('message', (m) => c.onMessage(m.toString('latin1')));
    return c;
  }
  if (transport === 'tls') {
    const s = tls.connect({ host: HOST, port, rejectUnauthorized: false });
    await new Promise<void>((r) => s.once('secureConnect', () => r()));
    const c: Client = { send: (t) => s.write(t), local: `${HOST}:${s.localPort}`, onMessage: () => undefined, close: () => s.destroy() };
    let pending = '';
    s.setEncoding('latin1').on('data', (chunk: string) => {
      pending += chunk;
      for (;;) {
        const end = pending.indexOf('\r\n\r\n');
        if (end < 0) return;
        const len = Number(/\r\ncontent-length:\s*(\d+)/i.exec(pending.slice(0, end))?.[1] ?? 0);
        if (pending.length < end + 4 + len) return;
        c.onMessage(pending.slice(0, end + 4 + len));
        pending = pending.slice(end + 4 + len);
      }
    });
    return c;
  }
  const ws = new WebSocket(`ws://${HOST}:${port}`, 'sip');
  await new Promise<void>((r) => ws.once('open', () => r()));
  const c: Client = { send: (t) => ws.send(t), local: 'bench.invalid', onMessage: () => undefined, close: () => ws.close() };
  ws.on('message', (d) => c.onMessage(d.toString()));
  return c;
}

const hdr = (m: string, name: string): string => new RegExp(`\\r\\n${name}:[ \\t]*([^\\r\\n]*)`, 'i').exec(m)?.[1] ?? '';
const all = (m: string, name: string): string[] => [...m.matchAll(new RegExp(`\\r\\n${name}:[ \\t]*([^\\r\\n]*)`, 'gi'))].map((x) => x[1]!);
let seq = 0;

function req(method: string, t: string, c: Client, o: { uri: string; from: string; to: string; callId: string; cseq: number; extra?: string[] }): string {
  const via = t === 'udp' ? `SIP/2.0/UDP ${c.local}` : t === 'tls' ? `SIP/2.0/TLS ${c.local}` : 'SIP/2.0/WS bench.invalid';
  return [`${method} ${o.uri} SIP/2.0`, `Via: ${via};branch=z9hG4bK-b${++seq};rport`, 'Max-Forwards: 70', `From: ${o.from}`, `To: ${o.to}`,
    `Call-ID: ${o.callId}`, `CSeq: ${o.cseq} ${method}`, ...(o.extra ?? []), 'Content-Length: 0', '', ''].join('\r\n');
}

/** Keeps `window` operations in flight for `seconds` on `clients`; resolves with completed/s and CPU ms per op. */
async function run(clients: Client[], start: (c: Client, done: () => void) => void): Promise<{ rate: number; cpu: number }> {
  let completed = 0;
  let stop = false;
  const cpu0 = cpuMs();
  const t0 = Date.now();
  await new Promise<void>((resolve) => {
    let live = 0;
    const next = (c: Client): void => {
      if (stop) { if (--live === 0) resolve(); return; }
      start(c, () => { completed++; next(c); });
    };
    for (let i = 0; i < window; i++) { live++; next(clients[i % clients.length]!); }
    setTimeout(() => { stop = true; }, seconds * 1000);
  });
  const elapsed = (Date.now() - t0) / 1000;
  return { rate: completed / elapsed, cpu: (cpuMs() - cpu0) / Math.max(1, completed) };
}

/** Per client, the callbacks waiting for a message with a given Call-ID. */
function router(c: Client): Map<string, (m: string) => void> {
  const waiting = new Map<string, (m: string) => void>();
  c.onMessage = (m) => { const id = hdr(m, 'Call-ID'); const w = waiting.get(id); if (w !== undefined && /^SIP\/2\.0 [2-6]/.test(m)) { waiting.delete(id); w(m); } };
  return waiting;
}

// The callee: a UDP phone that answers every INVITE and BYE 200 at once.
const callee = dgram.createSocket('udp4');
await new Promise<void>((r) => callee.bind(0, HOST, r));
const calleeAt = `${HOST}:${callee.address().port}`;
callee.on('message', (buf) => {
  const m = buf.toString('latin1');
  if (!/^(INVITE|BYE) /.test(m)) return;
  const lines = ['SIP/2.0 200 OK', ...all(m, 'Via').map((v) => `Via: ${v}`), ...all(m, 'Record-Route').map((r) => `Record-Route: ${r}`),
    `From: ${hdr(m, 'From')}`, `To: ${hdr(m, 'To')}${/;tag=/.test(hdr(m, 'To')) ? '' : ';tag=callee'}`, `Call-ID: ${hdr(m, 'Call-ID')}`, `CSeq: ${hdr(m, 'CSeq')}`,
    `Contact: <sip:callee@${calleeAt}>`, 'Content-Length: 0', '', ''];
  callee.send(lines.join('\r\n'), ports.get('udp')!, HOST);
});
callee.send(req('REGISTER', 'udp', { local: calleeAt } as Client, { uri: `sip:${HOST}`, from: `<sip:callee@${HOST}>;tag=r`, to: `<sip:callee@${HOST}>`, callId: 'callee-reg', cseq: 1, extra: [`Contact: <sip:callee@${calleeAt}>`, 'Expires: 3600'] }), ports.get('udp')!, HOST);

const results: string[] = [];
let user = 0;
for (const t of ['udp', 'tls', 'ws'] as const) {
  const clients = await Promise.all(Array.from({ length: t === 'udp' ? 1 : 8 }, () => connect(t)));
  const routes = clients.map(router);
  const reg = await run(clients, (c, done) => {
    const u = `u${++user}`;
    const id = `reg-${u}`;
    routes[clients.indexOf(c)]!.set(id, () => done());
    const contact = t === 'ws' ? `sip:${u}@bench.invalid;transport=ws` : `sip:${u}@${c.local}${t === 'tls' ? ';transport=tls' : ''}`;
    c.send(req('REGISTER', t, c, { uri: `sip:${HOST}`, from: `<sip:${u}@${HOST}>;tag=r`, to: `<sip:${u}@${HOST}>`, callId: id, cseq: 1, extra: [`Contact: <${contact}>`, 'Expires: 3600'] }));
  });
  const calls = await run(clients, (c, done) => {
    const id = `call-${++seq}`;
    const from = `<sip:caller@${HOST}>;tag=c${seq}`;
    const waiting = routes[clients.indexOf(c)]!;
    waiting.set(id, (ok) => {
      const rr = all(ok, 'Record-Route').join(', ').split(/,\s*/).reverse().join(', ');
      const to = hdr(ok, 'To');
      const dialog = { uri: `sip:callee@${calleeAt}`, from, to, callId: id, extra: [`Route: ${rr}`] };
      c.send(req('ACK', t, c, { ...dialog, cseq: 1 }));
      waiting.set(id, () => done());
      c.send(req('BYE', t, c, { ...dialog, cseq: 2 }));
    });
    c.send(req('INVITE', t, c, { uri: `sip:callee@${HOST}`, from, to: `<sip:callee@${HOST}>`, callId: id, cseq: 1, extra: [`Contact: <sip:caller@${t === 'ws' ? 'bench.invalid;transport=ws' : c.local}>`] }));
  });
  results.push(`${t.padEnd(4)} REGISTER/s ${reg.rate.toFixed(0).padStart(6)} (${reg.cpu.toFixed(3)} CPU ms each)   calls/s ${calls.rate.toFixed(0).padStart(6)} (${calls.cpu.toFixed(3)} CPU ms each)`);
  for (const c of clients) c.close();
}
callee.close();
child.kill('SIGTERM');
console.log(`${seconds} s per figure, ${window} in flight, proxy on ${pin.length ? 'CPU 0' : 'any CPU'}:`);
for (const r of results) console.log(r);
