import { Worker } from 'node:worker_threads';

/** When a blocked event loop is reported (SWITCHYARD_BLOCKED_MS overrides it), and after how many times that the process gives up. */
const REPORT_MS = 2000;
const KILL_FACTOR = 5;

export interface Watchdog {
  stop(): void;
}

/**
 * Watches the main thread from a worker thread: the main thread bumps a shared counter every
 * 100 ms; when it has not for 2 s (a route that loops, a module stuck in a computation), the
 * worker pauses it for an instant through the inspector and logs where it is, with the route
 * script's file:line (frames under `scriptDir` first). A loop that has not returned after
 * 10 s will not: the worker kills the process so that its supervisor starts a fresh one.
 */
export function startWatchdog(scriptDir: string): Watchdog {
  const env = Number(process.env.SWITCHYARD_BLOCKED_MS);
  const reportMs = Number.isFinite(env) && env > 0 ? env : REPORT_MS;
  const beat = new Int32Array(new SharedArrayBuffer(4));
  const timer = setInterval(() => Atomics.add(beat, 0, 1), 100);
  timer.unref();
  const ext = import.meta.url.endsWith('.ts') ? '.ts' : '.js';
  const worker = new Worker(new URL(`./watchdog-worker${ext}`, import.meta.url), { workerData: { beat, reportMs, killMs: reportMs * KILL_FACTOR, scriptDir } });
  worker.unref();
  return {
    stop: () => {
      clearInterval(timer);
      void worker.terminate();
    },
  };
}
