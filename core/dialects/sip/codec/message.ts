/**
 * SIP message model (RFC 3261 §7) and the header API.
 *
 * A parsed message keeps the Buffer it came from: each header parsed off the
 * wire is a {@link WireHeader} that remembers the byte range of its line(s),
 * and decodes its value only when asked. Changing a header through this API
 * (or by assigning `name`/`value` on a WireHeader) marks it modified, so the
 * serializer re-emits only what changed and copies everything else verbatim.
 */
import { canonicalName, displayName, isListHeader } from './names.ts';

export type SipVersion = 'SIP/2.0';

export interface SipHeader {
  /** name as on the wire (or as given when created through the API) */
  name: string;
  /** canonical lower-case full name, compact forms expanded */
  lname: string;
  /** raw value, leading/trailing whitespace trimmed, folded lines unfolded */
  value: string;
}

/** What the parser saw; used by the serializer to reuse untouched bytes. */
export interface WireInfo {
  /** exactly the bytes of this message (a view of the parsed buffer) */
  readonly raw: Buffer;
  /** the buffer all offsets below refer to */
  readonly src: Buffer;
  /** offset of the message's first byte in src */
  readonly start: number;
  /** offset just past the start line's CRLF */
  readonly startLineEnd: number;
  /** offset of the CRLF of the empty line ending the header section */
  readonly headersEnd: number;
  /** offset just past the message (end of body) */
  readonly end: number;
  /** the body Buffer handed out in msg.body (identity tells if it was replaced) */
  readonly body: Buffer;
  readonly method: string;
  readonly uri: string;
  readonly status: number;
  readonly reason: string;
}

interface SipMessageBase {
  version: SipVersion;
  headers: SipHeader[];
  body: Buffer;
  /** original wire image; undefined for messages built in code */
  wire: WireInfo | undefined;
}

export interface SipRequest extends SipMessageBase {
  type: 'request';
  method: string;
  uri: string;
}

export interface SipResponse extends SipMessageBase {
  type: 'response';
  status: number;
  reason: string;
}

export type SipMessage = SipRequest | SipResponse;

/**
 * A header parsed off the wire. Its value is decoded lazily from the source
 * buffer; assigning name, lname or value detaches it from the wire bytes.
 */
export class WireHeader implements SipHeader {
  /** source buffer while untouched, null once modified */
  src: Buffer | null;
  /** byte range of the whole header line(s), CRLF included */
  readonly start: number;
  readonly end: number;
  /** byte range of the trimmed value */
  readonly vs: number;
  readonly ve: number;
  /** the value spans folded (continuation) lines */
  readonly folded: boolean;
  private _name: string;
  private _lname: string;
  private _value: string | undefined;

  constructor(
    src: Buffer, name: string, lname: string,
    start: number, end: number, vs: number, ve: number, folded: boolean,
  ) {
    this.src = src;
    this.start = start;
    this.end = end;
    this.vs = vs;
    this.ve = ve;
    this.folded = folded;
    this._name = name;
    this._lname = lname;
    this._value = undefined;
  }

  get name(): string { return this._name; }
  set name(v: string) { this.materialize(); this._name = v; this.src = null; }
  get lname(): string { return this._lname; }
  set lname(v: string) { this.materialize(); this._lname = v; this.src = null; }

  get value(): string {
    let v = this._value;
    if (v === undefined) {
      const src = this.src;
      v = src === null ? '' : this.folded ? unfold(src, this.vs, this.ve) : src.toString('utf8', this.vs, this.ve);
      this._value = v;
    }
    return v;
  }
  set value(v: string) { this._value = v; this.src = null; }

  /** true once name, lname or value was assigned */
  get modified(): boolean { return this.src === null; }

  /** decode the value while the source bytes are still attached */
  private materialize(): void {
    if (this._value === undefined) void this.value;
  }
}

/** Unfold a value spanning continuation lines: each `WSP* CRLF WSP+` becomes one SP. */
function unfold(buf: Buffer, vs: number, ve: number): string {
  let out = '';
  let segStart = vs;
  let i = vs;
  while (i < ve) {
    if (buf[i] === 13) {
      let segEnd = i;
      while (segEnd > segStart && (buf[segEnd - 1] === 32 || buf[segEnd - 1] === 9)) segEnd--;
      out += buf.toString('utf8', segStart, segEnd) + ' ';
      i += 2;
      while (i < ve && (buf[i] === 32 || buf[i] === 9)) i++;
      segStart = i;
    } else {
      i++;
    }
  }
  return out + buf.toString('utf8', segStart, ve);
}

// ---------------------------------------------------------------------------
// List splitting
// ---------------------------------------------------------------------------

/**
 * Index of the first top-level comma in `value` (outside quoted strings and
 * <...>), or -1.
 */
export function findListComma(value: string, from = 0): number {
  if (value.indexOf(',', from) < 0) return -1;
  let inQuote = false;
  let angle = 0;
  for (let i = from; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (inQuote) {
      if (c === 0x5c) i++; // quoted-pair
      else if (c === 0x22) inQuote = false;
    } else if (c === 0x22) inQuote = true;
    else if (c === 0x3c) angle++;
    else if (c === 0x3e) { if (angle > 0) angle--; }
    else if (c === 0x2c && angle === 0) return i;
  }
  return -1;
}

/** Split a list header value on top-level commas; trims and drops empty elements. */
export function splitHeaderList(value: string): string[] {
  const out: string[] = [];
  let start = 0;
  for (;;) {
    const comma = findListComma(value, start);
    const part = (comma < 0 ? value.slice(start) : value.slice(start, comma)).trim();
    if (part !== '') out.push(part);
    if (comma < 0) return out;
    start = comma + 1;
  }
}

// ---------------------------------------------------------------------------
// Header API
// ---------------------------------------------------------------------------

function checkHeader(name: string, value: string): void {
  if (!/^[A-Za-z0-9\-.!%*_+`'~]+$/.test(name)) throw new TypeError(`invalid SIP header name: ${JSON.stringify(name)}`);
  if (/[\r\n]/.test(value)) throw new TypeError(`SIP header value must not contain CR or LF (${name})`);
}

function makeHeader(name: string, value: string): SipHeader {
  checkHeader(name, value);
  const lname = canonicalName(name);
  // a name given in canonical lower case gets the usual display spelling
  const wireName = name === lname ? displayName(lname) : name;
  return { name: wireName, lname, value };
}

/** First value of a header (for list headers: the first list element), or undefined. */
export function getHeader(msg: SipMessage, name: string): string | undefined {
  const lname = canonicalName(name);
  const headers = msg.headers;
  for (let i = 0; i < headers.length; i++) {
    const h = headers[i] as SipHeader;
    if (h.lname !== lname) continue;
    const v = h.value;
    if (!isListHeader(lname)) return v;
    const comma = findListComma(v);
    if (comma < 0) {
      if (v !== '') return v;
      continue;
    }
    const first = v.slice(0, comma).trim();
    if (first !== '') return first;
    const rest = splitHeaderList(v.slice(comma + 1));
    if (rest.length > 0) return rest[0];
  }
  return undefined;
}

/** All values of a header, in order; list headers are split on top-level commas. */
export function getHeaders(msg: SipMessage, name: string): string[] {
  const lname = canonicalName(name);
  const list = isListHeader(lname);
  const out: string[] = [];
  for (const h of msg.headers) {
    if (h.lname !== lname) continue;
    if (list) {
      for (const v of splitHeaderList(h.value)) out.push(v);
    } else {
      out.push(h.value);
    }
  }
  return out;
}

export function hasHeader(msg: SipMessage, name: string): boolean {
  const lname = canonicalName(name);
  for (const h of msg.headers) if (h.lname === lname) return true;
  return false;
}

/**
 * Set a header to a single value: the first occurrence gets the new value
 * (keeping its position and wire name), later occurrences are removed; if
 * absent it is appended.
 */
export function setHeader(msg: SipMessage, name: string, value: string): void {
  const created = makeHeader(name, value);
  const headers = msg.headers;
  let found = -1;
  for (let i = 0; i < headers.length; i++) {
    const h = headers[i] as SipHeader;
    if (h.lname !== created.lname) continue;
    if (found < 0) {
      found = i;
      headers[i] = { name: h.name, lname: created.lname, value };
    } else {
      headers.splice(i, 1);
      i--;
    }
  }
  if (found < 0) headers.push(created);
}

/** Append a header after all others. */
export function addHeader(msg: SipMessage, name: string, value: string): void {
  msg.headers.push(makeHeader(name, value));
}

/**
 * Insert a header before the first header of the same name (the topmost
 * Via / Record-Route position), or at the top of the header list.
 */
export function prependHeader(msg: SipMessage, name: string, value: string): void {
  const created = makeHeader(name, value);
  const headers = msg.headers;
  let at = 0;
  for (let i = 0; i < headers.length; i++) {
    if ((headers[i] as SipHeader).lname === created.lname) { at = i; break; }
  }
  headers.splice(at, 0, created);
}

/**
 * Remove a header. 'all' removes every occurrence. 'first' removes the first
 * value: for a list header whose first line carries several comma-separated
 * values, only the first element is removed and the line is rewritten.
 * Returns the number of values removed.
 */
export function removeHeader(msg: SipMessage, name: string, which: 'first' | 'all' = 'all'): number {
  const lname = canonicalName(name);
  const headers = msg.headers;
  if (which === 'all') {
    let removed = 0;
    for (let i = headers.length - 1; i >= 0; i--) {
      if ((headers[i] as SipHeader).lname === lname) { headers.splice(i, 1); removed++; }
    }
    return removed;
  }
  for (let i = 0; i < headers.length; i++) {
    const h = headers[i] as SipHeader;
    if (h.lname !== lname) continue;
    if (isListHeader(lname)) {
      const v = h.value;
      const comma = findListComma(v);
      if (comma >= 0) {
        const rest = splitHeaderList(v.slice(comma + 1));
        if (rest.length > 0 && v.slice(0, comma).trim() !== '') {
          headers[i] = { name: h.name, lname, value: rest.join(', ') };
          return 1;
        }
      }
    }
    headers.splice(i, 1);
    return 1;
  }
  return 0;
}

// ---------------------------------------------------------------------------
// Small typed accessors
// ---------------------------------------------------------------------------

export interface CSeq { seq: number; method: string }

/** Parse a CSeq value ("314159 INVITE"); undefined when malformed. */
export function parseCSeq(value: string): CSeq | undefined {
  const m = /^\s*(\d{1,10})\s+([A-Za-z0-9\-.!%*_+`'~]+)\s*$/.exec(value);
  if (m === null) return undefined;
  const seq = Number(m[1]);
  if (seq > 0x7fffffff) return undefined;
  return { seq, method: m[2] as string };
}

export function getCSeq(msg: SipMessage): CSeq | undefined {
  const v = getHeader(msg, 'cseq');
  return v === undefined ? undefined : parseCSeq(v);
}

/** Largest Max-Forwards read as itself; more digits than this (leading zeros aside) read as it. */
const MAX_FORWARDS_CEILING = 999_999_999;

/**
 * Max-Forwards as a number (1*DIGIT, any number of digits: `0000000000` is 0); undefined when
 * absent or malformed. Values beyond 999,999,999 read as that.
 */
export function getMaxForwards(msg: SipMessage): number | undefined {
  const v = getHeader(msg, 'max-forwards');
  if (v === undefined || !/^\d+$/.test(v)) return undefined;
  let i = 0;
  while (i < v.length - 1 && v.charCodeAt(i) === 0x30) i++;
  return v.length - i > 9 ? MAX_FORWARDS_CEILING : Number(v.slice(i));
}

// ---------------------------------------------------------------------------
// Building messages in code
// ---------------------------------------------------------------------------

export interface NewHeaders { [name: string]: string | readonly string[] }

function buildHeaders(headers: NewHeaders | ReadonlyArray<readonly [string, string]> | undefined): SipHeader[] {
  const out: SipHeader[] = [];
  if (headers === undefined) return out;
  if (Array.isArray(headers)) {
    for (const [n, v] of headers as ReadonlyArray<readonly [string, string]>) out.push(makeHeader(n, v));
    return out;
  }
  for (const [n, v] of Object.entries(headers as NewHeaders)) {
    if (typeof v === 'string') out.push(makeHeader(n, v));
    else for (const one of v) out.push(makeHeader(n, one));
  }
  return out;
}

export function createRequest(init: {
  method: string; uri: string;
  headers?: NewHeaders | ReadonlyArray<readonly [string, string]>;
  body?: Buffer | string;
}): SipRequest {
  return {
    type: 'request', method: init.method, uri: init.uri, version: 'SIP/2.0',
    headers: buildHeaders(init.headers),
    body: toBody(init.body),
    wire: undefined,
  };
}

export function createResponse(init: {
  status: number; reason: string;
  headers?: NewHeaders | ReadonlyArray<readonly [string, string]>;
  body?: Buffer | string;
}): SipResponse {
  return {
    type: 'response', status: init.status, reason: init.reason, version: 'SIP/2.0',
    headers: buildHeaders(init.headers),
    body: toBody(init.body),
    wire: undefined,
  };
}

const EMPTY = Buffer.alloc(0);

function toBody(body: Buffer | string | undefined): Buffer {
  if (body === undefined) return EMPTY;
  return typeof body === 'string' ? Buffer.from(body, 'utf8') : body;
}
