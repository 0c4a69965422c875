import type { z } from 'zod';
import type { Logger } from '../lib/log.ts';
import type { CoreServices } from './core-services.ts';
import type { MessageContext } from './message-context.ts';

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

/** A script-visible function and the route kinds where it is legal. */
export interface ScopedFn<K extends RouteKind, A extends unknown[], R> {
  readonly scopes: readonly K[];
  readonly impl: (mc: MessageContext, ...args: A) => R;
}

export function fn<const K extends RouteKind, A extends unknown[], R>(
  scopes: readonly K[],
  impl: (mc: MessageContext, ...args: A) => R,
): ScopedFn<K, A, R> {
  return { scopes, impl };
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type FunctionTable = Record<string, ScopedFn<RouteKind, any[], unknown>>;

export type ConfigChangeOutcome = 'applied' | 'restart-required';

export interface SetupEnv<C> {
  /** The module's current config: reloadable fields change in place, so read it when you need it. */
  config(): C;
  readonly log: Logger;
  readonly core: CoreServices;
  /** The `api` of another module; a required dependency is always there, an optional one may be undefined. */
  dep<A>(name: string): A | undefined;
}

export interface BoundEnv<C, S> {
  readonly state: S;
  /** The module's current config (reloadable fields change in place). */
  config(): C;
  readonly log: Logger;
  readonly core: CoreServices;
  dep<A>(name: string): A | undefined;
}

export interface ModuleManifest<N extends string, Schema extends z.ZodObject, S, F extends FunctionTable, Api> {
  readonly name: N;
  readonly description: string;
  readonly schema: Schema;
  /** Config fields a reload may change in place; a change to any other field needs a restart. */
  readonly reloadable?: readonly (keyof z.output<Schema> & string)[];
  readonly dependsOn?: Readonly<Record<string, 'required' | 'optional'>>;
  /** How long setup() may take before boot fails (default 5 s). */
  readonly setupTimeoutMs?: number;
  setup(env: SetupEnv<z.output<Schema>>): S | Promise<S>;
  functions?(env: BoundEnv<z.output<Schema>, S>): F;
  api?(env: BoundEnv<z.output<Schema>, S>): Api;
  /** Called with the reloadable fields that changed; the new values are already in `config()`. */
  onConfigChange?(env: BoundEnv<z.output<Schema>, S>, change: { readonly changed: readonly string[] }): void;
  onEnabledChange?(env: BoundEnv<z.output<Schema>, S>, enabled: boolean): void;
  onClose?(env: BoundEnv<z.output<Schema>, S>): void | Promise<void>;
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type AnyManifest = ModuleManifest<string, z.ZodObject, any, FunctionTable, any>;

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

/** Every module also takes `enabled` (reloadable): a disabled module's functions return `{ ok: false, reason: 'disabled' }`. */
export interface CommonModuleOptions { enabled?: boolean }

/** A factory's options: the schema's input plus `enabled` (an empty schema's input is an index signature of never). */
export type ModuleOptions<Schema extends z.ZodObject> = string extends keyof z.input<Schema> ? CommonModuleOptions : z.input<Schema> & CommonModuleOptions;

export function defineModule<N extends string, Schema extends z.ZodObject, S, F extends FunctionTable = Record<never, never>, Api = undefined>(
  manifest: ModuleManifest<N, Schema, S, F, Api>,
): (options?: ModuleOptions<Schema>) => ModuleInstance<N, F> {
  return (options) => ({ name: manifest.name, manifest: manifest as AnyManifest, options: options ?? {} });
}
