import { PackedTable, type DialectName } from '../../core/module.ts';
import { AddressUsers } from './address-users.ts';
import { decodeBindings, earliestExpiry, encodeBindings } from './binding-codec.ts';
import { DialectBindings } from './dialect-bindings.ts';
import type { Binding, LocationStore, LocationUpdate, StoreMoment } from './store.ts';

/** A binding still registered at `t` (epoch ms). */
function liveAt(t: number): (b: Binding) => boolean {
  return (b) => b.expiresAt === null || b.expiresAt > t;
}

/** The whole second from which a sweep may drop something of `bindings` (0: nothing ever expires). */
function deadlineOf(bindings: readonly Binding[]): number {
  const first = earliestExpiry(bindings);
  return first === null ? 0 : Math.max(1, Math.ceil(first / 1000));
}

/** A large table is swept whole in this many ticks (seconds; packed-table.ts sweepTick). */
const SWEEP_PASS_TICKS = 15;

const NO_BINDINGS: readonly Binding[] = Object.freeze([]);

/** What one user's entry counts toward the table's bytes. */
function sizeOf(aor: string, text: string | undefined): number {
  return text === undefined ? 0 : Buffer.byteLength(aor) + Buffer.byteLength(text);
}

/**
 * The in-process location table. Each user's bindings are one encoded string (binding-codec.ts)
 * in a table held outside the JavaScript heap (packed-table.ts): a million registered users cost
 * the garbage collector nothing to mark. Expired bindings leave at a sweep once a second,
 * which visits the whole table each second up to about 32,000 users and within 15 seconds
 * beyond; a lookup never returns an expired binding, swept or not.
 */
export class MemoryLocationStore implements LocationStore {
  private readonly table = new PackedTable();
  private readonly byAddress = new AddressUsers();
  private readonly byDialect = new DialectBindings();
  /** Bytes of the keys and encoded bindings held, what maxBytes bounds. */
  private bytes = 0;
  private readonly sweeper: NodeJS.Timeout;

  constructor(private readonly now: () => number = Date.now) {
    this.sweeper = setInterval(() => this.sweep(), 1000);
    this.sweeper.unref();
  }

  lookup(aor: string): readonly Binding[] {
    return this.liveBindings(aor, this.now());
  }

  /** Atomic in process: the read, `fn` and the write run with no await between them. */
  async update<T>(aor: string, fn: (current: readonly Binding[], moment: StoreMoment) => LocationUpdate<T>): Promise<T> {
    return this.apply(aor, fn).result;
  }

  /**
   * `update` without the promise: the result, and what the user's entry became (its encoded
   * bindings, null when the user is forgotten, undefined when nothing changed), for a store
   * that also writes it elsewhere (persistent-store.ts).
   */
  apply<T>(aor: string, fn: (current: readonly Binding[], moment: StoreMoment) => LocationUpdate<T>): { result: T; written: string | null | undefined } {
    const now = this.now();
    const text = this.table.get(aor);
    const stored = text === undefined ? NO_BINDINGS : decodeBindings(aor, text);
    const current = stored.filter(liveAt(now));
    const byAddress = this.byAddress;
    const { bindings, result } = fn(current, { now, users: this.table.size, usersAt: (dialect, ip) => byAddress.count(dialect, ip), bytes: this.bytes });
    if (bindings === current) return { result, written: undefined };
    byAddress.change(stored, bindings);
    this.byDialect.change(stored, bindings);
    this.bytes -= sizeOf(aor, text);
    if (bindings.length === 0) {
      this.table.delete(aor);
      return { result, written: null };
    }
    const encoded = encodeBindings(bindings);
    this.table.set(aor, encoded, deadlineOf(bindings));
    this.bytes += sizeOf(aor, encoded);
    return { result, written: encoded };
  }

  /** Puts back a user's bindings read from elsewhere (a file at start), replacing what it held; the caller has left out expired ones. */
  restore(aor: string, bindings: readonly Binding[]): void {
    const text = this.table.get(aor);
    const stored = text === undefined ? NO_BINDINGS : decodeBindings(aor, text);
    this.byAddress.change(stored, bindings);
    this.byDialect.change(stored, bindings);
    this.bytes -= sizeOf(aor, text);
    if (bindings.length === 0) this.table.delete(aor);
    else {
      const encoded = encodeBindings(bindings);
      this.table.set(aor, encoded, deadlineOf(bindings));
      this.bytes += sizeOf(aor, encoded);
    }
  }

  /**
   * Users' entries as stored (expired bindings included until the sweep drops them), a slice
   * of the table at a time: PackedTable.scan, whose `layout` says when to start over.
   */
  scan(from: number, slots: number, visit: (aor: string, text: string) => void): number {
    return this.table.scan(from, slots, visit);
  }

  get layout(): number {
    return this.table.layout;
  }

  size(): number {
    return this.table.size;
  }

  /** Bytes of the keys and encoded bindings held. */
  storedBytes(): number {
    return this.bytes;
  }

  bindingsByDialect(): Readonly<Record<DialectName, number>> {
    return this.byDialect.get();
  }

  async list(limit: number): Promise<readonly Binding[]> {
    const now = this.now();
    const out: Binding[] = [];
    for (const [aor, text] of this.table.entries()) {
      for (const b of decodeBindings(aor, text)) {
        if (out.length >= limit) return out;
        if (liveAt(now)(b)) out.push(b);
      }
    }
    return out;
  }

  private liveBindings(aor: string, now: number): readonly Binding[] {
    const text = this.table.get(aor);
    return text === undefined ? NO_BINDINGS : decodeBindings(aor, text).filter(liveAt(now));
  }

  private sweep(): void {
    const t = this.now();
    this.table.sweepTick(Math.floor(t / 1000), SWEEP_PASS_TICKS, (aor, text) => {
      const stored = decodeBindings(aor, text);
      const live = stored.filter(liveAt(t));
      this.byAddress.change(stored, live);
      this.byDialect.change(stored, live);
      this.bytes -= sizeOf(aor, text);
      if (live.length === 0) return null;
      const value = encodeBindings(live);
      this.bytes += sizeOf(aor, value);
      return { value, deadline: deadlineOf(live) };
    });
  }

  async close(): Promise<void> {
    clearInterval(this.sweeper);
  }
}
