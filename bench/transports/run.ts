/**
 * REGISTER/s and calls/s over UDP, TLS and WebSocket, switchyard beside Kamailio with its tls and
 * websocket modules (not a test).
 *
 * Each proxy (targets.ts) runs alone, pinned to CPU 0 when there are two, with a certificate
 * made here. For each transport the clients (on the other CPU) keep `window` requests in flight
 * for `seconds`: REGISTERs of distinct users, then calls (INVITE → 200 → ACK → BYE → 200,
 * record-routed, no media) to a UDP callee that answers at once. Over TLS and WS the requests
 * share 8 connections. Prints completed operations per second and the proxy's CPU time per
 * operation. Kamailio is skipped, saying why, where it or its modules are not installed.
 *
 *   node --import jiti/register bench/transports/run.ts [seconds=10] [window=32]
 */
import { execFileSync } from 'node:child_process';
import dgram from 'node:dgram';
import { mkdtempSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, header, headers, request, type BenchTransport, type Client } from './clients.ts';
import { PIN, kamailioMissing, startKamailio, startSwitchyard, type Target } from './targets.ts';

const HOST = '127.0.0.1';
const seconds = Number(process.argv[2] ?? 10);
const window = Number(process.argv[3] ?? 32);

const dir = mkdtempSync(join(tmpdir(), 'sy-bench-transports-'));
const cert = join(dir, 'p.pem');
const key = join(dir, 'p.key');
execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '2', '-subj', '/CN=bench',
  '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', key, '-out', cert], { stdio: 'ignore' });
if (availableParallelism() >= 2) try { execFileSync('taskset', ['-cp', '1', String(process.pid)], { stdio: 'ignore' }); } catch { /* no taskset */ }

/**
 * Keeps `window` operations in flight for `seconds` on `clients`; resolves with completed/s, the
 * target's CPU ms per op, and the operations that had not completed 5 s after the end (lost).
 */
async function measure(target: Target, clients: Client[], start: (c: Client, done: () => void) => void): Promise<{ rate: number; cpu: number; lost: number }> {
  let completed = 0;
  let stop = false;
  let live = 0;
  const cpu0 = target.cpuMs();
  const t0 = Date.now();
  await new Promise<void>((resolve) => {
    const next = (c: Client): void => {
      if (stop) { if (--live === 0) resolve(); return; }
      start(c, () => { completed++; next(c); });
    };
    for (let i = 0; i < window; i++) { live++; next(clients[i % clients.length]!); }
    setTimeout(() => {
      stop = true;
      setTimeout(resolve, 5000);
    }, seconds * 1000);
  });
  const elapsed = (Date.now() - t0) / 1000;
  return { rate: completed / Math.min(elapsed, seconds + 1), cpu: (target.cpuMs() - cpu0) / Math.max(1, completed), lost: live };
}

/** Per client, the callbacks waiting for a final response with a given Call-ID. */
function router(c: Client): Map<string, (m: string) => void> {
  const waiting = new Map<string, (m: string) => void>();
  c.onMessage = (m) => {
    const id = header(m, 'Call-ID');
    const w = waiting.get(id);
    if (w !== undefined && /^SIP\/2\.0 [2-6]/.test(m)) { waiting.delete(id); w(m); }
  };
  return waiting;
}

/** The callee: a UDP phone that answers every INVITE and BYE 200 at once, registered at `target`. */
async function startCallee(target: Target): Promise<{ at: string; close(): void }> {
  const s = dgram.createSocket('udp4');
  await new Promise<void>((r) => s.bind(0, HOST, r));
  const at = `${HOST}:${s.address().port}`;
  let registered: () => void = () => undefined;
  s.on('message', (buf, from) => {
    const m = buf.toString('latin1');
    if (/^SIP\/2\.0 200 /.test(m) && header(m, 'Call-ID') === 'callee-reg') return registered();
    if (!/^(INVITE|BYE) /.test(m)) return;
    const lines = ['SIP/2.0 200 OK', ...headers(m, 'Via').map((v) => `Via: ${v}`), ...headers(m, 'Record-Route').map((r) => `Record-Route: ${r}`),
      `From: ${header(m, 'From')}`, `To: ${header(m, 'To')}${/;tag=/.test(header(m, 'To')) ? '' : ';tag=callee'}`, `Call-ID: ${header(m, 'Call-ID')}`, `CSeq: ${header(m, 'CSeq')}`,
      `Contact: <sip:callee@${at}>`, 'Content-Length: 0', '', ''];
    s.send(lines.join('\r\n'), from.port, from.address);
  });
  const done = new Promise<void>((r) => { registered = r; });
  s.send(request('REGISTER', 'udp', { local: at }, { uri: `sip:${HOST}`, from: `<sip:callee@${HOST}>;tag=r`, to: `<sip:callee@${HOST}>`, callId: 'callee-reg', cseq: 1, extra: [`Contact: <sip:callee@${at}>`, 'Expires: 3600'] }), target.ports.udp, HOST);
  await done;
  return { at, close: () => s.close() };
}

let user = 0;
let call = 0;

async function bench(target: Target): Promise<string[]> {
  const rows: string[] = [];
  const callee = await startCallee(target);
  for (const t of ['udp', 'tls', 'ws'] as const satisfies readonly BenchTransport[]) {
    const clients = await Promise.all(Array.from({ length: t === 'udp' ? 1 : 8 }, () => connect(t, HOST, target.ports[t])));
    const routes = clients.map(router);
    const reg = await measure(target, clients, (c, done) => {
      const u = `u${++user}`;
      const id = `reg-${u}`;
      routes[clients.indexOf(c)]!.set(id, () => done());
      const contact = t === 'ws' ? `sip:${u}@bench.invalid;transport=ws` : `sip:${u}@${c.local}${t === 'tls' ? ';transport=tls' : ''}`;
      c.send(request('REGISTER', t, c, { uri: `sip:${HOST}`, from: `<sip:${u}@${HOST}>;tag=r`, to: `<sip:${u}@${HOST}>`, callId: id, cseq: 1, extra: [`Contact: <${contact}>`, 'Expires: 3600'] }));
    });
    const calls = await measure(target, clients, (c, done) => {
      const id = `call-${++call}`;
      const from = `<sip:caller@${HOST}>;tag=c${call}`;
      const waiting = routes[clients.indexOf(c)]!;
      waiting.set(id, (ok) => {
        const rr = headers(ok, 'Record-Route').join(', ').split(/,\s*/).reverse().join(', ');
        const dialog = { uri: `sip:callee@${callee.at}`, from, to: header(ok, 'To'), callId: id, extra: [`Route: ${rr}`] };
        c.send(request('ACK', t, c, { ...dialog, cseq: 1 }));
        waiting.set(id, () => done());
        c.send(request('BYE', t, c, { ...dialog, cseq: 2 }));
      });
      c.send(request('INVITE', t, c, { uri: `sip:callee@${HOST}`, from, to: `<sip:callee@${HOST}>`, callId: id, cseq: 1, extra: [`Contact: <sip:caller@${t === 'ws' ? 'bench.invalid;transport=ws' : c.local}>`] }));
    });
    const lost = reg.lost + calls.lost > 0 ? `   (${reg.lost} REGISTERs, ${calls.lost} calls not completed)` : '';
    rows.push(`${target.name.padEnd(10)} ${t.padEnd(4)} ${reg.rate.toFixed(0).padStart(10)} ${reg.cpu.toFixed(3).padStart(12)}   ${calls.rate.toFixed(0).padStart(8)} ${calls.cpu.toFixed(3).padStart(12)}${lost}`);
    for (const c of clients) c.close();
  }
  callee.close();
  return rows;
}

const rows: string[] = [];
const sy = await startSwitchyard(dir, cert, key);
try {
  rows.push(...await bench(sy));
} finally {
  await sy.stop();
}
const missing = kamailioMissing();
if (missing === null) {
  const kam = await startKamailio(dir, cert, key);
  try {
    rows.push(...await bench(kam));
  } finally {
    await kam.stop();
  }
}
console.log(`${seconds} s per figure, ${window} in flight, each proxy on ${PIN.length > 0 ? 'CPU 0' : 'any CPU'}:`);
console.log('proxy      via  REGISTER/s  CPU ms each    calls/s  CPU ms each');
for (const r of rows) console.log(r);
if (missing !== null) console.log(`Kamailio not measured: ${missing}`);
