/**
 * The example route scripts in examples/, end to end: each runs in a real proxy process
 * (started as `npm start` starts it) with its listen port and media range overridden by the
 * command's SWITCHYARD_PLAIN_PORT / SWITCHYARD_MEDIA_PORTS, and real UDP clients show its policy.
 *
 * Ports used by this file only: signaling 63001-63003, media 21000-21049, 21100-21149, 21200-21209.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { after, afterEach, before, describe, test } from 'node:test';
import { ProxyProcess, REPO, type LogLine } from '../helpers/proxy-process.ts';
import { UdpPeer } from '../helpers/udp-peer.ts';
import { PlainUser, establishCall } from '../helpers/plain-client.ts';

const ALLOW_LIST = path.join(REPO, 'examples', 'allow-list.config.ts');
const BUSY_AND_LOG = path.join(REPO, 'examples', 'busy-and-log.config.ts');

/** How long to wait for any one datagram or log line: generous, for a loaded 2-core machine. */
const RX = 10_000;
/** How long to watch for a datagram that must NOT arrive. */
const QUIET = 400;
const START_TIMEOUT = 60_000;
/** How long a command may run to completion: `check` type-checks, slow on a loaded 2-core machine. */
const CLI_TIMEOUT = 180_000;

const ENV_KEYS = ['SWITCHYARD_PLAIN_PORT', 'SWITCHYARD_MEDIA_PORTS', 'SWITCHYARD_ANSWER_TIMEOUT_SEC'] as const;
type ExampleEnv = Partial<Record<(typeof ENV_KEYS)[number], string>>;

/**
 * Starts an example with the given environment. ProxyProcess.start() takes no env, but the
 * child inherits this process's environment at spawn time: set it, start, then restore it.
 */
async function startExample(configFile: string, env: ExampleEnv): Promise<ProxyProcess> {
  const saved = new Map(ENV_KEYS.map((k) => [k, process.env[k]] as const));
  for (const k of ENV_KEYS) {
    if (env[k] === undefined) delete process.env[k];
    else process.env[k] = env[k];
  }
  try {
    return await ProxyProcess.start({ configFile, timeoutMs: START_TIMEOUT });
  } finally {
    for (const [k, v] of saved) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
}

/** Runs the CLI to completion with extra environment (without touching this process's). */
function runCli(args: readonly string[], env: ExampleEnv): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(REPO, 'bin', 'switchyard.mjs'), ...args], {
      cwd: REPO, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => { stdout += c; });
    child.stderr.setEncoding('utf8').on('data', (c: string) => { stderr += c; });
    const timer = setTimeout(() => child.kill('SIGKILL'), CLI_TIMEOUT);
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** Every socket a test opens, closed after each test whatever happened. */
const openPeers = new Set<UdpPeer>();
afterEach(async () => {
  await Promise.all([...openPeers].map((p) => p.close()));
  openPeers.clear();
});

/** A plain-protocol user on its own IPv4 socket, with generous receive timeouts, closed after each test. */
async function phone(name: string, proxyPort: number): Promise<PlainUser> {
  const u = await PlainUser.register(name, proxyPort, 4, RX);
  openPeers.add(u.peer);
  return u;
}

/** `from` sends datagrams of the given sizes to the media port; `to` gets each unchanged, from that port. */
async function mediaFlows(from: PlainUser, to: PlainUser, port: number, sizes: readonly number[]): Promise<void> {
  for (const size of sizes) {
    const payload = randomBytes(size);
    await from.peer.send(payload, port);
    const got = await to.peer.next(RX);
    assert.equal(got.port, port, 'media arrives from the media port');
    assert.ok(got.data.equals(payload), `${size} bytes from ${from.name} reach ${to.name} unchanged`);
  }
}

/** A caller that sends a CALL gets exactly `expected` back. */
async function callIsAnswered(caller: PlainUser, callee: string, expected: string): Promise<void> {
  await caller.send(`CALL FROM:${caller.name} TO:${callee}\n`);
  assert.equal(await caller.next(), expected);
}

function inRange(port: number, min: number, max: number): void {
  assert.ok(port >= min && port <= max, `media port ${port} is within ${min}-${max}`);
}

const logMatch = (msg: string, fields: Record<string, unknown>) => (l: LogLine): boolean =>
  l.msg === msg && Object.entries(fields).every(([k, v]) => l[k] === v);

// ---------------------------------------------------------------------------------------

describe('examples/allow-list.config.ts', () => {
  const PORT = 63001;
  const MEDIA = { min: 21000, max: 21049 };
  let proxy: ProxyProcess;

  before(async () => {
    proxy = await startExample(ALLOW_LIST, { SWITCHYARD_PLAIN_PORT: String(PORT), SWITCHYARD_MEDIA_PORTS: `${MEDIA.min}-${MEDIA.max}` });
  });
  after(async () => {
    if (proxy !== undefined) assert.equal(await proxy.stop(), 0, 'graceful shutdown exits 0');
  });

  test('listens on the port and uses the media range from the environment', () => {
    const listening = proxy.logs.find((l) => l.msg === 'listening');
    assert.equal(listening?.port, PORT);
  });

  test('an allowed pair calls each other, in both directions, with media both ways through the relay', async () => {
    const alice = await phone('alice', PORT);
    const bob = await phone('bob', PORT);

    const port = await establishCall(alice, bob);
    inRange(port, MEDIA.min, MEDIA.max);
    await mediaFlows(alice, bob, port, [1, 160, 1200]);
    await mediaFlows(bob, alice, port, [160, 2000]);

    await bob.send(`BYE FROM:bob TO:alice\n`);
    assert.equal(await alice.next(), 'BYE FROM:bob TO:alice\n', 'BYE is passed to the other party');
    await alice.peer.send(Buffer.from('after bye'), port);
    await bob.quiet('media after BYE', QUIET);

    // The pair works the other way round too.
    const back = await establishCall(bob, alice);
    inRange(back, MEDIA.min, MEDIA.max);
    await mediaFlows(bob, alice, back, [80]);
    await mediaFlows(alice, bob, back, [80]);
    await alice.send(`BYE FROM:alice TO:bob\n`);
    assert.equal(await bob.next(), 'BYE FROM:alice TO:bob\n');
  });

  test('a call outside the list is rejected with CALL_FAILED ... not allowed, logged, and never reaches the callee', async () => {
    const carol = await phone('carol', PORT);
    const bob = await phone('bob', PORT);
    const from = proxy.logs.length;

    await callIsAnswered(carol, 'bob', 'CALL_FAILED FROM:bob TO:carol not allowed\n');
    await bob.quiet('a call that is not allowed', QUIET);
    const logged = await proxy.waitForLog(logMatch('call not allowed', { caller: 'carol', callee: 'bob' }), RX, from);
    assert.equal(logged.method, 'INVITE');

    // Either direction, and the reply keeps the request's terminator.
    await bob.send('CALL FROM:bob TO:carol\r\n');
    assert.equal(await bob.next(), 'CALL_FAILED FROM:carol TO:bob not allowed\r\n');
    await carol.quiet('a call that is not allowed', QUIET);
    await proxy.waitForLog(logMatch('call not allowed', { caller: 'bob', callee: 'carol' }), RX, from);

    // A registered user in no pair can call nobody.
    const mallory = await phone('mallory', PORT);
    await callIsAnswered(mallory, 'bob', 'CALL_FAILED FROM:bob TO:mallory not allowed\n');
    await bob.quiet('a call that is not allowed', QUIET);
  });

  test('the rejection does not tell whether the callee is online; an allowed but absent callee is an unknown peer', async () => {
    const carol = await phone('carol', PORT);
    const bob = await phone('bob', PORT);
    // dave is nobody's registered user in this test run.
    await callIsAnswered(carol, 'dave', 'CALL_FAILED FROM:dave TO:carol not allowed\n');
    await callIsAnswered(bob, 'dave', 'CALL_FAILED unknown peer\n');
  });

  test('a caller must call from the address it registered from, as in the default script', async () => {
    await phone('alice', PORT);
    const bob = await phone('bob', PORT);
    const impostor = await UdpPeer.open(4);
    openPeers.add(impostor);
    await impostor.send('CALL FROM:alice TO:bob\n', PORT);
    const answer = await impostor.nextText(RX);
    assert.match(answer, /^ERROR .*not registered/);
    await bob.quiet('a call from an impostor', QUIET);
  });
});

// ---------------------------------------------------------------------------------------

describe('examples/busy-and-log.config.ts', () => {
  const PORT = 63002;
  const MEDIA = { min: 21100, max: 21149 };
  let proxy: ProxyProcess;

  before(async () => {
    proxy = await startExample(BUSY_AND_LOG, { SWITCHYARD_PLAIN_PORT: String(PORT), SWITCHYARD_MEDIA_PORTS: `${MEDIA.min}-${MEDIA.max}` });
  });
  after(async () => {
    if (proxy !== undefined) assert.equal(await proxy.stop(), 0, 'graceful shutdown exits 0');
  });

  test('a user in an established call is busy; start, answer and BYE with media counters are logged', async () => {
    const alice = await phone('alice', PORT);
    const bob = await phone('bob', PORT);
    const carol = await phone('carol', PORT);
    const from = proxy.logs.length;

    const port = await establishCall(alice, bob);
    inRange(port, MEDIA.min, MEDIA.max);
    await proxy.waitForLog(logMatch('call started', { caller: 'alice', callee: 'bob' }), RX, from);
    const answered = await proxy.waitForLog(logMatch('call answered', { caller: 'alice', callee: 'bob' }), RX, from);
    assert.equal(answered.route, 'reply', 'logged by the reply route');
    assert.equal(typeof answered.ringMs, 'number');

    // The callee and the caller of an established call are both busy.
    await callIsAnswered(carol, 'bob', 'CALL_FAILED FROM:bob TO:carol busy\n');
    await callIsAnswered(carol, 'alice', 'CALL_FAILED FROM:alice TO:carol busy\n');
    await bob.quiet('a call to a busy user', QUIET);
    await alice.quiet('a call to a busy user', QUIET);
    const rejected = await proxy.waitForLog(logMatch('call rejected', { caller: 'carol', callee: 'bob' }), RX, from);
    assert.equal(rejected.reason, 'busy');
    assert.equal(rejected.busyWith, 'alice');
    assert.equal(rejected.busyState, 'established');

    // The busy call is not disturbed: media still flows both ways.
    await mediaFlows(alice, bob, port, [100, 200, 300]);
    await mediaFlows(bob, alice, port, [50, 70]);

    await bob.send('BYE FROM:bob TO:alice\n');
    assert.equal(await alice.next(), 'BYE FROM:bob TO:alice\n');
    const ended = await proxy.waitForLog(logMatch('call ended', { by: 'bob', to: 'alice' }), RX, from);
    assert.equal(ended.knownCall, true);
    assert.equal(ended.dialog, 'confirmed');
    assert.equal(typeof ended.talkMs, 'number');
    const media = ended.media as { port: number; parties: { user: string; packets: number; bytes: number; latched: boolean }[]; strangers: number };
    assert.equal(media.port, port);
    assert.deepEqual(media.parties, [
      { user: 'alice', packets: 3, bytes: 600, latched: true },
      { user: 'bob', packets: 2, bytes: 120, latched: true },
    ]);
    assert.equal(media.strangers, 0);

    // After the BYE, bob is free again.
    const again = await establishCall(carol, bob);
    await mediaFlows(carol, bob, again, [10]);
    await carol.send('BYE FROM:carol TO:bob\n');
    assert.equal(await bob.next(), 'BYE FROM:carol TO:bob\n');
    await proxy.waitForLog(logMatch('call ended', { by: 'carol', to: 'bob' }), RX, from);
  });

  test('a user with a pending call is busy; the callee\'s CALL_FAILED runs the failure route and frees both', async () => {
    const dave = await phone('dave', PORT);
    const erin = await phone('erin', PORT);
    const frank = await phone('frank', PORT);
    const from = proxy.logs.length;

    await dave.send('CALL FROM:dave TO:erin\n');
    assert.equal(await erin.next(), 'CALL FROM:dave TO:erin\n');
    await proxy.waitForLog(logMatch('call started', { caller: 'dave', callee: 'erin' }), RX, from);

    // erin is ringing, dave is calling: both are busy.
    await callIsAnswered(frank, 'erin', 'CALL_FAILED FROM:erin TO:frank busy\n');
    await callIsAnswered(frank, 'dave', 'CALL_FAILED FROM:dave TO:frank busy\n');
    const rejected = await proxy.waitForLog(logMatch('call rejected', { caller: 'frank', callee: 'erin' }), RX, from);
    assert.equal(rejected.busyState, 'ringing');
    assert.equal(rejected.busyWith, 'dave');
    await erin.quiet('a call to a busy user', QUIET);

    // dave sending his CALL again while it rings is not "busy": it is passed on.
    await dave.send('CALL FROM:dave TO:erin\n');
    assert.equal(await erin.next(), 'CALL FROM:dave TO:erin\n');

    await erin.send('CALL_FAILED FROM:erin TO:dave declined\n');
    assert.equal(await dave.next(), 'CALL_FAILED FROM:erin TO:dave declined\n', 'the failure is passed on as-is');
    const failed = await proxy.waitForLog(logMatch('call failed', { caller: 'dave', callee: 'erin' }), RX, from);
    assert.equal(failed.route, 'failure', 'logged by the failure route');
    assert.equal(failed.status, 603);
    assert.equal(failed.reason, 'declined');
    assert.equal(failed.local, false);

    // Both are free again.
    const port = await establishCall(frank, erin);
    inRange(port, MEDIA.min, MEDIA.max);
    await frank.send('BYE FROM:frank TO:erin\n');
    assert.equal(await erin.next(), 'BYE FROM:frank TO:erin\n');
    const p2 = await establishCall(dave, frank);
    await dave.send('BYE FROM:dave TO:frank\n');
    assert.equal(await frank.next(), 'BYE FROM:dave TO:frank\n');
    inRange(p2, MEDIA.min, MEDIA.max);
  });

  test('a call to an unregistered user is logged as failed (404) and does not leave the caller busy', async () => {
    const gina = await phone('gina', PORT);
    const hank = await phone('hank', PORT);
    const from = proxy.logs.length;
    await callIsAnswered(gina, 'nobody', 'CALL_FAILED unknown peer\n');
    const failed = await proxy.waitForLog(logMatch('call failed', { caller: 'gina', callee: 'nobody' }), RX, from);
    assert.equal(failed.status, 404);
    assert.equal(failed.reason, 'unknown peer');
    const port = await establishCall(hank, gina);
    await hank.send('BYE FROM:hank TO:gina\n');
    assert.equal(await gina.next(), 'BYE FROM:hank TO:gina\n');
    inRange(port, MEDIA.min, MEDIA.max);
  });

  test('who is busy survives a reload of the script (SIGHUP)', async () => {
    const ivan = await phone('ivan', PORT);
    const judy = await phone('judy', PORT);
    const kim = await phone('kim', PORT);
    const port = await establishCall(ivan, judy);

    const from = proxy.logs.length;
    proxy.child.kill('SIGHUP');
    const reloaded = await proxy.waitForLog((l) => l.msg === 'script reloaded', RX, from);
    const gen = reloaded.generation;
    assert.equal(typeof gen, 'number');
    assert.ok((gen as number) >= 2);

    await callIsAnswered(kim, 'judy', 'CALL_FAILED FROM:judy TO:kim busy\n');
    const rejected = await proxy.waitForLog(logMatch('call rejected', { caller: 'kim', callee: 'judy' }), RX, from);
    assert.equal(rejected.gen, gen, 'rejected by the reloaded script');

    await mediaFlows(ivan, judy, port, [33]);
    await ivan.send('BYE FROM:ivan TO:judy\n');
    assert.equal(await judy.next(), 'BYE FROM:ivan TO:judy\n');
    const ended = await proxy.waitForLog(logMatch('call ended', { by: 'ivan', to: 'judy' }), RX, from);
    assert.equal(ended.knownCall, true, 'the reloaded script knows the call made before the reload');
    assert.equal(ended.gen, gen);

    const again = await establishCall(kim, judy);
    await kim.send('BYE FROM:kim TO:judy\n');
    assert.equal(await judy.next(), 'BYE FROM:kim TO:judy\n');
    inRange(again, MEDIA.min, MEDIA.max);
  });
});

describe('examples/busy-and-log.config.ts with a short answer timeout', () => {
  const PORT = 63003;
  let proxy: ProxyProcess;

  before(async () => {
    proxy = await startExample(BUSY_AND_LOG, {
      SWITCHYARD_PLAIN_PORT: String(PORT), SWITCHYARD_MEDIA_PORTS: '21200-21209', SWITCHYARD_ANSWER_TIMEOUT_SEC: '1',
    });
  });
  after(async () => {
    if (proxy !== undefined) assert.equal(await proxy.stop(), 0, 'graceful shutdown exits 0');
  });

  test('an unanswered call fails with the proxy\'s own 408 "no answer", logged as local, and frees the callee', async () => {
    const lena = await phone('lena', PORT);
    const mike = await phone('mike', PORT);
    const nina = await phone('nina', PORT);
    const from = proxy.logs.length;

    await lena.send('CALL FROM:lena TO:mike\n');
    assert.equal(await mike.next(), 'CALL FROM:lena TO:mike\n');
    assert.equal(await lena.next(), 'CALL_FAILED FROM:mike TO:lena no answer\n');
    const failed = await proxy.waitForLog(logMatch('call failed', { caller: 'lena', callee: 'mike' }), RX, from);
    assert.equal(failed.status, 408);
    assert.equal(failed.reason, 'no answer');
    assert.equal(failed.local, true);

    await nina.send('CALL FROM:nina TO:mike\n');
    assert.equal(await mike.next(), 'CALL FROM:nina TO:mike\n', 'mike is no longer busy');
    await mike.send('ACK_CALL FROM:mike TO:nina\n');
    assert.equal(await nina.next(), 'ACK_CALL FROM:mike TO:nina\n');
    assert.match(await nina.next(), /^MEDIA_PORT FROM:nina TO:mike 2120\d\n$/);
    assert.match(await mike.next(), /^MEDIA_PORT FROM:nina TO:mike 2120\d\n$/);
    await nina.send('BYE FROM:nina TO:mike\n');
    assert.equal(await mike.next(), 'BYE FROM:nina TO:mike\n');
  });
});

// ---------------------------------------------------------------------------------------

describe('environment overrides of the examples', () => {
  for (const file of [ALLOW_LIST, BUSY_AND_LOG]) {
    const name = path.relative(REPO, file);

    test(`${name}: \`switchyard check\` reports the port and range from the environment, and defaults without them`, async () => {
      const custom = await runCli(['check', '--config', file], { SWITCHYARD_PLAIN_PORT: '36009', SWITCHYARD_MEDIA_PORTS: '21900-21999' });
      assert.equal(custom.code, 0, custom.stderr);
      assert.match(custom.stdout, /listen: plain :: 36009;/);

      const defaults = await runCli(['check', '--config', file], { SWITCHYARD_PLAIN_PORT: '', SWITCHYARD_MEDIA_PORTS: '' });
      assert.equal(defaults.code, 0, defaults.stderr);
      assert.match(defaults.stdout, /listen: plain :: 34567;/);
    });

    test(`${name}: a bad SWITCHYARD_PLAIN_PORT or SWITCHYARD_MEDIA_PORTS fails the check with a clear message`, async () => {
      for (const [env, message] of [
        [{ SWITCHYARD_PLAIN_PORT: 'abc' }, /SWITCHYARD_PLAIN_PORT='abc': expected a UDP port number 1-65535/],
        [{ SWITCHYARD_PLAIN_PORT: '70000' }, /SWITCHYARD_PLAIN_PORT='70000': expected a UDP port number 1-65535/],
        [{ SWITCHYARD_PLAIN_PORT: '-1' }, /SWITCHYARD_PLAIN_PORT='-1'/],
        [{ SWITCHYARD_MEDIA_PORTS: '21999-21000' }, /SWITCHYARD_MEDIA_PORTS='21999-21000': expected a port range like "5000-5999"/],
        [{ SWITCHYARD_MEDIA_PORTS: '21000' }, /SWITCHYARD_MEDIA_PORTS='21000'/],
      ] as const) {
        const r = await runCli(['check', '--config', file], env);
        assert.equal(r.code, 1, `check fails for ${JSON.stringify(env)}`);
        assert.match(r.stderr, /^SY_CONFIG_INVALID: /);
        assert.match(r.stderr, message);
      }
    });
  }

  test('the proxy refuses to start with a bad value, and says why', async () => {
    // Run as `npm start` runs it, to completion (a proxy that started anyway would be killed and fail here).
    const r = await runCli(['--config', ALLOW_LIST], { SWITCHYARD_PLAIN_PORT: '36004x' });
    assert.equal(r.code, 1, `exit code; output:\n${r.stdout}${r.stderr}`);
    const fatal = r.stdout.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as LogLine).find((l) => l.level === 60);
    assert.ok(fatal, `a fatal log line; output:\n${r.stdout}${r.stderr}`);
    assert.equal(fatal.code, 'SY_CONFIG_INVALID');
    assert.match(String(fatal.msg), /SWITCHYARD_PLAIN_PORT='36004x': expected a UDP port number/);
  });
});
