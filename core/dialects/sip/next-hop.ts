import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import type { Endpoint } from '../../lib/address.ts';
import { getParam } from './codec/params.ts';
import { parseUri } from './codec/uri.ts';
import type { SipTransportName } from './wire.ts';

export interface NextHop {
  readonly address: Endpoint;
  readonly transport: SipTransportName;
  /** A stream connection to reuse (a contact that registered over it). */
  readonly connection?: number | null;
  /** The host name the URI gave, when it gave one: a TLS peer's certificate must name it (RFC 5922). */
  readonly name?: string;
}

const NAMED: ReadonlySet<string> = new Set(['udp', 'tcp', 'tls', 'ws', 'wss']);

/** The transport a `transport=` parameter or a Via's protocol names; UDP for anything else. */
export function transportOfVia(name: string): SipTransportName {
  const n = name.toLowerCase();
  return NAMED.has(n) ? (n as SipTransportName) : 'udp';
}

/**
 * Where a request for `uri` goes (RFC 3263, reduced: A/AAAA lookups, no NAPTR/SRV):
 * maddr if present, else the host; the port given, else 5060 (5061 over TLS); transport=
 * honoured, and a sips: URI goes over TLS. A host name is kept beside the address it resolved to.
 */
export async function resolveNextHop(uri: string): Promise<NextHop | null> {
  const u = parseUri(uri);
  if (u === null || (u.kind !== 'sip' && u.kind !== 'sips')) return null;
  const maddr = getParam(u.params, 'maddr');
  const host = typeof maddr === 'string' ? maddr : u.host;
  const bare = host.startsWith('[') ? host.slice(1, -1) : host;
  const transportParam = getParam(u.params, 'transport');
  const named = typeof transportParam === 'string' ? transportOfVia(transportParam) : 'udp';
  const transport: SipTransportName = u.kind === 'sips' && (named === 'udp' || named === 'tcp') ? 'tls' : named;
  const port = u.port ?? (transport === 'tls' || transport === 'wss' ? 5061 : 5060);
  if (isIP(bare) !== 0) return { address: { address: bare, port }, transport };
  try {
    const found = await lookup(bare);
    return { address: { address: found.address, port }, transport, name: bare };
  } catch {
    return null;
  }
}
