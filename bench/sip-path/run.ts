/**
 * The SIP path benchmark (not a test): the proxy's CPU time per call, closed loop (measure.ts).
 *
 *   npm run bench:sip-path -- [calls=40000] [concurrency=64] [warm-up calls=10000]
 */
import { digestAuth, measureSipPath } from './measure.ts';

const [calls = 40_000, concurrency = 64, warmUp = 10_000] = process.argv.slice(2).map(Number);
const r = await measureSipPath({ calls, concurrency, warmUp });
console.log(`sip-path${digestAuth === undefined ? '' : ' (digest auth)'}: ${r.calls} calls measured after ${warmUp} warm-up, ${concurrency} in flight, ${r.stalled} stalled`);
console.log(`  ${r.callsPerSec.toFixed(0)} calls/s, proxy CPU ${r.usPerCall.toFixed(1)} µs/call (${r.corePercent.toFixed(0)} % of a core), RSS ${r.rssMb.toFixed(0)} MB`);
