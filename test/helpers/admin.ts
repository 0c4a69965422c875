import { execFile } from 'node:child_process';
import path from 'node:path';
import { REPO, type ProxyProcess } from './proxy-process.ts';

/** The port the proxy's admin listener bound (it logs it at start). */
export async function adminPort(proxy: ProxyProcess): Promise<number> {
  const line = await proxy.waitForLog((l) => l.msg === 'admin listener ready');
  return line.port as number;
}

/** A Prometheus text exposition as `name{a="x",b="y"}` → value (labels in the order written). */
export async function scrape(port: number, token?: string): Promise<Map<string, number>> {
  const res = await fetch(`http://127.0.0.1:${port}/metrics`, { headers: token === undefined ? {} : { authorization: `Bearer ${token}` } });
  if (res.status !== 200) throw new Error(`/metrics answered ${res.status}`);
  const out = new Map<string, number>();
  for (const line of (await res.text()).split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const at = line.lastIndexOf(' ');
    out.set(line.slice(0, at), Number(line.slice(at + 1)));
  }
  return out;
}

/** How much each series moved between two scrapes (series absent before count from 0). */
export function moved(before: Map<string, number>, after: Map<string, number>, prefix = 'switchyard_'): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of after) if (k.startsWith(prefix) && v !== (before.get(k) ?? 0)) out[k] = v - (before.get(k) ?? 0);
  return out;
}

export interface CtlRun {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs `switchyard ctl <args>` against the admin listener on `port`, as an operator would. */
export function ctl(port: number, args: readonly string[], env: NodeJS.ProcessEnv = process.env): Promise<CtlRun> {
  return new Promise((resolve) => {
    execFile(process.execPath, [path.join(REPO, 'bin', 'switchyard.mjs'), 'ctl', '--admin', `127.0.0.1:${port}`, ...args], { env, timeout: 20_000 }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof (err as NodeJS.ErrnoException & { code?: unknown }).code === 'number' ? (err as unknown as { code: number }).code : 1;
      resolve({ code, stdout, stderr });
    });
  });
}

/** `ctl <args> --json`, parsed; fails the test when ctl failed. */
export async function ctlJson<T = Record<string, unknown>>(port: number, args: readonly string[]): Promise<T> {
  const r = await ctl(port, [...args, '--json']);
  if (r.code !== 0) throw new Error(`ctl ${args.join(' ')} exited ${r.code}: ${r.stderr}${r.stdout}`);
  return JSON.parse(r.stdout) as T;
}
