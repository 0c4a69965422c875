/**
 * examples/secure.config.ts, the hardened configuration: an unauthenticated REGISTER is
 * challenged, one for a foreign domain refused; an unauthenticated request through the proxy is
 * challenged and sent nowhere (the open relay of issue 17, item 13, to a TCP port on loopback);
 * alice registers with her password through SIPp.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { freePort, freeRange } from '../helpers/ports.ts';
import { ProxyProcess, REPO } from '../helpers/proxy-process.ts';
import { SipUa } from '../helpers/sip-ua.ts';
import { runSipp, sippVersion } from '../helpers/sipp.ts';

const LOOP = '127.0.0.1';
const SIP = await freePort();
const env = { ...process.env, SWITCHYARD_SIP_PORT: String(SIP), SWITCHYARD_PLAIN_PORT: '0', SWITCHYARD_MEDIA_PORTS: await freeRange(40) };

let proxy: ProxyProcess;
let ua: SipUa;
let seq = 0;

before(async () => {
  sippVersion();
  proxy = await ProxyProcess.start({ configFile: path.join(REPO, 'examples', 'secure.config.ts'), env });
  ua = await SipUa.open(LOOP);
});
after(async () => {
  ua.close();
  assert.equal(await proxy.stop(), 0);
});

function request(method: string, ruri: string, to = ruri): string {
  const n = ++seq;
  return [
    `${method} ${ruri} SIP/2.0`, `Via: SIP/2.0/UDP ${ua.hostport};branch=z9hG4bK-sec${n};rport`, 'Max-Forwards: 70',
    `From: <sip:mallory@${LOOP}>;tag=s${n}`, `To: <${to}>`, `Call-ID: sec-${n}@test`, `CSeq: 1 ${method}`,
    `Contact: <sip:mallory@${ua.hostport}>`, 'Content-Type: text/plain', 'Content-Length: 10', '', 'FLUSHALL\r\n',
  ].join('\r\n');
}

describe('examples/secure.config.ts', () => {
  test('a REGISTER without credentials is challenged; one for a foreign domain is refused', async () => {
    ua.send(request('REGISTER', `sip:${LOOP}:${SIP}`, `sip:alice@${LOOP}`), SIP, LOOP);
    assert.match(await ua.next(/^SIP\/2\.0 /), /^SIP\/2\.0 401 [^\r]*\r\n[\s\S]*WWW-Authenticate: Digest /);
    ua.send(request('REGISTER', 'sip:example.com', 'sip:alice@example.com'), SIP, LOOP);
    assert.match(await ua.next(/^SIP\/2\.0 /), /^SIP\/2\.0 403 Not Relaying/);
  });

  test('an unauthenticated request to a TCP port on loopback is challenged and never connects there', async () => {
    let connects = 0;
    const victim = net.createServer((s) => { connects++; s.destroy(); });
    await new Promise<void>((r) => victim.listen(0, LOOP, r));
    const port = (victim.address() as net.AddressInfo).port;
    try {
      for (const method of ['MESSAGE', 'INVITE', 'OPTIONS']) {
        ua.send(request(method, `sip:x@${LOOP}:${port};transport=tcp`), SIP, LOOP);
        assert.match(await ua.next(/^SIP\/2\.0 [4-6]/), /^SIP\/2\.0 407 /, method);
      }
      await new Promise((r) => setTimeout(r, 300));
      assert.equal(connects, 0, 'the proxy opened no connection for a stranger');
    } finally {
      victim.close();
    }
  });

  test('alice registers with her password (SIPp -au/-ap)', async () => {
    const r = await runSipp('register_auth.xml', [`${LOOP}:${SIP}`, '-s', 'alice', '-au', 'alice', '-ap', 'alice-secret', '-i', LOOP, '-p', '30271', '-m', '1'], 15_000);
    assert.equal(r.code, 0, r.output);
  });
});
