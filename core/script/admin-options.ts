import { isIP } from 'node:net';
import { z } from 'zod';

/** The admin listener's defaults: loopback only, the port Kamailio-style tools leave free. */
export const ADMIN_DEFAULTS = { host: '127.0.0.1', port: 8060 } as const;

/** `admin` in defineProxy: the listener's address, its bearer token, or `false` to have none. */
export const adminSchema = z.union([
  z.literal(false),
  z.object({
    enabled: z.boolean().optional(),
    host: z.string().min(1).optional(),
    port: z.number().int().min(0).max(65535).optional(),
    /** Required for a host other than loopback: every request must carry `Authorization: Bearer <token>`. */
    token: z.string().min(16, 'an admin token has at least 16 characters').optional(),
  }).strict(),
]);

export interface ResolvedAdmin {
  readonly enabled: boolean;
  readonly host: string;
  readonly port: number;
  readonly token?: string;
  /** Asked for by the script or the command line, not only the default: failing to bind it fails the start. */
  readonly explicit: boolean;
}

/** Loopback addresses: the only ones the admin listener serves without a token. */
export function isLoopbackHost(host: string): boolean {
  if (host === 'localhost') return true;
  const family = isIP(host);
  if (family === 4) return host.startsWith('127.');
  if (family === 6) return host === '::1' || /^::ffff:127\./i.test(host);
  return false;
}

/** Why an admin listener may not start as configured, or null. */
export function adminRefusal(a: ResolvedAdmin): string | null {
  if (!a.enabled || a.token !== undefined || isLoopbackHost(a.host)) return null;
  return `the admin listener on ${a.host} is reachable from other machines: set admin.token (or SWITCHYARD_ADMIN_TOKEN), or listen on loopback`;
}

export function resolveAdmin(def: z.output<typeof adminSchema> | undefined, env: NodeJS.ProcessEnv = process.env): ResolvedAdmin {
  if (def === false) return { enabled: false, ...ADMIN_DEFAULTS, explicit: true };
  const token = def?.token ?? (env.SWITCHYARD_ADMIN_TOKEN || undefined);
  return {
    enabled: def?.enabled ?? true, host: def?.host ?? ADMIN_DEFAULTS.host, port: def?.port ?? ADMIN_DEFAULTS.port,
    ...(token !== undefined ? { token } : {}), explicit: def !== undefined,
  };
}

/** `--admin <host:port>` (`[::1]:8060` for IPv6, or a bare port for loopback). */
export function parseAdminAddress(text: string): { host: string; port: number } | null {
  const m = /^(?:\[([^\]]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(text) ?? /^()()(\d{1,5})$/.exec(text);
  if (m === null) return null;
  const port = Number(m[3]);
  if (port > 65535) return null;
  return { host: m[1] || m[2] || ADMIN_DEFAULTS.host, port };
}
