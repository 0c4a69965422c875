import type { Inbound, Message, Party, Reply, Request } from '../../model/message.ts';
import { getCSeq, getHeader, type SipMessage } from './codec/message.ts';
import { getParam } from './codec/params.ts';
import { parseNameAddr, parseUri, unescapeUri } from './codec/uri.ts';
import { parseFirstVia } from './codec/via.ts';
import type { SipTransportName, SipWire } from './wire.ts';

function userOf(uri: string): string {
  const u = parseUri(uri);
  if (u === null) return '';
  return u.user !== undefined ? unescapeUri(u.user) : '';
}

function partyOf(value: string | undefined): Party | null {
  if (value === undefined) return null;
  const na = parseNameAddr(value);
  if (na === null) return null;
  const tag = getParam(na.params, 'tag');
  return typeof tag === 'string' ? { user: userOf(na.uri), uri: na.uri, tag } : { user: userOf(na.uri), uri: na.uri };
}

export type ModelResult = { readonly ok: true; readonly msg: Message } | { readonly ok: false; readonly reason: string };

/** Turns a parsed SIP message into the shared model; the SIP message itself rides along in `wire`. */
export function toModel(sip: SipMessage, inbound: Inbound, transport: SipTransportName, connection: number | null, raw: Buffer): ModelResult {
  const viaValue = getHeader(sip, 'via');
  const via = viaValue === undefined ? null : parseFirstVia(viaValue);
  if (via === null) return { ok: false, reason: 'Bad Via' };
  const from = partyOf(getHeader(sip, 'from'));
  const to = partyOf(getHeader(sip, 'to'));
  if (from === null || to === null) return { ok: false, reason: 'Bad From or To' };
  const callId = getHeader(sip, 'call-id') ?? '';
  const cseq = getCSeq(sip);
  if (cseq === undefined) return { ok: false, reason: 'Bad CSeq' };
  const wire: SipWire = { sip, transport, connection, via };
  const { listener, source } = inbound;
  // Literals of one fixed shape each: a spread of a shared base would build every message's object property by property.
  if (sip.type === 'request') {
    const r = parseUri(sip.uri);
    const ruri: Party = { user: r?.user !== undefined ? unescapeUri(r.user) : '', uri: sip.uri };
    const msg: Request = { dialect: 'sip', listener, source, raw, callId, from, to, wire, type: 'request', method: sip.method, ruri, inDialog: to.tag !== undefined };
    return { ok: true, msg };
  }
  const msg: Reply = { dialect: 'sip', listener, source, raw, callId, from, to, wire, type: 'reply', status: sip.status, reason: sip.reason, method: cseq.method };
  return { ok: true, msg };
}

