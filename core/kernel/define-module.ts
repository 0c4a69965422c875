import type { z } from 'zod';
import type { Logger } from '../lib/log.ts';
import type { CoreServices } from './core-services.ts';
import type { MessageContext } from './message-context.ts';
import type { ModuleOperations } from './operations.ts';

import type { RouteKind } from './contracts.ts';

export type { RouteKind };

declare const routeNameBrand: unique symbol;
/**
 * Placeholders a module puts in its functions' parameters where the script names one of
 * its own route blocks; the script's types replace them with the keys it actually defines.
 */
export type FailureRouteName = string & { readonly [routeNameBrand]: 'failure' };
export type ReplyRouteName = string & { readonly [routeNameBrand]: 'reply' };

/** What every module function returns while its module is disabled. */
export interface Disabled { readonly ok: false; readonly reason: 'disabled' }
export const DISABLED: Disabled = Object.freeze({ ok: false, reason: 'disabled' });

/**
 * What a disabled module's function returns: `DISABLED` that can also be awaited or
 * `.then()`-ed, since the script cannot know whether the function it called is async.
 */
export const DISABLED_RESULT: Disabled & PromiseLike<Disabled> = Object.freeze(Object.defineProperty(
  { ok: false as const, reason: 'disabled' as const },
  'then', // not enumerable: the result logs and compares as the plain { ok, reason }
  { value: (onOk?: (v: Disabled) => unknown, onErr?: (e: unknown) => unknown) => Promise.resolve(DISABLED).then(onOk, onErr) },
) as Disabled & PromiseLike<Disabled>);

/** A script-visible function, the route kinds where it is legal, and what it gives while its module is disabled. */
export interface ScopedFn<K extends RouteKind, A extends unknown[], R> {
  readonly scopes: readonly K[];
  readonly impl: (mc: MessageContext, ...args: A) => R;
  /** The result while the module is disabled; absent: `{ ok: false, reason: 'disabled' }` (the function's result is such a value). */
  readonly whenDisabled?: () => R;
}

/** A result that says by itself whether it worked: `{ ok: true, ... }` or `{ ok: false, reason }`. */
export type ResultObject = { readonly ok: boolean };

/**
 * Declares a module function. A function whose result is an `{ ok }` object (or a promise of
 * one) reads `{ ok: false, reason: 'disabled' }` while its module is disabled; any other
 * function (a predicate, a value) must say what it gives then, so that a disabled predicate can
 * never read as true.
 */
export function fn<const K extends RouteKind, A extends unknown[], R extends ResultObject | PromiseLike<ResultObject>>(
  scopes: readonly K[],
  impl: (mc: MessageContext, ...args: A) => R,
): ScopedFn<K, A, R>;
export function fn<const K extends RouteKind, A extends unknown[], R>(
  scopes: readonly K[],
  impl: (mc: MessageContext, ...args: A) => R,
  whenDisabled: () => NoInfer<R>,
): ScopedFn<K, A, R>;
export function fn<const K extends RouteKind, A extends unknown[], R>(
  scopes: readonly K[],
  impl: (mc: MessageContext, ...args: A) => R,
  whenDisabled?: () => R,
): ScopedFn<K, A, R> {
  return whenDisabled === undefined ? { scopes, impl } : { scopes, impl, whenDisabled };
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type FunctionTable = Record<string, ScopedFn<RouteKind, any[], unknown>>;

declare const apiType: unique symbol;

/** A module this one uses: by name, with the type of its `api`; required ones are set up first and must be enabled. */
export interface Dependency<Api, K extends 'required' | 'optional' = 'required' | 'optional'> {
  readonly module: string;
  readonly kind: K;
  readonly [apiType]?: Api;
}

/** What `defineModule` returns: the factory a script calls, which also names the module and types its api. */
export interface ModuleFactory<N extends string, F extends FunctionTable, Api, Schema extends z.ZodObject = z.ZodObject> {
  (options?: ModuleOptions<Schema>): ModuleInstance<N, F>;
  readonly moduleName: N;
  readonly [apiType]?: Api;
}

type ApiOfSource<T> = T extends { readonly [apiType]?: infer A } ? A : never;

/** What names a dependency: a module's name, or its factory (which also carries the type of its api). */
type DependencySource = string | { readonly moduleName: string; readonly [apiType]?: unknown };

/** A dependency that must be listed and enabled: `required(registrar)` or `required<RegistrarApi>('registrar')`. */
export function required<Api = never, T extends DependencySource = string>(
  module: T,
): Dependency<[NoInfer<Api>] extends [never] ? ApiOfSource<T> : NoInfer<Api>, 'required'> {
  return { module: typeof module === 'string' ? module : module.moduleName, kind: 'required' };
}

/** A dependency used when it is listed and enabled (`deps.x` is undefined otherwise). */
export function optional<Api = never, T extends DependencySource = string>(
  module: T,
): Dependency<[NoInfer<Api>] extends [never] ? ApiOfSource<T> : NoInfer<Api>, 'optional'> {
  return { module: typeof module === 'string' ? module : module.moduleName, kind: 'optional' };
}

export type Dependencies = Readonly<Record<string, Dependency<unknown>>>;

/** The apis of a module's dependencies, by the keys it declared them under. */
export type DepsOf<D extends Dependencies> = {
  readonly [K in keyof D]: D[K] extends Dependency<infer A, 'required'> ? A : D[K] extends Dependency<infer A, 'optional'> ? A | undefined : never;
};

export type ConfigChangeOutcome = 'applied' | 'restart-required';

export interface SetupEnv<C, D extends Dependencies = Dependencies> {
  /** The module's current config: reloadable fields change in place, so read it when you need it. */
  config(): C;
  readonly log: Logger;
  /** The core's services; hooks subscribed through it stay silent while the module is disabled. */
  readonly core: CoreServices;
  /** The apis of the modules it depends on (an optional one is undefined while not listed or disabled). */
  readonly deps: DepsOf<D>;
}

export interface BoundEnv<C, S, D extends Dependencies = Dependencies> extends SetupEnv<C, D> {
  readonly state: S;
}

export interface ModuleManifest<N extends string, Schema extends z.ZodObject, S, F extends FunctionTable, Api, D extends Dependencies = Dependencies> {
  readonly name: N;
  readonly description: string;
  readonly schema: Schema;
  /** Config fields a reload may change in place; a change to any other field needs a restart. */
  readonly reloadable?: readonly (keyof z.output<Schema> & string)[];
  /** The modules it uses, under the names `deps` gives them: `{ registrar: required(registrar), dialog: optional(dialog) }`. */
  readonly dependsOn?: D;
  /** How long setup() may take before boot fails (default 5 s). */
  readonly setupTimeoutMs?: number;
  setup(env: SetupEnv<z.output<Schema>, D>): S | Promise<S>;
  functions?(env: BoundEnv<z.output<Schema>, S, D>): F;
  api?(env: BoundEnv<z.output<Schema>, S, D>): Api;
  /** Called with the reloadable fields that changed; the new values are already in `config()`. */
  onConfigChange?(env: BoundEnv<z.output<Schema>, S, D>, change: { readonly changed: readonly string[] }): void;
  onEnabledChange?(env: BoundEnv<z.output<Schema>, S, D>, enabled: boolean): void;
  onClose?(env: BoundEnv<z.output<Schema>, S, D>): void | Promise<void>;
  /** What operators see of it through the admin listener: metrics read at scrape time, registrations, calls, hangup. */
  operations?(env: BoundEnv<z.output<Schema>, S, D>): ModuleOperations;
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type AnyManifest = ModuleManifest<string, z.ZodObject, any, FunctionTable, any, Dependencies>;

declare const functionsType: unique symbol;

/** What a module factory returns and the script lists in `modules`. */
export interface ModuleInstance<N extends string, F extends FunctionTable> {
  readonly name: N;
  readonly manifest: AnyManifest;
  /** Options as the script wrote them, validated against the manifest's schema at load. */
  readonly options: unknown;
  readonly [functionsType]?: F;
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type AnyModule = ModuleInstance<string, any>;

export type FunctionsOf<M> = M extends ModuleInstance<string, infer F> ? F : never;

/** Every module also takes `enabled` (reloadable): a disabled module is inert (its functions, hooks and api). */
export interface CommonModuleOptions { enabled?: boolean }

/** A factory's options: the schema's input plus `enabled` (an empty schema's input is an index signature of never). */
export type ModuleOptions<Schema extends z.ZodObject> = string extends keyof z.input<Schema> ? CommonModuleOptions : z.input<Schema> & CommonModuleOptions;

export function defineModule<N extends string, Schema extends z.ZodObject, S, F extends FunctionTable = Record<never, never>, Api = undefined, const D extends Dependencies = Record<never, never>>(
  manifest: ModuleManifest<N, Schema, S, F, Api, D>,
): ModuleFactory<N, F, Api, Schema> {
  const factory = (options?: ModuleOptions<Schema>): ModuleInstance<N, F> => ({ name: manifest.name, manifest: manifest as AnyManifest, options: options ?? {} });
  return Object.assign(factory, { moduleName: manifest.name });
}
