import { Resolver } from 'node:dns';
import { z } from 'zod';
import { adminSchema } from './admin-options.ts';

const routeFn = z.custom<(ctx: object) => unknown>((v) => typeof v === 'function', { message: 'expected a function (ctx) => ...' });

const plainListen = z.object({
  dialect: z.literal('plain'),
  port: z.number().int().min(0).max(65535).optional(),
  host: z.string().min(1).optional(),
  name: z.string().min(1).optional(),
  stun: z.boolean().optional(),
  stunRatePerSource: z.number().positive().max(100_000).optional(),
  udpEngine: z.enum(['auto', 'native', 'js']).optional(),
}).strict();

const sipListen = z.object({
  dialect: z.literal('sip'),
  port: z.number().int().min(0).max(65535).optional(),
  host: z.string().min(1).optional(),
  name: z.string().min(1).optional(),
  /** The address this proxy puts in Via and Record-Route (behind 1:1 NAT: the public one). */
  advertise: z.string().min(1).optional(),
  /** The same toward IPv6 peers of a dual-stack listener. */
  advertiseIPv6: z.string().min(1).optional(),
  transports: z.array(z.enum(['udp', 'tcp'])).min(1).optional(),
  /** A listener of one secure or browser transport instead of UDP and TCP. */
  transport: z.enum(['tls', 'ws', 'wss']).optional(),
  /** TLS and WSS: certificate and key files (relative to the script), reloaded when they change. */
  cert: z.string().min(1).optional(),
  key: z.string().min(1).optional(),
  /** TLS: roots trusted for the peers this listener dials (default: Node's); verifyPeer false accepts any (testing). */
  ca: z.string().min(1).optional(),
  verifyPeer: z.boolean().optional(),
  /** WS and WSS: the browser Origins allowed to connect (default: any). */
  origins: z.array(z.string().min(1)).optional(),
  /** TLS, WS, WSS: how long a peer has to finish its TLS handshake or WebSocket upgrade (default 10 s). */
  handshakeTimeoutMs: z.number().int().min(100).max(600_000).optional(),
  stun: z.boolean().optional(),
  stunRatePerSource: z.number().positive().max(100_000).optional(),
  udpEngine: z.enum(['auto', 'native', 'js']).optional(),
}).strict();

export const listenSchema = z.discriminatedUnion('dialect', [plainListen, sipListen]);

/** A DNS server as c-ares takes it: `ip`, `ip:port` or `[ipv6]:port`. */
function isDnsServer(s: string): boolean {
  try {
    new Resolver().setServers([s]);
    return true;
  } catch {
    return false;
  }
}

/** SIP beside its listeners: how next hops' names are resolved, the key of the Record-Route mark. */
const sipOptions = z.object({
  dns: z.object({
    timeoutMs: z.number().int().min(50).max(30_000).optional(),
    cacheSec: z.number().int().min(0).max(86_400).optional(),
    negativeCacheSec: z.number().int().min(0).max(3600).optional(),
    maxCached: z.number().int().min(0).max(1_000_000).optional(),
    maxConcurrent: z.number().int().min(1).max(64).optional(),
    maxQueued: z.number().int().min(0).max(100_000).optional(),
    servers: z.array(z.string().refine(isDnsServer, { message: 'expected an IP address, ip:port or [ipv6]:port' })).min(1).optional(),
  }).strict().optional(),
  routeSecret: z.string().min(32, 'at least 32 characters').optional(),
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
  admin: adminSchema.optional(),
  sip: sipOptions.optional(),
  log: z.object({ level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).optional() }).strict().optional(),
  overload: z.object({
    enabled: z.boolean().optional(),
    maxQueueDelayMs: z.number().positive().optional(),
    maxLoopDelayMs: z.number().positive().optional(),
    maxPending: z.number().int().positive().optional(),
    maxHeapMB: z.number().positive().optional(),
    callsPerSecond: z.number().positive().optional(),
    registrationsPerSecond: z.number().positive().optional(),
    retryAfterSec: z.number().int().min(1).max(3600).optional(),
  }).strict().optional(),
}).strict();

export const DEFAULT_PORTS = { plain: 34567, sip: 5060 } as const;
