import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { REPO, TMP } from './proxy-process.ts';

export const SCENARIOS = path.join(REPO, 'test', 'sip', 'scenarios');

/** SIPp (Debian sip-tester) must be installed: `.ci/run` installs it; a missing SIPp fails, it is not skipped. */
export function sippVersion(): string {
  const r = spawnSync('sipp', ['-v'], { encoding: 'utf8' });
  if (r.error !== undefined) throw new Error('SIPp is not installed (apt-get install -y sip-tester)');
  return /SIPp v[\d.]+/.exec(r.stdout + r.stderr)?.[0] ?? 'SIPp';
}

export interface SippRun {
  readonly code: number | null;
  readonly output: string;
  /** The folder SIPp ran in: its -trace_msg logs are there. */
  readonly dir: string;
}

export interface SippProcess {
  readonly done: Promise<SippRun>;
  readonly dir: string;
  /** Concatenated -trace_msg logs so far. */
  messages(): string;
  kill(): void;
}

/** Starts SIPp with `scenario` (a file in test/sip/scenarios) in its own folder, with message tracing; ends within `timeoutMs`. */
export function startSipp(scenario: string, args: readonly string[], timeoutMs = 20_000): SippProcess {
  mkdirSync(TMP, { recursive: true });
  const dir = mkdtempSync(path.join(TMP, `sipp-${path.basename(scenario, '.xml')}-`));
  const child = spawn('sipp', ['-sf', path.join(SCENARIOS, scenario), '-trace_msg', '-trace_err', '-nostdin', '-timeout', `${Math.ceil(timeoutMs / 1000)}s`, '-timeout_error', ...args], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.setEncoding('utf8').on('data', (c: string) => { output += c; });
  child.stderr.setEncoding('utf8').on('data', (c: string) => { output += c; });
  const killer = setTimeout(() => child.kill('SIGKILL'), timeoutMs + 5000);
  const done = new Promise<SippRun>((resolve) => child.once('exit', (code) => {
    clearTimeout(killer);
    resolve({ code, output, dir });
  }));
  return {
    done, dir,
    messages: () => traceOf(dir),
    kill: () => child.kill('SIGKILL'),
  };
}

/** The -trace_msg logs of a SIPp run, concatenated. */
export function traceOf(dir: string): string {
  return readdirSync(dir).filter((f) => f.endsWith('_messages.log')).map((f) => readFileSync(path.join(dir, f), 'latin1')).join('\n');
}

/** Runs SIPp to its end. */
export function runSipp(scenario: string, args: readonly string[], timeoutMs?: number): Promise<SippRun> {
  return startSipp(scenario, args, timeoutMs).done;
}

/** The messages SIPp received, from its trace (each with its text). */
export function received(trace: string): string[] {
  return trace.split(/-{20,} [^\n]*\n/).filter((b) => /message received/.test(b)).map((b) => b.slice(b.indexOf('\n') + 1).replace(/^\n/, ''));
}

/** The m=audio port of the first received message that carries one. */
export function receivedMediaPort(trace: string, firstLine: RegExp): number | null {
  for (const m of received(trace)) {
    if (!firstLine.test(m.split('\n')[0] ?? '')) continue;
    const port = /\nm=audio (\d+) /.exec(m);
    if (port) return Number(port[1]);
  }
  return null;
}

export async function waitUntil(cond: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** The first message SIPp sent whose start line matches. */
export function sentMessage(trace: string, startLine: RegExp): string | undefined {
  return trace.split(/-{20,} [^\n]*\n/).filter((b) => /message sent/.test(b)).map((b) => b.slice(b.indexOf('\n') + 1).replace(/^\n/, '')).find((m) => startLine.test(m));
}

/** Whether something listens on TCP `port` now (the kernel's socket tables; a connection to find out would be seen by SIPp). */
function tcpListening(port: number): boolean {
  const hex = port.toString(16).toUpperCase().padStart(4, '0');
  return ['/proc/net/tcp', '/proc/net/tcp6'].some((f) => {
    try {
      return readFileSync(f, 'utf8').split('\n').some((l) => {
        const cols = l.trim().split(/\s+/);
        return cols[1]?.endsWith(`:${hex}`) === true && cols[3] === '0A';
      });
    } catch {
      return false;
    }
  });
}

/** Until a SIPp started with `-t t1 -p <port>` listens for TCP connections. */
export function untilTcpListening(port: number, timeoutMs = 10_000): Promise<void> {
  return waitUntil(() => tcpListening(port), timeoutMs, `a TCP listener on port ${port}`);
}
