/**
 * Shared fixtures of the registrar's and the registration readers' unit tests (not a test file).
 */
import assert from 'node:assert/strict';
import type { Endpoint } from '../../core/lib/address.ts';
import { MessageContext } from '../../core/kernel/message-context.ts';
import type { Request } from '../../core/model/message.ts';
import { toModel } from '../../core/dialects/sip/model.ts';
import type { SipTransportName } from '../../core/dialects/sip/wire.ts';
import { parseSip } from '../../core/dialects/sip/codec/parse.ts';
import type { RegistrarPolicy } from '../../modules/registrar/apply-registration.ts';
import { silentLog, snapshot } from './_unit-fixtures.ts';

/** Where the SIP REGISTERs come from: a phone behind NAT. */
export const SOURCE: Endpoint = { address: '203.0.113.5', port: 61000 };

/** The registrar's defaults. */
export const POLICY: RegistrarPolicy = {
  maxUsers: 100_000, plainBindingTtlSec: 0, plainMaxUsersPerSource: 1000, sipMaxUsersPerSource: 1000, maxBytesPerUser: 4096, maxBytes: 128 * 1024 * 1024,
  minExpiresSec: 60, maxExpiresSec: 3600, defaultExpiresSec: 3600, maxContacts: 10,
};

export interface SipRegister {
  /** The To header's value. */
  to?: string;
  callId?: string;
  cseq?: number;
  /** Further header lines (Contact, Expires...). */
  headers?: readonly string[];
  source?: Endpoint;
  transport?: SipTransportName;
  connection?: number | null;
  listener?: string;
}

/** A REGISTER (after RFC 3665 §2.1) as the SIP dialect hands it to the route. */
export function sipRegister(o: SipRegister = {}): Request {
  const raw = Buffer.from([
    'REGISTER sip:registrar.biloxi.example.com SIP/2.0',
    `Via: SIP/2.0/${(o.transport ?? 'udp').toUpperCase()} 192.168.1.10:5060;branch=z9hG4bKnashds7`,
    `To: ${o.to ?? 'Bob <sip:bob@biloxi.example.com>'}`,
    'From: Bob <sip:bob@biloxi.example.com>;tag=456248',
    `Call-ID: ${o.callId ?? '843817637684230@998sdasdh09'}`,
    `CSeq: ${o.cseq ?? 1826} REGISTER`,
    ...(o.headers ?? []),
    'Content-Length: 0', '', '',
  ].join('\r\n'));
  const parsed = parseSip(raw);
  assert.ok(parsed.ok, 'the REGISTER parses');
  const m = toModel(parsed.msg, { listener: o.listener ?? 'sip:udp:5060', source: o.source ?? SOURCE }, o.transport ?? 'udp', o.connection ?? null, raw);
  assert.ok(m.ok && m.msg.type === 'request');
  return m.msg;
}

/** The request route's context for `req`, as module functions receive it. */
export function contextOf(req: Request): MessageContext {
  return new MessageContext('request', req, snapshot(), silentLog);
}
