// Evaluates a route script in a worker thread, so that one that never finishes loading can be
// stopped. Only whether its top level finishes matters here (the main thread's load reports
// every other error), so the switchyard API it imports is a stub that answers anything: the
// thread loads jiti and the script's own files, not the product.
import { createJiti } from 'jiti';
import { parentPort, workerData } from 'node:worker_threads';

const { file } = workerData as { file: string };

const anything: unknown = new Proxy(function stub() { /* any call, any member */ }, {
  get: (_t, key) => (key === 'then' ? undefined : anything),
  apply: () => anything,
  construct: () => anything as object,
});
const api = new Proxy({}, { get: (_t, key) => (key === 'then' ? undefined : key === '__esModule' ? true : anything), has: () => true });

const jiti = createJiti(import.meta.url, { moduleCache: false, virtualModules: { 'switchyard': api, 'switchyard/module': api, 'switchyard/modules': api } });
jiti.import(file, { default: true }).then(
  () => parentPort!.postMessage({ ok: true }),
  () => parentPort!.postMessage({ ok: true }), // a throw is the main load's to report, with its file and line
);
