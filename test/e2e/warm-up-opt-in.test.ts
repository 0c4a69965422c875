/**
 * The start-up warm-up is opt-in (`--warm-up`): by default the proxy listens at once, since
 * under overload control a cold start costs less than the time the warm-up keeps the listeners
 * closed (BENCHMARKS.md, "Overload").
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ProxyProcess, writeScript } from '../helpers/proxy-process.ts';

const SCRIPT = `import { defineProxy } from 'switchyard';
import { callRouting, dialog, registrar } from 'switchyard/modules';
export default defineProxy({
  listen: [{ dialect: 'sip', host: '127.0.0.1', port: 0, transports: ['udp'] }],
  modules: [registrar(), dialog(), callRouting()],
  routes: { request: (ctx) => (ctx.msg.method === 'REGISTER' ? ctx.register() : ctx.forwardCall()) },
});
`;

for (const [args, warmed] of [[[], false], [['--warm-up'], true], [['--warm-up', '--no-warm-up'], false]] as const) {
  test(`switchyard ${args.join(' ') || '(no flag)'}: ${warmed ? 'warms up before listening' : 'listens at once'}`, async () => {
    const proxy = await ProxyProcess.start({ configFile: writeScript('warm-up-opt-in', SCRIPT), args: [...args] });
    try {
      assert.equal(proxy.logs.some((l) => l.msg === 'call path warmed up'), warmed);
    } finally {
      assert.equal(await proxy.stop(), 0);
    }
  });
}
