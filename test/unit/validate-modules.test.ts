import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { z } from 'zod';
import { defineModule, fn, type AnyModule, required, optional } from '../../core/kernel/define-module.ts';
import { formatZodIssues, validateModules } from '../../core/kernel/validate-modules.ts';
import { callRouting, dialog, mediaRelay, registrar } from '../../modules/index.ts';
import { throwsWithCode } from './_unit-fixtures.ts';

const relayLike = defineModule({
  name: 'x',
  description: 'a module with a few typed options',
  schema: z.object({
    idleTimeoutSec: z.number().positive().default(60),
    ports: z.string().default('5000-5999'),
    tags: z.array(z.string()).default([]),
  }),
  setup: () => ({}),
  functions: () => ({ hello: fn(['request'], () => 'hi', () => '') }),
});

const plain = (name: string, dependsOn?: Record<string, 'required' | 'optional'>): AnyModule =>
  defineModule({
    name, description: name, schema: z.object({}), setup: () => ({}),
    ...(dependsOn ? { dependsOn: Object.fromEntries(Object.entries(dependsOn).map(([d, k]) => [d, k === 'required' ? required(d) : optional(d)])) } : {}),
  })();

/** The same module, listed with `enabled: false`. */
const plainDisabled = (name: string, dependsOn?: Record<string, 'required' | 'optional'>): AnyModule => {
  const m = plain(name, dependsOn);
  return { ...m, options: { enabled: false } };
};

function names(list: readonly AnyModule[]): string[] {
  return validateModules(list).map((m) => m.name);
}

describe('validateModules: options', () => {
  test('valid options are parsed with defaults; enabled defaults to true and is kept apart', () => {
    const [m] = validateModules([relayLike({ idleTimeoutSec: 5 })]);
    assert.ok(m);
    assert.equal(m.name, 'x');
    assert.equal(m.enabled, true);
    assert.deepEqual(m.config, { idleTimeoutSec: 5, ports: '5000-5999', tags: [] });
    assert.equal(m.manifest.name, 'x');
    assert.ok(!('enabled' in m.config));
  });

  test('no options at all means every default', () => {
    const [m] = validateModules([relayLike()]);
    assert.deepEqual(m?.config, { idleTimeoutSec: 60, ports: '5000-5999', tags: [] });
  });

  test('enabled: false is accepted for every module', () => {
    const [m] = validateModules([relayLike({ enabled: false })]);
    assert.equal(m?.enabled, false);
    assert.deepEqual(m?.config, { idleTimeoutSec: 60, ports: '5000-5999', tags: [] });
  });

  test('a wrong type names the module position, module name and field', () => {
    const e = throwsWithCode(() => validateModules([plain('a'), relayLike({ idleTimeoutSec: 'x' as unknown as number })]), 'SY_CONFIG_INVALID');
    assert.match(e.message, /^modules\[1\] \(x\)\.idleTimeoutSec: /);
    assert.match(e.message, /number/);
    assert.deepEqual((e.details.problems as string[]).length, 1);
  });

  test('a nested field names its index', () => {
    const e = throwsWithCode(() => validateModules([relayLike({ tags: ['ok', 7 as unknown as string] })]), 'SY_CONFIG_INVALID');
    assert.match(e.message, /^modules\[0\] \(x\)\.tags\[1\]: /);
  });

  test('a refinement failure (negative timeout) is reported for that field', () => {
    const e = throwsWithCode(() => validateModules([relayLike({ idleTimeoutSec: -1 })]), 'SY_CONFIG_INVALID');
    assert.match(e.message, /modules\[0\] \(x\)\.idleTimeoutSec: /);
  });

  test('enabled must be a boolean', () => {
    const e = throwsWithCode(() => validateModules([relayLike({ enabled: 'yes' as unknown as boolean })]), 'SY_CONFIG_INVALID');
    assert.match(e.message, /modules\[0\] \(x\)\.enabled: /);
  });

  test('an unknown option key is rejected (strict) and named', () => {
    const e = throwsWithCode(() => validateModules([relayLike({ idleTimeoutSecs: 5 } as unknown as { idleTimeoutSec: number })]), 'SY_CONFIG_INVALID');
    assert.match(e.message, /modules\[0\] \(x\)/);
    assert.match(e.message, /idleTimeoutSecs/);
  });

  test('every problem of every module is reported at once', () => {
    const e = throwsWithCode(() => validateModules([
      relayLike({ idleTimeoutSec: 'x' as unknown as number, ports: 5 as unknown as string }),
      plain('b'),
      registrar({ maxUsers: 0 }),
    ]), 'SY_CONFIG_INVALID');
    const problems = e.details.problems as string[];
    assert.equal(problems.length, 3, problems.join('\n'));
    assert.ok(problems.some((p) => p.startsWith('modules[0] (x).idleTimeoutSec: ')));
    assert.ok(problems.some((p) => p.startsWith('modules[0] (x).ports: ')));
    assert.ok(problems.some((p) => p.startsWith('modules[2] (registrar).maxUsers: ')));
    assert.equal(e.message, problems.join('\n'));
  });

  test('something that is not a module instance is reported by position', () => {
    const e = throwsWithCode(() => validateModules([plain('a'), relayLike as unknown as AnyModule, 42 as unknown as AnyModule, null as unknown as AnyModule]), 'SY_CONFIG_INVALID');
    const problems = e.details.problems as string[];
    assert.deepEqual(problems.map((p) => p.slice(0, p.indexOf(':'))), ['modules[1]', 'modules[2]', 'modules[3]']);
    assert.match(problems[0]!, /not a module/);
  });

  test('the real modules validate their options the same way', () => {
    const e = throwsWithCode(() => validateModules([registrar(), dialog(), mediaRelay({ idleTimeoutSec: 'x' as unknown as number })]), 'SY_CONFIG_INVALID');
    assert.match(e.message, /^modules\[2\] \(media-relay\)\.idleTimeoutSec: /);
    const p = throwsWithCode(() => validateModules([registrar(), dialog(), mediaRelay({ ports: '9-3' })]), 'SY_CONFIG_INVALID');
    assert.match(p.message, /modules\[2\] \(media-relay\)\.ports: expected a port range/);
  });

  test('formatZodIssues joins paths with dots and brackets', () => {
    const r = z.object({ a: z.object({ b: z.array(z.number()) }) }).safeParse({ a: { b: [1, 'x'] } });
    assert.equal(r.success, false);
    if (r.success) return;
    const [line] = formatZodIssues('pre', r.error);
    assert.match(line!, /^pre\.a\.b\[1\]: /);
  });
});

describe('validateModules: the module set', () => {
  test('a module listed twice → SY_MODULE_DUPLICATE', () => {
    const e = throwsWithCode(() => validateModules([relayLike(), plain('y'), relayLike({ idleTimeoutSec: 1 })]), 'SY_MODULE_DUPLICATE');
    assert.match(e.message, /'x'/);
    assert.equal(e.details.module, 'x');
  });

  test('a missing required dependency → SY_MODULE_MISSING_DEP naming both modules', () => {
    const e = throwsWithCode(() => validateModules([plain('a'), plain('needy', { registrar: 'required' })]), 'SY_MODULE_MISSING_DEP');
    assert.match(e.message, /'needy'/);
    assert.match(e.message, /'registrar'/);
    assert.deepEqual(e.details, { module: 'needy', dependency: 'registrar' });
  });

  test('a disabled module that an enabled one requires is refused, naming both; disabling both is fine', () => {
    const e = throwsWithCode(() => validateModules([plain('a', { b: 'required' }), relayLike(), plainDisabled('b')]), 'SY_CONFIG_INVALID');
    assert.match(e.message, /^modules\[2\] \(b\)\.enabled: module 'a' requires it/);
    assert.deepEqual(names([plainDisabled('b'), plainDisabled('a', { b: 'required' })]), ['b', 'a']);
    assert.deepEqual(names([plain('a', { b: 'optional' }), plainDisabled('b')]), ['b', 'a'], 'an optional dependency may be disabled');
  });

  test('the real media relay without dialog → SY_MODULE_MISSING_DEP', () => {
    const e = throwsWithCode(() => validateModules([registrar(), mediaRelay()]), 'SY_MODULE_MISSING_DEP');
    assert.match(e.message, /media-relay/);
    assert.match(e.message, /dialog/);
  });

  test('a missing optional dependency is fine', () => {
    assert.deepEqual(names([plain('a', { ghost: 'optional' })]), ['a']);
    assert.deepEqual(names([registrar(), callRouting()]), ['registrar', 'call-routing']);
  });

  test('a two-module cycle → SY_MODULE_DEP_CYCLE with the circle', () => {
    const e = throwsWithCode(() => validateModules([plain('a', { b: 'required' }), plain('b', { a: 'required' })]), 'SY_MODULE_DEP_CYCLE');
    assert.match(e.message, /a -> b -> a/);
    assert.deepEqual(e.details.cycle, ['a', 'b', 'a']);
  });

  test('a three-module cycle behind an innocent module, and a cycle through an optional dependency', () => {
    const e = throwsWithCode(() => validateModules([
      plain('root', { p: 'required' }), plain('p', { q: 'required' }), plain('q', { r: 'optional' }), plain('r', { p: 'required' }),
    ]), 'SY_MODULE_DEP_CYCLE');
    assert.deepEqual(e.details.cycle, ['root', 'p', 'q', 'r', 'p']);
    assert.match(e.message, /p -> q -> r -> p/);
  });

  test('a module that depends on itself is a cycle', () => {
    throwsWithCode(() => validateModules([plain('self', { self: 'required' })]), 'SY_MODULE_DEP_CYCLE');
  });

  test('setup order: dependencies first, otherwise the listed order', () => {
    assert.deepEqual(names([plain('c', { b: 'required' }), plain('a'), plain('b', { a: 'required' })]), ['a', 'b', 'c']);
    assert.deepEqual(names([plain('x1'), plain('y', { z: 'required' }), plain('z'), plain('w')]), ['x1', 'z', 'y', 'w']);
    assert.deepEqual(names([plain('p', { q: 'optional' }), plain('q')]), ['q', 'p'], 'an optional dependency that is present is set up first');
    assert.deepEqual(names([plain('m1'), plain('m2'), plain('m3')]), ['m1', 'm2', 'm3']);
  });

  test('the real modules in any listed order are set up dependencies first', () => {
    const order = names([mediaRelay(), callRouting(), dialog(), registrar()]);
    const at = (n: string): number => order.indexOf(n);
    assert.equal(order.length, 4);
    assert.ok(at('dialog') < at('media-relay'));
    assert.ok(at('registrar') < at('call-routing'));
    assert.ok(at('dialog') < at('call-routing'), 'optional dependency present: set up first');
  });

  test('property-like: for random acyclic graphs every dependency precedes its dependant', () => {
    for (let round = 0; round < 200; round++) {
      const n = 1 + (round % 9);
      // Dependencies only point to lower-numbered modules: acyclic by construction.
      const mods = Array.from({ length: n }, (_, i) => {
        const deps: Record<string, 'required' | 'optional'> = {};
        for (let j = 0; j < i; j++) if (((round * 31 + i * 7 + j * 13) % 5) === 0) deps[`m${j}`] = j % 2 === 0 ? 'required' : 'optional';
        return { i, deps };
      });
      // List them shuffled.
      const listed = [...mods].sort((a, b) => ((a.i * 17 + round) % 11) - ((b.i * 17 + round) % 11));
      const order = names(listed.map((m) => plain(`m${m.i}`, m.deps)));
      assert.equal(order.length, n);
      for (const m of mods) {
        for (const d of Object.keys(m.deps)) assert.ok(order.indexOf(d) < order.indexOf(`m${m.i}`), `${d} before m${m.i} in ${order.join(',')}`);
      }
    }
  });
});
