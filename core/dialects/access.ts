import type { Message, Request } from '../model/message.ts';
import { getHeaders, hasHeader } from './sip/codec/message.ts';
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
