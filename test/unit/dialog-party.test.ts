/**
 * Who sent an in-dialog request (modules/dialog/party.ts): a party of the dialog by its tags
 * and its address, or a stranger who knows the Call-ID, or the tags too.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { Request } from '../../core/model/message.ts';
import type { Dialog } from '../../modules/dialog/dialog.ts';
import { checkParty } from '../../modules/dialog/party.ts';

const CALLER = { address: '::ffff:192.0.2.1', port: 5060 };
const CALLEE = { address: '192.0.2.2', port: 5070 };

function dialog(answered: boolean): Dialog {
  return {
    callId: 'c1', dialect: 'sip', caller: 'alice', callee: 'bob', callerTag: 'ta', invite: null, listener: 'sip:5060',
    ends: answered ? { fromTag: 'ta', toTag: 'tb', callerUri: '<sip:alice@x>', calleeUri: '<sip:bob@x>', callerContact: 'sip:a@x', calleeContact: 'sip:b@x', recordRoute: [], cseq: [1, 0] } : null,
    callerAddress: CALLER, calleeAddress: CALLEE, callerFlow: { dialect: 'sip', listener: 'sip:5060', address: CALLER, transport: 'udp', connection: null }, calleeFlow: null, state: answered ? 'confirmed' : 'early', createdAt: 0, confirmedAt: null, lifetimeTimer: null,
  };
}

function req(fromTag: string, toTag: string, source: { address: string; port: number }): Request {
  return { from: { user: 'x', tag: fromTag }, to: { user: 'y', tag: toTag }, source } as unknown as Request;
}

describe('checkParty', () => {
  test('the caller and the callee by their tags, each from its own address (IPv4-mapped or not)', () => {
    assert.deepEqual(checkParty(dialog(true), req('ta', 'tb', { address: '192.0.2.1', port: 1 }), true), { kind: 'party', party: 'caller' });
    assert.deepEqual(checkParty(dialog(true), req('tb', 'ta', { address: '::ffff:192.0.2.2', port: 2 }), true), { kind: 'party', party: 'callee' });
  });

  test('made-up tags, or the callee\'s tag wrong once answered, are wrong tags', () => {
    assert.deepEqual(checkParty(dialog(true), req('guess', 'tb', CALLER), true), { kind: 'wrong-tags' });
    assert.deepEqual(checkParty(dialog(true), req('ta', 'other-fork', CALLER), true), { kind: 'wrong-tags' });
    assert.deepEqual(checkParty(dialog(false), req('ta', 'any-fork', CALLER), true), { kind: 'party', party: 'caller' }, 'before the answer any callee tag');
  });

  test('the right tags from another address are a stranger, unless the source is not checked', () => {
    assert.deepEqual(checkParty(dialog(true), req('ta', 'tb', { address: '198.51.100.9', port: 1 }), true), { kind: 'wrong-source', party: 'caller' });
    assert.deepEqual(checkParty(dialog(true), req('tb', 'ta', CALLER), true), { kind: 'wrong-source', party: 'callee' }, 'the callee\'s tags from the caller\'s address');
    assert.deepEqual(checkParty(dialog(true), req('ta', 'tb', { address: '198.51.100.9', port: 1 }), false), { kind: 'party', party: 'caller' });
    assert.deepEqual(checkParty(dialog(false), req('early', 'ta', { address: '198.51.100.9', port: 1 }), true), { kind: 'party', party: 'callee' }, 'the answering branch is not known before the answer');
  });
});
