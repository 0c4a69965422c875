/**
 * What the admin listener costs the SIP path (not a test): bench/sip-path's measurement with the
 * listener off (--no-admin) and on with /metrics scraped every second, as Prometheus would,
 * in interleaved rounds (off, on, off, on...) so that a shared machine's drift falls on both.
 * Prints each run, each mode's mean CPU per call, and the difference; then what one scrape costs
 * the proxy, from 300 back to back against an idle one.
 *
 *   npm run bench:admin-cost -- [rounds=3] [calls=30000] [concurrency=64] [warm-up calls=8000]
 */
import net from 'node:net';
import { cpuMs, measureSipPath, startProxy, type SipPathResult } from './measure.ts';

const [rounds = 3, calls = 30_000, concurrency = 64, warmUp = 8_000] = process.argv.slice(2).map(Number);

/** A TCP port free on loopback now, for the admin listener. */
function freeTcpPort(): Promise<number> {
  const server = net.createServer();
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

interface Scrapes { ok: number; failed: number; bytes: number; slowestMs: number }

/** Scrapes /metrics once a second until stopped. */
function scraper(port: number, into: Scrapes): () => () => void {
  return () => {
    const timer = setInterval(() => {
      const t0 = performance.now();
      fetch(`http://127.0.0.1:${port}/metrics`).then(async (res) => {
        const text = await res.text();
        if (res.status === 200) {
          into.ok++;
          into.bytes = text.length;
          into.slowestMs = Math.max(into.slowestMs, performance.now() - t0);
        } else into.failed++;
      }, () => { into.failed++; });
    }, 1000);
    return () => clearInterval(timer);
  };
}

const mean = (xs: readonly number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;
const line = (mode: string, r: SipPathResult, extra = ''): string =>
  `  ${mode.padEnd(22)} ${r.usPerCall.toFixed(1).padStart(7)} µs/call  ${r.callsPerSec.toFixed(0).padStart(5)} calls/s  ${r.corePercent.toFixed(0).padStart(3)} % of a core  ${r.stalled} stalled${extra}`;

const off: SipPathResult[] = [];
const on: SipPathResult[] = [];
const rows: string[] = [];
for (let round = 1; round <= rounds; round++) {
  process.stderr.write(`round ${round}/${rounds}: admin off\n`);
  const a = await measureSipPath({ calls, concurrency, warmUp, proxyArgs: ['--no-admin'] });
  off.push(a);
  rows.push(line(`round ${round}, admin off`, a));
  const port = await freeTcpPort();
  const scrapes: Scrapes = { ok: 0, failed: 0, bytes: 0, slowestMs: 0 };
  process.stderr.write(`round ${round}/${rounds}: admin on, /metrics scraped every second\n`);
  const b = await measureSipPath({ calls, concurrency, warmUp, proxyArgs: ['--admin', `127.0.0.1:${port}`], beside: scraper(port, scrapes) });
  if (scrapes.ok === 0) throw new Error(`no scrape of 127.0.0.1:${port}/metrics succeeded (${scrapes.failed} failed)`);
  on.push(b);
  rows.push(line(`round ${round}, admin on`, b, `, ${scrapes.ok} scrapes of ${(scrapes.bytes / 1024).toFixed(0)} KiB (slowest ${scrapes.slowestMs.toFixed(0)} ms)${scrapes.failed > 0 ? `, ${scrapes.failed} failed` : ''}`));
}
console.log(`admin-cost: ${rounds} rounds of ${calls} calls after ${warmUp} warm-up, ${concurrency} in flight; proxy CPU per call`);
for (const r of rows) console.log(r);
const [mOff, mOn] = [mean(off.map((r) => r.usPerCall)), mean(on.map((r) => r.usPerCall))];
const spread = (xs: readonly SipPathResult[]): string => `${Math.min(...xs.map((r) => r.usPerCall)).toFixed(1)}-${Math.max(...xs.map((r) => r.usPerCall)).toFixed(1)}`;
console.log(`  mean: admin off ${mOff.toFixed(1)} µs/call (${spread(off)}), admin on and scraped ${mOn.toFixed(1)} µs/call (${spread(on)}): ${(mOn - mOff >= 0 ? '+' : '')}${(mOn - mOff).toFixed(1)} µs (${((mOn / mOff - 1) * 100).toFixed(1)} %)`);

/** The proxy's CPU per scrape: 300 scrapes back to back, less what it uses idle over the same time. */
async function scrapeCost(): Promise<string> {
  const port = await freeTcpPort();
  const proxy = await startProxy(['--admin', `127.0.0.1:${port}`]);
  const scrape = async (): Promise<number> => (await (await fetch(`http://127.0.0.1:${port}/metrics`)).text()).length;
  for (let i = 0; i < 20; i++) await scrape();
  const idleFrom = { cpu: cpuMs(proxy.pid), t: performance.now() };
  await new Promise((r) => setTimeout(r, 3000));
  const idlePerMs = (cpuMs(proxy.pid) - idleFrom.cpu) / (performance.now() - idleFrom.t);
  const from = { cpu: cpuMs(proxy.pid), t: performance.now() };
  const n = 300;
  let bytes = 0;
  for (let i = 0; i < n; i++) bytes = await scrape();
  const elapsed = performance.now() - from.t;
  const perScrape = (cpuMs(proxy.pid) - from.cpu - idlePerMs * elapsed) / n;
  await proxy.stop();
  return `  one scrape of /metrics (${(bytes / 1024).toFixed(0)} KiB) costs the idle proxy ${perScrape.toFixed(2)} ms of CPU (${n} back to back in ${elapsed.toFixed(0)} ms; CPU read in 10 ms ticks)`;
}

console.log(await scrapeCost());
