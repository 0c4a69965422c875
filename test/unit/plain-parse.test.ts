import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import type { Reply, Request } from '../../core/model/message.ts';
import { composeAckCall, composeBye, composeCallFailed, composeError, plainReasonText } from '../../core/dialects/plain/compose.ts';
import { createPlainDialect } from '../../core/dialects/plain/dialect.ts';
import { MAX_PLAIN_MESSAGE, plainCallId, type Terminator } from '../../core/dialects/plain/grammar.ts';
import { failureStatusFor, parsePlain, type PlainParseResult } from '../../core/dialects/plain/parse.ts';
import type { PlainWire } from '../../core/dialects/plain/wire.ts';
import { ALICE_ADDR, inbound } from './_unit-fixtures.ts';

const TERMINATORS: readonly Terminator[] = ['', '\n', '\r\n'];

function parse(text: string | Buffer): PlainParseResult {
  return parsePlain(typeof text === 'string' ? Buffer.from(text, 'latin1') : text, inbound());
}

function ok(text: string | Buffer): Request | Reply {
  const r = parse(text);
  assert.ok(r.ok, `expected ${JSON.stringify(String(text))} to parse; got: ${r.ok ? '' : r.reason}`);
  return r.msg;
}

function bad(text: string | Buffer): { reason: string; terminator: Terminator } {
  let r: PlainParseResult | undefined;
  assert.doesNotThrow(() => { r = parse(text); });
  assert.ok(r !== undefined);
  assert.equal(r.ok, false, `expected ${JSON.stringify(String(text).slice(0, 80))} to be rejected`);
  if (r.ok) throw new Error('unreachable');
  assert.equal(typeof r.reason, 'string');
  assert.ok(r.reason.length > 0, 'a rejection carries a reason');
  assert.ok(r.reason.length <= 80, `reason should be short, got ${r.reason.length} chars: ${r.reason}`);
  return { reason: r.reason, terminator: r.terminator };
}

function wireOf(m: Request | Reply): PlainWire {
  return m.wire as PlainWire;
}

describe('parsePlain: the messages of the spec', () => {
  test('REGISTER <user> is a REGISTER request from and to the user', () => {
    const buf = Buffer.from('REGISTER alice\n');
    const r = parsePlain(buf, inbound(ALICE_ADDR, 'plain:1'));
    assert.ok(r.ok);
    const m = r.msg;
    assert.equal(m.type, 'request');
    if (m.type !== 'request') return;
    assert.equal(m.dialect, 'plain');
    assert.equal(m.method, 'REGISTER');
    assert.equal(m.inDialog, false);
    assert.equal(m.from.user, 'alice');
    assert.equal(m.to.user, 'alice');
    assert.equal(m.callId, 'plain-reg:alice');
    assert.equal(m.listener, 'plain:1');
    assert.deepEqual(m.source, ALICE_ADDR);
    assert.equal(m.raw, buf, 'raw is the datagram as received');
    assert.deepEqual(wireOf(m), { keyword: 'REGISTER', terminator: '\n', sender: 'alice', addressee: 'alice' });
  });

  test('CALL FROM:<caller> TO:<callee> is an INVITE outside a dialog', () => {
    const m = ok('CALL FROM:alice TO:bob');
    assert.equal(m.type, 'request');
    if (m.type !== 'request') return;
    assert.equal(m.method, 'INVITE');
    assert.equal(m.inDialog, false);
    assert.equal(m.from.user, 'alice');
    assert.equal(m.to.user, 'bob');
    assert.equal(m.callId, plainCallId('alice', 'bob'));
    assert.deepEqual(wireOf(m), { keyword: 'CALL', terminator: '', sender: 'alice', addressee: 'bob' });
  });

  test('the call id is the same whoever calls and for every message of the call', () => {
    const ids = [
      ok('CALL FROM:alice TO:bob').callId,
      ok('CALL FROM:bob TO:alice').callId,
      ok('ACK_CALL FROM:bob TO:alice').callId,
      ok('CALL_FAILED FROM:bob TO:alice busy').callId,
      ok('BYE FROM:bob TO:alice').callId,
      ok('BYE FROM:alice TO:bob').callId,
    ];
    assert.equal(new Set(ids).size, 1, `call ids differ: ${ids.join(', ')}`);
    assert.notEqual(ok('CALL FROM:alice TO:carol').callId, ids[0]);
  });

  test('ACK_CALL FROM:<callee> TO:<caller> is a 200 reply to the INVITE, From/To naming caller/callee', () => {
    const m = ok('ACK_CALL FROM:bob TO:alice\r\n');
    assert.equal(m.type, 'reply');
    if (m.type !== 'reply') return;
    assert.equal(m.status, 200);
    assert.equal(m.reason, 'OK');
    assert.equal(m.method, 'INVITE');
    assert.equal(m.from.user, 'alice', 'From is the caller of the call');
    assert.equal(m.to.user, 'bob', 'To is the callee of the call');
    assert.deepEqual(wireOf(m), { keyword: 'ACK_CALL', terminator: '\r\n', sender: 'bob', addressee: 'alice' });
  });

  test('CALL_FAILED FROM:<callee> TO:<caller> <reason> is a failure reply with a status from its reason', () => {
    const cases: [string, number][] = [
      ['busy', 486], ['no answer', 408], ['declined', 603], ['rejected', 603], ['not found', 404],
      ['unavailable', 480], ['Busy', 486], ['gone fishing', 480],
    ];
    for (const [reason, status] of cases) {
      const m = ok(`CALL_FAILED FROM:bob TO:alice ${reason}\n`);
      assert.equal(m.type, 'reply');
      if (m.type !== 'reply') return;
      assert.equal(m.status, status, `status for reason "${reason}"`);
      assert.equal(m.reason, reason);
      assert.equal(m.from.user, 'alice');
      assert.equal(m.to.user, 'bob');
      assert.equal(wireOf(m).keyword, 'CALL_FAILED');
      assert.equal(failureStatusFor(reason), status);
    }
  });

  test('the CALL_FAILED reason is kept verbatim, inner runs of spaces included', () => {
    const m = ok('CALL_FAILED  FROM:bob   TO:alice   I am   out  of   office\r\n');
    assert.equal(m.type, 'reply');
    if (m.type !== 'reply') return;
    assert.equal(m.reason, 'I am   out  of   office');
    assert.equal(m.status, 480);
    assert.equal(wireOf(m).terminator, '\r\n');
  });

  test('BYE FROM:<a> TO:<b> is an in-dialog BYE, from either party', () => {
    for (const [a, b] of [['alice', 'bob'], ['bob', 'alice']] as const) {
      const m = ok(`BYE FROM:${a} TO:${b}\n`);
      assert.equal(m.type, 'request');
      if (m.type !== 'request') return;
      assert.equal(m.method, 'BYE');
      assert.equal(m.inDialog, true);
      assert.equal(m.from.user, a);
      assert.equal(m.to.user, b);
      assert.deepEqual(wireOf(m), { keyword: 'BYE', terminator: '\n', sender: a, addressee: b });
    }
  });

  test('messages the proxy sends are refused when sent to it', () => {
    for (const text of ['ACK_REGISTER alice', 'MEDIA_PORT FROM:alice TO:bob 5000', 'ERROR something']) {
      const { reason } = bad(text);
      assert.match(reason, /sent by the proxy/);
    }
  });

  test('an unknown keyword is refused', () => {
    assert.equal(bad('HELLO alice').reason, 'unknown message');
    assert.equal(bad('INVITE FROM:alice TO:bob').reason, 'unknown message');
  });
});

describe('parsePlain: terminators', () => {
  for (const t of TERMINATORS) {
    test(`terminator ${JSON.stringify(t)} is stripped and kept in wire.terminator`, () => {
      const msgs = ['REGISTER alice', 'CALL FROM:alice TO:bob', 'ACK_CALL FROM:bob TO:alice', 'CALL_FAILED FROM:bob TO:alice busy', 'BYE FROM:alice TO:bob'];
      for (const text of msgs) {
        const m = ok(text + t);
        assert.equal(wireOf(m).terminator, t, text);
        assert.equal(m.raw.toString('latin1'), text + t, 'raw keeps the terminator');
      }
      // The user before the terminator does not include it.
      const reg = ok(`REGISTER alice${t}`);
      assert.equal(reg.from.user, 'alice');
      const failed = ok(`CALL_FAILED FROM:bob TO:alice no answer${t}`);
      assert.equal(failed.type === 'reply' ? failed.reason : null, 'no answer');
    });

    test(`a rejected message with terminator ${JSON.stringify(t)} reports it`, () => {
      assert.equal(bad(`register alice${t}`).terminator, t);
      assert.equal(bad(`CALL FROM:alice${t}`).terminator, t);
    });
  }

  test('a bare CR, a CR inside the line, or two newlines are not terminators', () => {
    bad('REGISTER alice\r');
    bad('REGISTER\ralice');
    bad('REGISTER alice\n\n');
    bad('REGISTER alice\n\r\n');
    bad('REGISTER alice\r\n\n');
  });

  test('a lone terminator is an empty message', () => {
    assert.equal(bad('\n').reason, 'empty message');
    assert.deepEqual(bad('\r\n'), { reason: 'empty message', terminator: '\r\n' });
    assert.equal(bad('   \n').reason, 'empty message');
  });
});

describe('parsePlain: fields and keywords', () => {
  test('fields may be separated by several spaces', () => {
    assert.equal(ok('REGISTER     alice').from.user, 'alice');
    const call = ok('CALL   FROM:alice      TO:bob\n');
    assert.equal(call.from.user, 'alice');
    assert.equal(call.to.user, 'bob');
    assert.equal(ok('ACK_CALL  FROM:bob  TO:alice').type, 'reply');
    assert.equal(ok('BYE FROM:alice     TO:bob\r\n').type, 'request');
  });

  test('keywords are case-sensitive', () => {
    for (const text of ['register alice', 'Register alice', 'REGISTEr alice', 'call FROM:alice TO:bob', 'Call FROM:alice TO:bob', 'ack_call FROM:bob TO:alice', 'bye FROM:alice TO:bob', 'call_failed FROM:bob TO:alice busy']) {
      bad(text);
    }
  });

  test('FROM: and TO: are case-sensitive and in that order', () => {
    bad('CALL from:alice TO:bob');
    bad('CALL FROM:alice to:bob');
    bad('CALL TO:bob FROM:alice');
    bad('CALL From:alice To:bob');
    bad('CALL FROM: alice TO:bob');
    bad('CALL FROM:alice TO: bob');
  });

  test('wrong numbers of fields are refused', () => {
    assert.match(bad('REGISTER').reason, /usage: REGISTER/);
    assert.match(bad('REGISTER alice bob').reason, /usage: REGISTER/);
    assert.match(bad('CALL FROM:alice').reason, /usage: CALL/);
    assert.match(bad('CALL').reason, /usage: CALL/);
    assert.match(bad('CALL FROM:alice TO:bob now').reason, /usage: CALL/);
    assert.match(bad('ACK_CALL FROM:bob TO:alice extra').reason, /usage: ACK_CALL/);
    assert.match(bad('BYE FROM:alice TO:bob please').reason, /usage: BYE/);
    assert.match(bad('BYE FROM:alice').reason, /usage: BYE/);
    assert.match(bad('CALL_FAILED FROM:bob').reason, /usage: CALL_FAILED/);
  });
});

describe('parsePlain: user ids', () => {
  test('a 64-character user id is accepted, 65 is not', () => {
    const u64 = 'a'.repeat(63) + 'Z';
    assert.equal(ok(`REGISTER ${u64}`).from.user, u64);
    assert.equal(ok(`CALL FROM:${u64} TO:bob`).from.user, u64);
    assert.equal(ok(`CALL FROM:alice TO:${u64}`).to.user, u64);
    const u65 = 'a'.repeat(65);
    assert.equal(bad(`REGISTER ${u65}`).reason, 'invalid user id');
    assert.equal(bad(`CALL FROM:${u65} TO:bob`).reason, 'invalid user id');
    assert.equal(bad(`CALL FROM:alice TO:${u65}`).reason, 'invalid user id');
    assert.equal(bad(`BYE FROM:alice TO:${u65}`).reason, 'invalid user id');
    assert.equal(bad(`ACK_CALL FROM:${u65} TO:alice`).reason, 'invalid user id');
  });

  test('letters and digits only: one character, digits, mixed case are fine', () => {
    for (const u of ['a', '7', 'Alice42', 'ALICE', '0123456789']) assert.equal(ok(`REGISTER ${u}`).from.user, u);
  });

  test('_, -, ., @, : and other punctuation are refused', () => {
    for (const u of ['al_ice', 'al-ice', 'al.ice', 'alice@host', 'al:ice', 'alice!', '_', '-']) {
      assert.equal(bad(`REGISTER ${u}`).reason, 'invalid user id', u);
      assert.equal(bad(`CALL FROM:${u} TO:bob`).reason, 'invalid user id', u);
      assert.equal(bad(`CALL FROM:alice TO:${u}`).reason, 'invalid user id', u);
    }
  });

  test('empty user ids are refused', () => {
    assert.equal(bad('CALL FROM: TO:bob').reason, 'invalid user id');
    bad('CALL FROM:alice TO:');
    bad('BYE FROM: TO:');
    bad('ACK_CALL FROM: TO:alice');
  });

  test('non-ASCII user ids are refused (UTF-8 and latin1)', () => {
    bad(Buffer.from('REGISTER alicé', 'utf8'));
    bad(Buffer.from('REGISTER alicé', 'latin1'));
    bad(Buffer.from('CALL FROM:alice TO:bøb', 'utf8'));
    bad(Buffer.from('REGISTER 爱丽丝', 'utf8'));
  });
});

describe('parsePlain: garbage never throws', () => {
  test('an empty datagram', () => {
    assert.deepEqual(bad(Buffer.alloc(0)), { reason: 'empty message', terminator: '' });
  });

  test('2000 random bytes', () => {
    for (let i = 0; i < 20; i++) bad(randomBytes(2000));
  });

  test('60000 bytes', () => {
    bad(Buffer.alloc(60000, 0x41));
    bad(Buffer.concat([Buffer.from('REGISTER '), Buffer.alloc(59991, 0x61)]));
    bad(randomBytes(60000));
  });

  test('the length limit: a legal message of exactly the maximum length parses, one byte more does not', () => {
    const head = 'CALL_FAILED FROM:bob TO:alice ';
    const longest = head + 'x'.repeat(MAX_PLAIN_MESSAGE - head.length - 1) + '\n';
    assert.equal(longest.length, MAX_PLAIN_MESSAGE);
    ok(longest);
    assert.equal(bad(head + 'x'.repeat(MAX_PLAIN_MESSAGE - head.length) + '\n').reason, 'message too long');
  });

  test('truncated messages', () => {
    for (const text of ['CALL FROM:alice', 'CALL FROM:alice TO', 'CALL FROM:alice TO:bob'.slice(0, 15), 'CALL FROM:', 'ACK_CALL FROM:bob', 'REG', 'REGISTER ', 'CALL_FAILED FROM:bob TO', 'BYE ']) {
      bad(text);
    }
  });

  test('non-UTF-8 and control bytes', () => {
    bad(Buffer.from([0xff, 0xfe, 0xfd]));
    bad(Buffer.concat([Buffer.from('REGISTER '), Buffer.from([0xc3, 0x28])]));
    bad(Buffer.from('REGISTER alice\0'));
    bad(Buffer.from('\0REGISTER alice'));
    bad(Buffer.from('REGISTER alice\x7f'));
    bad(Buffer.from('REGISTER \x1balice'));
  });

  test('tabs are not field separators', () => {
    bad('REGISTER\talice');
    bad('CALL\tFROM:alice\tTO:bob');
    bad('CALL FROM:alice\tTO:bob');
    bad('REGISTER alice\t');
  });

  test('property: parsePlain never throws on arbitrary bytes, and an ERROR for it is at most request + 64 bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 3000 }), (bytes) => {
        const buf = Buffer.from(bytes);
        const r = parsePlain(buf, inbound());
        if (r.ok) return true;
        assert.ok(TERMINATORS.includes(r.terminator));
        assert.ok(r.reason.length > 0 && r.reason.length <= 80);
        const err = composeError(plainReasonText(r.reason), r.terminator, buf.length);
        assert.ok(err.length <= buf.length + 64, `ERROR of ${err.length} bytes for a ${buf.length}-byte request`);
        assert.ok(err.toString('latin1').startsWith('ERROR'));
        return true;
      }),
      { numRuns: 2000 },
    );
  });

  test('property: the dialect never throws on arbitrary bytes, and its ERROR answer is capped', () => {
    const dialect = createPlainDialect({ ratePerSecond: 1e9, burst: 1e9, maxSources: 10 });
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 3000 }), (bytes) => {
        const buf = Buffer.from(bytes);
        const r = dialect.parse(buf, inbound());
        if (r.ok) return true;
        assert.ok(r.answer !== null, 'an unparsable datagram is answered with ERROR when not rate-limited');
        assert.ok(r.answer.length <= buf.length + 64, `ERROR of ${r.answer.length} bytes for a ${buf.length}-byte request`);
        assert.ok(r.answer.toString('latin1').startsWith('ERROR'));
        return true;
      }),
      { numRuns: 1000 },
    );
  });

  test('property: printable ASCII lines near the grammar never throw and answer in kind', () => {
    const token = fc.constantFrom('REGISTER', 'CALL', 'ACK_CALL', 'CALL_FAILED', 'BYE', 'FROM:', 'TO:', 'alice', 'bob', 'FROM:alice', 'TO:bob', ' ', '  ', 'x', ':', 'busy');
    const line = fc.array(token, { maxLength: 8 }).map((ts) => ts.join(' '));
    fc.assert(
      fc.property(line, fc.constantFrom<Terminator>('', '\n', '\r\n'), (text, t) => {
        const r = parsePlain(Buffer.from(text + t, 'latin1'), inbound());
        if (r.ok) assert.equal(wireOf(r.msg).terminator, t);
        else assert.equal(r.terminator, t);
        return true;
      }),
      { numRuns: 1000 },
    );
  });

  test('property: every well-formed message parses back to its users and terminator', () => {
    const user = fc.stringMatching(/^[A-Za-z0-9]{1,64}$/);
    const spaces = fc.integer({ min: 1, max: 4 }).map((n) => ' '.repeat(n));
    const reason = fc.stringMatching(/^[a-z][a-z ]{0,30}[a-z]$/);
    fc.assert(
      fc.property(
        fc.constantFrom('REGISTER', 'CALL', 'ACK_CALL', 'CALL_FAILED', 'BYE'), user, user, spaces, spaces, spaces, reason,
        fc.constantFrom<Terminator>('', '\n', '\r\n'),
        (kw, a, b, s1, s2, s3, why, t) => {
          const text = kw === 'REGISTER' ? `REGISTER${s1}${a}`
            : kw === 'CALL_FAILED' ? `CALL_FAILED${s1}FROM:${a}${s2}TO:${b}${s3}${why}`
              : `${kw}${s1}FROM:${a}${s2}TO:${b}`;
          const r = parsePlain(Buffer.from(text + t, 'latin1'), inbound());
          assert.ok(r.ok, `${JSON.stringify(text)}: ${r.ok ? '' : r.reason}`);
          const w = wireOf(r.msg);
          assert.equal(w.terminator, t);
          assert.equal(w.keyword, kw);
          assert.equal(w.sender, a);
          assert.equal(w.addressee, kw === 'REGISTER' ? a : b);
          if (kw === 'CALL_FAILED') assert.equal((r.msg as Reply).reason, why);
          return true;
        },
      ),
      { numRuns: 1000 },
    );
  });
  test('property: what the proxy writes in the messages parties send too (ACK_CALL, CALL_FAILED, BYE) reads back as it was written, for any reason text', () => {
    const user = fc.stringMatching(/^[A-Za-z0-9]{1,64}$/);
    fc.assert(
      fc.property(user, user, fc.string({ unit: 'grapheme', minLength: 1, maxLength: 40 }), fc.constantFrom<Terminator>('', '\n', '\r\n'), (callee, caller, why, t) => {
        const reason = plainReasonText(why).trim().replace(/ +/g, ' ');
        fc.pre(reason !== '');
        const failed = ok(composeCallFailed(callee, caller, reason, t)) as Reply;
        assert.equal(failed.type, 'reply');
        assert.equal(failed.reason, reason);
        assert.deepEqual([wireOf(failed).sender, wireOf(failed).addressee, wireOf(failed).terminator], [callee, caller, t]);
        const ack = ok(composeAckCall(callee, caller, t)) as Reply;
        assert.equal(ack.status, 200);
        assert.deepEqual([wireOf(ack).sender, wireOf(ack).addressee], [callee, caller]);
        const bye = ok(composeBye(caller, callee, t)) as Request;
        assert.equal(bye.method, 'BYE');
        assert.equal(bye.inDialog, true);
        assert.deepEqual([bye.from.user, bye.to.user], [caller, callee]);
        assert.equal(bye.callId, plainCallId(caller, callee));
      }),
      { numRuns: 1000 },
    );
  });

  test('property: well-formed messages mutated (bytes cut, flipped, inserted) never make the dialect throw, and an ERROR never outgrows its cap', () => {
    const dialect = createPlainDialect({ ratePerSecond: 1e9, burst: 1e9, maxSources: 10 });
    const user = fc.stringMatching(/^[A-Za-z0-9]{1,64}$/);
    const message = fc.tuple(fc.constantFrom('REGISTER', 'CALL', 'ACK_CALL', 'CALL_FAILED', 'BYE'), user, user).map(([kw, a, b]) =>
      (kw === 'REGISTER' ? `REGISTER ${a}\n` : kw === 'CALL_FAILED' ? `CALL_FAILED FROM:${a} TO:${b} busy\r\n` : `${kw} FROM:${a} TO:${b}\n`));
    const edit = fc.record({ kind: fc.constantFrom('truncate', 'flip', 'insert'), at: fc.nat(), byte: fc.integer({ min: 0, max: 255 }) });
    fc.assert(
      fc.property(message, fc.array(edit, { minLength: 1, maxLength: 4 }), (text, edits) => {
        let b = Buffer.from(text, 'latin1');
        for (const e of edits) {
          const at = b.length === 0 ? 0 : e.at % b.length;
          if (e.kind === 'truncate') b = b.subarray(0, at);
          else if (e.kind === 'flip' && b.length > 0) b[at] = e.byte;
          else b = Buffer.concat([b.subarray(0, at), Buffer.from([e.byte]), b.subarray(at)]);
        }
        const r = dialect.parse(b, inbound());
        if (!r.ok && r.answer !== null) assert.ok(r.answer.length <= b.length + 64, `ERROR of ${r.answer.length} bytes for ${b.length}`);
      }),
      { numRuns: 2000 },
    );
  });
});
