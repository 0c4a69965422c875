import { lookup, Resolver } from 'node:dns/promises';

/** How host names in Request-URIs and Routes are resolved: every bound is one an honest peer never nears. */
export interface DnsOptions {
  /** How long one name may take; past it the request is answered 503 and the name is not asked again for `negativeCacheSec`. */
  readonly timeoutMs: number;
  /** How long an answer is kept at most (shorter when its TTL says so). */
  readonly cacheSec: number;
  /** How long a name that did not resolve (or took too long) is kept as such. */
  readonly negativeCacheSec: number;
  /** Names kept at most; past it the oldest go. */
  readonly maxCached: number;
  /** Lookups running at once: the system resolver runs each on one of libuv's four threads, which files and crypto share. */
  readonly maxConcurrent: number;
  /** Lookups waiting for a turn; past it a name not in the cache is answered 503 at once. */
  readonly maxQueued: number;
  /** DNS servers (`ip` or `ip:port`) asked directly instead of the system resolver (which reads /etc/hosts). */
  readonly servers?: readonly string[] | undefined;
}

export const DNS_DEFAULTS: DnsOptions = { timeoutMs: 2000, cacheSec: 300, negativeCacheSec: 30, maxCached: 10_000, maxConcurrent: 2, maxQueued: 64 };

/** An address, or why there is none: the name does not resolve, or no answer could be had now. */
export type Resolution = { readonly address: string } | 'unresolvable' | 'unavailable';

/** One lookup as the resolver runs it: the address and how long it may be kept (null: no TTL known). */
export type LookupFn = (name: string) => Promise<{ readonly address: string; readonly ttlSec: number | null }>;

export interface ResolverStats {
  dnsLookups: number;
  dnsCacheHits: number;
  dnsTimeouts: number;
  dnsFailures: number;
  /** Names answered 'unavailable' at once: every lookup slot busy and the queue full. */
  dnsRefused: number;
}

interface Cached {
  readonly result: Resolution;
  readonly until: number;
}

/** The system resolver (getaddrinfo: /etc/hosts, nsswitch), first address of any family. */
const systemLookup: LookupFn = async (name) => ({ address: (await lookup(name)).address, ttlSec: null });

/** DNS servers asked directly (c-ares, off libuv's thread pool): A records, else AAAA. */
function serversLookup(servers: readonly string[], timeoutMs: number): LookupFn {
  const resolver = new Resolver({ timeout: timeoutMs, tries: 1 });
  resolver.setServers([...servers]);
  return async (name) => {
    try {
      const [a] = await resolver.resolve4(name, { ttl: true });
      if (a !== undefined) return { address: a.address, ttlSec: a.ttl };
    } catch (err) {
      if ((err as { code?: string }).code !== 'ENODATA' && (err as { code?: string }).code !== 'ENOTFOUND') throw err;
    }
    const [aaaa] = await resolver.resolve6(name, { ttl: true });
    if (aaaa === undefined) throw Object.assign(new Error(`${name}: no address`), { code: 'ENODATA' });
    return { address: aaaa.address, ttlSec: aaaa.ttl };
  };
}

/**
 * Host names of SIP next hops, resolved within bounds: answers and failures are cached, at most
 * `maxConcurrent` lookups run at once (a lookup that overran its time still holds its slot until
 * it returns, so a stalled DNS server can never take more), at most `maxQueued` wait, and a name
 * that takes longer than `timeoutMs` is given up. A flood of requests naming slow or made-up
 * hosts then costs a bounded queue and a few threads, never the proxy.
 */
export class SipResolver {
  readonly stats: ResolverStats = { dnsLookups: 0, dnsCacheHits: 0, dnsTimeouts: 0, dnsFailures: 0, dnsRefused: 0 };
  private readonly cache = new Map<string, Cached>();
  private readonly pending = new Map<string, Promise<Resolution>>();
  private readonly queue: (() => void)[] = [];
  private running = 0;
  private lookupFn: LookupFn;

  constructor(private options: DnsOptions = DNS_DEFAULTS, private readonly injected?: LookupFn, private readonly now: () => number = Date.now) {
    this.lookupFn = injected ?? this.lookupFor(options);
  }

  /** New bounds (a reload): they apply to lookups started from now on; other servers empty the cache. */
  configure(options: DnsOptions): void {
    const serversChanged = (options.servers ?? []).join(',') !== (this.options.servers ?? []).join(',');
    this.options = options;
    if (this.injected === undefined) this.lookupFn = this.lookupFor(options);
    if (serversChanged) this.cache.clear();
  }

  private lookupFor(o: DnsOptions): LookupFn {
    return o.servers !== undefined && o.servers.length > 0 ? serversLookup(o.servers, o.timeoutMs) : systemLookup;
  }

  resolve(name: string): Resolution | Promise<Resolution> {
    const key = name.toLowerCase();
    const cached = this.cache.get(key);
    if (cached !== undefined) {
      if (cached.until > this.now()) {
        this.stats.dnsCacheHits++;
        return cached.result;
      }
      this.cache.delete(key);
    }
    const pending = this.pending.get(key);
    if (pending !== undefined) return pending;
    if (this.running >= this.options.maxConcurrent && this.queue.length >= this.options.maxQueued) {
      this.stats.dnsRefused++;
      return 'unavailable';
    }
    const result = new Promise<Resolution>((resolve) => {
      const start = (): void => { this.run(key, resolve); };
      if (this.running < this.options.maxConcurrent) start();
      else this.queue.push(start);
    });
    this.pending.set(key, result);
    void result.then(() => this.pending.delete(key));
    return result;
  }

  private run(name: string, done: (r: Resolution) => void): void {
    this.running++;
    this.stats.dnsLookups++;
    const { timeoutMs, cacheSec, negativeCacheSec } = this.options;
    let settled = false;
    const finish = (r: Resolution, keepSec: number): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      this.remember(name, r, keepSec);
      done(r);
    };
    const timer = setTimeout(() => {
      this.stats.dnsTimeouts++;
      finish('unavailable', negativeCacheSec);
    }, timeoutMs);
    this.lookupFn(name).then(
      (found) => finish({ address: found.address }, found.ttlSec === null ? cacheSec : Math.min(cacheSec, found.ttlSec)),
      () => {
        if (!settled) this.stats.dnsFailures++;
        finish('unresolvable', negativeCacheSec);
      },
    ).finally(() => {
      // The slot is free only once the lookup itself has returned.
      this.running--;
      this.queue.shift()?.();
    });
  }

  private remember(name: string, result: Resolution, keepSec: number): void {
    if (keepSec <= 0 || this.options.maxCached === 0) return;
    while (this.cache.size >= this.options.maxCached) {
      const oldest = this.cache.keys().next().value;
      if (oldest === undefined) break;
      this.cache.delete(oldest);
    }
    this.cache.set(name, { result, until: this.now() + keepSec * 1000 });
  }
}
