/**
 * docs/operations.md lists every metric: a proxy with every module this package ships, a plain
 * and a SIP listener, and the native relay where it is built, exports nothing the guide leaves out.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { proxyMetrics } from '../../core/admin/metrics.ts';
import { Switchyard } from '../../core/boot/switchyard.ts';
import { loadScript } from '../../core/script/load.ts';
import { freeRange } from '../helpers/ports.ts';
import { writeScript } from '../helpers/proxy-process.ts';
import { REPO, silentLog } from './_unit-fixtures.ts';

let proxy: Switchyard;

before(async () => {
  const script = `import { defineProxy } from 'switchyard';
import { auth, callRecords, callRouting, dialog, floodLimits, iceHints, mediaRelay, registrar } from 'switchyard/modules';

export default defineProxy({
  listen: [{ dialect: 'plain', host: '127.0.0.1', port: 0 }, { dialect: 'sip', host: '127.0.0.1', port: 0, transports: ['udp', 'tcp'] }],
  modules: [
    registrar(), dialog(), callRouting(), mediaRelay({ ports: '${await freeRange(4)}', advertise: '127.0.0.1' }), iceHints(),
    auth({ realm: 'switchyard', usersFile: ${JSON.stringify(path.join(REPO, 'examples', 'users.txt'))} }), callRecords({ file: ${JSON.stringify(path.join(REPO, 'test', '.tmp', 'metrics-documented.jsonl'))} }),
    floodLimits(),
  ],
  routes: { request(ctx) { return ctx.forwardCall(); } },
});
`;
  proxy = await Switchyard.boot(await loadScript(writeScript('metrics-documented', script)), silentLog, { watch: false });
});
after(async () => {
  await proxy.stop();
});

test('every metric the proxy exports is named in docs/operations.md', async () => {
  const guide = readFileSync(path.join(REPO, 'docs', 'operations.md'), 'utf8');
  const names = (await proxyMetrics(proxy, 'test').getMetricsAsJSON()).map((m) => m.name).filter((n) => n.startsWith('switchyard_'));
  assert.ok(names.includes('switchyard_auth_failures_total') && names.includes('switchyard_sip_responses_sent_total'), names.join(' '));
  assert.deepEqual(names.filter((n) => !guide.includes(`\`${n}\``)), []);
});
