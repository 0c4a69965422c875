import { networkInterfaces } from 'node:os';

/** The address to advertise for a wildcard bind (`::`, `0.0.0.0`): the first non-internal address of the family, else loopback. A specific bind address is advertised as is. */
export function defaultAdvertise(bindHost: string, family: 'IPv4' | 'IPv6' = 'IPv4'): string {
  if (bindHost !== '::' && bindHost !== '0.0.0.0') return bindHost;
  for (const list of Object.values(networkInterfaces())) {
    for (const a of list ?? []) if (a.family === family && !a.internal && !(family === 'IPv6' && a.address.toLowerCase().startsWith('fe80'))) return a.address;
  }
  return family === 'IPv4' ? '127.0.0.1' : '::1';
}
