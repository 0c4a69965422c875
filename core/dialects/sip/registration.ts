import type { Request } from '../../model/message.ts';
import type { Flow, RegistrationParse, RequestedContact } from '../../model/registration.ts';
import { getCSeq, getHeader, getHeaders } from './codec/message.ts';
import { getParam } from './codec/params.ts';
import { parseNameAddr, parseUri, type SipUri } from './codec/uri.ts';
import { sipRequest, sipWire } from './wire.ts';

/** An Expires value or `expires` parameter: delta-seconds, at most ten digits; anything else is ignored. */
const DELTA_SECONDS = /^\d{1,10}$/;

function deltaSeconds(value: string | null | undefined): number | undefined {
  return typeof value === 'string' && DELTA_SECONDS.test(value) ? Number(value) : undefined;
}

/**
 * A REGISTER as RFC 3261 §10.3 reads it: the To user is the address of record; no Contact is
 * a query; `*` (alone, with Expires: 0) removes every binding; otherwise each Contact with its
 * own `expires` and `q`. The Call-ID and CSeq order refreshes; the flow is where it came from.
 */
export function readSipRegistration(req: Request): RegistrationParse {
  const aor = req.to.user;
  if (aor === '') return { ok: false, reason: 'No user in To' };
  const sip = sipRequest(req);
  const wire = sipWire(req);
  const flow: Flow = { dialect: 'sip', listener: req.listener, address: req.source, transport: wire.transport, connection: wire.connection };
  const values = getHeaders(sip, 'contact');
  if (values.length === 0) return { ok: true, registration: { kind: 'query', aor, flow } };

  const callId = req.callId;
  const seq = getCSeq(sip)?.seq ?? 0;
  const expiresSec = deltaSeconds(getHeader(sip, 'expires')?.trim());
  if (values.some((v) => v.trim() === '*')) {
    if (values.length !== 1 || expiresSec !== 0) return { ok: false, reason: 'Wildcard Contact needs Expires: 0 and no other Contact' };
    return { ok: true, registration: { kind: 'remove-all', aor, flow, callId, seq } };
  }

  const contacts: RequestedContact[] = [];
  for (const value of values) {
    const na = parseNameAddr(value);
    if (na === null || parseUri(na.uri) === null) return { ok: false, reason: 'Bad Contact' };
    const own = deltaSeconds(getParam(na.params, 'expires'));
    const q = getParam(na.params, 'q');
    const qValue = typeof q === 'string' && Number.isFinite(Number(q)) ? Number(q) : undefined;
    contacts.push({
      uri: na.uri,
      ...(own !== undefined ? { expiresSec: own } : {}),
      ...(qValue !== undefined ? { q: qValue } : {}),
    });
  }
  return { ok: true, registration: { kind: 'update', aor, flow, contacts, callId, seq, ...(expiresSec !== undefined ? { expiresSec } : {}) } };
}

function portOf(u: SipUri): number {
  return u.port ?? (u.kind === 'sips' ? 5061 : 5060);
}

/**
 * Two Contact URIs name the same binding when scheme, user, host (ignoring case) and port (the
 * default one made explicit) are equal: a fair reading of §10.3 step 5.
 */
export function sameSipContact(a: string, b: string): boolean {
  if (a === b) return true;
  const ua = parseUri(a);
  const ub = parseUri(b);
  if (ua === null || ub === null) return false;
  return ua.kind === ub.kind && ua.user === ub.user && ua.host.toLowerCase() === ub.host.toLowerCase() && portOf(ua) === portOf(ub);
}
