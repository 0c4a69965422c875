/**
 * The registrar's SIP REGISTERs (modules/registrar/register.ts): RFC 3261 §10.3 against the
 * in-memory location store, with REGISTER requests written by hand, parsed with parseSip and
 * turned into model messages with toModel (as the SIP dialect does).
 */
import { afterEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Endpoint } from '../../core/lib/address.ts';
import { MessageContext } from '../../core/kernel/message-context.ts';
import type { Verdict } from '../../core/model/verdict.ts';
import { toModel } from '../../core/dialects/sip/model.ts';
import type { SipTransportName } from '../../core/dialects/sip/wire.ts';
import { parseSip } from '../../core/dialects/sip/codec/parse.ts';
import { MemoryLocationStore } from '../../modules/registrar/memory-store.ts';
import type { RegistrarPolicy } from '../../modules/registrar/apply-registration.ts';
import { register as registerIn } from '../../modules/registrar/register.ts';
import type { Binding } from '../../modules/registrar/store.ts';
import { silentLog, snapshot } from './_unit-fixtures.ts';

const stores: MemoryLocationStore[] = [];
afterEach(async () => {
  await Promise.all(stores.splice(0).map((s) => s.close()));
});

function newStore(): MemoryLocationStore {
  const s = new MemoryLocationStore();
  stores.push(s);
  return s;
}

const CFG: RegistrarPolicy = { minExpiresSec: 60, maxExpiresSec: 3600, defaultExpiresSec: 1800, maxContacts: 5, maxUsers: 100, plainBindingTtlSec: 0, plainMaxUsersPerSource: 1000, sipMaxUsersPerSource: 1000, maxBytesPerUser: 4096, maxBytes: 1 << 20 };

/** Bob's phone, behind a NAT: its Contact says 192.168.1.10, its packets come from 203.0.113.5:61000. */
const NAT_SOURCE: Endpoint = { address: '203.0.113.5', port: 61000 };

interface RegisterOptions {
  user?: string;
  callId?: string;
  cseq?: number;
  /** extra header lines (Contact, Expires...) */
  headers?: readonly string[];
  source?: Endpoint;
  transport?: SipTransportName;
  connection?: number | null;
  listener?: string;
}

/** A REGISTER (after RFC 3261 §24.1 / RFC 3665 §2.1) as a MessageContext. */
function register(o: RegisterOptions = {}): MessageContext {
  const user = o.user ?? 'bob';
  const text = [
    'REGISTER sip:registrar.biloxi.example.com SIP/2.0',
    `Via: SIP/2.0/${(o.transport ?? 'udp').toUpperCase()} 192.168.1.10:5060;branch=z9hG4bKnashds7;rport`,
    'Max-Forwards: 70',
    `To: Bob <sip:${user}@biloxi.example.com>`,
    `From: Bob <sip:${user}@biloxi.example.com>;tag=456248`,
    `Call-ID: ${o.callId ?? '843817637684230@998sdasdh09'}`,
    `CSeq: ${o.cseq ?? 1826} REGISTER`,
    ...(o.headers ?? []),
    'Content-Length: 0',
    '',
    '',
  ].join('\r\n');
  const raw = Buffer.from(text);
  const parsed = parseSip(raw);
  assert.ok(parsed.ok, `REGISTER must parse: ${parsed.ok ? '' : parsed.error.reason}`);
  const source = o.source ?? NAT_SOURCE;
  const m = toModel(parsed.msg, { listener: o.listener ?? 'sip:udp:5060', source }, o.transport ?? 'udp', o.connection ?? null, raw);
  assert.ok(m.ok, `toModel: ${m.ok ? '' : m.reason}`);
  assert.equal(m.msg.type, 'request');
  if (m.msg.type !== 'request') throw new Error('unreachable');
  return new MessageContext('request', m.msg, snapshot(), silentLog);
}

async function reg(store: MemoryLocationStore, o: RegisterOptions = {}, cfg: RegistrarPolicy = CFG): Promise<Verdict> {
  return registerIn(register(o), store, cfg);
}

interface Answer { status: number; reason: string | undefined; headers: readonly (readonly [string, string])[] }

function answer(v: Verdict): Answer {
  assert.equal(v.kind, 'respond', 'the registrar answers');
  if (v.kind !== 'respond') throw new Error('unreachable');
  const x = v.extras;
  const headers: (readonly [string, string])[] = (x?.contacts ?? []).map((c) => ['Contact', `<${c.uri}>;expires=${c.expiresSec}`] as const);
  if (x?.minExpiresSec !== undefined) headers.push(['Min-Expires', String(x.minExpiresSec)]);
  return { status: v.status, reason: v.reason, headers };
}

function expectStatus(v: Verdict, status: number): Answer {
  const a = answer(v);
  assert.equal(a.status, status, `expected ${status}, got ${a.status} ${a.reason}`);
  return a;
}

/** The 200's Contact values as [uri, expires]. */
function contacts(a: Answer): [string, number][] {
  return a.headers.filter(([n]) => n === 'Contact').map(([, v]) => {
    const m = /^<([^>]*)>;expires=(\d+)$/.exec(v);
    assert.ok(m !== null, `Contact in a 200 looks like <uri>;expires=N: ${v}`);
    return [m[1]!, Number(m[2])];
  });
}

function uris(bindings: readonly Binding[]): string[] {
  return bindings.map((b) => b.contact ?? '(none)');
}

/** Remaining seconds of a binding, as the store holds it. */
function remaining(b: Binding): number {
  assert.ok(b.expiresAt !== null);
  return (b.expiresAt - Date.now()) / 1000;
}

/** Within `slack` seconds below `want` (the test may take a little while; no tight timing). */
function about(actual: number, want: number, slack = 5): void {
  assert.ok(actual <= want + 0.001 && actual > want - slack, `expected about ${want}, got ${actual}`);
}

describe('registrar, SIP: expiry', () => {
  test('one contact with an Expires header: bound for that long, the 200 lists it', async () => {
    const store = newStore();
    const a = expectStatus(await reg(store, { headers: ['Contact: <sip:bob@192.168.1.10>', 'Expires: 600'] }), 200);
    assert.equal(a.reason, 'OK');
    assert.deepEqual(contacts(a), [['sip:bob@192.168.1.10', 600]]);
    const got = await store.lookup('bob');
    assert.deepEqual(uris(got), ['sip:bob@192.168.1.10']);
    about(remaining(got[0]!), 600);
    assert.equal(got[0]!.dialect, 'sip');
    assert.equal(got[0]!.aor, 'bob');
    assert.equal(got[0]!.callId, '843817637684230@998sdasdh09');
    assert.equal(got[0]!.cseq, 1826);
  });

  test('the ;expires= contact parameter wins over the Expires header', async () => {
    const store = newStore();
    const a = expectStatus(await reg(store, { headers: ['Contact: <sip:bob@192.168.1.10>;expires=120', 'Expires: 600'] }), 200);
    assert.deepEqual(contacts(a), [['sip:bob@192.168.1.10', 120]]);
    about(remaining((await store.lookup('bob'))[0]!), 120);
  });

  test('a contact parameter expires=0 beats a non-zero Expires header (removes), and the other way round', async () => {
    const store = newStore();
    expectStatus(await reg(store, { headers: ['Contact: <sip:bob@192.168.1.10>', 'Expires: 600'], cseq: 1 }), 200);
    const a = expectStatus(await reg(store, { headers: ['Contact: <sip:bob@192.168.1.10>;expires=0', 'Expires: 600'], cseq: 2 }), 200);
    assert.deepEqual(contacts(a), []);
    assert.deepEqual(await store.lookup('bob'), []);

    const b = expectStatus(await reg(store, { headers: ['Contact: <sip:bob@192.168.1.10>;expires=300', 'Expires: 0'], cseq: 3 }), 200);
    assert.deepEqual(contacts(b), [['sip:bob@192.168.1.10', 300]]);
  });

  test('no expiry anywhere: the configured default', async () => {
    const store = newStore();
    const a = expectStatus(await reg(store, { headers: ['Contact: <sip:bob@192.168.1.10>'] }), 200);
    assert.deepEqual(contacts(a), [['sip:bob@192.168.1.10', CFG.defaultExpiresSec]]);
  });

  test('below minExpiresSec → 423 Interval Too Brief with Min-Expires, nothing stored', async () => {
    const store = newStore();
    for (const headers of [['Contact: <sip:bob@192.168.1.10>', 'Expires: 30'], ['Contact: <sip:bob@192.168.1.10>;expires=59', 'Expires: 3600']]) {
      const a = expectStatus(await reg(store, { headers }), 423);
      assert.equal(a.reason, 'Interval Too Brief');
      assert.deepEqual(a.headers.filter(([n]) => n === 'Min-Expires'), [['Min-Expires', '60']]);
      assert.deepEqual(await store.lookup('bob'), []);
    }
    // exactly the minimum is fine
    const ok = expectStatus(await reg(store, { headers: ['Contact: <sip:bob@192.168.1.10>', 'Expires: 60'] }), 200);
    assert.deepEqual(contacts(ok), [['sip:bob@192.168.1.10', 60]]);
  });

  test('one too-brief contact among several fails the whole REGISTER, keeping the old bindings', async () => {
    const store = newStore();
    expectStatus(await reg(store, { headers: ['Contact: <sip:bob@192.168.1.10>', 'Expires: 600'], cseq: 1 }), 200);
    expectStatus(await reg(store, { headers: ['Contact: <sip:bob@192.168.1.11>, <sip:bob@192.168.1.12>;expires=10', 'Expires: 600'], cseq: 2 }), 423);
    assert.deepEqual(uris(await store.lookup('bob')), ['sip:bob@192.168.1.10']);
  });

  test('above maxExpiresSec: granted the maximum', async () => {
    const store = newStore();
    const a = expectStatus(await reg(store, { headers: ['Contact: <sip:bob@192.168.1.10>;expires=86400'] }), 200);
    assert.deepEqual(contacts(a), [['sip:bob@192.168.1.10', 3600]]);
    about(remaining((await store.lookup('bob'))[0]!), 3600);
    const b = expectStatus(await reg(store, { headers: ['Contact: <sip:bob@192.168.1.10>', 'Expires: 7200'], cseq: 1827 }), 200);
    assert.deepEqual(contacts(b), [['sip:bob@192.168.1.10', 3600]]);
  });

  test('expires 0 for one contact removes just that one', async () => {
    const store = newStore();
    expectStatus(await reg(store, { headers: ['Contact: <sip:bob@192.168.1.10>, <sip:bob@10.0.0.7:5070>', 'Expires: 600'], cseq: 1 }), 200);
    assert.equal((await store.lookup('bob')).length, 2);
    const a = expectStatus(await reg(store, { headers: ['Contact: <sip:bob@10.0.0.7:5070>;expires=0'], cseq: 2 }), 200);
    assert.deepEqual(contacts(a).map(([u]) => u), ['sip:bob@192.168.1.10']);
    assert.deepEqual(uris(await store.lookup('bob')), ['sip:bob@192.168.1.10']);
  });

  test('expires 0 for a contact that is not bound changes nothing', async () => {
    const store = newStore();
    expectStatus(await reg(store, { headers: ['Contact: <sip:bob@192.168.1.10>', 'Expires: 600'], cseq: 1 }), 200);
    const a = expectStatus(await reg(store, { headers: ['Contact: <sip:bob@198.51.100.1>', 'Expires: 0'], cseq: 2 }), 200);
    assert.deepEqual(contacts(a).map(([u]) => u), ['sip:bob@192.168.1.10']);
  });
});

describe('registrar, SIP: contacts', () => {
  test('several contacts in one Contact header and in separate headers are all bound', async () => {
    const store = newStore();
    const a = expectStatus(await reg(store, {
      headers: [
        'Contact: <sip:bob@192.168.1.10>, "Bob desk" <sip:bob@192.168.1.11:5062;transport=tcp>;expires=900',
        'Contact: sip:bob@192.168.1.12;expires=300',
        'm: <sip:bob@192.168.1.13>',
        'Expires: 600',
      ],
    }), 200);
    assert.deepEqual(contacts(a).sort(), [
      ['sip:bob@192.168.1.10', 600],
      ['sip:bob@192.168.1.11:5062;transport=tcp', 900],
      ['sip:bob@192.168.1.12', 300],
      ['sip:bob@192.168.1.13', 600],
    ]);
    assert.equal((await store.lookup('bob')).length, 4);
  });

  test('a REGISTER without Contact is a query: the 200 lists the current bindings, nothing changes', async () => {
    const store = newStore();
    const empty = expectStatus(await reg(store, { headers: [] }), 200);
    assert.deepEqual(contacts(empty), []);

    expectStatus(await reg(store, { headers: ['Contact: <sip:bob@192.168.1.10>;expires=600, <sip:bob@192.168.1.11>;expires=1200'], cseq: 1 }), 200);
    const before = await store.lookup('bob');
    const q = expectStatus(await reg(store, { headers: [], callId: 'query-call', cseq: 1 }), 200);
    const listed = new Map(contacts(q));
    assert.deepEqual([...listed.keys()].sort(), ['sip:bob@192.168.1.10', 'sip:bob@192.168.1.11']);
    about(listed.get('sip:bob@192.168.1.10')!, 600);
    about(listed.get('sip:bob@192.168.1.11')!, 1200);
    assert.deepEqual(await store.lookup('bob'), before, 'a query changes no binding');
  });

  test('Contact: * with Expires: 0 removes every binding of the user (only that user)', async () => {
    const store = newStore();
    expectStatus(await reg(store, { headers: ['Contact: <sip:bob@192.168.1.10>, <sip:bob@192.168.1.11>', 'Expires: 600'], cseq: 1 }), 200);
    expectStatus(await reg(store, { user: 'carol', headers: ['Contact: <sip:carol@192.168.1.20>', 'Expires: 600'], cseq: 1 }), 200);
    const a = expectStatus(await reg(store, { headers: ['Contact: *', 'Expires: 0'], cseq: 2 }), 200);
    assert.deepEqual(contacts(a), []);
    assert.deepEqual(await store.lookup('bob'), []);
    assert.equal((await store.lookup('carol')).length, 1);
    assert.equal(store.size(), 1);
  });

  test('Contact: * without Expires: 0 (or with another contact) → 400, nothing removed', async () => {
    const store = newStore();
    expectStatus(await reg(store, { headers: ['Contact: <sip:bob@192.168.1.10>', 'Expires: 600'], cseq: 1 }), 200);
    for (const headers of [['Contact: *'], ['Contact: *', 'Expires: 60'], ['Contact: *, <sip:bob@192.168.1.11>', 'Expires: 0'], ['Contact: *', 'Contact: <sip:bob@192.168.1.11>', 'Expires: 0']]) {
      const a = expectStatus(await reg(store, { headers, cseq: 2 }), 400);
      assert.match(a.reason ?? '', /Wildcard/);
    }
    assert.deepEqual(uris(await store.lookup('bob')), ['sip:bob@192.168.1.10']);
  });

  test('Contact: * with Expires: 0 from the same Call-ID but not a higher CSeq → 500 Out of Order', async () => {
    const store = newStore();
    expectStatus(await reg(store, { headers: ['Contact: <sip:bob@192.168.1.10>', 'Expires: 600'], cseq: 5 }), 200);
    expectStatus(await reg(store, { headers: ['Contact: *', 'Expires: 0'], cseq: 5 }), 500);
    assert.equal((await store.lookup('bob')).length, 1);
    expectStatus(await reg(store, { headers: ['Contact: *', 'Expires: 0'], cseq: 6 }), 200);
    assert.deepEqual(await store.lookup('bob'), []);
  });

  test('a bad Contact → 400', async () => {
    const store = newStore();
    expectStatus(await reg(store, { headers: ['Contact: <not a uri>', 'Expires: 600'] }), 400);
    assert.deepEqual(await store.lookup('bob'), []);
  });

  test('a To without a user part → 400', async () => {
    const store = newStore();
    // To/From naming only a domain: built by hand (register() always puts a user in)
    const text = [
      'REGISTER sip:registrar.biloxi.example.com SIP/2.0',
      'Via: SIP/2.0/UDP 192.168.1.10:5060;branch=z9hG4bKnashds8',
      'To: <sip:biloxi.example.com>',
      'From: <sip:biloxi.example.com>;tag=1',
      'Call-ID: no-user',
      'CSeq: 1 REGISTER',
      'Contact: <sip:192.168.1.10>',
      'Content-Length: 0',
      '',
      '',
    ].join('\r\n');
    const raw = Buffer.from(text);
    const p = parseSip(raw);
    assert.ok(p.ok);
    const m = toModel(p.msg, { listener: 'sip:udp:5060', source: NAT_SOURCE }, 'udp', null, raw);
    assert.ok(m.ok && m.msg.type === 'request');
    assert.equal(m.msg.to.user, '');
    expectStatus(await registerIn(new MessageContext('request', m.msg, snapshot(), silentLog), store, CFG), 400);
    assert.equal(store.size(), 0);
  });
});

describe('registrar, SIP: Call-ID and CSeq ordering', () => {
  test('same Call-ID with a CSeq not higher → 500 Out of Order, binding kept; a higher CSeq refreshes', async () => {
    const store = newStore();
    expectStatus(await reg(store, { headers: ['Contact: <sip:bob@192.168.1.10>', 'Expires: 600'], cseq: 10 }), 200);
    for (const cseq of [10, 9, 1]) {
      const a = expectStatus(await reg(store, { headers: ['Contact: <sip:bob@192.168.1.10>', 'Expires: 120'], cseq }), 500);
      assert.equal(a.reason, 'Out of Order');
    }
    about(remaining((await store.lookup('bob'))[0]!), 600);
    const a = expectStatus(await reg(store, { headers: ['Contact: <sip:bob@192.168.1.10>', 'Expires: 120'], cseq: 11 }), 200);
    assert.deepEqual(contacts(a), [['sip:bob@192.168.1.10', 120]]);
    assert.equal((await store.lookup('bob'))[0]!.cseq, 11);
  });

  test('an out-of-order removal (expires 0) is refused too', async () => {
    const store = newStore();
    expectStatus(await reg(store, { headers: ['Contact: <sip:bob@192.168.1.10>', 'Expires: 600'], cseq: 10 }), 200);
    expectStatus(await reg(store, { headers: ['Contact: <sip:bob@192.168.1.10>;expires=0'], cseq: 3 }), 500);
    assert.equal((await store.lookup('bob')).length, 1);
  });

  test('a different Call-ID replaces the binding whatever its CSeq', async () => {
    const store = newStore();
    expectStatus(await reg(store, { headers: ['Contact: <sip:bob@192.168.1.10>', 'Expires: 600'], callId: 'first-boot', cseq: 100 }), 200);
    const a = expectStatus(await reg(store, { headers: ['Contact: <sip:bob@192.168.1.10>', 'Expires: 300'], callId: 'after-reboot', cseq: 1 }), 200);
    assert.deepEqual(contacts(a), [['sip:bob@192.168.1.10', 300]]);
    const got = await store.lookup('bob');
    assert.equal(got.length, 1, 'replaced, not added');
    assert.equal(got[0]!.callId, 'after-reboot');
    assert.equal(got[0]!.cseq, 1);
  });

  test('the same contact written with another host case / explicit default port is the same binding', async () => {
    const store = newStore();
    expectStatus(await reg(store, { headers: ['Contact: <sip:bob@Host.Example.com>', 'Expires: 600'], cseq: 1 }), 200);
    expectStatus(await reg(store, { headers: ['Contact: <sip:bob@host.example.com:5060>', 'Expires: 600'], cseq: 2 }), 200);
    assert.deepEqual(uris(await store.lookup('bob')), ['sip:bob@host.example.com:5060']);
  });
});

describe('registrar, SIP: what a binding keeps', () => {
  test('the source address the REGISTER came from (NAT), listener, transport and connection', async () => {
    const store = newStore();
    expectStatus(await reg(store, {
      headers: ['Contact: <sip:bob@192.168.1.10:5060;transport=tcp>', 'Expires: 600'],
      source: { address: '::ffff:203.0.113.5', port: 49152 }, transport: 'tcp', connection: 7, listener: 'sip:tcp:5060',
    }), 200);
    const [b] = await store.lookup('bob');
    assert.ok(b !== undefined);
    assert.deepEqual(b.address, { address: '::ffff:203.0.113.5', port: 49152 }, 'where the packets came from, not the Contact');
    assert.equal(b.contact, 'sip:bob@192.168.1.10:5060;transport=tcp');
    assert.equal(b.transport, 'tcp');
    assert.equal(b.connection, 7);
    assert.equal(b.listener, 'sip:tcp:5060');

    expectStatus(await reg(store, { user: 'carol', headers: ['Contact: <sip:carol@10.1.1.1>'] }), 200);
    const [c] = await store.lookup('carol');
    assert.deepEqual(c!.address, NAT_SOURCE);
    assert.equal(c!.transport, 'udp');
    assert.equal(c!.connection, null);
  });

  test('bindings are ordered by q, highest first (no q counts as 1.0)', async () => {
    const store = newStore();
    const a = expectStatus(await reg(store, {
      headers: [
        'Contact: <sip:bob@10.0.0.1>;q=0.1, <sip:bob@10.0.0.2>;q=0.7',
        'Contact: <sip:bob@10.0.0.3>',
        'Contact: <sip:bob@10.0.0.4>;q=0.9',
        'Expires: 600',
      ],
    }), 200);
    const order = ['sip:bob@10.0.0.3', 'sip:bob@10.0.0.4', 'sip:bob@10.0.0.2', 'sip:bob@10.0.0.1'];
    assert.deepEqual(contacts(a).map(([u]) => u), order);
    const got = await store.lookup('bob');
    assert.deepEqual(uris(got), order);
    assert.deepEqual(got.map((b) => b.q), [undefined, 0.9, 0.7, 0.1]);
  });

  test('a later REGISTER adding a contact keeps the q order across old and new bindings', async () => {
    const store = newStore();
    expectStatus(await reg(store, { headers: ['Contact: <sip:bob@10.0.0.1>;q=0.5', 'Expires: 600'], cseq: 1 }), 200);
    expectStatus(await reg(store, { headers: ['Contact: <sip:bob@10.0.0.2>;q=0.8', 'Expires: 600'], cseq: 2 }), 200);
    assert.deepEqual(uris(await store.lookup('bob')), ['sip:bob@10.0.0.2', 'sip:bob@10.0.0.1']);
  });

  test('the 200 lists every current contact with its own remaining expiry', async () => {
    const store = newStore();
    expectStatus(await reg(store, { headers: ['Contact: <sip:bob@10.0.0.1>', 'Expires: 3000'], callId: 'phone-1', cseq: 1 }), 200);
    const a = expectStatus(await reg(store, { headers: ['Contact: <sip:bob@10.0.0.2>;expires=90'], callId: 'phone-2', cseq: 1 }), 200);
    const listed = new Map(contacts(a));
    assert.equal(listed.size, 2);
    assert.equal(listed.get('sip:bob@10.0.0.2'), 90);
    about(listed.get('sip:bob@10.0.0.1')!, 3000);
    for (const [name] of a.headers) assert.equal(name, 'Contact');
  });
});

describe('registrar, SIP: limits', () => {
  test('more than maxContacts bindings for one user → 403, nothing changed', async () => {
    const store = newStore();
    const cfg = { ...CFG, maxContacts: 2 };
    expectStatus(await reg(store, { headers: ['Contact: <sip:bob@10.0.0.1>, <sip:bob@10.0.0.2>', 'Expires: 600'], cseq: 1 }, cfg), 200);
    const a = expectStatus(await reg(store, { headers: ['Contact: <sip:bob@10.0.0.3>', 'Expires: 600'], cseq: 2 }, cfg), 403);
    assert.equal(a.reason, 'Too Many Contacts');
    assert.deepEqual(uris(await store.lookup('bob')).sort(), ['sip:bob@10.0.0.1', 'sip:bob@10.0.0.2']);
    // three at once is refused as well
    const s2 = newStore();
    expectStatus(await reg(s2, { headers: ['Contact: <sip:bob@10.0.0.1>, <sip:bob@10.0.0.2>, <sip:bob@10.0.0.3>'] }, cfg), 403);
    assert.equal(s2.size(), 0);
    // replacing one within the limit is fine
    expectStatus(await reg(store, { headers: ['Contact: <sip:bob@10.0.0.3>', 'Contact: <sip:bob@10.0.0.1>;expires=0', 'Expires: 600'], cseq: 3 }, cfg), 200);
    assert.deepEqual(uris(await store.lookup('bob')).sort(), ['sip:bob@10.0.0.2', 'sip:bob@10.0.0.3']);
  });

  test('a new user beyond maxUsers → 503; known users can still refresh', async () => {
    const store = newStore();
    const cfg = { ...CFG, maxUsers: 2 };
    expectStatus(await reg(store, { user: 'alice', headers: ['Contact: <sip:alice@10.0.0.1>'] }, cfg), 200);
    expectStatus(await reg(store, { user: 'bob', headers: ['Contact: <sip:bob@10.0.0.2>'] }, cfg), 200);
    const a = expectStatus(await reg(store, { user: 'carol', headers: ['Contact: <sip:carol@10.0.0.3>'] }, cfg), 503);
    assert.equal(a.reason, 'Registrar Full');
    assert.deepEqual(await store.lookup('carol'), []);
    assert.equal(store.size(), 2);
    expectStatus(await reg(store, { user: 'bob', headers: ['Contact: <sip:bob@10.0.0.9>'], cseq: 1827 }, cfg), 200);
    // a query by the new user is still answered
    expectStatus(await reg(store, { user: 'carol', headers: [] }, cfg), 200);
  });

  test('one source IP holds at most sipMaxUsersPerSource users; another IP, and users it holds, still register', async () => {
    const store = newStore();
    const cfg = { ...CFG, sipMaxUsersPerSource: 2 };
    expectStatus(await reg(store, { user: 'u1', headers: ['Contact: <sip:u1@10.0.0.1>'] }, cfg), 200);
    expectStatus(await reg(store, { user: 'u2', headers: ['Contact: <sip:u2@10.0.0.1>'], source: { address: '203.0.113.5', port: 1 } }, cfg), 200);
    const a = expectStatus(await reg(store, { user: 'u3', headers: ['Contact: <sip:u3@10.0.0.1>'] }, cfg), 403);
    assert.equal(a.reason, 'Too Many Users From This Address');
    expectStatus(await reg(store, { user: 'u3', headers: ['Contact: <sip:u3@10.0.0.1>'], source: { address: '198.51.100.7', port: 5060 } }, cfg), 200);
    expectStatus(await reg(store, { user: 'u1', headers: ['Contact: <sip:u1@10.0.0.1>'], cseq: 1827 }, cfg), 200);
  });

  test('a user\'s bindings past maxBytesPerUser → 403 Registration Too Large, nothing changed', async () => {
    const store = newStore();
    const long = (i: number): string => `<sip:bob@10.0.0.${i};x=${'y'.repeat(900)}>`;
    expectStatus(await reg(store, { headers: [`Contact: ${long(1)}, ${long(2)}`] }, CFG), 200);
    const a = expectStatus(await reg(store, { headers: [`Contact: ${[3, 4, 5].map(long).join(', ')}`], cseq: 1827 }, CFG), 403);
    assert.equal(a.reason, 'Registration Too Large');
    assert.equal((await store.lookup('bob')).length, 2);
  });

  test('the table past maxBytes → 503 for a REGISTER that grows it; one that shrinks it passes', async () => {
    const store = newStore();
    const cfg = { ...CFG, maxBytes: 2000 };
    for (let i = 0; ; i++) {
      const v = answer(await reg(store, { user: `user${i}`, headers: [`Contact: <sip:user${i}@10.0.0.1;p=${'z'.repeat(200)}>`] }, cfg));
      if (v.status === 503) {
        assert.equal(v.reason, 'Registrar Full');
        assert.ok(store.storedBytes() <= 2000, `bytes held ${store.storedBytes()}`);
        expectStatus(await reg(store, { user: 'user0', headers: ['Contact: *', 'Expires: 0'], cseq: 1827 }, cfg), 200);
        expectStatus(await reg(store, { user: `user${i}`, headers: [`Contact: <sip:user${i}@10.0.0.1>`] }, cfg), 200);
        break;
      }
      assert.equal(v.status, 200);
      assert.ok(i < 20, 'the table filled');
    }
  });
});
