/**
 * Every allocation of the native addons made to fail in turn, on their sanitizer build (which
 * has `failAllocation(n)`: the n-th allocation from now fails). test/e2e/native-sanitize.test.ts
 * runs this under AddressSanitizer with `node --expose-gc`: each failure must reach JavaScript as
 * an ENOMEM error and leave no descriptor and no thread behind; LeakSanitizer checks at exit
 * that no memory was left either. Prints one line per walk; exits non-zero on a failed check.
 */
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { readdirSync } from 'node:fs';
import { loadAddon } from '../../core/lib/native-addon.ts';

declare const handle: unique symbol;
type Handle = { readonly [handle]: true };

interface FaultInjection {
  failAllocation(n: number): void;
}

interface Relay extends FaultInjection {
  create(workers: number, rcvbufBytes: number): Handle;
  destroy(engine: Handle): void;
  open(engine: Handle, port: number, host: string): number;
  close(engine: Handle, port: number): void;
  setParty(engine: Handle, port: number, which: 0 | 1, address: string, partyPort: number): void;
  stats(engine: Handle, port: number): { parties: { packets: number; latched: boolean; address: string; port: number }[]; strangers: number } | null;
}

interface Signal extends FaultInjection {
  readonly batch: number;
  open(host: string, port: number, meta: Uint32Array, onBatch: (data: Buffer, addresses: string[], count: number) => void, bufferBytes: number, onError: (err: Error) => void): Handle;
  send(handle: Handle, data: Buffer, port: number, address: string): boolean;
  port(handle: Handle): number;
  close(handle: Handle): void;
}

function required<T>(name: string): T {
  const load = loadAddon<T>(name, 'node native/build.mjs --sanitize');
  if ('error' in load) throw new Error(`the sanitizer build of ${name}: ${load.error}`);
  return load.addon;
}

const relay = required<Relay>('relay');
const signal = required<Signal>('signal');
assert.equal(typeof relay.failAllocation, 'function', 'the sanitizer build injects allocation failures');

const descriptors = (): number => readdirSync('/proc/self/fd').length;
const threads = (): number => readdirSync('/proc/self/task').length;

function isNoMemory(err: unknown): boolean {
  const e = err as NodeJS.ErrnoException;
  return e instanceof Error && e.code === 'ENOMEM' && /out of memory/.test(e.message);
}

/**
 * Calls `attempt` with the 1st, 2nd... allocation failing until it succeeds; each failure must be
 * ENOMEM and leave descriptors and threads as they were. Returns the allocations walked.
 */
function walk<T>(what: string, attempt: () => T, addon: FaultInjection, done: (value: T) => void): number {
  for (let n = 1; n < 100; n++) {
    const before = { fds: descriptors(), threads: threads() };
    addon.failAllocation(n);
    let value: T;
    try {
      value = attempt();
    } catch (err) {
      addon.failAllocation(0);
      assert.ok(isNoMemory(err), `${what}, allocation ${n} failing: ${String(err)}`);
      assert.deepEqual({ fds: descriptors(), threads: threads() }, before, `${what}, allocation ${n} failing: nothing left open`);
      continue;
    }
    addon.failAllocation(0);
    done(value);
    assert.ok(n > 1, `${what} allocates`);
    console.log(`${what}: ${n - 1} allocation failures, each an ENOMEM error`);
    return n - 1;
  }
  throw new Error(`${what} never succeeded`);
}

async function freeUdpPort(): Promise<number> {
  const s = dgram.createSocket('udp4');
  await new Promise<void>((resolve) => s.bind(0, '127.0.0.1', resolve));
  const port = s.address().port;
  await new Promise<void>((resolve) => s.close(resolve));
  return port;
}

function nextMessage(socket: dgram.Socket, timeoutMs: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`nothing within ${timeoutMs} ms`)), timeoutMs);
    socket.once('message', (m) => {
      clearTimeout(timer);
      resolve(m);
    });
  });
}

async function until(cond: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

// The relay: an engine with two workers, then a session's slot.
walk('relay create(2 workers)', () => relay.create(2, 0), relay, (engine) => relay.destroy(engine));
{
  const engine = relay.create(1, 0);
  const port = await freeUdpPort();
  const fds = descriptors();
  relay.failAllocation(1);
  assert.equal(relay.open(engine, port, '127.0.0.1'), -12, 'a slot that cannot be allocated: -ENOMEM');
  relay.failAllocation(0);
  assert.equal(descriptors(), fds, 'no socket left from the failed open');
  assert.equal(relay.stats(engine, port), null, 'no slot');
  // The next open works and forwards.
  assert.equal(relay.open(engine, port, '127.0.0.1'), 0);
  const [a, b] = [dgram.createSocket('udp4'), dgram.createSocket('udp4')];
  await Promise.all([a, b].map((s) => new Promise<void>((resolve) => s.bind(0, '127.0.0.1', resolve))));
  relay.setParty(engine, port, 0, '127.0.0.1', a.address().port);
  relay.setParty(engine, port, 1, '127.0.0.1', b.address().port);
  const got = nextMessage(b, 2000);
  a.send(Buffer.from('through'), port, '127.0.0.1');
  assert.equal((await got).toString(), 'through');
  const stats = relay.stats(engine, port)!;
  assert.deepEqual(stats.parties.map((p) => [p.packets, p.latched, p.address, p.port]), [[1, true, '::ffff:127.0.0.1', a.address().port], [0, false, '::ffff:127.0.0.1', b.address().port]]);
  relay.close(engine, port);
  relay.destroy(engine);
  a.close();
  b.close();
  console.log('relay open: a slot allocation failure is -ENOMEM, the next open forwards');
}

// Signaling sockets: opening one, then a received batch that cannot be handed over.
const meta = new Uint32Array(3 * signal.batch);
const ignore = (): void => undefined;
walk('signal open', () => signal.open('127.0.0.1', 0, meta, ignore, 0, ignore), signal, (h) => signal.close(h));
{
  const batches: string[] = [];
  const errors: Error[] = [];
  const h = signal.open('127.0.0.1', 0, meta, (data, _addresses, count) => {
    for (let i = 0, m = 0; i < count; i++, m += 3) batches.push(data.subarray(meta[m]!, meta[m]! + meta[m + 1]!).toString());
  }, 0, (err) => errors.push(err));
  const port = signal.port(h);
  const peer = dgram.createSocket('udp4');
  await new Promise<void>((resolve) => peer.bind(0, '127.0.0.1', resolve));
  signal.failAllocation(1);
  peer.send('lost', port, '127.0.0.1');
  await until(() => errors.length === 1, 2000, 'the lost batch to be reported');
  signal.failAllocation(0);
  assert.ok(isNoMemory(errors[0]), String(errors[0]));
  assert.match(errors[0]!.message, /1 received datagram lost/);
  assert.deepEqual(batches, [], 'the lost datagram is not delivered');
  peer.send('delivered', port, '127.0.0.1');
  await until(() => batches.length === 1, 2000, 'the next datagram');
  assert.deepEqual(batches, ['delivered']);
  signal.close(h);
  peer.close();
  console.log('signal receive: a batch that cannot be built reaches onError as ENOMEM, the next one is delivered');
}

// Let the finalizers free what the handles held, so LeakSanitizer sees all of it at exit.
const gc = (globalThis as { gc?: () => void }).gc;
assert.ok(gc !== undefined, 'run with --expose-gc');
for (let i = 0; i < 3; i++) {
  gc();
  await new Promise((r) => setImmediate(r));
}
