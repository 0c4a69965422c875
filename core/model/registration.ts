import type { Endpoint } from '../lib/address.ts';
import type { DialectName, SignalingTransport } from './message.ts';

/**
 * How a party is reached again over the signaling path it used: the listener and transport it
 * came in on, its address as the socket saw it, and for a stream transport the connection.
 */
export interface Flow {
  readonly dialect: DialectName;
  readonly listener: string;
  readonly address: Endpoint;
  readonly transport: SignalingTransport;
  /** The connection it came on (stream transports), else null. */
  readonly connection: number | null;
}

/** One contact a REGISTER asks to bind, refresh or remove. */
export interface RequestedContact {
  /** The Contact URI (the Request-URI of requests sent to it); null: the request's own source (the plain protocol). */
  readonly uri: string | null;
  /** Its own lifetime (SIP `;expires=`); absent: the request's. */
  readonly expiresSec?: number;
  readonly q?: number;
}

/**
 * What a registration request asks, whatever the dialect (RFC 3261 §10.3 in SIP; `REGISTER
 * <user>` in the plain protocol, one contact at the source, no lifetime).
 */
export type RegistrationRequest =
  | { readonly kind: 'query'; readonly aor: string; readonly flow: Flow }
  | {
      readonly kind: 'remove-all';
      readonly aor: string;
      readonly flow: Flow;
      readonly callId: string;
      readonly seq: number;
    }
  | {
      readonly kind: 'update';
      readonly aor: string;
      readonly flow: Flow;
      readonly contacts: readonly RequestedContact[];
      /** The request-level lifetime (SIP Expires header); absent: the registrar's default. */
      readonly expiresSec?: number;
      /** What orders refreshes of one contact (SIP Call-ID and CSeq); absent in the plain protocol. */
      readonly callId?: string;
      readonly seq?: number;
    };

/** A registration request as the dialect read it, or why it cannot be (answered 400). */
export type RegistrationParse =
  | { readonly ok: true; readonly registration: RegistrationRequest }
  | { readonly ok: false; readonly reason: string };
