/**
 * The last few thousand 32-bit fingerprints added, in fixed memory: two open-addressed tables of
 * `slots` entries, the newer one taking every add; once it holds half its slots it becomes the
 * older one and the older one is cleared for reuse. A fingerprint is remembered for at least
 * `slots / 2` adds after its own, and nothing grows however many are added. A lookup can be
 * wrong only the way a set of hashes is: another key with the same fingerprint.
 */
export class RecentFingerprints {
  private newer: Uint32Array;
  private older: Uint32Array;
  private held = 0;
  private used = false;
  private readonly mask: number;

  /** `slots` is rounded up to a power of two (at least 16). */
  constructor(slots: number) {
    let n = 16;
    while (n < slots) n *= 2;
    this.mask = n - 1;
    this.newer = new Uint32Array(n);
    this.older = new Uint32Array(n);
  }

  /** Nothing was ever added: a lookup can be skipped. */
  get empty(): boolean {
    return !this.used;
  }

  add(fingerprint: number): void {
    const f = fingerprint >>> 0 || 1; // 0 marks an empty slot
    if (this.find(this.newer, f)) return;
    if (this.held >= (this.mask + 1) / 2) this.rotate();
    const t = this.newer;
    let i = f & this.mask;
    while (t[i] !== 0) i = (i + 1) & this.mask;
    t[i] = f;
    this.held++;
    this.used = true;
  }

  has(fingerprint: number): boolean {
    const f = fingerprint >>> 0 || 1;
    return this.find(this.newer, f) || this.find(this.older, f);
  }

  private find(t: Uint32Array, f: number): boolean {
    // At most half full, so a run of occupied slots ends soon.
    for (let i = f & this.mask; t[i] !== 0; i = (i + 1) & this.mask) if (t[i] === f) return true;
    return false;
  }

  private rotate(): void {
    const reused = this.older;
    reused.fill(0);
    this.older = this.newer;
    this.newer = reused;
    this.held = 0;
  }
}
