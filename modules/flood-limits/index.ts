import { defineModule, fn, LogThrottle, parseCidr, AddressSet, z, type Logger } from '../../core/module.ts';
import { SourceLimiter, type LimiterEvents, type LimiterSettings } from './source-limiter.ts';

export type BanResult = { readonly ok: true; readonly source: string } | { readonly ok: false; readonly reason: 'trusted-peer' | 'table-full' };

const schema = z.object({
  /**
   * Messages one source may send within any `intervalSec`: requests, replies, retransmissions
   * and unparsable datagrams alike, in both dialects, over UDP and TCP. One more bans it.
   */
  maxMessages: z.number().int().min(1).default(60),
  intervalSec: z.number().min(0.1).max(3600).default(2),
  /** How long a banned source's messages are dropped, unanswered. */
  banSec: z.number().min(0.1).max(86_400).default(300),
  /** Sources never counted nor banned (gateways, peer proxies): addresses or CIDR ranges, IPv4 or IPv6, as the auth module's. */
  trustedPeers: z.array(z.string().refine((c) => typeof parseCidr(c) !== 'string', 'an address or address/prefix')).default([]),
  /** IPv6 sources are counted by their network: a prefix of this many bits (a host picks freely within its /64). */
  ipv6PrefixBits: z.number().int().min(16).max(128).default(64),
  /** Sources counted (and banned) at once; beyond, a new source passes uncounted (`switchyard_flood_untracked_total`). */
  maxSources: z.number().int().min(16).max(10_000_000).default(100_000),
});

type FloodConfig = z.output<typeof schema>;

interface FloodState {
  readonly limiter: SourceLimiter;
  readonly clock: NodeJS.Timeout;
}

/** How often the limiter's clock is read: reading it per message would cost as much as the rest of the check. */
const CLOCK_TICK_MS = 50;

function settingsOf(c: FloodConfig): LimiterSettings {
  return { maxMessages: c.maxMessages, intervalMs: c.intervalSec * 1000, banMs: c.banSec * 1000, maxSources: c.maxSources, v6PrefixBits: c.ipv6PrefixBits };
}

function trustOf(c: FloodConfig): (address: string) => boolean {
  const peers = new AddressSet(c.trustedPeers);
  return (address) => peers.has(address);
}

/** Bans and their ends are logged at most once a second each, with the totals and how many lines were held back. */
function loggedEvents(log: Logger, config: () => FloodConfig, limiter: () => SourceLimiter): LimiterEvents {
  const bans = new LogThrottle(1000);
  const ends = new LogThrottle(1000);
  const totals = (): { bansTotal: number; droppedTotal: number } => ({ bansTotal: limiter().bansTotal, droppedTotal: limiter().droppedTotal });
  return {
    banned(source, messages, by) {
      const held = bans.pass();
      if (held === null) return;
      const c = config();
      log.warn({ source, messages, by, banSec: c.banSec, limit: `${c.maxMessages}/${c.intervalSec}s`, ...totals(), heldBack: held }, 'source banned');
    },
    ended(source, dropped) {
      const held = ends.pass();
      if (held !== null) log.info({ source, dropped, ...totals(), heldBack: held }, 'source ban ended');
    },
  };
}

export const floodLimits = defineModule({
  name: 'flood-limits',
  description: 'Per-source message rate limits with temporary bans (pike and an htable of banned sources)',
  schema,
  reloadable: ['maxMessages', 'intervalSec', 'banSec', 'trustedPeers', 'ipv6PrefixBits', 'maxSources'],

  setup: ({ config, log, core }): FloodState => {
    const c = config();
    let now = performance.now();
    const clock = setInterval(() => { now = performance.now(); }, CLOCK_TICK_MS).unref();
    const limiter: SourceLimiter = new SourceLimiter(settingsOf(c), trustOf(c), loggedEvents(log, config, () => limiter), () => now);
    // Before the parse, for every message of every listener: a banned source costs a lookup.
    core.hooks.onArrival((source) => limiter.admit(source.address));
    log.info({ limit: `${c.maxMessages}/${c.intervalSec}s`, banSec: c.banSec, trustedPeers: c.trustedPeers.length }, 'flood limits on');
    return { limiter, clock };
  },

  functions: ({ state, config }) => ({
    /**
     * Bans the request's source now, for `seconds` (default: the module's `banSec`): its later
     * messages are dropped unanswered until then (a scanner's User-Agent, failed authentications).
     * A trusted peer is never banned. The request itself is still the route's to answer or drop.
     */
    banSource: fn(['request'], (mc, seconds?: number): BanResult => {
      const sec = seconds ?? config().banSec;
      if (!(sec > 0)) throw new RangeError(`banSource(seconds): a positive number of seconds, not ${String(seconds)}`);
      const address = mc.msg.source.address;
      const outcome = state.limiter.ban(address, sec * 1000);
      return outcome === 'banned' ? { ok: true, source: address } : { ok: false, reason: outcome };
    }),
  }),

  onConfigChange: ({ state, config }) => {
    state.limiter.configure(settingsOf(config()), trustOf(config()));
  },

  onClose: ({ state }) => {
    clearInterval(state.clock);
  },

  operations: ({ state }) => ({
    metrics: [
      { name: 'switchyard_flood_bans_total', help: 'Sources banned by the flood limits (rate exceeded, or banned by the script)', type: 'counter', read: () => state.limiter.bansTotal },
      { name: 'switchyard_flood_dropped_total', help: 'Messages dropped unanswered because their source was banned', type: 'counter', read: () => state.limiter.droppedTotal },
      { name: 'switchyard_flood_banned_sources', help: 'Sources banned now', type: 'gauge', read: () => state.limiter.banned() },
      { name: 'switchyard_flood_untracked_total', help: 'Messages let through uncounted: the flood limits\' table of sources was full', type: 'counter', read: () => state.limiter.untrackedTotal },
    ],
    stats: () => ({ bans: state.limiter.bansTotal, dropped: state.limiter.droppedTotal, bannedNow: state.limiter.banned(), tracked: state.limiter.tracked(), untracked: state.limiter.untrackedTotal }),
  }),
});
