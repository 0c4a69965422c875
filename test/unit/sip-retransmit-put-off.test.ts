/**
 * A client transaction's retransmission (Timer A here) is put off, once, by as long as datagrams
 * wait in the proxy's own receive queue: the answer it would ask for is probably there. On a
 * mocked clock.
 */
import { afterEach, describe, mock, test } from 'node:test';
import assert from 'node:assert/strict';
import { ClientTransactions } from '../../core/dialects/sip/client-transactions.ts';
import { parseSip } from '../../core/dialects/sip/codec/parse.ts';
import type { SipRequest } from '../../core/dialects/sip/codec/message.ts';
import type { ClientOwner, Destination } from '../../core/dialects/sip/transactions.ts';

const DOWN: Destination = { transport: 'udp', listener: 'sip', address: { address: '192.0.2.9', port: 5060 }, connection: null };
const OWNER: ClientOwner = { onResponse: () => undefined, onTimeout: () => undefined, onUnreachable: () => undefined };

function invite(): SipRequest {
  const p = parseSip(Buffer.from([
    'INVITE sip:bob@192.0.2.9 SIP/2.0', 'Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK-put-off', 'Max-Forwards: 70', 'To: <sip:bob@192.0.2.9>',
    'From: <sip:alice@192.0.2.1>;tag=a', 'Call-ID: put-off', 'CSeq: 1 INVITE', 'Content-Length: 0', '', '',
  ].join('\r\n')));
  assert.ok(p.ok && p.msg.type === 'request');
  return p.msg;
}

afterEach(() => mock.timers.reset());

/** When each send of the INVITE happened, ms, within `until`. */
function sends(queueDelayMs: () => number, until: number): { at: number[]; stats: { retransmissionsSent: number; retransmissionsPutOff: number } } {
  mock.timers.enable({ apis: ['setTimeout'] });
  let now = 0;
  const at: number[] = [];
  const stats = { retransmissionsSent: 0, retransmissionsPutOff: 0 };
  const clients = new ClientTransactions({ send: () => { at.push(now); } }, stats, queueDelayMs);
  clients.start('z9hG4bK-put-off-1', invite(), DOWN, OWNER, null);
  while (now < until) {
    now += 10;
    mock.timers.tick(10);
  }
  clients.close();
  return { at, stats };
}

describe('ClientTransactions: retransmissions and the proxy\'s own queue', () => {
  test('with nothing waiting in the queue Timer A repeats at T1, 2·T1, 4·T1', () => {
    const { at, stats } = sends(() => 0, 3600);
    assert.deepEqual(at, [0, 500, 1500, 3500]);
    assert.equal(stats.retransmissionsPutOff, 0);
  });

  test('with 300 ms waiting, each repeat comes 300 ms later, and comes', () => {
    const { at, stats } = sends(() => 300, 4600);
    assert.deepEqual(at, [0, 800, 2100, 4400]);
    assert.equal(stats.retransmissionsPutOff, 3);
    assert.equal(stats.retransmissionsSent, 3);
  });

  test('a queue too shallow to hold the answer for long puts nothing off', () => {
    const { at } = sends(() => 40, 1600);
    assert.deepEqual(at, [0, 500, 1500]);
  });
});
