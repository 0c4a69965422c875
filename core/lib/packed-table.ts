/**
 * A string → string table held outside the JavaScript heap: keys and values are UTF-8 bytes
 * in large buffers, found through an open-addressing index of typed arrays. The garbage
 * collector sees a handful of buffers however many entries there are, where a Map of a million
 * entries is two million strings it must mark at every major collection (about 400 ms on one
 * core, longer than SIP's T1). What a C SIP server keeps in shared memory (the location table,
 * finished transactions) it keeps here.
 *
 * Each entry carries a deadline (whole seconds, 0 = none), so an incremental sweep can find
 * the entries whose time is up without decoding the others.
 *
 * Record layout, in blocks of a size class: u32 deadline, u32 key bytes, u32 value bytes, key, value.
 */
const HEADER = 12;
const CHUNK_BYTES = 4 << 20;
/** Record addresses count 8-byte units, so an address stays a small integer (< 2^30) up to 8 GiB. */
const UNIT = 8;
const UNITS_PER_CHUNK = CHUNK_BYTES / UNIT;
const EMPTY = 0;
const TOMBSTONE = 1;
/** Blocks are multiples of 64 bytes up to 4 KiB, then powers of two up to a whole chunk. */
const STEP = 64;
const STEPPED_MAX = 4096;

function classOf(bytes: number): number {
  if (bytes <= STEPPED_MAX) return Math.max(1, Math.ceil(bytes / STEP)) - 1;
  return STEPPED_MAX / STEP - 1 + Math.ceil(Math.log2(bytes / STEPPED_MAX));
}

function classBytes(c: number): number {
  const stepped = STEPPED_MAX / STEP;
  return c < stepped ? (c + 1) * STEP : STEPPED_MAX * 2 ** (c - stepped + 1);
}

/** Where in its chunk the record at `addr` starts. */
function offsetOf(addr: number): number {
  return (addr % UNITS_PER_CHUNK) * UNIT;
}

/** FNV-1a over UTF-16 code units, never EMPTY or TOMBSTONE. */
function hashOf(key: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) h = Math.imul(h ^ key.charCodeAt(i), 0x01000193);
  h >>>= 0;
  return h <= TOMBSTONE ? h + 2 : h;
}

/** Index slots a sweep tick visits at least (a small table is swept whole each tick). */
const SWEEP_TICK_SLOTS_MIN = 65_536;

export class PackedTable {
  private hashes: Uint32Array;
  private addrs: Uint32Array;
  private mask: number;
  private live = 0;
  private tombstones = 0;
  private readonly chunks: Buffer[] = [];
  /** Next free byte in the last chunk. */
  private top = CHUNK_BYTES;
  private readonly free: number[][] = [];
  private scratch = Buffer.allocUnsafeSlow(256);
  private sweepAt = 0;
  private rebuilds = 0;

  constructor(initialCapacity = 1024) {
    let cap = 16;
    while (cap < initialCapacity) cap <<= 1;
    this.hashes = new Uint32Array(cap);
    this.addrs = new Uint32Array(cap);
    this.mask = cap - 1;
  }

  get size(): number {
    return this.live;
  }

  /**
   * One tick of a periodic sweep: the whole index when it has up to 65,536 slots, else enough of
   * it that `ticksPerPass` ticks cover it all. As `sweep` otherwise.
   */
  sweepTick(nowSec: number, ticksPerPass: number, due?: (key: string, value: string) => { value: string; deadline: number } | null): number {
    return this.sweep(nowSec, Math.max(SWEEP_TICK_SLOTS_MIN, Math.ceil(this.hashes.length / ticksPerPass)), due);
  }

  get(key: string): string | undefined {
    const slot = this.find(hashOf(key), key);
    if (slot < 0) return undefined;
    const addr = this.addrs[slot]!;
    const buf = this.chunkOf(addr);
    const at = offsetOf(addr);
    const keyLen = buf.readUInt32LE(at + 4);
    const valueStart = at + HEADER + keyLen;
    return buf.toString('utf8', valueStart, valueStart + buf.readUInt32LE(at + 8));
  }

  has(key: string): boolean {
    return this.find(hashOf(key), key) >= 0;
  }

  /** Stores `value` under `key` with a deadline in whole seconds (0: none). */
  set(key: string, value: string, deadline = 0): void {
    const h = hashOf(key);
    const keyLen = this.encodeKey(key);
    const valueLen = Buffer.byteLength(value, 'utf8');
    const need = HEADER + keyLen + valueLen;
    const slot = this.find(h, key, keyLen);
    if (slot >= 0) {
      const addr = this.addrs[slot]!;
      const buf = this.chunkOf(addr);
      const at = offsetOf(addr);
      const have = classOf(HEADER + buf.readUInt32LE(at + 4) + buf.readUInt32LE(at + 8));
      if (classOf(need) === have) {
        this.write(buf, at, keyLen, value, valueLen, deadline); // a refresh: in place
        return;
      }
      this.release(addr, have);
      this.addrs[slot] = this.place(keyLen, value, valueLen, deadline, need);
      return;
    }
    if ((this.live + this.tombstones + 1) * 2 > this.hashes.length) this.rebuild();
    const addr = this.place(keyLen, value, valueLen, deadline, need);
    let i = h & this.mask;
    while (this.hashes[i]! > TOMBSTONE) i = (i + 1) & this.mask;
    if (this.hashes[i] === TOMBSTONE) this.tombstones--;
    this.hashes[i] = h;
    this.addrs[i] = addr;
    this.live++;
  }

  delete(key: string): boolean {
    const slot = this.find(hashOf(key), key);
    if (slot < 0) return false;
    this.removeSlot(slot);
    return true;
  }

  /** Every live entry, in index order; the table must not change while this runs (an operator's listing, not a hot path). */
  *entries(): IterableIterator<[key: string, value: string]> {
    for (let i = 0; i < this.hashes.length; i++) {
      if (this.hashes[i]! <= TOMBSTONE) continue;
      const addr = this.addrs[i]!;
      const buf = this.chunkOf(addr);
      const at = offsetOf(addr);
      const keyLen = buf.readUInt32LE(at + 4);
      yield [buf.toString('utf8', at + HEADER, at + HEADER + keyLen), buf.toString('utf8', at + HEADER + keyLen, at + HEADER + keyLen + buf.readUInt32LE(at + 8))];
    }
  }

  /**
   * Hands the live entries of up to `slots` index slots from `from` to `visit`; returns the slot
   * to go on from, or -1 once past the last. Between calls the table may change: an entry set
   * or deleted meanwhile may be seen either way, and the others are each seen once, as long as
   * `layout` has not changed (a rebuilt index has moved every entry: start over).
   */
  scan(from: number, slots: number, visit: (key: string, value: string) => void): number {
    const end = Math.min(from + slots, this.hashes.length);
    for (let i = from; i < end; i++) {
      if (this.hashes[i]! <= TOMBSTONE) continue;
      const addr = this.addrs[i]!;
      const buf = this.chunkOf(addr);
      const at = offsetOf(addr);
      const keyLen = buf.readUInt32LE(at + 4);
      visit(buf.toString('utf8', at + HEADER, at + HEADER + keyLen), buf.toString('utf8', at + HEADER + keyLen, at + HEADER + keyLen + buf.readUInt32LE(at + 8)));
    }
    return end < this.hashes.length ? end : -1;
  }

  /** Changes whenever the index is rebuilt (see `scan`). */
  get layout(): number {
    return this.rebuilds;
  }

  clear(): void {
    this.rebuilds++;
    this.hashes.fill(EMPTY);
    this.live = this.tombstones = 0;
    this.chunks.length = 0;
    this.free.length = 0;
    this.top = CHUNK_BYTES;
  }

  /**
   * Visits up to `slots` index slots from where the last call stopped and hands each entry
   * whose deadline is at or before `nowSec` to `due`, which returns what to keep: a new value
   * and deadline, or null to drop the entry. Without `due` such entries are dropped unread.
   * Returns how many entries were due.
   */
  sweep(nowSec: number, slots: number, due?: (key: string, value: string) => { value: string; deadline: number } | null): number {
    let handed = 0;
    const n = Math.min(slots, this.hashes.length);
    for (let k = 0; k < n; k++) {
      const i = (this.sweepAt + k) & this.mask;
      if (this.hashes[i]! <= TOMBSTONE) continue;
      const addr = this.addrs[i]!;
      const buf = this.chunkOf(addr);
      const at = offsetOf(addr);
      const deadline = buf.readUInt32LE(at);
      if (deadline === 0 || deadline > nowSec) continue;
      handed++;
      if (due === undefined) {
        this.removeSlot(i);
        continue;
      }
      const keyLen = buf.readUInt32LE(at + 4);
      const key = buf.toString('utf8', at + HEADER, at + HEADER + keyLen);
      const value = buf.toString('utf8', at + HEADER + keyLen, at + HEADER + keyLen + buf.readUInt32LE(at + 8));
      const keep = due(key, value);
      if (keep === null) this.removeSlot(i);
      else this.set(key, keep.value, keep.deadline); // the same slot: the index does not move during set of a present key
    }
    this.sweepAt = (this.sweepAt + n) & this.mask;
    return handed;
  }

  // ---- index ------------------------------------------------------------------------------

  /**
   * The slot of `key` (hash `h`), or -1. The key is encoded into the scratch buffer only when a
   * slot's hash matches, so a miss (most lookups of a transaction key) costs no encoding;
   * `keyLen` says it is there already.
   */
  private find(h: number, key: string, keyLen = -1): number {
    const { hashes, addrs, mask } = this;
    for (let i = h & mask; ; i = (i + 1) & mask) {
      const at = hashes[i]!;
      if (at === EMPTY) return -1;
      if (at !== h) continue;
      if (keyLen < 0) keyLen = this.encodeKey(key);
      if (this.keyEquals(addrs[i]!, keyLen)) return i;
    }
  }

  private removeSlot(slot: number): void {
    const addr = this.addrs[slot]!;
    const buf = this.chunkOf(addr);
    const at = offsetOf(addr);
    this.release(addr, classOf(HEADER + buf.readUInt32LE(at + 4) + buf.readUInt32LE(at + 8)));
    this.hashes[slot] = TOMBSTONE;
    this.tombstones++;
    this.live--;
  }

  /** Doubles the index when live entries fill a quarter of it; otherwise rebuilds it in place of its tombstones. */
  private rebuild(): void {
    const oldHashes = this.hashes;
    const oldAddrs = this.addrs;
    let cap = oldHashes.length;
    if ((this.live + 1) * 4 > cap) cap *= 2;
    this.hashes = new Uint32Array(cap);
    this.addrs = new Uint32Array(cap);
    this.mask = cap - 1;
    for (let j = 0; j < oldHashes.length; j++) {
      const h = oldHashes[j]!;
      if (h <= TOMBSTONE) continue;
      let i = h & this.mask;
      while (this.hashes[i] !== EMPTY) i = (i + 1) & this.mask;
      this.hashes[i] = h;
      this.addrs[i] = oldAddrs[j]!;
    }
    this.tombstones = 0;
    this.sweepAt = 0;
    this.rebuilds++;
  }

  // ---- records ----------------------------------------------------------------------------

  /** Writes `key` as UTF-8 into the scratch buffer; returns its length in bytes. */
  private encodeKey(key: string): number {
    if (key.length * 3 > this.scratch.length) this.scratch = Buffer.allocUnsafeSlow(Math.max(key.length * 3, this.scratch.length * 2));
    return this.scratch.write(key, 0, 'utf8');
  }

  private keyEquals(addr: number, keyLen: number): boolean {
    const buf = this.chunkOf(addr);
    const at = offsetOf(addr);
    if (buf.readUInt32LE(at + 4) !== keyLen) return false;
    return buf.compare(this.scratch, 0, keyLen, at + HEADER, at + HEADER + keyLen) === 0;
  }

  private chunkOf(addr: number): Buffer {
    return this.chunks[(addr / UNITS_PER_CHUNK) | 0]!;
  }

  /** Writes a record (the key is in the scratch buffer) into a block of its size class; returns its address. */
  private place(keyLen: number, value: string, valueLen: number, deadline: number, need: number): number {
    const c = classOf(need);
    const size = classBytes(c);
    if (size > CHUNK_BYTES) throw new RangeError(`packed table: an entry of ${need} bytes is larger than a chunk (${CHUNK_BYTES})`);
    let addr = this.free[c]?.pop();
    if (addr === undefined) {
      if (this.top + size > CHUNK_BYTES) {
        this.chunks.push(Buffer.allocUnsafeSlow(CHUNK_BYTES));
        this.top = 0;
      }
      addr = (this.chunks.length - 1) * UNITS_PER_CHUNK + this.top / UNIT;
      this.top += size;
    }
    this.write(this.chunkOf(addr), offsetOf(addr), keyLen, value, valueLen, deadline);
    return addr;
  }

  private write(buf: Buffer, at: number, keyLen: number, value: string, valueLen: number, deadline: number): void {
    buf.writeUInt32LE(deadline >>> 0, at);
    buf.writeUInt32LE(keyLen, at + 4);
    buf.writeUInt32LE(valueLen, at + 8);
    this.scratch.copy(buf, at + HEADER, 0, keyLen);
    buf.write(value, at + HEADER + keyLen, valueLen, 'utf8');
  }

  private release(addr: number, sizeClass: number): void {
    (this.free[sizeClass] ??= []).push(addr);
  }
}
