import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Endpoint } from '../../core/lib/address.ts';
import type { Reply, Request } from '../../core/model/message.ts';
import { createPlainDialect } from '../../core/dialects/plain/dialect.ts';
import type { Terminator } from '../../core/dialects/plain/grammar.ts';
import { ALICE_ADDR, BOB_ADDR, inbound, plainReply, plainRequest, sleep } from './_unit-fixtures.ts';

const TERMINATORS: readonly Terminator[] = ['', '\n', '\r\n'];
/** A limiter that never gets in the way of mapping tests. */
const UNLIMITED = { ratePerSecond: 1e9, burst: 1e9, maxSources: 100 };

function text(b: Buffer | null): string | null {
  return b === null ? null : b.toString('latin1');
}

describe('createPlainDialect().composeReply', () => {
  const d = createPlainDialect(UNLIMITED);

  for (const t of TERMINATORS) {
    const tn = JSON.stringify(t);

    test(`REGISTER 200 → ACK_REGISTER <user> (terminator ${tn})`, () => {
      const req = plainRequest(`REGISTER alice${t}`);
      assert.equal(text(d.composeReply(req, 200, 'OK')), `ACK_REGISTER alice${t}`);
    });

    test(`INVITE 404 → CALL_FAILED <reason>, naming nobody (terminator ${tn})`, () => {
      const req = plainRequest(`CALL FROM:alice TO:carol${t}`);
      assert.equal(text(d.composeReply(req, 404, 'unknown peer')), `CALL_FAILED unknown peer${t}`);
    });

    test(`INVITE 486/408/603/480 → CALL_FAILED FROM:<callee> TO:<caller> <reason> (terminator ${tn})`, () => {
      const req = plainRequest(`CALL FROM:alice TO:bob${t}`);
      assert.equal(text(d.composeReply(req, 486, 'busy')), `CALL_FAILED FROM:bob TO:alice busy${t}`);
      assert.equal(text(d.composeReply(req, 408, 'no answer')), `CALL_FAILED FROM:bob TO:alice no answer${t}`);
      assert.equal(text(d.composeReply(req, 603, 'declined')), `CALL_FAILED FROM:bob TO:alice declined${t}`);
      assert.equal(text(d.composeReply(req, 480, 'unavailable')), `CALL_FAILED FROM:bob TO:alice unavailable${t}`);
    });

    test(`400/403/481/500 → ERROR <reason> for every method (terminator ${tn})`, () => {
      for (const msg of [`REGISTER alice${t}`, `CALL FROM:alice TO:bob${t}`, `BYE FROM:alice TO:bob${t}`]) {
        const req = plainRequest(msg);
        for (const [status, reason] of [[400, 'bad request'], [403, 'caller not registered at this address'], [481, 'no such call'], [500, 'internal error']] as const) {
          assert.equal(text(d.composeReply(req, status, reason)), `ERROR ${reason}${t}`, `${msg.trim()} / ${status}`);
        }
      }
    });

    test(`BYE 200 → nothing, BYE failure → ERROR (terminator ${tn})`, () => {
      const req = plainRequest(`BYE FROM:alice TO:bob${t}`);
      assert.equal(d.composeReply(req, 200, 'OK'), null);
      assert.equal(text(d.composeReply(req, 404, 'unknown peer')), `ERROR unknown peer${t}`);
    });
  }

  test('INVITE 200 → ACK_CALL FROM:<callee> TO:<caller>; provisional → nothing', () => {
    const req = plainRequest('CALL FROM:alice TO:bob\n');
    assert.equal(text(d.composeReply(req, 200, 'OK')), 'ACK_CALL FROM:bob TO:alice\n');
    assert.equal(d.composeReply(req, 100, 'Trying'), null);
    assert.equal(d.composeReply(req, 180, 'Ringing'), null);
  });

  test('REGISTER failures other than the ERROR statuses are ERROR too (503 registrar full, 404)', () => {
    const req = plainRequest('REGISTER alice\n');
    assert.equal(text(d.composeReply(req, 503, 'registrar full')), 'ERROR registrar full\n');
    assert.equal(text(d.composeReply(req, 404, 'nope')), 'ERROR nope\n');
  });

  test('reason text is made printable ASCII on the wire', () => {
    const req = plainRequest('CALL FROM:alice TO:bob\n');
    assert.equal(text(d.composeReply(req, 486, 'busy\nnow\té')), 'CALL_FAILED FROM:bob TO:alice busy?now??\n');
    assert.equal(text(d.composeReply(req, 400, 'a\r\nb')), 'ERROR a??b\n');
  });
});

describe('plain dialect: ERROR length cap', () => {
  test('an ERROR is never longer than the request plus 64 bytes, and keeps its terminator', () => {
    const d = createPlainDialect(UNLIMITED);
    for (const t of TERMINATORS) {
      const req = plainRequest(`BYE FROM:a TO:b${t}`);
      const long = 'x'.repeat(500);
      const out = d.composeReply(req, 400, long);
      assert.ok(out !== null);
      assert.ok(out.length <= req.raw.length + 64, `${out.length} > ${req.raw.length} + 64`);
      const s = out.toString('latin1');
      assert.ok(s.startsWith('ERROR xxx'), s);
      assert.ok(s.endsWith(t === '' ? 'x' : t));
      assert.ok(!s.slice(0, s.length - t.length).includes('\n'));
    }
  });

  test('a short reason is not cut', () => {
    const d = createPlainDialect(UNLIMITED);
    const req = plainRequest('REGISTER a');
    assert.equal(text(d.composeReply(req, 400, 'y'.repeat(58))), `ERROR ${'y'.repeat(58)}`);
    const cut = d.composeReply(req, 400, 'y'.repeat(200));
    assert.ok(cut !== null);
    assert.equal(cut.length, req.raw.length + 64);
  });

  test('the ERROR answering an unparsable datagram is capped too, even for an empty one', () => {
    const d = createPlainDialect(UNLIMITED);
    for (const raw of [Buffer.alloc(0), Buffer.from('\n'), Buffer.from('x'), Buffer.alloc(5000, 0x41)]) {
      const r = d.parse(raw, inbound());
      assert.equal(r.ok, false);
      if (r.ok) continue;
      assert.ok(r.answer !== null);
      assert.ok(r.answer.length <= raw.length + 64);
      assert.match(r.answer.toString('latin1'), /^ERROR /);
    }
  });

  test('parse errors answer with the reason and the request terminator', () => {
    const d = createPlainDialect(UNLIMITED);
    const r = d.parse(Buffer.from('register alice\r\n'), inbound());
    assert.equal(r.ok, false);
    if (r.ok) return;
    assert.equal(text(r.answer), 'ERROR unknown message\r\n');
    assert.equal(r.reason, 'unknown message');
  });
});

describe('plain dialect: ERROR rate limit', () => {
  test('a burst of ERRORs per source, then suppression, counted in stats', () => {
    // 0.001/s: no token comes back during the test, however slow the machine.
    const d = createPlainDialect({ ratePerSecond: 0.001, burst: 3, maxSources: 100 });
    const garbage = Buffer.from('nonsense\n');
    const answers = Array.from({ length: 10 }, () => {
      const r = d.parse(garbage, inbound(ALICE_ADDR));
      assert.equal(r.ok, false);
      return r.ok ? undefined : r.answer;
    });
    assert.equal(answers.filter((a) => a !== null).length, 3);
    assert.ok(answers.slice(0, 3).every((a) => a !== null), 'the burst comes first');
    assert.ok(answers.slice(3).every((a) => a === null), 'then ERRORs are suppressed');
    assert.deepEqual(d.stats(), { parseErrors: 10, errorsSuppressed: 7 });

    // composeReply's ERRORs share the same per-source budget.
    const req = plainRequest('BYE FROM:alice TO:bob\n', ALICE_ADDR);
    assert.equal(d.composeReply(req, 481, 'no such call'), null);
    // Non-ERROR replies are not limited.
    assert.equal(text(d.composeReply(plainRequest('REGISTER alice\n', ALICE_ADDR), 200, 'OK')), 'ACK_REGISTER alice\n');
    assert.equal(d.stats().errorsSuppressed, 8);
  });

  test('the limit is per source IP, not per port', () => {
    const d = createPlainDialect({ ratePerSecond: 0.001, burst: 1, maxSources: 100 });
    const garbage = Buffer.from('?');
    const first = d.parse(garbage, inbound({ address: '::ffff:10.0.0.1', port: 1000 }));
    const samePortOther = d.parse(garbage, inbound({ address: '::ffff:10.0.0.1', port: 2000 }));
    const otherIp = d.parse(garbage, inbound({ address: '::ffff:10.0.0.2', port: 1000 }));
    assert.ok(!first.ok && first.answer !== null);
    assert.ok(!samePortOther.ok && samePortOther.answer === null, 'another port of the same IP shares the budget');
    assert.ok(!otherIp.ok && otherIp.answer !== null, 'another IP has its own budget');
  });

  test('tokens come back over time', async () => {
    const d = createPlainDialect({ ratePerSecond: 10, burst: 1, maxSources: 100 });
    const garbage = Buffer.from('?');
    const r1 = d.parse(garbage, inbound());
    assert.ok(!r1.ok && r1.answer !== null);
    await sleep(400); // 4 tokens' worth at 10/s, capped at the burst of 1
    const r2 = d.parse(garbage, inbound());
    assert.ok(!r2.ok && r2.answer !== null, 'an ERROR is allowed again after a pause');
  });

  test('the refusals of the spec rules (a BYE not accepted, too many users) are rate-limited ERRORs within request + 64 bytes', () => {
    const d = createPlainDialect({ ratePerSecond: 0.001, burst: 2, maxSources: 100 });
    const reg = plainRequest('REGISTER u\n', ALICE_ADDR);
    const bye = plainRequest('BYE FROM:a TO:b\n', ALICE_ADDR);
    const tooMany = d.composeReply(reg, 403, 'too many users');
    assert.equal(text(tooMany), 'ERROR too many users\n');
    const refused = d.composeReply(bye, 403, 'x'.repeat(200));
    assert.ok(refused !== null && refused.length <= bye.raw.length + 64, 'capped at the request plus 64 bytes');
    assert.equal(d.composeReply(reg, 403, 'too many users'), null, 'the third ERROR in a row to one source is suppressed');
    assert.equal(d.composeReply(bye, 481, 'no such call'), null);
  });

  test('a stray reply is answered with a rate-limited ERROR', () => {
    const d = createPlainDialect({ ratePerSecond: 0.001, burst: 1, maxSources: 100 });
    const reply = plainReply('ACK_CALL FROM:bob TO:alice\r\n', BOB_ADDR);
    assert.equal(text(d.strayReply(reply)), 'ERROR no matching call\r\n');
    assert.equal(d.strayReply(reply), null);
  });
});

describe('plain dialect: transactions and forwarding', () => {
  const d = createPlainDialect(UNLIMITED);
  const callee: Endpoint = BOB_ADDR;

  test('only a CALL expects a reply', () => {
    assert.equal(d.expectsReply(plainRequest('CALL FROM:alice TO:bob')), true);
    assert.equal(d.expectsReply(plainRequest('BYE FROM:alice TO:bob')), false);
    assert.equal(d.expectsReply(plainRequest('REGISTER alice')), false);
  });

  test('request and reply of one call share the transaction key', () => {
    const req = plainRequest('CALL FROM:alice TO:bob');
    const rep = plainReply('ACK_CALL FROM:bob TO:alice');
    assert.equal(d.transactionKey(req), d.transactionKey(rep));
    assert.notEqual(d.transactionKey(req), d.transactionKey(plainRequest('CALL FROM:alice TO:carol')));
  });

  test('a reply belongs to the call only from the address the call was sent to, between the same users', () => {
    const req = plainRequest('CALL FROM:alice TO:bob');
    const okReply = plainReply('ACK_CALL FROM:bob TO:alice', callee);
    assert.equal(d.acceptsReply(okReply, req, callee), true);
    assert.equal(d.acceptsReply(plainReply('CALL_FAILED FROM:bob TO:alice busy', callee), req, callee), true);
    assert.equal(d.acceptsReply(plainReply('ACK_CALL FROM:bob TO:alice', { address: callee.address, port: callee.port + 1 }), req, callee), false, 'other port');
    assert.equal(d.acceptsReply(plainReply('ACK_CALL FROM:bob TO:alice', { address: '::ffff:10.9.9.9', port: callee.port }), req, callee), false, 'other IP');
    // ACK_CALL FROM:alice TO:bob has the same call id but answers a call bob made.
    assert.equal(d.acceptsReply(plainReply('ACK_CALL FROM:alice TO:bob', callee), req, callee), false, 'reversed roles');
  });

  test('forwarding is byte for byte, terminator included', () => {
    const req = plainRequest('CALL   FROM:alice TO:bob\r\n');
    assert.equal(text(d.forwardRequestBytes(req, callee)), 'CALL   FROM:alice TO:bob\r\n');
    const rep: Reply = plainReply('CALL_FAILED FROM:bob TO:alice  not  today\n');
    const reqForRep: Request = plainRequest('CALL FROM:alice TO:bob');
    assert.equal(text(d.forwardReplyBytes(rep, reqForRep)), 'CALL_FAILED FROM:bob TO:alice  not  today\n');
  });
});
