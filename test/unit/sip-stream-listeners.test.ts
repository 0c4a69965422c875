/**
 * The TLS, WS and WSS listener entries as a script writes them (paths relative to the script,
 * default ports and names, what is refused), and where a sips: or transport= URI leads.
 */
import assert from 'node:assert/strict';
import { SipResolver } from '../../core/dialects/sip/resolver.ts';
import { rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { resolveNextHop, transportOfVia } from '../../core/dialects/sip/next-hop.ts';
import { recordRouteUri } from '../../core/dialects/sip/local-node.ts';
import { loadScript } from '../../core/script/load.ts';
import { rejectsWithCode, tmpDir } from './_unit-fixtures.ts';

const dirs: string[] = [];
after(() => { for (const d of dirs) rmSync(d, { recursive: true, force: true }); });

function script(listen: string): string {
  const dir = tmpDir('stream-listen');
  dirs.push(dir);
  const file = path.join(dir, 'proxy.config.ts');
  writeFileSync(file, `import { defineProxy } from 'switchyard';
export default defineProxy({
  listen: ${listen},
  modules: [],
  routes: { request(ctx) { return ctx.respond(501, 'no'); } },
});
`);
  return file;
}

describe('stream listeners in the script', () => {
  test('tls, ws and wss entries: certificate paths relative to the script, default ports and names', async () => {
    const file = script(`[
      { dialect: 'sip', port: 5080 },
      { dialect: 'sip', transport: 'tls', cert: 'certs/p.pem', key: 'certs/p.key', ca: '/etc/ca.pem', verifyPeer: false },
      { dialect: 'sip', transport: 'ws', origins: ['https://a.example'] },
      { dialect: 'sip', transport: 'wss', port: 9443, cert: 'p.pem', key: 'p.key', handshakeTimeoutMs: 2000 },
    ]`);
    const dir = path.dirname(file);
    const s = await loadScript(file);
    const [udp, tls, ws, wss] = s.listen;
    assert.deepEqual(udp!.transports, ['udp', 'tcp']);
    assert.equal(udp!.transport, undefined);
    assert.equal(tls!.transport, 'tls');
    assert.equal(tls!.port, 5061);
    assert.equal(tls!.name, 'sip-tls:5061');
    assert.deepEqual(tls!.tls, { cert: path.join(dir, 'certs/p.pem'), key: path.join(dir, 'certs/p.key'), ca: '/etc/ca.pem', verifyPeer: false });
    assert.equal(ws!.port, 8080);
    assert.deepEqual(ws!.origins, ['https://a.example']);
    assert.equal(ws!.tls, undefined);
    assert.equal(wss!.port, 9443);
    assert.equal(wss!.handshakeTimeoutMs, 2000);
    assert.deepEqual(wss!.tls, { cert: path.join(dir, 'p.pem'), key: path.join(dir, 'p.key') });
  });

  test('refused: tls without a key, ws with a certificate, transport with transports, TLS options on a UDP listener', async () => {
    const cases: [string, RegExp][] = [
      [`[{ dialect: 'sip', transport: 'tls', cert: 'p.pem' }]`, /tls needs cert and key/],
      [`[{ dialect: 'sip', transport: 'ws', cert: 'p.pem', key: 'p.key' }]`, /ws carries no certificate/],
      [`[{ dialect: 'sip', transport: 'tls', cert: 'p.pem', key: 'p.key', transports: ['udp'] }]`, /either transport or transports/],
      [`[{ dialect: 'sip', port: 5060, cert: 'p.pem' }]`, /cert need transport 'tls', 'ws' or 'wss'/],
      [`[{ dialect: 'sip', transport: 'wss', cert: 'p.pem', key: 'p.key', ca: 'ca.pem' }]`, /ca and verifyPeer are for tls listeners/],
      [`[{ dialect: 'sip', transport: 'tls', cert: 'p.pem', key: 'p.key', origins: ['x'] }]`, /origins are for ws and wss/],
      [`[{ dialect: 'sip', transport: 'sctp' }]`, /transport/],
    ];
    for (const [listen, why] of cases) {
      const err = await rejectsWithCode(() => loadScript(script(listen)), 'SY_CONFIG_INVALID');
      assert.match(err.message, why, listen);
    }
  });
});

describe('next hops and Record-Route over the stream transports', () => {
  const resolver = new SipResolver();
  test('sips: goes over TLS to 5061; transport= names TLS, WS, WSS; anything else is UDP', async () => {
    assert.deepEqual(await resolveNextHop('sips:bob@192.0.2.7', resolver, false), { address: { address: '192.0.2.7', port: 5061 }, transport: 'tls' });
    assert.deepEqual(await resolveNextHop('sip:bob@192.0.2.7;transport=TLS', resolver, false), { address: { address: '192.0.2.7', port: 5061 }, transport: 'tls' });
    assert.deepEqual(await resolveNextHop('sip:bob@192.0.2.7:5070;transport=tls', resolver, false), { address: { address: '192.0.2.7', port: 5070 }, transport: 'tls' });
    assert.deepEqual(await resolveNextHop('sip:bob@192.0.2.7;transport=tcp', resolver, false), { address: { address: '192.0.2.7', port: 5060 }, transport: 'tcp' });
    assert.deepEqual(await resolveNextHop('sips:bob@192.0.2.7;transport=tcp', resolver, false), { address: { address: '192.0.2.7', port: 5061 }, transport: 'tls' });
    assert.deepEqual(await resolveNextHop('sip:bob@192.0.2.7:8080;transport=ws', resolver, false), { address: { address: '192.0.2.7', port: 8080 }, transport: 'ws' });
    assert.deepEqual(await resolveNextHop('sip:bob@192.0.2.7;transport=sctp', resolver, false), { address: { address: '192.0.2.7', port: 5060 }, transport: 'udp' });
    assert.equal(transportOfVia('WSS'), 'wss');
    assert.equal(transportOfVia('SCTP'), 'udp');
  });

  test('Record-Route names every transport but UDP', () => {
    const id = { host: '192.0.2.1', port: 5061 };
    assert.equal(recordRouteUri(id, 'udp'), '<sip:192.0.2.1:5061;lr>');
    assert.equal(recordRouteUri(id, 'tls'), '<sip:192.0.2.1:5061;lr;transport=tls>');
    assert.equal(recordRouteUri(id, 'wss'), '<sip:192.0.2.1:5061;lr;transport=wss>');
  });
});
