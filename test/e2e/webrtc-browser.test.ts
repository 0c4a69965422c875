/**
 * A real browser (Debian's chromium, headless, fake microphone) runs the example page of
 * examples/webrtc/: two tabs register over WebSocket (WS, then WSS with a certificate made
 * here) as alice and bob with SIP.js, alice calls
 * bob, bob answers, both tabs receive audio (getStats inbound bytes grow) over a candidate
 * pair that goes through the relay (the pages offer no candidate of their own), the relay's
 * own counters confirm the packets, and alice's hang-up reaches bob as a BYE.
 */
import assert from 'node:assert/strict';
import { networkInterfaces } from 'node:os';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { after, before, test } from 'node:test';
import puppeteer, { type Browser, type Page } from 'puppeteer-core';
import { servePage } from '../../examples/webrtc/serve.ts';
import { freeRange } from '../helpers/ports.ts';
import { ProxyProcess, REPO } from '../helpers/proxy-process.ts';
import { SipUa } from '../helpers/sip-ua.ts';
import { certDir, makeCa, makeCert } from '../helpers/test-certs.ts';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
/** Chromium gathers no loopback candidates: the relay is announced on this machine's first other IPv4 address. */
const ADVERTISE = Object.values(networkInterfaces()).flat().find((a) => a !== undefined && a.family === 'IPv4' && !a.internal)?.address ?? '127.0.0.1';
const RELAY_PORTS = await freeRange(40);

interface PhoneStats { bytes: number; remote: string | null }

let proxy: ProxyProcess;
let page: Awaited<ReturnType<typeof servePage>>;
let browser: Browser;
let wsPort: number;
let wssPort: number;

before(async () => {
  const dir = certDir('webrtc');
  const cert = makeCert(dir, 'proxy', makeCa(dir));
  proxy = await ProxyProcess.start({
    configFile: path.join(REPO, 'examples', 'webrtc', 'proxy.config.ts'),
    env: { ...process.env, SIP_PORT: '0', WS_PORT: '0', WSS_PORT: '0', WSS_CERT: cert.cert, WSS_KEY: cert.key, MEDIA_PORTS: RELAY_PORTS, ADVERTISE },
  });
  wsPort = Number((await proxy.waitForLog((l) => l.msg === 'listening' && l.transport === 'ws')).port);
  wssPort = Number((await proxy.waitForLog((l) => l.msg === 'listening' && l.transport === 'wss')).port);
  page = await servePage(0);
  browser = await puppeteer.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--use-fake-device-for-media-stream', '--use-fake-ui-for-media-stream', '--autoplay-policy=no-user-gesture-required',
      // The certificate is made by this test and trusted by nothing: this browser accepts it.
      '--ignore-certificate-errors'],
  });
});

after(async () => {
  await browser?.close();
  page?.close();
  assert.equal(await proxy?.stop(), 0, 'the proxy shuts down cleanly');
});

async function phone(user: string, server: string): Promise<Page> {
  const tab = await browser.newPage();
  tab.on('pageerror', (e) => { throw e; });
  await tab.goto(`http://127.0.0.1:${page.port}/?server=${server}&user=${user}&domain=127.0.0.1&relayOnly=1`);
  await seen(tab, 'ready');
  return tab;
}

/** Waits until the page's phone logged `event`; a timeout says what it did log. */
async function seen(tab: Page, event: string): Promise<void> {
  try {
    await tab.waitForFunction((e) => (globalThis as unknown as { phone?: { events: string[] } }).phone?.events.includes(e) === true, { timeout: 10_000, polling: 50 }, event); // rAF polling stalls in a background tab
  } catch {
    const log = await tab.evaluate(() => (globalThis as unknown as { phone?: { events: string[] } }).phone?.events ?? []);
    throw new Error(`${tab.url()}: no '${event}' within 10 s; it logged: ${JSON.stringify(log)}`);
  }
}

const events = (tab: Page): Promise<string[]> => tab.evaluate(() => (globalThis as unknown as { phone: { events: string[] } }).phone.events.slice());
const stats = (tab: Page): Promise<PhoneStats | null> => tab.evaluate(() => (globalThis as unknown as { phone: { stats(): Promise<PhoneStats | null> } }).phone.stats());

async function call(server: string): Promise<void> {
  const alice = await phone('alice', server);
  const bob = await phone('bob', server);
  await alice.evaluate(() => (globalThis as unknown as { phone: { call(t: string): Promise<void> } }).phone.call('bob'));
  await seen(bob, 'incoming call');
  await bob.evaluate(() => (globalThis as unknown as { phone: { answer(): Promise<void> } }).phone.answer());
  await seen(alice, 'answered');

  // Audio flows both ways: inbound bytes grow on each side, over a pair whose remote end is the relay.
  const first = { alice: await stats(alice), bob: await stats(bob) };
  let last = first;
  for (let i = 0; i < 100; i++) {
    last = { alice: await stats(alice), bob: await stats(bob) };
    if ((last.alice?.bytes ?? 0) > (first.alice?.bytes ?? 0) + 4000 && (last.bob?.bytes ?? 0) > (first.bob?.bytes ?? 0) + 4000 && last.alice?.remote && last.bob?.remote) break;
    await delay(100); // getStats has no event for bytes arriving: poll, at most 10 s
  }
  assert.ok((last.alice?.bytes ?? 0) > (first.alice?.bytes ?? 0) + 4000, `alice receives audio: ${JSON.stringify(last)}`);
  assert.ok((last.bob?.bytes ?? 0) > (first.bob?.bytes ?? 0) + 4000, `bob receives audio: ${JSON.stringify(last)}`);
  const [lo, hi] = RELAY_PORTS.split('-').map(Number) as [number, number];
  for (const who of [last.alice, last.bob]) {
    const [host, port] = who!.remote!.split(':');
    assert.equal(host, ADVERTISE, `the selected pair's remote candidate is the relay: ${who!.remote}`);
    assert.ok(Number(port) >= lo && Number(port) <= hi, `a relay port: ${who!.remote}`);
  }

  const from = proxy.logs.length;
  await alice.evaluate(() => (globalThis as unknown as { phone: { hangup(): Promise<void> } }).phone.hangup());
  await seen(bob, 'hung up');
  assert.ok((await events(bob)).includes('hung up'), 'bob saw the BYE');
  // The relay's own counters: both parties sent through it.
  const ended = await proxy.waitForLog((l) => l.msg === 'media session ended', 10_000, from);
  const parties = ended.parties as { packets: number; bytes: number; latched: boolean }[];
  assert.equal(parties.length, 2);
  for (const p of parties) assert.ok(p.latched && p.packets > 50, `the relay forwarded this party's packets: ${JSON.stringify(parties)}`);
  await alice.close();
  await bob.close();
}

test('two browser tabs call each other over WS, audio through the relay, hang-up seen by the callee', () => call(`ws://127.0.0.1:${wsPort}`));
test('the same over WSS, with a test certificate', () => call(`wss://127.0.0.1:${wssPort}`));

test('a tab that registered and is closed: its binding goes, a call to it is refused at once', async () => {
  const carol = await phone('carol', `ws://127.0.0.1:${wsPort}`);
  const from = proxy.logs.length;
  await carol.close();
  await proxy.waitForLog((l) => l.msg === 'bindings of a closed connection removed' && (l.users as string[]).includes('carol'), 5000, from);
  const sipPort = Number((await proxy.waitForLog((l) => l.msg === 'listening' && l.transport === 'udp')).port);
  const dave = await SipUa.open('127.0.0.1');
  try {
    const started = Date.now();
    dave.send(`INVITE sip:carol@127.0.0.1:${sipPort} SIP/2.0\nVia: SIP/2.0/UDP ${dave.hostport};branch=z9hG4bK-tab1;rport\nMax-Forwards: 70\nFrom: <sip:dave@127.0.0.1>;tag=d1\nTo: <sip:carol@127.0.0.1>\nCall-ID: closed-tab-1\nCSeq: 1 INVITE\nContact: <sip:dave@${dave.hostport}>\nContent-Length: 0\n\n`, sipPort);
    assert.match(await dave.next(/^SIP\/2\.0 [4-6]\d\d /, 3000), /^SIP\/2\.0 404 /);
    assert.ok(Date.now() - started < 2000, 'refused at once, not after Timer B');
  } finally {
    dave.close();
  }
});
