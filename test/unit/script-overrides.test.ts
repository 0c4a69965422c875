/** The command line's overrides of a script (core/script/overrides.ts, cli/overrides.ts): applied at load and at every reload. */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { loadScript } from '../../core/script/load.ts';
import { Switchyard } from '../../core/boot/switchyard.ts';
import { OverrideError, readOverrides } from '../../cli/overrides.ts';
import { rejectsWithCode, silentLog, tmpDir } from './_unit-fixtures.ts';

const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function script(listen: string): string {
  const dir = tmpDir('overrides');
  dirs.push(dir);
  const file = path.join(dir, 'proxy.config.ts');
  writeFileSync(file, `import { defineProxy } from 'switchyard';
import { callRouting, dialog, mediaRelay, registrar } from 'switchyard/modules';
export default defineProxy({
  listen: ${listen},
  modules: [registrar(), dialog(), callRouting(), mediaRelay({ ports: '5000-5999', engine: 'js' })],
  routes: { request(ctx) { return ctx.respond(501, 'unsupported request'); } },
});
`);
  return file;
}

const mediaPorts = (s: Awaited<ReturnType<typeof loadScript>>): unknown => s.modules.find((m) => m.name === 'media-relay')?.config.ports;

describe('script overrides', () => {
  test('a dialect\'s port and the media range replace the script\'s; the listener is named by its port', async () => {
    const file = script("[{ dialect: 'plain', port: 34567 }, { dialect: 'sip' }]");
    const plain = await loadScript(file);
    assert.deepEqual(plain.listen.map((l) => [l.name, l.port]), [['plain:34567', 34567], ['sip:5060', 5060]]);
    assert.equal(mediaPorts(plain), '5000-5999');
    const over = await loadScript(file, { ports: { plain: 40123, sip: 0 }, moduleOptions: { 'media-relay': { ports: '21000-21009' } } });
    assert.deepEqual(over.listen.map((l) => [l.name, l.port]), [['plain:40123', 40123], ['sip:0', 0]]);
    assert.equal(mediaPorts(over), '21000-21009');
  });

  test('an override for a dialect the script does not listen for, or a module it does not list, changes nothing', async () => {
    const file = script("[{ dialect: 'plain', port: 34567 }]");
    const s = await loadScript(file, { ports: { sip: 5070 }, moduleOptions: { 'ice-hints': { candidate: 'low-priority' } } });
    assert.deepEqual(s.listen.map((l) => l.port), [34567]);
    assert.deepEqual(s.modules.map((m) => m.name).includes('ice-hints'), false);
  });

  test('a port override for a dialect with two listeners is refused; a bad module option fails as the module\'s own', async () => {
    const two = script("[{ dialect: 'plain', port: 34567 }, { dialect: 'plain', port: 34568 }]");
    const err = await rejectsWithCode(() => loadScript(two, { ports: { plain: 40000 } }), 'SY_CONFIG_INVALID');
    assert.match(err.message, /the plain port is overridden, but the script has 2 plain listeners/);
    const one = script("[{ dialect: 'plain', port: 34567 }]");
    const bad = await rejectsWithCode(() => loadScript(one, { moduleOptions: { 'media-relay': { ports: '9-3' } } }), 'SY_CONFIG_INVALID');
    assert.match(bad.message, /\(media-relay\)\.ports/);
  });

  test('a reload keeps the overrides: nothing is reported as needing a restart', async () => {
    const file = script("[{ dialect: 'plain', port: 34567 }]");
    const proxy = await Switchyard.start({ configFile: file, logger: silentLog, watch: false, overrides: { ports: { plain: 0 }, moduleOptions: { 'media-relay': { ports: '21010-21019' } } } });
    try {
      const r = await proxy.reload();
      assert.ok(r.ok, r.ok ? '' : r.error);
      assert.deepEqual(r.needsRestart, []);
    } finally {
      await proxy.stop();
    }
  });
});

describe('readOverrides: flags and environment', () => {
  test('flags win over variables; an empty variable is unset', () => {
    assert.deepEqual(readOverrides({}, {}), {});
    assert.deepEqual(readOverrides({ 'plain-port': '40001' }, { SWITCHYARD_PLAIN_PORT: '40002', SWITCHYARD_SIP_PORT: ' 5070 ', SWITCHYARD_MEDIA_PORTS: '' }), { ports: { plain: 40001, sip: 5070 } });
    assert.deepEqual(readOverrides({ 'media-ports': '20000-20099' }, { SWITCHYARD_MEDIA_PORTS: '1-2' }), { moduleOptions: { 'media-relay': { ports: '20000-20099' } } });
    assert.deepEqual(readOverrides({ 'sip-port': '0' }, {}), { ports: { sip: 0 } }, '0: any free port');
  });

  test('a bad value names the flag or the variable and what it takes', () => {
    assert.throws(() => readOverrides({ 'plain-port': '70000' }, {}), (e: unknown) => e instanceof OverrideError && /^--plain-port='70000': expected a UDP port number/.test(e.message));
    assert.throws(() => readOverrides({}, { SWITCHYARD_SIP_PORT: '50x' }), /SWITCHYARD_SIP_PORT='50x': expected a UDP port number/);
    assert.throws(() => readOverrides({ 'media-ports': '6000-5000' }, {}), /--media-ports='6000-5000': expected a port range like "5000-5999"/);
    assert.throws(() => readOverrides({}, { SWITCHYARD_MEDIA_PORTS: '0-10' }), /SWITCHYARD_MEDIA_PORTS='0-10'/);
  });
});
