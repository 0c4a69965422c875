import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const TMP = path.join(REPO, 'test', '.tmp');

export type LogLine = Record<string, unknown> & { msg?: string; level?: number };

/** A proxy started the way `npm start` starts it: `node bin/switchyard.mjs`, JSON logs on a pipe. */
export class ProxyProcess {
  readonly logs: LogLine[] = [];
  private readonly logWaiters: { pred: (l: LogLine) => boolean; resolve: (l: LogLine) => void; reject: (e: Error) => void }[] = [];
  stderr = '';
  private exited: Promise<number | null>;

  private constructor(readonly child: ChildProcess, readonly configFile: string) {
    let buf = '';
    child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
      buf += chunk;
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        let entry: LogLine;
        try { entry = JSON.parse(line) as LogLine; } catch { entry = { msg: line }; }
        this.logs.push(entry);
        for (const w of [...this.logWaiters]) {
          if (w.pred(entry)) {
            this.logWaiters.splice(this.logWaiters.indexOf(w), 1);
            w.resolve(entry);
          }
        }
      }
    });
    child.stderr!.setEncoding('utf8').on('data', (c: string) => { this.stderr += c; });
    this.exited = new Promise((resolve) => child.once('exit', (code) => {
      // No more log lines will come: fail whoever still waits for one.
      for (const w of this.logWaiters.splice(0)) w.reject(new Error(`proxy exited (${code}) while a log line was awaited`));
      resolve(code);
    }));
  }

  /**
   * Starts the proxy with `configFile` (default: the repository's proxy.config.ts) and waits until
   * it listens. With the start-up warm-up only when `warmUp` (or `--warm-up` in `args`).
   */
  static async start(opts: { configFile?: string; args?: string[]; cwd?: string; timeoutMs?: number; env?: NodeJS.ProcessEnv; warmUp?: boolean; prefix?: readonly string[] } = {}): Promise<ProxyProcess> {
    const configFile = opts.configFile ?? path.join(REPO, 'proxy.config.ts');
    const extra = opts.args ?? [];
    const warmUp = opts.warmUp === true ? ['--warm-up'] : [];
    // No admin listener unless a test asks for one: proxies run side by side and 8060 is one port.
    const admin = extra.some((a) => a === '--admin' || a === '--no-admin') ? [] : ['--no-admin'];
    const args = [path.join(REPO, 'bin', 'switchyard.mjs'), ...(opts.configFile ? ['--config', configFile] : []), '--log-level', 'debug', ...warmUp, ...admin, ...extra];
    // `prefix` runs the proxy through a command that execs it, e.g. ['ip', 'netns', 'exec', ns].
    const [file, argv] = opts.prefix && opts.prefix.length > 0 ? [opts.prefix[0]!, [...opts.prefix.slice(1), process.execPath, ...args]] : [process.execPath, args];
    // A state folder of its own (the registrations file), unless the test gives one (to restart on it).
    const env = { ...(opts.env ?? process.env) };
    if (opts.env?.SWITCHYARD_STATE_DIR === undefined) env.SWITCHYARD_STATE_DIR = freshStateDir();
    const child = spawn(file, argv, { cwd: opts.cwd ?? REPO, env, stdio: ['ignore', 'pipe', 'pipe'] });
    const p = new ProxyProcess(child, configFile);
    try {
      await p.waitForLog((l) => typeof l.msg === 'string' && l.msg.startsWith('switchyard started'), opts.timeoutMs ?? 20_000);
    } catch (err) {
      p.child.kill('SIGKILL');
      throw new Error(`proxy did not start (${(err as Error).message}):\n${p.stderr}\n${p.logs.map((l) => JSON.stringify(l)).join('\n')}`);
    }
    return p;
  }

  /** Resolves with the first log line (already seen or future) that matches. */
  waitForLog(pred: (l: LogLine) => boolean, timeoutMs = 5000, from = 0): Promise<LogLine> {
    const seen = this.logs.slice(from).find(pred);
    if (seen !== undefined) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        const i = this.logWaiters.findIndex((w) => w.resolve === done);
        if (i >= 0) this.logWaiters.splice(i, 1);
        reject(new Error(`no matching log line within ${timeoutMs} ms; last lines:\n${this.logs.slice(-8).map((l) => JSON.stringify(l)).join('\n')}`));
      }, timeoutMs);
      const done = (l: LogLine): void => {
        clearTimeout(timer);
        resolve(l);
      };
      this.logWaiters.push({ pred, resolve: done, reject: (e) => { clearTimeout(timer); reject(e); } });
    });
  }

  /** The port the proxy's UDP listener of `dialect` opened (what `--plain-port 0` / `--sip-port 0` chose). */
  portOf(dialect: 'plain' | 'sip'): number {
    const l = this.logs.find((x) => x.msg === 'listening' && x.dialect === dialect && x.transport === 'udp');
    if (typeof l?.port !== 'number') throw new Error(`the proxy logged no ${dialect} listener`);
    return l.port;
  }

  /** Log lines whose message is `msg`. */
  logsWith(msg: string): LogLine[] {
    return this.logs.filter((l) => l.msg === msg);
  }

  /** SIGTERM, then the exit code. */
  async stop(): Promise<number | null> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 5000);
    const code = await this.exited;
    clearTimeout(timer);
    return code;
  }
}

/** A fresh folder under test/.tmp for a proxy's state (SWITCHYARD_STATE_DIR). */
export function freshStateDir(): string {
  mkdirSync(TMP, { recursive: true });
  return mkdtempSync(path.join(TMP, 'state-'));
}

/** Writes a route script into a fresh folder under test/.tmp and returns its path. */
export function writeScript(name: string, source: string): string {
  mkdirSync(TMP, { recursive: true });
  const dir = mkdtempSync(path.join(TMP, `${name}-`));
  const file = path.join(dir, 'proxy.config.ts');
  writeFileSync(file, source);
  return file;
}

/**
 * The classic SIP proxy script (the attack tests' target): REGISTER saved, in-dialog requests
 * along their route, new calls record-routed through the relay, anything else forwarded.
 * `relayFrom`: sources trusted to send requests to other hosts (tests of the routing itself).
 */
export function recordRoutingSipScript(o: { port: number; ports: string; transports?: readonly ('udp' | 'tcp')[]; relayFrom?: readonly string[] }): string {
  const transports = o.transports === undefined ? '' : `, transports: ${JSON.stringify(o.transports).replace(/"/g, "'")}`;
  const routing = o.relayFrom === undefined ? '' : `{ relayFrom: ${JSON.stringify(o.relayFrom).replace(/"/g, "'")} }`;
  return `import { defineProxy } from 'switchyard';
import { callRouting, dialog, mediaRelay, registrar } from 'switchyard/modules';

export default defineProxy({
  listen: [{ dialect: 'sip', port: ${o.port}, advertise: '127.0.0.1'${transports} }],
  modules: [registrar(), dialog(), callRouting(${routing}), mediaRelay({ ports: '${o.ports}', advertise: '127.0.0.1' })],
  routes: {
    request(ctx) {
      const { msg } = ctx;
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
}

/** A script like the default one, with the given listen port, media range and timeouts. */
export function defaultLikeScript(o: { port: number; ports: string; answerTimeoutSec?: number; idleTimeoutSec?: number; extraRequest?: string; mediaOptions?: string; listenOptions?: string }): string {
  return `import { defineProxy } from 'switchyard';
import { callRouting, dialog, mediaRelay, registrar } from 'switchyard/modules';

export default defineProxy({
  listen: [{ dialect: 'plain', port: ${o.port}${o.listenOptions ? `, ${o.listenOptions}` : ''} }],
  modules: [
    registrar(),
    dialog(),
    callRouting({ answerTimeoutSec: ${o.answerTimeoutSec ?? 30} }),
    mediaRelay({ ports: '${o.ports}', idleTimeoutSec: ${o.idleTimeoutSec ?? 60}${o.mediaOptions ? `, ${o.mediaOptions}` : ''} }),
  ],
  routes: {
    async request(ctx) {
      const { msg } = ctx;
      ${o.extraRequest ?? ''}
      if (msg.method === 'REGISTER') return ctx.register();
      if (msg.method === 'INVITE') {
        if (!(await ctx.registeredAtSource())) return ctx.respond(403, 'caller not registered at this address');
        ctx.engageMediaProxy();
        return ctx.forwardCall({ onFailure: 'callFailed' });
      }
      if (msg.method === 'BYE') {
        const fromParty = (await ctx.registeredAtSource(msg.from.user)) || (await ctx.registeredAtSource(msg.to.user));
        if (!fromParty) return ctx.respond(403, 'not a party of this call');
        if (ctx.dialogState() === null) return ctx.respond(481, 'no such call');
        ctx.endMediaSession();
        return ctx.forwardCall();
      }
      return ctx.respond(501, 'unsupported request');
    },
    failure: {
      callFailed(ctx) {
        ctx.log.info({ status: ctx.reply.status, reason: ctx.reply.reason }, 'call failed');
      },
    },
  },
});
`;
}
