/**
 * The admin listener's token rule: loopback only without a token (a script or command line that
 * would expose it otherwise is refused), and with a token every path but the probes needs it.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { AdminServer } from '../../core/admin/server.ts';
import { Switchyard } from '../../core/boot/switchyard.ts';
import { createLogger } from '../../core/lib/log.ts';
import { loadScript } from '../../core/script/load.ts';
import { REPO, writeScript } from '../helpers/proxy-process.ts';

const TOKEN = 'correct-horse-battery-staple';
const log = createLogger({ level: 'silent' });

function scriptWith(admin: string): string {
  return writeScript('admin-token', `import { defineProxy } from 'switchyard';
import { registrar } from 'switchyard/modules';
export default defineProxy({
  listen: [{ dialect: 'plain', port: 0, host: '127.0.0.1' }],
  admin: ${admin},
  modules: [registrar()],
  routes: { request: (ctx) => ctx.register() },
});
`);
}

function run(args: readonly string[], env: NodeJS.ProcessEnv = process.env): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [path.join(REPO, 'bin', 'switchyard.mjs'), ...args], { env, timeout: 20_000 }, (err, stdout, stderr) => {
      resolve({ code: err === null ? 0 : ((err as unknown as { code?: number }).code ?? 1), out: stdout + stderr });
    });
  });
}

describe('admin token rule', () => {
  test('a script that exposes the admin listener without a token is refused, naming the line', async () => {
    const file = scriptWith(`{ host: '0.0.0.0', port: 0 }`);
    await assert.rejects(loadScript(file), (err: Error) => {
      assert.match(err.message, new RegExp(`${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:5: admin.host: the admin listener on 0.0.0.0 is reachable from other machines`));
      return true;
    });
    const check = await run(['check', '--config', file]);
    assert.equal(check.code, 1);
    assert.match(check.out, /SY_CONFIG_INVALID: .*admin\.host/s);
  });

  test('--admin on a public address without a token: the proxy does not start', async () => {
    const file = scriptWith('{ port: 0 }');
    const r = await run(['--config', file, '--no-warm-up', '--admin', '0.0.0.0:0'], { ...process.env, SWITCHYARD_ADMIN_TOKEN: '' });
    assert.equal(r.code, 1);
    assert.match(r.out, /SY_ADMIN_EXPOSED/);
  });

  describe('with a token', () => {
    let proxy: Switchyard;
    let admin: AdminServer;
    let base: string;

    before(async () => {
      const script = await loadScript(scriptWith(`{ host: '0.0.0.0', port: 0, token: '${TOKEN}' }`));
      proxy = await Switchyard.boot(script, log, { watch: false });
      admin = await AdminServer.start(proxy, { ...script.admin, host: '127.0.0.1', version: '0.0.0-test', log });
      base = `http://127.0.0.1:${admin.port}`;
    });
    after(async () => {
      await admin.close();
      await proxy.stop();
    });

    test('no token or a wrong one gets 401; the right one gets through', async () => {
      for (const headers of [{} as Record<string, string>, { authorization: 'Bearer wrong-token-of-some-length' }, { authorization: `Basic ${TOKEN}` }]) {
        for (const p of ['/metrics', '/api/calls', '/']) {
          const res = await fetch(`${base}${p}`, { headers });
          assert.equal(res.status, 401, `${p} with ${JSON.stringify(headers)}`);
          assert.equal(res.headers.get('www-authenticate'), 'Bearer realm="switchyard"');
        }
      }
      const ok = await fetch(`${base}/api/calls`, { headers: { authorization: `Bearer ${TOKEN}` } });
      assert.equal(ok.status, 200);
      assert.deepEqual(await ok.json(), { calls: [] });
      const refused = await fetch(`${base}/api/reload`, { method: 'POST', headers: { authorization: 'Bearer nope' } });
      assert.equal(refused.status, 401);
    });

    test('the probes need no token', async () => {
      assert.equal((await fetch(`${base}/health`)).status, 200);
      assert.equal((await fetch(`${base}/ready`)).status, 200);
    });

    test('the status page takes the token once and keeps it in a cookie', async () => {
      const first = await fetch(`${base}/?token=${TOKEN}`, { redirect: 'manual' });
      assert.equal(first.status, 303);
      const cookie = first.headers.get('set-cookie')!.split(';')[0]!;
      assert.match(first.headers.get('set-cookie')!, /HttpOnly; SameSite=Strict/);
      const page = await fetch(`${base}/`, { headers: { cookie } });
      assert.equal(page.status, 200);
      assert.match(await page.text(), /<title>switchyard<\/title>/);
      assert.equal((await fetch(`${base}/?token=wrong`)).status, 401);
    });

    test('a POST without a JSON body type is refused (no cross-site form can post one)', async () => {
      const res = await fetch(`${base}/api/reload`, { method: 'POST', headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'text/plain' }, body: '{}' });
      assert.equal(res.status, 415);
    });
  });
});
