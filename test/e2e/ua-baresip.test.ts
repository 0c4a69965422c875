/**
 * baresip calls baresip through switchyard (the default route script) over UDP on loopback:
 * registration, a call with audio both ways, rejection, hold and resume by re-INVITE, BYE from
 * either side, OPTIONS to the proxy itself, and a phone whose SDP names an address it does not
 * send from. Each side plays its own tone; what each decoded is checked for the other's tone,
 * and the relay's per-party counters for where it knew each party.
 */
import assert from 'node:assert/strict';
import os from 'node:os';
import { after, afterEach, before, describe, test } from 'node:test';
import { Baresip } from '../helpers/baresip.ts';
import { assertRelayCounted, assertTwoWayAudio, callWithTwoWayAudio, endAnyCall, establish, hangUp, relaySessionOf, withRelayReport } from '../helpers/ua-calls.ts';
import { party, UaProxy } from '../helpers/ua-proxy.ts';

let proxy: UaProxy;
let alice: Baresip;
let bob: Baresip;
const started: Baresip[] = [];

before(async () => {
  proxy = await UaProxy.start();
  alice = await Baresip.start({ user: 'alice', proxy: proxy.at(), toneHz: 440 });
  started.push(alice);
  bob = await Baresip.start({ user: 'bob', proxy: proxy.at(), toneHz: 1000 });
  started.push(bob);
});

after(async () => {
  await Promise.all(started.map((ua) => ua.close()));
  if (proxy !== undefined) assert.equal(await proxy.stop(), 0);
});

afterEach(async () => {
  await endAnyCall(alice, bob);
});

describe('baresip through switchyard over UDP', { timeout: 60_000 }, () => {
  test('both register: the proxy saves each contact with the address it registered from', async () => {
    const mark = proxy.mark();
    await alice.register();
    await bob.register();
    for (const ua of [alice, bob]) {
      const saved = proxy.logsSince('registered', mark).find((l) => l.aor === ua.opts.user);
      assert.ok(saved !== undefined, `a registration of ${ua.opts.user} in the proxy's log`);
      assert.equal(saved.contacts, 1);
      assert.deepEqual(saved.at, { address: '::ffff:127.0.0.1', port: ua.sipPort });
    }
  });

  test('alice calls bob: audio both ways through the relay, BYE from the caller', async () => {
    await callWithTwoWayAudio(proxy, alice, bob, 'caller');
  });

  test('bob rejects a call: alice is told 486', async () => {
    const mark = proxy.mark();
    await alice.call(`sip:bob@${proxy.at()}`);
    await bob.waitForIncoming();
    await bob.reject();
    const reason = await alice.waitForClosed();
    assert.match(reason, /486/, `the caller is told the callee was busy (${reason})`);
    await proxy.proxy.waitForLog((l) => l.msg === 'call failed' && l.status === 486, 5000, mark);
  });

  test('hold and resume by re-INVITE: audio flows again after the resume, BYE from the callee', async () => {
    const call = await establish(proxy, alice, bob);
    await withRelayReport(proxy, call, async () => {
      await assertTwoWayAudio(call, 1);
      await alice.hold();
      const held = await bob.rtpStats();
      assert.equal(held.direction, 'recvonly', 'bob is told alice holds the call (a=sendonly)');
      await alice.resume();
      assert.equal((await bob.rtpStats()).direction, 'sendrecv', 'bob is told the call is resumed');
      const [fromA, fromB] = [await alice.receivedSeconds(), await bob.receivedSeconds()];
      await Promise.all([alice.waitForReceivedAudio(1.5, fromA), bob.waitForReceivedAudio(1.5, fromB)]);
      await hangUp(call, 'callee');
      const session = await relaySessionOf(proxy, call);
      assertRelayCounted(session, call, 100);
    });
  });

  // baresip 1.0 completes a URI without a user part into sip:<host:port>@<its domain>, so it
  // cannot send OPTIONS to the proxy itself; test/e2e/sip-sipp.test.ts does that with SIPp.
  test('OPTIONS to a registered phone is forwarded to it and answered by it', async () => {
    assert.equal(await alice.options(`sip:bob@${proxy.at()}`), 200);
  });

  // Issue item 1 on loopback: baresip's SDP names the host's first interface address while its
  // RTP leaves from 127.0.0.1, as a phone behind NAT names its private address.
  const hostAddress = Object.values(os.networkInterfaces()).flat().find((i) => i !== undefined && i.family === 'IPv4' && !i.internal)?.address;
  test('a phone whose SDP names an address it does not send from is latched: audio both ways', { skip: hostAddress === undefined ? 'this host has no non-loopback IPv4 address for baresip to name in its SDP' : false }, async () => {
    const carol = await Baresip.start({ user: 'carol', proxy: proxy.at(), toneHz: 1700, sdpAddress: hostAddress! });
    started.push(carol);
    await carol.register();
    try {
      const call = await establish(proxy, carol, bob);
      await withRelayReport(proxy, call, async () => {
        await assertTwoWayAudio(call, 2);
        await hangUp(call, 'caller');
        const session = await relaySessionOf(proxy, call);
        assert.equal(party(session, 'caller').media.address.replace(/^::ffff:/, ''), '127.0.0.1', `the relay latched carol at the address her RTP comes from: ${JSON.stringify(session)}`);
        assertRelayCounted(session, call, 80);
      });
    } finally {
      await endAnyCall(carol);
    }
  });
});
