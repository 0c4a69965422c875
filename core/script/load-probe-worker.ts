// Evaluates route scripts in a worker thread, so that one that never finishes loading can be
// stopped. Only whether its top level finishes matters here (the main thread's load reports
// every other error), so the switchyard API it imports is a stub that answers anything: the
// thread loads jiti and the script's own files, not the product. It stays up between reloads.
import { createJiti } from 'jiti';
import { parentPort } from 'node:worker_threads';

const anything: unknown = new Proxy(function stub() { /* any call, any member */ }, {
  get: (_t, key) => (key === 'then' ? undefined : anything),
  apply: () => anything,
  construct: () => anything as object,
});
const api = new Proxy({}, { get: (_t, key) => (key === 'then' ? undefined : key === '__esModule' ? true : anything), has: () => true });

const jiti = createJiti(import.meta.url, { moduleCache: false, virtualModules: { 'switchyard': api, 'switchyard/module': api, 'switchyard/modules': api } });
parentPort!.on('message', ({ id, file }: { id: number; file: string }) => {
  // A throw is the main load's to report, with its file and line: here only finishing counts.
  const done = (): void => parentPort!.postMessage({ id });
  jiti.import(file, { default: true }).then(done, done);
});
