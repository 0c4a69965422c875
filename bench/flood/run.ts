/**
 * The flood benchmark (not a test): legitimate calls through a proxy while one address, or
 * many, floods it with REGISTERs or INVITEs, for switchyard with its flood limits (the default
 * script's modules, floodLimits at its default 60 messages per 2 s, banned 300 s) and for
 * Kamailio 5.6 with the stock script's pike + htable ban (16 requests per 2 s, banned 300 s,
 * bench/flood/kamailio.cfg). Each proxy on 127.0.0.1:37760, pinned to CPU 0 by run.sh, one
 * fresh process per run; the generators on CPU 1.
 *
 * Per run: the callee (127.0.0.10) registers; the flood (flooder.mjs, from 127.0.1.x) starts;
 * a second later the caller (127.0.0.11) places 2 calls a second for `seconds`: INVITE (SDP)
 * → 180/200 → ACK → BYE → 200, with RFC 3261 retransmissions; a call not done within 10 s
 * failed. Printed per proxy and flood: calls completed of placed, the INVITE→200 time (p50,
 * p99, max), what the flood sent and got answered, and the proxy's CPU over the run.
 *
 *   bench/flood/run.sh [seconds=20] [flood rate=20000] [many sources=200]
 *
 * FLOOD_PROXIES (switchyard,kamailio) and FLOOD_CASES (none, register-one, register-many,
 * invite-one, invite-many) choose the runs. With the defaults each of the many addresses sends
 * 100 a second, past both proxies' limits.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import dgram from 'node:dgram';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..', '..');
const PORT = 37760;
const HOST = '127.0.0.1';
const CALLEE = '127.0.0.10';
const CALLER = '127.0.0.11';
const PROBE = '127.0.0.99';
const CALLS_PER_SECOND = 2;
const CALL_LIMIT_MS = 10_000;

const [seconds = 20, floodRate = 20_000, manySources = 200] = process.argv.slice(2).map(Number);
const pinProxy = process.env.FLOOD_PIN_PROXY ?? 'taskset -c 0';
const pinLoad = process.env.FLOOD_PIN_LOAD ?? 'taskset -c 1';

type ProxyName = 'switchyard' | 'kamailio';
interface Flood { readonly kind: 'register' | 'invite'; readonly sources: number }
interface FloodReport { sent: number; answered: number; sentPerSecond: number }

function spawnPinned(pin: string, cmd: string, args: readonly string[], opts: { env?: NodeJS.ProcessEnv; out?: string } = {}): ChildProcess {
  const pre = pin.split(' ').filter((a) => a !== '');
  const [file, argv] = pre.length > 0 ? [pre[0]!, [...pre.slice(1), cmd, ...args]] : [cmd, [...args]];
  return spawn(file, argv, { env: opts.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
}

async function udp(address: string): Promise<dgram.Socket> {
  const s = dgram.createSocket('udp4');
  await new Promise<void>((resolve, reject) => { s.once('error', reject); s.bind(0, address, () => resolve()); });
  s.setRecvBufferSize(4 << 20);
  return s;
}

function header(text: string, name: string): string {
  return new RegExp(`\\r\\n${name}:[ \\t]*([^\\r\\n]*)`, 'i').exec(text)?.[1] ?? '';
}

function headerLines(text: string, name: RegExp): string[] {
  return text.split('\r\n').filter((l) => name.test(l));
}

/** CPU seconds of `pid` and its child processes (Kamailio forks its workers). */
function cpuSeconds(pid: number): number {
  let ticks = 0;
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${entry}/stat`, 'latin1');
    } catch {
      continue;
    }
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (Number(entry) !== pid && Number(fields[1]) !== pid) continue;
    ticks += Number(fields[11]) + Number(fields[12]);
  }
  return ticks / 100;
}

/** Resolves once the proxy answers an OPTIONS (within 15 s). */
async function ready(): Promise<void> {
  const s = await udp(PROBE);
  try {
    await new Promise<void>((resolve, reject) => {
      let n = 0;
      const t = setInterval(() => {
        n++;
        s.send(`OPTIONS sip:${HOST}:${PORT} SIP/2.0\r\nVia: SIP/2.0/UDP ${PROBE}:${s.address().port};branch=z9hG4bKprobe${n}\r\nMax-Forwards: 70\r\nFrom: <sip:probe@${HOST}>;tag=p${n}\r\nTo: <sip:${HOST}:${PORT}>\r\nCall-ID: probe${n}\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n`, PORT, HOST);
      }, 200);
      const give = setTimeout(() => { clearInterval(t); reject(new Error('the proxy did not answer OPTIONS within 15 s')); }, 15_000);
      s.once('message', () => { clearInterval(t); clearTimeout(give); resolve(); });
    });
  } finally {
    s.close();
  }
}

async function startProxy(name: ProxyName, logFile: string): Promise<{ pid: number; stop: () => Promise<void> }> {
  let child: ChildProcess;
  if (name === 'switchyard') {
    const env = { ...process.env, SWITCHYARD_STATE_DIR: mkdtempSync(join(tmpdir(), 'flood-state-')) };
    child = spawnPinned(pinProxy, process.execPath, [join(root, 'bin', 'switchyard.mjs'), '--config', join(here, 'switchyard.config.ts'), '--log-level', 'warn', '--no-watch', '--no-admin'], { env });
  } else {
    mkdirSync('/tmp/kam_flood', { recursive: true });
    child = spawnPinned(pinProxy, 'kamailio', ['-f', join(here, 'kamailio.cfg'), '-DD', '-E', '-A', 'CHILDREN=1', '-m', '1024', '-M', '16', '-Y', '/tmp/kam_flood']);
  }
  let log = '';
  child.stdout!.on('data', (d: Buffer) => { log += d.toString(); });
  child.stderr!.on('data', (d: Buffer) => { log += d.toString(); });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  try {
    await ready();
  } catch (err) {
    child.kill('SIGKILL');
    throw new Error(`${name}: ${(err as Error).message}\n${log.slice(-2000)}`);
  }
  // taskset execs the proxy: its pid is the child's.
  return {
    pid: child.pid!,
    stop: async () => {
      child.kill('SIGTERM');
      const killer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(killer);
      writeFileSync(logFile, log);
    },
  };
}

/** The callee: registers as bob, answers INVITE with 180 and 200 (repeated until the ACK), BYE with 200. */
async function callee(): Promise<{ close: () => void }> {
  const s = await udp(CALLEE);
  const at = `${CALLEE}:${s.address().port}`;
  const unacked = new Map<string, NodeJS.Timeout>();
  const send = (text: string): void => { s.send(text, PORT, HOST); };
  s.on('message', (buf) => {
    const m = buf.toString('latin1');
    if (m.startsWith('SIP/2.0')) return;
    const callId = header(m, 'call-id');
    if (m.startsWith('ACK ')) {
      clearTimeout(unacked.get(callId));
      unacked.delete(callId);
      return;
    }
    const common = `${headerLines(m, /^(via|v):/i).join('\r\n')}\r\n${headerLines(m, /^record-route:/i).map((l) => `${l}\r\n`).join('')}From: ${header(m, 'from')}\r\nTo: ${header(m, 'to')};tag=uas\r\nCall-ID: ${callId}\r\nCSeq: ${header(m, 'cseq')}\r\nContact: <sip:bob@${at}>\r\n`;
    if (m.startsWith('INVITE ')) {
      if (unacked.has(callId)) return; // a retransmission: the 200 is being repeated
      send(`SIP/2.0 180 Ringing\r\n${common}Content-Length: 0\r\n\r\n`);
      const body = `v=0\r\no=bob 1 1 IN IP4 ${CALLEE}\r\ns=-\r\nc=IN IP4 ${CALLEE}\r\nt=0 0\r\nm=audio 20000 RTP/AVP 0\r\n`;
      const ok = `SIP/2.0 200 OK\r\n${common}Content-Type: application/sdp\r\nContent-Length: ${body.length}\r\n\r\n${body}`;
      let wait = 500;
      const repeat = (): void => {
        send(ok);
        if (wait <= 4000) unacked.set(callId, setTimeout(repeat, (wait *= 2) / 2));
        else unacked.delete(callId);
      };
      repeat();
    } else if (m.startsWith('BYE ')) {
      send(`SIP/2.0 200 OK\r\n${common}Content-Length: 0\r\n\r\n`);
    } else {
      send(`SIP/2.0 200 OK\r\n${common}Content-Length: 0\r\n\r\n`);
    }
  });
  const registered = new Promise<void>((resolve, reject) => {
    const give = setTimeout(() => reject(new Error('bob could not register')), 5000);
    const on = (buf: Buffer): void => {
      if (!buf.toString('latin1').startsWith('SIP/2.0 200')) return;
      clearTimeout(give);
      s.off('message', on);
      resolve();
    };
    s.on('message', on);
  });
  const reg = `REGISTER sip:${HOST}:${PORT} SIP/2.0\r\nVia: SIP/2.0/UDP ${at};branch=z9hG4bKbobreg;rport\r\nMax-Forwards: 70\r\nFrom: <sip:bob@${HOST}>;tag=b\r\nTo: <sip:bob@${HOST}>\r\nCall-ID: bobreg@${at}\r\nCSeq: 1 REGISTER\r\nContact: <sip:bob@${at}>\r\nExpires: 3600\r\nContent-Length: 0\r\n\r\n`;
  send(reg);
  const again = setInterval(() => send(reg), 500);
  try {
    await registered;
  } finally {
    clearInterval(again);
  }
  return { close: () => { for (const t of unacked.values()) clearTimeout(t); s.close(); } };
}

interface CallResult { readonly placed: number; readonly completed: number; readonly setupMs: number[]; readonly failures: Record<string, number> }

/** The caller: `CALLS_PER_SECOND` calls a second to bob for `forSeconds`, each with INVITE and BYE retransmitted (T1 500 ms, doubling). */
async function placeCalls(forSeconds: number): Promise<CallResult> {
  const s = await udp(CALLER);
  const at = `${CALLER}:${s.address().port}`;
  const calls = new Map<string, { t0: number; timer: NodeJS.Timeout | null; state: 'inviting' | 'ringing' | 'ending'; done: () => void; n: number }>();
  const setupMs: number[] = [];
  const failures: Record<string, number> = {};
  const failed = (why: string): void => { failures[why] = (failures[why] ?? 0) + 1; };
  let completed = 0;
  let placed = 0;
  const send = (text: string): void => { s.send(text, PORT, HOST); };
  const retransmit = (callId: string, text: string, wait = 500): void => {
    const c = calls.get(callId);
    if (c === undefined) return;
    send(text);
    c.timer = setTimeout(() => retransmit(callId, text, Math.min(wait * 2, 4000)), wait);
  };
  s.on('message', (buf) => {
    const m = buf.toString('latin1');
    const callId = header(m, 'call-id');
    const c = calls.get(callId);
    if (c === undefined || !m.startsWith('SIP/2.0 ')) return;
    const status = Number(m.slice(8, 11));
    const method = header(m, 'cseq').split(' ')[1];
    if (method === 'INVITE') {
      if (status < 200) {
        if (c.state === 'inviting' && c.timer !== null) clearTimeout(c.timer);
        if (c.state === 'inviting') c.state = 'ringing';
        return;
      }
      const routes = headerLines(m, /^record-route:/i).map((l) => l.slice(l.indexOf(':') + 1).trim()).reverse().join(', ');
      const contact = header(m, 'contact').replace(/^<|>.*$/g, '');
      const dialog = `${routes !== '' ? `Route: ${routes}\r\n` : ''}Max-Forwards: 70\r\nFrom: <sip:alice@${HOST}>;tag=a${c.n}\r\nTo: ${header(m, 'to')}\r\nCall-ID: ${callId}\r\nContact: <sip:alice@${at}>\r\nContent-Length: 0\r\n\r\n`;
      if (status >= 300) {
        send(`ACK sip:bob@${HOST}:${PORT} SIP/2.0\r\nVia: SIP/2.0/UDP ${at};branch=z9hG4bKi${c.n};rport\r\nCSeq: 1 ACK\r\n${dialog}`);
        failed(String(status));
        c.done(); // refused: failed
        return;
      }
      if (c.state === 'ending') {
        send(`ACK ${contact} SIP/2.0\r\nVia: SIP/2.0/UDP ${at};branch=z9hG4bKa${c.n};rport\r\nCSeq: 1 ACK\r\n${dialog}`); // a repeated 200
        return;
      }
      if (c.timer !== null) clearTimeout(c.timer);
      setupMs.push(performance.now() - c.t0);
      c.state = 'ending';
      send(`ACK ${contact} SIP/2.0\r\nVia: SIP/2.0/UDP ${at};branch=z9hG4bKa${c.n};rport\r\nCSeq: 1 ACK\r\n${dialog}`);
      retransmit(callId, `BYE ${contact} SIP/2.0\r\nVia: SIP/2.0/UDP ${at};branch=z9hG4bKb${c.n};rport\r\nCSeq: 2 BYE\r\n${dialog}`);
    } else if (method === 'BYE' && status >= 200 && c.state === 'ending') {
      completed++;
      c.done();
    }
  });
  const outstanding: Promise<void>[] = [];
  const start = performance.now();
  for (let n = 0; n < forSeconds * CALLS_PER_SECOND; n++) {
    const due = start + (n * 1000) / CALLS_PER_SECOND;
    const wait = due - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    const callId = `legit${n}@${at}`;
    placed++;
    outstanding.push(new Promise<void>((resolve) => {
      const finish = (): void => {
        const c = calls.get(callId);
        if (c?.timer != null) clearTimeout(c.timer);
        clearTimeout(limit);
        calls.delete(callId);
        resolve();
      };
      const limit = setTimeout(() => {
        failed(calls.get(callId)?.state === 'ending' ? 'no answer to BYE' : 'no answer');
        finish();
      }, CALL_LIMIT_MS);
      calls.set(callId, { t0: performance.now(), timer: null, state: 'inviting', done: finish, n });
      const body = `v=0\r\no=alice 1 1 IN IP4 ${CALLER}\r\ns=-\r\nc=IN IP4 ${CALLER}\r\nt=0 0\r\nm=audio 10000 RTP/AVP 0\r\n`;
      retransmit(callId, `INVITE sip:bob@${HOST}:${PORT} SIP/2.0\r\nVia: SIP/2.0/UDP ${at};branch=z9hG4bKi${n};rport\r\nMax-Forwards: 70\r\nFrom: <sip:alice@${HOST}>;tag=a${n}\r\nTo: <sip:bob@${HOST}>\r\nCall-ID: ${callId}\r\nCSeq: 1 INVITE\r\nContact: <sip:alice@${at}>\r\nContent-Type: application/sdp\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
    }));
  }
  await Promise.all(outstanding);
  s.close();
  return { placed, completed, setupMs, failures };
}

function startFlood(f: Flood, forSeconds: number): Promise<FloodReport> {
  const child = spawnPinned(pinLoad, process.execPath, [join(here, 'flooder.mjs'), String(PORT), f.kind, String(f.sources), String(floodRate), String(forSeconds)]);
  let out = '';
  let err = '';
  child.stdout!.on('data', (d: Buffer) => { out += d.toString(); });
  child.stderr!.on('data', (d: Buffer) => { err += d.toString(); });
  return new Promise((resolve, reject) => child.once('exit', (code) => {
    if (code !== 0) reject(new Error(`flooder exited ${code}: ${err}`));
    else resolve(JSON.parse(out) as FloodReport);
  }));
}

function percentile(sorted: readonly number[], p: number): number {
  return sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

async function run(proxyName: ProxyName, flood: Flood | null, logDir: string): Promise<Record<string, unknown>> {
  const proxy = await startProxy(proxyName, join(logDir, `${proxyName}-${flood === null ? 'none' : `${flood.kind}-${flood.sources}`}.log`));
  try {
    const bob = await callee();
    const flooding = flood === null ? Promise.resolve(null) : startFlood(flood, seconds + 2);
    await new Promise((r) => setTimeout(r, 1000));
    const cpu0 = cpuSeconds(proxy.pid);
    const t0 = performance.now();
    const calls = await placeCalls(seconds);
    const cpu = (cpuSeconds(proxy.pid) - cpu0) / ((performance.now() - t0) / 1000);
    const floodReport = await flooding;
    bob.close();
    const setup = [...calls.setupMs].sort((a, b) => a - b);
    return {
      proxy: proxyName, flood: flood === null ? 'none' : `${flood.kind.toUpperCase()} ${flood.sources === 1 ? '1 address' : `${flood.sources} addr.`} ${Math.round(floodRate / flood.sources)}/s each`,
      placed: calls.placed, completed: calls.completed, successPct: Math.round((calls.completed / calls.placed) * 1000) / 10,
      setupP50Ms: Math.round(percentile(setup, 50) * 10) / 10, setupP99Ms: Math.round(percentile(setup, 99) * 10) / 10, setupMaxMs: Math.round((setup.at(-1) ?? NaN) * 10) / 10,
      floodSent: floodReport?.sent ?? 0, floodPerSecond: floodReport?.sentPerSecond ?? 0, floodAnswered: floodReport?.answered ?? 0,
      proxyCpuPct: Math.round(cpu * 100), failures: calls.failures,
    };
  } finally {
    await proxy.stop();
  }
}

async function main(): Promise<void> {
  const outDir = join(here, 'results', new Date().toISOString().replace(/[:.]/g, '-'));
  mkdirSync(outDir, { recursive: true });
  const only = (process.env.FLOOD_CASES ?? '').split(',').filter((c) => c !== '');
  const floods = ([null, { kind: 'register', sources: 1 }, { kind: 'register', sources: manySources }, { kind: 'invite', sources: 1 }, { kind: 'invite', sources: manySources }] as (Flood | null)[])
    .filter((f) => only.length === 0 || only.includes(f === null ? 'none' : `${f.kind}-${f.sources === 1 ? 'one' : 'many'}`));
  const proxies = (process.env.FLOOD_PROXIES ?? 'switchyard,kamailio').split(',') as ProxyName[];
  const rows: Record<string, unknown>[] = [];
  console.log(`flood: ${seconds} s of calls (${CALLS_PER_SECOND}/s) per run, floods of ${floodRate}/s from 1 or ${manySources} addresses`);
  console.log('proxy       flood                               calls ok      INVITE→200 p50 / p99 / max ms   flood sent/s  flood answered   proxy CPU');
  for (const flood of floods) {
    for (const proxyName of proxies) {
      const row = await run(proxyName, flood, outDir);
      rows.push(row);
      const failures = Object.entries(row.failures as Record<string, number>).map(([why, n]) => `${n}× ${why}`).join(', ');
      console.log(`${String(row.proxy).padEnd(11)} ${String(row.flood).padEnd(32)} ${`${row.completed}/${row.placed}`.padStart(7)} ${`${row.successPct}%`.padStart(6)}   ${`${row.setupP50Ms} / ${row.setupP99Ms} / ${row.setupMaxMs}`.padStart(28)}   ${String(row.floodPerSecond).padStart(11)}  ${String(row.floodAnswered).padStart(15)}   ${`${row.proxyCpuPct} %`.padStart(9)}${failures === '' ? '' : `   failed: ${failures}`}`);
    }
  }
  writeFileSync(join(outDir, 'flood.jsonl'), rows.map((r) => JSON.stringify(r)).join('\n') + '\n');
  console.log(`results: ${outDir}/flood.jsonl`);
}

await main();
