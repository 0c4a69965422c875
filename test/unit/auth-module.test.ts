/**
 * The auth module's functions on requests built by hand: what they return and which verdict
 * they leave (none when the request passes), ACK, a failing credential store, the plain
 * protocol, and option validation.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { describe, test } from 'node:test';
import { MessageContext } from '../../core/kernel/message-context.ts';
import { validateModules } from '../../core/kernel/validate-modules.ts';
import { toModel } from '../../core/dialects/sip/model.ts';
import { parseSip } from '../../core/dialects/sip/codec/parse.ts';
import type { Request } from '../../core/model/message.ts';
import { respondVerdict, type Verdict } from '../../core/model/verdict.ts';
import { auth, type AuthResult, type CredentialStore } from '../../modules/auth/index.ts';
import { fakeCore, plainRequest, REPO, silentLog, snapshot, throwsWithCode } from './_unit-fixtures.ts';

const SOURCE = { address: '::ffff:192.0.2.10', port: 5062 };

function sipRequest(method: string, extra: readonly string[] = []): Request {
  const text = [
    `${method} sip:bob@switchyard SIP/2.0`,
    'Via: SIP/2.0/UDP 192.0.2.10:5062;branch=z9hG4bK-unit;rport',
    'Max-Forwards: 70',
    'From: <sip:alice@switchyard>;tag=1',
    `To: <sip:bob@switchyard>${method === 'ACK' ? ';tag=2' : ''}`,
    'Call-ID: unit-1',
    `CSeq: 1 ${method}`,
    ...extra,
    'Content-Length: 0',
    '',
    '',
  ].join('\r\n');
  const raw = Buffer.from(text);
  const parsed = parseSip(raw);
  assert.ok(parsed.ok);
  const m = toModel(parsed.msg, { listener: 'sip:udp:5060', source: SOURCE }, 'udp', null, raw);
  assert.ok(m.ok && m.msg.type === 'request');
  return m.msg as Request;
}

type AuthFn = (mc: MessageContext) => Promise<AuthResult>;

/** The module set up with `options`; its two functions. */
async function module(options: Record<string, unknown>): Promise<{ authenticate: AuthFn; proxyAuthenticate: AuthFn; close: () => Promise<void> }> {
  const [m] = validateModules([auth(options as unknown as Parameters<typeof auth>[0])]);
  const env = { config: () => m!.config, log: silentLog, core: fakeCore(), deps: {} };
  const state: unknown = await m!.manifest.setup(env);
  const fns = m!.manifest.functions!({ ...env, state });
  return {
    authenticate: (mc) => fns.authenticate!.impl(mc) as Promise<AuthResult>,
    proxyAuthenticate: (mc) => fns.proxyAuthenticate!.impl(mc) as Promise<AuthResult>,
    close: async () => { await m!.manifest.onClose?.({ ...env, state }); },
  };
}

function context(req: Request): MessageContext {
  return new MessageContext('request', req, snapshot(), silentLog);
}

function respondOf(v: Verdict | null): { status: number; reason: string | undefined; headers: readonly (readonly [string, string])[]; retryAfterSec: number | undefined } {
  assert.ok(v !== null && v.kind === 'respond', `a respond verdict, got ${JSON.stringify(v)}`);
  return { status: v.status, reason: v.reason, headers: v.extras?.headers ?? [], retryAfterSec: v.extras?.retryAfterSec };
}

const users = path.join(REPO, 'examples', 'users.txt');

describe('auth module functions', () => {
  test('no credentials: 407 with a Proxy-Authenticate per algorithm, and a result that says why', async () => {
    const m = await module({ realm: 'switchyard', usersFile: users, algorithms: ['SHA-512-256', 'MD5'] });
    try {
      const mc = context(sipRequest('INVITE'));
      assert.deepEqual(await m.proxyAuthenticate(mc), { ok: false, reason: 'no-credentials' });
      const r = respondOf(mc.verdict);
      assert.equal(r.status, 407);
      assert.equal(r.reason, 'Proxy Authentication Required');
      assert.deepEqual(r.headers.map(([n, v]) => [n, /algorithm=([^,]+)/.exec(v)![1]]), [['Proxy-Authenticate', 'SHA-512-256'], ['Proxy-Authenticate', 'MD5']]);
    } finally {
      await m.close();
    }
  });

  test('ACK cannot be challenged: the function says so and leaves the verdict to the route', async () => {
    const m = await module({ realm: 'switchyard', usersFile: users });
    try {
      const mc = context(sipRequest('ACK'));
      assert.deepEqual(await m.proxyAuthenticate(mc), { ok: false, reason: 'not-challengeable' });
      assert.equal(mc.verdict, null);
    } finally {
      await m.close();
    }
  });

  test('a request that passes leaves no verdict behind: the route gives its own', async () => {
    const m = await module({ realm: 'switchyard', usersFile: users, trustedPeers: ['192.0.2.0/24'] });
    try {
      const mc = context(sipRequest('INVITE'));
      assert.deepEqual(await m.proxyAuthenticate(mc), { ok: true, user: 'alice', by: 'trusted-peer' });
      assert.equal(mc.verdict, null);
      const register = context(sipRequest('REGISTER'));
      assert.deepEqual(await m.authenticate(register), { ok: true, user: 'bob', by: 'trusted-peer' }, 'REGISTER claims the To user');
    } finally {
      await m.close();
    }
  });

  test('a credential store that fails: 503 with Retry-After, never a pass', async () => {
    const failing: CredentialStore = { ha1: () => Promise.reject(new Error('database down')) };
    const m = await module({ realm: 'switchyard', credentials: failing });
    const first = context(sipRequest('REGISTER'));
    await m.authenticate(first);
    const challenge = respondOf(first.verdict).headers[0]![1];
    const nonce = /nonce="([^"]+)"/.exec(challenge)![1];
    const creds = `Digest username="bob", realm="switchyard", nonce="${nonce}", uri="sip:bob@switchyard", response="${'0'.repeat(64)}", algorithm=SHA-256, cnonce="c", nc=00000001, qop=auth`;
    const mc = context(sipRequest('REGISTER', [`Authorization: ${creds}`]));
    assert.deepEqual(await m.authenticate(mc), { ok: false, reason: 'store-unavailable' });
    const r = respondOf(mc.verdict);
    assert.equal(r.status, 503);
    assert.equal(r.retryAfterSec, 5);
  });

  test('the plain protocol: no authentication, no verdict; a trusted source passes', async () => {
    const m = await module({ realm: 'switchyard', usersFile: users, trustedPeers: ['10.0.0.0/8'] });
    try {
      const mc = context(plainRequest('REGISTER carol\n'));
      assert.deepEqual(await m.authenticate(mc), { ok: false, reason: 'no-authentication-in-dialect' });
      assert.equal(mc.verdict, null);
      const trusted = context(plainRequest('REGISTER carol\n', { address: '::ffff:10.1.1.1', port: 4000 }));
      assert.deepEqual(await m.authenticate(trusted), { ok: true, user: 'carol', by: 'trusted-peer' });
    } finally {
      await m.close();
    }
  });

  test('a second verdict while authentication is pending fails at once', async () => {
    const m = await module({ realm: 'switchyard', usersFile: users });
    try {
      const mc = context(sipRequest('REGISTER'));
      const pending = m.authenticate(mc);
      throwsWithCode(() => mc.claim(respondVerdict(200)), 'SY_VERDICT_TWICE');
      await pending;
      assert.equal(respondOf(mc.verdict).status, 401);
    } finally {
      await m.close();
    }
  });
});

describe('auth options', () => {
  const refused: readonly [string, Record<string, unknown>, RegExp][] = [
    ['neither a users file nor a store', { realm: 'r' }, /exactly one of usersFile and credentials/],
    ['both', { realm: 'r', usersFile: 'u', credentials: { ha1: () => Promise.resolve(null) } }, /exactly one of usersFile and credentials/],
    ['a store without ha1()', { realm: 'r', credentials: {} }, /a CredentialStore/],
    ['no realm', { usersFile: 'u' }, /realm/],
    ['a realm with a quote', { realm: 'a"b', usersFile: 'u' }, /no quote, colon or backslash/],
    ['a realm with a line break', { realm: 'a\r\nb', usersFile: 'u' }, /printable ASCII/],
    ['an unknown algorithm', { realm: 'r', usersFile: 'u', algorithms: ['SHA-1'] }, /algorithms/],
    ['an algorithm twice', { realm: 'r', usersFile: 'u', algorithms: ['MD5', 'MD5'] }, /each algorithm once/],
    ['no algorithm', { realm: 'r', usersFile: 'u', algorithms: [] }, /algorithms/],
    ['a bad trusted peer', { realm: 'r', usersFile: 'u', trustedPeers: ['10.0.0.0/40'] }, /an address or address\/prefix/],
    ['a short nonce secret', { realm: 'r', usersFile: 'u', nonceSecret: 'short' }, /nonceSecret/],
    ['an unknown option', { realm: 'r', usersFile: 'u', realms: ['x'] }, /realms/],
  ];
  for (const [what, options, reason] of refused) {
    test(`refused: ${what}`, () => {
      const e = throwsWithCode(() => validateModules([auth(options as unknown as Parameters<typeof auth>[0])]), 'SY_CONFIG_INVALID');
      assert.match(e.message, reason);
    });
  }

  test('defaults: SHA-256 then MD5, nonces of 300 s, nobody trusted', () => {
    const [m] = validateModules([auth({ realm: 'switchyard', usersFile: 'u' })]);
    assert.deepEqual(m!.config, { realm: 'switchyard', usersFile: 'u', trustedPeers: [], algorithms: ['SHA-256', 'MD5'], nonceTtlSec: 300, maxTrackedNonces: 65_536 });
  });

  test('a users file with an error stops the start, naming the line', async () => {
    await assert.rejects(module({ realm: 'switchyard', usersFile: path.join(REPO, 'package.json') }), /users file .*package\.json: line 1: expected user:realm:kind:value/);
  });
});
