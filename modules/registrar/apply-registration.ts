import {
  respondVerdict, sameContactUri, unmapIPv4,
  type DialectName, type RegistrationRequest, type ReplyExtras, type RequestedContact, type Verdict,
} from '../../core/module.ts';
import { encodeBindings } from './binding-codec.ts';
import type { Binding, LocationUpdate, StoreMoment } from './store.ts';

/** The registrar's options that decide an answer (its whole config). */
export interface RegistrarPolicy {
  readonly maxUsers: number;
  readonly plainBindingTtlSec: number;
  readonly plainMaxUsersPerSource: number;
  readonly sipMaxUsersPerSource: number;
  /** What one user's bindings may take, as stored (bytes of their encoding). */
  readonly maxBytesPerUser: number;
  /** What the whole table may take, as stored (a store that counts its bytes). */
  readonly maxBytes: number;
  readonly minExpiresSec: number;
  readonly maxExpiresSec: number;
  readonly defaultExpiresSec: number;
  readonly maxContacts: number;
  /** With a shared store: this proxy's `host:port`, recorded in the bindings it makes. */
  readonly nodeAddress?: string | undefined;
}

/** The lifetimes granted in one dialect, in seconds; a default of null never expires. */
interface Lifetimes {
  readonly defaultSec: number | null;
  readonly minSec: number;
  readonly maxSec: number;
}

/** The options are per dialect: a plain binding lives `plainBindingTtlSec` (0: until replaced), a SIP one as RFC 3261 asks. */
function lifetimesIn(dialect: DialectName, policy: RegistrarPolicy): Lifetimes {
  return dialect === 'plain'
    ? { defaultSec: policy.plainBindingTtlSec > 0 ? policy.plainBindingTtlSec : null, minSec: 0, maxSec: Infinity }
    : { defaultSec: policy.defaultExpiresSec, minSec: policy.minExpiresSec, maxSec: policy.maxExpiresSec };
}

/** Each dialect's wording for a full table (the plain protocol's reasons are lower case). */
const FULL: Readonly<Record<DialectName, string>> = { plain: 'registrar full', sip: 'Registrar Full' };
const OUT_OF_ORDER = 'Out of Order';
const TOO_MANY_USERS: Readonly<Record<DialectName, string>> = { plain: 'too many users', sip: 'Too Many Users From This Address' };
const TOO_LARGE: Readonly<Record<DialectName, string>> = { plain: 'registration too large', sip: 'Registration Too Large' };

/**
 * The limit on users per source IP, each dialect its own: a REGISTER that would bind one more
 * user to the IP it came from, when the IP holds its share already. A user the IP holds is not new.
 */
function tooManyUsersAt(reg: Update, mine: readonly Binding[], policy: RegistrarPolicy, moment: StoreMoment): boolean {
  const dialect = reg.flow.dialect;
  const ip = unmapIPv4(reg.flow.address.address);
  if (mine.some((b) => unmapIPv4(b.address.address) === ip)) return false;
  return moment.usersAt(dialect, ip) >= (dialect === 'plain' ? policy.plainMaxUsersPerSource : policy.sipMaxUsersPerSource);
}

/** Bytes the bindings take as a store keeps them (their encoding, the AOR as key). */
function storedBytes(aor: string, bindings: readonly Binding[]): number {
  return bindings.length === 0 ? 0 : Buffer.byteLength(aor) + Buffer.byteLength(encodeBindings(bindings));
}

/** The 200's contact list: every binding with a URI and the seconds it has left (0: no expiry). */
function listing(bindings: readonly Binding[], now: number): ReplyExtras {
  const contacts: { uri: string; expiresSec: number }[] = [];
  for (const b of bindings) {
    if (b.contact === undefined) continue;
    contacts.push({ uri: b.contact, expiresSec: b.expiresAt === null ? 0 : Math.max(0, Math.round((b.expiresAt - now) / 1000)) });
  }
  return { contacts };
}

/** A binding refreshed by a REGISTER with the same Call-ID and a CSeq not higher is out of order (§10.3 step 6). */
function outOfOrder(b: Binding, callId: string | undefined, seq: number | undefined): boolean {
  return callId !== undefined && b.callId === callId && (b.cseq ?? 0) >= (seq ?? 0);
}

function sameBinding(b: Binding, contact: RequestedContact, dialect: DialectName): boolean {
  if (contact.uri === null) return b.contact === undefined;
  return b.contact !== undefined && sameContactUri(dialect, b.contact, contact.uri);
}

type Update = Extract<RegistrationRequest, { kind: 'update' }>;

/**
 * The binding a contact makes. One with a URI is reached at that URI over the flow it registered
 * on (its transport and connection, ordered by the request's Call-ID and CSeq); one without is
 * reached where it sent from, and that is all there is to keep.
 */
function bindingOf(reg: Update, contact: RequestedContact, now: number, expiresAt: number | null, node: string | undefined): Binding {
  const { flow } = reg;
  const at = node === undefined ? {} : { node };
  if (contact.uri === null) return { aor: reg.aor, dialect: flow.dialect, listener: flow.listener, address: flow.address, registeredAt: now, expiresAt, ...at };
  return {
    aor: reg.aor, dialect: flow.dialect, listener: flow.listener, address: flow.address, registeredAt: now, expiresAt,
    contact: contact.uri, callId: reg.callId, cseq: reg.seq, transport: flow.transport, connection: flow.connection,
    ...(contact.q !== undefined ? { q: contact.q } : {}), ...at,
  };
}

function unchanged(current: readonly Binding[], verdict: Verdict): LocationUpdate<Verdict> {
  return { bindings: current, result: verdict };
}

/**
 * One REGISTER applied to a user's bindings (RFC 3261 §10.3 in SIP; the plain protocol's
 * REGISTER is an update of one contact at its source): the user's bindings from now on and the
 * answer. A pure function of its arguments, run inside the store's atomic update. The request
 * sees and changes only bindings of its own dialect; the other dialect's stay as they are.
 */
export function applyRegistration(
  reg: RegistrationRequest, policy: RegistrarPolicy, current: readonly Binding[], moment: StoreMoment,
): LocationUpdate<Verdict> {
  const { now, users } = moment;
  const dialect = reg.flow.dialect;
  const others: Binding[] = [];
  const mine: Binding[] = [];
  for (const b of current) (b.dialect === dialect ? mine : others).push(b);

  if (reg.kind === 'query') return unchanged(current, respondVerdict(200, 'OK', listing(mine, now)));

  if (reg.kind === 'remove-all') {
    if (mine.some((b) => outOfOrder(b, reg.callId, reg.seq))) return unchanged(current, respondVerdict(500, OUT_OF_ORDER));
    return { bindings: others, result: respondVerdict(200, 'OK', listing([], now)) };
  }

  // More Contacts than could replace every binding and add the most allowed is refused before
  // any is compared with the others: the comparisons stay within the limit, whatever was sent.
  if (reg.contacts.length > mine.length + policy.maxContacts) return unchanged(current, respondVerdict(403, 'Too Many Contacts'));
  const lifetimes = lifetimesIn(dialect, policy);
  const tooMany = tooManyUsersAt(reg, mine, policy, moment);
  let next = [...mine];
  for (const contact of reg.contacts) {
    let sec = contact.expiresSec ?? reg.expiresSec ?? lifetimes.defaultSec;
    if (sec !== null && sec > 0 && sec < lifetimes.minSec) {
      return unchanged(current, respondVerdict(423, 'Interval Too Brief', { minExpiresSec: lifetimes.minSec }));
    }
    if (sec !== null) sec = Math.min(sec, lifetimes.maxSec);
    const old = next.find((b) => sameBinding(b, contact, dialect));
    if (old !== undefined && outOfOrder(old, reg.callId, reg.seq)) return unchanged(current, respondVerdict(500, OUT_OF_ORDER));
    if (old !== undefined) next = next.filter((b) => b !== old);
    if (sec === 0) continue;
    next.push(bindingOf(reg, contact, now, sec === null ? null : now + sec * 1000, policy.nodeAddress));
  }
  if (next.length > policy.maxContacts) return unchanged(current, respondVerdict(403, 'Too Many Contacts'));
  if (current.length === 0 && next.length > 0 && users >= policy.maxUsers) return unchanged(current, respondVerdict(503, FULL[dialect]));
  if (next.length > 0 && tooMany) return unchanged(current, respondVerdict(403, TOO_MANY_USERS[dialect]));
  next.sort((a, b) => (b.q ?? 1) - (a.q ?? 1));
  const all = others.length === 0 ? next : [...others, ...next];
  // Bounded in bytes too: a user's bindings (and so the 200 that lists them), and the table.
  const bytes = storedBytes(reg.aor, all);
  if (bytes > policy.maxBytesPerUser) return unchanged(current, respondVerdict(403, TOO_LARGE[dialect]));
  // A full table takes no new binding; a refresh (as many bindings as before) still passes.
  const grows = bytes - storedBytes(reg.aor, current);
  if (next.length > mine.length && moment.bytes !== undefined && moment.bytes + grows > policy.maxBytes) return unchanged(current, respondVerdict(503, FULL[dialect]));
  return { bindings: all, result: respondVerdict(200, 'OK', listing(next, now)) };
}
