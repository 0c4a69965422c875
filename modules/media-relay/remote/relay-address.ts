import { isIP } from 'node:net';

/** An NG address as configured: `host:port` or `[ipv6]:port`; the host may be a name (resolved when the client opens). */
export function parseNgAddress(text: string): { readonly host: string; readonly port: number } | null {
  const m = /^\[([^\]]+)\]:(\d{1,5})$/.exec(text) ?? /^([^:[\]\s]+):(\d{1,5})$/.exec(text);
  if (m === null) return null;
  const port = Number(m[2]);
  if (port < 1 || port > 65535) return null;
  if (text.startsWith('[') && isIP(m[1]!) !== 6) return null;
  return { host: m[1]!, port };
}
