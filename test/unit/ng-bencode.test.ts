import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import {
  type BencodeErrorKind,
  type BencodeInput,
  type BencodeLimits,
  type BencodeValue,
  DEFAULT_BENCODE_LIMITS,
  decodeBencode,
  encodeBencode,
} from '../../modules/media-relay/ng/bencode.ts';

const latin1 = (s: string): Buffer => Buffer.from(s, 'latin1');

function encoded(v: BencodeInput, limits?: BencodeLimits): string {
  const r = encodeBencode(v, limits === undefined ? {} : { limits });
  if (!r.ok) throw new Error(`encode failed: ${r.error.message}`);
  return r.bytes.toString('latin1');
}

function decoded(s: string | Buffer): BencodeValue {
  const r = decodeBencode(typeof s === 'string' ? latin1(s) : s);
  if (!r.ok) throw new Error(`decode failed: ${r.error.kind} at ${r.error.offset}: ${r.error.message}`);
  return r.value;
}

const byBytes = (a: string, b: string): number => Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));

/** A decoded value as plain data: Buffers as latin1 strings, Maps as sorted entry lists. */
function plain(v: BencodeValue): unknown {
  if (typeof v === 'number') return v;
  if (Buffer.isBuffer(v)) return { bytes: v.toString('latin1') };
  if (v instanceof Map) return [...v.entries()].sort(([a], [b]) => byBytes(a, b)).map(([k, x]) => [k, plain(x)]);
  return (v as readonly BencodeValue[]).map(plain);
}

/** What decode(encode(v)) must be, for an input made of numbers, Buffers, arrays and Maps. */
function expected(v: BencodeInput): unknown {
  if (typeof v === 'number') return v;
  if (typeof v === 'string') return { bytes: Buffer.from(v, 'utf8').toString('latin1') };
  if (v instanceof Uint8Array) return { bytes: Buffer.from(v).toString('latin1') };
  if (Array.isArray(v)) return v.map((x: BencodeInput) => expected(x));
  if (v instanceof Map) return [...v.entries()].sort(([a], [b]) => byBytes(a, b)).map(([k, x]) => [k, expected(x as BencodeInput)]);
  throw new Error('unexpected input in test');
}

function failsWith(input: string | Buffer, kind: BencodeErrorKind, limits?: BencodeLimits): void {
  const r = decodeBencode(typeof input === 'string' ? latin1(input) : input, limits);
  assert.equal(r.ok, false, `${JSON.stringify(input.toString())} should not decode`);
  if (!r.ok) assert.equal(r.error.kind, kind, `${JSON.stringify(input.toString())}: ${r.error.message}`);
}

describe('bencode encoding', () => {
  test('exact encodings of each kind', () => {
    assert.equal(encoded(0), 'i0e');
    assert.equal(encoded(-42), 'i-42e');
    assert.equal(encoded(Number.MAX_SAFE_INTEGER), 'i9007199254740991e');
    assert.equal(encoded('spam'), '4:spam');
    assert.equal(encoded(''), '0:');
    assert.equal(encoded('é'), '2:\xc3\xa9', 'strings are written as UTF-8');
    assert.equal(encoded(Buffer.from([0, 0xff, 0x20])), '3:\x00\xff ', 'Buffers are written as they are');
    assert.equal(encoded([]), 'le');
    assert.equal(encoded({}), 'de');
    assert.equal(encoded(['spam', 42, ['x']]), 'l4:spami42el1:xee');
    assert.equal(encoded({ command: 'ping' }), 'd7:command4:pinge');
  });

  test('dictionary keys are sorted by their bytes, Maps and objects alike; undefined members are left out', () => {
    assert.equal(encoded({ spam: 'eggs', cow: 'moo' }), 'd3:cow3:moo4:spam4:eggse');
    assert.equal(encoded(new Map<string, BencodeInput>([['b', 1], ['a', 2], ['B', 3]])), 'd1:Bi3e1:ai2e1:bi1ee');
    assert.equal(encoded({ a: 1, gone: undefined }), 'd1:ai1ee');
    // U+FFFD (EF BF BD) sorts after U+10000 (F0 ...) in UTF-16 order but before it in byte order.
    assert.equal(encoded({ '\u{10000}': 1, '\ufffd': 2 }), 'd3:\xef\xbf\xbdi2e4:\xf0\x90\x80\x80i1ee');
  });

  test('a prefix is written before the value, as it is', () => {
    const r = encodeBencode({ result: 'pong' }, { prefix: latin1('5323_1 ') });
    assert.ok(r.ok);
    assert.equal(r.bytes.toString('latin1'), '5323_1 d6:result4:ponge');
  });

  test('what cannot be bencoded is a typed error, not a throw', () => {
    const kinds = (v: unknown, limits?: BencodeLimits): string => {
      const r = encodeBencode(v as BencodeInput, limits === undefined ? {} : { limits });
      return r.ok ? 'ok' : r.error.kind;
    };
    assert.equal(kinds(1.5), 'not-encodable');
    assert.equal(kinds(Number.NaN), 'not-encodable');
    assert.equal(kinds(2 ** 53), 'not-encodable');
    assert.equal(kinds([null]), 'not-encodable');
    assert.equal(kinds([undefined]), 'not-encodable');
    assert.equal(kinds(new Set([1])), 'not-encodable');
    assert.equal(kinds(new Date()), 'not-encodable');
    assert.equal(kinds(true), 'not-encodable');
    let deep: BencodeInput = [];
    for (let i = 0; i < 40; i++) deep = [deep];
    assert.equal(kinds(deep), 'too-deep');
    const cyclic: unknown[] = [];
    cyclic.push(cyclic);
    assert.equal(kinds(cyclic), 'too-deep', 'a cycle ends at the depth bound');
    assert.equal(kinds('x'.repeat(20), { ...DEFAULT_BENCODE_LIMITS, maxLength: 10 }), 'too-long');
    assert.equal(kinds(Buffer.alloc(200_000)), 'too-long');
  });

  test('a large value grows the encoder past its first buffer and stays exact', () => {
    const big = 'x'.repeat(40_000);
    const r = encodeBencode({ sdp: big });
    assert.ok(r.ok);
    assert.equal(r.bytes.length, 'd3:sdp40000:e'.length + 40_000);
    assert.deepEqual(plain(decoded(r.bytes)), plain(new Map([['sdp', Buffer.from(big)]])));
  });
});

describe('bencode decoding', () => {
  test('each kind of value', () => {
    assert.equal(decoded('i0e'), 0);
    assert.equal(decoded('i-42e'), -42);
    assert.equal(decoded('i9007199254740991e'), Number.MAX_SAFE_INTEGER);
    assert.equal(decoded('i-9007199254740991e'), -Number.MAX_SAFE_INTEGER);
    assert.deepEqual(plain(decoded('4:spam')), { bytes: 'spam' });
    assert.deepEqual(plain(decoded('0:')), { bytes: '' });
    assert.deepEqual(plain(decoded('l4:spami42ee')), [{ bytes: 'spam' }, 42]);
    assert.deepEqual(plain(decoded('d3:cow3:moo4:spam4:eggse')), [['cow', { bytes: 'moo' }], ['spam', { bytes: 'eggs' }]]);
    assert.deepEqual(plain(decoded('de')), []);
  });

  test('byte strings are Buffers viewing the input; keys are UTF-8 text', () => {
    const input = latin1('d5:caf\xc3\xa93:\x00\xff\x80e');
    const v = decoded(input);
    assert.ok(v instanceof Map);
    const value = v.get('café');
    assert.ok(Buffer.isBuffer(value));
    assert.deepEqual([...value], [0, 0xff, 0x80]);
    assert.equal(value.buffer, input.buffer, 'no copy');
  });

  test('dictionaries in any key order are accepted (Kamailio and rtpengine do not sort)', () => {
    assert.deepEqual(plain(decoded('d7:command4:ping7:call-id1:xe')), plain(decoded('d7:call-id1:x7:command4:pinge')));
  });

  test('each kind of malformed input', () => {
    failsWith('', 'empty');
    for (const s of ['i12', 'i', '4:sp', '5:', 'l', 'li1e', 'd', 'd3:cow', 'd3:cow3:moo', '3']) failsWith(s, 'truncated');
    for (const s of ['x', 'e', ' i1e', 'lxe', 'd1:ax1:be', '-1']) failsWith(s, 'unexpected-byte');
    for (const s of ['ie', 'i-e', 'i01e', 'i-0e', 'i00e', 'i1x2e', 'i 1e', 'i+1e', 'i1.5e', 'i--1e']) failsWith(s, 'bad-integer');
    for (const s of ['i9007199254740992e', 'i-9007199254740992e', 'i12345678901234567e']) failsWith(s, 'integer-out-of-range');
    for (const s of ['01:a', '4x', '12345678901:a', '1-:a']) failsWith(s, 'bad-length');
    for (const s of ['di1ei2ee', 'dlei1ee', 'ddei1ee']) failsWith(s, 'bad-key');
    failsWith('d1:ai1e1:ai2ee', 'duplicate-key');
    failsWith('d1:ai1e1:bi1e1:ai2ee', 'duplicate-key');
    for (const s of ['i1ei2e', 'dex', '0:0:', 'lee']) failsWith(s, 'trailing-data');
  });

  test('errors say where decoding stopped', () => {
    const r = decodeBencode(latin1('d3:cowi01ee'));
    assert.ok(!r.ok);
    assert.equal(r.error.kind, 'bad-integer');
    assert.equal(r.error.offset, 6);
  });

  test('the bounds: depth, element count, length', () => {
    const nest = (n: number): string => 'l'.repeat(n) + 'e'.repeat(n);
    assert.ok(decodeBencode(latin1(nest(32))).ok, 'depth 32 is within the default');
    failsWith(nest(33), 'too-deep');
    failsWith(nest(30_000), 'too-deep');
    const limits = { maxDepth: 3, maxElements: 5, maxLength: 64 };
    assert.ok(decodeBencode(latin1('llli1eeee'), limits).ok, 'three lists deep');
    failsWith('lllli1eeeee', 'too-deep', limits);
    assert.ok(decodeBencode(latin1('li1ei2ei3ei4ee'), limits).ok, 'five values: the list and four integers');
    failsWith('li1ei2ei3ei4ei5ee', 'too-many-elements', limits);
    failsWith('d1:ai1e1:bi2e1:ci3ee', 'too-many-elements', limits);
    failsWith(`70:${'x'.repeat(70)}`, 'too-long', limits);
    failsWith(`l${'i0e'.repeat(20_000)}e`, 'too-many-elements');
  });
});

/** Byte strings, safe integers, lists and Maps with arbitrary keys: what the encoder takes and the decoder gives back. */
const value: fc.Arbitrary<BencodeInput> = fc.letrec<{ v: BencodeInput }>((tie) => ({
  v: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.maxSafeInteger(),
    fc.uint8Array({ maxLength: 40 }).map((a) => Buffer.from(a)),
    fc.string({ unit: 'grapheme', maxLength: 20 }),
    fc.array(tie('v'), { maxLength: 6 }),
    fc.uniqueArray(fc.tuple(fc.string({ unit: 'grapheme', maxLength: 8 }), tie('v')), { maxLength: 6, selector: ([k]) => k }).map((entries) => new Map(entries)),
  ),
})).v;

describe('bencode properties', () => {
  test('decode(encode(v)) is v', () => {
    fc.assert(fc.property(value, (v) => {
      const r = encodeBencode(v);
      assert.ok(r.ok);
      assert.deepEqual(plain(decoded(r.bytes)), expected(v));
    }), { numRuns: 500 });
  });

  test('encoding is canonical: encode(decode(encode(v))) is encode(v)', () => {
    fc.assert(fc.property(value, (v) => {
      const first = encodeBencode(v);
      assert.ok(first.ok);
      const again = encodeBencode(decoded(first.bytes));
      assert.ok(again.ok);
      assert.deepEqual(again.bytes, first.bytes);
    }), { numRuns: 300 });
  });

  const limits: BencodeLimits = { maxDepth: 6, maxElements: 50, maxLength: 4096 };

  function depthAndCount(v: BencodeValue): { depth: number; count: number } {
    if (typeof v === 'number' || Buffer.isBuffer(v)) return { depth: 0, count: 1 };
    const children = v instanceof Map ? [...v.values()] : [...(v as readonly BencodeValue[])];
    let depth = 0;
    let count = 1 + (v instanceof Map ? v.size : 0);
    for (const c of children) {
      const d = depthAndCount(c);
      depth = Math.max(depth, d.depth);
      count += d.count;
    }
    return { depth: depth + 1, count };
  }

  /** Decoding never throws; a success is within the bounds, a failure points inside the input. */
  function checkDecode(bytes: Buffer): void {
    const r = decodeBencode(bytes, limits);
    if (r.ok) {
      const { depth, count } = depthAndCount(r.value);
      assert.ok(depth <= limits.maxDepth, `depth ${depth}`);
      assert.ok(count <= limits.maxElements, `count ${count}`);
      const again = encodeBencode(r.value);
      assert.ok(again.ok, 'what decodes, encodes');
      assert.deepEqual(plain(decoded(again.bytes)), plain(r.value));
    } else {
      assert.ok(r.error.offset >= 0 && r.error.offset <= Math.max(bytes.length, limits.maxLength), `offset ${r.error.offset}`);
      assert.equal(typeof r.error.message, 'string');
    }
  }

  test('random bytes never throw and stay within the bounds', () => {
    const alphabet = fc.constantFrom(...'ilde0123456789:-x '.split('').map((c) => c.charCodeAt(0)));
    fc.assert(fc.property(fc.oneof(fc.uint8Array({ maxLength: 300 }), fc.array(alphabet, { maxLength: 300 }).map((a) => Uint8Array.from(a))), (a) => {
      checkDecode(Buffer.from(a));
    }), { numRuns: 3000 });
  });

  test('mutated encodings never throw and stay within the bounds', () => {
    const mutation = fc.tuple(fc.nat(), fc.constantFrom('flip', 'insert', 'delete', 'truncate', 'duplicate'), fc.integer({ min: 0, max: 255 }));
    fc.assert(fc.property(value, fc.array(mutation, { minLength: 1, maxLength: 4 }), (v, mutations) => {
      const r = encodeBencode(v);
      assert.ok(r.ok);
      let bytes = [...r.bytes];
      for (const [at, kind, byte] of mutations) {
        const i = bytes.length === 0 ? 0 : at % bytes.length;
        if (kind === 'flip') bytes[i] = byte;
        else if (kind === 'insert') bytes.splice(i, 0, byte);
        else if (kind === 'delete') bytes.splice(i, 1);
        else if (kind === 'truncate') bytes = bytes.slice(0, i);
        else bytes = [...bytes.slice(0, i), ...bytes.slice(0, i), ...bytes.slice(i)];
      }
      checkDecode(Buffer.from(bytes));
    }), { numRuns: 3000 });
  });

  test('the worst inputs of the largest size decode quickly', () => {
    const worst = [
      latin1('l'.repeat(65_535)),
      latin1(`l${'le'.repeat(32_766)}e`),
      latin1(`l${'i0e'.repeat(21_844)}e`),
      latin1(`d${'0:'.repeat(32_766)}e`),
      latin1(`${'9'.repeat(65_535)}`),
    ];
    for (const bytes of worst) {
      const start = performance.now();
      const r = decodeBencode(bytes);
      const ms = performance.now() - start;
      assert.ok(!r.ok || r.value !== undefined);
      assert.ok(ms < 250, `${ms.toFixed(1)} ms for ${bytes.subarray(0, 8).toString('latin1')}...`);
    }
  });
});
