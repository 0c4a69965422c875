/** A route block as the dispatcher calls it (the script's types are checked at load, not here). */
export type RouteFn = (ctx: object) => unknown;

export interface CompiledRoutes {
  readonly request: RouteFn;
  readonly reply: Readonly<Record<string, RouteFn>>;
  readonly failure: Readonly<Record<string, RouteFn>>;
}

/**
 * One loaded script, immutable. The dispatcher reads the current snapshot once per message;
 * a transaction keeps the snapshot that armed its reply and failure routes until it ends.
 */
export interface RouteSnapshot {
  readonly generation: number;
  readonly file: string;
  readonly routes: CompiledRoutes;
  /** What a request gets when its route gives no verdict. */
  readonly defaultReply: { readonly status: number; readonly reason: string };
}
