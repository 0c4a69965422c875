import { PackedTable, unmapIPv4, type DialectName } from '../../core/module.ts';
import type { Binding } from './store.ts';

/** The key of an IP in one dialect: IPv4 and its IPv4-mapped IPv6 form are one address. */
function keyOf(dialect: DialectName, ip: string): string {
  return `${dialect} ${unmapIPv4(ip)}`;
}

function keysOf(bindings: readonly Binding[]): Set<string> {
  const keys = new Set<string>();
  for (const b of bindings) keys.add(keyOf(b.dialect, b.address.address));
  return keys;
}

/**
 * How many users hold a binding from each source IP, per dialect: what a limit on the users of
 * one address reads. Counts live outside the JavaScript heap, like the location table itself.
 */
export class AddressUsers {
  private readonly counts = new PackedTable();

  /** Users of `dialect` with a binding from `ip`. */
  count(dialect: DialectName, ip: string): number {
    const n = this.counts.get(keyOf(dialect, ip));
    return n === undefined ? 0 : Number(n);
  }

  /** One user's bindings went from `before` to `after`: each address it left counts one less, each it joined one more. */
  change(before: readonly Binding[], after: readonly Binding[]): void {
    const left = keysOf(before);
    const joined = keysOf(after);
    for (const k of left) if (!joined.has(k)) this.add(k, -1);
    for (const k of joined) if (!left.has(k)) this.add(k, 1);
  }

  private add(key: string, by: number): void {
    const n = Number(this.counts.get(key) ?? 0) + by;
    if (n <= 0) this.counts.delete(key);
    else this.counts.set(key, String(n));
  }
}
