// Loads a route script in a worker thread, so that one that never finishes loading can be stopped.
import { parentPort, workerData } from 'node:worker_threads';
import { loadScript } from './load.ts';

const { file } = workerData as { file: string };
loadScript(file).then(
  () => parentPort!.postMessage({ ok: true }),
  (err: unknown) => parentPort!.postMessage({ ok: false, code: (err as { code?: string }).code, message: err instanceof Error ? err.message : String(err) }),
);
