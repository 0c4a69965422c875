/**
 * What the flood limits cost per message (not a test): SourceLimiter.admit for one source, for
 * 10,000 sources, with a list of trusted peers, for IPv6 sources, and for a banned source's
 * drop, in nanoseconds per message, the limiter's clock read every 50 ms as the module does.
 *
 *   node --import jiti/register bench/flood/limiter-cost.ts
 */
import { AddressSet } from '../../core/lib/address-set.ts';
import { SourceLimiter, type LimiterSettings } from '../../modules/flood-limits/source-limiter.ts';

const N = 5_000_000;
const NO_EVENTS = { banned: () => undefined, ended: () => undefined };
let now = performance.now();
const clock = setInterval(() => { now = performance.now(); }, 50);

function limiter(settings: Partial<LimiterSettings>, trusted: readonly string[] = []): SourceLimiter {
  const peers = new AddressSet(trusted);
  return new SourceLimiter({ maxMessages: 1e9, intervalMs: 2000, banMs: 300_000, maxSources: 100_000, v6PrefixBits: 64, ...settings }, (a) => peers.has(a), NO_EVENTS, () => now);
}

function nsPerMessage(l: SourceLimiter, addresses: readonly string[]): number {
  for (let i = 0; i < 200_000; i++) l.admit(addresses[i % addresses.length]!);
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < N; i++) l.admit(addresses[i % addresses.length]!);
  return Number(process.hrtime.bigint() - t0) / N;
}

const one = ['::ffff:192.0.2.1'];
const many = Array.from({ length: 10_000 }, (_, i) => `::ffff:10.${(i >> 8) & 255}.${i & 255}.1`);
const v6 = Array.from({ length: 1000 }, (_, i) => `2001:db8:${i.toString(16)}:1:${i.toString(16)}::1`);
const v6gap = Array.from({ length: 1000 }, (_, i) => `2001:db8:${i.toString(16)}::${i.toString(16)}`);
console.log(`one IPv4 source (as a dual-stack socket reports it): ${nsPerMessage(limiter({}), one).toFixed(0)} ns/message`);
console.log(`10,000 IPv4 sources: ${nsPerMessage(limiter({}), many).toFixed(0)} ns/message`);
console.log(`10,000 IPv4 sources, 2 trusted ranges: ${nsPerMessage(limiter({}, ['203.0.113.0/24', '2001:db8::/32']), many).toFixed(0)} ns/message`);
console.log(`1,000 IPv6 sources, four groups written out: ${nsPerMessage(limiter({}), v6).toFixed(0)} ns/message`);
console.log(`1,000 IPv6 sources with '::' early: ${nsPerMessage(limiter({}), v6gap).toFixed(0)} ns/message`);
const banned = limiter({ maxMessages: 10 });
for (let i = 0; i < 20; i++) banned.admit(one[0]!);
console.log(`a banned source (dropped): ${nsPerMessage(banned, one).toFixed(0)} ns/message`);
clearInterval(clock);
