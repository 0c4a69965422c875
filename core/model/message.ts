import type { Endpoint } from '../lib/address.ts';

/** The wire dialect a message arrived in. One route script serves both. */
export type DialectName = 'plain' | 'sip';

/** How a signaling message travels: datagrams, or a stream connection (TCP, TLS, WebSocket over TCP or TLS). */
export type SignalingTransport = 'udp' | 'tcp' | 'tls' | 'ws' | 'wss';

/** Methods the model knows by name; a SIP request may carry any other token. */
export type Method = 'REGISTER' | 'INVITE' | 'ACK' | 'BYE' | 'CANCEL' | 'OPTIONS' | 'UPDATE' | 'PRACK' | 'INFO' | 'MESSAGE' | (string & {});

/** One end of a call: the user part is what registrar and routing key on. */
export interface Party {
  readonly user: string;
  /** The full URI where the dialect has one (SIP); plain users have none. */
  readonly uri?: string;
  readonly tag?: string;
}

/** Where a message came in: the listener that received it and the peer's transport address. */
export interface Inbound {
  readonly listener: string;
  readonly source: Endpoint;
}

interface MessageBase extends Inbound {
  readonly dialect: DialectName;
  /**
   * Identifies the call. SIP: the Call-ID header. Plain: derived from the two users
   * (the plain protocol has one call per pair of users at a time).
   */
  readonly callId: string;
  /** The calling party of the transaction (SIP From), also on replies. */
  readonly from: Party;
  /** The called party of the transaction (SIP To), also on replies. */
  readonly to: Party;
  /** The datagram exactly as received. */
  readonly raw: Buffer;
  /** The dialect's own parsed form of the message; only that dialect reads it. */
  readonly wire: object;
}

export interface Request extends MessageBase {
  readonly type: 'request';
  readonly method: Method;
  /** Whom the request is addressed to (SIP: the Request-URI; plain: the callee). Registrar lookups use its user. */
  readonly ruri: Party;
  /** True for requests inside an established dialog (SIP: To has a tag; plain: BYE). */
  readonly inDialog: boolean;
}

export interface Reply extends MessageBase {
  readonly type: 'reply';
  readonly status: number;
  readonly reason: string;
  /** The method of the request this answers (SIP: CSeq method). */
  readonly method: Method;
  /** True for a reply the proxy made up itself (an answer timeout), not one it received. */
  readonly local?: boolean;
}

export type Message = Request | Reply;

export function isSuccess(status: number): boolean {
  return status >= 200 && status < 300;
}

/** Reason phrases for replies the proxy composes without one. */
export const REASON_PHRASES: Readonly<Record<number, string>> = {
  100: 'Trying', 180: 'Ringing', 183: 'Session Progress', 200: 'OK',
  400: 'Bad Request', 403: 'Forbidden', 404: 'Not Found', 405: 'Method Not Allowed',
  408: 'Request Timeout', 423: 'Interval Too Brief', 480: 'Temporarily Unavailable',
  481: 'Call/Transaction Does Not Exist', 482: 'Loop Detected', 483: 'Too Many Hops',
  486: 'Busy Here', 487: 'Request Terminated', 488: 'Not Acceptable Here',
  500: 'Server Internal Error', 501: 'Not Implemented', 503: 'Service Unavailable',
  600: 'Busy Everywhere', 603: 'Decline',
};

export function reasonPhrase(status: number): string {
  return REASON_PHRASES[status] ?? (status < 300 ? 'OK' : 'Error');
}
