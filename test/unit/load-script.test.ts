import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { loadScript } from '../../core/script/load.ts';
import { rejectsWithCode, tmpDir } from './_unit-fixtures.ts';

const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** Writes `files` (name → lines) into a fresh folder under test/.tmp; returns the absolute path of `entry`. */
function scriptFiles(files: Record<string, readonly string[]>, entry = 'proxy.config.ts'): string {
  const dir = tmpDir('load');
  dirs.push(dir);
  for (const [name, lines] of Object.entries(files)) writeFileSync(path.join(dir, name), lines.join('\n') + '\n');
  return path.join(dir, entry);
}

function script(lines: readonly string[]): string {
  return scriptFiles({ 'proxy.config.ts': lines });
}

/** Matches `file:line` or `file:line:col` followed by `: ` (so line 5 does not match 50). */
function at(file: string, line: number): RegExp {
  return new RegExp(`${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:${line}(:\\d+)?: `);
}

/** 1-based line number of the first line containing `needle`. */
function lineOf(lines: readonly string[], needle: string): number {
  const i = lines.findIndex((l) => l.includes(needle));
  assert.ok(i >= 0, `no line contains ${needle}`);
  return i + 1;
}

const HEADER = [
  "import { defineProxy } from 'switchyard';",
  "import { callRouting, dialog, mediaRelay, registrar } from 'switchyard/modules';",
  '',
];

const ROUTES = [
  '  routes: {',
  '    async request(ctx) {',
  "      if (ctx.msg.method === 'REGISTER') return ctx.register();",
  "      return ctx.respond(501, 'unsupported request');",
  '    },',
  '    failure: {',
  '      callFailed(ctx) {',
  "        ctx.log.info('failed');",
  '      },',
  '    },',
  '  },',
];

describe('loadScript: a valid script', () => {
  test('loads with its listeners resolved, modules validated in dependency order and routes compiled', async () => {
    const lines = [
      ...HEADER,
      "import { MEDIA_PORTS } from './settings.ts';",
      '',
      'export default defineProxy({',
      "  listen: [{ dialect: 'plain' }, { dialect: 'plain', port: 40001, host: '127.0.0.1', name: 'lan', udpEngine: 'js' }],",
      '  modules: [',
      '    mediaRelay({ ports: MEDIA_PORTS, idleTimeoutSec: 5 }),',
      '    callRouting({ answerTimeoutSec: 10, enabled: false }),',
      '    dialog(),',
      '    registrar({ enabled: false }),',
      '  ],',
      ...ROUTES,
      "  defaultReply: { status: 480, reason: 'nobody home' },",
      "  log: { level: 'debug' },",
      '});',
    ];
    const file = scriptFiles({ 'proxy.config.ts': lines, 'settings.ts': ["export const MEDIA_PORTS = '22990-22999';"] });
    const s = await loadScript(file);
    assert.equal(s.file, file);
    assert.deepEqual(s.listen, [
      { dialect: 'plain', port: 34567, host: '::', name: 'plain:34567', stun: false, stunRatePerSource: 5, udpEngine: 'auto' },
      { dialect: 'plain', port: 40001, host: '127.0.0.1', name: 'lan', stun: false, stunRatePerSource: 5, udpEngine: 'js' },
    ]);
    const order = s.modules.map((m) => m.name);
    assert.equal(order.length, 4);
    assert.ok(order.indexOf('dialog') < order.indexOf('media-relay'));
    assert.ok(order.indexOf('registrar') < order.indexOf('call-routing'));
    const relay = s.modules.find((m) => m.name === 'media-relay');
    assert.deepEqual(relay?.config, {
      ports: '22990-22999', host: '::', engine: 'auto', workers: 'auto', idleTimeoutSec: 5, strictSource: false, relatchAfterSilentSec: 2, maxStreamsPerCall: 16, relays: [],
      remote: { timeoutMs: 1000, tries: 3, failoverTries: 2, pingIntervalSec: 5, maxBackoffSec: 30, lostAfterFailures: 3, setsBySource: [], callStorePrefix: 'switchyard:', callStoreTtlSec: 43_200 },
    });
    assert.equal(s.modules.find((m) => m.name === 'registrar')?.enabled, false);
    assert.equal(typeof s.routes.request, 'function');
    assert.deepEqual(Object.keys(s.routes.failure), ['callFailed']);
    assert.deepEqual(s.routes.reply, {});
    assert.deepEqual(s.defaultReply, { status: 480, reason: 'nobody home' });
    assert.equal(s.logLevel, 'debug');
    assert.deepEqual([...s.files].sort(), [file, path.join(path.dirname(file), 'settings.ts')].sort());
  });

  test('defaults: no defaultReply → 404 "no route", no log level', async () => {
    const file = script([...HEADER, 'export default defineProxy({', "  listen: [{ dialect: 'plain', port: 40002 }],", '  modules: [registrar()],', ...ROUTES, '});']);
    const s = await loadScript(file);
    assert.deepEqual(s.defaultReply, { status: 404, reason: 'no route' });
    assert.equal(s.logLevel, undefined);
    assert.deepEqual(s.files, [file]);
  });

  test('the repository proxy.config.ts loads', async () => {
    const s = await loadScript(path.resolve('proxy.config.ts'));
    assert.deepEqual(s.modules.map((m) => m.name).sort(), ['call-routing', 'dialog', 'flood-limits', 'media-relay', 'registrar']);
    assert.equal(s.listen[0]?.port, 34567);
  });

  test('every load sees the files as they are now (no module cache)', async () => {
    const settings = (port: number) => [`export const PORT = ${port};`];
    const file = scriptFiles({
      'proxy.config.ts': [...HEADER, "import { PORT } from './settings.ts';", 'export default defineProxy({', "  listen: [{ dialect: 'plain', port: PORT }],", '  modules: [registrar()],', ...ROUTES, '});'],
      'settings.ts': settings(40010),
    });
    assert.equal((await loadScript(file)).listen[0]?.port, 40010);
    writeFileSync(path.join(path.dirname(file), 'settings.ts'), settings(40011).join('\n'));
    assert.equal((await loadScript(file)).listen[0]?.port, 40011);
  });

  test('a relative path is resolved', async () => {
    const file = script([...HEADER, 'export default defineProxy({', "  listen: [{ dialect: 'plain', port: 40003 }],", '  modules: [],', ...ROUTES.slice(0, 5), '  },', '});']);
    const s = await loadScript(path.relative(process.cwd(), file));
    assert.equal(s.file, file);
    assert.deepEqual(s.modules, []);
  });
});

describe('loadScript: scripts that do not load (SY_CONFIG_LOAD)', () => {
  test('a syntax error names the file and the line', async () => {
    const lines = [...HEADER, 'export default defineProxy({', "  listen: [{ dialect: 'plain' ;", '});'];
    const file = script(lines);
    const e = await rejectsWithCode(() => loadScript(file), 'SY_CONFIG_LOAD');
    assert.match(e.message, at(file, lineOf(lines, "dialect: 'plain' ;")));
    assert.equal(e.details.file, file);
  });

  test('a throw at import time names the file and the line of the throw', async () => {
    const lines = [...HEADER, 'const x = 1;', "throw new Error('boom at import ' + x);", 'export default defineProxy({ listen: [], modules: [], routes: { request() {} } });'];
    const file = script(lines);
    const e = await rejectsWithCode(() => loadScript(file), 'SY_CONFIG_LOAD');
    assert.match(e.message, at(file, lineOf(lines, 'throw new Error')));
    assert.match(e.message, /boom at import 1/);
  });

  test('a throw in a module factory call at import time is SY_CONFIG_LOAD too', async () => {
    const lines = [...HEADER, 'function make(): never {', "  throw new TypeError('bad helper');", '}', 'export default defineProxy({', '  listen: make(),', '  modules: [],', '  routes: { request() {} },', '});'];
    const file = script(lines);
    const e = await rejectsWithCode(() => loadScript(file), 'SY_CONFIG_LOAD');
    assert.match(e.message, /bad helper/);
    assert.ok(e.message.includes(`${file}:`), e.message);
  });

  test('a throw inside an imported local file is SY_CONFIG_LOAD', async () => {
    const file = scriptFiles({
      'proxy.config.ts': [...HEADER, "import { PORT } from './settings.ts';", "export default defineProxy({ listen: [{ dialect: 'plain', port: PORT }], modules: [], routes: { request() {} } });"],
      'settings.ts': ['export const PORT = 1;', "throw new Error('settings broken');"],
    });
    const e = await rejectsWithCode(() => loadScript(file), 'SY_CONFIG_LOAD');
    assert.match(e.message, /settings broken/);
  });

  test('a throw inside an imported file names that file and line, not the import', async () => {
    const file = scriptFiles({
      'proxy.config.ts': [...HEADER, "import { PORT } from './settings.ts';", "export default defineProxy({ listen: [{ dialect: 'plain', port: PORT }], modules: [], routes: { request() {} } });"],
      'settings.ts': ['export const PORT = 1;', "throw new Error('settings broken');"],
    });
    const e = await rejectsWithCode(() => loadScript(file), 'SY_CONFIG_LOAD');
    assert.match(e.message, at(path.join(path.dirname(file), 'settings.ts'), 2));
  });

  test('a missing script file', async () => {
    const dir = tmpDir('load');
    dirs.push(dir);
    const file = path.join(dir, 'nope.config.ts');
    const e = await rejectsWithCode(() => loadScript(file), 'SY_CONFIG_LOAD');
    assert.ok(e.message.includes(file), e.message);
  });
});

describe('loadScript: scripts that load but are invalid (SY_CONFIG_INVALID)', () => {
  test('a bad module option names the field and the file:line where it is written', async () => {
    const lines = [
      ...HEADER,
      'export default defineProxy({',
      "  listen: [{ dialect: 'plain', port: 40004 }],",
      '  modules: [',
      '    registrar(),',
      '    dialog(),',
      '    mediaRelay({',
      "      ports: '22980-22989',",
      "      idleTimeoutSec: 'x' as unknown as number,",
      '    }),',
      '  ],',
      ...ROUTES,
      '});',
    ];
    const file = script(lines);
    const e = await rejectsWithCode(() => loadScript(file), 'SY_CONFIG_INVALID');
    assert.match(e.message, /idleTimeoutSec/);
    assert.match(e.message, /modules\[2\] \(media-relay\)\.idleTimeoutSec/);
    assert.match(e.message, at(file, lineOf(lines, 'idleTimeoutSec:')));
    const problems = e.details.problems as string[];
    assert.equal(problems.length, 1);
    assert.ok(problems[0]!.startsWith(`${file}:${lineOf(lines, 'idleTimeoutSec:')}: modules[2] (media-relay).idleTimeoutSec: `), problems[0]);
  });

  test('a bad option of a field two modules share points at the right module', async () => {
    const lines = [
      ...HEADER,
      'export default defineProxy({',
      "  listen: [{ dialect: 'plain', port: 40005 }],",
      '  modules: [',
      '    registrar({ enabled: true }),',
      '    dialog(),',
      "    mediaRelay({ enabled: 'no' as unknown as boolean }),",
      '  ],',
      ...ROUTES,
      '});',
    ];
    const file = script(lines);
    const e = await rejectsWithCode(() => loadScript(file), 'SY_CONFIG_INVALID');
    assert.match(e.message, at(file, lineOf(lines, "enabled: 'no'")));
  });

  test('an unknown module option is invalid', async () => {
    const lines = [...HEADER, 'export default defineProxy({', "  listen: [{ dialect: 'plain', port: 40005 }],", '  modules: [registrar({ maxUser: 5 } as never)],', ...ROUTES, '});'];
    const e = await rejectsWithCode(() => loadScript(script(lines)), 'SY_CONFIG_INVALID');
    assert.match(e.message, /modules\[0\] \(registrar\)/);
    assert.match(e.message, /maxUser/);
  });

  test('missing routes.request is invalid', async () => {
    const lines = [...HEADER, 'export default defineProxy({', "  listen: [{ dialect: 'plain', port: 40006 }],", '  modules: [],', '  routes: {} as never,', '});'];
    const e = await rejectsWithCode(() => loadScript(script(lines)), 'SY_CONFIG_INVALID');
    assert.match(e.message, /routes\.request/);
  });

  test('routes.request that is not a function is invalid', async () => {
    const lines = [...HEADER, 'export default defineProxy({', "  listen: [{ dialect: 'plain', port: 40007 }],", '  modules: [],', "  routes: { request: 'forward' } as never,", '});'];
    const e = await rejectsWithCode(() => loadScript(script(lines)), 'SY_CONFIG_INVALID');
    assert.match(e.message, /routes\.request: expected a function/);
  });

  test('listen: [] is invalid', async () => {
    const lines = [...HEADER, 'export default defineProxy({', '  listen: [],', '  modules: [],', '  routes: { request() {} },', '});'];
    const e = await rejectsWithCode(() => loadScript(script(lines)), 'SY_CONFIG_INVALID');
    assert.match(e.message, /listen: at least one listener is needed/);
  });

  test('a listener port out of range, an unknown dialect, an unknown listener key', async () => {
    const mk = (listen: string) => script([...HEADER, 'export default defineProxy({', `  listen: ${listen} as never,`, '  modules: [],', '  routes: { request() {} },', '});']);
    assert.match((await rejectsWithCode(() => loadScript(mk("[{ dialect: 'plain', port: 70000 }]")), 'SY_CONFIG_INVALID')).message, /listen\[0\]\.port/);
    assert.match((await rejectsWithCode(() => loadScript(mk("[{ dialect: 'smtp' }]")), 'SY_CONFIG_INVALID')).message, /listen\[0\]\.dialect/);
    assert.match((await rejectsWithCode(() => loadScript(mk("[{ dialect: 'plain', prot: 1 }]")), 'SY_CONFIG_INVALID')).message, /prot/);
    assert.match((await rejectsWithCode(() => loadScript(mk("[{ dialect: 'sip', udpEngine: 'fast' }]")), 'SY_CONFIG_INVALID')).message, /listen\[0\]\.udpEngine/);
  });

  test('two listeners with the same name are invalid', async () => {
    const lines = [...HEADER, 'export default defineProxy({', "  listen: [{ dialect: 'plain', port: 40008 }, { dialect: 'plain', port: 40009, name: 'plain:40008' }],", '  modules: [],', '  routes: { request() {} },', '});'];
    const e = await rejectsWithCode(() => loadScript(script(lines)), 'SY_CONFIG_INVALID');
    assert.match(e.message, /two listeners are named 'plain:40008'/);
  });

  test('an unknown top-level key and a bad defaultReply are invalid', async () => {
    const extra = script([...HEADER, 'export default defineProxy({', "  listen: [{ dialect: 'plain' }],", '  modules: [],', '  routes: { request() {} },', '  lisen: 1,', '} as never);']);
    assert.match((await rejectsWithCode(() => loadScript(extra), 'SY_CONFIG_INVALID')).message, /lisen/);
    const dr = script([...HEADER, 'export default defineProxy({', "  listen: [{ dialect: 'plain' }],", '  modules: [],', '  routes: { request() {} },', "  defaultReply: { status: 200, reason: 'OK' },", '} as never);']);
    assert.match((await rejectsWithCode(() => loadScript(dr), 'SY_CONFIG_INVALID')).message, /defaultReply\.status/);
  });

  test('the sip section: its options are kept; a bad DNS bound, server or route secret names the field', async () => {
    const mk = (sip: string): string => script([...HEADER, 'export default defineProxy({', "  listen: [{ dialect: 'sip', port: 0 }],", '  modules: [],', '  routes: { request() {} },', `  sip: ${sip},`, '} as never);']);
    const ok = await loadScript(mk("{ dns: { timeoutMs: 500, servers: ['127.0.0.1:5353', '[::1]:53'] }, routeSecret: 'x'.repeat(32) }"));
    assert.deepEqual(ok.sip, { dns: { timeoutMs: 500, servers: ['127.0.0.1:5353', '[::1]:53'] }, routeSecret: 'x'.repeat(32) });
    assert.match((await rejectsWithCode(() => loadScript(mk('{ dns: { timeoutMs: 10 } }')), 'SY_CONFIG_INVALID')).message, /sip\.dns\.timeoutMs/);
    assert.match((await rejectsWithCode(() => loadScript(mk('{ dns: { maxConcurrent: 0 } }')), 'SY_CONFIG_INVALID')).message, /sip\.dns\.maxConcurrent/);
    assert.match((await rejectsWithCode(() => loadScript(mk("{ dns: { servers: ['dns.example.com'] } }")), 'SY_CONFIG_INVALID')).message, /sip\.dns\.servers\[0\]: expected an IP address/);
    assert.match((await rejectsWithCode(() => loadScript(mk("{ routeSecret: 'short' }")), 'SY_CONFIG_INVALID')).message, /sip\.routeSecret: at least 32 characters/);
    assert.match((await rejectsWithCode(() => loadScript(mk('{ dns: { timeout: 5 } }')), 'SY_CONFIG_INVALID')).message, /timeout/);
  });

  test('a script without a default export is invalid', async () => {
    const file = script(['export const config = 1;']);
    const e = await rejectsWithCode(() => loadScript(file), 'SY_CONFIG_INVALID');
    assert.match(e.message, /\(default export\)/);
  });

  test('module set errors keep their own codes', async () => {
    const missing = script([...HEADER, 'export default defineProxy({', "  listen: [{ dialect: 'plain' }],", '  modules: [registrar(), mediaRelay()],', '  routes: { request() {} },', '} as never);']);
    const e = await rejectsWithCode(() => loadScript(missing), 'SY_MODULE_MISSING_DEP');
    assert.match(e.message, /media-relay/);
    assert.match(e.message, /dialog/);
    const dup = script([...HEADER, 'export default defineProxy({', "  listen: [{ dialect: 'plain' }],", '  modules: [registrar(), registrar()],', '  routes: { request() {} },', '} as never);']);
    await rejectsWithCode(() => loadScript(dup), 'SY_MODULE_DUPLICATE');
  });
});
