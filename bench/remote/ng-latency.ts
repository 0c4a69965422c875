/**
 * NG round trips to one relay: `ping` one at a time (latency), then call cycles (offer, answer,
 * delete of a two-party audio call) kept `concurrency` at a time for `seconds` (throughput and
 * the offer's latency under load). Prints one JSON line.
 *
 *   node --import jiti/register bench/remote/ng-latency.ts <label> <host:port> [seconds] [concurrency]
 */
import { NgClient } from '../../modules/media-relay/ng/client.ts';

const [label = 'relay', at = '127.0.0.1:2223', secondsText = '5', concurrencyText = '16'] = process.argv.slice(2);
const [host, portText] = [at.slice(0, at.lastIndexOf(':')), at.slice(at.lastIndexOf(':') + 1)];
const client = await NgClient.open({ host, port: Number(portText), timeoutMs: 2000, tries: 2, maxOutstanding: 4096 });

function quantile(sorted: number[], q: number): number {
  return sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

const pings: number[] = [];
for (let i = 0; i < 2000; i++) {
  const r = await client.ping();
  if (!r.ok) throw new Error(`ping: ${r.error.message}`);
  pings.push(r.value.rttMs * 1000);
}
pings.sort((a, b) => a - b);

const sdp = (port: number): string => `v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio ${port} RTP/AVP 0 8 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:101 telephone-event/8000\r\na=sendrecv\r\n`;
const offers: number[] = [];
let cycles = 0;
let failed = 0;
let n = 0;
const end = performance.now() + Number(secondsText) * 1000;
async function worker(): Promise<void> {
  while (performance.now() < end) {
    const callId = `bench-${process.pid}-${++n}`;
    const t0 = performance.now();
    const o = await client.offer({ callId, fromTag: 'a', sdp: sdp(30000 + (n % 1000) * 2), flags: ['trust-address'], replace: ['origin', 'session-connection'], ice: 'remove' });
    offers.push((performance.now() - t0) * 1000);
    const a = o.ok ? await client.answer({ callId, fromTag: 'a', toTag: 'b', sdp: sdp(32000 + (n % 1000) * 2), flags: ['trust-address'], replace: ['origin', 'session-connection'], ice: 'remove' }) : o;
    const d = await client.delete({ callId, fromTag: 'a' });
    if (o.ok && a.ok && d.ok) cycles++;
    else failed++;
  }
}
const started = performance.now();
await Promise.all(Array.from({ length: Number(concurrencyText) }, worker));
const took = (performance.now() - started) / 1000;
offers.sort((a, b) => a - b);
process.stdout.write(`${JSON.stringify({
  relay: label,
  pingP50Us: Math.round(quantile(pings, 0.5)), pingP99Us: Math.round(quantile(pings, 0.99)),
  callCyclesPerSec: Math.round(cycles / took), failedCycles: failed,
  offerP50Us: Math.round(quantile(offers, 0.5)), offerP99Us: Math.round(quantile(offers, 0.99)),
  concurrency: Number(concurrencyText),
})}\n`);
await client.close();
