import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { LogThrottle, type DialectName, type Logger } from '../../core/module.ts';
import { decodeRows, isEncodedBindings } from './binding-codec.ts';
import { readJournal, RegistrationJournal } from './journal.ts';
import { MemoryLocationStore } from './memory-store.ts';
import { lockState } from './state-lock.ts';
import type { Binding, LocationStore, LocationUpdate, StoreMoment } from './store.ts';

/** A file smaller than this is never compacted. */
const COMPACT_MIN_BYTES = 4 << 20;
/** Index slots of the table a compaction writes out per turn of the event loop (a few milliseconds). */
const SCAN_SLOTS = 4096;

export interface PersistentStoreOptions {
  /** The registrations file; its folder is created (mode 700) if missing. */
  readonly file: string;
  readonly log: Logger;
  readonly now?: () => number;
}

/**
 * The embedded location table kept on disk as well: the memory store (memory-store.ts) for
 * every read, and each change appended to a file (journal.ts) before the update resolves, so a
 * REGISTER is answered only once its binding would survive the process being killed. At start
 * the file is read back: bindings expired meanwhile are left out, a connection number of the
 * process that wrote them is forgotten (the contact is reached anew), and a tail cut short by a
 * crash is dropped and logged. The file is then rewritten with one line per user (compaction),
 * and again whenever it has grown to twice that size (at least 4 MB), so it stays within about
 * twice the table's own size. A compaction writes a slice of the table per turn of the event
 * loop, so a large table never stalls signaling for long.
 */
export class PersistentLocationStore implements LocationStore {
  private readonly journal: RegistrationJournal;
  private compactAt = COMPACT_MIN_BYTES;
  private compacting: Promise<void> | null = null;
  private closed = false;
  private readonly errorLog = new LogThrottle(10_000);

  private constructor(
    private readonly memory: MemoryLocationStore,
    private readonly file: string,
    private readonly log: Logger,
    private readonly unlock: () => void,
  ) {
    this.journal = new RegistrationJournal(file, (err, what) => this.failed(err, what));
  }

  /** Reads the file back into a new store, then compacts it. Throws when the file is another process's or not a registrations file. */
  static async open(o: PersistentStoreOptions): Promise<PersistentLocationStore> {
    const file = path.resolve(o.file);
    mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
    const unlock = lockState(file);
    try {
      const now = o.now ?? Date.now;
      const memory = new MemoryLocationStore(now);
      const started = performance.now();
      const t = now();
      let expired = 0;
      const read = readJournal(file, isEncodedBindings, (aor, rows) => {
        if (rows === null) {
          memory.restore(aor, []);
          return;
        }
        const all = decodeRows(aor, rows);
        const live = all.filter((b) => b.expiresAt === null || b.expiresAt > t).map(withoutConnection);
        expired += all.length - live.length;
        memory.restore(aor, live);
      });
      const store = new PersistentLocationStore(memory, file, o.log, unlock);
      if (read.tornTail) o.log.warn({ file }, 'registrations file: its last record was cut short (a write the process did not finish) and is left out');
      if (read.skipped > 0) o.log.warn({ file, skipped: read.skipped, lines: read.skippedLines }, 'registrations file: unreadable records skipped');
      await store.compact();
      o.log.info({ file, users: memory.size(), records: read.records, expiredLeftOut: expired, bytesRead: read.bytes, ms: Math.round(performance.now() - started) }, 'registrations restored');
      return store;
    } catch (err) {
      unlock();
      throw err;
    }
  }

  lookup(aor: string): readonly Binding[] {
    return this.memory.lookup(aor);
  }

  /** As the memory store's; resolves once the change is in the file. */
  update<T>(aor: string, fn: (current: readonly Binding[], moment: StoreMoment) => LocationUpdate<T>): Promise<T> {
    const { result, written } = this.memory.apply(aor, fn);
    if (written === undefined) return Promise.resolve(result);
    const appended = this.journal.append(aor, written);
    if (this.journal.bytes >= this.compactAt) return appended.then(() => { this.compactIfDue(); return result; });
    return appended.then(() => result);
  }

  list(limit: number): Promise<readonly Binding[]> {
    return this.memory.list(limit);
  }

  size(): number {
    return this.memory.size();
  }

  bindingsByDialect(): Readonly<Record<DialectName, number>> {
    return this.memory.bindingsByDialect();
  }

  /** Why the file is not being kept, or null while it is. */
  problem(): string | null {
    const failure = this.journal.failure;
    return failure === null ? null : `registrations file ${this.file}: ${failure}`;
  }

  async close(): Promise<void> {
    this.closed = true;
    this.journal.close();
    this.unlock();
    await this.memory.close();
  }

  private compactIfDue(): void {
    if (this.journal.bytes >= this.compactAt) void this.compact();
  }

  /** Rewrites the file with the table as it is, one line per user (a slice of the table per turn); one compaction at a time. */
  private compact(): Promise<void> {
    this.compacting ??= this.rewrite().finally(() => { this.compacting = null; });
    return this.compacting;
  }

  private async rewrite(): Promise<void> {
    const before = this.journal.bytes;
    const started = performance.now();
    for (let attempt = 0; attempt < 3; attempt++) {
      if (!this.journal.beginRewrite()) break;
      const layout = this.memory.layout;
      let slot = 0;
      while (slot >= 0 && this.memory.layout === layout && !this.closed) {
        const lines: [string, string][] = [];
        slot = this.memory.scan(slot, SCAN_SLOTS, (aor, text) => { lines.push([aor, text]); });
        if (!this.journal.rewriteLines(lines)) break;
        if (slot >= 0) await new Promise((r) => setImmediate(r));
      }
      if (slot >= 0 || this.journal.rewrittenBytes === null) {
        // The table's index was rebuilt meanwhile (its entries moved), the store closed, or a write failed.
        this.journal.abortRewrite();
        if (this.closed || this.journal.failure !== null) break;
        continue;
      }
      await this.journal.finishRewrite();
      this.log.debug({ file: this.file, bytesBefore: before, bytesAfter: this.journal.bytes, users: this.memory.size(), ms: Math.round(performance.now() - started) }, 'registrations file compacted');
      break;
    }
    this.compactAt = Math.max(COMPACT_MIN_BYTES, 2 * this.journal.bytes);
  }

  private failed(err: Error, what: string): void {
    const held = this.errorLog.pass();
    // Registrations go on in memory: refusing them would take every phone offline with the disk.
    if (held !== null) this.log.error({ file: this.file, err: err.message, what, heldBack: held }, 'registrations file not written: registrations are kept in memory only until it works again');
  }
}

/** A binding as restored: the connection number of the process that wrote it means nothing now. */
function withoutConnection(b: Binding): Binding {
  return b.transport === 'tcp' && b.connection !== null ? { ...b, connection: null } : b;
}
