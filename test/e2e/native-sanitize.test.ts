/**
 * The native addons under AddressSanitizer (with LeakSanitizer) and UndefinedBehaviorSanitizer.
 * Their sanitizer build (`node native/build.mjs --sanitize`, built here when missing or stale)
 * carries, in sanitized node processes: the media engine conformance tests, a walk over every
 * allocation failure, and a proxy's plain calls with media through the native relay and SIP calls
 * through the native UDP engine driven by SIPp. Any sanitizer report fails. A canary first proves
 * the harness sees a heap overflow, a leak and undefined behaviour.
 *
 * Skipped, saying why, where the C compiler has no sanitizer runtime (a failure with
 * SWITCHYARD_REQUIRE_NATIVE=1, as in CI). The conformance tests bind fixed ports, so they run in
 * a network namespace of their own (root, or unprivileged user namespaces); everything else
 * binds free ports.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import dgram from 'node:dgram';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { PlainUser, establishCall } from '../helpers/plain-client.ts';
import { ProxyProcess, REPO, writeScript } from '../helpers/proxy-process.ts';
import { freePort, freeRange } from '../helpers/ports.ts';
import { buildSanitized, SanitizerRun, sanitizerRuntime, type SanitizerRuntime } from '../helpers/sanitizer.ts';
import { receivedMediaPort, runSipp, sippVersion, startSipp, waitUntil } from '../helpers/sipp.ts';
import { UdpPeer } from '../helpers/udp-peer.ts';

const required = process.env.SWITCHYARD_REQUIRE_NATIVE === '1';
const found = sanitizerRuntime();
if ('missing' in found && required) throw new Error(`SWITCHYARD_REQUIRE_NATIVE=1 but the sanitizer runtime is missing: ${found.missing}`);
const skip = 'missing' in found ? `sanitizer runtime unavailable: ${found.missing}` : false;

/** A command prefix that runs a program in a new network namespace with loopback up, or why there is none. */
function isolatedNetwork(): { prefix: string[] } | { missing: string } {
  for (const unshare of [['unshare', '--net', '--'], ['unshare', '--map-root-user', '--net', '--']]) {
    if (spawnSync(unshare[0]!, [...unshare.slice(1), 'ip', 'link', 'set', 'lo', 'up']).status === 0) {
      return { prefix: [...unshare, 'sh', '-c', 'ip link set lo up && exec "$@"', 'sh'] };
    }
  }
  return { missing: 'no network namespace (needs root or unprivileged user namespaces, unshare and ip: apt-get install -y util-linux iproute2)' };
}

interface NodeRun {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly output: string;
}

/**
 * Runs `node args` sanitized (in the namespace `isolated` opens, when given), within `timeoutMs`;
 * the runtimes are preloaded into node only, not into the shell and `ip` before it.
 */
function runNode(run: SanitizerRun, args: readonly string[], timeoutMs: number, opts: { isolated?: readonly string[]; env?: NodeJS.ProcessEnv } = {}): Promise<NodeRun> {
  // NODE_TEST_CONTEXT would make a child's test runner think it runs inside this test file.
  const { LD_PRELOAD: preload, NODE_TEST_CONTEXT: _, ...env } = run.env(opts.env);
  const command = [...(opts.isolated ?? []), 'env', `LD_PRELOAD=${preload}`, process.execPath, ...args];
  const child = spawn(command[0]!, command.slice(1), { cwd: REPO, env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  let output = '';
  child.stdout.setEncoding('utf8').on('data', (c: string) => { output += c; });
  child.stderr.setEncoding('utf8').on('data', (c: string) => { output += c; });
  // The whole process group: a test file's proxies go with it.
  const killer = setTimeout(() => { try { process.kill(-child.pid!, 'SIGKILL'); } catch { /* gone */ } }, timeoutMs);
  return new Promise((resolve) => child.once('exit', (code, signal) => {
    clearTimeout(killer);
    resolve({ code, signal, output });
  }));
}

/** What a failed run said, for an assertion message. */
function explain(run: SanitizerRun, r: NodeRun): string {
  return `exit ${r.code ?? r.signal}\n${r.output.slice(-6000)}\nsanitizer findings:\n${run.describe(r.output).slice(0, 12000)}`;
}

/** The names of a run's sanitizer findings: none when it was clean. */
function findings(run: SanitizerRun, ...outputs: string[]): string[] {
  return run.findings(...outputs).map((f) => `${f.file}: ${f.text.split('\n').find((l) => /ERROR|runtime error/.test(l)) ?? f.text.slice(0, 200)}`);
}

/** Resolves once something holds UDP `port` on 127.0.0.1 (SIPp has started listening). */
async function boundByOther(port: number, timeoutMs: number): Promise<void> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const s = dgram.createSocket('udp4');
    const free = await new Promise<boolean>((resolve) => {
      s.once('error', () => resolve(false));
      s.bind(port, '127.0.0.1', () => resolve(true));
    });
    await new Promise<void>((resolve) => (free ? s.close(() => resolve()) : resolve()));
    if (!free) return;
    if (Date.now() > end) throw new Error(`nothing listens on ${port} within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

// A shared object whose constructor does what SY_CANARY says: the bugs the harness must see.
const CANARY = `#include <limits.h>
#include <stdlib.h>
#include <string.h>
void *volatile canary_sink;
__attribute__((constructor)) static void canary(void) {
  const char *what = getenv("SY_CANARY");
  if (what == NULL) return;
  if (strcmp(what, "overflow") == 0) {
    char *p = malloc(8);
    p[8 + (what[0] == 'x')] = 1;
    free(p);
  } else if (strcmp(what, "leak") == 0) {
    canary_sink = malloc(64);
    canary_sink = NULL;
  } else if (strcmp(what, "undefined") == 0) {
    volatile int big = INT_MAX;
    canary_sink = (void *)(long)(big + (int)strlen(what));
  }
}
`;

describe('the native addons under AddressSanitizer and UndefinedBehaviorSanitizer', { skip }, () => {
  const runtime = found as SanitizerRuntime;

  before(() => {
    buildSanitized();
  });

  test('the harness catches a heap overflow, a leak and undefined behaviour (a canary library)', async () => {
    const setup = new SanitizerRun(runtime, 'canary');
    const source = path.join(setup.dir, 'canary.c');
    const library = path.join(setup.dir, 'canary.so');
    writeFileSync(source, CANARY);
    const cc = spawnSync(process.env.CC || 'cc', ['-O0', '-g', '-fPIC', '-shared', '-fsanitize=address,undefined', '-o', library, source], { encoding: 'utf8' });
    assert.equal(cc.status, 0, cc.stderr);
    const load = `try { process.dlopen({ exports: {} }, ${JSON.stringify(library)}); } catch { /* not an addon: its constructor has run */ }`;
    for (const [bug, report] of [['overflow', /heap-buffer-overflow/], ['leak', /detected memory leaks/], ['undefined', /signed integer overflow/]] as const) {
      const run = new SanitizerRun(runtime, `canary-${bug}`);
      const r = await runNode(run, ['-e', load], 30_000, { env: { SY_CANARY: bug } });
      assert.match(run.describe(r.output), report, `${bug}: ${explain(run, r)}`);
      assert.notEqual(r.code, 0, `${bug}: the process fails`);
    }
  });

  const net = skip === false ? isolatedNetwork() : { missing: skip };
  test('the media engine conformance tests pass under the sanitizers', { skip: 'missing' in net ? net.missing : false }, async () => {
    assert.ok('prefix' in net);
    const run = new SanitizerRun(runtime, 'conformance');
    const files = ['test/unit/media-session.test.ts', 'test/unit/datagram-socket.test.ts', 'test/e2e/media-engines.test.ts'];
    const r = await runNode(run, ['--import', 'jiti/register', '--test', '--test-reporter=tap', '--test-concurrency=1', ...files], 240_000, { isolated: net.prefix });
    assert.deepEqual(findings(run, r.output), [], explain(run, r));
    assert.equal(r.code, 0, explain(run, r));
    assert.match(r.output, /# fail 0/);
    assert.match(r.output, /# skipped 0/, 'the native cases ran');
    assert.doesNotMatch(r.output, /# pass 0\b/);
  });

  test('every allocation failure is an ENOMEM error JavaScript sees, and leaves nothing behind', async () => {
    const run = new SanitizerRun(runtime, 'faults');
    const r = await runNode(run, ['--expose-gc', '--import', 'jiti/register', 'test/helpers/native-fault-walk.ts'], 60_000);
    assert.deepEqual(findings(run, r.output), [], explain(run, r));
    assert.equal(r.code, 0, explain(run, r));
    assert.match(r.output, /relay create\(2 workers\): \d+ allocation failures/);
    assert.match(r.output, /signal open: \d+ allocation failures/);
    assert.match(r.output, /signal receive: a batch that cannot be built reaches onError/);
  });

  describe('a sanitized proxy: plain calls with media through the native relay, SIP calls through the native UDP engine', () => {
    const LOOP = '127.0.0.1';
    let run: SanitizerRun;
    let proxy: ProxyProcess;
    let plainPort: number;
    let sipPort: number;
    let media: { min: number; max: number };

    before(async () => {
      sippVersion();
      run = new SanitizerRun(runtime, 'proxy');
      [plainPort, sipPort, media] = [await freePort(), await freePort(), await freeRange(40).then((r) => ({ min: Number(r.split('-')[0]), max: Number(r.split('-')[1]) }))];
      const script = `import { defineProxy } from 'switchyard';
import { callRouting, dialog, mediaRelay, registrar } from 'switchyard/modules';

export default defineProxy({
  listen: [{ dialect: 'plain', port: ${plainPort} }, { dialect: 'sip', port: ${sipPort}, host: '${LOOP}', advertise: '${LOOP}' }],
  // The burst of calls comes from one SIPp: its source may hold the whole range.
  modules: [registrar(), dialog(), callRouting(), mediaRelay({ ports: '${media.min}-${media.max}', advertise: '${LOOP}', engine: 'native', workers: 2, maxPortsPerSource: 40 })],
  routes: {
    async request(ctx) {
      const { msg } = ctx;
      if (msg.method === 'REGISTER') return ctx.register();
      if (msg.inDialog) {
        if (msg.method === 'BYE') ctx.endMediaSession();
        return ctx.forwardCall();
      }
      if (msg.method === 'INVITE') {
        if (msg.dialect === 'plain' && !(await ctx.registeredAtSource())) return ctx.respond(403, 'caller not registered at this address');
        ctx.engageMediaProxy();
        ctx.recordRoute();
        return ctx.forwardCall();
      }
      return ctx.forwardCall();
    },
  },
});
`;
      proxy = await ProxyProcess.start({ configFile: writeScript('sanitized-proxy', script), args: ['--no-warm-up'], env: run.env(), timeoutMs: 60_000 });
    });

    after(async () => {
      await proxy?.stop();
    });

    test('both listeners and the relay run native', async () => {
      const listening = proxy.logsWith('listening').filter((l) => l.transport === 'udp');
      assert.deepEqual(listening.map((l) => [l.dialect, l.udpEngine]).sort(), [['plain', 'native'], ['sip', 'native']]);
      const ready = await proxy.waitForLog((l) => l.msg === 'media relay ready');
      assert.deepEqual([ready.engine, ready.workers], ['native', 2]);
    });

    test('plain calls: media both ways across families, latching, a stranger; the counters in the end logs', async () => {
      for (const [k, fa, fb] of [[0, 4, 4], [1, 4, 6], [2, 6, 6]] as const) {
        const a = await PlainUser.register(`sa${k}`, plainPort, fa, 10_000);
        const b = await PlainUser.register(`sb${k}`, plainPort, fb, 10_000);
        const from = proxy.logs.length; // a port may have served an earlier call: its end lines come after this
        const port = await establishCall(a, b);
        const sizes = [1, 12, 172, 1400, 8000];
        let bytes = 0;
        for (let round = 0; round < 4; round++) {
          for (const len of sizes) {
            const x = randomBytes(len);
            await a.media(port, x);
            assert.ok((await b.peer.next(10_000)).data.equals(x), `${len} bytes a→b`);
            const y = randomBytes(len);
            await b.media(port, y);
            assert.ok((await a.peer.next(10_000)).data.equals(y), `${len} bytes b→a`);
            bytes += len;
          }
        }
        // A stranger, then one more datagram of a's: once b has that, the stranger's went before it.
        const stranger = await UdpPeer.open(fb);
        await stranger.send(Buffer.from('inject'), port);
        await a.media(port, Buffer.from('last'));
        assert.equal((await b.peer.next(10_000)).data.toString(), 'last');
        await a.send(`BYE FROM:sa${k} TO:sb${k}\n`);
        await b.next();
        const ended = await proxy.waitForLog((l) => l.msg === 'media session ended' && l.port === port, 10_000, from);
        const parties = ended.parties as { packets: number; bytes: number; latched: boolean }[];
        assert.deepEqual(parties.map((p) => [p.packets, p.bytes, p.latched]), [[21, bytes + 4, true], [20, bytes, true]]);
        assert.equal(ended.strangers, 1);
        await Promise.all([a.close(), b.close(), stranger.close()]);
      }
    });

    test('SIP over UDP: registration, a call with RTP both ways through the relay, then a burst of calls', async () => {
      const remote = `${LOOP}:${sipPort}`;
      const [uasPort, uacPort] = [await freePort(), await freePort()];
      const reg = await runSipp('register_once.xml', [remote, '-s', 'bob', '-i', LOOP, '-p', String(uasPort), '-m', '1']);
      assert.equal(reg.code, 0, reg.output);
      const caller = dgram.createSocket('udp4');
      const callee = dgram.createSocket('udp4');
      await Promise.all([caller, callee].map((s) => new Promise<void>((resolve) => s.bind(0, LOOP, resolve))));
      const uas = startSipp('uas.xml', ['-i', LOOP, '-p', String(uasPort), '-m', '1', '-key', 'mport', String(callee.address().port)], 60_000);
      try {
        await boundByOther(uasPort, 10_000);
        const from = proxy.logs.length; // a port may have served an earlier call: its end lines come after this
        const uac = startSipp('uac.xml', [remote, '-s', 'bob', '-i', LOOP, '-p', String(uacPort), '-m', '1', '-d', '3000', '-key', 'mport', String(caller.address().port)], 60_000);
        try {
          await waitUntil(() => /ACK sip:/.test(uac.messages()), 20_000, 'the caller to send its ACK');
          const toCaller = receivedMediaPort(uac.messages(), /^SIP\/2\.0 200/);
          const toCallee = receivedMediaPort(uas.messages(), /^INVITE/);
          assert.ok(toCaller !== null && toCaller >= media.min && toCaller <= media.max, `the caller's SDP points at the relay (${toCaller})`);
          assert.ok(toCallee !== null && toCallee >= media.min && toCallee <= media.max, `the callee's SDP points at the relay (${toCallee})`);
          const got = { caller: [] as Buffer[], callee: [] as Buffer[] };
          caller.on('message', (m) => got.caller.push(m));
          callee.on('message', (m) => got.callee.push(m));
          for (let i = 0; i < 20; i++) {
            const rtp = Buffer.alloc(172, i);
            rtp[0] = 0x80;
            caller.send(rtp, toCaller!, LOOP);
            callee.send(Buffer.from(rtp).fill(100 + i, 12), toCallee!, LOOP);
          }
          await waitUntil(() => got.caller.length === 20 && got.callee.length === 20, 10_000, 'RTP both ways');
          assert.deepEqual(got.callee.map((p) => p[1]).sort((x, y) => x! - y!), Array.from({ length: 20 }, (_, i) => i), 'the callee gets the caller\'s packets');
          assert.deepEqual(got.caller.map((p) => p[20]).sort((x, y) => x! - y!), Array.from({ length: 20 }, (_, i) => 100 + i), 'the caller gets the callee\'s packets');
          const [c, s] = await Promise.all([uac.done, uas.done]);
          assert.equal(c.code, 0, `caller: ${c.output}`);
          assert.equal(s.code, 0, `callee: ${s.output}`);
          const ended = await proxy.waitForLog((l) => l.msg === 'media session ended' && l.port === toCaller, 10_000, from);
          assert.deepEqual((ended.parties as { packets: number }[]).map((p) => p.packets), [20, 20]);
        } finally {
          uac.kill();
        }
      } finally {
        uas.kill();
        caller.close();
        callee.close();
      }
      // Twenty calls at 20 per second: batches of signaling both ways through signal.c.
      const calls = 20;
      const burstUas = startSipp('uas.xml', ['-i', LOOP, '-p', String(uasPort), '-m', String(calls), '-key', 'mport', '9'], 60_000);
      try {
        await boundByOther(uasPort, 10_000);
        const burst = await runSipp('uac.xml', [remote, '-s', 'bob', '-i', LOOP, '-p', String(uacPort), '-m', String(calls), '-r', '20', '-d', '100', '-key', 'mport', '9'], 60_000);
        assert.equal(burst.code, 0, burst.output);
        assert.equal((await burstUas.done).code, 0);
      } finally {
        burstUas.kill();
      }
    });

    test('the proxy stops cleanly and the sanitizers report nothing, leaks included', async () => {
      const code = await proxy.stop();
      assert.deepEqual(findings(run, proxy.stderr), [], run.describe(proxy.stderr));
      assert.equal(code, 0, proxy.stderr);
    });
  });
});
