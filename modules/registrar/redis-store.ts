/**
 * The location table in Redis or Valkey, shared by every proxy that names the same server: a
 * user's bindings are one hash, `<prefix>aor:<aor>`, holding the encoded bindings (`b`,
 * binding-codec.ts) and a version token (`v`), expiring with its last binding (PEXPIREAT); a
 * sorted set, `<prefix>aors`, scores each user by that expiry and counts the users; a sorted set
 * per dialect and source IP, `<prefix>ip:<dialect>:<ip>`, scores each user bound from that IP by
 * the last expiry of its bindings there, and counts the users of an IP (`moment.usersAt`).
 *
 * `update` is optimistic: it reads the hash and the count, runs `fn`, and writes with a Lua
 * script that stores only if the version is still the one read; on a conflict it reads and runs
 * `fn` again. An update that adds a user also finds the count at which `fn` would no longer
 * add it (a user limit: `fn` is pure, so it is asked again with other counts) and the script
 * stores only while the count is below that: two proxies never pass a limit together, and a
 * flood of new users does not conflict over a count that does not matter. The same holds per
 * source IP: an update that binds the user at an IP it was not bound at is stored only while that
 * IP's count is below the one at which `fn` would no longer bind it there.
 * A server that does not answer makes the command fail within `commandTimeoutMs`: nothing
 * waits for a reconnection (the registrar answers 503 meanwhile).
 */
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { unmapIPv4, type DialectName, type Logger } from '../../core/module.ts';
import { decodeBindings, encodeBindings } from './binding-codec.ts';
import type { Binding, LocationStore, LocationUpdate, StoreMoment } from './store.ts';

/**
 * Writes when the user's version is still the one read and every count is below its limit;
 * returns 1, or 0 on a conflict. KEYS: the user's hash, the users' set, then per-IP sets; ARGV
 * 1-8 as in `attempt`, then per IP set its action (a score: bound there until then; '-': not
 * bound there; '=': only checked) and its limit ('-1': none).
 */
const COMPARE_AND_SET = `
local v = redis.call('HGET', KEYS[1], 'v')
if (v or '') ~= ARGV[1] then return 0 end
local after = '(' .. ARGV[5]
if ARGV[6] ~= '-1' then
  if redis.call('ZCOUNT', KEYS[2], after, '+inf') >= tonumber(ARGV[6]) then return 0 end
end
for i = 3, #KEYS do
  local limit = ARGV[8 + 2 * (i - 2)]
  if limit ~= '-1' and redis.call('ZCOUNT', KEYS[i], after, '+inf') >= tonumber(limit) then return 0 end
end
for i = 3, #KEYS do
  local action = ARGV[7 + 2 * (i - 2)]
  if action ~= '=' then
    redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', ARGV[5])
    if action == '-' then redis.call('ZREM', KEYS[i], ARGV[4]) else redis.call('ZADD', KEYS[i], action, ARGV[4]) end
    local last = redis.call('ZRANGE', KEYS[i], -1, -1, 'WITHSCORES')
    if #last == 0 then redis.call('DEL', KEYS[i])
    elseif last[2] == 'inf' then redis.call('PERSIST', KEYS[i])
    else redis.call('PEXPIREAT', KEYS[i], last[2]) end
  end
end
if ARGV[2] == '' then
  redis.call('DEL', KEYS[1])
  redis.call('ZREM', KEYS[2], ARGV[4])
  return 1
end
redis.call('HSET', KEYS[1], 'v', ARGV[8], 'b', ARGV[2])
if ARGV[3] ~= '0' then redis.call('PEXPIREAT', KEYS[1], ARGV[3]) else redis.call('PERSIST', KEYS[1]) end
redis.call('ZADD', KEYS[2], ARGV[7], ARGV[4])
return 1
`;

/** Conflicts an update retries before it gives up (each means another proxy wrote the user meanwhile). */
const MAX_ATTEMPTS = 16;

export class StoreUnavailableError extends Error {
  readonly code = 'SY_STORE_UNAVAILABLE';
}

export interface RedisStoreOptions {
  /** `redis://[user:password@]host:port[/db]`, `rediss://...`, or `unix:///path/to/socket`. */
  readonly url: string;
  /** Keys start with it, so that several deployments share one server. */
  readonly prefix?: string;
  /** A command that has not answered by then fails. Default 1000 ms. */
  readonly commandTimeoutMs?: number;
  readonly log: Logger;
  readonly now?: () => number;
}

/** Beyond any user count a store holds. */
const NO_LIMIT = 2 ** 40;

type UpdateFn<T> = (current: readonly Binding[], moment: StoreMoment) => LocationUpdate<T>;

/** A dialect and source IP as the per-IP counts key them (IPv4 and its IPv4-mapped form are one). */
function ipKeyOf(dialect: DialectName, ip: string): string {
  return `${dialect}:${unmapIPv4(ip)}`;
}

/**
 * The lowest count from `read` on at which `holds` is false, or null when no count makes it so:
 * found by bisection, `fn` being pure and a limit monotonic.
 */
function lowestFailing(read: number, holds: (n: number) => boolean): number | null {
  if (holds(NO_LIMIT)) return null;
  let lo = read;
  let hi = NO_LIMIT;
  while (hi - lo > 1) {
    const mid = Math.floor((lo + hi) / 2);
    if (holds(mid)) lo = mid;
    else hi = mid;
  }
  return hi;
}

/** Per dialect and IP of `bindings`: the last expiry there ('+inf': one never expires). */
function expiriesByIp(bindings: readonly Binding[]): Map<string, number | null> {
  const out = new Map<string, number | null>();
  for (const b of bindings) {
    const key = ipKeyOf(b.dialect, b.address.address);
    const before = out.get(key);
    if (before === null) continue;
    out.set(key, b.expiresAt === null ? null : Math.max(before ?? 0, b.expiresAt));
  }
  return out;
}

function liveAt(t: number): (b: Binding) => boolean {
  return (b) => b.expiresAt === null || b.expiresAt > t;
}

/** The last expiry of the bindings (epoch ms), or null when one of them never expires. */
function lastExpiry(bindings: readonly Binding[]): number | null {
  let last = 0;
  for (const b of bindings) {
    if (b.expiresAt === null) return null;
    if (b.expiresAt > last) last = b.expiresAt;
  }
  return last;
}

export class RedisLocationStore implements LocationStore {
  private readonly redis: Redis;
  private readonly prefix: string;
  private readonly now: () => number;
  private users = 0;
  private readonly queues = new Map<string, Promise<void>>();
  private readonly counter: NodeJS.Timeout;
  private closed = false;

  private constructor(private readonly o: RedisStoreOptions) {
    this.prefix = o.prefix ?? 'switchyard:';
    this.now = o.now ?? Date.now;
    const timeout = o.commandTimeoutMs ?? 1000;
    const common = {
      lazyConnect: true,
      // Fail at once while disconnected, rather than queue: a REGISTER waits for nobody.
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      commandTimeout: timeout,
      connectTimeout: timeout,
      retryStrategy: (times: number) => Math.min(100 * times, 2000),
    };
    this.redis = o.url.startsWith('unix://') ? new Redis({ ...common, path: o.url.slice('unix://'.length) }) : new Redis(o.url, common);
    // The number of keys varies with the IPs an update touches: given first at each call.
    this.redis.defineCommand('syCompareAndSet', { lua: COMPARE_AND_SET });
    let wasReady = false;
    this.redis.on('ready', () => {
      o.log.info({ store: this.where() }, 'location store: connected');
      wasReady = true;
      void this.refreshCount();
    });
    this.redis.on('error', (err: Error) => {
      if (wasReady) o.log.warn({ store: this.where(), err: err.message }, 'location store: connection lost');
      wasReady = false;
    });
    this.counter = setInterval(() => void this.refreshCount(), 1000);
    this.counter.unref();
  }

  /** Connects (within the command timeout); a server that is not there yet is retried in the background. */
  static async open(o: RedisStoreOptions): Promise<RedisLocationStore> {
    const store = new RedisLocationStore(o);
    try {
      await store.redis.connect();
    } catch (err) {
      o.log.warn({ store: store.where(), err: (err as Error).message }, 'location store: not reachable yet; registrations get 503 until it is');
    }
    return store;
  }

  private where(): string {
    return this.o.url.replace(/\/\/[^@/]*@/, '//***@');
  }

  private key(aor: string): string {
    return `${this.prefix}aor:${aor}`;
  }

  private get index(): string {
    return `${this.prefix}aors`;
  }

  private async refreshCount(): Promise<void> {
    if (this.closed || this.redis.status !== 'ready') return;
    try {
      const now = this.now();
      const [, count] = await Promise.all([
        this.redis.zremrangebyscore(this.index, '-inf', now),
        this.redis.zcount(this.index, `(${now}`, '+inf'),
      ]);
      this.users = count;
    } catch {
      // The next tick tries again.
    }
  }

  private async read(aor: string, now: number): Promise<{ version: string; bindings: Binding[]; users: number }> {
    try {
      const [fields, users] = await Promise.all([
        this.redis.hmget(this.key(aor), 'v', 'b'),
        this.redis.zcount(this.index, `(${now}`, '+inf'),
      ]);
      const [version, text] = fields;
      return { version: version ?? '', bindings: text == null ? [] : decodeBindings(aor, text).filter(liveAt(now)), users };
    } catch (err) {
      throw new StoreUnavailableError(`location store: ${(err as Error).message}`);
    }
  }

  async lookup(aor: string): Promise<readonly Binding[]> {
    try {
      const text = await this.redis.hget(this.key(aor), 'b');
      return text === null ? [] : decodeBindings(aor, text).filter(liveAt(this.now()));
    } catch (err) {
      throw new StoreUnavailableError(`location store: ${(err as Error).message}`);
    }
  }

  /**
   * Updates of one user from this process go one after the other (they would only conflict with
   * each other); conflicts with other proxies are retried after a short random pause.
   */
  update<T>(aor: string, fn: UpdateFn<T>): Promise<T> {
    const before = this.queues.get(aor) ?? Promise.resolve();
    const run = before.then(() => this.attempt(aor, fn));
    const settled = run.then(() => undefined, () => undefined);
    this.queues.set(aor, settled);
    void settled.then(() => {
      if (this.queues.get(aor) === settled) this.queues.delete(aor);
    });
    return run;
  }

  private ipKey(key: string): string {
    return `${this.prefix}ip:${key}`;
  }

  /** Users bound from each of `keys` (dialect:ip) at `now`. */
  private async countsAt(keys: readonly string[], now: number): Promise<number[]> {
    try {
      return await Promise.all(keys.map((k) => this.redis.zcount(this.ipKey(k), `(${now}`, '+inf')));
    } catch (err) {
      throw new StoreUnavailableError(`location store: ${(err as Error).message}`);
    }
  }

  private async attempt<T>(aor: string, fn: UpdateFn<T>): Promise<T> {
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      if (attempt > 0) await new Promise((r) => setTimeout(r, Math.random() * 5 * attempt));
      const now = this.now();
      const seen = await this.read(aor, now);
      // `fn` reads per-IP counts synchronously: it runs again once the counts it asked for are read.
      const counts = new Map<string, number>();
      const moment = (users: number, at?: { key: string; n: number }): StoreMoment => ({
        now, users,
        usersAt: (dialect, ip) => {
          const key = ipKeyOf(dialect, ip);
          if (at !== undefined && key === at.key) return at.n;
          const n = counts.get(key);
          if (n === undefined) missing.add(key);
          return n ?? 0;
        },
      });
      const missing = new Set<string>();
      let out = fn(seen.bindings, moment(seen.users));
      for (let round = 0; missing.size > 0 && round < 4; round++) {
        const keys = [...missing];
        missing.clear();
        const got = await this.countsAt(keys, now);
        keys.forEach((k, i) => counts.set(k, got[i]!));
        out = fn(seen.bindings, moment(seen.users));
      }
      if (missing.size > 0) throw new StoreUnavailableError(`location store: the update of ${aor} kept asking for other counts`);
      const { bindings, result } = out;
      if (bindings === seen.bindings) return result;
      const addsUser = seen.bindings.length === 0 && bindings.length > 0;
      const limit = addsUser ? lowestFailing(seen.users, (n) => fn(seen.bindings, moment(n)).bindings.length > 0) : null;
      const before = expiriesByIp(seen.bindings);
      const after = expiriesByIp(bindings);
      const ipKeys = [...new Set([...before.keys(), ...after.keys(), ...counts.keys()])];
      const ipArgs: string[] = [];
      for (const key of ipKeys) {
        const until = after.get(key);
        const action = until !== undefined ? (until === null ? '+inf' : String(until)) : before.has(key) ? '-' : '=';
        // Binding the user at an IP it was not at: stored only below the count that would refuse it.
        const joins = until !== undefined && !before.has(key) && counts.has(key);
        const boundThere = (n: number): boolean => expiriesByIp(fn(seen.bindings, moment(seen.users, { key, n })).bindings).has(key);
        const ipLimit = joins ? lowestFailing(counts.get(key)!, boundThere) : null;
        ipArgs.push(action, ipLimit === null ? '-1' : String(ipLimit));
      }
      const last = lastExpiry(bindings);
      const args = [
        seen.version,
        bindings.length === 0 ? '' : encodeBindings(bindings),
        last === null ? '0' : String(last),
        aor,
        String(now),
        limit === null ? '-1' : String(limit),
        last === null ? '+inf' : String(last),
        randomBytes(8).toString('hex'),
        ...ipArgs,
      ];
      let stored: unknown;
      try {
        stored = await (this.redis as unknown as { syCompareAndSet(n: number, ...keysAndArgs: string[]): Promise<number> })
          .syCompareAndSet(2 + ipKeys.length, this.key(aor), this.index, ...ipKeys.map((k) => this.ipKey(k)), ...args);
      } catch (err) {
        throw new StoreUnavailableError(`location store: ${(err as Error).message}`);
      }
      if (stored === 1) {
        if (addsUser) this.users++;
        else if (bindings.length === 0) this.users = Math.max(0, this.users - 1);
        return result;
      }
    }
    throw new StoreUnavailableError(`location store: ${aor} changed under ${MAX_ATTEMPTS} updates in a row`);
  }

  /** Live bindings, users in the order of their last expiry, at most `limit` (an operator's listing). */
  async list(limit: number): Promise<readonly Binding[]> {
    const now = this.now();
    const out: Binding[] = [];
    try {
      const aors = await this.redis.zrangebyscore(this.index, `(${now}`, '+inf', 'LIMIT', 0, limit);
      const pipeline = this.redis.pipeline();
      for (const aor of aors) pipeline.hget(this.key(aor), 'b');
      const texts = aors.length === 0 ? [] : ((await pipeline.exec()) ?? []).map(([err, text]) => (err === null && typeof text === 'string' ? text : null));
      aors.forEach((aor, i) => {
        const text = texts[i];
        if (text == null) return;
        for (const b of decodeBindings(aor, text)) if (out.length < limit && liveAt(now)(b)) out.push(b);
      });
    } catch (err) {
      throw new StoreUnavailableError(`location store: ${(err as Error).message}`);
    }
    return out;
  }

  reachable(): boolean {
    return this.redis.status === 'ready';
  }

  size(): number {
    return this.users;
  }

  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.counter);
    try {
      await this.redis.quit();
    } catch {
      this.redis.disconnect();
    }
  }
}
