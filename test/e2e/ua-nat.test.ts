/**
 * A phone behind a real NAT: baresip in a private LAN namespace (192.168.77.2) behind a router
 * namespace that masquerades it as 203.0.113.254; the proxy in the "public" namespace
 * (203.0.113.1), a public linphone on a host of its own beside it (198.51.100.2). The private phone registers through the NAT, receives a
 * call from the public one, and both hear each other through the relay. Its SDP names its
 * private address, which nobody outside the LAN can reach: only latching on the packets it
 * sends makes the audio flow.
 *
 * Needs root (network namespaces, nftables or iptables); elsewhere the test says so and is
 * skipped, except under CI, which runs as root and must run it.
 */
import assert from 'node:assert/strict';
import { after, afterEach, before, describe, test } from 'node:test';
import { Baresip } from '../helpers/baresip.ts';
import { Linphone } from '../helpers/linphone.ts';
import { natTopology, netnsSupport, NetnsLab, type NatTopology } from '../helpers/netns.ts';
import { assertTwoWayAudio, endAnyCall, establish, hangUp, relaySessionOf, withRelayReport, type EstablishedCall } from '../helpers/ua-calls.ts';
import { party, UaProxy } from '../helpers/ua-proxy.ts';

const support = netnsSupport();
const skip = support.ok || process.env.CI === 'true' ? false : `needs network namespaces: ${support.reason}`;

let topo: NatTopology | undefined;
let proxy: UaProxy | undefined;
let pub: Linphone | undefined;
let lan: Baresip | undefined;

function lab(): { topo: NatTopology; proxy: UaProxy; pub: Linphone; lan: Baresip } {
  assert.ok(topo && proxy && pub && lan, 'the namespaces, the proxy and both user agents started');
  return { topo, proxy, pub, lan };
}

describe('a phone behind a masquerading NAT', { skip, timeout: 90_000 }, () => {
  before(async () => {
    assert.ok(support.ok, `network namespaces are needed under CI: ${support.ok ? '' : support.reason}`);
    const t = natTopology(NetnsLab.create());
    topo = t;
    proxy = await UaProxy.start({
      prefix: ['ip', 'netns', 'exec', t.pub],
      env: { SY_UA_SIP_HOST: '::', SY_UA_ADVERTISE: t.publicAddress, SY_UA_MEDIA_ADVERTISE: t.publicAddress },
    });
    const at = proxy.at(t.publicAddress);
    pub = await Linphone.start({ user: 'carol', proxy: at, toneHz: 1000, netns: { lab: t.lab, ns: t.peer } });
    lan = await Baresip.start({ user: 'dave', proxy: at, local: t.lanAddress, toneHz: 440, netns: { lab: t.lab, ns: t.lan } });
  });

  afterEach(async () => {
    if (pub && lan) await endAnyCall(pub, lan);
  });

  after(async () => {
    await Promise.allSettled([pub?.close(), lan?.close()]);
    if (proxy !== undefined) assert.equal(await proxy.stop(), 0);
    topo?.lab.destroy();
  });

  test('the private phone registers through the NAT: the proxy saves the router\'s public address', async () => {
    const { topo, proxy, pub, lan } = lab();
    const mark = proxy.mark();
    await lan.register();
    await pub.register();
    const saved = proxy.logsSince('registered', mark).find((l) => l.aor === 'dave');
    assert.ok(saved !== undefined, 'the registration in the proxy\'s log');
    assert.equal(String((saved.at as { address: string }).address).replace(/^::ffff:/, ''), topo.routerPublicAddress, 'the contact is reached at the NAT\'s public address');
  });

  /** The relay latched the private phone at the NAT's public address and forwarded both sides' audio. */
  function assertLatchedBehindNat(session: Awaited<ReturnType<typeof relaySessionOf>>, role: 'caller' | 'callee', t: NatTopology): void {
    const summary = JSON.stringify(session);
    const priv = party(session, role);
    assert.equal(priv.media.address.replace(/^::ffff:/, ''), t.routerPublicAddress, `the relay latched the private phone at the NAT's address, not its SDP's ${t.lanAddress}: ${summary}`);
    assert.ok(priv.latched && priv.packets >= 80, `the relay forwarded the private phone's audio: ${summary}`);
    assert.ok(party(session, role === 'caller' ? 'callee' : 'caller').packets >= 80, `the relay forwarded the public phone's audio: ${summary}`);
  }

  async function talkAndHangUp(call: EstablishedCall, by: 'caller' | 'callee', privateRole: 'caller' | 'callee'): Promise<void> {
    const { topo, proxy } = lab();
    await withRelayReport(proxy, call, async () => {
      await assertTwoWayAudio(call, 2);
      await hangUp(call, by);
      assertLatchedBehindNat(await relaySessionOf(proxy, call), privateRole, topo);
    });
  }

  test('a public phone calls the private one: audio both ways through the relay, BYE from the public phone', async () => {
    const { proxy, pub, lan } = lab();
    await talkAndHangUp(await establish(proxy, pub, lan), 'caller', 'callee');
  });

  test('the private phone calls a public one: audio both ways through the relay, BYE from the private phone', async () => {
    const { proxy, pub, lan } = lab();
    await talkAndHangUp(await establish(proxy, lan, pub), 'caller', 'caller');
  });
});
