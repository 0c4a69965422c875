/**
 * The SIP path benchmark's measurement (run.ts, admin-cost.ts): the proxy's CPU time per call,
 * closed loop. Starts bin/switchyard.mjs with switchyard.config.ts here (SIP on 127.0.0.1:37660),
 * registers a callee, then keeps `concurrency` calls in flight until `calls` have completed after
 * `warmUp` more: INVITE with SDP → 100/180/200 with SDP → ACK → BYE → 200, every request and
 * response through the proxy, the same ladder as the SIPp benchmark. Figures are the proxy
 * process's own CPU time (utime + stime from /proc) per call, and calls per second. The proxy
 * runs on CPU 0 and the caller on CPU 1 when the machine has two.
 *
 * SY_NODE_FLAGS passes Node flags to the proxy (for example --trace-gc), SY_ARGS switchyard's
 * own (for example --no-warm-up), SY_CONFIG another script. With 0 warm-up calls the figures
 * cover the proxy's first calls from the moment it answers: what a load meets that starts at
 * full rate. SY_AUTH=1 answers digest challenges (bob registers with bob-secret, every call is
 * alice's, challenged and sent again with alice-secret): with SY_CONFIG=
 * bench/sip-path/switchyard-auth.config.ts, what digest authentication costs per call.
 */
import { spawn } from 'node:child_process';
import dgram from 'node:dgram';
import { mkdtempSync, readFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { built } from '../built.ts';

const { playCalls } = await built<typeof import('../../cli/warm-up/call-player.ts')>('cli/warm-up/call-player.ts');

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..', '..');
const PROXY_PORT = 37660;
const HOST = '127.0.0.1';

const twoCores = availableParallelism() >= 2;
/** SY_AUTH=1: the credentials the calls answer challenges with (examples/users.txt). */
export const digestAuth = process.env.SY_AUTH === '1' ? { caller: 'alice', passwords: { alice: 'alice-secret', bob: 'bob-secret' } } : undefined;
const STALL_MS = 2000;

export function cpuMs(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'latin1').split(') ')[1]!.split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100; // utime, stime in clock ticks (USER_HZ 100)
}

function rssMb(pid: number): number {
  const line = readFileSync(`/proc/${pid}/status`, 'latin1').split('\n').find((l) => l.startsWith('VmRSS:'))!;
  return Number(line.split(/\s+/)[1]) / 1024;
}

async function openSocket(): Promise<dgram.Socket> {
  const s = dgram.createSocket('udp4');
  await new Promise<void>((resolve) => s.bind(0, HOST, () => resolve()));
  s.setRecvBufferSize(4 << 20);
  return s;
}

export async function startProxy(proxyArgs: readonly string[]): Promise<{ pid: number; stop: () => Promise<void> }> {
  const nodeArgs = [...(process.env.SY_NODE_FLAGS ?? '').split(' ').filter((a) => a !== ''), join(root, 'bin', 'switchyard.mjs'),
    '--config', process.env.SY_CONFIG ?? join(here, 'switchyard.config.ts'), '--log-level', 'warn', '--no-watch', ...(process.env.SY_ARGS ?? '').split(' ').filter((a) => a !== ''), ...proxyArgs];
  // Registrations kept in a folder of this run's: it starts with none.
  const env = { ...process.env, SWITCHYARD_STATE_DIR: mkdtempSync(join(tmpdir(), 'sip-path-state-')) };
  const child = twoCores ? spawn('taskset', ['-c', '0', process.execPath, ...nodeArgs], { stdio: ['ignore', 'inherit', 'inherit'], env })
    : spawn(process.execPath, nodeArgs, { stdio: ['ignore', 'inherit', 'inherit'], env });
  const probe = await openSocket();
  const up = await new Promise<boolean>((resolve) => {
    const t = setInterval(() => probe.send(`OPTIONS sip:${HOST}:${PROXY_PORT} SIP/2.0\r\nVia: SIP/2.0/UDP ${HOST}:${probe.address().port};branch=z9hG4bKprobe${Date.now()}\r\nFrom: <sip:probe@${HOST}>;tag=p\r\nTo: <sip:${HOST}>\r\nCall-ID: probe${Date.now()}\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n`, PROXY_PORT, HOST), 100);
    const give = setTimeout(() => { clearInterval(t); resolve(false); }, 15_000);
    probe.once('message', () => { clearInterval(t); clearTimeout(give); resolve(true); });
    child.once('exit', () => { clearInterval(t); clearTimeout(give); resolve(false); });
  });
  probe.close();
  if (!up) throw new Error('the proxy did not answer OPTIONS within 15 s');
  return {
    pid: child.pid!,
    stop: () => new Promise((resolve) => { child.once('exit', () => resolve()); child.kill('SIGTERM'); }),
  };
}

export interface SipPathOptions {
  readonly calls: number;
  readonly concurrency: number;
  readonly warmUp: number;
  /** More arguments for the proxy's command line (after SY_ARGS). */
  readonly proxyArgs?: readonly string[];
  /** Runs beside the measured calls while the proxy is up (a Prometheus scraper); stopped when they are done. */
  readonly beside?: () => () => void;
}

export interface SipPathResult {
  readonly calls: number;
  readonly stalled: number;
  readonly callsPerSec: number;
  /** The proxy process's CPU time per measured call. */
  readonly usPerCall: number;
  /** Its share of one core while measured, %. */
  readonly corePercent: number;
  readonly rssMb: number;
}

/** One closed-loop run against a proxy of its own; progress on stderr. */
export async function measureSipPath(o: SipPathOptions): Promise<SipPathResult> {
  const { calls, concurrency, warmUp } = o;
  const proxy = await startProxy(o.proxyArgs ?? []);
  const stopBeside = o.beside?.();
  const total = warmUp + calls;
  const at = (completed: number): { cpu: number; t: number; completed: number } => ({ cpu: cpuMs(proxy.pid), t: performance.now(), completed });
  // With no warm-up calls the figures start when the proxy answers, not when its process started.
  let measureFrom = warmUp === 0 ? at(0) : null;
  let completed = 0;

  // Progress every 2 s: the rate and the proxy's share of a core over the last interval.
  let last = at(0);
  const progress = setInterval(() => {
    const now = at(completed);
    const secs = (now.t - last.t) / 1000;
    process.stderr.write(`  ${((now.completed - last.completed) / secs).toFixed(0)} calls/s, proxy ${(((now.cpu - last.cpu) / (now.t - last.t)) * 100).toFixed(0)} % of a core, ${completed} done\n`);
    last = now;
  }, 2000);
  const played = await playCalls({
    host: HOST, port: PROXY_PORT, calls: total, concurrency, stallMs: STALL_MS, ...(digestAuth === undefined ? {} : { auth: digestAuth }),
    onCompleted: (n) => {
      completed = n;
      if (n === warmUp && measureFrom === null) measureFrom = at(n);
    },
  });
  clearInterval(progress);
  const end = at(played.completed);
  stopBeside?.();
  const rss = rssMb(proxy.pid);
  await proxy.stop();
  const from = measureFrom ?? at(0);
  const n = end.completed - from.completed;
  const secs = (end.t - from.t) / 1000;
  return {
    calls: n, stalled: played.stalled, callsPerSec: n / secs, usPerCall: ((end.cpu - from.cpu) * 1000) / n,
    corePercent: ((end.cpu - from.cpu) / (end.t - from.t)) * 100, rssMb: rss,
  };
}
