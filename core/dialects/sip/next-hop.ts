import { isIP } from 'node:net';
import type { Endpoint } from '../../lib/address.ts';
import { getParam } from './codec/params.ts';
import { parseUri } from './codec/uri.ts';
import type { SipResolver } from './resolver.ts';
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

/** A next hop, or why there is none: the URI names nothing reachable, or its name could not be resolved now. */
export type HopResult = NextHop | 'unresolvable' | 'unavailable';

/**
 * Where a request for `uri` goes (RFC 3263, reduced: A/AAAA lookups, no NAPTR/SRV): maddr when
 * `useMaddr` (a trusted sender's URI) and present, else the host; the port given, else 5060
 * (5061 over TLS); transport= honoured, and a sips: URI goes over TLS. Names go through the
 * bounded resolver; a host name is kept beside the address it resolved to.
 */
export function resolveNextHop(uri: string, resolver: SipResolver, useMaddr: boolean): HopResult | Promise<HopResult> {
  const u = parseUri(uri);
  if (u === null || (u.kind !== 'sip' && u.kind !== 'sips')) return 'unresolvable';
  const maddr = useMaddr ? getParam(u.params, 'maddr') : undefined;
  const host = typeof maddr === 'string' ? maddr : u.host;
  const bare = host.startsWith('[') ? host.slice(1, -1) : host;
  const transportParam = getParam(u.params, 'transport');
  const named = typeof transportParam === 'string' ? transportOfVia(transportParam) : 'udp';
  const transport: SipTransportName = u.kind === 'sips' && (named === 'udp' || named === 'tcp') ? 'tls' : named;
  const port = u.port ?? (transport === 'tls' || transport === 'wss' ? 5061 : 5060);
  if (isIP(bare) !== 0) return { address: { address: bare, port }, transport };
  const hop = (r: Awaited<ReturnType<SipResolver['resolve']>>): HopResult => (typeof r === 'string' ? r : { address: { address: r.address, port }, transport, name: bare });
  const found = resolver.resolve(bare);
  return found instanceof Promise ? found.then(hop) : hop(found);
}
