/**
 * Real rtpengine (Debian's rtpengine-daemon) for the NG tests: in userspace (`--table=-1`), in
 * the foreground, on loopback, with an ephemeral NG port and a media port range that was free
 * when it started. `.ci/run` installs it; where the binary is missing a test may skip, except in
 * CI, where that is a failure.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import dgram from 'node:dgram';
import { NgClient } from '../../modules/media-relay/ng/client.ts';

const LOOP = '127.0.0.1';

/** Why the tests cannot run here (the binary is missing), or null. In CI a missing binary throws instead. */
export function rtpengineMissing(): string | null {
  const r = spawnSync('rtpengine', ['--version'], { encoding: 'utf8' });
  if (r.error === undefined) return null;
  const why = 'rtpengine is not installed (apt-get install -y rtpengine-daemon)';
  if (process.env.CI !== undefined && process.env.CI !== '' && process.env.CI !== 'false') throw new Error(`${why}; CI must run these tests`);
  return why;
}

function bindUdp(port: number): Promise<dgram.Socket | null> {
  return new Promise((resolve) => {
    const s = dgram.createSocket('udp4');
    s.once('error', () => {
      s.close();
      resolve(null);
    });
    s.bind({ port, address: LOOP, exclusive: true }, () => resolve(s));
  });
}

async function freePort(): Promise<number> {
  const s = await bindUdp(0);
  if (s === null) throw new Error('no free UDP port on loopback');
  const port = s.address().port;
  s.close();
  return port;
}

/**
 * A block of `size` UDP ports (even start), all free now, below the kernel's ephemeral range
 * and away from the product's 5000-5999.
 */
async function freeRange(size: number): Promise<{ min: number; max: number }> {
  for (let attempt = 0; attempt < 20; attempt++) {
    const min = 10_000 + 2 * Math.floor(Math.random() * ((30_000 - 10_000 - size) / 2));
    const held: dgram.Socket[] = [];
    let free = true;
    for (let p = min; p < min + size; p++) {
      const s = await bindUdp(p);
      if (s === null) {
        free = false;
        break;
      }
      held.push(s);
    }
    for (const s of held) s.close();
    if (free) return { min, max: min + size - 1 };
  }
  throw new Error(`no free block of ${size} UDP ports`);
}

export interface Rtpengine {
  readonly ngPort: number;
  readonly media: { readonly min: number; readonly max: number };
  /** What it logged so far. */
  log(): string;
  /** SIGTERM, then SIGKILL if it has not exited within 5 s. */
  stop(): Promise<void>;
}

/** Starts rtpengine and resolves once it answers an NG ping (within 15 s). */
export async function startRtpengine(): Promise<Rtpengine> {
  let lastError: Error | null = null;
  for (let attempt = 0; attempt < 3; attempt++) {
    const ngPort = await freePort();
    const media = await freeRange(100);
    const child = spawn('rtpengine', [
      '--config-file=none', '--table=-1', '--foreground', '--log-stderr', '--log-level=6',
      `--listen-ng=${LOOP}:${ngPort}`, `--interface=${LOOP}`, `--port-min=${media.min}`, `--port-max=${media.max}`,
      '--num-threads=2', '--delete-delay=0', '--timeout=60',
    ], { stdio: ['ignore', 'pipe', 'pipe'] });
    let log = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => { log += c; });
    child.stderr.setEncoding('utf8').on('data', (c: string) => { log += c; });
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    try {
      await answersPing(ngPort, exited, () => log);
      return { ngPort, media, log: () => log, stop: () => stop(child, exited) };
    } catch (e) {
      lastError = e as Error;
      await stop(child, exited);
    }
  }
  throw lastError ?? new Error('rtpengine did not start');
}

async function answersPing(port: number, exited: Promise<number | null>, log: () => string): Promise<void> {
  const client = await NgClient.open({ host: LOOP, port, timeoutMs: 300, tries: 3 });
  let gone: number | null | undefined;
  void exited.then((code) => { gone = code; });
  try {
    const deadline = Date.now() + 15_000;
    while (Date.now() < deadline) {
      if (gone !== undefined) throw new Error(`rtpengine exited (${gone}):\n${log()}`);
      if ((await client.ping()).ok) return;
    }
    throw new Error(`rtpengine did not answer a ping within 15 s:\n${log()}`);
  } finally {
    await client.close();
  }
}

async function stop(child: ChildProcess, exited: Promise<number | null>): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
  await exited;
  clearTimeout(timer);
}
