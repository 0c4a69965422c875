/**
 * Plain calls with media through the real proxy, once per media engine the config can name:
 * `js`, and `native` with one and with two worker threads. The `js` case also runs its
 * listener on node:dgram (`udpEngine: 'js'`), the others on the default engine. Proxy ports
 * 62801-62803, media ports 28000-28299.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { loadNativeSignal } from '../../core/transport/native-socket.ts';
import { ENGINE_CASES } from '../helpers/media-engines.ts';
import { PlainUser, establishCall } from '../helpers/plain-client.ts';
import { ProxyProcess, defaultLikeScript, writeScript } from '../helpers/proxy-process.ts';
import { UdpPeer } from '../helpers/udp-peer.ts';

const signal = loadNativeSignal();
const defaultUdpEngine = 'error' in signal ? 'js' : 'native';

const CONFIGS = [
  { options: "engine: 'js'", engine: 'js', workers: 1, listen: "udpEngine: 'js'", udpEngine: 'js' },
  { options: "engine: 'native', workers: 1", engine: 'native', workers: 1, listen: undefined, udpEngine: defaultUdpEngine },
  { options: "engine: 'native', workers: 2", engine: 'native', workers: 2, listen: undefined, udpEngine: defaultUdpEngine },
] as const;

CONFIGS.forEach((cfg, i) => {
  const PORT = 62801 + i; // above the kernel's ephemeral ports and the tests' relay ranges
  const MEDIA_MIN = 28000 + i * 100;
  const skip = cfg.engine === 'native' ? ENGINE_CASES[1]!.skip : false;

  describe(`plain calls through the ${cfg.engine} engine${cfg.engine === 'native' ? `, ${cfg.workers} worker${cfg.workers === 1 ? '' : 's'}` : ''}`, { skip }, () => {
    let proxy: ProxyProcess;
    before(async () => {
      const script = defaultLikeScript({ port: PORT, ports: `${MEDIA_MIN}-${MEDIA_MIN + 49}`, idleTimeoutSec: 0.8, mediaOptions: cfg.options, ...(cfg.listen !== undefined ? { listenOptions: cfg.listen } : {}) });
      proxy = await ProxyProcess.start({ configFile: writeScript(`engine-${cfg.engine}-${cfg.workers}`, script) });
    });
    after(async () => { await proxy.stop(); });

    test('the listener says which UDP engine drives it', async () => {
      const listening = await proxy.waitForLog((l) => l.msg === 'listening');
      assert.equal(listening.udpEngine, cfg.udpEngine);
    });

    test('the relay says which engine forwards and with how many threads', async () => {
      const ready = await proxy.waitForLog((l) => l.msg === 'media relay ready');
      assert.equal(ready.engine, cfg.engine);
      assert.equal(ready.workers, cfg.workers);
    });

    test('media both ways, 1 to 8000 bytes, across address families; counters in the end log', async () => {
      const a = await PlainUser.register(`ea${i}`, PORT, 4);
      const b = await PlainUser.register(`eb${i}`, PORT, 6);
      const from = proxy.logs.length; // a port may have served an earlier call: its end lines come after this
      const port = await establishCall(a, b);
      let aBytes = 0;
      let bBytes = 0;
      for (const len of [1, 12, 172, 1400, 4096, 8000]) {
        const x = randomBytes(len);
        await a.media(port, x);
        const got = await b.peer.next();
        assert.ok(got.data.equals(x), `${len} bytes a→b unchanged`);
        assert.equal(got.port, port, 'from the media port');
        aBytes += len;
        const y = randomBytes(len);
        await b.media(port, y);
        assert.ok((await a.peer.next()).data.equals(y), `${len} bytes b→a unchanged`);
        bBytes += len;
      }
      await a.send(`BYE FROM:ea${i} TO:eb${i}\n`);
      await b.next();
      const ended = await proxy.waitForLog((l) => l.msg === 'media session ended' && l.port === port, 5000, from);
      const parties = ended.parties as { packets: number; bytes: number; latched: boolean }[];
      assert.deepEqual(parties.map((p) => [p.packets, p.bytes, p.latched]), [[6, aBytes, true], [6, bBytes, true]]);
      assert.equal(ended.reason, 'ended', 'the script ends the media on BYE');
      await a.media(port, Buffer.from('after bye'));
      assert.deepEqual(await b.peer.drain(200), [], 'nothing relayed after BYE');
      await Promise.all([a.close(), b.close()]);
    });

    test('a party behind NAT latches to its media source; a stranger is dropped and counted', async () => {
      const a = await PlainUser.register(`na${i}`, PORT, 4);
      const b = await PlainUser.register(`nb${i}`, PORT, 6);
      const from = proxy.logs.length; // a port may have served an earlier call: its end lines come after this
      const port = await establishCall(a, b);
      const aMedia = await UdpPeer.open(4); // the NAT's other port for alice's media
      const stranger = await UdpPeer.open(6);
      await aMedia.send(Buffer.from('from the NAT port'), port);
      assert.deepEqual((await b.peer.next()).data, Buffer.from('from the NAT port'));
      await b.media(port, Buffer.from('back'));
      assert.deepEqual((await aMedia.next()).data, Buffer.from('back'), 'the reply goes to the latched source');
      assert.deepEqual(await a.peer.drain(150), [], 'not to the signaling address');
      // Both parties have sent: a new source, even from bob's IP, is a stranger.
      await stranger.send(Buffer.from('inject'), port, '::1');
      assert.deepEqual(await b.peer.drain(150), [], 'the stranger is not relayed');
      assert.deepEqual(await aMedia.drain(0), []);
      await a.send(`BYE FROM:na${i} TO:nb${i}\n`);
      await b.next();
      const ended = await proxy.waitForLog((l) => l.msg === 'media session ended' && l.port === port, 5000, from);
      assert.equal(ended.strangers, 1);
      const parties = ended.parties as { media: { port: number } }[];
      assert.equal(parties[0]!.media.port, aMedia.port);
      await Promise.all([a.close(), b.close(), aMedia.close(), stranger.close()]);
    });

    test('12 concurrent calls, 40 numbered packets each way, no cross-talk and none lost', async () => {
      const calls = await Promise.all(Array.from({ length: 12 }, async (_, k) => {
        const a = await PlainUser.register(`ca${i}x${k}`, PORT);
        const b = await PlainUser.register(`cb${i}x${k}`, PORT);
        return { a, b, k, port: await establishCall(a, b) };
      }));
      assert.equal(new Set(calls.map((c) => c.port)).size, 12, 'a port per call');
      await Promise.all(calls.map(async ({ a, b, k, port }) => {
        for (let n = 0; n < 40; n++) {
          await a.media(port, Buffer.from(`call ${k} a ${n}`));
          await b.media(port, Buffer.from(`call ${k} b ${n}`));
        }
        const toB: string[] = [];
        const toA: string[] = [];
        for (let n = 0; n < 40; n++) toB.push((await b.peer.next()).data.toString());
        for (let n = 0; n < 40; n++) toA.push((await a.peer.next()).data.toString());
        assert.deepEqual(toB.sort(), Array.from({ length: 40 }, (_, n) => `call ${k} a ${n}`).sort());
        assert.deepEqual(toA.sort(), Array.from({ length: 40 }, (_, n) => `call ${k} b ${n}`).sort());
      }));
      for (const { a, b, k } of calls) {
        await a.send(`BYE FROM:ca${i}x${k} TO:cb${i}x${k}\n`);
        await b.next();
      }
      await Promise.all(calls.flatMap(({ a, b }) => [a.close(), b.close()]));
    });

    test('an idle session ends the call and frees its port', async () => {
      const a = await PlainUser.register(`ia${i}`, PORT);
      const b = await PlainUser.register(`ib${i}`, PORT);
      const from = proxy.logs.length; // a port may have served an earlier call: its end lines come after this
      const port = await establishCall(a, b);
      await a.media(port, Buffer.from('one'));
      await b.peer.next();
      const ended = await proxy.waitForLog((l) => l.msg === 'media session ended' && l.port === port, 10_000, from);
      assert.equal(ended.reason, 'idle');
      assert.equal(await a.next(), `BYE FROM:ia${i} TO:ib${i}\n`, 'the call ended: the caller is told');
      assert.equal(await b.next(), `BYE FROM:ia${i} TO:ib${i}\n`, 'and the callee');
      const probe = await UdpPeer.open(4);
      await a.media(port, Buffer.from('late'));
      assert.deepEqual(await b.peer.drain(200), [], 'nothing relayed on the freed port');
      await Promise.all([a.close(), b.close(), probe.close()]);
    });
  });
});
