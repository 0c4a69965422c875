/**
 * A throwaway redis-server for tests: listening on a unix socket in a fresh folder (and on TCP
 * when asked, on a port that was free); no persistence, or when asked an append-only file
 * written at every command, kept across restarts. `.ci/run` installs it.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync } from 'node:fs';
import path from 'node:path';
import { TMP } from './proxy-process.ts';

export function redisVersion(): string {
  const r = spawnSync('redis-server', ['--version'], { encoding: 'utf8' });
  if (r.error !== undefined) throw new Error('redis-server is not installed (apt-get install -y redis-server)');
  return r.stdout.trim();
}

export interface RedisServer {
  readonly socket: string;
  /** `unix://<socket>`: what the registrar's `store` option takes. */
  readonly url: string;
  readonly port: number;
  /** The server's process id (for SIGSTOP/SIGCONT: a server that stops answering). */
  pid(): number;
  log(): string;
  stop(): Promise<void>;
  /** Starts it again on the same socket and port: empty, or with what it persisted. */
  restart(): Promise<void>;
}

export async function startRedis(opts: { readonly port?: number; readonly persist?: boolean } = {}): Promise<RedisServer> {
  mkdirSync(TMP, { recursive: true });
  const dir = mkdtempSync(path.join(TMP, 'redis-'));
  const socket = path.join(dir, 'redis.sock');
  const port = opts.port ?? 0;
  let child: ChildProcess;
  let log = '';
  const launch = async (): Promise<void> => {
    const persistence = opts.persist === true ? ['--appendonly', 'yes', '--appendfsync', 'always'] : ['--appendonly', 'no'];
    child = spawn('redis-server', ['--save', '', ...persistence, '--port', String(port), '--bind', '127.0.0.1', '--unixsocket', socket, '--unixsocketperm', '700', '--dir', dir], { stdio: ['ignore', 'pipe', 'pipe'] });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`redis-server was not ready within 10 s:\n${log}`)), 10_000);
      const onData = (c: string): void => {
        log += c;
        if (/accept connections at \S*redis\.sock/.test(log)) {
          clearTimeout(timer);
          resolve();
        }
      };
      child.stdout!.setEncoding('utf8').on('data', onData);
      child.stderr!.setEncoding('utf8').on('data', onData);
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`redis-server exited (${code}):\n${log}`));
      });
    });
  };
  const stop = async (): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(timer);
  };
  await launch();
  return {
    socket,
    url: `unix://${socket}`,
    port,
    pid: () => child.pid!,
    log: () => log,
    stop,
    restart: async () => {
      await stop();
      log = '';
      await launch();
    },
  };
}
