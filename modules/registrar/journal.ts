/**
 * The registrations file: a header line, then one JSON line per change of a user's bindings,
 * `["<aor>",<rows>]` (the rows binding-codec.ts encodes) or `["<aor>"]` when the user is
 * forgotten. The last line of a user is its state; a rewrite (compaction) replaces the file
 * with one line per user, atomically (a temporary file renamed over it).
 *
 * Appends are grouped: the lines of one turn of the event loop leave in one write(2), and
 * `append` resolves once that write returned. A process killed after that loses nothing (the
 * kernel holds the bytes); the file is also flushed to the disk (fdatasync) within a second of a
 * change, which bounds what a power cut can take.
 */
import { closeSync, fdatasync, fstatSync, fsync, fsyncSync, openSync, readFileSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import path from 'node:path';

const HEADER = '{"switchyard":"registrations","version":1}\n';
const SYNC_EVERY_MS = 1000;

export class NotAJournalError extends Error {
  readonly code = 'SY_STATE_FORMAT';
}

/** What reading the file found besides the records it handed over. */
export interface JournalRead {
  /** Records handed to `onRecord`. */
  readonly records: number;
  /** Lines in the middle of the file that could not be read, skipped: their line numbers (the first 10) and how many. */
  readonly skipped: number;
  readonly skippedLines: readonly number[];
  /** The last line was cut short (a write the process did not finish) and was dropped. */
  readonly tornTail: boolean;
  readonly bytes: number;
}

/** A record: the user, and its rows as parsed (null: forgotten). `valid` decides whether the rows are well formed. */
export type RecordHandler = (aor: string, rows: unknown[] | null) => void;

/**
 * Reads `file` record by record into `onRecord`, tolerating what a crash can leave: a torn last
 * line is dropped, an unreadable line elsewhere is skipped (both reported). A file that is not
 * a registrations file (its first line) is refused. A missing file reads as empty.
 */
export function readJournal(file: string, valid: (rows: unknown) => boolean, onRecord: RecordHandler): JournalRead {
  let buf: Buffer;
  try {
    buf = readFileSync(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { records: 0, skipped: 0, skippedLines: [], tornTail: false, bytes: 0 };
    throw err;
  }
  if (buf.length === 0) return { records: 0, skipped: 0, skippedLines: [], tornTail: false, bytes: 0 };
  if (buf.toString('utf8', 0, Math.min(buf.length, HEADER.length)) !== HEADER) {
    throw new NotAJournalError(`${file} is not a switchyard registrations file (its first line is not ${HEADER.trim()})`);
  }
  let records = 0;
  let skipped = 0;
  const skippedLines: number[] = [];
  let tornTail = false;
  let line = 1;
  for (let at = HEADER.length; at < buf.length;) {
    const nl = buf.indexOf(10, at);
    const end = nl < 0 ? buf.length : nl;
    line++;
    const record = parseRecord(buf.toString('utf8', at, end), valid);
    at = end + 1;
    if (record === null) {
      if (nl < 0) {
        tornTail = true;
      } else {
        skipped++;
        if (skippedLines.length < 10) skippedLines.push(line);
      }
      continue;
    }
    onRecord(record[0], record[1]);
    records++;
  }
  return { records, skipped, skippedLines, tornTail, bytes: buf.length };
}

function parseRecord(text: string, valid: (rows: unknown) => boolean): [string, unknown[] | null] | null {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return null;
  }
  if (!Array.isArray(v) || typeof v[0] !== 'string' || v[0] === '') return null;
  if (v.length === 1) return [v[0], null];
  if (v.length !== 2 || !valid(v[1])) return null;
  return [v[0], v[1] as unknown[]];
}

function lineOf(aor: string, text: string | null): string {
  return text === null ? `[${JSON.stringify(aor)}]\n` : `[${JSON.stringify(aor)},${text}]\n`;
}

/** The file's appends and rewrites; opened after it was read. */
export class RegistrationJournal {
  private fd: number;
  private size: number;
  private pending: string[] = [];
  private written: Promise<void> | null = null;
  private dirty = false;
  private closed = false;
  /** What the last write that failed said, until one succeeds. */
  failure: string | null = null;
  /** A rewrite under way: its file, its size, and the lines appended to the old file since it began. */
  private rewriting: { fd: number; size: number; later: string[] } | null = null;
  private pendingBytes = 0;
  private readonly syncTimer: NodeJS.Timeout;

  /** Opens `file` for appending (creating it with its header when it is new); `onError` hears of writes that failed. */
  constructor(private readonly file: string, private readonly onError: (err: Error, what: string) => void) {
    this.fd = openSync(file, 'a', 0o600);
    this.size = fstatSync(this.fd).size;
    if (this.size === 0) this.size += writeSync(this.fd, HEADER);
    this.syncTimer = setInterval(() => this.syncToDisk(), SYNC_EVERY_MS);
    this.syncTimer.unref();
  }

  /** Bytes in the file, counting what waits to be written. */
  get bytes(): number {
    return this.size;
  }

  /** Records the user's bindings (their encoded text; null: forgotten); resolves once the line is written. */
  append(aor: string, text: string | null): Promise<void> {
    const line = lineOf(aor, text);
    this.pending.push(line);
    const bytes = Buffer.byteLength(line);
    this.size += bytes;
    this.pendingBytes += bytes;
    this.written ??= new Promise((resolve) => setImmediate(() => {
      this.flush();
      resolve();
    }));
    return this.written;
  }

  /** Writes what is pending now. */
  flush(): void {
    this.written = null;
    if (this.pending.length === 0) return;
    const data = this.pending.join('');
    this.pending = [];
    this.pendingBytes = 0;
    this.rewriting?.later.push(data);
    try {
      writeSync(this.fd, data);
      this.dirty = true;
      this.failure = null;
    } catch (err) {
      this.fail(err as Error, 'append');
    }
  }

  /**
   * Starts replacing the file (a compaction): a new file, `<file>.tmp`, is given the table's
   * lines by `rewriteLines` over as many turns as it takes, while appends go on to the old one
   * and are kept to be written after them; `finishRewrite` renames it over the file. On a
   * failure the file stays as it was and appends go on to it.
   */
  beginRewrite(): boolean {
    this.abortRewrite();
    try {
      const fd = openSync(`${this.file}.tmp`, 'w', 0o600);
      this.rewriting = { fd, size: writeSync(fd, HEADER), later: [] };
      return true;
    } catch (err) {
      this.fail(err as Error, 'rewrite');
      return false;
    }
  }

  /** Writes users' lines into the file being rewritten; false when it failed (the rewrite is given up). */
  rewriteLines(entries: readonly (readonly [aor: string, text: string])[]): boolean {
    const r = this.rewriting;
    if (r === null) return false;
    let chunk = '';
    for (const [aor, text] of entries) chunk += lineOf(aor, text);
    try {
      if (chunk !== '') r.size += writeSync(r.fd, chunk);
      return true;
    } catch (err) {
      this.abortRewrite();
      this.fail(err as Error, 'rewrite');
      return false;
    }
  }

  /** Ends the rewrite: what was appended meanwhile goes after the table's lines, the new file is flushed to the disk and takes the old one's place. */
  finishRewrite(): Promise<void> {
    const r = this.rewriting;
    if (r === null) return Promise.resolve();
    this.flush();
    return new Promise((resolve) => {
      try {
        if (r.later.length > 0) r.size += writeSync(r.fd, r.later.join(''));
        r.later = [];
      } catch (err) {
        this.abortRewrite();
        this.fail(err as Error, 'rewrite');
        resolve();
        return;
      }
      // The disk flush off the event loop; what is appended meanwhile is carried over after it.
      fsync(r.fd, (err) => {
        if (this.rewriting !== r) return resolve();
        try {
          if (err !== null) throw err;
          this.flush();
          if (r.later.length > 0) r.size += writeSync(r.fd, r.later.join(''));
          closeSync(r.fd);
          this.rewriting = null;
          renameSync(`${this.file}.tmp`, this.file);
          syncDirectory(path.dirname(this.file));
          closeSync(this.fd);
          this.fd = openSync(this.file, 'a', 0o600);
          this.size = r.size + this.pendingBytes;
          this.failure = null;
        } catch (e) {
          this.abortRewrite();
          this.fail(e as Error, 'rewrite');
        }
        resolve();
      });
    });
  }

  /** Gives a rewrite up: the old file, complete, stays. */
  abortRewrite(): void {
    const r = this.rewriting;
    if (r === null) return;
    this.rewriting = null;
    try {
      closeSync(r.fd);
      unlinkSync(`${this.file}.tmp`);
    } catch {
      // already closed or removed: nothing of it is used
    }
  }

  /** Bytes of the file being rewritten so far, or null when none is. */
  get rewrittenBytes(): number | null {
    return this.rewriting?.size ?? null;
  }

  /** Writes what is pending, flushes it to the disk and closes the file. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.syncTimer);
    this.abortRewrite();
    this.flush();
    try {
      fsyncSync(this.fd);
    } catch (err) {
      this.fail(err as Error, 'sync');
    }
    closeSync(this.fd);
  }

  private syncToDisk(): void {
    if (!this.dirty) return;
    this.dirty = false;
    const fd = this.fd;
    // Off the event loop. A file closed or replaced by a rewrite meanwhile was synced by that.
    fdatasync(fd, (err) => { if (err !== null && fd === this.fd && !this.closed) this.fail(err, 'sync'); });
  }

  private fail(err: Error, what: string): void {
    this.failure = `${what}: ${err.message}`;
    this.onError(err, what);
  }
}

/** Makes a rename in `dir` durable (the directory entry reaches the disk). */
function syncDirectory(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}
