/** The switchyard command: check, start, log format, graceful shutdown. */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import dgram from 'node:dgram';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { PlainUser } from '../helpers/plain-client.ts';
import { ProxyProcess, REPO, defaultLikeScript, writeScript } from '../helpers/proxy-process.ts';

const BIN = path.join(REPO, 'bin', 'switchyard.mjs');

/** Runs the command to completion; `check` type-checks, which on a loaded 2-core machine can take a while. */
function run(args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [BIN, ...args], { cwd: REPO, encoding: 'utf8', timeout: 180_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

test('check type-checks and validates the default script: one line that it is OK, exit 0', () => {
  const r = run(['check', '--config', 'proxy.config.ts']);
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stderr, '');
  assert.match(r.stdout, /^\S*proxy\.config\.ts: OK \(type-checked; listen: plain :: 34567, sip :: 5060; modules: registrar, dialog, call-routing, media-relay, flood-limits; routes: request, failure\.callFailed\)\n$/);
});

test('check gives the errors tsc gives, with file:line, and exit 1: a misspelt function, an unlisted module\'s function, an unknown failure route', () => {
  const fixtures = path.join('test', 'types', 'fixtures');
  for (const [file, error] of [
    ['misspelt-function.ts', /misspelt-function\.ts:10:18 - error TS2551: Property 'forwardcall' does not exist .* Did you mean 'forwardCall'\?/],
    ['unlisted-module-function.ts', /unlisted-module-function\.ts:\d+:\d+ - error TS\d+: Property 'engageMediaProxy' does not exist/],
    ['unknown-failure-route.ts', /unknown-failure-route\.ts:10:32 - error TS2322: Type '"voicemial"' is not assignable to type '"voicemail"'/],
  ] as const) {
    const r = run(['check', '--config', path.join(fixtures, file)]);
    assert.equal(r.status, 1, `${file}: ${r.stdout}${r.stderr}`);
    assert.match(r.stderr, error);
    assert.match(r.stderr, /\n1 type error\n/);
    assert.equal(r.stdout, '', 'no OK line');
  }
});

test('check type-checks a script with no tsconfig.json above it against this installation', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'sy-check-'));
  try {
    const file = path.join(dir, 'proxy.config.ts');
    writeFileSync(file, defaultLikeScript({ port: 62302, ports: '20300-20310' }));
    const ok = run(['check', '--config', file]);
    assert.equal(ok.status, 0, ok.stderr);
    assert.match(ok.stdout, /: OK \(type-checked; listen: plain :: 62302;/);
    writeFileSync(file, defaultLikeScript({ port: 62302, ports: '20300-20310', extraRequest: 'ctx.endMediaSesion();' }));
    const bad = run(['check', '--config', file]);
    assert.equal(bad.status, 1);
    assert.match(bad.stderr, /proxy\.config\.ts:\d+:\d+ - error TS2551: Property 'endMediaSesion' does not exist/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('check shows the overrides: a flag wins over its variable', () => {
  const r = spawnSync(process.execPath, [BIN, 'check', '--config', 'proxy.config.ts', '--plain-port', '36012', '--media-ports', '21950-21959'], {
    cwd: REPO, encoding: 'utf8', timeout: 180_000, env: { ...process.env, SWITCHYARD_PLAIN_PORT: '36011', SWITCHYARD_SIP_PORT: '36013' },
  });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /listen: plain :: 36012, sip :: 36013;/);
});

test('a listen port another program holds is one FATAL line naming it, before the warm-up, the relay or any listener', async () => {
  const squatter = dgram.createSocket({ type: 'udp6', ipv6Only: false });
  await new Promise<void>((resolve, reject) => { squatter.once('error', reject); squatter.bind(0, '::', () => resolve()); });
  const busy = squatter.address().port;
  try {
    // The default script listens for SIP, so without --no-warm-up a warm-up would run first.
    const r = run(['--config', 'proxy.config.ts', '--sip-port', String(busy), '--plain-port', '0', '--media-ports', '20320-20339']);
    assert.equal(r.status, 1, r.stdout + r.stderr);
    const lines = r.stdout.trim().split('\n');
    assert.equal(lines.length, 1, `one line and nothing before it:\n${r.stdout}`);
    const fatal = JSON.parse(lines[0]!) as { level: number; code: string; msg: string };
    assert.equal(fatal.level, 60);
    assert.equal(fatal.code, 'SY_LISTEN');
    assert.match(fatal.msg, new RegExp(`^port ${busy} \\(sip, UDP on ::\\) is in use$`));
  } finally {
    await new Promise<void>((r2) => squatter.close(() => r2()));
  }
});

test('check refuses a broken script with the reason and exit 1', () => {
  const syntax = writeScript('cli-syntax', 'export default {\n  listen: [,\n');
  const r1 = run(['check', '--config', syntax]);
  assert.equal(r1.status, 1);
  assert.match(r1.stderr, /SY_CONFIG_LOAD: .*proxy\.config\.ts:\d+/);

  const invalid = writeScript('cli-invalid', defaultLikeScript({ port: 70000, ports: '20300-20310' }));
  const r2 = run(['check', '--config', invalid]);
  assert.equal(r2.status, 1);
  assert.match(r2.stderr, /SY_CONFIG_INVALID[\s\S]*proxy\.config\.ts:\d+: listen\[0\]\.port: Too big/);

  const missing = run(['check', '--config', 'no/such/file.ts']);
  assert.equal(missing.status, 1);
});

test('bad flags exit 2 with usage', () => {
  const r = run(['--log-level', 'loud']);
  assert.equal(r.status, 2);
  assert.match(r.stderr, /--log-level/);
  assert.equal(run(['frobnicate']).status, 2);
});

test('start logs JSON when not on a TTY, and SIGTERM shuts down cleanly', async () => {
  const proxy = await ProxyProcess.start({ configFile: writeScript('cli-start', defaultLikeScript({ port: 62301, ports: '20300-20310' })) });
  const listening = proxy.logs.find((l) => l.msg === 'listening');
  assert.equal(listening?.port, 62301);
  assert.equal(listening?.host, '::');
  const u = await PlainUser.register('cliuser', 62301);
  await u.close();
  assert.equal(await proxy.stop(), 0);
  assert.ok(proxy.logs.some((l) => l.msg === 'switchyard stopped'));
});
