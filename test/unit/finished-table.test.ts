import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { FinishedTable } from '../../core/dialects/sip/finished-table.ts';
import type { Destination } from '../../core/dialects/sip/transactions.ts';

const UDP: Destination = { transport: 'udp', listener: 'sip:5060', address: { address: '::ffff:127.0.0.1', port: 5061 }, connection: null };
const TCP: Destination = { transport: 'tcp', listener: 'sip\ttcp "x"', address: { address: '::1', port: 40000 }, connection: 17 };

describe('FinishedTable', () => {
  test('gives back the destination, status and exact bytes of a finished transaction', () => {
    const t = new FinishedTable(32_000, () => 0);
    const bytes = Buffer.from([...Buffer.from('SIP/2.0 200 OK\r\nX: '), 0xe9, 0x00, 0xff, 0x0a, ...Buffer.from('\r\n\r\n')]);
    t.add('z9hG4bK1|REGISTER', UDP, 200, bytes);
    t.add('z9hG4bK2|BYE', TCP, 481, Buffer.from('SIP/2.0 481 No\r\n\r\n'));
    const got = t.get('z9hG4bK1|REGISTER')!;
    assert.deepEqual(got.upstream, UDP);
    assert.equal(got.status, 200);
    assert.ok(got.response.equals(bytes));
    assert.deepEqual(t.get('z9hG4bK2|BYE')!.upstream, TCP);
    assert.equal(t.get('z9hG4bK1|BYE'), undefined);
    assert.equal(t.size, 2);
    t.clear();
  });

  test('an entry leaves at the first sweep after its linger, not before', () => {
    let now = 1_000_000;
    const t = new FinishedTable(32_000, () => now);
    t.add('a|REGISTER', UDP, 200, Buffer.from('x'));
    now += 20_000;
    t.add('b|REGISTER', UDP, 200, Buffer.from('y'));
    now += 12_500; // a is past its 32 s, b is not
    t.sweep();
    assert.equal(t.get('a|REGISTER'), undefined);
    assert.notEqual(t.get('b|REGISTER'), undefined);
    now += 21_000;
    t.sweep();
    assert.equal(t.size, 0);
  });
});
