/**
 * SIP over TLS: a phone registers and calls over TLS to a SIPp callee on UDP through the proxy
 * (double Record-Route, Via SIP/2.0/TLS), the callee's BYE crosses back over the caller's TLS
 * connection, a certificate replaced on disk is served to the next connection, the proxy dials
 * a sips: next hop verifying it against the configured CA, and a handshake that never
 * finishes is dropped. The installed SIPp has no TLS (Debian builds it without OpenSSL), so the
 * TLS side is a SIP endpoint of the test's own over Node's TLS.
 */
import assert from 'node:assert/strict';
import { copyFileSync, renameSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import tls from 'node:tls';
import { after, before, describe, test } from 'node:test';
import { freePort, freeRange } from '../helpers/ports.ts';
import { ProxyProcess, writeScript } from '../helpers/proxy-process.ts';
import { StreamUa } from '../helpers/stream-ua.ts';
import { SipUa, answer, header, headers, sdp } from '../helpers/sip-ua.ts';
import { runSipp, startSipp } from '../helpers/sipp.ts';
import { makeCa, makeCert, pem, type CertFiles } from '../helpers/test-certs.ts';

const LOOP = '127.0.0.1';
const UAS = await freePort(LOOP);
const RELAY = await freeRange(40);

/** Where the script sends `gw` (by address), `gw-name` (by host name) and `gw-untrusted` (a certificate of no known CA). */
interface Gateways { readonly byAddress: number; readonly byName: number; readonly untrusted: number }

function script(gw: Gateways): string {
  return `import { defineProxy } from 'switchyard';
import { callRouting, dialog, mediaRelay, registrar } from 'switchyard/modules';

export default defineProxy({
  listen: [
    { dialect: 'sip', port: 0, host: '${LOOP}', transports: ['udp'] },
    { dialect: 'sip', transport: 'tls', port: 0, host: '${LOOP}', cert: 'proxy.pem', key: 'proxy.key', ca: 'ca.pem', handshakeTimeoutMs: 500 },
  ],
  modules: [registrar(), dialog(), callRouting(), mediaRelay({ ports: '${RELAY}', advertise: '${LOOP}' })],
  routes: {
    request(ctx) {
      if (ctx.msg.method === 'REGISTER') return ctx.register();
      if (ctx.msg.inDialog) return ctx.forwardCall();
      if (ctx.msg.ruri.user === 'gw') return ctx.forwardCall({ toUri: 'sips:gw@${LOOP}:${gw.byAddress}' });
      if (ctx.msg.ruri.user === 'gw-name') return ctx.forwardCall({ toUri: 'sips:gw@localhost:${gw.byName}' });
      if (ctx.msg.ruri.user === 'gw-untrusted') return ctx.forwardCall({ toUri: 'sips:gw@${LOOP}:${gw.untrusted}' });
      if (ctx.msg.method === 'INVITE') { ctx.engageMediaProxy(); ctx.recordRoute(); }
      return ctx.forwardCall();
    },
  },
});
`;
}

let proxy: ProxyProcess;
let dir: string;
let ca: CertFiles;
let udpPort: number;
let tlsPort: number;
const gateways: tls.Server[] = [];
const gatewayInbox: string[] = [];

/** A TLS peer that answers every INVITE 486, with `cert`; on all addresses (localhost may resolve to ::1). */
async function startGateway(cert: CertFiles): Promise<number> {
  const g = tls.createServer({ cert: pem(cert.cert), key: pem(cert.key) }, (s) => {
    s.setEncoding('latin1').on('data', (d: string) => {
      gatewayInbox.push(d);
      if (d.startsWith('INVITE ')) s.write(answer(d, '486 Busy Here', { tag: 'gw1' }));
    });
    s.on('error', () => undefined);
  });
  g.on('tlsClientError', () => undefined);
  await new Promise<void>((r) => g.listen({ port: 0, host: '::', ipv6Only: false }, r));
  gateways.push(g);
  return (g.address() as net.AddressInfo).port;
}

function portOf(transport: string): Promise<number> {
  return proxy.waitForLog((l) => l.msg === 'listening' && l.transport === transport).then((l) => Number(l.port));
}

function request(method: string, o: { user: string; to: string; local: { address: string; port: number }; callId: string; cseq?: number; extra?: string[]; body?: string; uri?: string }): string {
  const body = o.body ?? '';
  return [
    `${method} ${o.uri ?? `sip:${o.to}@${LOOP}:${tlsPort}`} SIP/2.0`,
    `Via: SIP/2.0/TLS ${o.local.address}:${o.local.port};branch=z9hG4bK-${Math.random().toString(36).slice(2)};rport`,
    'Max-Forwards: 70', `From: <sip:${o.user}@${LOOP}>;tag=${o.user}1`, `To: <sip:${o.to}@${LOOP}>`,
    `Call-ID: ${o.callId}`, `CSeq: ${o.cseq ?? 1} ${method}`,
    `Contact: <sip:${o.user}@${o.local.address}:${o.local.port};transport=tls>`,
    ...(o.extra ?? []), ...(body ? ['Content-Type: application/sdp'] : []), `Content-Length: ${Buffer.byteLength(body)}`, '', body,
  ].join('\r\n');
}

before(async () => {
  // A file of its own per test run, so the script can name its certificate files relatively.
  const file = writeScript('sip-tls', '');
  dir = path.dirname(file);
  ca = makeCa(dir);
  makeCert(dir, 'proxy', ca);
  writeFileSync(file, script({
    byAddress: await startGateway(makeCert(dir, 'gateway', ca)),
    byName: await startGateway(makeCert(dir, 'gateway-named', ca, null)),
    untrusted: await startGateway(makeCert(dir, 'gateway-untrusted', null)),
  }));
  proxy = await ProxyProcess.start({ configFile: file });
  udpPort = await portOf('udp');
  tlsPort = await portOf('tls');
});

after(async () => {
  for (const g of gateways) g.close();
  assert.equal(await proxy?.stop(), 0, 'the proxy shuts down cleanly');
});

describe('SIP over TLS', () => {
  test('a TLS phone registers, calls a SIPp callee on UDP through the proxy, hangs up', async () => {
    const reg = await runSipp('register.xml', [`${LOOP}:${udpPort}`, '-s', 'bob', '-i', LOOP, '-p', String(UAS), '-m', '1', '-key', 'expires', '3600']);
    assert.equal(reg.code, 0, `SIPp registers over UDP: ${reg.output}`);
    const alice = await StreamUa.tls(tlsPort, pem(ca.cert));
    try {
      alice.send(request('REGISTER', { user: 'alice', to: 'alice', local: alice.local, callId: 'tls-reg-1', uri: `sip:${LOOP}:${tlsPort}`, extra: ['Expires: 600'] }).replace(/To: <sip:alice@[^>]*>/, `To: <sip:alice@${LOOP}>`));
      const ok = await alice.next(/^SIP\/2\.0 200 /);
      assert.match(header(ok, 'Via') ?? '', /^SIP\/2\.0\/TLS .*received=127\.0\.0\.1/, 'the answer comes back on the TLS connection');

      const uas = startSipp('uas.xml', ['-i', LOOP, '-p', String(UAS), '-m', '1', '-key', 'mport', String(await freePort(LOOP))]);
      alice.send(request('INVITE', { user: 'alice', to: 'bob', local: alice.local, callId: 'tls-call-1', body: sdp(LOOP, 26192) }));
      const answered = await alice.next(/^SIP\/2\.0 200 /, 10_000);
      const rr = headers(answered, 'Record-Route').join(', ').split(/,\s*/);
      assert.equal(rr.length, 2, `double Record-Route on the change of transport: ${rr.join(' | ')}`);
      // Each carries the dialog's route mark (README, Hardening: Open relay), the same on both.
      const udpSide = new RegExp(`^<sip:127\\.0\\.0\\.1:${udpPort};lr;mark=([\\w-]+)>$`).exec(rr[0]!);
      const tlsSide = new RegExp(`^<sip:127\\.0\\.0\\.1:${tlsPort};lr;mark=([\\w-]+);transport=tls>$`).exec(rr[1]!);
      assert.ok(udpSide, `the UDP side first (nearest the callee): ${rr[0]}`);
      assert.ok(tlsSide, `then the TLS side: ${rr[1]}`);
      assert.equal(udpSide[1], tlsSide[1], 'one mark for the dialog');
      const routes = [...rr].reverse().join(', ');
      const contact = /<([^>]+)>/.exec(header(answered, 'Contact') ?? '')![1]!;
      const toHeader = header(answered, 'To')!;
      const inDialog = (method: string, cseq: number): string => request(method, { user: 'alice', to: 'bob', local: alice.local, callId: 'tls-call-1', cseq, uri: contact, extra: [`Route: ${routes}`] })
        .replace(/To: <sip:bob@[^>]*>/, `To: ${toHeader}`);
      alice.send(inDialog('ACK', 1));
      alice.send(inDialog('BYE', 2));
      await alice.next(/^SIP\/2\.0 200 /, 10_000);
      const done = await uas.done;
      assert.equal(done.code, 0, `the SIPp callee saw INVITE, ACK and BYE through the proxy: ${done.output}`);
    } finally {
      alice.close();
    }
  });

  test("the callee's BYE crosses back over the caller's TLS connection", async () => {
    const alice = await StreamUa.tls(tlsPort, pem(ca.cert));
    const carol = await SipUa.open(LOOP);
    try {
      carol.send(`REGISTER sip:${LOOP}:${udpPort} SIP/2.0\nVia: SIP/2.0/UDP ${carol.hostport};branch=z9hG4bK-c1;rport\nMax-Forwards: 70\nFrom: <sip:carol@${LOOP}>;tag=c0\nTo: <sip:carol@${LOOP}>\nCall-ID: tls-carol-reg\nCSeq: 1 REGISTER\nContact: <sip:carol@${carol.hostport}>\nContent-Length: 0\n\n`, udpPort);
      await carol.next(/^SIP\/2\.0 200 /);
      alice.send(request('INVITE', { user: 'alice', to: 'carol', local: alice.local, callId: 'tls-call-2', body: sdp(LOOP, 26194) }));
      const invite = await carol.next(/^INVITE /);
      assert.match(header(invite, 'Via') ?? '', /^SIP\/2\.0\/UDP /, 'the proxy forwards over UDP');
      carol.send(answer(invite, '200 OK', { tag: 'c2', contact: `sip:carol@${carol.hostport}`, body: sdp(LOOP, 26196) }), udpPort);
      const ok = await alice.next(/^SIP\/2\.0 200 /);
      const rr = headers(ok, 'Record-Route').join(', ');
      // Carol's BYE goes to alice's Contact through the proxy's Record-Route (nearest her first).
      const aliceContact = /<([^>]+)>/.exec(headers(invite, 'Contact')[0]!)![1]!;
      carol.send([
        `BYE ${aliceContact} SIP/2.0`, `Via: SIP/2.0/UDP ${carol.hostport};branch=z9hG4bK-cbye;rport`, 'Max-Forwards: 70',
        `From: ${header(ok, 'To')}`, `To: ${header(ok, 'From')}`, 'Call-ID: tls-call-2', 'CSeq: 1 BYE', `Route: ${rr}`, 'Content-Length: 0', '', '',
      ].join('\n'), udpPort);
      const bye = await alice.next(/^BYE /);
      assert.match(headers(bye, 'Via')[0]!, new RegExp(`^SIP/2\\.0/TLS 127\\.0\\.0\\.1:${tlsPort};`), 'the BYE arrives over TLS, the proxy on top');
      alice.send(answer(bye, '200 OK'));
      await carol.next(/^SIP\/2\.0 200 /);
    } finally {
      alice.close();
      carol.close();
    }
  });

  test('a certificate replaced on disk is served to the next connection', async () => {
    const before = tls.connect({ host: LOOP, port: tlsPort, ca: pem(ca.cert) });
    await new Promise<void>((r) => before.once('secureConnect', () => r()));
    const first = before.getPeerCertificate().serialNumber;
    before.destroy();
    const next = makeCert(dir, 'proxy-next', ca);
    const from = proxy.logs.length;
    // Key first, then certificate, each renamed over the old file as a deploy tool does.
    copyFileSync(next.key, path.join(dir, 'proxy.key.new'));
    renameSync(path.join(dir, 'proxy.key.new'), path.join(dir, 'proxy.key'));
    copyFileSync(next.cert, path.join(dir, 'proxy.pem.new'));
    renameSync(path.join(dir, 'proxy.pem.new'), path.join(dir, 'proxy.pem'));
    await proxy.waitForLog((l) => l.msg === 'TLS certificate reloaded', 10_000, from);
    const after = tls.connect({ host: LOOP, port: tlsPort, ca: pem(ca.cert) });
    await new Promise<void>((r) => after.once('secureConnect', () => r()));
    const second = after.getPeerCertificate().serialNumber;
    after.destroy();
    assert.notEqual(second, first);
    assert.equal(second.toUpperCase(), next.serial.toUpperCase(), 'the new certificate, verified by the same CA');
  });

  test('a sips: next hop is dialled over TLS, its certificate verified against the configured CA', async () => {
    const caller = await SipUa.open(LOOP);
    try {
      caller.send(`INVITE sip:gw@${LOOP}:${udpPort} SIP/2.0\nVia: SIP/2.0/UDP ${caller.hostport};branch=z9hG4bK-gw1;rport\nMax-Forwards: 70\nFrom: <sip:dave@${LOOP}>;tag=d1\nTo: <sip:gw@${LOOP}>\nCall-ID: tls-gw-1\nCSeq: 1 INVITE\nContact: <sip:dave@${caller.hostport}>\nContent-Length: 0\n\n`, udpPort);
      const busy = await caller.next(/^SIP\/2\.0 486 /, 10_000);
      assert.ok(busy);
      const invite = gatewayInbox.find((m) => m.startsWith('INVITE '))!;
      assert.match(headers(invite, 'Via')[0]!, /^SIP\/2\.0\/TLS 127\.0\.0\.1:\d+;branch=/, 'the proxy names TLS in its Via');
      assert.match(invite, /^INVITE sips:gw@127\.0\.0\.1:\d+ SIP\/2\.0/);
    } finally {
      caller.close();
    }
  });

  test('a sips: next hop named by a host name: the certificate is checked against the name, not the address', async () => {
    const caller = await SipUa.open(LOOP);
    try {
      caller.send(`INVITE sip:gw-name@${LOOP}:${udpPort} SIP/2.0\nVia: SIP/2.0/UDP ${caller.hostport};branch=z9hG4bK-gwn1;rport\nMax-Forwards: 70\nFrom: <sip:dave@${LOOP}>;tag=d2\nTo: <sip:gw-name@${LOOP}>\nCall-ID: tls-gw-name\nCSeq: 1 INVITE\nContact: <sip:dave@${caller.hostport}>\nContent-Length: 0\n\n`, udpPort);
      await caller.next(/^SIP\/2\.0 486 /, 10_000);
      assert.ok(gatewayInbox.some((m) => m.startsWith('INVITE sips:gw@localhost:')), 'the gateway whose certificate names only localhost took the INVITE');
    } finally {
      caller.close();
    }
  });

  test('a sips: next hop whose certificate does not verify: the branch fails at once with 503', async () => {
    const caller = await SipUa.open(LOOP);
    try {
      const started = Date.now();
      caller.send(`INVITE sip:gw-untrusted@${LOOP}:${udpPort} SIP/2.0\nVia: SIP/2.0/UDP ${caller.hostport};branch=z9hG4bK-gwu1;rport\nMax-Forwards: 70\nFrom: <sip:dave@${LOOP}>;tag=d3\nTo: <sip:gw-untrusted@${LOOP}>\nCall-ID: tls-gw-untrusted\nCSeq: 1 INVITE\nContact: <sip:dave@${caller.hostport}>\nContent-Length: 0\n\n`, udpPort);
      await caller.next(/^SIP\/2\.0 503 /, 5000);
      assert.ok(Date.now() - started < 3000, 'not after Timer B');
      assert.ok(!gatewayInbox.some((m) => m.includes('tls-gw-untrusted')), 'nothing was sent to a peer that did not prove who it is');
    } finally {
      caller.close();
    }
  });

  test('a TLS handshake that never completes is dropped after the handshake timeout', async () => {
    const s = net.connect(tlsPort, LOOP);
    s.on('error', () => undefined);
    const started = Date.now();
    await new Promise<void>((r) => s.once('close', () => r()));
    const waited = Date.now() - started;
    assert.ok(waited >= 400 && waited < 5000, `closed after ${waited} ms (timeout 500 ms)`);
    // A ClientHello cut in the middle fares the same.
    const half = net.connect(tlsPort, LOOP);
    half.on('error', () => undefined);
    half.write(Buffer.from('160301020001', 'hex'));
    await new Promise<void>((r) => half.once('close', () => r()));
  });
});
