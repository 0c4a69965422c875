import { Worker } from 'node:worker_threads';
import { SwitchyardError, type ErrorCode } from '../lib/errors.ts';
import { loadScript, type LoadedScript } from './load.ts';
import type { ScriptOverrides } from './overrides.ts';

/** How long a script may take to load (evaluate and validate) before it is refused; SWITCHYARD_LOAD_TIMEOUT_MS overrides it. */
export function loadTimeoutMs(): number {
  const env = Number(process.env.SWITCHYARD_LOAD_TIMEOUT_MS);
  return Number.isFinite(env) && env > 0 ? env : 10_000;
}

function tooSlow(file: string, ms: number): SwitchyardError {
  return new SwitchyardError('SY_CONFIG_LOAD', `${file}: the script did not finish loading within ${ms / 1000} s (a loop or an await that never settles at its top level?)`, { file });
}

/** The probing thread, started at the first reload and kept (a thread and jiti cost a second to start); replaced after a refusal. */
let probe: { worker: Worker; waiting: Map<number, () => void> } | null = null;
let nextProbe = 1;

function probeThread(): { worker: Worker; waiting: Map<number, () => void> } {
  if (probe !== null) return probe;
  const ext = import.meta.url.endsWith('.ts') ? '.ts' : '.js';
  const worker = new Worker(new URL(`./load-probe-worker${ext}`, import.meta.url), { stdout: true, stderr: true });
  worker.unref();
  worker.stdout.resume();
  worker.stderr.resume();
  const waiting = new Map<number, () => void>();
  const self = { worker, waiting };
  worker.on('message', ({ id }: { id: number }) => {
    waiting.get(id)?.();
    waiting.delete(id);
  });
  const gone = (): void => {
    if (probe === self) probe = null;
  };
  worker.on('exit', gone);
  worker.on('error', gone);
  probe = self;
  return self;
}

/** Ends the probing thread (at shutdown: its output streams would keep the process alive). */
export async function closeProbe(): Promise<void> {
  const thread = probe;
  probe = null;
  if (thread !== null) await thread.worker.terminate();
}

/**
 * Evaluates the script's top level in a worker thread first (load-probe-worker.ts): a script
 * that loops or awaits forever there is stopped (the thread is terminated) and refused, where
 * evaluating it on the main thread would stop every message for good.
 */
export async function probeLoad(file: string, ms = loadTimeoutMs()): Promise<void> {
  const thread = probeThread();
  const id = nextProbe++;
  let timer: NodeJS.Timeout | undefined;
  const finished = new Promise<boolean>((resolve) => {
    thread.waiting.set(id, () => resolve(true));
    timer = setTimeout(() => resolve(false), ms);
  });
  thread.worker.postMessage({ id, file });
  const ok = await finished;
  clearTimeout(timer);
  if (ok) return;
  thread.waiting.delete(id);
  if (probe === thread) probe = null;
  void thread.worker.terminate();
  throw tooSlow(file, ms);
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
export async function loadScriptBounded(file: string, opts: { probe: boolean; overrides?: ScriptOverrides }, ms = loadTimeoutMs()): Promise<LoadedScript> {
  if (opts.probe) await probeLoad(file, ms);
  return withinLoadBound(file, loadScript(file, opts.overrides), ms);
}
