import { reasonPhrase } from '../message.ts';
import type { ModuleRegistry } from '../modules/registry.ts';
import type { MessageContext } from './message-context.ts';
import { DROP, respondVerdict, type Verdict } from './verdict.ts';

/**
 * Builds the `ctx` a route block receives: the core's own verbs for the route kind plus
 * the module functions legal there. The script's types (core/script/types.ts) describe
 * exactly this object.
 */
export function buildContext(mc: MessageContext, registry: ModuleRegistry): Record<string, unknown> {
  const ctx: Record<string, unknown> = {
    msg: mc.msg,
    routeGeneration: mc.snapshot.generation,
    drop: (): Verdict => mc.claim(DROP),
  };
  Object.defineProperty(ctx, 'log', { get: () => mc.log, enumerable: true });
  if (mc.kind !== 'request') ctx.reply = mc.reply;
  if (mc.kind !== 'reply') {
    ctx.respond = (status: number, reason?: string): Verdict => {
      if (!Number.isInteger(status) || status < 100 || status > 699) throw new RangeError(`respond(): status must be an integer 100-699, got ${String(status)}`);
      return mc.claim(respondVerdict(status, reason ?? reasonPhrase(status)));
    };
  }
  registry.bindFunctions(ctx, mc);
  return ctx;
}
