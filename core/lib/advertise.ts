import { networkInterfaces } from 'node:os';

/** Environment variables that set the advertised address of each family, for signaling and media alike, where the script sets none. */
export const ADVERTISE_ENV = { IPv4: 'SWITCHYARD_ADVERTISE', IPv6: 'SWITCHYARD_ADVERTISE_IPV6' } as const;

/**
 * The address to advertise for a wildcard bind (`::`, `0.0.0.0`): the family's
 * SWITCHYARD_ADVERTISE / SWITCHYARD_ADVERTISE_IPV6 when set, else the first non-internal address
 * of the family, else loopback. A specific bind address is advertised as is.
 */
export function defaultAdvertise(bindHost: string, family: 'IPv4' | 'IPv6' = 'IPv4'): string {
  if (bindHost !== '::' && bindHost !== '0.0.0.0') return bindHost;
  const fromEnv = process.env[ADVERTISE_ENV[family]]?.trim();
  if (fromEnv !== undefined && fromEnv !== '') return fromEnv;
  for (const list of Object.values(networkInterfaces())) {
    for (const a of list ?? []) if (a.family === family && !a.internal && !(family === 'IPv6' && a.address.toLowerCase().startsWith('fe80'))) return a.address;
  }
  return family === 'IPv4' ? '127.0.0.1' : '::1';
}
