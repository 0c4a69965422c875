/**
 * What modules read of a message through the dialect that carried it, in the model's terms:
 * the dialect layer's accessors, exported by the module kit (core/module.ts).
 */
import type { DialectName, Request } from '../model/message.ts';
import type { RegistrationParse } from '../model/registration.ts';
import { readPlainRegistration } from './plain/registration.ts';
import { readSipRegistration, sameSipContact } from './sip/registration.ts';

/** What a REGISTER asks of the registrar, or why it cannot be read (the registrar answers 400). */
export function registrationOf(req: Request): RegistrationParse {
  if (req.method !== 'REGISTER') return { ok: false, reason: `${req.method} is not a REGISTER` };
  return req.dialect === 'sip' ? readSipRegistration(req) : readPlainRegistration(req);
}

/** Whether two contact URIs of `dialect` name the same binding (SIP: RFC 3261 §10.3 step 5). */
export function sameContactUri(dialect: DialectName, a: string, b: string): boolean {
  return dialect === 'sip' ? sameSipContact(a, b) : a === b;
}
