import assert from 'node:assert/strict';
import { test } from 'node:test';
import { canonicalIp, isAlwaysLocal } from '../../core/lib/ip-literal.ts';
import { LocalNode } from '../../core/dialects/sip/local-node.ts';

test('every spelling of an IP literal a resolver accepts reduces to one form', () => {
  for (const h of ['127.0.0.1', '127.1', '0x7f.1', '0x7F000001', '2130706433', '0177.0.0.1', '[::ffff:7f00:1]', '[::ffff:127.0.0.1]', '::FFFF:7F00:1']) {
    assert.equal(canonicalIp(h), '127.0.0.1', h);
  }
  assert.equal(canonicalIp('[0:0:0:0:0:0:0:1]'), '::1');
  assert.equal(canonicalIp('0'), '0.0.0.0');
  assert.equal(canonicalIp('FE80::1'), 'fe80::1');
  for (const name of ['example.com', '1e3', '10.0.0.256', '256.1', '1.2.3.4.5', '4294967296', '08', 'localhost']) assert.equal(canonicalIp(name), null, name);
});

test('the loopback network, the unspecified addresses and ::1 always reach this host', () => {
  for (const ip of ['127.0.0.1', '127.9.9.9', '0.0.0.0', '::', '::1']) assert.equal(isAlwaysLocal(ip), true, ip);
  for (const ip of ['10.0.0.1', 'fe80::1', '128.0.0.1']) assert.equal(isAlwaysLocal(ip), false, ip);
});

test('the proxy knows itself in any spelling, on its own ports only', () => {
  const n = new LocalNode();
  n.add({ host: '198.51.100.7', port: 5070 });
  for (const uri of ['sip:127.1:5070', 'sip:x@0.0.0.0:5070', 'sip:[::ffff:7f00:1]:5070', 'sip:2130706433:5070', 'sip:198.51.100.7:5070', 'sip:[::ffff:c633:6407]:5070', 'sip:[::]:5070']) {
    assert.equal(n.isUs(uri), true, uri);
  }
  assert.equal(n.isUs('sip:127.1:5071'), false);
  assert.equal(n.isOwnAddress({ address: '::ffff:127.0.0.1', port: 5070 }), true);
  assert.equal(n.isOwnAddress({ address: '127.0.0.1', port: 5071 }), false);
  assert.equal(n.isOwnAddress({ address: '192.0.2.1', port: 5070 }), false);
});
