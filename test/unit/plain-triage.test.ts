/**
 * The plain protocol's first look (core/dialects/plain/triage.ts) and its refusal: CALL and
 * REGISTER are new work, a refused CALL gets `CALL_FAILED FROM:<callee> TO:<caller> overloaded`
 * with the request's own terminator, a refused REGISTER `ERROR overloaded`, and a CALL its caller
 * sends again while the first one is still pending is a repeat (its transaction takes it).
 */
import { afterEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createPlainDialect } from '../../core/dialects/plain/dialect.ts';
import { PlainProxyEngine } from '../../core/dialects/plain/engine.ts';
import { PlainTriage } from '../../core/dialects/plain/triage.ts';
import { ProxyHooks } from '../../core/kernel/hooks.ts';
import { MessageContext } from '../../core/kernel/message-context.ts';
import type { DatagramTriage, FirstLook, NewWorkLook } from '../../core/kernel/triage.ts';
import { ALICE_ADDR, BOB_ADDR, plainRequest, silentLog, snapshot } from './_unit-fixtures.ts';

const engines: PlainProxyEngine[] = [];
afterEach(() => {
  for (const e of engines.splice(0)) e.close();
});

function setup(): { triage: DatagramTriage; engine: PlainProxyEngine } {
  const dialect = createPlainDialect();
  const engine = new PlainProxyEngine(dialect, { hooks: new ProxyHooks(), log: silentLog, send: () => undefined, runRoute: () => Promise.reject(new Error('no routes here')) });
  engines.push(engine);
  return { triage: new PlainTriage(dialect, engine), engine };
}

function look(triage: DatagramTriage, text: string): FirstLook {
  return triage.look(Buffer.from(text, 'latin1'), ALICE_ADDR);
}

describe('PlainTriage', () => {
  test('CALL and REGISTER are new work; replies, BYE and what does not parse go the full way', () => {
    const { triage } = setup();
    const kinds = ['CALL FROM:alice TO:bob\n', 'REGISTER alice\r\n', 'BYE FROM:alice TO:bob\n', 'ACK_CALL FROM:bob TO:alice\n', 'HELLO\n']
      .map((t) => { const l = look(triage, t); return l.kind === 'new' ? l.work : l.kind; });
    assert.deepEqual(kinds, ['call', 'register', 'priority', 'priority', 'priority']);
  });

  test('refusals: CALL_FAILED … overloaded to a call, ERROR overloaded to a REGISTER, each with the request\'s terminator', () => {
    const { triage } = setup();
    const refuse = (t: string): string => {
      const buf = Buffer.from(t, 'latin1');
      return triage.refusal(triage.look(buf, ALICE_ADDR) as NewWorkLook, buf, ALICE_ADDR, 5)!.toString('latin1');
    };
    assert.equal(refuse('CALL FROM:alice TO:bob\r\n'), 'CALL_FAILED FROM:bob TO:alice overloaded\r\n');
    assert.equal(refuse('CALL FROM:alice TO:bob'), 'CALL_FAILED FROM:bob TO:alice overloaded');
    assert.equal(refuse('REGISTER alice\n'), 'ERROR overloaded\n');
  });

  test('a CALL sent again by its caller while it is pending is a repeat; another caller\'s is not', () => {
    const { triage, engine } = setup();
    const req = plainRequest('CALL FROM:alice TO:bob\n');
    const mc = new MessageContext('request', req, snapshot(), silentLog);
    void engine.forward(mc, { targets: [{ address: BOB_ADDR }], answerTimeoutMs: 60_000, onFailure: undefined, onReply: undefined, recordRoute: false });
    const again = Buffer.from('CALL FROM:alice TO:bob\n');
    assert.equal(triage.isRepeat(triage.look(again, ALICE_ADDR) as NewWorkLook, again), true);
    const other = Buffer.from('CALL FROM:carol TO:bob\n');
    assert.equal(triage.isRepeat(triage.look(other, ALICE_ADDR) as NewWorkLook, other), false);
  });
});
