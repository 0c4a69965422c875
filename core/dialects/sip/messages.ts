import type { Endpoint } from '../../lib/address.ts';
import { unmapIPv4 } from '../../lib/address.ts';
import type { ReplyExtras } from '../../model/verdict.ts';
import { createRequest, createResponse, getHeader, getHeaders, setHeader, type SipRequest, type SipResponse } from './codec/message.ts';
import { replaceFirstVia, setViaParam, type Via } from './codec/via.ts';
import { formatNameAddr, parseNameAddr } from './codec/uri.ts';
import { getParam, setParam } from './codec/params.ts';

const SERVER = 'switchyard';

/**
 * RFC 3581 and §18.2.1: note where the request really came from in its top Via, so
 * replies find a client behind NAT. Returns the updated top Via.
 */
export function stampReceived(sip: SipRequest, via: Via, source: Endpoint): Via {
  const ip = unmapIPv4(source.address);
  const sentByHost = via.host.startsWith('[') ? via.host.slice(1, -1) : via.host;
  let changed = false;
  if (via.hasRport) {
    setViaParam(via, 'rport', String(source.port));
    setViaParam(via, 'received', ip);
    changed = true;
  } else if (sentByHost !== ip) {
    setViaParam(via, 'received', ip);
    changed = true;
  }
  if (!changed) return via;
  const i = sip.headers.findIndex((h) => h.lname === 'via');
  const h = sip.headers[i]!;
  sip.headers[i] = { name: h.name, lname: 'via', value: replaceFirstVia(h.value, via) };
  return via;
}

/** A response the proxy makes itself (RFC 3261 §8.2.6): Via, From, To (+tag), Call-ID and CSeq from the request. */
export function buildResponse(req: SipRequest, status: number, reason: string, toTag: string | null, extras?: ReplyExtras): SipResponse {
  const headers: [string, string][] = [];
  for (const v of getHeaders(req, 'via')) headers.push(['Via', v]);
  headers.push(['From', getHeader(req, 'from') ?? '']);
  let to = getHeader(req, 'to') ?? '';
  if (toTag !== null && status > 100) {
    const na = parseNameAddr(to);
    if (na !== null && getParam(na.params, 'tag') === undefined) {
      setParam(na.params, 'tag', toTag);
      to = formatNameAddr(na);
    }
  }
  headers.push(['To', to], ['Call-ID', getHeader(req, 'call-id') ?? ''], ['CSeq', getHeader(req, 'cseq') ?? '']);
  if (extras !== undefined) pushExtras(headers, extras);
  headers.push(['Server', SERVER], ['Content-Length', '0']);
  return createResponse({ status, reason, headers });
}

/** The model's reply extras as SIP header fields. */
function pushExtras(headers: [string, string][], extras: ReplyExtras): void {
  for (const c of extras.contacts ?? []) headers.push(['Contact', `<${c.uri}>;expires=${c.expiresSec}`]);
  if (extras.minExpiresSec !== undefined) headers.push(['Min-Expires', String(extras.minExpiresSec)]);
  if (extras.retryAfterSec !== undefined) headers.push(['Retry-After', String(extras.retryAfterSec)]);
  for (const [n, v] of extras.headers ?? []) headers.push([n, v]);
}

/**
 * A request a client transaction sends on its own branch (ACK for a failure, CANCEL): the
 * branch's Request-URI, top Via, Route set, From, Call-ID and CSeq number, with the given To.
 */
function branchRequest(method: 'ACK' | 'CANCEL', sent: SipRequest, to: string): SipRequest {
  const headers: [string, string][] = [['Via', getHeaders(sent, 'via')[0] ?? '']];
  for (const r of getHeaders(sent, 'route')) headers.push(['Route', r]);
  const seq = (getHeader(sent, 'cseq') ?? '1').trim().split(/\s+/)[0]!;
  headers.push(
    ['Max-Forwards', '70'], ['From', getHeader(sent, 'from') ?? ''], ['To', to],
    ['Call-ID', getHeader(sent, 'call-id') ?? ''], ['CSeq', `${seq} ${method}`], ['Content-Length', '0'],
  );
  return createRequest({ method, uri: sent.uri, headers });
}

/** The ACK a proxy's client transaction sends for a non-2xx final response (§17.1.1.3): To from the response. */
export function buildAck(sent: SipRequest, response: SipResponse): SipRequest {
  return branchRequest('ACK', sent, getHeader(response, 'to') ?? '');
}

/** The CANCEL for one branch of a forwarded INVITE (§9.1). */
export function buildCancel(sent: SipRequest): SipRequest {
  return branchRequest('CANCEL', sent, getHeader(sent, 'to') ?? '');
}

/** The most hops a request may still make when it leaves this proxy (RFC 3261 §8.1.1.6's recommended 70). */
export const MAX_FORWARDS_LIMIT = 70;

/**
 * Sets Max-Forwards for the next hop: one less, never more than 70 (a huge value would let a
 * loop through other elements run that long), or 70 where the request had none.
 */
export function decrementMaxForwards(sip: SipRequest, current: number | undefined): void {
  setHeader(sip, 'Max-Forwards', String(current === undefined ? MAX_FORWARDS_LIMIT : Math.max(0, Math.min(current - 1, MAX_FORWARDS_LIMIT))));
}
