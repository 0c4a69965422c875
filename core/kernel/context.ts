import { reasonPhrase } from '../model/message.ts';
import type { RouteKind } from './contracts.ts';
import type { ModuleRegistry } from './module-registry.ts';
import type { MessageContext } from './message-context.ts';
import { DROP, respondVerdict, type Verdict } from '../model/verdict.ts';

const MC = Symbol('switchyard.messageContext');

type Ctx = { [MC]: MessageContext };

/** A property of every ctx of a kind: a function bound to the ctx's message, made when it is read. */
function verb(proto: object, name: string, make: (mc: MessageContext) => unknown): void {
  Object.defineProperty(proto, name, {
    get(this: Ctx) { return make(this[MC]); },
    enumerable: true,
    configurable: true,
  });
}

/** The core's verbs and the module functions legal in one route kind, shared by every ctx of that kind. */
function prototypeFor(registry: ModuleRegistry, kind: RouteKind): object {
  const proto = {};
  Object.defineProperty(proto, 'log', { get(this: Ctx) { return this[MC].log; }, enumerable: true, configurable: true });
  verb(proto, 'drop', (mc) => (): Verdict => mc.claim(DROP));
  if (kind !== 'reply') {
    verb(proto, 'respond', (mc) => (status: number, reason?: string): Verdict => {
      if (!Number.isInteger(status) || status < 100 || status > 699) throw new RangeError(`respond(): status must be an integer 100-699, got ${String(status)}`);
      return mc.claim(respondVerdict(status, reason ?? reasonPhrase(status)));
    });
  }
  for (const [name, f] of registry.functionTable(kind)) verb(proto, name, (mc) => (...args: unknown[]) => f(mc, ...args));
  return proto;
}

const prototypes = new WeakMap<ModuleRegistry, Map<RouteKind, object>>();

/**
 * Builds the `ctx` a route block receives: the core's own verbs for the route kind plus
 * the module functions legal there. The script's types (core/script/types.ts) describe
 * exactly this object. The verbs and functions live on a prototype built once per registry
 * and kind; each is bound to the message when the script reads it, so a message pays only
 * for the functions its route uses.
 */
export function buildContext(mc: MessageContext, registry: ModuleRegistry): Record<string, unknown> {
  let byKind = prototypes.get(registry);
  if (byKind === undefined) prototypes.set(registry, (byKind = new Map()));
  let proto = byKind.get(mc.kind);
  if (proto === undefined) byKind.set(mc.kind, (proto = prototypeFor(registry, mc.kind)));
  const ctx = Object.create(proto) as Record<string | symbol, unknown>;
  ctx[MC] = mc;
  ctx.msg = mc.msg;
  ctx.routeGeneration = mc.snapshot.generation;
  if (mc.kind !== 'request') ctx.reply = mc.reply;
  return ctx;
}
