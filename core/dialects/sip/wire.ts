import type { Message, Request, SignalingTransport } from '../../model/message.ts';
import type { SipMessage, SipRequest } from './codec/message.ts';
import type { Via } from './codec/via.ts';

export type SipTransportName = SignalingTransport;

/** What the SIP dialect keeps beside the model: the parsed message and how it arrived. */
export interface SipWire {
  readonly sip: SipMessage;
  readonly transport: SipTransportName;
  /** The TCP connection it came on, to answer on the same one. */
  readonly connection: number | null;
  /** The top Via as received, after received/rport were added. */
  readonly via: Via;
}

export function sipWire(msg: Message): SipWire {
  return msg.wire as SipWire;
}

export function sipRequest(msg: Request): SipRequest {
  return sipWire(msg).sip as SipRequest;
}

/** A copy whose header list can change without touching the original. */
export function cloneSip<T extends SipMessage>(m: T): T {
  // The parser's literal shapes, field by field: a spread would build each copy property by property.
  const copy: SipMessage = m.type === 'request'
    ? { type: 'request', method: m.method, uri: m.uri, version: m.version, headers: m.headers.slice(), body: m.body, wire: m.wire }
    : { type: 'response', status: m.status, reason: m.reason, version: m.version, headers: m.headers.slice(), body: m.body, wire: m.wire };
  return copy as T;
}
