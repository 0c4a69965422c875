import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { z } from 'zod';
import { buildContext } from '../../core/kernel/context.ts';
import { MessageContext } from '../../core/kernel/message-context.ts';
import { isVerdict, type Verdict } from '../../core/model/verdict.ts';
import { SwitchyardError } from '../../core/lib/errors.ts';
import { DISABLED, defineModule, fn, type AnyModule, type RouteKind, required, optional } from '../../core/kernel/define-module.ts';
import { ModuleRegistry } from '../../core/kernel/module-registry.ts';
import { validateModules } from '../../core/kernel/validate-modules.ts';
import type { Reply } from '../../core/model/message.ts';
import { fakeCore, plainReply, plainRequest, rejectsWithCode, silentLog, snapshot, throwsWithCode } from './_unit-fixtures.ts';

type Ctx = Record<string, (...args: unknown[]) => unknown> & { msg: unknown };

function ctxFor(reg: ModuleRegistry, kind: RouteKind, reply: Reply | null = null): { ctx: Ctx; mc: MessageContext } {
  const req = plainRequest('CALL FROM:alice TO:bob\n');
  const mc = new MessageContext(kind, req, snapshot(7), silentLog, kind === 'request' ? null : (reply ?? plainReply('CALL_FAILED FROM:bob TO:alice busy\n')));
  return { ctx: buildContext(mc, reg) as Ctx, mc };
}

async function boot(mods: readonly AnyModule[], core = fakeCore()): Promise<ModuleRegistry> {
  return ModuleRegistry.boot(validateModules(mods), core, silentLog);
}

/** A module whose functions report what config() says now, with a reloadable and a frozen field. */
function tunable(events: string[] = []) {
  return defineModule({
    name: 'tunable',
    description: 'reports its config',
    schema: z.object({ level: z.number().default(1), label: z.string().default('a'), nested: z.object({ k: z.number() }).default({ k: 1 }) }),
    reloadable: ['level', 'nested'],
    setup: ({ config }) => {
      events.push(`setup level=${config().level}`);
      return { calls: 0 };
    },
    functions: ({ config, state }) => ({
      level: fn(['request', 'reply', 'failure'], () => {
        state.calls++;
        return { ok: true as const, level: config().level, label: config().label, nested: config().nested };
      }),
      levelAsync: fn(['request'], async () => ({ ok: true as const, level: config().level })),
      onlyRequest: fn(['request'], () => ({ ok: true as const })),
      onlyFailure: fn(['failure'], () => ({ ok: true as const })),
    }),
    onConfigChange: (_env, change) => { events.push(`changed ${change.changed.join(',')}`); },
    onEnabledChange: (_env, enabled) => { events.push(`enabled ${String(enabled)}`); },
    onClose: () => { events.push('close'); },
  });
}

describe('ModuleRegistry.boot', () => {
  test('sets modules up in dependency order and gives each the api of its dependencies', async () => {
    const order: string[] = [];
    const base = defineModule({
      name: 'base', description: '', schema: z.object({ greeting: z.string().default('hello') }),
      setup: ({ config }) => { order.push('base'); return { greeting: config().greeting }; },
      api: ({ state }) => ({ greet: (who: string) => `${state.greeting} ${who}` }),
    });
    const user = defineModule({
      name: 'user', description: '', schema: z.object({}), dependsOn: { base: required(base), ghost: optional<{ boo(): void }>('ghost') },
      setup: ({ deps }) => {
        order.push('user');
        const api = deps.base;
        assert.ok(api, 'a required dependency is there during setup');
        assert.equal(deps.ghost, undefined, 'a missing optional dependency is undefined');
        return { line: api.greet('bob') };
      },
      functions: ({ state }) => ({ line: fn(['request'], () => state.line, () => '') }),
    });
    const reg = await boot([user(), base({ greeting: 'hi' })]);
    assert.deepEqual(order, ['base', 'user']);
    assert.deepEqual(reg.moduleNames(), ['base', 'user']);
    const { ctx } = ctxFor(reg, 'request');
    assert.equal(ctx.line!(), 'hi bob');
    assert.equal(reg.api<{ greet(w: string): string }>('base')?.greet('x'), 'hi x');
    assert.equal(reg.api('nope'), undefined);
    assert.equal(reg.isEnabled('base'), true);
    assert.equal(reg.isEnabled('nope'), false);
    await reg.close();
  });

  test('setup receives config, a logger and the core services; async setup is awaited', async () => {
    const core = fakeCore();
    let seen: unknown[] = [];
    const m = defineModule({
      name: 'm', description: '', schema: z.object({ n: z.number().default(3) }),
      setup: async ({ config, log, core: c }) => {
        await new Promise((r) => setImmediate(r));
        seen = [config().n, typeof log.info, c.isOwnUri === core.isOwnUri && c.hooks !== core.hooks];
        return { ready: true };
      },
      functions: ({ state }) => ({ ready: fn(['request'], () => state.ready, () => false) }),
    });
    const reg = await boot([m({ n: 9 })], core);
    assert.deepEqual(seen, [9, 'function', true]);
    assert.equal(ctxFor(reg, 'request').ctx.ready!(), true);
    await reg.close();
  });

  test('a setup that never finishes → SY_MODULE_SETUP_TIMEOUT, and earlier modules are closed', async () => {
    const closed: string[] = [];
    const first = defineModule({ name: 'first', description: '', schema: z.object({}), setup: () => ({}), onClose: () => { closed.push('first'); } });
    const slow = defineModule({
      name: 'slow', description: '', schema: z.object({}), setupTimeoutMs: 50,
      setup: () => new Promise<never>(() => { /* never settles */ }),
      onClose: () => { closed.push('slow'); },
    });
    const t0 = Date.now();
    const e = await rejectsWithCode(() => boot([first(), slow()]), 'SY_MODULE_SETUP_TIMEOUT');
    assert.ok(Date.now() - t0 < 4000, 'the module timeout applies, not the 5 s default');
    assert.match(e.message, /'slow'/);
    assert.match(e.message, /50 ms/);
    assert.equal(e.details.module, 'slow');
    assert.deepEqual(closed, ['first'], 'modules already set up are closed; the failed one never got a state');
  });

  test('a setup that throws → SY_MODULE_SETUP naming the module and the cause', async () => {
    const cause = new Error('cannot open the thing');
    const bad = defineModule({ name: 'bad', description: '', schema: z.object({}), setup: () => { throw cause; } });
    const e = await rejectsWithCode(() => boot([bad()]), 'SY_MODULE_SETUP');
    assert.match(e.message, /'bad'/);
    assert.match(e.message, /cannot open the thing/);
    assert.equal(e.details.module, 'bad');
    assert.equal(e.details.cause, cause);
  });

  test('a setup that rejects → SY_MODULE_SETUP too', async () => {
    const bad = defineModule({ name: 'bad2', description: '', schema: z.object({}), setup: async () => { throw new Error('async nope'); } });
    const e = await rejectsWithCode(() => boot([bad()]), 'SY_MODULE_SETUP');
    assert.match(e.message, /async nope/);
  });

  test('a switchyard error thrown by setup keeps its own code', async () => {
    const bad = defineModule({
      name: 'bad3', description: '', schema: z.object({}),
      setup: () => { throw new SwitchyardError('SY_LISTEN', 'port busy'); },
    });
    const e = await rejectsWithCode(() => boot([bad()]), 'SY_LISTEN');
    assert.equal(e.message, 'port busy');
  });

  test('close runs onClose in reverse setup order, even when one of them throws', async () => {
    const closed: string[] = [];
    const mk = (name: string, deps: readonly string[] = [], boom = false) => defineModule({
      name, description: '', schema: z.object({}), dependsOn: Object.fromEntries(deps.map((d) => [d, required(d)])), setup: () => ({}),
      onClose: async () => {
        await new Promise((r) => setImmediate(r));
        closed.push(name);
        if (boom) throw new Error('close failed');
      },
    })();
    const reg = await boot([mk('c', ['b']), mk('a'), mk('b', ['a'], true)]);
    assert.deepEqual(reg.moduleNames(), ['a', 'b', 'c']);
    await reg.close();
    assert.deepEqual(closed, ['c', 'b', 'a']);
    assert.deepEqual(reg.moduleNames(), []);
  });

  test('describe() lists modules in setup order with dependencies, functions and disabled state', async () => {
    const base = defineModule({ name: 'base', description: '', schema: z.object({}), setup: () => ({}) });
    const user = defineModule({
      name: 'user', description: '', schema: z.object({ unused: z.number().optional() }), dependsOn: { base: required(base), opt: optional('opt') }, setup: () => ({}),
      functions: () => ({ f1: fn(['request'], () => 1, () => 0), f2: fn(['failure'], () => 2, () => 0) }),
    });
    const reg = await boot([user({ enabled: false }), base()]);
    assert.equal(reg.describe(), 'base\nuser (disabled) <- base, opt?: f1, f2');
    await reg.close();
  });
});

describe('ModuleRegistry functions and scopes', () => {
  test('functions are put on ctx for the kinds they allow and receive the MessageContext', async () => {
    let got: MessageContext | null = null;
    const m = defineModule({
      name: 'm', description: '', schema: z.object({}), setup: () => ({}),
      functions: () => ({
        whoami: fn(['request', 'failure'], (mc, suffix: string) => { got = mc; return `${mc.kind}:${mc.msg.from.user}${suffix}`; }, () => ''),
        replyOnly: fn(['reply'], (mc) => mc.reply?.status, () => undefined),
      }),
    });
    const reg = await boot([m()]);
    assert.deepEqual(reg.functionNames('request'), ['whoami']);
    assert.deepEqual(reg.functionNames('reply'), ['replyOnly']);
    assert.deepEqual(reg.functionNames('failure'), ['whoami']);

    const r = ctxFor(reg, 'request');
    assert.equal(r.ctx.whoami!('!'), 'request:alice!');
    assert.equal(got, r.mc);
    const f = ctxFor(reg, 'failure');
    assert.equal(f.ctx.whoami!('?'), 'failure:alice?');
    const rp = ctxFor(reg, 'reply', plainReply('CALL_FAILED FROM:bob TO:alice busy'));
    assert.equal(rp.ctx.replyOnly!(), 486);
    await reg.close();
  });

  test('a function used outside its scopes throws SY_SCOPE naming function, kind and allowed kinds', async () => {
    const reg = await boot([tunable()()]);
    const f = ctxFor(reg, 'failure');
    const e = throwsWithCode(() => f.ctx.onlyRequest!(), 'SY_SCOPE');
    assert.match(e.message, /onlyRequest\(\)/);
    assert.match(e.message, /failure route/);
    assert.match(e.message, /'tunable'/);
    assert.match(e.message, /request/);
    throwsWithCode(() => ctxFor(reg, 'reply').ctx.onlyFailure!(), 'SY_SCOPE');
    throwsWithCode(() => ctxFor(reg, 'request').ctx.onlyFailure!(), 'SY_SCOPE');
    assert.deepEqual(f.ctx.onlyFailure!(), { ok: true });
    await reg.close();
  });

  test('the core verbs on ctx follow the route kind', async () => {
    const reg = await boot([tunable()()]);
    const r = ctxFor(reg, 'request');
    assert.equal(typeof r.ctx.respond, 'function');
    assert.equal('reply' in r.ctx, false);
    assert.equal(r.ctx.routeGeneration as unknown, 7);
    assert.equal(typeof (r.ctx as unknown as { log: { info: unknown } }).log.info, 'function');
    const v = r.ctx.respond!(486) as Verdict;
    assert.ok(isVerdict(v));
    assert.deepEqual({ kind: v.kind, status: v.kind === 'respond' ? v.status : 0, reason: v.kind === 'respond' ? v.reason : '' }, { kind: 'respond', status: 486, reason: 'Busy Here' });
    assert.equal(r.mc.verdict, v);
    throwsWithCode(() => r.ctx.drop!(), 'SY_VERDICT_TWICE');

    const rp = ctxFor(reg, 'reply');
    assert.equal('respond' in rp.ctx, false, 'a reply route cannot respond');
    assert.equal((rp.ctx.reply as unknown as Reply).status, 486);
    assert.equal((rp.ctx.drop!() as Verdict).kind, 'drop');

    const f = ctxFor(reg, 'failure');
    assert.equal(typeof f.ctx.respond, 'function');
    assert.ok(f.ctx.reply);
    assert.throws(() => f.ctx.respond!(99), RangeError);
    assert.throws(() => f.ctx.respond!(700), RangeError);
    assert.throws(() => f.ctx.respond!(200.5), RangeError);
    assert.equal(f.mc.verdict, null, 'a refused respond() gives no verdict');
    assert.equal((f.ctx.respond!(603, 'nope') as Verdict & { reason: string }).reason, 'nope');
    await reg.close();
  });
});

describe('ModuleRegistry.reconfigure', () => {
  test('reloadable fields change in place: the module sees the new config(); others need a restart', async () => {
    const events: string[] = [];
    const factory = tunable(events);
    const reg = await boot([factory({ level: 1, label: 'a' })]);
    const before = ctxFor(reg, 'request').ctx.level!() as { level: number; label: string };
    assert.deepEqual(before, { ok: true, level: 1, label: 'a', nested: { k: 1 } });

    const report = reg.reconfigure(validateModules([factory({ level: 5, label: 'b', nested: { k: 2 } })]));
    assert.deepEqual(report.applied.sort(), ['tunable.level', 'tunable.nested']);
    assert.deepEqual(report.needsRestart, ['tunable.label']);
    assert.deepEqual(events, ['setup level=1', 'changed level,nested']);

    const after = ctxFor(reg, 'request').ctx.level!() as { level: number; label: string };
    assert.deepEqual(after, { ok: true, level: 5, label: 'a', nested: { k: 2 } }, 'the frozen field keeps its boot value');
    assert.deepEqual(await ctxFor(reg, 'request').ctx.levelAsync!(), { ok: true, level: 5 });
    await reg.close();
  });

  test('an identical config changes nothing and reports nothing', async () => {
    const events: string[] = [];
    const factory = tunable(events);
    const reg = await boot([factory({ level: 2 })]);
    assert.deepEqual(reg.reconfigure(validateModules([factory({ level: 2, nested: { k: 1 } })])), { applied: [], needsRestart: [] });
    assert.deepEqual(events, ['setup level=2']);
    await reg.close();
  });

  test('going back to a default counts as a change', async () => {
    const factory = tunable();
    const reg = await boot([factory({ level: 9 })]);
    assert.deepEqual(reg.reconfigure(validateModules([factory()])).applied, ['tunable.level']);
    assert.equal((ctxFor(reg, 'request').ctx.level!() as { level: number }).level, 1);
    await reg.close();
  });

  test('enabled toggles in place: disabled functions return { ok:false, reason:"disabled" }, awaitable for async callers', async () => {
    const events: string[] = [];
    const factory = tunable(events);
    const reg = await boot([factory()]);
    const report = reg.reconfigure(validateModules([factory({ enabled: false })]));
    assert.deepEqual(report, { applied: ['tunable.enabled'], needsRestart: [] });
    assert.equal(reg.isEnabled('tunable'), false);
    assert.deepEqual(events, ['setup level=1', 'enabled false']);

    const { ctx } = ctxFor(reg, 'request');
    assert.deepEqual(ctx.level!(), { ok: false, reason: 'disabled' });
    const p = ctx.levelAsync!() as PromiseLike<unknown>;
    assert.equal(typeof p.then, 'function', 'an async function can still be awaited or then()-ed while disabled');
    assert.equal(await p, DISABLED);
    assert.equal(await new Promise((resolve) => { void p.then(resolve); }), DISABLED);
    // Scope errors still apply to a disabled module.
    throwsWithCode(() => ctx.onlyFailure!(), 'SY_SCOPE');

    const back = reg.reconfigure(validateModules([factory({ enabled: true })]));
    assert.deepEqual(back.applied, ['tunable.enabled']);
    assert.deepEqual(ctxFor(reg, 'request').ctx.level!(), { ok: true, level: 1, label: 'a', nested: { k: 1 } });
    assert.deepEqual(events.slice(-1), ['enabled true']);
    await reg.close();
  });

  test('a module booted disabled is set up but its functions are disabled', async () => {
    const events: string[] = [];
    const reg = await boot([tunable(events)({ enabled: false })]);
    assert.deepEqual(events, ['setup level=1']);
    assert.equal(reg.isEnabled('tunable'), false);
    assert.deepEqual(ctxFor(reg, 'request').ctx.onlyRequest!(), DISABLED);
    await reg.close();
  });

  test('moduleSetDifference reports added and removed modules; reconfigure ignores unknown ones', async () => {
    const a = defineModule({ name: 'a', description: '', schema: z.object({}), setup: () => ({}) });
    const b = defineModule({ name: 'b', description: '', schema: z.object({}), setup: () => ({}) });
    const c = defineModule({ name: 'c', description: '', schema: z.object({ v: z.number().default(0) }), setup: () => ({}) });
    const reg = await boot([a(), b()]);
    const next = validateModules([a(), c({ v: 3 })]);
    assert.deepEqual(reg.moduleSetDifference(next), { added: ['c'], removed: ['b'] });
    assert.deepEqual(reg.reconfigure(next), { applied: [], needsRestart: [] });
    await reg.close();
  });
});

describe('ModuleRegistry: the kit rules', () => {
  const withFn = (name: string, fnName: string) => defineModule({
    name, description: '', schema: z.object({}), setup: () => ({}),
    functions: () => ({ [fnName]: fn(['request'], () => ({ ok: true as const, from: name })) }),
  })();

  test('two modules declaring one function name are refused at boot, naming both (not: the last one wins)', async () => {
    const e = await rejectsWithCode(() => boot([withFn('first', 'lookup'), withFn('second', 'lookup')]), 'SY_MODULE_FUNCTION_DUPLICATE');
    assert.match(e.message, /'first' and 'second' both declare a function 'lookup'/);
    assert.deepEqual(e.details.modules, ['first', 'second']);
  });

  test('a function named like one of the core\'s ctx verbs is refused', async () => {
    for (const name of ['respond', 'drop', 'msg', 'log']) {
      const e = await rejectsWithCode(() => boot([withFn('shadow', name)]), 'SY_MODULE_FUNCTION_DUPLICATE');
      assert.match(e.message, new RegExp(`'${name}', a name the core's ctx already has`));
    }
  });

  test('a disabled module is inert: its hooks do not run, its predicates give their declared value, its api reads as absent to optional users', async () => {
    const core = fakeCore();
    const seen: string[] = [];
    const watcher = defineModule({
      name: 'watcher', description: '', schema: z.object({}),
      setup: ({ core: c }) => { c.hooks.onTransactionEnd((e) => { seen.push(`end ${e.status}`); }); return {}; },
      functions: () => ({ isBlocked: fn(['request'], () => true, () => false) }),
      api: () => ({ ping: () => 'pong' }),
    });
    const held: { deps?: { readonly watcher: { ping(): string } | undefined } } = {};
    const user = defineModule({
      name: 'user', description: '', schema: z.object({}), dependsOn: { watcher: optional(watcher) },
      setup: (env) => { held.deps = env.deps; return {}; },
    });
    const reg = await boot([watcher(), user()], core);
    const watcherApi = (): { ping(): string } | undefined => held.deps!.watcher;
    const fire = (status: number): void => (core.hooks as unknown as { emitTransactionEnd(e: unknown): void }).emitTransactionEnd({ txn: {}, outcome: 'failed', status });
    fire(486);
    assert.equal(ctxFor(reg, 'request').ctx.isBlocked!(), true);
    assert.equal(watcherApi()?.ping(), 'pong');
    reg.reconfigure(validateModules([watcher({ enabled: false }), user()]));
    fire(487);
    assert.equal(ctxFor(reg, 'request').ctx.isBlocked!(), false, 'a disabled predicate reads false, never a truthy { ok: false }');
    assert.equal(watcherApi(), undefined);
    reg.reconfigure(validateModules([watcher(), user()]));
    fire(488);
    assert.deepEqual(seen, ['end 486', 'end 488']);
    assert.equal(watcherApi()?.ping(), 'pong');
    await reg.close();
  });
});
