import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { CredentialStore } from '../../modules/auth/credentials.ts';
import { algorithmByName, algorithmParts, computeHa1, computeResponse, parseAuthHeader, quote, type DigestAlgorithm, type DigestHash } from '../../modules/auth/digest.ts';
import { NonceCounts } from '../../modules/auth/nonce-count.ts';
import { NonceMint } from '../../modules/auth/nonce.ts';
import { AddressSet } from '../../core/lib/address-set.ts';
import { DigestVerifier, type AuthDecision, type AuthPolicy, type AuthRequest } from '../../modules/auth/verify.ts';

const REALM = 'switchyard';
const T0 = Date.UTC(2025, 0, 1);
const URI = 'sip:127.0.0.1:5070';

/** alice and bob by password, carol with an MD5 HA1 only. */
function memoryStore(): CredentialStore & { lookups: number } {
  const passwords: Record<string, string> = { alice: 'alice-secret', bob: 'bob-secret' };
  const store = {
    lookups: 0,
    ha1(user: string, realm: string, hash: DigestHash): Promise<string | null> {
      store.lookups++;
      if (realm !== REALM) return Promise.resolve(null);
      if (user === 'carol') return Promise.resolve(hash === 'MD5' ? computeHa1('MD5', 'carol', REALM, 'carol-secret') : null);
      const p = passwords[user];
      return Promise.resolve(p === undefined ? null : computeHa1(hash, user, realm, p));
    },
  };
  return store;
}

function setup(o: { policy?: Partial<AuthPolicy>; trusted?: string[]; capacity?: number } = {}) {
  const clock = { now: T0 };
  const store = memoryStore();
  const policy: AuthPolicy = { realm: REALM, algorithms: ['SHA-256', 'MD5'], nonceTtlSec: 300, ...o.policy };
  const trusted = new AddressSet(o.trusted ?? []);
  const verifier = new DigestVerifier({
    store, mint: new NonceMint(Buffer.alloc(32, 1), () => clock.now), counts: new NonceCounts(o.capacity ?? 1024, () => clock.now),
    policy: () => policy, trusted: () => trusted,
  });
  return { clock, store, verifier };
}

function request(over: Partial<AuthRequest> = {}): AuthRequest {
  return { method: 'REGISTER', requestUri: URI, credentials: [], source: '::ffff:127.0.0.1', claimedUser: 'alice', ...over };
}

/** What a client does with a challenge: the Authorization value it answers with. */
function answer(challenge: string, o: { user?: string; password?: string; method?: string; uri?: string; nc?: number; cnonce?: string; realm?: string } = {}): string {
  const parsed = parseAuthHeader(challenge);
  assert.ok(parsed.ok);
  const p = parsed.header.params;
  const algorithm = algorithmByName(p.get('algorithm') ?? 'MD5') as DigestAlgorithm;
  const user = o.user ?? 'alice';
  const realm = o.realm ?? p.get('realm')!;
  const nonce = p.get('nonce')!;
  const uri = o.uri ?? URI;
  const cnonce = o.cnonce ?? 'c0ffee';
  const nc = (o.nc ?? 1).toString(16).padStart(8, '0');
  const ha1 = computeHa1(algorithmParts(algorithm).hash, user, realm, o.password ?? `${user}-secret`);
  const response = computeResponse({ algorithm, ha1, nonce, cnonce, nc, method: o.method ?? 'REGISTER', uri });
  return `Digest username=${quote(user)}, realm=${quote(realm)}, nonce=${quote(nonce)}, uri=${quote(uri)}, response="${response}", algorithm=${algorithm}, cnonce=${quote(cnonce)}, nc=${nc}, qop=auth`;
}

function challenges(d: AuthDecision): readonly string[] {
  assert.equal(d.kind, 'challenge', JSON.stringify(d));
  return (d as Extract<AuthDecision, { kind: 'challenge' }>).challenges;
}

describe('the authentication decision', () => {
  test('no credentials: a challenge per algorithm, most preferred first, sharing one fresh nonce', async () => {
    const { verifier } = setup();
    const d = await verifier.decide(request());
    assert.equal(d.kind, 'challenge');
    assert.deepEqual({ reason: (d as { reason: string }).reason, stale: (d as { stale: boolean }).stale }, { reason: 'no-credentials', stale: false });
    const [sha, md5] = challenges(d);
    assert.match(sha!, /^Digest realm="switchyard", nonce="[A-Za-z0-9_-]{48}", algorithm=SHA-256, qop="auth"$/);
    assert.match(md5!, /algorithm=MD5/);
    assert.equal(/nonce="([^"]+)"/.exec(sha!)![1], /nonce="([^"]+)"/.exec(md5!)![1]);
  });

  for (const algorithm of ['SHA-256', 'MD5'] as const) {
    test(`the right password with ${algorithm}: accepted as the user`, async () => {
      const { verifier } = setup();
      const challenge = challenges(await verifier.decide(request())).find((c) => c.includes(`algorithm=${algorithm},`))!;
      assert.deepEqual(await verifier.decide(request({ credentials: [answer(challenge)] })), { kind: 'accepted', user: 'alice', by: 'digest', algorithm });
    });
  }

  test('SHA-512-256 and the -sess variants when offered', async () => {
    const algorithms: DigestAlgorithm[] = ['SHA-512-256', 'SHA-256-sess', 'MD5-sess'];
    const { verifier } = setup({ policy: { algorithms } });
    for (const [i, algorithm] of algorithms.entries()) {
      const challenge = challenges(await verifier.decide(request()))[i]!;
      assert.ok(challenge.includes(`algorithm=${algorithm},`), challenge);
      assert.deepEqual(await verifier.decide(request({ credentials: [answer(challenge)] })), { kind: 'accepted', user: 'alice', by: 'digest', algorithm }, algorithm);
    }
  });

  test('a wrong password, or an unknown user: challenged again, not stale, the same way', async () => {
    const { verifier } = setup();
    const [challenge] = challenges(await verifier.decide(request()));
    const wrong = await verifier.decide(request({ credentials: [answer(challenge!, { password: 'guess' })] }));
    const unknown = await verifier.decide(request({ credentials: [answer(challenge!, { user: 'mallory' })], claimedUser: 'mallory' }));
    for (const d of [wrong, unknown]) {
      assert.equal(d.kind, 'challenge');
      assert.equal((d as { reason: string }).reason, 'bad-credentials');
      assert.equal((d as { stale: boolean }).stale, false);
    }
    assert.equal((unknown as { user: string }).user, 'mallory');
  });

  test('the response covers the method and the nonce count: changing either fails it', async () => {
    const { verifier } = setup();
    const [challenge] = challenges(await verifier.decide(request()));
    const asInvite = answer(challenge!, { method: 'INVITE' });
    assert.equal((await verifier.decide(request({ credentials: [asInvite] }))).kind, 'challenge');
    const tampered = answer(challenge!).replace('nc=00000001', 'nc=00000002');
    assert.equal((await verifier.decide(request({ credentials: [tampered] })) as { reason: string }).reason, 'bad-credentials');
  });

  test('replay: the same credentials twice are challenged with stale=true; the next nc passes', async () => {
    const { verifier } = setup();
    const [challenge] = challenges(await verifier.decide(request()));
    const first = answer(challenge!);
    assert.equal((await verifier.decide(request({ credentials: [first] }))).kind, 'accepted');
    const again = await verifier.decide(request({ credentials: [first] }));
    assert.deepEqual([again.kind, (again as { reason: string }).reason, (again as { stale: boolean }).stale], ['challenge', 'replay', true]);
    assert.equal((await verifier.decide(request({ credentials: [answer(challenge!, { nc: 2 })] }))).kind, 'accepted');
  });

  test('an expired nonce with the right password: stale=true, and the new nonce passes', async () => {
    const { verifier, clock } = setup({ policy: { nonceTtlSec: 60 } });
    const [challenge] = challenges(await verifier.decide(request()));
    clock.now = T0 + 60_000;
    const d = await verifier.decide(request({ credentials: [answer(challenge!)] }));
    assert.deepEqual([d.kind, (d as { reason: string }).reason, (d as { stale: boolean }).stale], ['challenge', 'stale-nonce', true]);
    assert.match(challenges(d)[0]!, /, stale=true$/);
    assert.equal((await verifier.decide(request({ credentials: [answer(challenges(d)[0]!)] }))).kind, 'accepted');
  });

  test('an expired nonce with a wrong password is not stale: the client must ask its user', async () => {
    const { verifier, clock } = setup({ policy: { nonceTtlSec: 60 } });
    const [challenge] = challenges(await verifier.decide(request()));
    clock.now = T0 + 61_000;
    const d = await verifier.decide(request({ credentials: [answer(challenge!, { password: 'guess' })] }));
    assert.deepEqual([(d as { reason: string }).reason, (d as { stale: boolean }).stale], ['bad-credentials', false]);
  });

  test('a nonce we never issued (a restart, a forgery) with the right password: stale=true', async () => {
    const { verifier } = setup();
    const forged = 'Digest realm="switchyard", nonce="made-up-by-the-client", algorithm=SHA-256, qop="auth"';
    const d = await verifier.decide(request({ credentials: [answer(forged)] }));
    assert.deepEqual([(d as { reason: string }).reason, (d as { stale: boolean }).stale], ['stale-nonce', true]);
  });

  test('identity: alice may not register bob (403), nor call as bob; she may call anyone as herself', async () => {
    const { verifier } = setup();
    const [challenge] = challenges(await verifier.decide(request()));
    assert.deepEqual(
      await verifier.decide(request({ credentials: [answer(challenge!)], claimedUser: 'bob' })),
      { kind: 'refused', reason: 'identity-mismatch', user: 'alice', claimed: 'bob' },
    );
    const invite = (nc: number, claimedUser: string): AuthRequest => request({ method: 'INVITE', claimedUser, credentials: [answer(challenge!, { method: 'INVITE', nc })] });
    assert.equal((await verifier.decide(invite(2, 'bob'))).kind, 'refused');
    assert.deepEqual(await verifier.decide(invite(3, 'alice')), { kind: 'accepted', user: 'alice', by: 'digest', algorithm: 'SHA-256' });
  });

  test('an algorithm not offered is challenged again; a user without that hash cannot pass with it', async () => {
    const { verifier } = setup({ policy: { algorithms: ['SHA-256'] } });
    const [challenge] = challenges(await verifier.decide(request()));
    const md5 = answer(challenge!.replace('algorithm=SHA-256', 'algorithm=MD5'));
    assert.equal((await verifier.decide(request({ credentials: [md5] })) as { reason: string }).reason, 'algorithm-not-offered');
    const carol = answer(challenge!, { user: 'carol' });
    assert.equal((await verifier.decide(request({ claimedUser: 'carol', credentials: [carol] })) as { reason: string }).reason, 'bad-credentials');
  });

  test('credentials for another realm are left for the server they are for; ours are found among them', async () => {
    const { verifier } = setup();
    const [challenge] = challenges(await verifier.decide(request()));
    const theirs = answer(challenge!, { realm: 'upstream' });
    assert.equal((await verifier.decide(request({ credentials: [theirs] })) as { reason: string }).reason, 'no-credentials');
    assert.equal((await verifier.decide(request({ credentials: ['Bearer abc.def', theirs, answer(challenge!)] }))).kind, 'accepted');
  });

  test('malformed Digest credentials: 400 with the reason, unless good ones for our realm come along', async () => {
    const { verifier } = setup();
    assert.deepEqual(await verifier.decide(request({ credentials: ['Digest username="alice", realm="switchyard"'] })), { kind: 'malformed', reason: 'malformed credentials: no nonce' });
    const [challenge] = challenges(await verifier.decide(request()));
    assert.equal((await verifier.decide(request({ credentials: ['Digest ,,,', answer(challenge!)] }))).kind, 'accepted');
  });

  test('a digest-uri other than the Request-URI is malformed (RFC 7616 §3.4.6); letter case aside', async () => {
    const { verifier } = setup();
    const [challenge] = challenges(await verifier.decide(request()));
    assert.deepEqual(await verifier.decide(request({ credentials: [answer(challenge!, { uri: 'sip:elsewhere' })] })), { kind: 'malformed', reason: 'digest uri is not the Request-URI' });
    assert.equal((await verifier.decide(request({ requestUri: URI.toUpperCase(), credentials: [answer(challenge!)] }))).kind, 'accepted');
  });

  test('a trusted peer passes without a challenge or a store lookup, as the user it claims', async () => {
    const { verifier, store } = setup({ trusted: ['10.0.0.0/8'] });
    assert.deepEqual(await verifier.decide(request({ source: '::ffff:10.9.8.7', claimedUser: 'gateway' })), { kind: 'accepted', user: 'gateway', by: 'trusted-peer' });
    assert.equal(store.lookups, 0);
    assert.equal((await verifier.decide(request({ source: '::ffff:11.0.0.1' }))).kind, 'challenge');
  });

  test('only the first 8 credentials are read', async () => {
    const { verifier } = setup();
    const [challenge] = challenges(await verifier.decide(request()));
    const noise = Array.from({ length: 8 }, () => 'Bearer x');
    assert.equal((await verifier.decide(request({ credentials: [...noise, answer(challenge!)] })) as { reason: string }).reason, 'no-credentials');
  });
});
