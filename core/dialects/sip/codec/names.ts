/**
 * SIP header-name knowledge: canonical lower-case names, compact forms
 * (RFC 3261 §7.3.3 and the IANA registry), display spellings for headers we
 * emit, which headers carry comma-separated lists, and a byte-level lookup
 * used by the parser so that well-known names cost no string allocation.
 */

/** Numeric ids for the headers the parser validates on the hot path. */
export const H_OTHER = 0;
export const H_VIA = 1;
export const H_TO = 2;
export const H_FROM = 3;
export const H_CALL_ID = 4;
export const H_CSEQ = 5;
export const H_MAX_FORWARDS = 6;
export const H_CONTENT_LENGTH = 7;

/** [lower-case name, display spelling, compact letter or '', parser id] */
const KNOWN: ReadonlyArray<readonly [string, string, string, number]> = [
  ['via', 'Via', 'v', H_VIA],
  ['to', 'To', 't', H_TO],
  ['from', 'From', 'f', H_FROM],
  ['call-id', 'Call-ID', 'i', H_CALL_ID],
  ['cseq', 'CSeq', '', H_CSEQ],
  ['max-forwards', 'Max-Forwards', '', H_MAX_FORWARDS],
  ['content-length', 'Content-Length', 'l', H_CONTENT_LENGTH],
  ['contact', 'Contact', 'm', H_OTHER],
  ['content-type', 'Content-Type', 'c', H_OTHER],
  ['content-encoding', 'Content-Encoding', 'e', H_OTHER],
  ['subject', 'Subject', 's', H_OTHER],
  ['supported', 'Supported', 'k', H_OTHER],
  ['refer-to', 'Refer-To', 'r', H_OTHER],
  ['event', 'Event', 'o', H_OTHER],
  ['allow-events', 'Allow-Events', 'u', H_OTHER],
  ['session-expires', 'Session-Expires', 'x', H_OTHER],
  ['identity', 'Identity', 'y', H_OTHER],
  ['accept-contact', 'Accept-Contact', 'a', H_OTHER],
  ['referred-by', 'Referred-By', 'b', H_OTHER],
  ['request-disposition', 'Request-Disposition', 'd', H_OTHER],
  ['reject-contact', 'Reject-Contact', 'j', H_OTHER],
  ['identity-info', 'Identity-Info', 'n', H_OTHER],
  ['route', 'Route', '', H_OTHER],
  ['record-route', 'Record-Route', '', H_OTHER],
  ['allow', 'Allow', '', H_OTHER],
  ['require', 'Require', '', H_OTHER],
  ['proxy-require', 'Proxy-Require', '', H_OTHER],
  ['unsupported', 'Unsupported', '', H_OTHER],
  ['expires', 'Expires', '', H_OTHER],
  ['min-expires', 'Min-Expires', '', H_OTHER],
  ['authorization', 'Authorization', '', H_OTHER],
  ['proxy-authorization', 'Proxy-Authorization', '', H_OTHER],
  ['www-authenticate', 'WWW-Authenticate', '', H_OTHER],
  ['proxy-authenticate', 'Proxy-Authenticate', '', H_OTHER],
  ['authentication-info', 'Authentication-Info', '', H_OTHER],
  ['user-agent', 'User-Agent', '', H_OTHER],
  ['server', 'Server', '', H_OTHER],
  ['accept', 'Accept', '', H_OTHER],
  ['accept-encoding', 'Accept-Encoding', '', H_OTHER],
  ['accept-language', 'Accept-Language', '', H_OTHER],
  ['date', 'Date', '', H_OTHER],
  ['organization', 'Organization', '', H_OTHER],
  ['priority', 'Priority', '', H_OTHER],
  ['retry-after', 'Retry-After', '', H_OTHER],
  ['timestamp', 'Timestamp', '', H_OTHER],
  ['warning', 'Warning', '', H_OTHER],
  ['alert-info', 'Alert-Info', '', H_OTHER],
  ['call-info', 'Call-Info', '', H_OTHER],
  ['error-info', 'Error-Info', '', H_OTHER],
  ['in-reply-to', 'In-Reply-To', '', H_OTHER],
  ['mime-version', 'MIME-Version', '', H_OTHER],
  ['reply-to', 'Reply-To', '', H_OTHER],
  ['content-disposition', 'Content-Disposition', '', H_OTHER],
  ['content-language', 'Content-Language', '', H_OTHER],
  ['path', 'Path', '', H_OTHER],
  ['service-route', 'Service-Route', '', H_OTHER],
  ['privacy', 'Privacy', '', H_OTHER],
  ['p-asserted-identity', 'P-Asserted-Identity', '', H_OTHER],
  ['p-preferred-identity', 'P-Preferred-Identity', '', H_OTHER],
  ['reason', 'Reason', '', H_OTHER],
  ['min-se', 'Min-SE', '', H_OTHER],
  ['rack', 'RAck', '', H_OTHER],
  ['rseq', 'RSeq', '', H_OTHER],
  ['subscription-state', 'Subscription-State', '', H_OTHER],
  ['sip-etag', 'SIP-ETag', '', H_OTHER],
  ['sip-if-match', 'SIP-If-Match', '', H_OTHER],
  ['diversion', 'Diversion', '', H_OTHER],
  ['replaces', 'Replaces', '', H_OTHER],
  ['history-info', 'History-Info', '', H_OTHER],
  ['security-client', 'Security-Client', '', H_OTHER],
  ['security-server', 'Security-Server', '', H_OTHER],
  ['security-verify', 'Security-Verify', '', H_OTHER],
];

/**
 * Headers whose grammar is `x *(COMMA x)`, so several values may share one
 * header line. Authorization-style headers, Date, Warning-free text headers
 * and every unknown header are deliberately absent.
 */
const LIST_HEADERS: ReadonlySet<string> = new Set([
  'via', 'route', 'record-route', 'contact', 'allow', 'supported', 'require',
  'proxy-require', 'unsupported', 'accept', 'accept-encoding', 'accept-language',
  'allow-events', 'content-encoding', 'content-language', 'in-reply-to', 'path',
  'service-route', 'p-asserted-identity', 'p-preferred-identity', 'reason',
  'alert-info', 'call-info', 'error-info', 'warning', 'history-info', 'diversion',
  'accept-contact', 'reject-contact', 'request-disposition', 'security-client',
  'security-server', 'security-verify',
]);

const DISPLAY = new Map<string, string>();
const KNOWN_LNAMES = new Set<string>();
/** compact letter (lower-case char code) -> canonical lower-case name */
const COMPACT: Array<string | undefined> = new Array<string | undefined>(128).fill(undefined);
const COMPACT_ID: Uint8Array = new Uint8Array(128);

interface NameEntry {
  readonly lname: string;
  readonly display: string;
  readonly id: number;
  /** lower-case bytes of lname */
  readonly lower: Uint8Array;
  /** bytes of the display spelling (the most common wire spelling) */
  readonly displayBytes: Uint8Array;
}

/** buckets indexed by (length << 5) | (first letter & 31) */
const BUCKETS: Array<NameEntry[] | undefined> = new Array<NameEntry[] | undefined>(64 * 32).fill(undefined);

for (const [lname, display, compact, id] of KNOWN) {
  DISPLAY.set(lname, display);
  KNOWN_LNAMES.add(lname);
  if (compact !== '') {
    COMPACT[compact.charCodeAt(0)] = lname;
    COMPACT_ID[compact.charCodeAt(0)] = id;
  }
  const entry: NameEntry = {
    lname,
    display,
    id,
    lower: Buffer.from(lname, 'latin1'),
    displayBytes: Buffer.from(display, 'latin1'),
  };
  const key = ((lname.length & 63) << 5) | (lname.charCodeAt(0) & 31);
  const bucket = BUCKETS[key];
  if (bucket === undefined) BUCKETS[key] = [entry];
  else bucket.push(entry);
}

/** Result slots of {@link lookupHeaderName}; reused to avoid allocation. */
export interface NameLookup {
  lname: string;
  /** the wire spelling when it could be interned, else '' (caller decodes) */
  name: string;
  id: number;
}

/**
 * Classify the header name bytes buf[s, e) (already known to be token chars).
 * Fills `out` and returns true for a known name; returns false otherwise.
 */
export function lookupHeaderName(buf: Uint8Array, s: number, e: number, out: NameLookup): boolean {
  const n = e - s;
  const c0 = buf[s] ?? 0;
  if (n === 1) {
    const lower = c0 | 0x20;
    const lname = lower < 128 ? COMPACT[lower] : undefined;
    if (lname === undefined) return false;
    out.lname = lname;
    out.name = String.fromCharCode(c0);
    out.id = COMPACT_ID[lower] ?? H_OTHER;
    return true;
  }
  if (n >= 64) return false;
  const bucket = BUCKETS[(n << 5) | (c0 & 31)];
  if (bucket === undefined) return false;
  for (let b = 0; b < bucket.length; b++) {
    const entry = bucket[b] as NameEntry;
    const lower = entry.lower;
    let k = 0;
    while (k < n && ((buf[s + k] as number) | 0x20) === lower[k]) k++;
    if (k !== n) continue;
    out.lname = entry.lname;
    out.id = entry.id;
    const disp = entry.displayBytes;
    k = 0;
    while (k < n && buf[s + k] === disp[k]) k++;
    out.name = k === n ? entry.display : '';
    return true;
  }
  return false;
}

/**
 * Canonical lower-case full name for a header name given by a caller:
 * case-folded, compact forms expanded ('v' -> 'via', 'I' -> 'call-id').
 */
export function canonicalName(name: string): string {
  if (KNOWN_LNAMES.has(name)) return name;
  if (name.length === 1) {
    const c = name.charCodeAt(0) | 0x20;
    const full = c < 128 ? COMPACT[c] : undefined;
    if (full !== undefined) return full;
  }
  return name.toLowerCase();
}

/** Spelling used when we emit a header created through the API. */
export function displayName(name: string): string {
  const lname = canonicalName(name);
  return DISPLAY.get(lname) ?? name;
}

/** Whether the header's grammar allows comma-separated values. */
export function isListHeader(lname: string): boolean {
  return LIST_HEADERS.has(lname);
}

/** token characters (RFC 3261 §25.1): alphanum / "-" / "." / "!" / "%" / "*" / "_" / "+" / "`" / "'" / "~" */
export const TOKEN_CHARS: Uint8Array = (() => {
  const t = new Uint8Array(256);
  for (let c = 0x30; c <= 0x39; c++) t[c] = 1;
  for (let c = 0x41; c <= 0x5a; c++) t[c] = 1;
  for (let c = 0x61; c <= 0x7a; c++) t[c] = 1;
  for (const ch of "-.!%*_+`'~") t[ch.charCodeAt(0)] = 1;
  return t;
})();
