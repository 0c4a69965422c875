import { SwitchyardError } from '../lib/errors.ts';
import type { Logger } from '../lib/log.ts';
import type { MessageContext } from './message-context.ts';
import { DISABLED_RESULT, type AnyManifest, type BoundEnv, type Dependencies, type DepsOf, type FunctionTable, type RouteKind } from './define-module.ts';
import type { CoreServices } from './core-services.ts';
import { gatedHooks } from './hooks.ts';
import type { ValidatedModule } from './validate-modules.ts';
import type { ModuleOperations } from './operations.ts';

interface ModuleRuntime {
  readonly name: string;
  readonly manifest: AnyManifest;
  /** Shared with the module's env, so a reload's change is what `config()` returns next. */
  readonly holder: { config: Record<string, unknown> };
  /** Shared with the module's hook subscriptions and its dependents' `deps`. */
  readonly switch: { enabled: boolean };
  readonly env: BoundEnv<Record<string, unknown>, unknown>;
  functions: FunctionTable;
  api: unknown;
  operations: ModuleOperations;
}

/** A module as the admin listener sees it. */
export interface ModuleStatus {
  readonly name: string;
  readonly description: string;
  readonly enabled: boolean;
  readonly operations: ModuleOperations;
}

export type SwitchResult =
  | { readonly ok: true; readonly name: string; readonly enabled: boolean; readonly changed: boolean }
  | { readonly ok: false; readonly reason: 'no-such-module' | 'required-by' | 'requires'; readonly detail: string };

export interface ReconfigureReport {
  readonly applied: string[];
  readonly needsRestart: string[];
}

const DEFAULT_SETUP_TIMEOUT_MS = 5000;

/** Names every ctx has from the core: a module function may not take one of them. */
const CORE_NAMES = new Set(['msg', 'log', 'reply', 'routeGeneration', 'respond', 'drop']);

function withTimeout<T>(p: Promise<T>, ms: number, onTimeout: () => Error): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise<never>((_, reject) => { timer = setTimeout(() => reject(onTimeout()), ms); }),
  ]);
}

function sameValue(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

type BoundFn = (mc: MessageContext, ...args: unknown[]) => unknown;

/**
 * The booted modules: set up in dependency order, closed in reverse, their functions bound into
 * per-kind tables that the dispatcher puts on each route's ctx. A disabled module is inert: its
 * functions give their disabled value, its hooks do not run, and its api reads as absent to the
 * modules that use it optionally.
 */
export class ModuleRegistry {
  private readonly runtimes: ModuleRuntime[] = [];
  private readonly byName = new Map<string, ModuleRuntime>();
  /** name → implementation, per route kind; a name illegal in a kind maps to a scope error. */
  private readonly tables = new Map<RouteKind, Map<string, BoundFn>>();

  private constructor(private readonly log: Logger) {}

  static async boot(mods: readonly ValidatedModule[], core: CoreServices, log: Logger): Promise<ModuleRegistry> {
    const reg = new ModuleRegistry(log);
    try {
      for (const m of mods) await reg.setupOne(m, core);
      reg.buildTables();
    } catch (err) {
      await reg.close();
      throw err;
    }
    return reg;
  }

  /** The apis a module declared it depends on, by its own keys; an optional one reads undefined while not listed or disabled. */
  private depsFor(dependsOn: Dependencies): DepsOf<Dependencies> {
    const deps: Record<string, unknown> = {};
    for (const [key, d] of Object.entries(dependsOn)) {
      const rt = this.byName.get(d.module);
      Object.defineProperty(deps, key, {
        enumerable: true,
        get: d.kind === 'required' ? () => rt?.api : () => (rt !== undefined && rt.switch.enabled ? rt.api : undefined),
      });
    }
    return Object.freeze(deps) as DepsOf<Dependencies>;
  }

  private async setupOne(m: ValidatedModule, core: CoreServices): Promise<void> {
    const log = this.log.child({ module: m.name });
    const timeoutMs = m.manifest.setupTimeoutMs ?? DEFAULT_SETUP_TIMEOUT_MS;
    const holder = { config: m.config };
    const onOff = { enabled: m.enabled };
    const config = (): Record<string, unknown> => holder.config;
    const moduleCore: CoreServices = { ...core, hooks: gatedHooks(core.hooks, () => onOff.enabled) };
    const deps = this.depsFor(m.manifest.dependsOn ?? {});
    let state: unknown;
    try {
      state = await withTimeout(
        Promise.resolve().then(() => m.manifest.setup({ config, log, core: moduleCore, deps })),
        timeoutMs,
        () => new SwitchyardError('SY_MODULE_SETUP_TIMEOUT', `module '${m.name}' did not finish setup within ${timeoutMs} ms`, { module: m.name }),
      );
    } catch (err) {
      if (err instanceof SwitchyardError) throw err;
      throw new SwitchyardError('SY_MODULE_SETUP', `module '${m.name}' failed to set up: ${(err as Error).message}`, { module: m.name, cause: err });
    }
    const rt: ModuleRuntime = {
      name: m.name, manifest: m.manifest, holder, switch: onOff, functions: {}, api: undefined, operations: {},
      env: { state, config, log, core: moduleCore, deps },
    };
    rt.functions = m.manifest.functions?.(rt.env) ?? {};
    rt.api = m.manifest.api?.(rt.env);
    rt.operations = m.manifest.operations?.(rt.env) ?? {};
    this.runtimes.push(rt);
    this.byName.set(m.name, rt);
    log.debug({ enabled: m.enabled, functions: Object.keys(rt.functions) }, 'module ready');
  }

  /** Each function name belongs to one module and is none of the core's own ctx names. */
  private checkNames(): void {
    const owner = new Map<string, string>();
    for (const rt of this.runtimes) {
      for (const fnName of Object.keys(rt.functions)) {
        if (CORE_NAMES.has(fnName)) {
          throw new SwitchyardError('SY_MODULE_FUNCTION_DUPLICATE', `module '${rt.name}' declares a function '${fnName}', a name the core's ctx already has`, { module: rt.name, function: fnName });
        }
        const first = owner.get(fnName);
        if (first !== undefined) {
          throw new SwitchyardError('SY_MODULE_FUNCTION_DUPLICATE', `modules '${first}' and '${rt.name}' both declare a function '${fnName}'; a script could call only one of them`, { modules: [first, rt.name], function: fnName });
        }
        owner.set(fnName, rt.name);
      }
    }
  }

  private buildTables(): void {
    this.checkNames();
    const kinds: RouteKind[] = ['request', 'reply', 'failure'];
    for (const kind of kinds) {
      const table = new Map<string, BoundFn>();
      for (const rt of this.runtimes) {
        for (const [fnName, spec] of Object.entries(rt.functions)) {
          if (spec.scopes.includes(kind)) {
            const impl = spec.impl as BoundFn;
            const whenDisabled = spec.whenDisabled ?? (() => DISABLED_RESULT);
            table.set(fnName, (mc, ...args) => (rt.switch.enabled ? impl(mc, ...args) : whenDisabled()));
          } else {
            table.set(fnName, () => {
              throw new SwitchyardError('SY_SCOPE', `${fnName}() is not allowed in a ${kind} route (module '${rt.name}' allows it in: ${spec.scopes.join(', ')})`);
            });
          }
        }
      }
      this.tables.set(kind, table);
    }
  }

  /** The module functions a route of `kind` sees, each taking the message's context first (a scope error where illegal). */
  functionTable(kind: RouteKind): ReadonlyMap<string, BoundFn> {
    return this.tables.get(kind) ?? new Map();
  }

  /** Function names per kind (for `check` output and tests). */
  functionNames(kind: RouteKind): string[] {
    return [...this.runtimes.flatMap((rt) => Object.entries(rt.functions).filter(([, s]) => s.scopes.includes(kind)).map(([n]) => n))];
  }

  moduleNames(): string[] {
    return this.runtimes.map((r) => r.name);
  }

  isEnabled(name: string): boolean {
    return this.byName.get(name)?.switch.enabled ?? false;
  }

  api<A>(name: string): A | undefined {
    return this.byName.get(name)?.api as A | undefined;
  }

  /** Every module in setup order, with what it shows operators. */
  statuses(): ModuleStatus[] {
    return this.runtimes.map((rt) => ({ name: rt.name, description: rt.manifest.description, enabled: rt.switch.enabled, operations: rt.operations }));
  }

  /**
   * Turns a module on or off at run time (the control API), as `enabled` in a reload would; a
   * module an enabled module requires stays on. The script's own `enabled` applies again at the
   * next reload that changes it.
   */
  setEnabled(name: string, enabled: boolean): SwitchResult {
    const rt = this.byName.get(name);
    if (rt === undefined) return { ok: false, reason: 'no-such-module', detail: `no module '${name}' (listed: ${this.moduleNames().join(', ')})` };
    if (!enabled) {
      const users = this.runtimes.filter((o) => o.switch.enabled && o !== rt && Object.values(o.manifest.dependsOn ?? {}).some((d) => d.kind === 'required' && d.module === name));
      if (users.length > 0) return { ok: false, reason: 'required-by', detail: `'${name}' is required by ${users.map((u) => `'${u.name}'`).join(', ')}` };
    }
    if (enabled) {
      const off = Object.values(rt.manifest.dependsOn ?? {}).filter((d) => d.kind === 'required' && !this.isEnabled(d.module));
      if (off.length > 0) return { ok: false, reason: 'requires', detail: `'${name}' requires ${off.map((d) => `'${d.module}'`).join(', ')}, which is disabled` };
    }
    if (rt.switch.enabled === enabled) return { ok: true, name, enabled, changed: false };
    rt.switch.enabled = enabled;
    rt.manifest.onEnabledChange?.(rt.env, enabled);
    this.log.info({ module: name, enabled }, enabled ? 'module enabled' : 'module disabled');
    return { ok: true, name, enabled, changed: true };
  }

  /** The modules a reload would have to add or remove (only a restart can do that). */
  moduleSetDifference(next: readonly ValidatedModule[]): { added: string[]; removed: string[] } {
    const nextNames = new Set(next.map((m) => m.name));
    return {
      added: next.filter((m) => !this.byName.has(m.name)).map((m) => m.name),
      removed: this.runtimes.filter((r) => !nextNames.has(r.name)).map((r) => r.name),
    };
  }

  /** Applies a reload's module config: reloadable fields and `enabled` in place, the rest reported. */
  reconfigure(next: readonly ValidatedModule[]): ReconfigureReport {
    const applied: string[] = [];
    const needsRestart: string[] = [];
    for (const m of next) {
      const rt = this.byName.get(m.name);
      if (rt === undefined) continue;
      const reloadable = new Set<string>(rt.manifest.reloadable ?? []);
      const current = rt.holder.config;
      const changed = Object.keys({ ...current, ...m.config }).filter((k) => !sameValue(current[k], m.config[k]));
      const live = changed.filter((k) => reloadable.has(k));
      const frozen = changed.filter((k) => !reloadable.has(k));
      if (live.length > 0) {
        const merged = { ...current };
        for (const k of live) merged[k] = m.config[k];
        rt.holder.config = merged;
        rt.manifest.onConfigChange?.(rt.env, { changed: live });
        applied.push(...live.map((k) => `${m.name}.${k}`));
      }
      needsRestart.push(...frozen.map((k) => `${m.name}.${k}`));
      if (m.enabled !== rt.switch.enabled) {
        rt.switch.enabled = m.enabled;
        rt.manifest.onEnabledChange?.(rt.env, m.enabled);
        applied.push(`${m.name}.enabled`);
      }
    }
    return { applied, needsRestart };
  }

  /** A printable boot tree: modules in setup order with their dependencies and functions. */
  describe(): string {
    return this.runtimes.map((rt) => {
      const deps = Object.values(rt.manifest.dependsOn ?? {}).map((d) => `${d.module}${d.kind === 'optional' ? '?' : ''}`);
      const fns = Object.keys(rt.functions);
      return `${rt.name}${rt.switch.enabled ? '' : ' (disabled)'}${deps.length ? ` <- ${deps.join(', ')}` : ''}${fns.length ? `: ${fns.join(', ')}` : ''}`;
    }).join('\n');
  }

  async close(): Promise<void> {
    for (const rt of [...this.runtimes].reverse()) {
      try {
        await rt.manifest.onClose?.(rt.env);
      } catch (err) {
        this.log.error({ err, module: rt.name }, 'module close failed');
      }
    }
    this.runtimes.length = 0;
    this.byName.clear();
  }
}
