/**
 * The registrar's plain REGISTERs (modules/registrar/register.ts) against the in-memory store,
 * and how they live beside a user's SIP contacts; the answers as the plain dialect puts them on
 * the wire.
 */
import { afterEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Endpoint } from '../../core/lib/address.ts';
import type { Request } from '../../core/model/message.ts';
import type { Verdict } from '../../core/model/verdict.ts';
import { createPlainDialect } from '../../core/dialects/plain/dialect.ts';
import type { RegistrarPolicy } from '../../modules/registrar/apply-registration.ts';
import { MemoryLocationStore } from '../../modules/registrar/memory-store.ts';
import { register } from '../../modules/registrar/register.ts';
import { POLICY, contextOf, sipRegister } from './_registrar-fixtures.ts';
import { ALICE_ADDR, BOB_ADDR, plainRequest } from './_unit-fixtures.ts';

const stores: MemoryLocationStore[] = [];
afterEach(async () => {
  await Promise.all(stores.splice(0).map((s) => s.close()));
});

function newStore(): MemoryLocationStore {
  const s = new MemoryLocationStore();
  stores.push(s);
  return s;
}

const plain = createPlainDialect({ ratePerSecond: 1e9, burst: 1e9, maxSources: 100 });

/** Registers `user` from `source` and returns the datagram the plain dialect answers with. */
async function registerPlain(store: MemoryLocationStore, user: string, source: Endpoint = ALICE_ADDR, policy: RegistrarPolicy = POLICY, terminator = '\n'): Promise<string> {
  const req = plainRequest(`REGISTER ${user}${terminator}`, source);
  return onWire(req, await register(contextOf(req), store, policy));
}

function onWire(req: Request, v: Verdict): string {
  assert.equal(v.kind, 'respond');
  if (v.kind !== 'respond') throw new Error('unreachable');
  return plain.composeReply(req, v.status, v.reason)?.toString('latin1') ?? '(nothing)';
}

async function respond(store: MemoryLocationStore, req: Request, policy: RegistrarPolicy = POLICY): Promise<{ status: number; reason: string | undefined; contacts: string[] }> {
  const v = await register(contextOf(req), store, policy);
  assert.equal(v.kind, 'respond');
  if (v.kind !== 'respond') throw new Error('unreachable');
  return { status: v.status, reason: v.reason, contacts: (v.extras?.contacts ?? []).map((c) => c.uri) };
}

describe('registrar, plain', () => {
  test('REGISTER <user> binds the source with no expiry and answers ACK_REGISTER in the request terminator', async () => {
    const store = newStore();
    assert.equal(await registerPlain(store, 'alice', ALICE_ADDR, POLICY, '\r\n'), 'ACK_REGISTER alice\r\n');
    assert.deepEqual(await store.lookup('alice'), [{
      aor: 'alice', dialect: 'plain', listener: 'plain:34567', address: ALICE_ADDR, registeredAt: (await store.lookup('alice'))[0]!.registeredAt, expiresAt: null,
    }]);
    assert.equal(await registerPlain(store, 'nocrlf', ALICE_ADDR, POLICY, ''), 'ACK_REGISTER nocrlf');
  });

  test('a later REGISTER from another address replaces the user\'s plain binding', async () => {
    const store = newStore();
    await registerPlain(store, 'alice', ALICE_ADDR);
    assert.equal(await registerPlain(store, 'alice', BOB_ADDR), 'ACK_REGISTER alice\n');
    assert.deepEqual((await store.lookup('alice')).map((b) => b.address), [BOB_ADDR]);
    assert.equal(store.size(), 1);
  });

  test('one address may hold several users', async () => {
    const store = newStore();
    await registerPlain(store, 'alice', ALICE_ADDR);
    await registerPlain(store, 'carol', ALICE_ADDR);
    assert.deepEqual((await store.lookup('alice')).map((b) => b.address), [ALICE_ADDR]);
    assert.deepEqual((await store.lookup('carol')).map((b) => b.address), [ALICE_ADDR]);
  });

  test('plainBindingTtlSec gives plain bindings a lifetime', async () => {
    const store = newStore();
    const before = Date.now();
    await registerPlain(store, 'alice', ALICE_ADDR, { ...POLICY, plainBindingTtlSec: 30 });
    const [b] = await store.lookup('alice');
    assert.ok(b !== undefined && b.expiresAt !== null);
    assert.ok(b.expiresAt >= before + 30_000 && b.expiresAt <= Date.now() + 30_000);
  });

  test('SIP lifetime limits do not apply to plain bindings', async () => {
    const store = newStore();
    await registerPlain(store, 'alice', ALICE_ADDR, { ...POLICY, plainBindingTtlSec: 5, minExpiresSec: 60 });
    assert.equal((await store.lookup('alice')).length, 1, 'a ttl below minExpiresSec is no 423');
    await registerPlain(store, 'bob', BOB_ADDR, { ...POLICY, plainBindingTtlSec: 7200, maxExpiresSec: 3600 });
    const [b] = await store.lookup('bob');
    assert.ok(b!.expiresAt! - Date.now() > 3600_000, 'nor is it cut to maxExpiresSec');
  });

  test('a new user beyond maxUsers gets ERROR registrar full; a known one may register again', async () => {
    const store = newStore();
    const policy = { ...POLICY, maxUsers: 2 };
    await registerPlain(store, 'alice', ALICE_ADDR, policy);
    await registerPlain(store, 'bob', BOB_ADDR, policy);
    assert.equal(await registerPlain(store, 'carol', ALICE_ADDR, policy), 'ERROR registrar full\n');
    assert.deepEqual(await store.lookup('carol'), []);
    assert.equal(await registerPlain(store, 'bob', ALICE_ADDR, policy), 'ACK_REGISTER bob\n');
  });
});

describe('registrar, plain and SIP bindings of one user', () => {
  test('a plain REGISTER keeps the user\'s SIP contacts; a SIP REGISTER keeps the plain binding and lists only SIP contacts', async () => {
    const store = newStore();
    assert.equal((await respond(store, sipRegister({ headers: ['Contact: <sip:bob@10.0.0.1>'], cseq: 1 }))).status, 200);
    await registerPlain(store, 'bob', BOB_ADDR);
    await registerPlain(store, 'bob', ALICE_ADDR);
    assert.deepEqual((await store.lookup('bob')).map((b) => [b.dialect, b.contact ?? b.address.port]), [['sip', 'sip:bob@10.0.0.1'], ['plain', ALICE_ADDR.port]]);

    const added = await respond(store, sipRegister({ headers: ['Contact: <sip:bob@10.0.0.2>'], cseq: 2 }));
    assert.deepEqual(added.contacts.sort(), ['sip:bob@10.0.0.1', 'sip:bob@10.0.0.2']);
    assert.deepEqual((await respond(store, sipRegister({ cseq: 3 }))).contacts.sort(), ['sip:bob@10.0.0.1', 'sip:bob@10.0.0.2'], 'a query lists SIP contacts only');
    assert.equal((await store.lookup('bob')).filter((b) => b.dialect === 'plain').length, 1);
  });

  test('Contact: * removes the SIP contacts only', async () => {
    const store = newStore();
    await respond(store, sipRegister({ headers: ['Contact: <sip:bob@10.0.0.1>'], cseq: 1 }));
    await registerPlain(store, 'bob', BOB_ADDR);
    assert.equal((await respond(store, sipRegister({ headers: ['Contact: *', 'Expires: 0'], cseq: 2 }))).status, 200);
    assert.deepEqual((await store.lookup('bob')).map((b) => b.dialect), ['plain']);
  });

  test('a user known in one dialect is not a new user in the other (maxUsers)', async () => {
    const store = newStore();
    const policy = { ...POLICY, maxUsers: 1 };
    await registerPlain(store, 'bob', BOB_ADDR, policy);
    assert.equal((await respond(store, sipRegister({ headers: ['Contact: <sip:bob@10.0.0.1>'] }), policy)).status, 200);
    const full = await respond(store, sipRegister({ to: '<sip:carol@biloxi.example.com>', headers: ['Contact: <sip:carol@10.0.0.3>'] }), policy);
    assert.deepEqual([full.status, full.reason], [503, 'Registrar Full']);
  });
});
