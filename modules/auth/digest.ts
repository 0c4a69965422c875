/**
 * SIP digest authentication (RFC 3261 §22 with RFC 7616 as RFC 8760 brings it to SIP): the
 * algorithms, the response computation for qop=auth, the strict and bounded parser of an
 * Authorization / Proxy-Authorization value, the challenge a 401 or 407 carries, and a
 * constant-time comparison of responses.
 *
 * Only qop=auth is answered. RFC 3261 §22.4 has servers always offer a qop, and a client that
 * is offered one must use it; a response without qop (RFC 2069) carries no nonce count, so it
 * could be replayed for the nonce's whole lifetime. auth-int (a hash of the body) is not offered.
 */
import * as crypto from 'node:crypto';

/** The hash functions of the IANA "HTTP Digest Hash Algorithms" registry that SIP uses (RFC 8760 §2.2). */
export type DigestHash = 'MD5' | 'SHA-256' | 'SHA-512-256';

export type DigestAlgorithm = DigestHash | 'MD5-sess' | 'SHA-256-sess' | 'SHA-512-256-sess';

export const DIGEST_ALGORITHMS: readonly DigestAlgorithm[] = ['SHA-256', 'SHA-512-256', 'MD5', 'SHA-256-sess', 'SHA-512-256-sess', 'MD5-sess'];

export const DIGEST_HASHES: readonly DigestHash[] = ['MD5', 'SHA-256', 'SHA-512-256'];

const NODE_HASH = { 'MD5': 'md5', 'SHA-256': 'sha256', 'SHA-512-256': 'sha512-256' } as const;

/** Hex digits of each hash's output. */
const HEX_LENGTH: Readonly<Record<DigestHash, number>> = { 'MD5': 32, 'SHA-256': 64, 'SHA-512-256': 64 };

export interface AlgorithmParts {
  readonly hash: DigestHash;
  /** A -sess variant: HA1 is taken again over the nonce and cnonce (RFC 7616 §3.4.2). */
  readonly session: boolean;
}

export function algorithmParts(algorithm: DigestAlgorithm): AlgorithmParts {
  return algorithm.endsWith('-sess')
    ? { hash: algorithm.slice(0, -5) as DigestHash, session: true }
    : { hash: algorithm as DigestHash, session: false };
}

/** The algorithm an `algorithm=` token names (case-insensitive), or null for one we do not know. */
export function algorithmByName(token: string): DigestAlgorithm | null {
  const upper = token.toUpperCase();
  return DIGEST_ALGORITHMS.find((a) => a.toUpperCase() === upper) ?? null;
}

/** Hex digits of a response or HA1 made with `hash`. */
export function hexLength(hash: DigestHash): number {
  return HEX_LENGTH[hash];
}

/**
 * One-shot hashing: `crypto.hash` (Node 20.12 and later) takes about half the CPU of a
 * `createHash` object for inputs this short; older Nodes get the object.
 */
const hashHex: (algorithm: string, data: string) => string = typeof crypto.hash === 'function'
  ? (algorithm, data) => crypto.hash(algorithm, data, 'hex')
  : (algorithm, data) => crypto.createHash(algorithm).update(data, 'utf8').digest('hex');

/** H(data) in lower-case hex, over the UTF-8 bytes of `data`. */
export function digestHex(hash: DigestHash, data: string): string {
  return hashHex(NODE_HASH[hash], data);
}

/** HA1 = H(username ":" realm ":" password): what a credential store keeps instead of the password. */
export function computeHa1(hash: DigestHash, username: string, realm: string, password: string): string {
  return digestHex(hash, `${username}:${realm}:${password}`);
}

export interface ResponseInput {
  readonly algorithm: DigestAlgorithm;
  /** H(username:realm:password) for the algorithm's hash, in hex. */
  readonly ha1: string;
  readonly nonce: string;
  readonly cnonce: string;
  /** The nonce count as sent: 8 hex digits. */
  readonly nc: string;
  readonly method: string;
  /** The digest-uri as the client sent it. */
  readonly uri: string;
}

/** The request-digest for qop=auth (RFC 7616 §3.4.1): H(HA1:nonce:nc:cnonce:qop:H(method:uri)). */
export function computeResponse(i: ResponseInput): string {
  const { hash, session } = algorithmParts(i.algorithm);
  const ha1 = session ? digestHex(hash, `${i.ha1}:${i.nonce}:${i.cnonce}`) : i.ha1;
  const ha2 = digestHex(hash, `${i.method}:${i.uri}`);
  return digestHex(hash, `${ha1}:${i.nonce}:${i.nc}:${i.cnonce}:auth:${ha2}`);
}

/**
 * Whether a response the client sent equals the expected one, in time that does not depend on
 * where they differ. Both are hex of the algorithm's length (the parser checked the client's).
 */
export function sameResponse(expected: string, given: string): boolean {
  const a = Buffer.from(expected, 'latin1');
  const b = Buffer.from(given.toLowerCase(), 'latin1');
  return a.length === b.length && crypto.timingSafeEqual(a, b);
}

// ---------------------------------------------------------------------------
// The auth-param grammar (RFC 3261 §25, RFC 7235 §2.1)
// ---------------------------------------------------------------------------

/** Longest credentials value read; a real one is a few hundred characters. */
export const MAX_CREDENTIALS_LENGTH = 4096;
/** Most auth-params read in one value; Digest defines eleven. */
export const MAX_AUTH_PARAMS = 24;
/** Longest parameter value (a quoted username, uri, nonce...). */
export const MAX_PARAM_VALUE = 1024;
const MAX_NAME = 64;

/** token characters (RFC 3261 §25.1). */
const TOKEN = ((): Uint8Array => {
  const t = new Uint8Array(128);
  for (let c = 0x30; c <= 0x39; c++) t[c] = 1;
  for (let c = 0x41; c <= 0x5a; c++) t[c] = 1;
  for (let c = 0x61; c <= 0x7a; c++) t[c] = 1;
  for (const ch of "-.!%*_+`'~") t[ch.charCodeAt(0)] = 1;
  return t;
})();

function isToken(c: number): boolean {
  return c < 128 && TOKEN[c] === 1;
}

function isSpace(c: number): boolean {
  return c === 0x20 || c === 0x09;
}

export interface AuthHeader {
  /** The scheme as sent (Digest, Bearer...). */
  readonly scheme: string;
  /** Parameters by lower-case name; quoted values unquoted and unescaped. */
  readonly params: ReadonlyMap<string, string>;
}

export type AuthHeaderParse = { readonly ok: true; readonly header: AuthHeader } | { readonly ok: false; readonly reason: string };

/**
 * Parses `scheme 1*SP auth-param *(, auth-param)` strictly: quoted strings with their escapes,
 * tokens, whitespace around `=` and `,`; an empty element, a repeated parameter, a control
 * character or a bad escape is an error. Work and memory are bounded by the length limit,
 * whatever the value holds.
 */
export function parseAuthHeader(value: string): AuthHeaderParse {
  if (value.length > MAX_CREDENTIALS_LENGTH) return fail('credentials too long');
  const n = value.length;
  let i = 0;
  while (i < n && isSpace(value.charCodeAt(i))) i++;
  const schemeStart = i;
  while (i < n && isToken(value.charCodeAt(i))) i++;
  if (i === schemeStart) return fail('no scheme');
  const scheme = value.slice(schemeStart, i);
  const params = new Map<string, string>();
  if (i < n && !isSpace(value.charCodeAt(i))) return fail('bad scheme');
  while (i < n && isSpace(value.charCodeAt(i))) i++;
  if (i === n) return { ok: true, header: { scheme, params } };

  for (;;) {
    const nameStart = i;
    while (i < n && isToken(value.charCodeAt(i))) i++;
    if (i === nameStart) return fail(value.charCodeAt(i) === 0x2c ? 'empty list element' : 'bad parameter name');
    if (i - nameStart > MAX_NAME) return fail('parameter name too long');
    const name = value.slice(nameStart, i).toLowerCase();
    while (i < n && isSpace(value.charCodeAt(i))) i++;
    if (value.charCodeAt(i) !== 0x3d) return fail(`no value for ${name}`);
    i++;
    while (i < n && isSpace(value.charCodeAt(i))) i++;
    let v: string;
    if (value.charCodeAt(i) === 0x22) {
      const q = readQuoted(value, i);
      if (!q.ok) return fail(`${q.reason} in ${name}`);
      v = q.text;
      i = q.end;
    } else {
      const valueStart = i;
      while (i < n && isToken(value.charCodeAt(i))) i++;
      if (i === valueStart) return fail(`bad value for ${name}`);
      if (i - valueStart > MAX_PARAM_VALUE) return fail(`${name} too long`);
      v = value.slice(valueStart, i);
    }
    if (params.has(name)) return fail(`${name} repeated`);
    if (params.size === MAX_AUTH_PARAMS) return fail('too many parameters');
    params.set(name, v);
    while (i < n && isSpace(value.charCodeAt(i))) i++;
    if (i === n) return { ok: true, header: { scheme, params } };
    if (value.charCodeAt(i) !== 0x2c) return fail(`unexpected character after ${name}`);
    i++;
    while (i < n && isSpace(value.charCodeAt(i))) i++;
    if (i === n) return fail('empty list element');
  }
}

type Quoted = { readonly ok: true; readonly text: string; readonly end: number } | { readonly ok: false; readonly reason: string };

/** A quoted-string starting at `start` (its opening quote): the unescaped text and the index after the closing quote. */
function readQuoted(value: string, start: number): Quoted {
  const n = value.length;
  let text = '';
  let runStart = start + 1;
  for (let i = start + 1; i < n; i++) {
    const c = value.charCodeAt(i);
    if (c === 0x22) {
      text += value.slice(runStart, i);
      if (text.length > MAX_PARAM_VALUE) return { ok: false, reason: 'quoted string too long' };
      return { ok: true, text, end: i + 1 };
    }
    if (c === 0x5c) {
      const e = value.charCodeAt(i + 1);
      // quoted-pair: a backslash before a printable ASCII character or a tab.
      if (!(e === 0x09 || (e >= 0x20 && e <= 0x7e))) return { ok: false, reason: 'bad escape' };
      text += value.slice(runStart, i);
      runStart = i + 1;
      i++;
    } else if ((c < 0x20 && c !== 0x09) || c === 0x7f) {
      return { ok: false, reason: 'control character' };
    }
  }
  return { ok: false, reason: 'unterminated quoted string' };
}

function fail(reason: string): { readonly ok: false; readonly reason: string } {
  return { ok: false, reason };
}

// ---------------------------------------------------------------------------
// Digest credentials
// ---------------------------------------------------------------------------

/** A Digest response as a client sent it, checked for form but not yet verified. */
export interface DigestCredentials {
  readonly username: string;
  readonly realm: string;
  readonly nonce: string;
  /** digest-uri: the Request-URI the client computed the response over. */
  readonly uri: string;
  /** Lower-case hex of the algorithm's length. */
  readonly response: string;
  readonly algorithm: DigestAlgorithm;
  readonly cnonce: string;
  /** The nonce count as sent (8 hex digits), and its value. */
  readonly nc: string;
  readonly ncValue: number;
  readonly opaque: string | undefined;
}

export type CredentialsParse =
  | { readonly ok: true; readonly credentials: DigestCredentials }
  /** `otherScheme`: credentials of another scheme (a Bearer token...), not malformed Digest. */
  | { readonly ok: false; readonly reason: string; readonly otherScheme: boolean };

const NC = /^[0-9a-fA-F]{8}$/;
const HEX = /^[0-9a-fA-F]+$/;

/** Reads an Authorization or Proxy-Authorization value as Digest credentials with qop=auth. */
export function parseDigestCredentials(value: string): CredentialsParse {
  // Other schemes (Bearer's token68...) need not follow the auth-param grammar: only the scheme is read.
  if (!/^[ \t]*digest(?:[ \t]|$)/i.test(value.slice(0, 16))) return { ok: false, reason: 'another scheme', otherScheme: true };
  const parsed = parseAuthHeader(value);
  if (!parsed.ok) return { ok: false, reason: parsed.reason, otherScheme: false };
  const params = parsed.header.params;
  const bad = (reason: string): CredentialsParse => ({ ok: false, reason, otherScheme: false });

  const missing = (['username', 'realm', 'nonce', 'uri', 'response'] as const).find((name) => !params.has(name));
  if (missing !== undefined) return bad(`no ${missing}`);
  const field = (name: string): string => params.get(name) ?? '';
  const username = field('username');
  const uri = field('uri');
  const response = field('response');
  if (username === '' || uri === '') return bad('empty username or uri');
  if (params.has('username*') || params.get('userhash')?.toLowerCase() === 'true') return bad('userhash and username* are not supported');

  const algorithmToken = params.get('algorithm') ?? 'MD5';
  const algorithm = algorithmByName(algorithmToken);
  if (algorithm === null) return bad('unknown algorithm');
  const qop = params.get('qop');
  if (qop === undefined) return bad('no qop');
  if (qop.toLowerCase() !== 'auth') return bad('qop other than auth');
  const cnonce = params.get('cnonce');
  const nc = params.get('nc');
  if (cnonce === undefined || cnonce === '') return bad('no cnonce');
  if (nc === undefined || !NC.test(nc)) return bad('bad nc');
  const ncValue = Number.parseInt(nc, 16);
  if (ncValue === 0) return bad('bad nc');
  if (response.length !== hexLength(algorithmParts(algorithm).hash) || !HEX.test(response)) return bad('bad response');

  return {
    ok: true,
    credentials: {
      username, realm: field('realm'), nonce: field('nonce'), uri, response: response.toLowerCase(),
      algorithm, cnonce, nc, ncValue, opaque: params.get('opaque'),
    },
  };
}

// ---------------------------------------------------------------------------
// Challenges
// ---------------------------------------------------------------------------

export interface ChallengeInput {
  readonly realm: string;
  readonly nonce: string;
  readonly algorithm: DigestAlgorithm;
  /** The previous nonce was stale: the client may retry at once with the new one, without asking its user. */
  readonly stale: boolean;
  readonly opaque?: string;
}

/** A quoted-string of `s`: backslash before `"` and `\`. */
export function quote(s: string): string {
  return `"${s.replace(/["\\]/g, '\\$&')}"`;
}

/** The value of a WWW-Authenticate or Proxy-Authenticate header field offering one algorithm with qop=auth. */
export function buildChallenge(c: ChallengeInput): string {
  return `Digest realm=${quote(c.realm)}, nonce=${quote(c.nonce)}${c.opaque !== undefined ? `, opaque=${quote(c.opaque)}` : ''}, algorithm=${c.algorithm}, qop="auth"${c.stale ? ', stale=true' : ''}`;
}
