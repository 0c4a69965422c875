/**
 * Bencode as rtpengine's NG protocol uses it: integers, byte strings, lists, dictionaries.
 *
 * Decoding is strict (canonical integers and lengths, string keys, no duplicate key, nothing
 * after the value) and bounded (depth, element count, input length). It returns a typed
 * error and never throws on its input. Dictionary key order is not checked: Kamailio and
 * rtpengine both send keys unsorted. Byte strings decode to Buffers that view the input;
 * keys decode as UTF-8 text.
 *
 * Encoding writes dictionary keys sorted by their bytes and strings as UTF-8; a Buffer is
 * written as it is.
 */

export interface BencodeList extends ReadonlyArray<BencodeValue> {}
export interface BencodeDict extends ReadonlyMap<string, BencodeValue> {}
/** A decoded value. Integers are safe JavaScript integers. */
export type BencodeValue = number | Buffer | BencodeList | BencodeDict;

/** What the encoder takes: a value, with dictionaries as Maps or plain objects (undefined members are left out). */
export type BencodeInput = number | string | Uint8Array | BencodeInputList | BencodeInputMap | BencodeInputObject;
export interface BencodeInputList extends ReadonlyArray<BencodeInput> {}
export interface BencodeInputMap extends ReadonlyMap<string, BencodeInput> {}
export interface BencodeInputObject {
  readonly [key: string]: BencodeInput | undefined;
}

export interface BencodeLimits {
  /** Lists and dictionaries nested deeper than this are refused (the top level is depth 1). */
  readonly maxDepth: number;
  /** Values in the whole document, dictionary keys included. */
  readonly maxElements: number;
  /** Bytes of input (decode) or output (encode). */
  readonly maxLength: number;
}

/** NG messages are single UDP datagrams; rtpengine's largest replies (list, statistics) stay far below these. */
export const DEFAULT_BENCODE_LIMITS: BencodeLimits = { maxDepth: 32, maxElements: 16_384, maxLength: 65_535 };

export type BencodeErrorKind =
  | 'empty'
  | 'truncated'
  | 'unexpected-byte'
  | 'bad-integer'
  | 'integer-out-of-range'
  | 'bad-length'
  | 'bad-key'
  | 'duplicate-key'
  | 'trailing-data'
  | 'too-deep'
  | 'too-many-elements'
  | 'too-long'
  | 'not-encodable';

export interface BencodeError {
  readonly kind: BencodeErrorKind;
  /** Byte offset in the input where decoding stopped (0 for encoding errors). */
  readonly offset: number;
  readonly message: string;
}

export type BencodeDecodeResult = { readonly ok: true; readonly value: BencodeValue } | { readonly ok: false; readonly error: BencodeError };
export type BencodeEncodeResult = { readonly ok: true; readonly bytes: Buffer } | { readonly ok: false; readonly error: BencodeError };

const I = 0x69; // i
const L = 0x6c; // l
const D = 0x64; // d
const E = 0x65; // e
const COLON = 0x3a;
const MINUS = 0x2d;
const ZERO = 0x30;
const NINE = 0x39;

/** Thrown inside the decoder and encoder only; both catch it and return it as a value. */
class Failure {
  constructor(readonly error: BencodeError) {}
}

function fail(kind: BencodeErrorKind, offset: number, message: string): never {
  throw new Failure({ kind, offset, message });
}

class Decoder {
  private pos = 0;
  private elements = 0;

  constructor(private readonly buf: Buffer, private readonly limits: BencodeLimits) {}

  document(): BencodeValue {
    const value = this.value(0);
    if (this.pos !== this.buf.length) fail('trailing-data', this.pos, `${this.buf.length - this.pos} bytes after the value`);
    return value;
  }

  private count(): void {
    if (++this.elements > this.limits.maxElements) fail('too-many-elements', this.pos, `more than ${this.limits.maxElements} elements`);
  }

  private value(depth: number): BencodeValue {
    const buf = this.buf;
    if (this.pos >= buf.length) fail('truncated', this.pos, 'input ends where a value should start');
    this.count();
    const c = buf[this.pos] as number;
    if (c === I) return this.integer();
    if (c >= ZERO && c <= NINE) return this.bytes();
    if (c === L || c === D) {
      if (depth + 1 > this.limits.maxDepth) fail('too-deep', this.pos, `nested deeper than ${this.limits.maxDepth}`);
      this.pos++;
      return c === L ? this.list(depth + 1) : this.dict(depth + 1);
    }
    return fail('unexpected-byte', this.pos, `byte 0x${c.toString(16).padStart(2, '0')} cannot start a value`);
  }

  private integer(): number {
    const buf = this.buf;
    const start = this.pos;
    let p = start + 1;
    let negative = false;
    if (buf[p] === MINUS) {
      negative = true;
      p++;
    }
    const first = p;
    let n = 0;
    while (p < buf.length) {
      const c = buf[p] as number;
      if (c < ZERO || c > NINE) break;
      if (p - first >= 16) fail('integer-out-of-range', start, 'integer beyond 2^53');
      n = n * 10 + (c - ZERO);
      p++;
    }
    if (p >= buf.length) fail('truncated', p, 'integer without its end');
    if (buf[p] !== E) fail('bad-integer', p, 'integer with a non-digit');
    const digits = p - first;
    if (digits === 0) fail('bad-integer', start, 'integer without digits');
    if (buf[first] === ZERO && (digits > 1 || negative)) fail('bad-integer', start, negative ? 'negative zero' : 'integer with a leading zero');
    if (n > Number.MAX_SAFE_INTEGER) fail('integer-out-of-range', start, 'integer beyond 2^53');
    this.pos = p + 1;
    return negative ? -n : n;
  }

  /** A byte string's bounds, checked against the input. */
  private span(): number {
    const buf = this.buf;
    const start = this.pos;
    let p = start;
    let n = 0;
    while (p < buf.length) {
      const c = buf[p] as number;
      if (c < ZERO || c > NINE) break;
      if (p - start >= 10) fail('bad-length', start, 'string length too long');
      n = n * 10 + (c - ZERO);
      p++;
    }
    if (p >= buf.length) fail('truncated', p, 'string length without its colon');
    if (buf[p] !== COLON) fail('bad-length', p, 'string length followed by something other than a colon');
    if (buf[start] === ZERO && p - start > 1) fail('bad-length', start, 'string length with a leading zero');
    p++;
    if (n > buf.length - p) fail('truncated', start, `string of ${n} bytes with ${buf.length - p} left`);
    this.pos = p + n;
    return p;
  }

  private bytes(): Buffer {
    const s = this.span();
    return this.buf.subarray(s, this.pos);
  }

  private list(depth: number): BencodeList {
    const out: BencodeValue[] = [];
    const buf = this.buf;
    for (;;) {
      if (this.pos >= buf.length) fail('truncated', this.pos, 'list without its end');
      if (buf[this.pos] === E) {
        this.pos++;
        return out;
      }
      out.push(this.value(depth));
    }
  }

  private dict(depth: number): BencodeDict {
    const out = new Map<string, BencodeValue>();
    const buf = this.buf;
    for (;;) {
      if (this.pos >= buf.length) fail('truncated', this.pos, 'dictionary without its end');
      const c = buf[this.pos] as number;
      if (c === E) {
        this.pos++;
        return out;
      }
      if (c < ZERO || c > NINE) fail('bad-key', this.pos, 'dictionary key that is not a string');
      const keyAt = this.pos;
      this.count();
      const s = this.span();
      const key = buf.toString('utf8', s, this.pos);
      if (out.has(key)) fail('duplicate-key', keyAt, `key "${key}" twice`);
      out.set(key, this.value(depth));
    }
  }
}

/** Decodes one bencoded value that fills `input` exactly. */
export function decodeBencode(input: Buffer, limits: BencodeLimits = DEFAULT_BENCODE_LIMITS): BencodeDecodeResult {
  if (input.length === 0) return { ok: false, error: { kind: 'empty', offset: 0, message: 'no input' } };
  if (input.length > limits.maxLength) return { ok: false, error: { kind: 'too-long', offset: limits.maxLength, message: `input of ${input.length} bytes, more than ${limits.maxLength}` } };
  try {
    return { ok: true, value: new Decoder(input, limits).document() };
  } catch (e) {
    if (e instanceof Failure) return { ok: false, error: e.error };
    throw e;
  }
}

/** Encoding writes here first; the result is a copy of what it wrote. */
let scratch = Buffer.allocUnsafe(16 * 1024);

/** Strings up to this long are written by hand; longer ones by Buffer's native writer. */
const SHORT = 48;

function isAscii(s: string): boolean {
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) > 0x7f) return false;
  return true;
}

/** Bencode orders keys by their raw bytes; for ASCII keys that is the order of JavaScript strings. */
function sortKeys(keys: string[]): string[] {
  if (keys.every(isAscii)) return keys.sort();
  return keys.sort((a, b) => Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8')));
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (typeof v === 'object') return (v as object).constructor?.name ?? 'object';
  return typeof v;
}

function isPlainObject(v: unknown): v is BencodeInputObject {
  if (typeof v !== 'object' || v === null) return false;
  const proto: unknown = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

class Encoder {
  pos = 0;

  constructor(private readonly limits: BencodeLimits) {}

  private room(n: number): void {
    const need = this.pos + n;
    if (need > this.limits.maxLength) fail('too-long', 0, `encoding exceeds ${this.limits.maxLength} bytes`);
    if (need <= scratch.length) return;
    const grown = Buffer.allocUnsafe(Math.min(Math.max(need, scratch.length * 2), Math.max(this.limits.maxLength, need)));
    scratch.copy(grown, 0, 0, this.pos);
    scratch = grown;
  }

  private byte(c: number): void {
    this.room(1);
    scratch[this.pos++] = c;
  }

  /** An integer in decimal, written digit by digit (a string per length prefix would cost more than the digits). */
  private decimal(n: number): void {
    if (n < 0) {
      this.byte(MINUS);
      n = -n;
    }
    let width = 1;
    for (let p = 10; p <= n; p *= 10) width++;
    this.room(width);
    for (let i = this.pos + width - 1; i >= this.pos; i--) {
      scratch[i] = ZERO + (n % 10);
      n = Math.floor(n / 10);
    }
    this.pos += width;
  }

  /** A short string known to be ASCII. */
  private ascii(s: string): void {
    this.room(s.length);
    for (let i = 0; i < s.length; i++) scratch[this.pos + i] = s.charCodeAt(i);
    this.pos += s.length;
  }

  prefix(p: string | Uint8Array): void {
    if (typeof p === 'string') this.text(p, false);
    else this.raw(p, false);
  }

  /** Short ASCII strings byte by byte; the rest (an SDP) through the native UTF-8 length and write. */
  private text(s: string, withLength: boolean): void {
    if (s.length <= SHORT && isAscii(s)) {
      if (withLength) this.length(s.length);
      this.ascii(s);
      return;
    }
    const n = Buffer.byteLength(s, 'utf8');
    if (withLength) this.length(n);
    this.room(n);
    this.pos += scratch.write(s, this.pos, 'utf8');
  }

  private length(n: number): void {
    this.decimal(n);
    this.byte(COLON);
  }

  private raw(b: Uint8Array, withLength: boolean): void {
    if (withLength) this.length(b.length);
    this.room(b.length);
    scratch.set(b, this.pos);
    this.pos += b.length;
  }

  value(v: BencodeInput, depth: number): void {
    if (typeof v === 'string') return this.text(v, true);
    if (typeof v === 'number') {
      if (!Number.isSafeInteger(v)) fail('not-encodable', 0, `${v} is not a safe integer`);
      this.byte(I);
      this.decimal(v);
      return this.byte(E);
    }
    if (v instanceof Uint8Array) return this.raw(v, true);
    if (depth + 1 > this.limits.maxDepth) fail('too-deep', 0, `nested deeper than ${this.limits.maxDepth}`);
    if (Array.isArray(v)) {
      this.byte(L);
      for (const item of v as BencodeInputList) {
        if (item === undefined || item === null) fail('not-encodable', 0, 'a list holds undefined or null');
        this.value(item, depth + 1);
      }
      return this.byte(E);
    }
    if (v instanceof Map) {
      const map = v as BencodeInputMap;
      this.byte(D);
      for (const key of sortKeys([...map.keys()])) {
        this.text(key, true);
        this.value(map.get(key) as BencodeInput, depth + 1);
      }
      return this.byte(E);
    }
    if (isPlainObject(v)) {
      const obj = v as BencodeInputObject;
      this.byte(D);
      for (const key of sortKeys(Object.keys(obj))) {
        const member = obj[key];
        if (member === undefined) continue;
        this.text(key, true);
        this.value(member, depth + 1);
      }
      return this.byte(E);
    }
    fail('not-encodable', 0, `a ${describe(v)} cannot be bencoded`);
  }

  take(): Buffer {
    return Buffer.from(scratch.subarray(0, this.pos));
  }
}

/**
 * Encodes `value`. `prefix`, if given, is written first, as it is (NG framing puts the cookie
 * and a space there, saving a copy).
 */
export function encodeBencode(value: BencodeInput, options: { readonly limits?: BencodeLimits; readonly prefix?: string | Uint8Array } = {}): BencodeEncodeResult {
  const encoder = new Encoder(options.limits ?? DEFAULT_BENCODE_LIMITS);
  try {
    if (options.prefix !== undefined) encoder.prefix(options.prefix);
    encoder.value(value, 0);
    return { ok: true, bytes: encoder.take() };
  } catch (e) {
    if (e instanceof Failure) return { ok: false, error: e.error };
    throw e;
  }
}

/** A decoded value's byte string as UTF-8 text, or undefined when it is not a byte string. */
export function bencodeText(v: BencodeValue | undefined): string | undefined {
  return Buffer.isBuffer(v) ? v.toString('utf8') : undefined;
}

export function isBencodeDict(v: BencodeValue | undefined): v is BencodeDict {
  return v instanceof Map;
}

export function isBencodeList(v: BencodeValue | undefined): v is BencodeList {
  return Array.isArray(v);
}
