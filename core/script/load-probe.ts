import { Worker } from 'node:worker_threads';
import { SwitchyardError, type ErrorCode } from '../lib/errors.ts';
import { loadScript, type LoadedScript } from './load.ts';

/** How long a script may take to load (evaluate and validate) before it is refused; SWITCHYARD_LOAD_TIMEOUT_MS overrides it. */
export function loadTimeoutMs(): number {
  const env = Number(process.env.SWITCHYARD_LOAD_TIMEOUT_MS);
  return Number.isFinite(env) && env > 0 ? env : 10_000;
}

function tooSlow(file: string, ms: number): SwitchyardError {
  return new SwitchyardError('SY_CONFIG_LOAD', `${file}: the script did not finish loading within ${ms / 1000} s (a loop or an await that never settles at its top level?)`, { file });
}

/**
 * Evaluates the script's top level once in a worker thread first (load-probe-worker.ts): a
 * script that loops or awaits forever there is stopped (the worker is terminated) and refused,
 * where evaluating it on the main thread would stop every message for good.
 */
export async function probeLoad(file: string, ms = loadTimeoutMs()): Promise<void> {
  const ext = import.meta.url.endsWith('.ts') ? '.ts' : '.js';
  const worker = new Worker(new URL(`./load-probe-worker${ext}`, import.meta.url), { workerData: { file }, stdout: true, stderr: true });
  worker.stdout.resume();
  worker.stderr.resume();
  let timer: NodeJS.Timeout | undefined;
  try {
    const outcome = await Promise.race([
      new Promise<{ ok: boolean; code?: string; message?: string }>((resolve, reject) => {
        worker.once('message', resolve);
        worker.once('error', reject);
        // A thread that ends without an answer had nothing left to run: its load awaits something that never comes.
        worker.once('exit', () => resolve({ ok: false, code: 'SY_CONFIG_LOAD', message: tooSlow(file, ms).message }));
      }),
      new Promise<'timeout'>((resolve) => { timer = setTimeout(() => resolve('timeout'), ms); }),
    ]);
    if (outcome === 'timeout') throw tooSlow(file, ms);
    if (!outcome.ok) throw new SwitchyardError((outcome.code ?? 'SY_CONFIG_LOAD') as ErrorCode, outcome.message ?? 'the script failed to load', { file });
  } finally {
    clearTimeout(timer);
    void worker.terminate();
  }
}

/** `work`, unless it has not settled within `ms`: then the load is refused (what it awaits is left behind). */
export async function withinLoadBound<T>(file: string, work: Promise<T>, ms = loadTimeoutMs()): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([work, new Promise<never>((_, reject) => { timer = setTimeout(() => reject(tooSlow(file, ms)), ms); })]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Loads a route script for serving, bounded: at a reload, first in a worker thread (probeLoad:
 * the running proxy must not stop for a script that never finishes), then here, where an await
 * that never settles is cut off too. Refused with SY_CONFIG_LOAD either way. At start nothing
 * serves yet, so the worker's extra second is not spent.
 */
export async function loadScriptBounded(file: string, opts: { probe: boolean }, ms = loadTimeoutMs()): Promise<LoadedScript> {
  if (opts.probe) await probeLoad(file, ms);
  return withinLoadBound(file, loadScript(file), ms);
}
