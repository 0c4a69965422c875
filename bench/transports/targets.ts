/**
 * The proxies bench/transports measures, each with a UDP, a TLS and a WebSocket listener on
 * loopback, the same routing (REGISTER saved; INVITE record-routed to the registered callee;
 * ACK and BYE along the route), pinned to CPU 0 when there are two: switchyard, and Kamailio
 * with its tls and websocket modules (kamailio.cfg here).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import dgram from 'node:dgram';
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { availableParallelism } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { BenchTransport } from './clients.ts';

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = join(HERE, '..', '..');

export interface Target {
  readonly name: string;
  readonly ports: Readonly<Record<BenchTransport, number>>;
  /** CPU time the proxy's processes used so far, ms (utime + stime from /proc). */
  cpuMs(): number;
  /** Ends it; resolves once it has exited. */
  stop(): Promise<void>;
}

/** The command prefix that pins a proxy to CPU 0, when the machine has a second CPU for the clients. */
export const PIN: readonly string[] = availableParallelism() >= 2 ? ['taskset', '-c', '0'] : [];

function spawnPinned(file: string, args: string[]): ChildProcess {
  return spawn(PIN[0] ?? file, [...PIN.slice(1), ...(PIN.length > 0 ? [file] : []), ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
}

function stopper(child: ChildProcess): () => Promise<void> {
  return () => new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    child.once('exit', () => resolve());
    child.kill('SIGTERM');
  });
}

/** utime + stime of `pid` and of its direct children (Kamailio forks its workers), ms. */
function treeCpuMs(pid: number): number {
  let ticks = 0;
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const f = readFileSync(`/proc/${entry}/stat`, 'utf8').split(') ')[1]!.split(' ');
      if (Number(entry) === pid || Number(f[1]) === pid) ticks += Number(f[11]) + Number(f[12]);
    } catch {
      // gone meanwhile
    }
  }
  return ticks * 10; // clock ticks of 10 ms
}

async function freeTcpPort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

async function freeUdpPort(): Promise<number> {
  const s = dgram.createSocket('udp4');
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', r));
  const port = s.address().port;
  s.close();
  return port;
}

export async function startSwitchyard(dir: string, cert: string, key: string): Promise<Target> {
  const file = join(dir, 'switchyard.config.ts');
  writeFileSync(file, `import { defineProxy } from 'switchyard';
import { callRouting, dialog, registrar } from 'switchyard/modules';
export default defineProxy({
  listen: [
    { dialect: 'sip', port: 0, host: '127.0.0.1', transports: ['udp'] },
    { dialect: 'sip', transport: 'tls', port: 0, host: '127.0.0.1', cert: '${cert}', key: '${key}' },
    { dialect: 'sip', transport: 'ws', port: 0, host: '127.0.0.1' },
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
  const child = spawnPinned(process.execPath, [join(ROOT, 'bin', 'switchyard.mjs'), '--config', file, '--no-admin']);
  child.stderr!.pipe(process.stderr);
  const ports = new Map<string, number>();
  await new Promise<void>((resolve, reject) => {
    let buf = '';
    child.once('exit', (code) => reject(new Error(`switchyard exited (${code}) before it started`)));
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
  return {
    name: 'switchyard',
    ports: { udp: ports.get('udp')!, tls: ports.get('tls')!, ws: ports.get('ws')! },
    cpuMs: () => treeCpuMs(child.pid!),
    stop: stopper(child),
  };
}

/** Why Kamailio cannot be measured here (not installed, or without its tls or websocket module), or null. */
export function kamailioMissing(): string | null {
  if (spawnSync('kamailio', ['-v']).error !== undefined) return 'kamailio is not installed (apt-get install kamailio)';
  const dirs = ['/usr/lib/x86_64-linux-gnu/kamailio/modules', '/usr/lib/aarch64-linux-gnu/kamailio/modules', '/usr/lib/kamailio/modules'];
  const moduleDir = dirs.find((d) => existsSync(join(d, 'tm.so')));
  if (moduleDir === undefined) return 'kamailio\'s modules were not found';
  for (const m of ['tls', 'websocket']) {
    if (!existsSync(join(moduleDir, `${m}.so`))) return `kamailio's ${m} module is not installed (apt-get install kamailio-tls-modules kamailio-websocket-modules)`;
  }
  return null;
}

/** Starts Kamailio with kamailio.cfg on free ports; resolves once it answers over UDP. */
export async function startKamailio(dir: string, cert: string, key: string): Promise<Target> {
  const ports = { udp: await freeUdpPort(), tls: await freeTcpPort(), ws: await freeTcpPort() };
  const cfg = readFileSync(join(HERE, 'kamailio.cfg'), 'utf8')
    .replaceAll('%UDP_PORT%', String(ports.udp)).replaceAll('%TLS_PORT%', String(ports.tls)).replaceAll('%WS_PORT%', String(ports.ws))
    .replaceAll('%CERT%', cert).replaceAll('%KEY%', key);
  const file = join(dir, 'kamailio.cfg');
  writeFileSync(file, cfg);
  const child = spawnPinned('kamailio', ['-f', file, '-DD', '-E', '-m', '1024', '-M', '16', '-Y', dir, '-P', join(dir, 'kamailio.pid')]);
  let log = '';
  child.stdout!.setEncoding('utf8').on('data', (c: string) => { log += c; });
  child.stderr!.setEncoding('utf8').on('data', (c: string) => { log += c; });
  const probe = dgram.createSocket('udp4');
  await new Promise<void>((r) => probe.bind(0, '127.0.0.1', r));
  try {
    await new Promise<void>((resolve, reject) => {
      const t0 = Date.now();
      const timer = setInterval(() => {
        if (child.exitCode !== null || Date.now() - t0 > 15_000) {
          clearInterval(timer);
          reject(new Error(`kamailio did not start:\n${log.slice(-2000)}`));
          return;
        }
        const at = `127.0.0.1:${probe.address().port}`;
        probe.send(`OPTIONS sip:127.0.0.1:${ports.udp} SIP/2.0\r\nVia: SIP/2.0/UDP ${at};branch=z9hG4bK-probe${Date.now()}\r\nMax-Forwards: 70\r\nFrom: <sip:probe@${at}>;tag=p\r\nTo: <sip:127.0.0.1>\r\nCall-ID: probe\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n`, ports.udp, '127.0.0.1');
      }, 200);
      probe.once('message', () => { clearInterval(timer); resolve(); });
    });
  } finally {
    probe.close();
  }
  return { name: 'kamailio', ports, cpuMs: () => treeCpuMs(child.pid!), stop: stopper(child) };
}
