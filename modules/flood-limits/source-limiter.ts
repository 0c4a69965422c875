import { sourceKey } from './source-key.ts';

export interface LimiterSettings {
  /** Messages a source may send within any `intervalMs` (a sliding window). */
  readonly maxMessages: number;
  readonly intervalMs: number;
  /** How long a source that sent more is dropped. */
  readonly banMs: number;
  /** Sources counted at once, and banned at once; beyond, a new source passes uncounted. */
  readonly maxSources: number;
  /** IPv6 sources are counted by their prefix of this many bits. */
  readonly v6PrefixBits: number;
}

export interface LimiterEvents {
  /** `key` was banned: `messages` is how many it sent within the window (`by`: the rate, or the script). */
  banned(key: string, messages: number, by: 'rate' | 'script'): void;
  /** `key`'s ban ran out; `dropped` of its messages were dropped meanwhile. */
  ended(key: string, dropped: number): void;
}

interface Count {
  n: number;
}

/** What an address that sent in this window is: trusted or not, the key it is counted under, its count. */
interface Source {
  readonly trusted: boolean;
  readonly key: string;
  readonly count: Count | null;
}

interface Ban {
  until: number;
  dropped: number;
}

/**
 * Messages per source in a sliding window, and bans: Kamailio's `pike` and an `htable` of
 * banned addresses in one table. The window is estimated from two fixed ones, the current and
 * the previous (weighted by how much of it the sliding window still covers). An address's trust
 * and key are worked out at its first message of a window and kept with its count, so a
 * message costs a lookup by the address as the socket reported it, and two more by that key
 * while the previous window or a ban holds anything; the tables are dropped whole as windows
 * pass: nothing is swept.
 */
export class SourceLimiter {
  /** Sources banned (by rate or by the script), messages dropped while banned, messages let through uncounted (the table full). */
  bansTotal = 0;
  droppedTotal = 0;
  untrackedTotal = 0;

  /** This window's addresses, as sockets report them. */
  private sources = new Map<string, Source>();
  /** This window's and the last one's counts, by key. */
  private current = new Map<string, Count>();
  private previous = new Map<string, Count>();
  private windowStart: number;
  private readonly bans = new Map<string, Ban>();

  constructor(
    private settings: LimiterSettings,
    private trusted: (address: string) => boolean,
    private readonly events: LimiterEvents,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.windowStart = now();
  }

  /** New settings and trust: what was worked out per address starts over, the counts and bans stay. */
  configure(settings: LimiterSettings, trusted: (address: string) => boolean): void {
    this.settings = settings;
    this.trusted = trusted;
    this.sources = new Map();
  }

  /** Whether a message from `address` is let in; counts it, and bans its source when it is one too many. */
  admit(address: string): boolean {
    const s = this.settings;
    const t = this.now();
    if (t - this.windowStart >= s.intervalMs) this.rotate(t);
    let source = this.sources.get(address);
    if (source === undefined) {
      const trusted = this.trusted(address);
      const key = trusted ? '' : sourceKey(address, s.v6PrefixBits);
      if (this.sources.size >= s.maxSources) {
        // No room to count it: let it in, unless its key is banned.
        if (trusted || !this.isBanned(key, t)) {
          this.untrackedTotal++;
          return true;
        }
        return this.drop(key);
      }
      let count: Count | null = null;
      if (!trusted) {
        count = this.current.get(key) ?? null;
        if (count === null) this.current.set(key, count = { n: 0 });
      }
      this.sources.set(address, source = { trusted, key, count });
    }
    if (source.trusted) return true;
    const key = source.key;
    if (this.bans.size > 0 && this.isBanned(key, t)) return this.drop(key);
    const count = source.count!;
    count.n++;
    const carried = this.carried(key, t);
    if (count.n <= s.maxMessages - carried) return true;
    const messages = Math.round(count.n + carried);
    if (this.banKey(key, t + s.banMs, 1) === null) return true;
    this.droppedTotal++;
    this.events.banned(key, messages, 'rate');
    return false;
  }

  /** Bans `address`'s source for `ms` from now (or longer, when it is banned already); never a trusted peer. */
  ban(address: string, ms: number): 'banned' | 'trusted-peer' | 'table-full' {
    if (this.trusted(address)) return 'trusted-peer';
    const key = sourceKey(address, this.settings.v6PrefixBits);
    const t = this.now();
    const messages = Math.round((this.current.get(key)?.n ?? 0) + this.carried(key, t));
    const outcome = this.banKey(key, t + ms, 0);
    if (outcome === null) return 'table-full';
    if (outcome === 'new') this.events.banned(key, messages, 'script');
    return 'banned';
  }

  /** Sources banned now. */
  banned(): number {
    const t = this.now();
    let n = 0;
    for (const b of this.bans.values()) if (b.until > t) n++;
    return n;
  }

  /** Sources (keys) counted in the current window. */
  tracked(): number {
    return this.current.size;
  }

  /** Whether `key` is banned at `t`; a ban that ran out is ended (and reported) here. */
  private isBanned(key: string, t: number): boolean {
    const ban = this.bans.get(key);
    if (ban === undefined) return false;
    if (t < ban.until) return true;
    this.bans.delete(key);
    this.events.ended(key, ban.dropped);
    return false;
  }

  private drop(key: string): false {
    this.bans.get(key)!.dropped++;
    this.droppedTotal++;
    return false;
  }

  /** Bans `key` until then (a ban already running is only ever lengthened); null when the table of bans is full. */
  private banKey(key: string, until: number, dropped: number): 'new' | 'extended' | null {
    const ban = this.bans.get(key);
    if (ban !== undefined) {
      ban.until = Math.max(ban.until, until);
      return 'extended';
    }
    if (this.bans.size >= this.settings.maxSources) return null;
    this.bans.set(key, { until, dropped });
    this.bansTotal++;
    // Counted afresh after the ban: what it sent before does not ban it again at once.
    const count = this.current.get(key);
    if (count !== undefined) count.n = 0;
    this.previous.delete(key);
    return 'new';
  }

  /** The part of the previous window the sliding window still covers, in messages. */
  private carried(key: string, t: number): number {
    if (this.previous.size === 0) return 0;
    const before = this.previous.get(key);
    if (before === undefined) return 0;
    return before.n * Math.max(0, 1 - (t - this.windowStart) / this.settings.intervalMs);
  }

  private rotate(t: number): void {
    const { intervalMs } = this.settings;
    const passed = Math.floor((t - this.windowStart) / intervalMs);
    this.previous = passed === 1 ? this.current : new Map();
    this.current = new Map();
    this.sources = new Map();
    this.windowStart += passed * intervalMs;
    for (const [key, ban] of this.bans) {
      if (ban.until > t) continue;
      this.bans.delete(key);
      this.events.ended(key, ban.dropped);
    }
  }
}
