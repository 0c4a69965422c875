/**
 * A switchyard relay node as its own process (`node bin/switchyard.mjs relay`, from dist/),
 * on loopback with an ephemeral NG port and a media range that was free when it started.
 * Resolves once it logged `relay node ready`.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { REPO } from './proxy-process.ts';
import { freeRange } from './ports.ts';

export interface RelayNodeProcess {
  readonly ngPort: number;
  readonly media: { readonly min: number; readonly max: number };
  readonly pid: number;
  log(): string;
  /** SIGTERM (or the signal given), then SIGKILL after 5 s; resolves with the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

export async function startRelayNode(extra: readonly string[] = [], opts: { readonly ng?: string; readonly size?: number } = {}): Promise<RelayNodeProcess> {
  const [min, max] = (await freeRange(opts.size ?? 100)).split('-').map(Number) as [number, number];
  const media = { min, max };
  const child = spawn(process.execPath, [
    path.join(REPO, 'bin', 'switchyard.mjs'), 'relay', '--ng', opts.ng ?? '127.0.0.1:0', '--ports', `${media.min}-${media.max}`, ...extra,
  ], { stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const ready = new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the relay node was not ready within 10 s:\n${log}`)), 10_000);
    const onData = (c: string): void => {
      log += c;
      const m = /"ngPort":(\d+)[^\n]*relay node ready/.exec(log);
      if (m !== null) {
        clearTimeout(timer);
        resolve(Number(m[1]));
      }
    };
    child.stdout!.setEncoding('utf8').on('data', onData);
    child.stderr!.setEncoding('utf8').on('data', (c: string) => { log += c; });
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`the relay node exited (${code}):\n${log}`));
    });
  });
  const ngPort = await ready;
  return { ngPort, media, pid: child.pid!, log: () => log, stop: (signal) => stop(child, exited, signal) };
}

async function stop(child: ChildProcess, exited: Promise<number | null>, signal: NodeJS.Signals = 'SIGTERM'): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return exited;
  child.kill(signal);
  const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
  const code = await exited;
  clearTimeout(timer);
  return code;
}
