/**
 * What overload control reads of the SIP server transaction layer: requests in progress (live
 * transactions, up at a new request, down at its final response, its refusal, or when the route
 * drops it) and new requests answered finally, per class (in-dialog requests are not new work).
 */
import { afterEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Request } from '../../core/model/message.ts';
import { parseSip } from '../../core/dialects/sip/codec/parse.ts';
import { toModel } from '../../core/dialects/sip/model.ts';
import { ServerTransactions } from '../../core/dialects/sip/server-transactions.ts';

let n = 0;
function request(method: string, toTag?: string): Request {
  n++;
  const raw = Buffer.from([
    `${method} sip:bob@192.0.2.1 SIP/2.0`, `Via: SIP/2.0/UDP 192.0.2.7:5060;branch=z9hG4bK-pend-${n}`, 'Max-Forwards: 70',
    `To: <sip:bob@192.0.2.1>${toTag === undefined ? '' : `;tag=${toTag}`}`, 'From: <sip:alice@192.0.2.7>;tag=a', `Call-ID: pend-${n}`, `CSeq: 1 ${method}`, 'Content-Length: 0', '', '',
  ].join('\r\n'));
  const p = parseSip(raw);
  assert.ok(p.ok);
  const m = toModel(p.msg, { listener: 'sip', source: { address: '192.0.2.7', port: 5060 } }, 'udp', null, raw);
  assert.ok(m.ok && m.msg.type === 'request');
  return m.msg;
}

const layers: ServerTransactions[] = [];
afterEach(() => { for (const l of layers.splice(0)) l.close(); });

function layer(): ServerTransactions {
  const l = new ServerTransactions({ send: () => undefined }, { retransmissionsAbsorbed: 0, retransmissionsSent: 0 });
  layers.push(l);
  return l;
}

describe('ServerTransactions: pending and completed', () => {
  test('a live transaction counts until its final response; provisional ones do not end it', () => {
    const st = layer();
    const inv = request('INVITE');
    const reg = request('REGISTER');
    st.open(inv);
    st.open(reg);
    assert.equal(st.pending, 2);
    st.respond(inv, 100, 'Trying');
    assert.equal(st.pending, 2);
    st.respond(inv, 486, 'Busy Here');
    st.respond(reg, 200, 'OK');
    assert.equal(st.pending, 0);
    assert.deepEqual(st.completed, { call: 1, register: 1, other: 0 });
    st.respond(reg, 200, 'OK');
    assert.equal(st.pending, 0, 'a second final changes nothing');
  });

  test('a refusal and a dropped request end it too; a refusal is not a completion', () => {
    const st = layer();
    const a = request('INVITE');
    const b = request('OPTIONS');
    st.open(a);
    st.open(b);
    st.refuse(a, 503, 'Service Unavailable');
    st.forget(b);
    assert.equal(st.pending, 0);
    assert.deepEqual(st.completed, { call: 0, register: 0, other: 0 });
    assert.equal(st.knows('nothing'), false);
    assert.equal(st.open(b) !== null, true, 'a dropped request runs again when repeated');
  });

  test('in-dialog requests are not new work', () => {
    const st = layer();
    const bye = request('BYE', 'b1');
    st.open(bye);
    st.respond(bye, 200, 'OK');
    assert.deepEqual(st.completed, { call: 0, register: 0, other: 0 });
  });
});
