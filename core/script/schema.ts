import { z } from 'zod';

const routeFn = z.custom<(ctx: object) => unknown>((v) => typeof v === 'function', { message: 'expected a function (ctx) => ...' });

export const listenSchema = z.object({
  dialect: z.enum(['plain']),
  port: z.number().int().min(1).max(65535).optional(),
  host: z.string().min(1).optional(),
  name: z.string().min(1).optional(),
}).strict();

/** The shape `defineProxy()` must return; module options are validated by each module's own schema. */
export const proxyDefinitionSchema = z.object({
  listen: z.array(listenSchema).min(1, 'at least one listener is needed'),
  modules: z.array(z.unknown()),
  routes: z.object({
    request: routeFn,
    reply: z.record(z.string(), routeFn).optional(),
    failure: z.record(z.string(), routeFn).optional(),
  }).strict(),
  defaultReply: z.object({ status: z.number().int().min(300).max(699), reason: z.string().min(1) }).strict().optional(),
  log: z.object({ level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).optional() }).strict().optional(),
}).strict();

export const DEFAULT_PORTS = { plain: 34567 } as const;
