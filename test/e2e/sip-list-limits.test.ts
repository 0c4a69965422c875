/**
 * Quadratic work from one datagram (issue 17, item 4): thousands of Contacts, Routes naming the
 * proxy, Vias or header fields in one message are refused with 400 (403 from the registrar for
 * more Contacts than a user may have) before any per-entry work; the proxy's CPU stays within a
 * generous bound for a burst of them, and it still serves a registration and a call.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { legitCall } from '../helpers/legit-call.ts';
import { freePort, freeRange } from '../helpers/ports.ts';
import { ProxyProcess, recordRoutingSipScript, writeScript } from '../helpers/proxy-process.ts';
import { header, SipUa } from '../helpers/sip-ua.ts';
import { sippVersion } from '../helpers/sipp.ts';

const LOOP = '127.0.0.1';
const PROXY = await freePort();

// Its peers send requests to other hosts on purpose (a route set through the proxy): they are trusted to relay.
const SCRIPT = recordRoutingSipScript({ port: PROXY, ports: await freeRange(40), relayFrom: ['127.0.0.0/8'] });

let proxy: ProxyProcess;
let ua: SipUa;
let seq = 0;

before(async () => {
  sippVersion();
  proxy = await ProxyProcess.start({ configFile: writeScript('sip-list-limits', SCRIPT) });
  ua = await SipUa.open(LOOP);
});
after(async () => {
  ua.close();
  assert.equal(await proxy.stop(), 0);
});

/** CPU seconds the proxy process has used (user + system). */
function cpuSec(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

function request(method: string, ruri: string, lines: string[]): string {
  const n = ++seq;
  return [
    `${method} ${ruri} SIP/2.0`,
    `Via: SIP/2.0/UDP ${ua.hostport};branch=z9hG4bK-lim${n};rport`,
    'Max-Forwards: 70',
    `From: <sip:mallory@${LOOP}>;tag=m${n}`,
    `To: <sip:mallory@${LOOP}>`,
    `Call-ID: lim-${n}@test`,
    `CSeq: 1 ${method}`,
    ...lines,
    'Content-Length: 0',
    '', '',
  ].join('\r\n');
}

async function finalOf(text: string): Promise<string> {
  const callId = header(text, 'Call-ID')!;
  ua.send(text, PROXY, LOOP);
  const end = Date.now() + 5000;
  for (;;) {
    const i = ua.inbox.findIndex((m) => /^SIP\/2\.0 [2-6]\d\d /.test(m) && header(m, 'Call-ID') === callId);
    if (i >= 0) return ua.inbox.splice(i, 1)[0]!.split('\r\n')[0]!;
    if (Date.now() > end) throw new Error(`no final response to ${text.split(' ')[0]} (${callId})`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

// Short spellings, so that thousands fit in one datagram.
const contacts = (n: number): string[] => Array.from({ length: n }, (_, i) => `<sip:${i}@h>`);
const ownRoutes = (n: number): string[] => Array.from({ length: n }, () => `<sip:127.1:${PROXY};lr>`);

describe('counts in one message are capped before any per-entry work', () => {
  test('2,200 Contacts, as lines or as one list, are refused; so are more than a user may register', async () => {
    const cpu0 = cpuSec(proxy.child.pid!);
    for (let i = 0; i < 5; i++) {
      assert.equal(await finalOf(request('REGISTER', `sip:${LOOP}:${PROXY}`, contacts(2200).map((c) => `m:${c}`))), 'SIP/2.0 400 Too Many Header Fields');
      assert.equal(await finalOf(request('REGISTER', `sip:${LOOP}:${PROXY}`, [`Contact: ${contacts(2200).join(', ')}`])), 'SIP/2.0 400 Too Many Contacts');
    }
    assert.equal(await finalOf(request('REGISTER', `sip:${LOOP}:${PROXY}`, [`Contact: ${contacts(30).join(', ')}`])), 'SIP/2.0 403 Too Many Contacts');
    assert.ok(cpuSec(proxy.child.pid!) - cpu0 < 3, `CPU used: ${(cpuSec(proxy.child.pid!) - cpu0).toFixed(2)} s`);
  });

  test('2,000 Routes naming the proxy, as lines or as one list, are refused', async () => {
    const cpu0 = cpuSec(proxy.child.pid!);
    for (let i = 0; i < 5; i++) {
      assert.equal(await finalOf(request('OPTIONS', `sip:bob@${LOOP}:9`, ownRoutes(2000).map((r) => `route:${r}`))), 'SIP/2.0 400 Too Many Header Fields');
      assert.equal(await finalOf(request('MESSAGE', `sip:bob@${LOOP}:9`, [`Route: ${ownRoutes(2000).join(',')}`])), 'SIP/2.0 400 Too Many Route Entries');
    }
    assert.ok(cpuSec(proxy.child.pid!) - cpu0 < 3, `CPU used: ${(cpuSec(proxy.child.pid!) - cpu0).toFixed(2)} s`);
  });

  test('a request with more Vias than any path of 70 hops has is refused', async () => {
    const vias = Array.from({ length: 100 }, (_, i) => `SIP/2.0/UDP 10.0.0.${i % 250}:5060;branch=z9hG4bK-x${i}`).join(', ');
    assert.equal(await finalOf(request('OPTIONS', `sip:bob@${LOOP}:9`, [`Via: ${vias}`])), 'SIP/2.0 400 Too Many Via Entries');
  });

  test('a route set of ordinary length still works: Routes naming the proxy are taken off', async () => {
    const text = request('MESSAGE', `sip:bob@${ua.hostport}`, ownRoutes(3).map((r) => `Route: ${r}`));
    ua.send(text, PROXY, LOOP);
    const out = await ua.next(/^MESSAGE /, 3000);
    assert.equal(header(out, 'Route'), undefined, 'every Route naming the proxy was removed');
    ua.send(out.replace(/^MESSAGE [^\r]*/, 'SIP/2.0 200 OK').replace(/\r\nTo: ([^\r]*)/, '\r\nTo: $1;tag=u1'), PROXY, LOOP);
    await ua.next(/^SIP\/2\.0 200 /, 3000);
  });

  test('after all that, a registration and a call go through', async () => {
    await legitCall(PROXY, { uas: await freePort(), uac: await freePort(), media: Number((await freeRange(4)).split('-')[0]) });
  });
});
