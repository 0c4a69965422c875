/**
 * The dialog module (modules/dialog): a message of one dialect never reads, routes along or ends
 * a dialog of the other, and a plain call the proxy ends is over for both parties (a BYE to each
 * through core.originate, the caller first).
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { buildContext } from '../../core/kernel/context.ts';
import type { OriginateRequest } from '../../core/kernel/core-services.ts';
import { MessageContext } from '../../core/kernel/message-context.ts';
import { ModuleRegistry } from '../../core/kernel/module-registry.ts';
import { validateModules } from '../../core/kernel/validate-modules.ts';
import type { AnyModule } from '../../core/kernel/define-module.ts';
import type { Request } from '../../core/model/message.ts';
import { dialog, type DialogApi } from '../../modules/index.ts';
import { ALICE_ADDR, BOB_ADDR, fakeCore, plainReply, plainRequest, silentLog, snapshot } from './_unit-fixtures.ts';

const PLAIN_CALL_ID = 'plain:alice|bob';

async function setUp(): Promise<{ reg: ModuleRegistry; api: DialogApi; core: ReturnType<typeof fakeCore>; originated: OriginateRequest[] }> {
  const originated: OriginateRequest[] = [];
  const core = { ...fakeCore(), originate: async (r: OriginateRequest) => { originated.push(r); return { status: 200, reason: 'sent', reply: null }; } };
  const reg = await ModuleRegistry.boot(validateModules([dialog()] as unknown as AnyModule[]), core, silentLog);
  return { reg, api: reg.api<DialogApi>('dialog')!, core, originated };
}

/** A SIP request the model would give for a forged Call-ID equal to a plain call's. */
function sipLike(method: 'INVITE' | 'BYE', plain: Request): Request {
  return { ...plain, dialect: 'sip', method, inDialog: method === 'BYE', callId: PLAIN_CALL_ID };
}

function plainCall(core: ReturnType<typeof fakeCore>): Request {
  const invite = plainRequest('CALL FROM:alice TO:bob\n', ALICE_ADDR);
  assert.equal(invite.callId, PLAIN_CALL_ID);
  const txn = { request: invite, snapshot: snapshot(), onFailure: undefined, onReply: undefined, startedAt: 0 };
  core.hooks.emitRequestForward({ request: invite, target: BOB_ADDR, txn: txn as never });
  core.hooks.emitAnswer({ request: invite, reply: plainReply('ACK_CALL FROM:bob TO:alice\n', BOB_ADDR), txn: txn as never });
  return invite;
}

describe('dialog module', () => {
  test('a SIP message carrying a plain call\'s Call-ID neither sees, follows nor ends the plain dialog', async () => {
    const { reg, api, core } = await setUp();
    try {
      const invite = plainCall(core);
      assert.equal(api.get(PLAIN_CALL_ID)?.state, 'confirmed');
      assert.deepEqual(api.peerOf(PLAIN_CALL_ID, { user: 'alice', address: ALICE_ADDR }, 'plain'), BOB_ADDR);
      assert.equal(api.peerOf(PLAIN_CALL_ID, { user: 'alice', address: ALICE_ADDR }, 'sip'), undefined, 'no SIP request is routed to a plain party');
      const sipBye = sipLike('BYE', invite);
      const mc = new MessageContext('request', sipBye, snapshot(), silentLog);
      assert.equal((buildContext(mc, reg) as unknown as { dialogState(): unknown }).dialogState(), null, 'dialogState() of a SIP message is not the plain call\'s');
      core.hooks.emitRequestForward({ request: sipBye, target: BOB_ADDR, txn: null });
      core.hooks.emitRequestForward({ request: sipLike('INVITE', invite), target: BOB_ADDR, txn: { request: sipLike('INVITE', invite) } as never });
      assert.equal(api.get(PLAIN_CALL_ID)?.state, 'confirmed', 'neither a SIP BYE nor a SIP INVITE ends or replaces it');
    } finally {
      await reg.close();
    }
  });

  test('the sender\'s address picks the other party, whichever user the request names first', async () => {
    const { reg, api, core } = await setUp();
    try {
      plainCall(core);
      assert.deepEqual(api.peerOf(PLAIN_CALL_ID, { user: 'alice', address: BOB_ADDR }, 'plain'), ALICE_ADDR, 'from bob\'s address: to alice');
      assert.deepEqual(api.peerOf(PLAIN_CALL_ID, { user: 'bob', address: { address: '::1', port: 9 } }, 'plain'), ALICE_ADDR, 'from elsewhere: by the user named');
    } finally {
      await reg.close();
    }
  });

  test('a plain call the proxy ends (media idle) gets BYE FROM:<caller> TO:<callee> to both parties, caller first; a BYE-ended one gets none', async () => {
    const { reg, api, core, originated } = await setUp();
    try {
      plainCall(core);
      assert.equal(api.terminate(PLAIN_CALL_ID, 'timeout'), true);
      assert.deepEqual(originated, [{ dialect: 'plain', method: 'BYE', from: 'alice', to: 'bob', targets: [ALICE_ADDR, BOB_ADDR], listener: 'plain:34567' }]);
      const invite = plainCall(core);
      core.hooks.emitRequestForward({ request: plainRequest('BYE FROM:alice TO:bob\n', ALICE_ADDR), target: BOB_ADDR, txn: null });
      assert.equal(api.get(invite.callId), undefined, 'ended by the BYE');
      assert.equal(originated.length, 1, 'the parties ended it themselves: no BYE of the proxy\'s');
    } finally {
      await reg.close();
    }
  });
});
