import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  algorithmByName, buildChallenge, computeHa1, computeResponse, digestHex, MAX_AUTH_PARAMS, MAX_CREDENTIALS_LENGTH,
  MAX_PARAM_VALUE, parseAuthHeader, parseDigestCredentials, sameResponse, type DigestAlgorithm,
} from '../../modules/auth/digest.ts';

/** RFC 7616 §3.9.1: the same request answered with SHA-256 and with MD5. */
const RFC7616 = {
  username: 'Mufasa', realm: 'http-auth@example.org', password: 'Circle of Life', method: 'GET', uri: '/dir/index.html',
  nonce: '7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v', cnonce: 'f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ', nc: '00000001',
  md5: '8ca523f5e9506fed4657c9700eebdbec',
  sha256: '753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1',
};

function rfcResponse(algorithm: DigestAlgorithm): string {
  const { username, realm, password, nonce, cnonce, nc, method, uri } = RFC7616;
  const ha1 = computeHa1(algorithm === 'MD5' ? 'MD5' : 'SHA-256', username, realm, password);
  return computeResponse({ algorithm, ha1, nonce, cnonce, nc, method, uri });
}

/** A well-formed Digest Authorization value, with fields replaced or added. */
function credentials(over: Record<string, string> = {}): string {
  const fields: Record<string, string> = {
    username: '"alice"', realm: '"switchyard"', nonce: '"abc"', uri: '"sip:127.0.0.1"', response: `"${'a'.repeat(64)}"`,
    algorithm: 'SHA-256', cnonce: '"xyz"', nc: '00000001', qop: 'auth', ...over,
  };
  return 'Digest ' + Object.entries(fields).filter(([, v]) => v !== '').map(([k, v]) => `${k}=${v}`).join(', ');
}

describe('digest computation', () => {
  test('RFC 7616 §3.9.1: the MD5 and SHA-256 responses', () => {
    assert.equal(rfcResponse('MD5'), RFC7616.md5);
    assert.equal(rfcResponse('SHA-256'), RFC7616.sha256);
  });

  test('SHA-512-256 is SHA-512/256 (FIPS 180-4 example "abc"), not a truncated SHA-512', () => {
    assert.equal(digestHex('SHA-512-256', 'abc'), '53048e2681941ef99b2e29b76b4c7dabe4c2d0c634fc6d46e0e2f13107e7af23');
  });

  test('a -sess algorithm hashes HA1 again with the nonce and cnonce (RFC 7616 §3.4.2)', () => {
    const { username, realm, password, nonce, cnonce, nc, method, uri } = RFC7616;
    const ha1 = computeHa1('SHA-256', username, realm, password);
    const sessionHa1 = digestHex('SHA-256', `${ha1}:${nonce}:${cnonce}`);
    const viaSession = computeResponse({ algorithm: 'SHA-256-sess', ha1, nonce, cnonce, nc, method, uri });
    assert.equal(viaSession, computeResponse({ algorithm: 'SHA-256', ha1: sessionHa1, nonce, cnonce, nc, method, uri }));
    assert.notEqual(viaSession, RFC7616.sha256);
  });

  test('the username, realm and password are hashed as UTF-8', () => {
    assert.equal(computeHa1('MD5', 'J\u00e4s\u00f8n', 'r', 'p'), digestHex('MD5', 'J\u00e4s\u00f8n:r:p'));
    assert.notEqual(computeHa1('MD5', 'J\u00e4s\u00f8n', 'r', 'p'), computeHa1('MD5', 'Jason', 'r', 'p'));
  });

  test('responses compare equal regardless of hex case, and unequal when one digit or the length differs', () => {
    assert.equal(sameResponse(RFC7616.md5, RFC7616.md5.toUpperCase()), true);
    assert.equal(sameResponse(RFC7616.md5, RFC7616.md5.slice(0, -1) + 'f'), false);
    assert.equal(sameResponse(RFC7616.md5, RFC7616.md5.slice(1)), false);
    assert.equal(sameResponse(RFC7616.sha256, RFC7616.md5), false);
  });

  test('algorithm names are read case-insensitively; unknown ones are null', () => {
    assert.equal(algorithmByName('sha-256'), 'SHA-256');
    assert.equal(algorithmByName('md5-SESS'), 'MD5-sess');
    assert.equal(algorithmByName('SHA-512-256'), 'SHA-512-256');
    assert.equal(algorithmByName('SHA-1'), null);
    assert.equal(algorithmByName('AKAv1-MD5'), null);
  });
});

describe('auth-param parsing', () => {
  test('quoted strings, tokens, whitespace around = and commas, names in any case', () => {
    const r = parseAuthHeader('Digest  username = "a\\"b" ,Realm="x, y",nc=00000001\t, qop=auth');
    assert.ok(r.ok);
    assert.equal(r.header.scheme, 'Digest');
    assert.deepEqual([...r.header.params], [['username', 'a"b'], ['realm', 'x, y'], ['nc', '00000001'], ['qop', 'auth']]);
  });

  test('a scheme alone, and UTF-8 inside quoted strings', () => {
    const bare = parseAuthHeader('Bearer');
    assert.ok(bare.ok);
    assert.equal(bare.header.params.size, 0);
    const utf8 = parseAuthHeader('Digest username="J\u00e4s\u00f8n"');
    assert.ok(utf8.ok);
    assert.equal(utf8.header.params.get('username'), 'J\u00e4s\u00f8n');
  });

  const refused: readonly [string, string, RegExp][] = [
    ['empty', '', /no scheme/],
    ['no space after the scheme', 'Digest,username="a"', /bad scheme/],
    ['an empty element in the middle', 'Digest a=1,,b=2', /empty list element/],
    ['a trailing comma', 'Digest a=1, ', /empty list element/],
    ['a leading comma', 'Digest , a=1', /empty list element/],
    ['a parameter without a value', 'Digest a', /no value for a/],
    ['a parameter with an empty value', 'Digest a=', /bad value for a/],
    ['a repeated parameter, in another case', 'Digest nonce="1", NONCE="2"', /nonce repeated/],
    ['an unterminated quoted string', 'Digest a="abc', /unterminated/],
    ['a backslash ending the value', 'Digest a="abc\\', /bad escape/],
    ['an escaped CR', 'Digest a="ab\\\rc"', /bad escape/],
    ['an escaped LF', 'Digest a="ab\\\nc"', /bad escape/],
    ['an escaped non-ASCII character', 'Digest a="ab\\\u00e9c"', /bad escape/],
    ['a NUL in a quoted string', 'Digest a="ab\u0000c"', /control character/],
    ['a DEL in a quoted string', 'Digest a="ab\u007fc"', /control character/],
    ['garbage after a value', 'Digest a="b" c=d', /unexpected character after a/],
    ['a separator in a token value', 'Digest a=b;c', /unexpected character after a/],
    ['a name that is not a token', 'Digest a@b=1', /no value for a/],
  ];
  for (const [what, value, reason] of refused) {
    test(`refused: ${what}`, () => {
      const r = parseAuthHeader(value);
      assert.equal(r.ok, false);
      assert.match((r as { reason: string }).reason, reason);
    });
  }

  test('hostile: 10,000 parameters are refused after the limit, quickly', () => {
    const value = 'Digest ' + Array.from({ length: 10_000 }, (_, i) => `p${i}=1`).join(',');
    const started = performance.now();
    const r = parseAuthHeader(value);
    assert.equal(r.ok, false);
    assert.match((r as { reason: string }).reason, /too long/, 'a value that long is refused before it is read');
    const capped = parseAuthHeader('Digest ' + Array.from({ length: MAX_AUTH_PARAMS + 1 }, (_, i) => `p${i}=1`).join(','));
    assert.equal(capped.ok, false);
    assert.match((capped as { reason: string }).reason, /too many parameters/);
    assert.ok(parseAuthHeader('Digest ' + Array.from({ length: MAX_AUTH_PARAMS }, (_, i) => `p${i}=1`).join(',')).ok, 'the limit itself passes');
    assert.ok(performance.now() - started < 200);
  });

  test('hostile: huge quoted strings and values', () => {
    assert.match((parseAuthHeader(`Digest a="${'x'.repeat(1_000_000)}"`) as { reason: string }).reason, /credentials too long/);
    assert.match((parseAuthHeader(`Digest a="${'x'.repeat(MAX_PARAM_VALUE + 1)}"`) as { reason: string }).reason, /quoted string too long/);
    assert.match((parseAuthHeader(`Digest a="${'\\x'.repeat(MAX_PARAM_VALUE + 1)}"`) as { reason: string }).reason, /quoted string too long/);
    assert.match((parseAuthHeader(`Digest a=${'x'.repeat(MAX_PARAM_VALUE + 1)}`) as { reason: string }).reason, /a too long/);
    assert.ok(parseAuthHeader(`Digest a="${'x'.repeat(MAX_PARAM_VALUE)}"`).ok);
    assert.ok(MAX_CREDENTIALS_LENGTH > MAX_PARAM_VALUE + 100);
  });

  test('hostile: unbalanced quotes and escapes cannot make the parser read past the value', () => {
    for (const v of ['Digest a="\\"', 'Digest a="\\"\\"', 'Digest a="', 'Digest "', 'Digest a=""', 'Digest a="\\\\"']) {
      const r = parseAuthHeader(v);
      if (r.ok) assert.equal(r.header.params.size, 1, v);
    }
    const backslash = parseAuthHeader('Digest a="\\\\"');
    assert.ok(backslash.ok);
    assert.equal(backslash.header.params.get('a'), '\\');
  });
});

describe('Digest credentials', () => {
  test('a well-formed response', () => {
    const r = parseDigestCredentials(credentials({ response: `"${'AB'.repeat(32)}"`, opaque: '"o"' }));
    assert.ok(r.ok);
    assert.deepEqual(r.credentials, {
      username: 'alice', realm: 'switchyard', nonce: 'abc', uri: 'sip:127.0.0.1', response: 'ab'.repeat(32),
      algorithm: 'SHA-256', cnonce: 'xyz', nc: '00000001', ncValue: 1, opaque: 'o',
    });
  });

  test('algorithm defaults to MD5; qop may be quoted; nc keeps its case for the digest', () => {
    const r = parseDigestCredentials(credentials({ algorithm: '', response: `"${'0'.repeat(32)}"`, qop: '"auth"', nc: '0000000A' }));
    assert.ok(r.ok);
    assert.equal(r.credentials.algorithm, 'MD5');
    assert.equal(r.credentials.nc, '0000000A');
    assert.equal(r.credentials.ncValue, 10);
  });

  test('another scheme is not malformed Digest', () => {
    const r = parseDigestCredentials('Bearer token68value');
    assert.equal(r.ok, false);
    assert.equal((r as { otherScheme: boolean }).otherScheme, true);
  });

  const refused: readonly [string, Record<string, string>, RegExp][] = [
    ['no username', { username: '' }, /no username/],
    ['no nonce', { nonce: '' }, /no nonce/],
    ['no response', { response: '' }, /no response/],
    ['an empty username', { username: '""' }, /empty username/],
    ['no qop (RFC 2069)', { qop: '' }, /no qop/],
    ['qop=auth-int', { qop: 'auth-int' }, /qop other than auth/],
    ['qop listing two', { qop: '"auth,auth-int"' }, /qop other than auth/],
    ['no cnonce', { cnonce: '' }, /no cnonce/],
    ['nc of 7 digits', { nc: '0000001' }, /bad nc/],
    ['nc not hex', { nc: '0000000g' }, /bad nc/],
    ['nc zero', { nc: '00000000' }, /bad nc/],
    ['an unknown algorithm', { algorithm: 'SHA-1' }, /unknown algorithm/],
    ['a response of the wrong length for the algorithm', { algorithm: 'MD5' }, /bad response/],
    ['a response that is not hex', { response: `"${'z'.repeat(64)}"` }, /bad response/],
    ['userhash=true', { userhash: 'true' }, /userhash/],
    ['username*', { 'username*': "UTF-8''a" }, /username\*/],
  ];
  for (const [what, over, reason] of refused) {
    test(`refused: ${what}`, () => {
      const r = parseDigestCredentials(credentials(over));
      assert.equal(r.ok, false);
      assert.equal((r as { otherScheme: boolean }).otherScheme, false);
      assert.match((r as { reason: string }).reason, reason);
    });
  }
});

describe('challenges', () => {
  test('realm, nonce, algorithm, qop; stale and opaque only when given', () => {
    assert.equal(buildChallenge({ realm: 'switchyard', nonce: 'n1', algorithm: 'SHA-256', stale: false }), 'Digest realm="switchyard", nonce="n1", algorithm=SHA-256, qop="auth"');
    assert.equal(buildChallenge({ realm: 'r', nonce: 'n', algorithm: 'MD5', stale: true, opaque: 'o' }), 'Digest realm="r", nonce="n", opaque="o", algorithm=MD5, qop="auth", stale=true');
  });

  test('a challenge parses back with the auth-param parser, quotes and backslashes escaped', () => {
    const value = buildChallenge({ realm: 'a "quoted" \\ realm', nonce: 'n', algorithm: 'SHA-512-256', stale: true });
    const r = parseAuthHeader(value);
    assert.ok(r.ok);
    assert.equal(r.header.params.get('realm'), 'a "quoted" \\ realm');
    assert.equal(r.header.params.get('algorithm'), 'SHA-512-256');
    assert.equal(r.header.params.get('stale'), 'true');
  });
});
