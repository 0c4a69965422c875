/**
 * What the built-in modules' functions give while disabled (README, docs/writing-modules.md):
 * `{ ok: false, reason: 'disabled' }` for every result object, the declared value for the
 * others (a predicate false, a state null), and a disabled module's api reads as absent.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { buildContext } from '../../core/kernel/context.ts';
import { MessageContext } from '../../core/kernel/message-context.ts';
import { ModuleRegistry } from '../../core/kernel/module-registry.ts';
import { validateModules } from '../../core/kernel/validate-modules.ts';
import type { AnyModule } from '../../core/kernel/define-module.ts';
import { callRecords, callRouting, dialog, iceHints, mediaRelay, registrar } from '../../modules/index.ts';
import { fakeCore, plainRequest, silentLog, snapshot, tmpDir } from './_unit-fixtures.ts';

type Ctx = Record<string, (...args: unknown[]) => unknown>;

describe('built-in modules while disabled', () => {
  test('every function gives its disabled value, and nothing it returns reads as true', async () => {
    const off = { enabled: false } as const;
    const mods = [registrar(off), dialog(off), callRouting(off), mediaRelay({ ...off, engine: 'js', ports: '21020-21029' }), iceHints({ ...off, candidate: 'low-priority' }), callRecords({ ...off, file: path.join(tmpDir('disabled-records'), 'calls.jsonl') })];
    const reg = await ModuleRegistry.boot(validateModules(mods as unknown as AnyModule[]), fakeCore(), silentLog);
    try {
      const mc = new MessageContext('request', plainRequest('CALL FROM:alice TO:bob\n'), snapshot(), silentLog);
      const ctx = buildContext(mc, reg) as unknown as Ctx;
      const DISABLED = { ok: false, reason: 'disabled' };
      for (const name of ['register', 'lookup', 'forwardCall', 'recordRoute', 'engageMediaProxy', 'useMediaProxy', 'endMediaSession', 'setIceHints', 'callRecordCounts']) {
        const r = ctx[name]!({});
        assert.deepEqual({ ok: (r as { ok: unknown }).ok, reason: (r as { reason: unknown }).reason }, DISABLED, `${name}()`);
        assert.deepEqual(await r, DISABLED, `await ${name}() gives the same`);
      }
      assert.equal(await ctx.registeredAtSource!(), false, 'a disabled predicate reads false');
      assert.equal(ctx.dialogState!(), null, 'no dialog state');
      assert.equal(mc.verdict, null, 'no verdict was given: the route falls to its own answer or the default reply');
    } finally {
      await reg.close();
    }
  });
});
