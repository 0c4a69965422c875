/**
 * Kamailio 5.6's rtpengine module drives a switchyard relay node (`switchyard relay`, its own
 * process) as it would rtpengine: SIPp calls through Kamailio, rtpengine_offer on the INVITE,
 * rtpengine_answer on the 200, rtpengine_delete on the BYE. The SDP each side gets points at
 * the node, RTP flows both ways through it, NG `query` counts each leg's packets, and the BYE
 * ends the call on the node.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import dgram from 'node:dgram';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { NgClient } from '../../modules/media-relay/ng/client.ts';
import { TMP } from '../helpers/proxy-process.ts';
import { startRelayNode, type RelayNodeProcess } from '../helpers/relay-node.ts';
import { freePort } from '../helpers/ports.ts';
import { receivedMediaPort, sippVersion, startSipp, waitUntil } from '../helpers/sipp.ts';
import { kamailioRtpengineConfig } from '../helpers/kamailio-rtpengine.ts';

const LOOP = '127.0.0.1';
const OFFER_FLAGS = 'trust-address replace-origin replace-session-connection ICE=remove symmetric';
const ANSWER_FLAGS = 'replace-origin replace-session-connection ICE=remove symmetric';

function config(ngPort: number, uasPort: number): string {
  return kamailioRtpengineConfig(ngPort, uasPort, OFFER_FLAGS, ANSWER_FLAGS);
}

let kamailio: ChildProcess | undefined;
let kamailioLog = '';
let node: RelayNodeProcess;
let ng: NgClient;
let kamailioPort = 0;
let uasPort = 0;
let uacPort = 0;

/** Kamailio answers SIP once it is up: an OPTIONS gets its 405 (bounded: 10 s). */
async function kamailioAnswers(port: number): Promise<void> {
  const probe = dgram.createSocket('udp4');
  await new Promise<void>((r) => probe.bind(0, LOOP, r));
  const me = probe.address().port;
  try {
    const answered = new Promise<void>((resolve) => probe.once('message', () => resolve()));
    const deadline = Date.now() + 10_000;
    let done = false;
    void answered.then(() => { done = true; });
    for (let i = 0; !done; i++) {
      if (Date.now() > deadline || kamailio?.exitCode !== null) throw new Error(`Kamailio did not answer:\n${kamailioLog}`);
      probe.send(`OPTIONS sip:probe@${LOOP}:${port} SIP/2.0\r\nVia: SIP/2.0/UDP ${LOOP}:${me};branch=z9hG4bKprobe${i}\r\nFrom: <sip:t@${LOOP}>;tag=p\r\nTo: <sip:probe@${LOOP}>\r\nCall-ID: probe${i}\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n`, port, LOOP);
      await Promise.race([answered, new Promise((r) => setTimeout(r, 200))]);
    }
  } finally {
    probe.close();
  }
}

before(async () => {
  sippVersion();
  if (spawnSync('kamailio', ['-v']).error !== undefined) throw new Error('Kamailio is not installed (apt-get install -y kamailio)');
  node = await startRelayNode(['--advertise', LOOP]);
  ng = await NgClient.open({ host: LOOP, port: node.ngPort });
  [kamailioPort, uasPort, uacPort] = [await freePort(), await freePort(), await freePort()];
  mkdirSync(TMP, { recursive: true });
  const dir = mkdtempSync(path.join(TMP, 'relay-node-kamailio-'));
  const cfg = path.join(dir, 'kamailio.cfg');
  writeFileSync(cfg, config(node.ngPort, uasPort));
  kamailio = spawn('kamailio', ['-f', cfg, '-DD', '-E', '-l', `udp:${LOOP}:${kamailioPort}`, '-Y', dir, '-m', '64', '-M', '8', '-a', 'no'], { stdio: ['ignore', 'pipe', 'pipe'] });
  kamailio.stdout!.on('data', (c: Buffer) => { kamailioLog += c.toString(); });
  kamailio.stderr!.on('data', (c: Buffer) => { kamailioLog += c.toString(); });
  await kamailioAnswers(kamailioPort);
});

after(async () => {
  if (kamailio !== undefined && kamailio.exitCode === null) {
    const exited = new Promise((r) => kamailio!.once('exit', r));
    kamailio.kill('SIGTERM');
    const timer = setTimeout(() => kamailio!.kill('SIGKILL'), 3000);
    await exited;
    clearTimeout(timer);
  }
  await ng?.close();
  await node?.stop();
});

test('a SIPp call through Kamailio\'s rtpengine module with media both ways through a switchyard relay node; BYE ends it there', async () => {
  const [callerMedia, calleeMedia] = [dgram.createSocket('udp4'), dgram.createSocket('udp4')];
  await Promise.all([new Promise<void>((r) => callerMedia.bind(0, LOOP, r)), new Promise<void>((r) => calleeMedia.bind(0, LOOP, r))]);
  const uas = startSipp('uas.xml', ['-i', LOOP, '-p', String(uasPort), '-m', '1', '-key', 'mport', String(calleeMedia.address().port)]);
  const uac = startSipp('uac.xml', [`${LOOP}:${kamailioPort}`, '-s', 'bob', '-i', LOOP, '-p', String(uacPort), '-m', '1', '-d', '3000', '-key', 'mport', String(callerMedia.address().port)]);
  try {
    await waitUntil(() => /ACK sip:/.test(uac.messages()), 10_000, 'the caller to send its ACK');
    const toCaller = receivedMediaPort(uac.messages(), /^SIP\/2\.0 200/);
    const toCallee = receivedMediaPort(uas.messages(), /^INVITE/);
    const { min, max } = node.media;
    assert.ok(toCaller !== null && toCaller >= min && toCaller <= max, `the caller's SDP points at the node (${toCaller})`);
    assert.ok(toCallee !== null && toCallee >= min && toCallee <= max, `the callee's SDP points at the node (${toCallee})`);
    assert.match(uas.messages(), /\no=\S+ \d+ \d+ IN IP4 127\.0\.0\.1/, 'replace-origin: o= names the relay');

    const calls = await ng.list();
    assert.ok(calls.ok && calls.value.length === 1, `the node holds the call: ${JSON.stringify(calls)}`);
    const callId = calls.value[0]!;

    const got = { caller: [] as Buffer[], callee: [] as Buffer[] };
    callerMedia.on('message', (m, r) => { if (r.port === toCaller) got.caller.push(m); });
    calleeMedia.on('message', (m, r) => { if (r.port === toCallee) got.callee.push(m); });
    const N = 25;
    for (let i = 0; i < N; i++) {
      const rtp = Buffer.alloc(172, i);
      rtp[0] = 0x80;
      callerMedia.send(rtp, toCaller!, LOOP);
      calleeMedia.send(Buffer.from(rtp).fill(100 + i, 12), toCallee!, LOOP);
      await new Promise((r) => setImmediate(r));
    }
    await waitUntil(() => got.caller.length === N && got.callee.length === N, 3000, 'RTP both ways');
    assert.equal(got.callee[7]![1], 7, 'the callee gets the caller\'s packets unchanged');
    assert.equal(got.caller[7]![20], 107, 'the caller gets the callee\'s packets unchanged');

    const q = await ng.query({ callId });
    assert.ok(q.ok, JSON.stringify(q));
    assert.equal(q.value.tags.length, 2, 'two legs');
    for (const leg of q.value.tags) {
      const rtp = leg.medias[0]!.streams.find((s) => s.flags.includes('RTP'))!;
      assert.equal(rtp.stats.packets, N, `leg ${leg.tag} sent ${N} packets through the node`);
      assert.equal(rtp.stats.bytes, N * 172);
      assert.ok(rtp.flags.includes('confirmed'), 'the leg latched');
    }
    assert.equal(q.value.totals.rtp.packets, 2 * N);

    const [c, s] = await Promise.all([uac.done, uas.done]);
    assert.equal(c.code, 0, `caller: ${c.output}\n${kamailioLog}`);
    assert.equal(s.code, 0, `callee: ${s.output}\n${kamailioLog}`);
    // Kamailio sent the delete before relaying the BYE, so it has reached the node by now.
    const gone = await ng.query({ callId });
    assert.ok(!gone.ok && gone.error.reason === 'Unknown call-id', `the BYE deleted the call: ${JSON.stringify(gone)}`);
    const st = await ng.statistics();
    assert.ok(st.ok);
    const total = st.value.get('totalstatistics') as Map<string, unknown>;
    assert.equal(total.get('relayedpackets'), 2 * N, 'the ended call\'s packets are in the totals');
    assert.equal(total.get('regularterminatedsessions'), 1);
  } finally {
    uac.kill();
    uas.kill();
    callerMedia.close();
    calleeMedia.close();
  }
});
