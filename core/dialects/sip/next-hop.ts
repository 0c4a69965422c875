import { isIP } from 'node:net';
import type { Endpoint } from '../../lib/address.ts';
import { getParam } from './codec/params.ts';
import { parseUri } from './codec/uri.ts';
import type { SipResolver } from './resolver.ts';
import type { SipTransportName } from './wire.ts';

export interface NextHop {
  readonly address: Endpoint;
  readonly transport: SipTransportName;
  /** A TCP connection to reuse (a contact that registered over it). */
  readonly connection?: number | null;
}

/** A next hop, or why there is none: the URI names nothing reachable, or its name could not be resolved now. */
export type HopResult = NextHop | 'unresolvable' | 'unavailable';

/**
 * Where a request for `uri` goes (RFC 3263, reduced: A/AAAA lookups, no NAPTR/SRV): maddr when
 * `useMaddr` (a trusted sender's URI) and present, else the host; the port given or 5060;
 * transport=tcp honoured. Names go through the bounded resolver.
 */
export function resolveNextHop(uri: string, resolver: SipResolver, useMaddr: boolean): HopResult | Promise<HopResult> {
  const u = parseUri(uri);
  if (u === null || (u.kind !== 'sip' && u.kind !== 'sips')) return 'unresolvable';
  const maddr = useMaddr ? getParam(u.params, 'maddr') : undefined;
  const host = typeof maddr === 'string' ? maddr : u.host;
  const bare = host.startsWith('[') ? host.slice(1, -1) : host;
  const transportParam = getParam(u.params, 'transport');
  const transport: SipTransportName = typeof transportParam === 'string' && transportParam.toLowerCase() === 'tcp' ? 'tcp' : 'udp';
  const port = u.port ?? 5060;
  if (isIP(bare) !== 0) return { address: { address: bare, port }, transport };
  const hop = (r: Awaited<ReturnType<SipResolver['resolve']>>): HopResult => (typeof r === 'string' ? r : { address: { address: r.address, port }, transport });
  const found = resolver.resolve(bare);
  return found instanceof Promise ? found.then(hop) : hop(found);
}
