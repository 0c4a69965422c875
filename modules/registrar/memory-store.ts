import type { Binding, LocationStore } from './store.ts';

/** The in-process location table; expired bindings are swept once a second. */
export class MemoryLocationStore implements LocationStore {
  private readonly table = new Map<string, readonly Binding[]>();
  private readonly sweeper: NodeJS.Timeout;

  constructor(private readonly now: () => number = Date.now) {
    this.sweeper = setInterval(() => this.sweep(), 1000);
    this.sweeper.unref();
  }

  async lookup(aor: string): Promise<readonly Binding[]> {
    const list = this.table.get(aor);
    if (list === undefined) return [];
    const t = this.now();
    return list.filter((b) => b.expiresAt === null || b.expiresAt > t);
  }

  async replace(aor: string, bindings: readonly Binding[]): Promise<void> {
    if (bindings.length === 0) this.table.delete(aor);
    else this.table.set(aor, bindings);
  }

  async remove(aor: string): Promise<void> {
    this.table.delete(aor);
  }

  size(): number {
    return this.table.size;
  }

  private sweep(): void {
    const t = this.now();
    for (const [aor, list] of this.table) {
      const live = list.filter((b) => b.expiresAt === null || b.expiresAt > t);
      if (live.length === 0) this.table.delete(aor);
      else if (live.length !== list.length) this.table.set(aor, live);
    }
  }

  async close(): Promise<void> {
    clearInterval(this.sweeper);
  }
}
