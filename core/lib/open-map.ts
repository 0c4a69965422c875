/**
 * A string-keyed table for entries that come and go with every call (transactions, dialogs,
 * media sessions): open addressing with linear probing and backward-shift deletion, so a
 * removed entry leaves no tombstone and the arrays are rebuilt only when the table grows.
 *
 * Why not a Map: a Map whose entries churn rebuilds its backing store every few hundred
 * inserts. Once that store is in V8's old generation, each rebuilt store is allocated there
 * too, and the one left behind keeps pointing at the young objects it held until the next full
 * collection. Every scavenge follows those pointers, so each finished call's objects were copied
 * and promoted instead of dying young. Here a removed entry's slot is overwritten at once and
 * the arrays left behind by growth are cleared. On `npm run bench:sip-path` the proxy went from
 * about 185 to about 140 µs of CPU per call when its transaction, dialog and media-session
 * tables moved from Maps to this.
 *
 * Iterating while deleting may skip entries (a deletion moves later ones back): copy first.
 */
export class OpenMap<V> {
  private slotKeys: (string | undefined)[];
  private slotVals: (V | undefined)[];
  private hashes: Int32Array;
  private mask: number;
  private count = 0;

  constructor(expected = 32) {
    let cap = 16;
    while (cap < expected * 2) cap *= 2;
    this.slotKeys = new Array<string | undefined>(cap).fill(undefined);
    this.slotVals = new Array<V | undefined>(cap).fill(undefined);
    this.hashes = new Int32Array(cap);
    this.mask = cap - 1;
  }

  get size(): number {
    return this.count;
  }

  get(key: string): V | undefined {
    return this.slotVals[this.probe(key, hashOf(key))];
  }

  has(key: string): boolean {
    return this.slotKeys[this.probe(key, hashOf(key))] !== undefined;
  }

  set(key: string, value: V): this {
    const h = hashOf(key);
    const i = this.probe(key, h);
    this.slotVals[i] = value;
    if (this.slotKeys[i] !== undefined) return this;
    this.slotKeys[i] = key;
    this.hashes[i] = h;
    if (++this.count * 2 > this.slotKeys.length) this.grow();
    return this;
  }

  delete(key: string): boolean {
    const i = this.probe(key, hashOf(key));
    if (this.slotKeys[i] === undefined) return false;
    this.removeAt(i);
    return true;
  }

  *keys(): IterableIterator<string> {
    const { slotKeys: keys } = this;
    for (let i = 0; i < keys.length; i++) if (keys[i] !== undefined) yield keys[i]!;
  }

  *values(): IterableIterator<V> {
    const { slotKeys: keys, slotVals: vals } = this;
    for (let i = 0; i < keys.length; i++) if (keys[i] !== undefined) yield vals[i]!;
  }

  clear(): void {
    this.slotKeys.fill(undefined);
    this.slotVals.fill(undefined);
    this.count = 0;
  }

  /** The slot holding `key` (hash `h`), or the empty slot where it would go. */
  private probe(key: string, h: number): number {
    const { slotKeys: keys, hashes, mask } = this;
    for (let i = h & mask; ; i = (i + 1) & mask) {
      const k = keys[i];
      if (k === undefined || (hashes[i] === h && k === key)) return i;
    }
  }

  /** Empties slot `i`, then pulls back every later entry of the run that may sit earlier. */
  private removeAt(i: number): void {
    const { slotKeys: keys, slotVals: vals, hashes, mask } = this;
    let hole = i;
    for (let j = (i + 1) & mask; keys[j] !== undefined; j = (j + 1) & mask) {
      const home = hashes[j]! & mask;
      // Entry j may move into the hole when its home is not in (hole, j], cyclically.
      const stays = hole <= j ? home > hole && home <= j : home > hole || home <= j;
      if (stays) continue;
      keys[hole] = keys[j];
      vals[hole] = vals[j];
      hashes[hole] = hashes[j]!;
      hole = j;
    }
    keys[hole] = undefined;
    vals[hole] = undefined;
    this.count--;
  }

  private grow(): void {
    const oldKeys = this.slotKeys;
    const oldVals = this.slotVals;
    const oldHashes = this.hashes;
    const cap = oldKeys.length * 2;
    this.slotKeys = new Array<string | undefined>(cap).fill(undefined);
    this.slotVals = new Array<V | undefined>(cap).fill(undefined);
    this.hashes = new Int32Array(cap);
    this.mask = cap - 1;
    const { slotKeys: keys, slotVals: vals, hashes, mask } = this;
    for (let j = 0; j < oldKeys.length; j++) {
      const k = oldKeys[j];
      if (k === undefined) continue;
      const h = oldHashes[j]!;
      let i = h & mask;
      while (keys[i] !== undefined) i = (i + 1) & mask;
      keys[i] = k;
      vals[i] = oldVals[j];
      hashes[i] = h;
    }
    // The old arrays may sit in the old generation: leave nothing in them for a scavenge to follow.
    oldKeys.fill(undefined);
    oldVals.fill(undefined);
  }
}

/**
 * FNV-1a over the UTF-16 code units, as packed-table.ts hashes. Each file keeps its own copy: one
 * shared function imported here measured 2-5 µs a call slower in `npm run bench:sip-path`.
 */
function hashOf(key: string): number {
  let h = 0x811c9dc5 | 0;
  for (let i = 0; i < key.length; i++) h = Math.imul(h ^ key.charCodeAt(i), 0x01000193);
  return h;
}
