/**
 * baresip over TLS: alice registers over TLS (verifying the proxy against the test CA) and
 * calls bob, a baresip on UDP that answers by itself; both send a sine tone (Opus) through the
 * relay, whose counters confirm each side's packets, and alice's hang-up ends the call.
 * Media is on this machine's first non-loopback IPv4 address: baresip announces that address
 * in its SDP, and the relay latches on the source it really sends from.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { networkInterfaces } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { freePort, freeRange } from '../helpers/ports.ts';
import { ProxyProcess, writeScript } from '../helpers/proxy-process.ts';
import { makeCa, makeCert, type CertFiles } from '../helpers/test-certs.ts';

const LOOP = '127.0.0.1';
const ADVERTISE = Object.values(networkInterfaces()).flat().find((a) => a !== undefined && a.family === 'IPv4' && !a.internal)?.address ?? LOOP;
const ALICE_PORT = await freePort(ADVERTISE);
const BOB_PORT = await freePort(ADVERTISE);
const RELAY = await freeRange(20);

const SCRIPT = `import { defineProxy } from 'switchyard';
import { callRouting, dialog, mediaRelay, registrar } from 'switchyard/modules';

export default defineProxy({
  listen: [
    { dialect: 'sip', port: 0, host: '${LOOP}', transports: ['udp'] },
    { dialect: 'sip', transport: 'tls', port: 0, host: '${LOOP}', cert: 'proxy.pem', key: 'proxy.key' },
  ],
  modules: [registrar(), dialog(), callRouting(), mediaRelay({ ports: '${RELAY}', advertise: '${ADVERTISE}' })],
  routes: {
    request(ctx) {
      if (ctx.msg.method === 'REGISTER') return ctx.register();
      if (ctx.msg.inDialog) return ctx.forwardCall();
      if (ctx.msg.method === 'INVITE') { ctx.engageMediaProxy(); ctx.recordRoute(); }
      return ctx.forwardCall();
    },
  },
});
`;

let proxy: ProxyProcess;
let dir: string;
let ca: CertFiles;

/** A baresip configuration folder: Opus at 48 kHz stereo (what its sine source produces), a tone as microphone. */
function baresipConfig(name: string, port: number, account: string): string {
  const home = path.join(dir, name);
  mkdirSync(home, { recursive: true });
  const own = makeCert(dir, `${name}-client`, ca);
  writeFileSync(path.join(home, 'cert.pem'), Buffer.concat([readFileSync(own.cert), readFileSync(own.key)]));
  writeFileSync(path.join(home, 'config'), [
    'poll_method epoll', `sip_listen ${ADVERTISE}:${port}`, `sip_cafile ${ca.cert}`, `sip_certificate ${path.join(home, 'cert.pem')}`,
    'audio_source ausine,440', `audio_player aufile,${path.join(home, 'heard.wav')}`, 'audio_alert aufile,/dev/null',
    'ausrc_srate 48000', 'auplay_srate 48000', 'ausrc_channels 2', 'auplay_channels 2',
    'module_path /usr/lib/baresip/modules', 'module stdio.so', 'module opus.so', 'module ausine.so', 'module aufile.so',
    'module_app account.so', 'module_app menu.so', '',
  ].join('\n'));
  writeFileSync(path.join(home, 'accounts'), `${account}\n`);
  return home;
}

function baresip(home: string, args: string[]): { done: Promise<string> } {
  const child = spawn('baresip', ['-f', home, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (c: string) => { out += c; });
  child.stderr.setEncoding('utf8').on('data', (c: string) => { out += c; });
  return { done: new Promise((resolve) => child.once('exit', () => resolve(out))) };
}

before(async () => {
  const file = writeScript('baresip-tls', SCRIPT);
  dir = path.dirname(file);
  ca = makeCa(dir);
  makeCert(dir, 'proxy', ca);
  proxy = await ProxyProcess.start({ configFile: file });
});

after(async () => {
  assert.equal(await proxy?.stop(), 0, 'the proxy shuts down cleanly');
});

test('baresip registers over TLS and calls a UDP baresip, audio both ways through the relay', async () => {
  const udp = Number((await proxy.waitForLog((l) => l.msg === 'listening' && l.transport === 'udp')).port);
  const tls = Number((await proxy.waitForLog((l) => l.msg === 'listening' && l.transport === 'tls')).port);
  const bobHome = baresipConfig('bob', BOB_PORT, `<sip:bob@${LOOP}:${udp}>;regint=600;answermode=auto;audio_codecs=opus`);
  const aliceHome = baresipConfig('alice', ALICE_PORT, `<sip:alice@${LOOP}:${tls};transport=tls>;regint=600;audio_codecs=opus;outbound="sip:${LOOP}:${tls};transport=tls"`);

  const from = proxy.logs.length;
  const bob = baresip(bobHome, ['-t', '14']);
  await proxy.waitForLog((l) => l.msg === 'REGISTER answered' && l.aor === 'bob' && l.status === 200, 10_000, from);
  // alice dials at start and quits (hanging up) after 6 s.
  const alice = await baresip(aliceHome, ['-t', '6', '-e', `/dial sip:bob@${LOOP}`]).done;
  assert.match(alice, /alice@127\.0\.0\.1: \{0\/TLS\/v4\} 200 OK/, `alice registered over TLS:\n${alice}`);
  assert.match(alice, /Call established/, `the call was answered:\n${alice}`);
  assert.match(alice, /incoming rtp for 'audio' established/, 'alice hears bob');
  const ended = await proxy.waitForLog((l) => l.msg === 'media session ended' && l.component === 'rtp', 10_000, from);
  const parties = ended.parties as { name: string; packets: number; latched: boolean }[];
  for (const p of parties) assert.ok(p.latched && p.packets > 100, `the relay forwarded ${p.name}'s audio: ${JSON.stringify(parties)}`);
  assert.match(await bob.done, /incoming rtp for 'audio' established/, 'bob hears alice');
});
