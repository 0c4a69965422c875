import type { DialectName } from '../../core/module.ts';
import type { Binding } from './store.ts';

/** Bindings held per dialect, kept as each user's bindings change (what /metrics reads). */
export class DialectBindings {
  private readonly counts: Record<DialectName, number> = { plain: 0, sip: 0 };

  /** One user's bindings went from `before` to `after`. */
  change(before: readonly Binding[], after: readonly Binding[]): void {
    for (const b of before) this.counts[b.dialect]--;
    for (const b of after) this.counts[b.dialect]++;
  }

  get(): Readonly<Record<DialectName, number>> {
    return this.counts;
  }
}
