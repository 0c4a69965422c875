/**
 * The same calls between baresip and linphone over TCP, over IPv6 (::1), and between an IPv4
 * and an IPv6 user agent: registration, a call each way with audio both ways, BYE.
 */
import assert from 'node:assert/strict';
import { after, afterEach, before, describe, test } from 'node:test';
import { Baresip } from '../helpers/baresip.ts';
import { Linphone } from '../helpers/linphone.ts';
import { callWithTwoWayAudio, endAnyCall, type CallParty } from '../helpers/ua-calls.ts';
import { UaProxy } from '../helpers/ua-proxy.ts';

let proxy: UaProxy | undefined;
const started: CallParty[] = [];

function theProxy(): UaProxy {
  assert.ok(proxy, 'the proxy started');
  return proxy;
}

async function startBaresip(o: Parameters<typeof Baresip.start>[0]): Promise<Baresip> {
  const ua = await Baresip.start(o);
  started.push(ua);
  return ua;
}

async function startLinphone(o: Parameters<typeof Linphone.start>[0]): Promise<Linphone> {
  const ua = await Linphone.start(o);
  started.push(ua);
  return ua;
}

/** A call from `caller` to `callee` with two seconds of audio both ways, ended by `by`. */
async function callWithAudio(caller: CallParty, callee: CallParty, by: 'caller' | 'callee'): Promise<void> {
  await callWithTwoWayAudio(theProxy(), caller, callee, by);
}

before(async () => {
  proxy = await UaProxy.start();
});

after(async () => {
  await Promise.all(started.map((ua) => (ua as Baresip | Linphone).close()));
  if (proxy !== undefined) assert.equal(await proxy.stop(), 0);
});

afterEach(async () => {
  await endAnyCall(...started);
});

describe('over TCP', { timeout: 60_000 }, () => {
  let alice: Baresip;
  let lin: Linphone;

  test('baresip and linphone register over TCP', async () => {
    const p = theProxy();
    alice = await startBaresip({ user: 'tcp-alice', proxy: p.at(), transport: 'tcp', toneHz: 440 });
    lin = await startLinphone({ user: 'tcp-lin', proxy: p.at(), transport: 'tcp', toneHz: 1000 });
    await alice.register();
    await lin.register();
  });

  test('baresip calls linphone over TCP: audio both ways, BYE from baresip', async () => {
    await callWithAudio(alice, lin, 'caller');
  });

  test('linphone calls baresip over TCP: audio both ways, BYE from baresip', async () => {
    await callWithAudio(lin, alice, 'callee');
  });
});

describe('over IPv6', { timeout: 60_000 }, () => {
  let bob6: Baresip;
  let lin6: Linphone;

  test('baresip and linphone register over IPv6', async () => {
    const p = theProxy();
    bob6 = await startBaresip({ user: 'v6-bob', proxy: p.at('::1'), local: '::1', toneHz: 1700 });
    lin6 = await startLinphone({ user: 'v6-lin', proxy: p.at('::1'), toneHz: 1000 });
    await bob6.register();
    await lin6.register();
  });

  test('baresip calls linphone over IPv6: audio both ways, BYE from linphone', async () => {
    await callWithAudio(bob6, lin6, 'callee');
  });

  test('linphone calls baresip over IPv6: audio both ways, BYE from linphone', async () => {
    await callWithAudio(lin6, bob6, 'caller');
  });

  test('an IPv4 baresip calls the IPv6 baresip: audio both ways', async () => {
    const p = theProxy();
    const alice4 = await startBaresip({ user: 'v4-alice', proxy: p.at(), toneHz: 440 });
    await alice4.register();
    await callWithAudio(alice4, bob6, 'caller');
  });
});
