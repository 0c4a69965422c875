/**
 * A Map split over a fixed number of smaller Maps by a hash of the key. A Map grows by
 * rehashing every entry at once when it doubles: at a million entries that is one pause of
 * 100-400 ms (more in a large heap, where each key is a cache miss), longer than SIP's T1.
 * Split in 64, the largest rehash is a sixty-fourth of that, and the total work is the same.
 */
export class ShardedMap<V> {
  private readonly shards: Map<string, V>[];
  private readonly mask: number;

  /** `shards` is rounded up to a power of two. */
  constructor(shards = 64) {
    let n = 1;
    while (n < shards) n <<= 1;
    this.mask = n - 1;
    this.shards = Array.from({ length: n }, () => new Map<string, V>());
  }

  get size(): number {
    let n = 0;
    for (const s of this.shards) n += s.size;
    return n;
  }

  get(key: string): V | undefined {
    return this.shardOf(key).get(key);
  }

  has(key: string): boolean {
    return this.shardOf(key).has(key);
  }

  set(key: string, value: V): this {
    this.shardOf(key).set(key, value);
    return this;
  }

  delete(key: string): boolean {
    return this.shardOf(key).delete(key);
  }

  clear(): void {
    for (const s of this.shards) s.clear();
  }

  *entries(): IterableIterator<[string, V]> {
    for (const s of this.shards) yield* s;
  }

  *values(): IterableIterator<V> {
    for (const s of this.shards) yield* s.values();
  }

  /** FNV-1a over the UTF-16 code units. */
  private shardOf(key: string): Map<string, V> {
    let h = 0x811c9dc5;
    for (let i = 0; i < key.length; i++) h = Math.imul(h ^ key.charCodeAt(i), 0x01000193);
    return this.shards[(h ^ (h >>> 16)) & this.mask]!;
  }
}
