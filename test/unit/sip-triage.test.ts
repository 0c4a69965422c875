/**
 * The SIP first look (core/dialects/sip/triage.ts): what it tells apart, the server transaction
 * key it computes (it must be the full path's, or a retransmission of a call in progress would
 * be refused), and the 503 it builds from the bytes, held against the response the full path
 * builds for the same request; the ACK of such a refusal is absorbed, any other request naming
 * it answered 481.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import type { Endpoint } from '../../core/lib/address.ts';
import type { Request } from '../../core/model/message.ts';
import { createSipDialect } from '../../core/dialects/sip/dialect.ts';
import { parseSip } from '../../core/dialects/sip/codec/parse.ts';
import { getHeader, getHeaders, type SipResponse } from '../../core/dialects/sip/codec/message.ts';
import { buildResponse } from '../../core/dialects/sip/messages.ts';
import { serverKey } from '../../core/dialects/sip/server-transactions.ts';
import { SipTriage } from '../../core/dialects/sip/triage.ts';
import { sipRequest } from '../../core/dialects/sip/wire.ts';
import type { NewWorkLook } from '../../core/kernel/triage.ts';

const SOURCE: Endpoint = { address: '::ffff:192.0.2.7', port: 61000 };

function lines(...l: string[]): Buffer {
  return Buffer.from(`${l.join('\r\n')}\r\n\r\n`, 'latin1');
}

function invite(o: { to?: string; via?: string[]; method?: string; extra?: string[] } = {}): Buffer {
  const method = o.method ?? 'INVITE';
  return lines(
    `${method} sip:bob@192.0.2.1 SIP/2.0`,
    ...(o.via ?? ['Via: SIP/2.0/UDP 192.0.2.7:61000;branch=z9hG4bK-tri-1;rport']),
    'Max-Forwards: 70',
    `To: ${o.to ?? '<sip:bob@192.0.2.1>'}`,
    'From: "Alice" <sip:alice@192.0.2.7>;tag=a1',
    'Call-ID: tri-1@192.0.2.7',
    `CSeq: 1 ${method}`,
    ...(o.extra ?? []),
    'Content-Length: 0',
  );
}

/** The request as the full path sees it (parsed, its top Via stamped). */
function fullPath(buf: Buffer, source = SOURCE): Request {
  const r = createSipDialect().parse(buf, { listener: 'sip', source });
  assert.ok(r.ok && r.msg.type === 'request', r.ok ? 'not a request' : r.reason);
  return r.msg;
}

function keysSeen(buf: Buffer, source = SOURCE): string[] {
  const keys: string[] = [];
  const triage = new SipTriage((k) => { keys.push(k); return false; });
  const look = triage.look(buf, source);
  assert.equal(look.kind, 'new');
  triage.isRepeat(look as NewWorkLook, buf);
  return keys;
}

function refusalOf(buf: Buffer, source = SOURCE): SipResponse {
  const triage = new SipTriage(() => false);
  const look = triage.look(buf, source);
  assert.equal(look.kind, 'new');
  const bytes = triage.refusal(look as NewWorkLook, buf, source, 7);
  assert.ok(bytes !== null, 'the glance can answer this one');
  const parsed = parseSip(bytes);
  assert.ok(parsed.ok, `the refusal parses: ${bytes.toString('latin1')}`);
  assert.equal(parsed.consumed, bytes.length, 'nothing after the message');
  assert.equal(parsed.msg.type, 'response');
  return parsed.msg as SipResponse;
}

/** Holds a refusal against the 503 the full path builds for the same request. */
function sameAsFullPath(refusal: SipResponse, buf: Buffer, source = SOURCE): void {
  const req = fullPath(buf, source);
  const full = buildResponse(sipRequest(req), 503, 'Service Unavailable', 'x', { retryAfterSec: 7 });
  assert.equal(refusal.status, 503);
  assert.deepEqual(getHeaders(refusal, 'via'), getHeaders(full, 'via'));
  for (const h of ['from', 'call-id', 'cseq']) assert.equal(getHeader(refusal, h), getHeader(full, h), h);
  const to = getHeader(refusal, 'to')!;
  assert.ok(to.startsWith(getHeader(sipRequest(req), 'to')!), to);
  assert.match(to, /;tag=sl[\w-]+\.[0-9a-f]{8}$/);
  assert.equal(getHeader(refusal, 'retry-after'), '7');
  assert.equal(getHeader(refusal, 'content-length'), '0');
}

describe('SipTriage.look', () => {
  const t = new SipTriage(() => false);
  const kind = (buf: Buffer): string => {
    const l = t.look(buf, SOURCE);
    return l.kind === 'new' ? `new ${l.work}` : l.kind;
  };

  test('new INVITE, REGISTER and other out-of-dialog requests are new work; the rest has priority', () => {
    assert.equal(kind(invite()), 'new call');
    assert.equal(kind(invite({ method: 'REGISTER' })), 'new register');
    assert.equal(kind(invite({ method: 'OPTIONS' })), 'new other');
    assert.equal(kind(invite({ to: '<sip:bob@192.0.2.1>;tag=b9' })), 'priority', 'a re-INVITE belongs to its dialog');
    assert.equal(kind(invite({ to: '<sip:bob@192.0.2.1> ; TAG = b9' })), 'priority', 'tag spelt with LWS and capitals');
    assert.equal(kind(invite({ to: '<sip:bob@192.0.2.1;tag=inside-the-uri>' })), 'new call', 'a tag inside the URI is no To tag');
    for (const m of ['ACK', 'BYE', 'CANCEL']) assert.equal(kind(invite({ method: m })), 'priority', m);
    assert.equal(kind(lines('SIP/2.0 180 Ringing', 'Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK1')), 'priority');
    assert.equal(kind(Buffer.from('\r\n\r\n')), 'priority', 'a keep-alive goes to the parser');
    assert.equal(kind(Buffer.from('garbage that is not sip at all\r\n\r\n')), 'priority');
  });

  test('compact header names and any case are read as the parser reads them', () => {
    const buf = lines('INVITE sip:bob@192.0.2.1 SIP/2.0', 'v: SIP/2.0/UDP 192.0.2.7:61000;branch=z9hG4bK-c1', 't: <sip:bob@192.0.2.1>;tag=x', 'f: <sip:a@b>;tag=1', 'i: c1', 'CSEQ: 1 INVITE');
    assert.equal(kind(buf), 'priority');
    const fresh = lines('INVITE sip:bob@192.0.2.1 SIP/2.0', 'v: SIP/2.0/UDP 192.0.2.7:61000;branch=z9hG4bK-c1', 'T: <sip:bob@192.0.2.1>', 'F: <sip:a@b>;tag=1', 'I: c1', 'CSEQ: 1 INVITE');
    assert.equal(kind(fresh), 'new call');
    sameAsFullPath(refusalOf(fresh), fresh);
  });
});

describe('SipTriage.refusal', () => {
  test('a 503 from the bytes carries what the full path would put in it, and Retry-After', () => {
    const buf = invite();
    sameAsFullPath(refusalOf(buf), buf);
  });

  test('every Via is kept in order; the top one is stamped (rport, received) as the full path stamps it', () => {
    const buf = invite({ via: ['Via: SIP/2.0/UDP 10.0.0.9:5070;branch=z9hG4bK-top;rport, SIP/2.0/TCP 10.0.0.8;branch=z9hG4bK-mid', 'Via: SIP/2.0/UDP [2001:db8::5]:5060;branch=z9hG4bK-low'] });
    const r = refusalOf(buf);
    assert.deepEqual(getHeaders(r, 'via'), [
      'SIP/2.0/UDP 10.0.0.9:5070;branch=z9hG4bK-top;rport=61000;received=192.0.2.7', 'SIP/2.0/TCP 10.0.0.8;branch=z9hG4bK-mid', 'SIP/2.0/UDP [2001:db8::5]:5060;branch=z9hG4bK-low',
    ]);
    sameAsFullPath(r, buf);
    const plain = invite({ via: ['Via: SIP/2.0/UDP 192.0.2.7:61000;branch=z9hG4bK-nr'] });
    assert.equal(getHeaders(refusalOf(plain), 'via')[0], 'SIP/2.0/UDP 192.0.2.7:61000;branch=z9hG4bK-nr', 'sent-by is the source: nothing added');
    sameAsFullPath(refusalOf(plain), plain);
  });

  test('what the glance is not sure of is left to the full path', () => {
    const t = new SipTriage(() => false);
    const folded = lines('INVITE sip:bob@192.0.2.1 SIP/2.0', 'Via: SIP/2.0/UDP 192.0.2.7;branch=z9hG4bK-f', 'To: <sip:bob@192.0.2.1>', 'From: <sip:a@b>;tag=1', ' ;x=y', 'Call-ID: f', 'CSeq: 1 INVITE');
    const noCallId = lines('INVITE sip:bob@192.0.2.1 SIP/2.0', 'Via: SIP/2.0/UDP 192.0.2.7;branch=z9hG4bK-f', 'To: <sip:bob@192.0.2.1>', 'From: <sip:a@b>;tag=1', 'CSeq: 1 INVITE');
    const oddVia = invite({ via: ['Via: SIP / 2.0 / UDP 192.0.2.7;branch=z9hG4bK-odd'] });
    for (const buf of [folded, noCallId, oddVia]) {
      const look = t.look(buf, SOURCE);
      assert.equal(look.kind, 'new');
      assert.equal(t.refusal(look as NewWorkLook, buf, SOURCE, 5), null);
    }
  });

  test('the ACK of a refusal is absorbed; another request naming it gets 481; a stranger\'s tag is not ours', () => {
    const t = new SipTriage(() => false);
    const tag = /;tag=([^\s;]+)$/.exec(getHeader(refusalOf(invite()), 'to')!)![1]!;
    assert.equal(t.look(invite({ method: 'ACK', to: `<sip:bob@192.0.2.1>;tag=${tag}` }), SOURCE).kind, 'absorb');
    const bye = t.look(invite({ method: 'BYE', to: `<sip:bob@192.0.2.1>;tag=${tag}` }), SOURCE);
    assert.equal(bye.kind, 'absorb');
    const answer = (bye as { answer?: Buffer }).answer;
    assert.ok(answer !== undefined);
    assert.match(answer.toString('latin1'), /^SIP\/2\.0 481 /);
    assert.doesNotMatch(answer.toString('latin1'), /Retry-After/);
    assert.equal(t.look(invite({ method: 'ACK', to: '<sip:bob@192.0.2.1>;tag=slsomebodyelse.1' }), SOURCE).kind, 'priority');
  });
});

describe('SipTriage.wasRefused', () => {
  test('a retransmission of a refused request is known as refused; another branch, or a REGISTER on the same branch, is not', () => {
    const t = new SipTriage(() => false);
    const first = invite();
    const lookOf = (buf: Buffer): NewWorkLook => t.look(buf, SOURCE) as NewWorkLook;
    assert.equal(t.wasRefused(lookOf(first), first), false, 'nothing refused yet');
    assert.ok(t.refusal(lookOf(first), first, SOURCE, 5) !== null);
    const repeat = invite();
    assert.equal(t.wasRefused(lookOf(repeat), repeat), true);
    const other = invite({ via: ['Via: SIP/2.0/UDP 192.0.2.7:61000;branch=z9hG4bK-tri-2;rport'] });
    assert.equal(t.wasRefused(lookOf(other), other), false);
    const register = invite({ method: 'REGISTER' });
    assert.equal(t.wasRefused(lookOf(register), register), false);
  });

  test('what it remembers is bounded: the oldest refusals are forgotten after tens of thousands of others', () => {
    const t = new SipTriage(() => false);
    const refuse = (n: number): Buffer => {
      const buf = invite({ via: [`Via: SIP/2.0/UDP 192.0.2.7:61000;branch=z9hG4bK-flood-${n}`] });
      t.refusal(t.look(buf, SOURCE) as NewWorkLook, buf, SOURCE, 5);
      return buf;
    };
    const first = refuse(0);
    for (let n = 1; n <= 40_000; n++) refuse(n);
    const latest = invite({ via: ['Via: SIP/2.0/UDP 192.0.2.7:61000;branch=z9hG4bK-flood-40000'] });
    assert.equal(t.wasRefused(t.look(latest, SOURCE) as NewWorkLook, latest), true);
    for (let n = 40_001; n <= 70_000; n++) refuse(n);
    assert.equal(t.wasRefused(t.look(first, SOURCE) as NewWorkLook, first), false);
  });
});

describe('SipTriage.isRepeat', () => {
  test('the key it asks about is the server transaction key of the full path', () => {
    const buf = invite({ via: ['Via: SIP/2.0/UDP [2001:db8::7];branch=z9hG4bK-v6;rport'] });
    assert.deepEqual(keysSeen(buf), [serverKey(fullPath(buf))]);
  });

  test('a branch without the RFC 3261 cookie counts as a repeat: only the full path can key it', () => {
    const t = new SipTriage(() => false);
    const buf = invite({ via: ['Via: SIP/2.0/UDP 192.0.2.7:5060;branch=old2543'] });
    assert.equal(t.isRepeat(t.look(buf, SOURCE) as NewWorkLook, buf), true);
  });

  test('property: for generated requests the key and the 503 agree with the full path', () => {
    const token = fc.stringMatching(/^[A-Za-z0-9.!%*_+`'~-]{1,12}$/);
    const host = fc.oneof(fc.ipV4(), fc.ipV6().map((a) => `[${a}]`), fc.domain());
    const viaName = fc.constantFrom('Via', 'via', 'VIA', 'v', 'V');
    const gen = fc.record({
      method: fc.constantFrom('INVITE', 'REGISTER', 'OPTIONS', 'SUBSCRIBE'),
      host,
      port: fc.option(fc.integer({ min: 1, max: 65535 }), { nil: undefined }),
      branch: token,
      rport: fc.boolean(),
      params: fc.array(fc.tuple(fc.constantFrom('x', 'maddr', 'ttl', 'alias'), token), { maxLength: 2 }),
      lower: fc.array(fc.tuple(fc.ipV4(), token), { maxLength: 2 }),
      viaName,
      display: fc.constantFrom('', '"Bob" ', 'Bob '),
      callId: token,
      source: fc.oneof(fc.ipV4().map((a) => `::ffff:${a}`), fc.ipV6()),
      sourcePort: fc.integer({ min: 1, max: 65535 }),
    });
    fc.assert(fc.property(gen, (g) => {
      const top = `SIP/2.0/UDP ${g.host}${g.port === undefined ? '' : `:${g.port}`};branch=z9hG4bK${g.branch}${g.rport ? ';rport' : ''}${g.params.map(([n, v]) => `;${n}=${v}`).join('')}`;
      const buf = lines(
        `${g.method} sip:bob@example.com SIP/2.0`,
        `${g.viaName}: ${top}`,
        ...g.lower.map(([h, b]) => `Via: SIP/2.0/UDP ${h};branch=z9hG4bK${b}`),
        `To: ${g.display}<sip:bob@example.com>`,
        'From: <sip:alice@example.com>;tag=f1',
        `Call-ID: ${g.callId}`,
        `CSeq: 4 ${g.method}`,
        'Content-Length: 0',
      );
      const source = { address: g.source, port: g.sourcePort };
      assert.deepEqual(keysSeen(buf, source), [serverKey(fullPath(buf, source))]);
      sameAsFullPath(refusalOf(buf, source), buf, source);
    }), { numRuns: 300 });
  });
});
