import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { parseSip, type SipParseResult } from '../../core/dialects/sip/codec/parse.ts';
import { serializeSip } from '../../core/dialects/sip/codec/serialize.ts';
import {
  getHeader, getHeaders, prependHeader, removeHeader, setHeader, type SipHeader, type SipMessage,
} from '../../core/dialects/sip/codec/message.ts';
import { formatUri, parseNameAddr, parseUri } from '../../core/dialects/sip/codec/uri.ts';
import { parseVia } from '../../core/dialects/sip/codec/via.ts';
import { getParam } from '../../core/dialects/sip/codec/params.ts';
import { anyUri, message, type GenMessage } from './arbitraries.ts';

/** plain structure of a message, for comparisons */
function shape(m: SipMessage): unknown {
  return {
    start: m.type === 'request' ? [m.method, m.uri] : [m.status, m.reason],
    headers: m.headers.map((h) => [h.name, h.lname, h.value]),
    body: m.body.toString('hex'),
  };
}

function mustParse(b: Buffer, stream = false): { msg: SipMessage; consumed: number } {
  const r = parseSip(b, { stream });
  if (!r.ok) {
    throw new Error(`parse failed: ${r.error.code} (${r.error.reason})\n${JSON.stringify(b.toString('latin1'))}`);
  }
  return r;
}

function checkAgainstModel(msg: SipMessage, g: GenMessage): void {
  if (g.kind === 'request') {
    assert.ok(msg.type === 'request');
    assert.equal(msg.method, g.method);
    assert.equal(msg.uri, g.uri);
  } else {
    assert.ok(msg.type === 'response');
    assert.equal(msg.status, g.status);
    assert.equal(msg.reason, g.reason);
  }
  assert.deepEqual(msg.headers.map((h) => [h.name, h.lname, h.value]), g.headers.map((h) => [h.name, h.lname, h.value]));
  assert.ok(msg.body.equals(g.body));
  assert.equal(getHeader(msg, 'call-id'), g.callId);
  assert.equal(getHeader(msg, 'cseq'), `${g.cseq} ${g.method}`);
  const vias = getHeaders(msg, 'via').map((v) => parseVia(v));
  assert.deepEqual(vias.map((v) => [v?.host, v?.port, v?.branch, v?.transport]), g.vias.map((v) => [v.host, v.port, v.branch, v.transport]));
  assert.deepEqual(getHeaders(msg, 'route'), g.routes);
  const from = parseNameAddr(getHeader(msg, 'from') ?? '');
  assert.ok(from !== null, getHeader(msg, 'from'));
  assert.equal(getParam(from.params, 'tag'), g.fromTag);
  assert.ok(parseUri(from.uri) !== null);
}

test('property: valid messages parse to the generated structure and serialize back byte for byte', () => {
  fc.assert(fc.property(message(), (g) => {
    const { msg, consumed } = mustParse(g.bytes);
    assert.equal(consumed, g.bytes.length);
    checkAgainstModel(msg, g);
    const out = serializeSip(msg);
    assert.ok(out.equals(g.bytes), 'identity');
    // a re-parse of the re-serialized message gives an equal structure
    assert.deepEqual(shape(mustParse(out).msg), shape(msg));
  }), { numRuns: 1000 });
});

test('property: re-emitting every header canonically preserves the structure', () => {
  fc.assert(fc.property(message(), (g) => {
    const { msg } = mustParse(g.bytes);
    const before = shape(msg);
    for (const h of msg.headers) h.value = h.value; // marks each header modified
    const out = serializeSip(msg);
    const again = mustParse(out).msg;
    assert.deepEqual(shape(again), before);
  }), { numRuns: 500 });
});

type Op =
  | { op: 'set'; name: string; value: string }
  | { op: 'prepend'; name: string; value: string }
  | { op: 'remove'; name: string; which: 'first' | 'all' }
  | { op: 'body'; body: Uint8Array }
  | { op: 'uri'; uri: string };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({
    op: fc.constant('set' as const),
    name: fc.constantFrom('subject', 'X-Proxy', 'Call-ID', 'v', 'Contact', 'User-Agent'),
    value: fc.stringMatching(/^[a-zA-Z0-9;=.:<>@ ,"-]{1,20}$/).map((s) => s.trim() || 'x'),
  }),
  fc.record({ op: fc.constant('set' as const), name: fc.constant('Max-Forwards'), value: fc.integer({ min: 0, max: 255 }).map(String) }),
  fc.record({
    op: fc.constant('prepend' as const),
    name: fc.constantFrom('Via', 'Record-Route', 'route'),
    value: fc.constantFrom('SIP/2.0/UDP 198.51.100.1;branch=z9hG4bKp', '<sip:p.example.com;lr>'),
  }),
  fc.record({
    op: fc.constant('remove' as const),
    name: fc.constantFrom('route', 'subject', 'contact', 'max-forwards', 'x-proxy', 'allow', 'record-route'),
    which: fc.constantFrom('first' as const, 'all' as const),
  }),
  fc.record({ op: fc.constant('body' as const), body: fc.uint8Array({ maxLength: 200 }) }),
  fc.record({ op: fc.constant('uri' as const), uri: anyUri }),
);

test('property: after API edits, serialization reflects exactly the in-memory message', () => {
  fc.assert(fc.property(message(), fc.array(opArb, { minLength: 1, maxLength: 6 }), (g, ops) => {
    const { msg } = mustParse(g.bytes);
    let bodyChanged = false;
    for (const o of ops) {
      if (o.op === 'set') setHeader(msg, o.name, o.value);
      else if (o.op === 'prepend') prependHeader(msg, o.name, o.value);
      else if (o.op === 'remove') removeHeader(msg, o.name, o.which);
      else if (o.op === 'body') { msg.body = Buffer.from(o.body); bodyChanged = true; }
      else if (msg.type === 'request') msg.uri = o.uri;
    }
    const out = serializeSip(msg);
    const again = mustParse(out).msg;
    const keep = (h: SipHeader): boolean => !(bodyChanged && h.lname === 'content-length');
    assert.deepEqual(again.headers.filter(keep).map((h) => [h.name, h.lname, h.value]), msg.headers.filter(keep).map((h) => [h.name, h.lname, h.value]));
    assert.ok(again.body.equals(msg.body));
    if (bodyChanged) {
      assert.equal(getHeader(again, 'content-length'), String(msg.body.length));
      assert.ok(mustParse(out, true).msg.body.equals(msg.body), 'stream framing');
    }
    if (msg.type === 'request') assert.ok(again.type === 'request' && again.uri === msg.uri && again.method === msg.method);
    else assert.ok(again.type === 'response' && again.status === msg.status && again.reason === msg.reason);
  }), { numRuns: 500 });
});

test('property: stream mode frames pipelined messages and reports incomplete prefixes', () => {
  fc.assert(fc.property(fc.array(message({ contentLength: 'always' }), { minLength: 1, maxLength: 3 }), fc.nat(), (msgs, cutSeed) => {
    const all = Buffer.concat(msgs.map((m) => m.bytes));
    let off = 0;
    for (const g of msgs) {
      const r = parseSip(all.subarray(off), { stream: true });
      assert.ok(r.ok, r.ok ? '' : r.error.code);
      assert.equal(r.consumed, g.bytes.length);
      assert.ok(serializeSip(r.msg).equals(g.bytes));
      off += r.consumed;
    }
    const first = msgs[0] as GenMessage;
    const cut = cutSeed % first.bytes.length;
    const partial = parseSip(first.bytes.subarray(0, cut), { stream: true });
    assert.ok(!partial.ok);
    assert.equal(partial.error.code, 'incomplete');
  }), { numRuns: 300 });
});

test('property: formatUri(parseUri(s)) === s for generated SIP/SIPS/tel URIs', () => {
  fc.assert(fc.property(anyUri, (s) => {
    const u = parseUri(s);
    assert.ok(u !== null, s);
    assert.equal(formatUri(u), s);
  }), { numRuns: 1000 });
});

// ---------------------------------------------------------------------------
// robustness: parseSip never throws, whatever the input

function exercise(r: SipParseResult, input: Buffer): void {
  if (!r.ok) {
    assert.equal(typeof r.error.code, 'string');
    assert.match(r.error.reason, /^[\x20-\x7e]+$/);
    assert.equal(typeof r.error.canReply, 'boolean');
    if (r.error.canReply) {
      assert.ok(r.error.msg !== undefined);
      for (const h of r.error.msg.headers) void h.value;
    }
    return;
  }
  assert.ok(r.consumed > 0 && r.consumed <= input.length);
  for (const h of r.msg.headers) getHeaders(r.msg, h.lname);
  const wire = r.msg.wire;
  assert.ok(wire !== undefined);
  assert.ok(serializeSip(r.msg).equals(wire.raw));
  if (r.msg.type === 'request') {
    const u = parseUri(r.msg.uri);
    assert.ok(u !== null);
    assert.equal(formatUri(u), r.msg.uri);
  }
  for (const v of getHeaders(r.msg, 'via')) parseVia(v);
  for (const n of ['from', 'to', 'contact', 'route']) for (const v of getHeaders(r.msg, n)) parseNameAddr(v);
}

test('property: arbitrary bytes never make parseSip throw', () => {
  fc.assert(fc.property(fc.uint8Array({ maxLength: 4000 }), fc.boolean(), (bytes, stream) => {
    const b = Buffer.from(bytes);
    exercise(parseSip(b, { stream }), b);
  }), { numRuns: 2000 });
});

const SIPPISH = ['INVITE ', 'SIP/2.0', ' ', 'sip:', 'a@b', '[::1]', ':5060', ';lr', '\r\n', '\r', '\n', ': ', 'Via', 'v', 'CSeq: 1 INVITE',
  'Content-Length: ', 'l:', '0', '99', 'Call-ID: x', 'From: <sip:a@b>;tag=1', 'To: <sip:c@d>', '\r\n\r\n', '\t', ',', '"', '<', '>',
  'SIP/2.0 200 OK', 'Max-Forwards: 70', '\x00', '\xff'];

test('property: SIP-looking token soup never makes parseSip throw', () => {
  fc.assert(fc.property(fc.array(fc.constantFrom(...SIPPISH), { maxLength: 80 }), fc.boolean(), (parts, stream) => {
    const b = Buffer.from(parts.join(''), 'latin1');
    exercise(parseSip(b, { stream }), b);
  }), { numRuns: 2000 });
});

type Mutation = { kind: 'truncate'; at: number } | { kind: 'flip'; at: number; byte: number } | { kind: 'insert'; at: number; byte: number } | { kind: 'delete'; at: number };
const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), byte: fc.integer({ min: 0, max: 255 }) }),
  fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), byte: fc.constantFrom(13, 10, 0, 32, 9, 58, 44, 0x22, 0x3c, 0xff) }),
  fc.record({ kind: fc.constant('delete' as const), at: fc.nat() }),
);

function mutate(b: Buffer, ms: Mutation[]): Buffer {
  let out = Buffer.from(b);
  for (const m of ms) {
    if (out.length === 0) break;
    const at = m.at % out.length;
    if (m.kind === 'truncate') out = out.subarray(0, at);
    else if (m.kind === 'flip') out[at] = m.byte;
    else if (m.kind === 'insert') out = Buffer.concat([out.subarray(0, at), Buffer.from([m.byte]), out.subarray(at)]);
    else out = Buffer.concat([out.subarray(0, at), out.subarray(at + 1)]);
  }
  return out;
}

test('property: mutated valid messages (truncation, byte flips, inserted CR/LF) never make parseSip throw', () => {
  fc.assert(fc.property(message(), fc.array(mutation, { minLength: 1, maxLength: 4 }), fc.boolean(), (g, ms, stream) => {
    const b = mutate(g.bytes, ms);
    exercise(parseSip(b, { stream }), b);
  }), { numRuns: 2000 });
});

test('property: a bare CR or LF inserted into a header value is always rejected', () => {
  fc.assert(fc.property(message(), fc.nat(), fc.constantFrom(13, 10), (g, seed, byte) => {
    // pick a header whose value is non-empty and insert inside the value (after the first value byte)
    const text = g.bytes.toString('latin1');
    const headEnd = text.indexOf('\r\n\r\n');
    const lineStarts: number[] = [];
    for (let i = text.indexOf('\r\n') + 2; i < headEnd; i = text.indexOf('\r\n', i) + 2) {
      const c = text[i];
      if (c !== ' ' && c !== '\t') lineStarts.push(i);
    }
    const start = lineStarts[seed % lineStarts.length] as number;
    const colon = text.indexOf(':', start);
    let v = colon + 1;
    for (;;) {
      while (text[v] === ' ' || text[v] === '\t') v++;
      if (text.startsWith('\r\n', v) && (text[v + 2] === ' ' || text[v + 2] === '\t')) { v += 3; continue; }
      break;
    }
    if (v >= headEnd || text[v] === '\r') return; // empty value
    const at = v + 1;
    if (text[at] === '\r' || text[at] === '\n') return; // would form a line end
    if (byte === 13 && text[at] === '\n') return;
    const b = Buffer.concat([g.bytes.subarray(0, at), Buffer.from([byte]), g.bytes.subarray(at)]);
    const r = parseSip(b);
    assert.ok(!r.ok);
    assert.equal(r.error.code, byte === 13 ? 'bare-cr' : 'bare-lf');
  }), { numRuns: 500 });
});
