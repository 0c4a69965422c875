/**
 * A browser calling a plain RTP phone through switchyard, rtpengine bridging the crypto layer:
 * headless Chromium runs the example page of examples/webrtc/ and registers over WebSocket as
 * alice (DTLS-SRTP, ICE, rtcp-mux: UDP/TLS/RTP/SAVPF); baresip registers over UDP as bob (RTP/AVP,
 * no ICE, RTCP on its own port). The route engages the media proxy with `bridge: 'auto'` and a
 * real rtpengine as the remote relay. Alice calls bob, bob answers; the SDP bob got is RTP/AVP
 * without fingerprint or ICE, the SDP the browser got is UDP/TLS/RTP/SAVPF with the relay's
 * fingerprint and candidate, and audio flows both ways: the browser's inbound audio bytes grow
 * over a candidate pair that ends at rtpengine, baresip counts RTP received, and rtpengine's own
 * counters show RTP from both parties, one leg DTLS-SRTP and the other plain RTP.
 *
 * Addresses: everything listens on loopback. Chromium gathers no loopback candidates of its own,
 * so the browser's ICE runs from its host candidate on this machine's other interface (eth0)
 * to rtpengine's candidate, 127.0.0.1: Linux delivers a datagram between two local addresses
 * locally, whatever interface they are on, so nothing leaves the machine and no namespace or
 * dummy interface is needed. The page announces its own candidates (no `relayOnly`): rtpengine,
 * told `ICE=force` toward the browser, checks them as a full ICE agent.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { networkInterfaces } from 'node:os';
import { after, before, describe, test } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import puppeteer, { type Browser, type Page } from 'puppeteer-core';
import { servePage } from '../../examples/webrtc/serve.ts';
import { legTotals } from '../../modules/media-relay/ng/call-stats.ts';
import { NgClient } from '../../modules/media-relay/ng/client.ts';
import { Baresip } from '../helpers/baresip.ts';
import { ProxyProcess, writeScript } from '../helpers/proxy-process.ts';
import { type Rtpengine, rtpengineMissing, startRtpengine } from '../helpers/rtpengine.ts';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const LOOP = '127.0.0.1';

function chromiumMissing(): string | null {
  if (existsSync(CHROMIUM)) return null;
  const why = `Chromium is not installed (${CHROMIUM}; apt-get install -y chromium)`;
  if (process.env.CI !== undefined && process.env.CI !== '' && process.env.CI !== 'false') throw new Error(`${why}; CI must run this test`);
  return why;
}

const missing = chromiumMissing() ?? rtpengineMissing();

const script = (ng: number): string => `import { defineProxy } from 'switchyard';
import { callRouting, dialog, mediaRelay, registrar } from 'switchyard/modules';

export default defineProxy({
  listen: [
    { dialect: 'sip', port: 0, advertise: '${LOOP}' },
    { dialect: 'sip', transport: 'ws', port: 0, advertise: '${LOOP}' },
  ],
  modules: [
    registrar(), dialog(), callRouting(),
    mediaRelay({ relays: [{ name: 'rtpengine', ng: '${LOOP}:${ng}' }] }),
  ],
  routes: {
    request(ctx) {
      const { msg } = ctx;
      if (msg.method === 'REGISTER') return ctx.register();
      if (msg.inDialog) return ctx.forwardCall();
      if (msg.method === 'INVITE') {
        ctx.engageMediaProxy({ bridge: 'auto' });
        ctx.recordRoute();
      }
      return ctx.forwardCall();
    },
  },
});
`;

describe('a browser calls a plain RTP phone, rtpengine bridges DTLS-SRTP and RTP', { skip: missing ?? false }, () => {
  let rtpe: Rtpengine;
  let proxy: ProxyProcess;
  let page: Awaited<ReturnType<typeof servePage>>;
  let browser: Browser;
  let bob: Baresip;
  let ng: NgClient;

  before(async () => {
    const own = Object.values(networkInterfaces()).flat().some((a) => a !== undefined && a.family === 'IPv4' && !a.internal);
    assert.ok(own, 'Chromium needs an IPv4 address besides loopback for a host candidate of its own (see the comment at the top)');
    rtpe = await startRtpengine();
    ng = await NgClient.open({ host: LOOP, port: rtpe.ngPort });
    proxy = await ProxyProcess.start({ configFile: writeScript('webrtc-bridge', script(rtpe.ngPort)) });
    page = await servePage(0);
    browser = await puppeteer.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: ['--no-sandbox', '--use-fake-device-for-media-stream', '--use-fake-ui-for-media-stream', '--autoplay-policy=no-user-gesture-required'],
    });
  });

  after(async () => {
    await bob?.close();
    await browser?.close();
    page?.close();
    await ng?.close();
    const code = await proxy?.stop();
    await rtpe?.stop();
    assert.equal(code, 0, 'the proxy shuts down cleanly');
  });

  test('alice in Chromium calls bob on baresip: each gets its own kind of SDP, audio both ways', async () => {
    const sipPort = proxy.portOf('sip');
    const wsPort = Number((await proxy.waitForLog((l) => l.msg === 'listening' && l.transport === 'ws')).port);
    bob = await Baresip.start({ user: 'bob', proxy: `${LOOP}:${sipPort}`, toneHz: 440, sipTrace: true });
    await bob.register();

    const alice = await browser.newPage();
    alice.on('pageerror', (e) => { throw e; });
    await alice.goto(`http://${LOOP}:${page.port}/?server=ws://${LOOP}:${wsPort}&user=alice&domain=${LOOP}`);
    await seen(alice, 'ready');
    await alice.evaluate(() => (globalThis as unknown as { phone: { call(t: string): Promise<void> } }).phone.call('bob'));
    const incoming = await bob.waitForIncoming();

    // What bob was offered: plain RTP, nothing of WebRTC.
    const offered = sdpOf(bob.sipTrace(), /^INVITE sip:/m);
    assert.match(offered, /^m=audio \d+ RTP\/AVP /m, `bob is offered RTP/AVP:\n${offered}`);
    for (const webrtc of [/^a=fingerprint:/m, /^a=setup:/m, /^a=ice-ufrag:/m, /^a=candidate:/m, /^a=rtcp-mux/m]) {
      assert.doesNotMatch(offered, webrtc, `bob's offer has no ${webrtc}:\n${offered}`);
    }

    await bob.answer();
    await seen(alice, 'answered');

    // What the browser was answered: DTLS-SRTP with the relay's fingerprint and its ICE candidates.
    const answered = await alice.evaluate(() => (globalThis as unknown as { phone: { remoteSdp(): string | null } }).phone.remoteSdp());
    assert.ok(answered !== null, 'the browser has a remote description');
    assert.match(answered, /^m=audio \d+ UDP\/TLS\/RTP\/SAVPF /m, `the browser is answered UDP/TLS/RTP/SAVPF:\n${answered}`);
    assert.match(answered, /^a=fingerprint:sha-\d+ [0-9A-F:]+\r?$/mi);
    assert.match(answered, /^a=setup:passive\r?$/m, 'the relay takes the passive DTLS role (DTLS=passive)');
    assert.match(answered, /^a=ice-ufrag:\S+/m);
    assert.match(answered, /^a=ice-pwd:\S+/m);
    assert.match(answered, new RegExp(`^a=candidate:\\S+ 1 UDP \\d+ 127\\.0\\.0\\.1 \\d+ typ host`, 'mi'), 'the relay is the ICE candidate');
    assert.match(answered, /^a=rtcp-mux\r?$/m);

    // Audio both ways: the browser's inbound bytes grow; baresip receives RTP.
    const first = await stats(alice);
    let last = first;
    for (let i = 0; i < 100; i++) {
      last = await stats(alice);
      if ((last?.bytes ?? 0) > (first?.bytes ?? 0) + 4000) break;
      await delay(100); // getStats has no event for bytes arriving: poll, at most 10 s
    }
    assert.ok((last?.bytes ?? 0) > (first?.bytes ?? 0) + 4000, `the browser receives audio: ${JSON.stringify({ first, last })}\n${rtpe.log().slice(-3000)}`);
    const [host, port] = (last?.remote ?? ':').split(':');
    assert.ok(host === LOOP && Number(port) >= rtpe.media.min && Number(port) <= rtpe.media.max, `the browser's selected candidate pair ends at rtpengine: ${last?.remote}`);
    const rtp = await bob.waitForRtp(null, 50);
    assert.ok(rtp.txPackets > 0 && rtp.rxPackets >= 50, `bob sends and receives RTP: ${JSON.stringify(rtp)}`);

    // rtpengine's own counters: both legs sent it packets.
    const q = await ng.query({ callId: incoming.callId });
    assert.ok(q.ok, `rtpengine knows the call: ${JSON.stringify(q)}`);
    const legs = q.value.tags.map((t) => ({ tag: t.tag, rtp: legTotals(t).rtp.packets, protocol: t.medias[0]?.protocol }));
    assert.equal(legs.length, 2, JSON.stringify(legs));
    for (const leg of legs) assert.ok(leg.rtp > 20, `rtpengine received RTP from both parties: ${JSON.stringify(legs)}`);
    assert.deepEqual(legs.map((l) => l.protocol).sort(), ['RTP/AVP', 'UDP/TLS/RTP/SAVPF'], `one leg DTLS-SRTP, the other plain RTP: ${JSON.stringify(legs)}`);

    await alice.evaluate(() => (globalThis as unknown as { phone: { hangup(): Promise<void> } }).phone.hangup());
    await bob.waitForClosed();
    await alice.close();
  });
});

/** Waits until the page's phone logged `event`; a timeout says what it did log. */
async function seen(tab: Page, event: string): Promise<void> {
  try {
    await tab.waitForFunction((e) => (globalThis as unknown as { phone?: { events: string[] } }).phone?.events.includes(e) === true, { timeout: 10_000, polling: 50 }, event);
  } catch {
    const log = await tab.evaluate(() => (globalThis as unknown as { phone?: { events: string[] } }).phone?.events ?? []);
    throw new Error(`${tab.url()}: no '${event}' within 10 s; it logged: ${JSON.stringify(log)}`);
  }
}

const stats = (tab: Page): Promise<{ bytes: number; remote: string | null } | null> =>
  tab.evaluate(() => (globalThis as unknown as { phone: { stats(): Promise<{ bytes: number; remote: string | null } | null> } }).phone.stats());

/** The SDP body of the first SIP message in `trace` whose start line matches `start`. */
function sdpOf(trace: string, start: RegExp): string {
  const at = trace.search(start);
  assert.ok(at >= 0, `no ${start} in baresip's trace:\n${trace.slice(-4000)}`);
  const rest = trace.slice(at);
  const body = rest.search(/^v=0\r?$/m);
  assert.ok(body >= 0, `no SDP after ${start}:\n${rest.slice(0, 3000)}`);
  const sdp = rest.slice(body).split(/\r?\n/);
  const end = sdp.findIndex((l) => l !== '' && !/^[a-z]=/.test(l));
  return (end < 0 ? sdp : sdp.slice(0, end)).join('\n');
}
