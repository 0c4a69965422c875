import type { MessageContext } from '../../core/kernel/message-context.ts';
import { respondVerdict, type ReplyExtras, type Verdict } from '../../core/model/verdict.ts';
import { sipRequest, sipWire } from '../../core/dialects/sip/wire.ts';
import { getCSeq, getHeader, getHeaders } from '../../core/dialects/sip/codec/message.ts';
import { getParam } from '../../core/dialects/sip/codec/params.ts';
import { parseNameAddr, parseUri } from '../../core/dialects/sip/codec/uri.ts';
import type { Binding, LocationStore } from './store.ts';

export interface SipRegistrarConfig {
  readonly minExpiresSec: number;
  readonly maxExpiresSec: number;
  readonly defaultExpiresSec: number;
  readonly maxContacts: number;
  readonly maxUsers: number;
}

/** Two Contact URIs name the same binding when they are equal ignoring case of scheme and host (a fair reading of §10.3 step 5). */
function sameContact(a: string, b: string): boolean {
  if (a === b) return true;
  const ua = parseUri(a);
  const ub = parseUri(b);
  if (ua === null || ub === null) return false;
  const port = (u: typeof ua): number => u.port ?? (u.kind === 'sips' ? 5061 : 5060);
  return ua.kind === ub.kind && ua.user === ub.user && ua.host.toLowerCase() === ub.host.toLowerCase() && port(ua) === port(ub);
}

function contactHeaders(bindings: readonly Binding[], now: number): ReplyExtras {
  return { contacts: bindings.map((b) => ({ uri: b.contact ?? '', expiresSec: b.expiresAt === null ? 0 : Math.max(0, Math.round((b.expiresAt - now) / 1000)) })) };
}

/**
 * REGISTER per RFC 3261 §10.3: Contact with per-contact or Expires expiry, `*` with
 * Expires 0, Call-ID/CSeq ordering, 423 with Min-Expires, 200 listing the current contacts.
 * Each binding keeps the address the REGISTER came from, so a phone behind NAT is reached there.
 */
export async function registerSip(mc: MessageContext, store: LocationStore, cfg: SipRegistrarConfig): Promise<Verdict> {
  const msg = mc.msg;
  const sip = sipRequest(msg);
  const aor = msg.to.user;
  if (aor === '') return respondVerdict(400, 'No user in To');
  const callId = msg.callId;
  const cseq = getCSeq(sip)?.seq ?? 0;
  const expiresHeader = getHeader(sip, 'expires');
  const headerExpires = expiresHeader !== undefined && /^\d{1,10}$/.test(expiresHeader.trim()) ? Number(expiresHeader.trim()) : undefined;
  const contacts = getHeaders(sip, 'contact');
  const now = Date.now();
  const all = await store.lookup(aor);
  // A user may also be registered through the plain protocol: SIP REGISTERs see and change only SIP contacts.
  const others = all.filter((b) => b.dialect !== 'sip');
  const current = all.filter((b) => b.dialect === 'sip');

  if (contacts.length === 0) return respondVerdict(200, 'OK', contactHeaders(current, now)); // a query

  if (contacts.some((c) => c.trim() === '*')) {
    if (contacts.length !== 1 || headerExpires !== 0) return respondVerdict(400, 'Wildcard Contact needs Expires: 0 and no other Contact');
    if (current.some((b) => b.callId === callId && (b.cseq ?? 0) >= cseq)) return respondVerdict(500, 'Out of Order');
    await store.replace(aor, others);
    return respondVerdict(200, 'OK');
  }

  const w = sipWire(msg);
  let next = [...current];
  for (const value of contacts) {
    const na = parseNameAddr(value);
    if (na === null || parseUri(na.uri) === null) return respondVerdict(400, 'Bad Contact');
    const p = getParam(na.params, 'expires');
    let expires = typeof p === 'string' && /^\d{1,10}$/.test(p) ? Number(p) : headerExpires ?? cfg.defaultExpiresSec;
    if (expires > 0 && expires < cfg.minExpiresSec) return respondVerdict(423, 'Interval Too Brief', { minExpiresSec: cfg.minExpiresSec });
    expires = Math.min(expires, cfg.maxExpiresSec);
    const old = next.find((b) => b.contact !== undefined && sameContact(b.contact, na.uri));
    if (old !== undefined && old.callId === callId && (old.cseq ?? 0) >= cseq) return respondVerdict(500, 'Out of Order');
    next = next.filter((b) => b !== old);
    if (expires === 0) continue;
    const q = getParam(na.params, 'q');
    next.push({
      aor, dialect: 'sip', listener: msg.listener, address: msg.source, registeredAt: now, expiresAt: now + expires * 1000,
      contact: na.uri, callId, cseq, transport: w.transport, connection: w.connection,
      ...(typeof q === 'string' && Number.isFinite(Number(q)) ? { q: Number(q) } : {}),
    });
  }
  if (next.length > cfg.maxContacts) return respondVerdict(403, 'Too Many Contacts');
  if (all.length === 0 && next.length > 0 && store.size() >= cfg.maxUsers) return respondVerdict(503, 'Registrar Full');
  next.sort((a, b) => (b.q ?? 1) - (a.q ?? 1));
  await store.replace(aor, [...others, ...next]);
  mc.log.debug({ aor, contacts: next.length, at: msg.source }, 'registered');
  return respondVerdict(200, 'OK', contactHeaders(next, now));
}
