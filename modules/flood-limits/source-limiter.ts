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

interface Ban {
  until: number;
  dropped: number;
}

/**
 * Messages per source in a sliding window, and bans: Kamailio's `pike` and an `htable` of
 * banned addresses in one table. The window is estimated from two fixed ones, the current and
 * the previous (weighted by how much of it the sliding window still covers), so a message costs
 * two or three map lookups and the tables are dropped whole as windows pass: nothing is swept.
 */
export class SourceLimiter {
  /** Sources banned (by rate or by the script), messages dropped while banned, messages let through uncounted (the table full). */
  bansTotal = 0;
  droppedTotal = 0;
  untrackedTotal = 0;

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

  configure(settings: LimiterSettings, trusted: (address: string) => boolean): void {
    this.settings = settings;
    this.trusted = trusted;
  }

  /** Whether a message from `address` is let in; counts it, and bans its source when it is one too many. */
  admit(address: string): boolean {
    if (this.trusted(address)) return true;
    const s = this.settings;
    const t = this.now();
    if (t - this.windowStart >= s.intervalMs) this.rotate(t);
    const key = sourceKey(address, s.v6PrefixBits);
    if (this.bans.size > 0) {
      const ban = this.bans.get(key);
      if (ban !== undefined) {
        if (t < ban.until) {
          ban.dropped++;
          this.droppedTotal++;
          return false;
        }
        this.bans.delete(key);
        this.events.ended(key, ban.dropped);
      }
    }
    let count = this.current.get(key);
    if (count === undefined) {
      if (this.current.size >= s.maxSources) {
        this.untrackedTotal++;
        return true;
      }
      count = { n: 0 };
      this.current.set(key, count);
    }
    count.n++;
    if (count.n <= s.maxMessages - this.carried(key, t)) return true;
    const messages = Math.round(count.n + this.carried(key, t));
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

  /** Sources counted in the current window. */
  tracked(): number {
    return this.current.size;
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
    this.current.delete(key);
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
    this.windowStart += passed * intervalMs;
    for (const [key, ban] of this.bans) {
      if (ban.until > t) continue;
      this.bans.delete(key);
      this.events.ended(key, ban.dropped);
    }
  }
}
