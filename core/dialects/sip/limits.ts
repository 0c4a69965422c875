import { findListComma, type SipMessage } from './codec/message.ts';

/**
 * How much of each kind one message may carry. A datagram can hold thousands of header fields
 * or list entries, and each entry costs work (a Route is compared with this proxy, a Contact
 * with the user's other bindings): beyond these counts, no honest element has a reason to go.
 */
export const SIP_LIMITS = {
  /** Header fields (lines) in one message. */
  headerFields: 200,
  /** Via entries: one per hop, and no request is forwarded more than 70 hops (Max-Forwards). */
  via: 72,
  /** Route and Record-Route entries: the proxies of one dialog's path. */
  route: 32,
  /** Contact entries: a REGISTER may name a few; every other message one. */
  contact: 32,
} as const;

const LIST_LIMITS: Readonly<Record<string, readonly [number, string]>> = {
  'via': [SIP_LIMITS.via, 'Too Many Via Entries'],
  'route': [SIP_LIMITS.route, 'Too Many Route Entries'],
  'record-route': [SIP_LIMITS.route, 'Too Many Record-Route Entries'],
  'contact': [SIP_LIMITS.contact, 'Too Many Contacts'],
};

/** Entries in one list header field: top-level commas plus one. */
function entries(value: string): number {
  let n = 1;
  for (let at = findListComma(value); at >= 0; at = findListComma(value, at + 1)) n++;
  return n;
}

/**
 * Why a message carries more than SIP_LIMITS allows (a reason phrase for a 400), or null.
 * One pass over the header fields; values without a comma cost one indexOf.
 */
export function overLimit(msg: SipMessage): string | null {
  if (msg.headers.length > SIP_LIMITS.headerFields) return 'Too Many Header Fields';
  let via = 0;
  let route = 0;
  let recordRoute = 0;
  let contact = 0;
  for (const h of msg.headers) {
    const limit = LIST_LIMITS[h.lname];
    if (limit === undefined) continue;
    const n = entries(h.value);
    const total = h.lname === 'via' ? (via += n) : h.lname === 'route' ? (route += n) : h.lname === 'record-route' ? (recordRoute += n) : (contact += n);
    if (total > limit[0]) return limit[1];
  }
  return null;
}
