/**
 * What the user-agent helpers share: a temp folder per UA, a child process that is killed when
 * the UA closes or the test process exits, its output kept for failure messages, and waits on
 * events with deadlines.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import path from 'node:path';
import { TMP } from './proxy-process.ts';

const live = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of live) child.kill('SIGKILL');
});

/** A fresh folder under test/.tmp for one UA's configuration and recordings. */
export function uaFolder(kind: string, user: string): string {
  mkdirSync(TMP, { recursive: true });
  return mkdtempSync(path.join(TMP, `${kind}-${user}-`));
}

export function removeFolder(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}

/** `ip netns exec <ns> cmd args...` when a namespace is given: the command replaces `ip`, so the pid is the UA's. */
export function inNamespace(netns: string | undefined, cmd: string, args: readonly string[]): [string, string[]] {
  return netns === undefined ? [cmd, [...args]] : ['ip', ['netns', 'exec', netns, cmd, ...args]];
}

/** A UA's process: output kept (the last 256 KiB) and watched line by line; killed on close or exit. */
export class UaChild {
  private text = '';
  private readonly lineWatchers = new Set<(line: string) => void>();
  readonly exited: Promise<number | null>;

  constructor(readonly child: ChildProcess) {
    live.add(child);
    const reader = (): ((chunk: string) => void) => {
      let partial = '';
      return (chunk) => {
        this.text = (this.text + chunk).slice(-256 * 1024);
        partial += chunk;
        let nl: number;
        while ((nl = partial.indexOf('\n')) >= 0) {
          const line = partial.slice(0, nl).replace(/\x1b\[[0-9;]*m/g, '');
          partial = partial.slice(nl + 1);
          for (const w of [...this.lineWatchers]) w(line);
        }
      };
    };
    child.stdout?.setEncoding('utf8').on('data', reader());
    child.stderr?.setEncoding('utf8').on('data', reader());
    this.exited = new Promise((resolve) => child.once('exit', (code) => {
      live.delete(child);
      resolve(code);
    }));
    child.once('error', () => live.delete(child));
  }

  static spawn(cmd: string, args: readonly string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv; netns?: string; stdin?: boolean }): UaChild {
    const [file, argv] = inNamespace(opts.netns, cmd, args);
    return new UaChild(spawn(file, argv, { cwd: opts.cwd, env: opts.env ?? process.env, stdio: [opts.stdin === true ? 'pipe' : 'ignore', 'pipe', 'pipe'] }));
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** The output so far (both streams), for failure messages. */
  output(lastLines = 40): string {
    return this.text.split('\n').slice(-lastLines).join('\n');
  }

  /** Resolves with the first output line from now on that matches; rejects at the deadline or when the process exits. */
  waitForLine(re: RegExp, timeoutMs: number, what: string): Promise<RegExpExecArray> {
    return new Promise((resolve, reject) => {
      const done = (): void => {
        clearTimeout(timer);
        this.lineWatchers.delete(watch);
      };
      const watch = (line: string): void => {
        const m = re.exec(line);
        if (m !== null) {
          done();
          resolve(m);
        }
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`${what}: no output line matching ${re} within ${timeoutMs} ms; last output:\n${this.output()}`));
      }, timeoutMs);
      this.lineWatchers.add(watch);
      void this.exited.then((code) => {
        if (!this.lineWatchers.has(watch)) return;
        done();
        reject(new Error(`${what}: the process exited (${code}); last output:\n${this.output()}`));
      });
    });
  }

  /** Kills the process (SIGKILL: nothing of a UA's shutdown is under test) and waits for it. */
  async kill(): Promise<void> {
    if (this.running) this.child.kill('SIGKILL');
    await this.exited;
  }
}

/** Polls `probe` until it returns a value other than undefined, or fails at the deadline with `what`. */
export async function pollFor<T>(probe: () => Promise<T | undefined> | T | undefined, timeoutMs: number, what: string, everyMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() >= deadline) throw new Error(`${what} within ${timeoutMs} ms${last instanceof Error ? ` (last: ${last.message})` : ''}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** A UA's events in arrival order, with waits on them from a position on. */
export class EventLog<E> {
  readonly events: E[] = [];
  private readonly waiters = new Set<(e: E) => void>();

  /** `label` names the UA in failures; `show` renders an event; `context` adds the UA's recent output. */
  constructor(private readonly label: string, private readonly show: (e: E) => string, private readonly context: () => string) {}

  get length(): number {
    return this.events.length;
  }

  push(e: E): void {
    this.events.push(e);
    for (const w of [...this.waiters]) w(e);
  }

  /** Resolves with the first event from `since` on (an index into `events`) that matches. */
  waitFor(pred: (e: E) => boolean, timeoutMs: number, what: string, since = 0): Promise<E> {
    const seen = this.events.slice(since).find(pred);
    if (seen !== undefined) return Promise.resolve(seen);
    const origin = new Error('waited from');
    return new Promise((resolve, reject) => {
      const done = (): void => {
        clearTimeout(timer);
        this.waiters.delete(watch);
      };
      const watch = (e: E): void => {
        if (!pred(e)) return;
        done();
        resolve(e);
      };
      const timer = setTimeout(() => {
        done();
        const err = new Error(`${this.label}: ${what}: not within ${timeoutMs} ms; events since ${since}: ${this.events.slice(since).map(this.show).join(' ')}\n${this.context()}`);
        err.stack = `${err.message}\n${origin.stack?.split('\n').slice(1).join('\n') ?? ''}`;
        reject(err);
      }, timeoutMs);
      this.waiters.add(watch);
    });
  }
}
