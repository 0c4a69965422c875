/**
 * SIP / SIPS / tel URIs (RFC 3261 §19.1, §25.1; RFC 3966) and name-addr
 * values (From, To, Contact, Route, Record-Route: RFC 3261 §20.10, §20.20).
 *
 * Parsing keeps every component as written (escapes included, case kept),
 * so formatUri(parseUri(s)) === s for valid input. Nothing here throws.
 */
import { isIPv6 } from 'node:net';
import { formatParams, parseParams, scanQuoted, skipWs, unquote, type Param } from './params.ts';
import { TOKEN_CHARS } from './names.ts';

export type UriParam = Param;

export interface SipUri {
  /** scheme as written ('sip', 'SIPS', 'tel', 'urn', ...) */
  scheme: string;
  kind: 'sip' | 'sips' | 'tel' | 'other';
  /** user part, escapes kept; for tel: the telephone-subscriber number */
  user: string | undefined;
  password: string | undefined;
  /** host as written; an IPv6 reference keeps its brackets; '' for tel/other */
  host: string;
  hostType: 'hostname' | 'ipv4' | 'ipv6' | 'none';
  port: number | undefined;
  /** the port as written, kept only when it differs from String(port) (leading zeros) */
  portText?: string | undefined;
  params: UriParam[];
  /** `?name=value&...` headers */
  headers: UriParam[];
  /** for 'other' schemes: everything after the first ':' */
  opaque: string | undefined;
}

// character classes -----------------------------------------------------------

function table(extra: string, base?: Uint8Array): Uint8Array {
  const t = base === undefined ? new Uint8Array(128) : Uint8Array.from(base);
  for (const ch of extra) t[ch.charCodeAt(0)] = 1;
  return t;
}
const ALNUM = (() => {
  const t = new Uint8Array(128);
  for (let c = 0x30; c <= 0x39; c++) t[c] = 1;
  for (let c = 0x41; c <= 0x5a; c++) t[c] = 1;
  for (let c = 0x61; c <= 0x7a; c++) t[c] = 1;
  return t;
})();
const UNRESERVED = table("-_.!~*'()", ALNUM);
const USER = table('&=+$,;?/#', UNRESERVED);
const PASSWORD = table('&=+$,', UNRESERVED);
const PARAM = table('[]/:&+$', UNRESERVED);
const HNV = table('[]/?:+$', UNRESERVED);
const HOST = table('-._', ALNUM);
const TEL = table('+-.()*#', ALNUM);
const SCHEME = table('+-.', ALNUM);

function isHex(c: number): boolean {
  return (c >= 0x30 && c <= 0x39) || ((c | 0x20) >= 0x61 && (c | 0x20) <= 0x66);
}

/** Scan chars of class `cls` (and %HH escapes) from i; returns end index, or -1 on a bad escape. */
function scanClass(s: string, i: number, end: number, cls: Uint8Array): number {
  while (i < end) {
    const c = s.charCodeAt(i);
    if (c === 0x25) {
      if (i + 2 >= end) return -1;
      if (!isHex(s.charCodeAt(i + 1)) || !isHex(s.charCodeAt(i + 2))) return -1;
      i += 3;
      continue;
    }
    if (c >= 128 || cls[c] !== 1) return i;
    i++;
  }
  return i;
}

function isIPv4(s: string): boolean {
  let parts = 0;
  let i = 0;
  while (i <= s.length) {
    let j = i;
    let v = 0;
    while (j < s.length && s.charCodeAt(j) >= 0x30 && s.charCodeAt(j) <= 0x39) {
      v = v * 10 + (s.charCodeAt(j) - 0x30);
      j++;
    }
    if (j === i || j - i > 3 || v > 255) return false;
    parts++;
    if (j === s.length) return parts === 4;
    if (s.charCodeAt(j) !== 0x2e) return false;
    i = j + 1;
  }
  return false;
}

function hostTypeOf(host: string): 'hostname' | 'ipv4' | 'ipv6' | 'none' {
  if (host === '') return 'none';
  if (host.charCodeAt(0) === 0x5b) return 'ipv6';
  return isIPv4(host) ? 'ipv4' : 'hostname';
}

/** Parse `;name[=value]` URI parameters from i up to end (stopping at '?'). Returns stop index or -1. */
function scanUriParams(s: string, i: number, end: number, out: UriParam[] | null): number {
  while (i < end && s.charCodeAt(i) === 0x3b) {
    const ns = i + 1;
    const ne = scanClass(s, ns, end, PARAM);
    if (ne < 0 || ne === ns) return -1;
    let vs = -1;
    let ve = ne;
    if (ne < end && s.charCodeAt(ne) === 0x3d) {
      vs = ne + 1;
      ve = scanClass(s, vs, end, PARAM);
      if (ve < 0) return -1;
    }
    if (out !== null) out.push({ name: s.slice(ns, ne), value: vs < 0 ? null : s.slice(vs, ve) });
    i = ve;
  }
  return i;
}

function scanUriHeaders(s: string, i: number, end: number, out: UriParam[] | null): number {
  // i points just after '?'
  for (;;) {
    const ns = i;
    const ne = scanClass(s, ns, end, HNV);
    if (ne < 0 || ne === ns) return -1;
    let vs = -1;
    let ve = ne;
    if (ne < end && s.charCodeAt(ne) === 0x3d) {
      vs = ne + 1;
      ve = scanClass(s, vs, end, HNV);
      if (ve < 0) return -1;
    }
    if (out !== null) out.push({ name: s.slice(ns, ne), value: vs < 0 ? null : s.slice(vs, ve) });
    if (ve < end && s.charCodeAt(ve) === 0x26) { i = ve + 1; continue; }
    return ve;
  }
}

function schemeKind(scheme: string): SipUri['kind'] {
  const l = scheme.length;
  if (l === 3) {
    const a = scheme.charCodeAt(0) | 0x20, b = scheme.charCodeAt(1) | 0x20, c = scheme.charCodeAt(2) | 0x20;
    if (a === 0x73 && b === 0x69 && c === 0x70) return 'sip';
    if (a === 0x74 && b === 0x65 && c === 0x6c) return 'tel';
  } else if (l === 4 && scheme.toLowerCase() === 'sips') {
    return 'sips';
  }
  return 'other';
}

/**
 * Shared scanner: validates s[from, to) as a URI; fills `out` when given.
 * Returns false for anything malformed.
 */
function scanUri(s: string, from: number, to: number, out: SipUri | null): boolean {
  // scheme
  let i = from;
  if (i >= to) return false;
  const c0 = s.charCodeAt(i);
  if (c0 >= 128 || ALNUM[c0] !== 1 || (c0 >= 0x30 && c0 <= 0x39)) return false;
  while (i < to) {
    const c = s.charCodeAt(i);
    if (c >= 128 || SCHEME[c] !== 1) break;
    i++;
  }
  if (i >= to || s.charCodeAt(i) !== 0x3a) return false;
  const scheme = s.slice(from, i);
  const kind = schemeKind(scheme);
  i++;
  if (out !== null) { out.scheme = scheme; out.kind = kind; }

  if (kind === 'other') {
    if (i >= to) return false;
    for (let k = i; k < to; k++) {
      const c = s.charCodeAt(k);
      if (c <= 0x20 || c >= 0x7f || c === 0x22 || c === 0x3c || c === 0x3e) return false;
    }
    if (out !== null) out.opaque = s.slice(i, to);
    return true;
  }

  if (kind === 'tel') {
    const ns = i;
    while (i < to) {
      const c = s.charCodeAt(i);
      if (c >= 128 || TEL[c] !== 1) break;
      i++;
    }
    if (i === ns) return false;
    if (out !== null) out.user = s.slice(ns, i);
    i = scanUriParams(s, i, to, out === null ? null : out.params);
    return i === to;
  }

  // sip / sips: [userinfo "@"] hostport uri-parameters [headers]
  let at = s.indexOf('@', i);
  if (at >= to) at = -1;
  if (at >= 0) {
    let colon = s.indexOf(':', i);
    if (colon >= at) colon = -1;
    const userEnd = colon < 0 ? at : colon;
    if (userEnd === i || scanClass(s, i, userEnd, USER) !== userEnd) return false;
    if (colon >= 0 && scanClass(s, colon + 1, at, PASSWORD) !== at) return false;
    if (out !== null) {
      out.user = s.slice(i, userEnd);
      out.password = colon < 0 ? undefined : s.slice(colon + 1, at);
    }
    i = at + 1;
  }
  // host
  const hs = i;
  let hostType: SipUri['hostType'];
  if (i < to && s.charCodeAt(i) === 0x5b) {
    let close = -1;
    for (let k = i + 1; k < to; k++) {
      if (s.charCodeAt(k) === 0x5d) { close = k; break; }
    }
    if (close < 0 || !isIPv6(s.slice(i + 1, close))) return false;
    i = close + 1;
    hostType = 'ipv6';
  } else {
    while (i < to) {
      const c = s.charCodeAt(i);
      if (c >= 128 || HOST[c] !== 1) break;
      i++;
    }
    if (i === hs) return false;
    hostType = 'hostname';
  }
  const he = i;
  // port
  let port: number | undefined;
  if (i < to && s.charCodeAt(i) === 0x3a) {
    i++;
    const ps = i;
    let v = 0;
    while (i < to && i - ps < 6) {
      const c = s.charCodeAt(i);
      if (c < 0x30 || c > 0x39) break;
      v = v * 10 + (c - 0x30);
      i++;
    }
    if (i === ps || v > 65535) return false;
    port = v;
    if (out !== null && i - ps > 1 && s.charCodeAt(ps) === 0x30) out.portText = s.slice(ps, i);
  }
  if (out !== null) {
    const host = s.slice(hs, he);
    out.host = host;
    out.hostType = hostType === 'ipv6' ? 'ipv6' : hostTypeOf(host);
    out.port = port;
  }
  i = scanUriParams(s, i, to, out === null ? null : out.params);
  if (i < 0) return false;
  if (i < to && s.charCodeAt(i) === 0x3f) {
    i = scanUriHeaders(s, i + 1, to, out === null ? null : out.headers);
    if (i < 0) return false;
  }
  return i === to;
}

function emptyUri(): SipUri {
  return {
    scheme: '', kind: 'other', user: undefined, password: undefined, host: '',
    hostType: 'none', port: undefined, portText: undefined, params: [], headers: [], opaque: undefined,
  };
}

/** Parse a URI (sip, sips, tel, or any absolute URI). Returns null when malformed. */
export function parseUri(s: string): SipUri | null {
  const out = emptyUri();
  return scanUri(s, 0, s.length, out) ? out : null;
}

/** Validate a URI without building it (used on the Request-URI hot path). */
export function isValidUri(s: string): boolean {
  return scanUri(s, 0, s.length, null);
}

export function formatUri(u: SipUri): string {
  if (u.kind === 'other') return `${u.scheme}:${u.opaque ?? ''}`;
  if (u.kind === 'tel') return `${u.scheme}:${u.user ?? ''}${formatParams(u.params)}`;
  let out = u.scheme + ':';
  if (u.user !== undefined) {
    out += u.user;
    if (u.password !== undefined) out += ':' + u.password;
    out += '@';
  }
  out += u.host;
  if (u.port !== undefined) {
    out += ':' + (u.portText !== undefined && Number(u.portText) === u.port ? u.portText : String(u.port));
  }
  out += formatParams(u.params);
  if (u.headers.length > 0) {
    out += '?';
    for (let k = 0; k < u.headers.length; k++) {
      const h = u.headers[k] as UriParam;
      if (k > 0) out += '&';
      out += h.value === null ? h.name : `${h.name}=${h.value}`;
    }
  }
  return out;
}

/** Decode %HH escapes (as UTF-8 where valid). Malformed escapes are left as written. */
export function unescapeUri(s: string): string {
  if (s.indexOf('%') < 0) return s;
  const bytes: number[] = [];
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0x25 && i + 2 < s.length && isHex(s.charCodeAt(i + 1)) && isHex(s.charCodeAt(i + 2))) {
      bytes.push(parseInt(s.slice(i + 1, i + 3), 16));
      i += 2;
    } else if (c < 0x80) {
      bytes.push(c);
    } else {
      for (const b of Buffer.from(s[i] as string, 'utf8')) bytes.push(b);
    }
  }
  return Buffer.from(bytes).toString('utf8');
}

/** Host and port joined as in a Via sent-by or Route target. */
export function uriHostPort(u: SipUri): string {
  return u.port === undefined ? u.host : `${u.host}:${u.port}`;
}

// ---------------------------------------------------------------------------
// name-addr / addr-spec
// ---------------------------------------------------------------------------

export interface NameAddr {
  /** display name, quotes removed and quoted-pairs resolved */
  displayName: string | undefined;
  /** display name as written (quoted string with its quotes, or tokens) */
  displayRaw: string | undefined;
  /** URI text as written ('*' for a wildcard Contact) */
  uri: string;
  /** the URI was enclosed in <...> */
  angle: boolean;
  /** header parameters (tag, expires, q, lr ...), values raw */
  params: Param[];
}

function isTokenChar(c: number): boolean {
  return c < 256 && TOKEN_CHARS[c] === 1;
}

/**
 * Parse one From/To/Contact/Route/Record-Route value (a single list element).
 * The URI is not parsed here: use parseUri(na.uri) when needed.
 */
export function parseNameAddr(value: string): NameAddr | null {
  const s = value;
  const n = s.length;
  let i = skipWs(s, 0);
  if (i >= n) return null;
  let displayRaw: string | undefined;
  let displayName: string | undefined;
  let angle = false;
  let uri: string;

  if (s.charCodeAt(i) === 0x22) {
    const qe = scanQuoted(s, i);
    if (qe < 0) return null;
    displayRaw = s.slice(i, qe);
    displayName = unquote(displayRaw);
    i = skipWs(s, qe);
    if (i >= n || s.charCodeAt(i) !== 0x3c) return null;
  } else if (s.charCodeAt(i) === 0x2a) {
    // wildcard Contact: "*"
    const j = skipWs(s, i + 1);
    if (j === n || s.charCodeAt(j) === 0x3b) {
      const params: Param[] = [];
      const end = parseParams(s, j, params);
      if (end !== n) return null;
      return { displayName: undefined, displayRaw: undefined, uri: '*', angle: false, params };
    }
    // else: fall through — could be a token display name starting with '*'
  }

  if (s.charCodeAt(i) !== 0x3c && displayRaw === undefined) {
    // token display name before '<' ? (tokens and whitespace only)
    let j = i;
    while (j < n) {
      const c = s.charCodeAt(j);
      if (isTokenChar(c) || c === 0x20 || c === 0x09) j++;
      else break;
    }
    if (j < n && s.charCodeAt(j) === 0x3c) {
      const raw = s.slice(i, j).trim();
      if (raw !== '') {
        displayRaw = raw;
        displayName = raw;
      }
      i = j;
    }
  }

  if (i < n && s.charCodeAt(i) === 0x3c) {
    const close = s.indexOf('>', i + 1);
    if (close < 0) return null;
    uri = s.slice(i + 1, close).trim();
    if (uri === '') return null;
    angle = true;
    i = close + 1;
  } else {
    // addr-spec without brackets: the URI ends at ';' or whitespace; any
    // ';' parameters belong to the header, not to the URI.
    const us = i;
    while (i < n) {
      const c = s.charCodeAt(i);
      if (c === 0x3b || c === 0x20 || c === 0x09 || c === 0x2c) break;
      i++;
    }
    uri = s.slice(us, i);
    if (uri === '' || !isValidUri(uri)) return null;
  }
  const params: Param[] = [];
  const end = parseParams(s, i, params);
  if (end !== n) return null;
  return { displayName, displayRaw, uri, angle, params };
}

/** Format a name-addr; angle brackets are forced whenever RFC 3261 §20 requires them. */
export function formatNameAddr(na: NameAddr): string {
  const needAngle = na.angle || na.displayRaw !== undefined || /[;,?]/.test(na.uri);
  let out = na.displayRaw !== undefined ? na.displayRaw + ' ' : '';
  out += needAngle && na.uri !== '*' ? `<${na.uri}>` : na.uri;
  return out + formatParams(na.params);
}
