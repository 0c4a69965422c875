import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decodeBindings, earliestExpiry, encodeBindings } from '../../modules/registrar/binding-codec.ts';
import type { Binding } from '../../modules/registrar/store.ts';

const plain: Binding = { aor: 'alice', dialect: 'plain', listener: 'plain:34567', address: { address: '::ffff:127.0.0.1', port: 40000 }, registeredAt: 1_795_000_000_123, expiresAt: null };
const sip: Binding = {
  aor: 'alice', dialect: 'sip', listener: 'sip "main"\t\u00e9', address: { address: '::1', port: 5062 }, registeredAt: 1_795_000_000_456, expiresAt: 1_795_003_600_456,
  contact: 'sip:alice@[::1]:5062;transport=tcp;x="a,b]"', q: 0.5, callId: 'a\\b"c\u0000d@host', cseq: 4_294_967_295, transport: 'tcp', connection: 17,
};

describe('binding codec', () => {
  it('round-trips plain and SIP bindings with every field, absent fields staying absent', () => {
    const back = decodeBindings('alice', encodeBindings([plain, sip]));
    assert.deepStrictEqual(back, [plain, sip]);
    assert.equal('contact' in back[0]!, false);
    assert.equal('connection' in back[0]!, false);
  });

  it('keeps a SIP binding registered over UDP without a connection', () => {
    const udp: Binding = { ...sip, transport: 'udp', connection: null, q: undefined };
    const [back] = decodeBindings('alice', encodeBindings([udp]));
    assert.equal(back!.transport, 'udp');
    assert.equal(back!.connection, null);
    assert.equal(back!.q, undefined);
  });

  it('takes the AOR from the key, not the text', () => {
    assert.equal(decodeBindings('bob', encodeBindings([plain]))[0]!.aor, 'bob');
  });

  it('an empty list encodes and decodes to an empty list', () => {
    assert.deepStrictEqual(decodeBindings('alice', encodeBindings([])), []);
  });

  it('finds the earliest expiry, ignoring bindings that never expire', () => {
    assert.equal(earliestExpiry([plain]), null);
    assert.equal(earliestExpiry([plain, sip, { ...sip, expiresAt: 5 }]), 5);
  });
});
