/**
 * SipProxyCore.refuse (through the server transaction layer): how overload control turns a new call away when the first look (triage.ts) cannot. One 503 per INVITE,
 * never retransmitted by the proxy (a refusal must not add load to an overloaded loop); a
 * repeated INVITE is answered again from the finished transaction; the ACK ends there.
 */
import { afterEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Endpoint } from '../../core/lib/address.ts';
import type { Request } from '../../core/model/message.ts';
import { ClientTransactions } from '../../core/dialects/sip/client-transactions.ts';
import { SipProxyCore } from '../../core/dialects/sip/proxy-core.ts';
import { ServerTransactions } from '../../core/dialects/sip/server-transactions.ts';
import { LocalNode } from '../../core/dialects/sip/local-node.ts';
import { SipResolver } from '../../core/dialects/sip/resolver.ts';
import { RouteMarks } from '../../core/dialects/sip/route-mark.ts';
import { toModel } from '../../core/dialects/sip/model.ts';
import type { Destination } from '../../core/dialects/sip/transactions.ts';
import { parseSip } from '../../core/dialects/sip/codec/parse.ts';
import { ProxyHooks } from '../../core/kernel/hooks.ts';
import { silentLog, sleep } from './_unit-fixtures.ts';

const CALLER: Endpoint = { address: '::ffff:192.0.2.7', port: 61000 };
const BRANCH = 'z9hG4bK-refuse-1';

function message(lines: readonly string[]): Request {
  const raw = Buffer.from(`${lines.join('\r\n')}\r\n\r\n`);
  const parsed = parseSip(raw);
  assert.ok(parsed.ok);
  const m = toModel(parsed.msg, { listener: 'sip:udp:5060', source: CALLER }, 'udp', null, raw);
  assert.ok(m.ok && m.msg.type === 'request');
  return m.msg;
}

function invite(): Request {
  return message([
    'INVITE sip:bob@192.0.2.1 SIP/2.0',
    `Via: SIP/2.0/UDP 192.0.2.7:61000;branch=${BRANCH};rport`,
    'Max-Forwards: 70',
    'To: <sip:bob@192.0.2.1>',
    'From: <sip:alice@192.0.2.7>;tag=a1',
    'Call-ID: refuse-1@192.0.2.7',
    'CSeq: 1 INVITE',
    'Contact: <sip:alice@192.0.2.7:61000>',
    'Content-Length: 0',
  ]);
}

function ack(toTag: string): Request {
  return message([
    'ACK sip:bob@192.0.2.1 SIP/2.0',
    `Via: SIP/2.0/UDP 192.0.2.7:61000;branch=${BRANCH};rport`,
    'Max-Forwards: 70',
    `To: <sip:bob@192.0.2.1>;tag=${toTag}`,
    'From: <sip:alice@192.0.2.7>;tag=a1',
    'Call-ID: refuse-1@192.0.2.7',
    'CSeq: 1 ACK',
    'Content-Length: 0',
  ]);
}

const engines: SipProxyCore[] = [];
afterEach(() => {
  for (const e of engines.splice(0)) e.close();
});

function newEngine(): { engine: SipProxyCore; sent: { dest: Destination; text: string }[]; stats: { retransmissionsAbsorbed: number; retransmissionsSent: number; retransmissionsPutOff: number } } {
  const sent: { dest: Destination; text: string }[] = [];
  const sender = { send: (dest: Destination, bytes: Buffer) => { sent.push({ dest, text: bytes.toString('latin1') }); } };
  const stats = { retransmissionsAbsorbed: 0, retransmissionsSent: 0, retransmissionsPutOff: 0 };
  const engine = new SipProxyCore({
    hooks: new ProxyHooks(),
    log: silentLog,
    sender,
    servers: new ServerTransactions(sender, stats),
    clients: new ClientTransactions(sender, stats),
    node: new LocalNode(),
    resolver: new SipResolver(),
    marks: new RouteMarks(),
    identity: () => ({ host: '192.0.2.1', port: 5060 }),
    runRoute: () => Promise.reject(new Error('no route runs in these tests')),
  });
  engines.push(engine);
  return { engine, sent, stats };
}

describe('SipProxyCore.refuse (overload control, when the first look could not answer)', () => {
  test('one 503 with Retry-After to the caller, not retransmitted past T1', async () => {
    const { engine, sent } = newEngine();
    const req = invite();
    assert.equal(engine.intercept(req), false, 'a new INVITE goes on to the route');
    engine.refuse(req, 503, 'Service Unavailable', { retryAfterSec: 5 });
    assert.equal(sent.length, 1);
    assert.match(sent[0]!.text, /^SIP\/2\.0 503 Service Unavailable\r\n/);
    assert.match(sent[0]!.text, /\r\nRetry-After: 5\r\n/);
    assert.match(sent[0]!.text, /\r\nTo: <sip:bob@192\.0\.2\.1>;tag=[^\r]+\r\n/, 'a final response carries a To tag');
    assert.deepEqual(sent[0]!.dest.address, CALLER);
    // Timer G would repeat a failure response at T1 (500 ms) and 2·T1; a refusal is sent once.
    await sleep(1200);
    assert.equal(sent.length, 1, 'no retransmission of the refusal');
  });

  test('a repeated INVITE gets the same 503 again; the ACK is absorbed', () => {
    const { engine, sent, stats } = newEngine();
    const first = invite();
    engine.intercept(first);
    engine.refuse(first, 503, 'Service Unavailable', { retryAfterSec: 5 });
    assert.equal(engine.intercept(invite()), true, 'the repeat is the finished transaction\'s');
    assert.equal(sent.length, 2);
    assert.equal(sent[1]!.text, sent[0]!.text, 'the same bytes');
    assert.equal(stats.retransmissionsAbsorbed, 1);
    const toTag = /\r\nTo: [^\r]*;tag=([^\s;\r]+)/.exec(sent[0]!.text)![1]!;
    assert.equal(engine.intercept(ack(toTag)), true, 'the ACK of the 503 ends at the proxy');
    assert.equal(sent.length, 2, 'nothing answers the ACK');
  });
});
