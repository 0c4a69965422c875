/**
 * Two independent SIP stacks through switchyard over UDP: baresip (libre) and linphone
 * (belle-sip, liblinphone). Calls both ways with audio both ways, rejection by either, BYE from
 * either side, hold and resume by re-INVITE from either side.
 */
import assert from 'node:assert/strict';
import { after, afterEach, before, describe, test } from 'node:test';
import { Baresip } from '../helpers/baresip.ts';
import { Linphone } from '../helpers/linphone.ts';
import { assertRelayCounted, assertTwoWayAudio, callWithTwoWayAudio, endAnyCall, establish, hangUp, relaySessionOf, withRelayReport } from '../helpers/ua-calls.ts';
import { UaProxy } from '../helpers/ua-proxy.ts';

let proxy: UaProxy | undefined;
let alice: Baresip | undefined;
let lin: Linphone | undefined;

function uas(): { proxy: UaProxy; alice: Baresip; lin: Linphone } {
  assert.ok(proxy && alice && lin, 'the proxy and both user agents started');
  return { proxy, alice, lin };
}

before(async () => {
  proxy = await UaProxy.start();
  alice = await Baresip.start({ user: 'alice', proxy: proxy.at(), toneHz: 440 });
  lin = await Linphone.start({ user: 'lin', proxy: proxy.at(), toneHz: 1000 });
});

after(async () => {
  await Promise.all([alice?.close(), lin?.close()]);
  if (proxy !== undefined) assert.equal(await proxy.stop(), 0);
});

afterEach(async () => {
  if (alice && lin) await endAnyCall(alice, lin);
});

describe('baresip and linphone through switchyard', { timeout: 60_000 }, () => {
  test('both register', async () => {
    const { proxy, alice, lin } = uas();
    const mark = proxy.mark();
    await alice.register();
    await lin.register();
    const users = proxy.logsSince('registered', mark).map((l) => l.aor);
    assert.ok(users.includes('alice') && users.includes('lin'), `both registrations in the proxy's log (${users.join(', ')})`);
  });

  test('baresip calls linphone: audio both ways, BYE from linphone', async () => {
    const { proxy, alice, lin } = uas();
    await callWithTwoWayAudio(proxy, alice, lin, 'callee');
  });

  test('linphone calls baresip: audio both ways, BYE from linphone', async () => {
    const { proxy, alice, lin } = uas();
    await callWithTwoWayAudio(proxy, lin, alice, 'caller');
  });

  test('baresip rejects linphone\'s call: linphone\'s call fails, the proxy passes on 486', async () => {
    const { proxy, alice, lin } = uas();
    const mark = proxy.mark();
    await lin.call(`sip:alice@${proxy.at()}`);
    await alice.waitForIncoming();
    await alice.reject();
    const ended = await lin.waitForClosed();
    assert.notEqual(ended, 'No error', 'linphone sees its call fail');
    await proxy.proxy.waitForLog((l) => l.msg === 'call failed' && l.status === 486, 5000, mark);
  });

  test('linphone rejects baresip\'s call: baresip is told', async () => {
    const { proxy, alice, lin } = uas();
    const mark = proxy.mark();
    await alice.call(`sip:lin@${proxy.at()}`);
    await lin.waitForIncoming();
    await lin.reject();
    const reason = await alice.waitForClosed();
    const failed = await proxy.proxy.waitForLog((l) => l.msg === 'call failed', 5000, mark);
    assert.ok(Number(failed.status) >= 400, `the proxy saw a failure (${failed.status})`);
    assert.match(reason, new RegExp(String(failed.status)), `baresip got the callee's ${failed.status} (${reason})`);
  });

  test('baresip holds linphone and resumes: audio flows again both ways, BYE from baresip', async () => {
    const { proxy, alice, lin } = uas();
    const call = await establish(proxy, alice, lin);
    await withRelayReport(proxy, call, async () => {
      await assertTwoWayAudio(call, 1);
      await alice.hold();
      await alice.resume();
      const fromAlice = await alice.receivedSeconds();
      const fromLin = await lin.receivedSeconds();
      await Promise.all([alice.waitForReceivedAudio(1.5, fromAlice), lin.waitForReceivedAudio(1.5, fromLin)]);
      const heard = lin.heard([440, 1000]);
      assert.ok(heard.presence[440]! >= 0.6, `linphone hears alice again after the resume: ${JSON.stringify(heard)}`);
      await hangUp(call, 'caller');
      assertRelayCounted(await relaySessionOf(proxy, call), call, 100);
    });
  });

  test('linphone holds baresip and resumes: baresip hears linphone again, BYE from baresip', async () => {
    const { proxy, alice, lin } = uas();
    const call = await establish(proxy, lin, alice);
    await withRelayReport(proxy, call, async () => {
      await assertTwoWayAudio(call, 1);
      await lin.hold();
      assert.equal((await alice.rtpStats()).direction, 'recvonly', 'baresip is told linphone holds the call');
      await lin.resume();
      assert.equal((await alice.rtpStats()).direction, 'sendrecv', 'baresip is told the call is resumed');
      const from = await alice.receivedSeconds();
      await alice.waitForReceivedAudio(1.5, from);
      await hangUp(call, 'callee');
      assertRelayCounted(await relaySessionOf(proxy, call), call, 100);
    });
  });
});
