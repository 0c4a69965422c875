/**
 * Micro-benchmark (not a test): the media relay's CPU per stream set up and torn down with the
 * native engine, as a call's first description and its end cause it: one shared RTP/RTCP pair
 * (the plain protocol's kind of session) against two leg pairs (a SIP stream's, one per party).
 * Ports 41000-42999 on `::`.
 *
 *   npm run build && node --import jiti/register bench/relay-setup.ts [streams per round=4000]
 */
import { built } from './built.ts';

const { MediaRelay } = await built<typeof import('../modules/media-relay/relay/media-relay.ts')>('modules/media-relay/relay/media-relay.ts');
const { loadNativeRelay, NativeEngine } = await built<typeof import('../modules/media-relay/relay/native-engine.ts')>('modules/media-relay/relay/native-engine.ts');
const { createLogger } = await built<typeof import('../core/lib/log.ts')>('core/lib/log.ts');

const native = loadNativeRelay();
if ('error' in native) throw new Error(`the native relay is needed: ${native.error}`);
const [n = 4000] = process.argv.slice(2).map(Number);
const relay = new MediaRelay({ range: { min: 41000, max: 42999 }, idleTimeoutMs: 600_000, relatchAfterSilentMs: 2000 }, new NativeEngine(native.addon, '::', 2), createLogger({ level: 'warn', pretty: false }));
const caller = { name: 'a', address: { address: '::ffff:127.0.0.1', port: 4000 } };
const callee = { name: 'b', address: { address: '::ffff:127.0.0.1', port: 4002 } };

/** CPU µs per stream over `n` streams opened and ended one after the other. */
async function round(legs: boolean): Promise<number> {
  const start = process.cpuUsage();
  for (let i = 0; i < n; i++) {
    const s = legs ? await relay.openLegs('c', 0, caller, callee, { strictSource: false }) : await relay.openPair('c', 0, caller, callee);
    if (s === null) throw new Error('no port free');
    relay.end(s.rtp, 'bye');
    relay.end(s.rtcp, 'bye');
  }
  const used = process.cpuUsage(start);
  return (used.user + used.system) / n;
}

await round(false);
await round(true);
const runs: Record<'pair' | 'legs', number[]> = { pair: [], legs: [] };
for (let k = 0; k < 5; k++) {
  runs.pair.push(await round(false));
  runs.legs.push(await round(true));
}
const median = (x: number[]): number => [...x].sort((p, q) => p - q)[2]!;
console.log(`relay CPU per stream set up and ended (median of 5 rounds of ${n}): one shared pair ${median(runs.pair).toFixed(1)} µs, two leg pairs ${median(runs.legs).toFixed(1)} µs`);
relay.close();
