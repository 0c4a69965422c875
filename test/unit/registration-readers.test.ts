/**
 * The dialects' registration readers (core/dialects/sip/registration.ts,
 * core/dialects/plain/registration.ts) and the kit's accessors over them (core/dialects/access.ts):
 * what a REGISTER asks, in the model's terms.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { RegistrationParse, RegistrationRequest } from '../../core/model/registration.ts';
import { registrationOf, sameContactUri } from '../../core/dialects/access.ts';
import { readPlainRegistration } from '../../core/dialects/plain/registration.ts';
import { readSipRegistration, sameSipContact } from '../../core/dialects/sip/registration.ts';
import { SOURCE, sipRegister } from './_registrar-fixtures.ts';
import { ALICE_ADDR, plainRequest } from './_unit-fixtures.ts';

function read(p: RegistrationParse): RegistrationRequest {
  assert.ok(p.ok, `expected a registration, got ${p.ok ? '' : p.reason}`);
  return p.registration;
}

function refused(p: RegistrationParse): string {
  assert.ok(!p.ok, 'expected the REGISTER to be refused');
  return p.reason;
}

const UDP_FLOW = { dialect: 'sip', listener: 'sip:udp:5060', address: SOURCE, transport: 'udp', connection: null } as const;

describe('readSipRegistration', () => {
  test('no Contact is a query of the To user', () => {
    assert.deepEqual(read(readSipRegistration(sipRegister({ headers: ['Expires: 600'] }))), { kind: 'query', aor: 'bob', flow: UDP_FLOW });
  });

  test('Contacts in one header and in several, with their own expires and q, the Expires header, Call-ID and CSeq', () => {
    const r = read(readSipRegistration(sipRegister({
      headers: [
        'Contact: <sip:bob@192.168.1.10>, "Bob desk" <sip:bob@192.168.1.11:5062;transport=tcp>;expires=900;q=0.7',
        'm: sip:bob@192.168.1.12;expires=300',
        'Expires: 600',
      ],
    })));
    assert.deepEqual(r, {
      kind: 'update', aor: 'bob', flow: UDP_FLOW,
      contacts: [
        { uri: 'sip:bob@192.168.1.10' },
        { uri: 'sip:bob@192.168.1.11:5062;transport=tcp', expiresSec: 900, q: 0.7 },
        { uri: 'sip:bob@192.168.1.12', expiresSec: 300 },
      ],
      callId: '843817637684230@998sdasdh09', seq: 1826, expiresSec: 600,
    });
  });

  test('no Expires header: no request-level lifetime; an expires or Expires that is not delta-seconds is ignored', () => {
    const r = read(readSipRegistration(sipRegister({ headers: ['Contact: <sip:bob@10.0.0.1>;expires=soon;q=high', 'Expires: never'] })));
    assert.equal(r.kind, 'update');
    if (r.kind !== 'update') return;
    assert.deepEqual(r.contacts, [{ uri: 'sip:bob@10.0.0.1' }]);
    assert.equal('expiresSec' in r, false);
    const plainNone = read(readSipRegistration(sipRegister({ headers: ['Contact: <sip:bob@10.0.0.1>'] })));
    assert.equal('expiresSec' in plainNone, false);
    const padded = read(readSipRegistration(sipRegister({ headers: ['Contact: <sip:bob@10.0.0.1>', 'Expires:   120  '] })));
    assert.equal(padded.kind === 'update' ? padded.expiresSec : null, 120);
  });

  test('Contact: * with Expires: 0 is remove-all, ordered by Call-ID and CSeq', () => {
    const r = read(readSipRegistration(sipRegister({ headers: ['Contact: *', 'Expires: 0'], callId: 'c1', cseq: 7 })));
    assert.deepEqual(r, { kind: 'remove-all', aor: 'bob', flow: UDP_FLOW, callId: 'c1', seq: 7 });
  });

  test('a wildcard without Expires: 0, or beside another Contact, is refused', () => {
    for (const headers of [['Contact: *'], ['Contact: *', 'Expires: 60'], ['Contact: *, <sip:bob@10.0.0.1>', 'Expires: 0'], ['Contact: <sip:bob@10.0.0.1>', 'Contact: *', 'Expires: 0']]) {
      assert.equal(refused(readSipRegistration(sipRegister({ headers }))), 'Wildcard Contact needs Expires: 0 and no other Contact');
    }
  });

  test('a Contact that is not a URI is refused, even after good ones', () => {
    assert.equal(refused(readSipRegistration(sipRegister({ headers: ['Contact: <not a uri>'] }))), 'Bad Contact');
    assert.equal(refused(readSipRegistration(sipRegister({ headers: ['Contact: <sip:bob@10.0.0.1>, <sip:>'] }))), 'Bad Contact');
  });

  test('a To without a user is refused', () => {
    assert.equal(refused(readSipRegistration(sipRegister({ to: '<sip:biloxi.example.com>', headers: ['Contact: <sip:192.168.1.10>'] }))), 'No user in To');
  });

  test('the flow: listener, source, TCP and its connection', () => {
    const r = read(readSipRegistration(sipRegister({ transport: 'tcp', connection: 12, listener: 'sip:tcp:5060', headers: ['Contact: <sip:bob@10.0.0.1;transport=tcp>'] })));
    assert.deepEqual(r.flow, { dialect: 'sip', listener: 'sip:tcp:5060', address: SOURCE, transport: 'tcp', connection: 12 });
  });
});

describe('readPlainRegistration', () => {
  test('REGISTER <user> is an update of one contact at the source, with no lifetime and no ordering', () => {
    const r = read(readPlainRegistration(plainRequest('REGISTER alice\r\n')));
    assert.deepEqual(r, {
      kind: 'update', aor: 'alice',
      flow: { dialect: 'plain', listener: 'plain:34567', address: ALICE_ADDR, transport: 'udp', connection: null },
      contacts: [{ uri: null }],
    });
  });
});

describe('registrationOf', () => {
  test('reads each request through its own dialect', () => {
    assert.equal(read(registrationOf(plainRequest('REGISTER alice\n'))).flow.dialect, 'plain');
    assert.equal(read(registrationOf(sipRegister())).flow.dialect, 'sip');
  });

  test('a request that is not a REGISTER is refused', () => {
    assert.match(refused(registrationOf(plainRequest('CALL FROM:alice TO:bob\n'))), /not a REGISTER/);
  });
});

describe('contact URI matching', () => {
  test('SIP (§10.3 step 5): scheme, user, host ignoring case, port with the default made explicit', () => {
    assert.ok(sameSipContact('sip:bob@Host.Example.com', 'sip:bob@host.example.com:5060'));
    assert.ok(sameSipContact('sips:bob@host', 'sips:bob@host:5061'));
    assert.ok(sameSipContact('sip:bob@host;transport=tcp', 'sip:bob@host'), 'URI parameters do not tell bindings apart');
    assert.ok(!sameSipContact('sip:bob@host', 'sips:bob@host'));
    assert.ok(!sameSipContact('sip:bob@host', 'sip:Bob@host'), 'the user part is case-sensitive');
    assert.ok(!sameSipContact('sip:bob@host', 'sip:bob@host:5070'));
    assert.ok(!sameSipContact('sip:bob@host', 'not a uri'));
  });

  test('sameContactUri chooses the rule by dialect', () => {
    assert.ok(sameContactUri('sip', 'sip:bob@HOST', 'sip:bob@host:5060'));
    assert.ok(!sameContactUri('plain', 'sip:bob@HOST', 'sip:bob@host:5060'));
    assert.ok(sameContactUri('plain', 'x', 'x'));
  });
});
