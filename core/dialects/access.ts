import type { DialectName, Message, Request } from '../model/message.ts';
import type { Flow, RegistrationParse } from '../model/registration.ts';
import { readPlainRegistration } from './plain/registration.ts';
import { getHeaders, hasHeader } from './sip/codec/message.ts';
import { readSipRegistration, sameSipContact } from './sip/registration.ts';
import { sipRequest, sipWire } from './sip/wire.ts';

/**
 * What modules may ask of a message beyond the model, answered by the message's own dialect:
 * the module kit exports these, so that no module reads a wire format.
 */

/**
 * Whether the request says by itself where it goes: a SIP request inside a dialog (its
 * Request-URI is the remote target) or with a Route set. Call routing then forwards it along
 * that path instead of looking the callee up. Requests of the plain protocol never do.
 */
export function carriesRoute(req: Request): boolean {
  if (req.dialect !== 'sip') return false;
  return req.inDialog || hasHeader(sipRequest(req), 'route');
}

/** The values of a header field (SIP, by full or compact name, any case); the plain protocol has no headers. */
export function headerValues(msg: Message, name: string): string[] {
  return msg.dialect === 'sip' ? getHeaders(sipWire(msg).sip, name) : [];
}

/** Where a message came from and how: listener, source, transport, and for a stream transport its connection (a request to that party goes back on it). */
export function flowOf(msg: Message): Flow {
  if (msg.dialect !== 'sip') return { dialect: msg.dialect, listener: msg.listener, address: msg.source, transport: 'udp', connection: null };
  const w = sipWire(msg);
  return { dialect: 'sip', listener: msg.listener, address: msg.source, transport: w.transport, connection: w.connection };
}

/** What a REGISTER asks of the registrar, or why it cannot be read (the registrar answers 400). */
export function registrationOf(req: Request): RegistrationParse {
  if (req.method !== 'REGISTER') return { ok: false, reason: `${req.method} is not a REGISTER` };
  return req.dialect === 'sip' ? readSipRegistration(req) : readPlainRegistration(req);
}

/** Whether two contact URIs of `dialect` name the same binding (SIP: RFC 3261 §10.3 step 5). */
export function sameContactUri(dialect: DialectName, a: string, b: string): boolean {
  return dialect === 'sip' ? sameSipContact(a, b) : a === b;
}
