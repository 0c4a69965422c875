/** The switchyard command: check, start, log format, graceful shutdown. */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { test } from 'node:test';
import { PlainUser } from '../helpers/plain-client.ts';
import { ProxyProcess, REPO, defaultLikeScript, writeScript } from '../helpers/proxy-process.ts';

const BIN = path.join(REPO, 'bin', 'switchyard.mjs');

function run(args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [BIN, ...args], { cwd: REPO, encoding: 'utf8', timeout: 30_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

test('check accepts the default script and every example', () => {
  for (const f of ['proxy.config.ts']) {
    const r = run(['check', '--config', f]);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /: ok\n/);
    assert.match(r.stdout, /modules: registrar, dialog, call-routing, media-relay/);
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
  const proxy = await ProxyProcess.start({ configFile: writeScript('cli-start', defaultLikeScript({ port: 35301, ports: '20300-20310' })) });
  const listening = proxy.logs.find((l) => l.msg === 'listening');
  assert.equal(listening?.port, 35301);
  assert.equal(listening?.host, '::');
  const u = await PlainUser.register('cliuser', 35301);
  await u.close();
  assert.equal(await proxy.stop(), 0);
  assert.ok(proxy.logs.some((l) => l.msg === 'switchyard stopped'));
});
