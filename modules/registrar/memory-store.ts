import { decodeBindings, earliestExpiry, encodeBindings } from './binding-codec.ts';
import type { Binding, LocationStore } from './store.ts';

/** A binding still registered at `t` (epoch ms). */
function liveAt(t: number): (b: Binding) => boolean {
  return (b) => b.expiresAt === null || b.expiresAt > t;
}

/**
 * The in-process location table. Expired bindings are swept once a second, and a sweep visits
 * only the users with a binding due: each replace files its user under the second its earliest
 * binding expires, so a table of a million users costs nothing to sweep until they expire.
 * Each user's bindings are held encoded, one string per user (binding-codec.ts): the garbage
 * collector's marking work does not grow with the bindings' fields.
 */
export class MemoryLocationStore implements LocationStore {
  private readonly table = new Map<string, string>();
  /** Second (epoch ms / 1000) → users with a binding expiring in it. A user re-registered since is visited for nothing. */
  private readonly due = new Map<number, string[]>();
  private readonly sweeper: NodeJS.Timeout;

  constructor(private readonly now: () => number = Date.now) {
    this.sweeper = setInterval(() => this.sweep(), 1000);
    this.sweeper.unref();
  }

  async lookup(aor: string): Promise<readonly Binding[]> {
    const text = this.table.get(aor);
    if (text === undefined) return [];
    const t = this.now();
    return decodeBindings(aor, text).filter(liveAt(t));
  }

  async replace(aor: string, bindings: readonly Binding[]): Promise<void> {
    if (bindings.length === 0) this.table.delete(aor);
    else {
      this.table.set(aor, encodeBindings(bindings));
      this.fileDue(aor, bindings);
    }
  }

  async remove(aor: string): Promise<void> {
    this.table.delete(aor);
  }

  size(): number {
    return this.table.size;
  }

  private fileDue(aor: string, bindings: readonly Binding[]): void {
    const first = earliestExpiry(bindings);
    if (first === null) return;
    const second = Math.floor(first / 1000);
    const users = this.due.get(second);
    if (users === undefined) this.due.set(second, [aor]);
    else users.push(aor);
  }

  private sweep(): void {
    const t = this.now();
    // Every binding filed under a second before the current one has expired by now.
    const before = Math.floor(t / 1000);
    for (const [second, users] of this.due) {
      if (second >= before) continue;
      this.due.delete(second);
      for (const aor of users) {
        const text = this.table.get(aor);
        if (text === undefined) continue;
        const list = decodeBindings(aor, text);
        const live = list.filter(liveAt(t));
        if (live.length === list.length) continue; // re-registered since it was filed
        if (live.length === 0) this.table.delete(aor);
        else {
          this.table.set(aor, encodeBindings(live));
          this.fileDue(aor, live);
        }
      }
    }
  }

  async close(): Promise<void> {
    clearInterval(this.sweeper);
  }
}
