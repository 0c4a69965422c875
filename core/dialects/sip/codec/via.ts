/**
 * Via header values (RFC 3261 §20.42, §25.1 via-parm; RFC 3581 rport).
 *
 *   via-parm = sent-protocol LWS sent-by *( SEMI via-params )
 *   sent-protocol = protocol-name SLASH protocol-version SLASH transport
 *   sent-by = host [ COLON port ]
 *
 * LWS is accepted around '/', ':', ';' and '=' as the grammar allows
 * (values reach us unfolded). Nothing here throws.
 */
import { isIPv6 } from 'node:net';
import { TOKEN_CHARS } from './names.ts';
import { findListComma } from './message.ts';
import { formatParams, getParam, parseParams, removeParam, setParam, skipWs, type Param } from './params.ts';

/** RFC 3261 §8.1.1.7 magic cookie */
export const MAGIC_COOKIE = 'z9hG4bK';

export interface Via {
  /** 'SIP' */
  protocol: string;
  /** '2.0' */
  version: string;
  /** 'UDP', 'TCP', 'TLS', 'SCTP', 'WS', 'WSS' ... as written */
  transport: string;
  /** sent-by host as written; IPv6 references keep their brackets */
  host: string;
  port: number | undefined;
  /** every parameter in order; the named fields below are derived from it */
  params: Param[];
  branch: string | undefined;
  received: string | undefined;
  maddr: string | undefined;
  ttl: number | undefined;
  /** rport=<n>; undefined when absent or valueless */
  rport: number | undefined;
  /** rport present (with or without value) */
  hasRport: boolean;
}

function scanToken(s: string, i: number): number {
  while (i < s.length) {
    const c = s.charCodeAt(i);
    if (c >= 256 || TOKEN_CHARS[c] !== 1) break;
    i++;
  }
  return i;
}

function isHostChar(c: number): boolean {
  return (c >= 0x30 && c <= 0x39) || ((c | 0x20) >= 0x61 && (c | 0x20) <= 0x7a) || c === 0x2d || c === 0x2e || c === 0x5f;
}

function derive(v: Via): void {
  const branch = getParam(v.params, 'branch');
  v.branch = typeof branch === 'string' ? branch : undefined;
  const received = getParam(v.params, 'received');
  v.received = typeof received === 'string' ? received : undefined;
  const maddr = getParam(v.params, 'maddr');
  v.maddr = typeof maddr === 'string' ? maddr : undefined;
  const ttl = getParam(v.params, 'ttl');
  v.ttl = typeof ttl === 'string' && /^\d{1,3}$/.test(ttl) ? Number(ttl) : undefined;
  const rport = getParam(v.params, 'rport');
  v.hasRport = rport !== undefined;
  v.rport = typeof rport === 'string' && /^\d{1,5}$/.test(rport) ? Number(rport) : undefined;
}

/** Parse one via-parm (a single element of a Via header). Returns null when malformed. */
export function parseVia(value: string): Via | null {
  const s = value;
  let i = skipWs(s, 0);
  const ps = i;
  i = scanToken(s, i);
  if (i === ps) return null;
  const protocol = s.slice(ps, i);
  i = skipWs(s, i);
  if (s.charCodeAt(i) !== 0x2f) return null;
  i = skipWs(s, i + 1);
  const vs = i;
  i = scanToken(s, i);
  if (i === vs) return null;
  const version = s.slice(vs, i);
  i = skipWs(s, i);
  if (s.charCodeAt(i) !== 0x2f) return null;
  i = skipWs(s, i + 1);
  const ts = i;
  i = scanToken(s, i);
  if (i === ts) return null;
  const transport = s.slice(ts, i);
  const afterTransport = i;
  i = skipWs(s, i);
  if (i === afterTransport) return null; // LWS required before sent-by
  // host
  const hs = i;
  if (s.charCodeAt(i) === 0x5b) {
    const close = s.indexOf(']', i + 1);
    if (close < 0 || !isIPv6(s.slice(i + 1, close))) return null;
    i = close + 1;
  } else {
    while (i < s.length && isHostChar(s.charCodeAt(i))) i++;
    if (i === hs) return null;
  }
  const host = s.slice(hs, i);
  let port: number | undefined;
  let j = skipWs(s, i);
  if (s.charCodeAt(j) === 0x3a) {
    j = skipWs(s, j + 1);
    const p0 = j;
    let p = 0;
    while (j < s.length && j - p0 < 6) {
      const c = s.charCodeAt(j);
      if (c < 0x30 || c > 0x39) break;
      p = p * 10 + (c - 0x30);
      j++;
    }
    if (j === p0 || p > 65535) return null;
    port = p;
    i = j;
  }
  const params: Param[] = [];
  const end = parseParams(s, i, params);
  if (end < 0 || skipWs(s, end) !== s.length) return null;
  const via: Via = {
    protocol, version, transport, host, port, params,
    branch: undefined, received: undefined, maddr: undefined, ttl: undefined, rport: undefined, hasRport: false,
  };
  derive(via);
  return via;
}

/** Parse a whole Via header value (possibly several comma-separated via-parms). */
export function parseViaList(value: string): Via[] | null {
  const out: Via[] = [];
  let start = 0;
  for (;;) {
    const comma = findListComma(value, start);
    const part = comma < 0 ? value.slice(start) : value.slice(start, comma);
    if (part.trim() !== '') {
      const v = parseVia(part);
      if (v === null) return null;
      out.push(v);
    }
    if (comma < 0) break;
    start = comma + 1;
  }
  return out.length > 0 ? out : null;
}

/** Where the first non-empty via-parm of a header value lies: [start, end), end at its comma or the value's end. */
function firstViaSpan(value: string): [number, number] | null {
  let start = 0;
  for (;;) {
    const comma = findListComma(value, start);
    const end = comma < 0 ? value.length : comma;
    if (value.slice(start, end).trim() !== '') return [start, end];
    if (comma < 0) return null;
    start = comma + 1;
  }
}

/** The first Via of a header value (the one a proxy acts on); the others are not parsed. */
export function parseFirstVia(value: string): Via | null {
  const span = firstViaSpan(value);
  return span === null ? null : parseVia(value.slice(span[0], span[1]));
}

/** A Via header value with its first via-parm replaced by `top`; the rest stays as it came. */
export function replaceFirstVia(value: string, top: Via): string {
  const span = firstViaSpan(value);
  return span === null ? formatVia(top) : `${formatVia(top)}${value.slice(span[1])}`;
}

/** Canonical form: `SIP/2.0/UDP host:port;param=value...` */
export function formatVia(v: Via): string {
  const hostport = v.port === undefined ? v.host : `${v.host}:${v.port}`;
  return `${v.protocol}/${v.version}/${v.transport} ${hostport}${formatParams(v.params)}`;
}

/** Set (or add) a Via parameter, e.g. setViaParam(v, 'received', '192.0.2.1'), setViaParam(v, 'rport', '5060'). */
export function setViaParam(v: Via, name: string, value: string | null): void {
  setParam(v.params, name, value);
  derive(v);
}

export function removeViaParam(v: Via, name: string): boolean {
  const removed = removeParam(v.params, name);
  derive(v);
  return removed;
}

/** True when the branch carries the RFC 3261 magic cookie (and something after it). */
export function isRfc3261Branch(branch: string | undefined): boolean {
  return branch !== undefined && branch.length > MAGIC_COOKIE.length && branch.startsWith(MAGIC_COOKIE);
}
