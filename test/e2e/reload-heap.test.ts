/**
 * 200 reloads in a row must not grow the heap without bound. Each reload evaluates the script
 * afresh (jiti without module cache) while the switchyard it imports is the running one; a
 * generation that stayed alive holds its script, its routes and its module configs, so a leak
 * of every generation shows as steady growth well above the bound below.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import v8 from 'node:v8';
import vm from 'node:vm';
import { Switchyard } from '../../core/boot/switchyard.ts';
import { createLogger } from '../../core/lib/log.ts';
import { freePort, freeRange } from '../helpers/ports.ts';
import { defaultLikeScript, writeScript } from '../helpers/proxy-process.ts';

v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;

function heapAfterGc(): number {
  for (let i = 0; i < 3; i++) gc();
  return process.memoryUsage().heapUsed;
}

test('200 reloads do not grow the heap without bound', { timeout: 240_000 }, async () => {
  const file = writeScript('heap', defaultLikeScript({ port: await freePort(), ports: await freeRange(10) }));
  const proxy = await Switchyard.start({ configFile: file, watch: false, logger: createLogger({ level: 'silent' }) });
  try {
    // Warm up: the first reloads fill jiti's transform cache and V8's code caches.
    for (let i = 0; i < 20; i++) assert.equal((await proxy.reload()).ok, true);
    const base = heapAfterGc();
    const samples: number[] = [];
    for (let i = 0; i < 200; i++) {
      const r = await proxy.reload();
      assert.equal(r.ok, true);
      if ((i + 1) % 50 === 0) samples.push(heapAfterGc());
    }
    const growthMb = (samples[samples.length - 1]! - base) / 1e6;
    const perReloadKb = (growthMb * 1000) / 200;
    console.log(`heap: base ${(base / 1e6).toFixed(1)} MB, after 50/100/150/200 reloads: ${samples.map((s) => (s / 1e6).toFixed(1)).join(' / ')} MB; growth ${growthMb.toFixed(2)} MB (${perReloadKb.toFixed(1)} kB per reload)`);
    assert.equal(proxy.generation, 221);
    assert.ok(growthMb < 5, `heap grew ${growthMb.toFixed(2)} MB over 200 reloads`);
    // And it flattens: retaining each generation would add about 7.5 MB over the last 100 reloads.
    assert.ok((samples[3]! - samples[1]!) / 1e6 < 2.5, 'no steady climb over the last 100 reloads');
  } finally {
    await proxy.stop();
  }
});
