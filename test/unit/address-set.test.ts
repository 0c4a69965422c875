import assert from 'node:assert/strict';
import { BlockList } from 'node:net';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { parseCidr, AddressSet } from '../../core/lib/address-set.ts';

describe('address sets (trusted peers, relayFrom)', () => {
  const peers = new AddressSet(['10.0.0.0/8', '192.0.2.7', '2001:db8::/32', '::1', '::ffff:198.51.100.0/120']);

  test('IPv4 ranges and single addresses', () => {
    assert.equal(peers.has('10.1.2.3'), true);
    assert.equal(peers.has('11.0.0.1'), false);
    assert.equal(peers.has('192.0.2.7'), true);
    assert.equal(peers.has('192.0.2.8'), false);
  });

  test('an IPv4 source seen by a dual-stack socket (::ffff:a.b.c.d) matches the IPv4 rules', () => {
    assert.equal(peers.has('::ffff:10.200.0.1'), true);
    assert.equal(peers.has('::ffff:192.0.2.7'), true);
    assert.equal(peers.has('::ffff:11.0.0.1'), false);
  });

  test('a rule written as an IPv4-mapped range holds for IPv4 sources of either socket kind', () => {
    assert.equal(peers.has('198.51.100.42'), true);
    assert.equal(peers.has('::ffff:198.51.100.42'), true);
    assert.equal(peers.has('198.51.101.1'), false);
  });

  test('IPv6 ranges, single addresses and zones', () => {
    assert.equal(peers.has('2001:db8:1::5'), true);
    assert.equal(peers.has('2001:db9::1'), false);
    assert.equal(peers.has('::1'), true);
    assert.equal(peers.has('::2'), false);
    assert.equal(new AddressSet(['fe80::/10']).has('fe80::1%eth0'), true);
  });

  test('an IPv4 rule does not cover IPv6 addresses that merely embed its bits', () => {
    const v4 = new AddressSet(['10.0.0.0/8']);
    assert.equal(v4.has('::a00:1'), false, 'IPv4-compatible, not mapped');
    assert.equal(v4.has('64:ff9b::a00:1'), false, 'NAT64');
  });

  test('nothing is trusted by an empty list, and junk sources are not trusted', () => {
    const none = new AddressSet([]);
    assert.equal(none.has('127.0.0.1'), false);
    assert.equal(peers.has(''), false);
    assert.equal(peers.has('not-an-address'), false);
    assert.equal(peers.has('10.0.0.1.5'), false);
  });

  test('answers stay right past the remembered sources (a flood of addresses)', () => {
    const list = new AddressSet(['10.0.0.0/16']);
    for (let round = 0; round < 2; round++) {
      for (let i = 0; i < 10_000; i++) {
        const inside = `10.0.${i >> 8 & 255}.${i & 255}`;
        const outside = `10.1.${i >> 8 & 255}.${i & 255}`;
        assert.equal(list.has(inside), true, inside);
        assert.equal(list.has(`::ffff:${outside}`), false, outside);
      }
    }
  });

  test('IPv4 sources are matched as net.BlockList matches them, in either socket form', () => {
    const octet = fc.integer({ min: 0, max: 255 });
    const ipv4 = fc.tuple(octet, octet, octet, octet).map((o) => o.join('.'));
    fc.assert(fc.property(fc.array(fc.tuple(ipv4, fc.integer({ min: 0, max: 32 })), { maxLength: 6 }), fc.array(ipv4, { minLength: 1, maxLength: 20 }), (rules, sources) => {
      const reference = new BlockList();
      for (const [address, prefix] of rules) reference.addSubnet(address, prefix, 'ipv4');
      const peers = new AddressSet(rules.map(([address, prefix]) => `${address}/${prefix}`));
      for (const source of sources) {
        const expected = reference.check(source, 'ipv4');
        assert.equal(peers.has(source), expected, source);
        assert.equal(peers.has(`::ffff:${source}`), expected, `::ffff:${source}`);
      }
    }), { numRuns: 300 });
  });

  test('what only looks like IPv4 is not matched as IPv4', () => {
    const all = new AddressSet(['0.0.0.0/0']);
    for (const junk of ['1.2.3', '1.2.3.4.', '.1.2.3', '1..2.3', '256.1.1.1', '01.2.3.4', '1.2.3.4a', '1.2.3.1234', '::ffff:1.2.3']) assert.equal(all.has(junk), false, junk);
    assert.equal(all.has('0.0.0.0'), true);
    assert.equal(all.has('255.255.255.255'), true);
  });

  test('bad rules are refused naming the rule', () => {
    assert.throws(() => new AddressSet(['10.0.0.0/33']), /'10\.0\.0\.0\/33': an IPv4 prefix is at most 32/);
    assert.throws(() => new AddressSet(['::/129']), /at most 128/);
    assert.throws(() => new AddressSet(['10.0.0.0/x']), /not a number/);
    assert.throws(() => new AddressSet(['10.0.0.0/']), /not a number/);
    assert.throws(() => new AddressSet(['gateway.example.com']), /not an IP address/);
    assert.throws(() => new AddressSet(['::ffff:10.0.0.0/64']), /at least 96/);
  });

  test('parseCidr: a mapped range becomes its IPv4 range; single addresses get a full prefix', () => {
    assert.deepEqual(parseCidr('::FFFF:10.0.0.0/104'), { address: '10.0.0.0', prefix: 8, family: 'ipv4' });
    assert.deepEqual(parseCidr('192.0.2.1'), { address: '192.0.2.1', prefix: 32, family: 'ipv4' });
    assert.deepEqual(parseCidr('2001:db8::1'), { address: '2001:db8::1', prefix: 128, family: 'ipv6' });
  });
});
