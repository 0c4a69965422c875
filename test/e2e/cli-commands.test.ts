/** The commands `switchyard` routes before its own options: `phone` and `ctl` parse their own arguments. */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createServer } from 'node:net';
import path from 'node:path';
import { test } from 'node:test';
import { REPO } from '../helpers/proxy-process.ts';

function run(args: readonly string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [path.join(REPO, 'bin', 'switchyard.mjs'), ...args], { timeout: 20_000, env: { ...process.env, SWITCHYARD_ADMIN: '' } }, (err, stdout, stderr) => {
      resolve({ code: err === null ? 0 : ((err as unknown as { code?: number }).code ?? 1), stdout, stderr });
    });
  });
}

test('switchyard phone reaches the test phone with its own options', async () => {
  const help = await run(['phone', '--help']);
  assert.equal(help.code, 0);
  assert.match(help.stdout, /^usage: switchyard phone/);
  const wrong = await run(['phone', '--no-such-option']);
  assert.equal(wrong.code, 2);
  assert.match(wrong.stderr, /switchyard phone --help/);
});

test('switchyard ctl: usage, and an unreachable listener', async () => {
  const bare = await run(['ctl']);
  assert.equal(bare.code, 2);
  assert.match(bare.stderr, /^usage: switchyard ctl/);
  const unknown = await run(['ctl', 'frobnicate']);
  assert.equal(unknown.code, 2);
  assert.match(unknown.stderr, /unknown ctl command 'frobnicate'/);
  // A port nobody listens on: bound and closed again.
  const port = await new Promise<number>((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => resolve(p));
    });
  });
  const down = await run(['ctl', 'calls', '--admin', `127.0.0.1:${port}`]);
  assert.equal(down.code, 1);
  assert.match(down.stderr, new RegExp(`cannot reach the admin listener at 127.0.0.1:${port}: .*ECONNREFUSED`));
});
