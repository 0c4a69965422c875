import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, test } from 'node:test';
import { crc32 } from '../../core/transport/stun/crc32.ts';
import { answerStun, looksLikeStun, parseStun } from '../../core/transport/stun/binding.ts';
import { bindingRequest, mappedAddress } from '../helpers/stun-client.ts';

describe('STUN Binding responder', () => {
  test('CRC-32 matches the standard check value', () => {
    assert.equal(crc32(Buffer.from('123456789')), 0xcbf43926);
  });

  test('a request from IPv4 (also as ::ffff:) gets its address back, the transaction id echoed', () => {
    const txid = randomBytes(12);
    for (const address of ['192.0.2.7', '::ffff:192.0.2.7']) {
      const res = answerStun(bindingRequest({ txid }), { address, port: 32853 })!;
      assert.equal(res.readUInt16BE(0), 0x0101, 'Binding success');
      assert.ok(res.subarray(8, 20).equals(txid));
      assert.equal(res.readUInt16BE(2), res.length - 20);
      assert.deepEqual(mappedAddress(res), { address: '192.0.2.7', port: 32853 });
    }
  });

  test('IPv6: the address is XORed with cookie and transaction id', () => {
    const res = answerStun(bindingRequest(), { address: '2001:db8:1234:5678:11:2233:4455:6677', port: 32853 })!;
    assert.deepEqual(mappedAddress(res), { address: '2001:db8:1234:5678:11:2233:4455:6677', port: 32853 });
    const lo = answerStun(bindingRequest(), { address: '::1', port: 9 })!;
    assert.deepEqual(mappedAddress(lo), { address: '::1', port: 9 });
  });

  test('FINGERPRINT is verified in the request and added to the response when asked', () => {
    const res = answerStun(bindingRequest({ fingerprint: true, software: 'test client' }), { address: '192.0.2.7', port: 1 })!;
    const parsed = parseStun(res);
    assert.ok(parsed !== null && parsed.fingerprint, 'the response carries a valid FINGERPRINT');
    const without = answerStun(bindingRequest(), { address: '192.0.2.7', port: 1 })!;
    assert.equal(parseStun(without)!.fingerprint, false);
  });

  test('malformed STUN gets no answer', () => {
    const good = bindingRequest({ fingerprint: true, software: 'x' });
    const badLength = Buffer.from(good);
    badLength.writeUInt16BE(good.readUInt16BE(2) + 4, 2);
    const badFingerprint = Buffer.from(good);
    badFingerprint[badFingerprint.length - 1]! ^= 0xff;
    const truncated = good.subarray(0, good.length - 2);
    const notBinding = Buffer.from(good);
    notBinding.writeUInt16BE(0x0003, 0);
    const attrOverrun = bindingRequest({ software: 'abcd' });
    attrOverrun.writeUInt16BE(200, 22);
    for (const bad of [badLength, badFingerprint, truncated, notBinding, attrOverrun, Buffer.alloc(19)]) {
      assert.equal(answerStun(bad, { address: '192.0.2.7', port: 1 }), null);
    }
  });

  test('plain and SIP messages never look like STUN', () => {
    for (const t of ['REGISTER alice', 'CALL FROM:a TO:b', 'INVITE sip:bob@example.com SIP/2.0\r\n\r\n', 'SIP/2.0 200 OK\r\n\r\n']) {
      assert.equal(looksLikeStun(Buffer.from(t.padEnd(24, ' '))), false);
    }
    assert.equal(looksLikeStun(bindingRequest()), true);
  });
});
