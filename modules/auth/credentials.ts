import { readFile, stat } from 'node:fs/promises';
import { watch, type FSWatcher } from 'chokidar';
import { computeHa1, DIGEST_HASHES, hexLength, type DigestHash } from './digest.ts';

/**
 * Where the auth module finds what it checks a response against: a user's HA1 =
 * H(user:realm:password), per hash. A database or a directory service implements the same
 * interface; the users file below is the store that ships.
 */
export interface CredentialStore {
  /** The HA1 of `user` in `realm` for `hash`, in lower-case hex; null when the user, or that hash of it, is unknown. */
  ha1(user: string, realm: string, hash: DigestHash): Promise<string | null>;
  close?(): void | Promise<void>;
}

/** One user's HA1 per hash, for one realm. */
type Ha1s = Partial<Record<DigestHash, string>>;

export interface UsersFileError {
  readonly line: number;
  readonly reason: string;
}

export interface UsersTable {
  /** By `user:realm` (neither may hold a colon). */
  readonly entries: ReadonlyMap<string, Ha1s>;
  readonly errors: readonly UsersFileError[];
}

const KINDS: Readonly<Record<string, DigestHash | 'password'>> = { 'password': 'password', 'md5': 'MD5', 'sha-256': 'SHA-256', 'sha-512-256': 'SHA-512-256' };
const NAME = /^[\x21-\x39\x3b-\x7e\u0080-\uffff]{1,128}$/; // printable, no space, no colon
const REALM = /^[\x20-\x39\x3b-\x7e\u0080-\uffff]{1,128}$/;
const HEX = /^[0-9a-fA-F]+$/;

/**
 * Reads a users file: one credential a line, `user:realm:kind:value`, where kind is `password`
 * (the value is the password: for a first try; it is hashed here and not kept) or `MD5`,
 * `SHA-256`, `SHA-512-256` (the value is that HA1 in hex, for production). Blank lines and
 * lines starting with `#` are skipped; whitespace around a line is ignored. The value runs to
 * the end of the line, so a password may hold colons. Errors name the line, never its content.
 */
export function parseUsersFile(text: string): UsersTable {
  const entries = new Map<string, Ha1s>();
  const errors: UsersFileError[] = [];
  const lines = text.split('\n');
  for (let n = 0; n < lines.length; n++) {
    const line = lines[n]!.trim();
    if (line === '' || line.startsWith('#')) continue;
    const error = (reason: string): void => { errors.push({ line: n + 1, reason }); };
    const c1 = line.indexOf(':');
    const c2 = c1 < 0 ? -1 : line.indexOf(':', c1 + 1);
    const c3 = c2 < 0 ? -1 : line.indexOf(':', c2 + 1);
    if (c3 < 0) { error('expected user:realm:kind:value'); continue; }
    const user = line.slice(0, c1);
    const realm = line.slice(c1 + 1, c2);
    const kind = KINDS[line.slice(c2 + 1, c3).toLowerCase()];
    const value = line.slice(c3 + 1);
    if (!NAME.test(user)) { error('bad user name'); continue; }
    if (!REALM.test(realm)) { error('bad realm'); continue; }
    if (kind === undefined) { error('kind is not password, MD5, SHA-256 or SHA-512-256'); continue; }
    if (value === '') { error('no value'); continue; }
    const key = `${user}:${realm}`;
    const ha1s = entries.get(key) ?? {};
    const adds: Ha1s = {};
    if (kind === 'password') {
      for (const h of DIGEST_HASHES) adds[h] = computeHa1(h, user, realm, value);
    } else {
      if (value.length !== hexLength(kind) || !HEX.test(value)) { error(`not a ${kind} HA1 (${hexLength(kind)} hex digits)`); continue; }
      adds[kind] = value.toLowerCase();
    }
    const again = DIGEST_HASHES.find((h) => adds[h] !== undefined && ha1s[h] !== undefined);
    if (again !== undefined) { error(`a second ${again} credential for this user and realm`); continue; }
    entries.set(key, { ...ha1s, ...adds });
  }
  return { entries, errors };
}

export type UsersFileLoad =
  | {
      readonly ok: true;
      readonly users: number;
      /** Users without an HA1 for a hash the module offers: they can answer only the others. */
      readonly incomplete: readonly { readonly user: string; readonly realm: string; readonly missing: readonly DigestHash[] }[];
      /** Other users of the machine may read the file. */
      readonly worldReadable: boolean;
    }
  | { readonly ok: false; readonly errors: readonly UsersFileError[] };

export interface UsersFileOptions {
  readonly path: string;
  /** The hashes of the algorithms the module offers, to report users who lack one. */
  readonly offered: readonly DigestHash[];
  /** Load the file again when it changes. */
  readonly watch: boolean;
  /** Told of every load, the first one included; a failed reload keeps the previous table. */
  readonly onLoad: (outcome: UsersFileLoad) => void;
  readonly debounceMs?: number;
}

/** The users file as a credential store, loaded again when it changes. */
export class UsersFileStore implements CredentialStore {
  private entries: ReadonlyMap<string, Ha1s> = new Map();
  private watcher: FSWatcher | null = null;
  private timer: NodeJS.Timeout | null = null;

  private constructor(private readonly o: UsersFileOptions) {}

  /** Loads the file; rejects, naming the lines at fault, when it cannot be read or holds an error. */
  static async open(o: UsersFileOptions): Promise<UsersFileStore> {
    const store = new UsersFileStore(o);
    const first = await store.load();
    if (!first.ok) throw new Error(`users file ${o.path}: ${first.errors.map((e) => (e.line > 0 ? `line ${e.line}: ${e.reason}` : e.reason)).join('; ')}`);
    if (o.watch) await store.watch();
    return store;
  }

  ha1(user: string, realm: string, hash: DigestHash): Promise<string | null> {
    return Promise.resolve(this.entries.get(`${user}:${realm}`)?.[hash] ?? null);
  }

  /** Users (user and realm pairs) loaded. */
  get size(): number {
    return this.entries.size;
  }

  async close(): Promise<void> {
    if (this.timer !== null) clearTimeout(this.timer);
    await this.watcher?.close();
  }

  private async load(): Promise<UsersFileLoad> {
    let outcome: UsersFileLoad;
    try {
      const [text, info] = await Promise.all([readFile(this.o.path, 'utf8'), stat(this.o.path)]);
      const table = parseUsersFile(text);
      if (table.errors.length > 0) {
        outcome = { ok: false, errors: table.errors };
      } else {
        this.entries = table.entries;
        outcome = { ok: true, users: table.entries.size, incomplete: incompleteUsers(table.entries, this.o.offered), worldReadable: (info.mode & 0o004) !== 0 };
      }
    } catch (err) {
      outcome = { ok: false, errors: [{ line: 0, reason: (err as NodeJS.ErrnoException).code ?? (err as Error).message }] };
    }
    this.o.onLoad(outcome);
    return outcome;
  }

  /** Resolves once the watcher is in place, so no change after `open()` is missed. */
  private watch(): Promise<void> {
    const watcher = watch(this.o.path, { ignoreInitial: true, atomic: true, awaitWriteFinish: { stabilityThreshold: 40, pollInterval: 10 } });
    this.watcher = watcher;
    watcher.on('all', (event) => {
      if (event !== 'add' && event !== 'change') return;
      if (this.timer !== null) clearTimeout(this.timer);
      this.timer = setTimeout(() => {
        this.timer = null;
        void this.load();
      }, this.o.debounceMs ?? 100);
    });
    return new Promise((resolve) => watcher.once('ready', () => resolve()));
  }
}

function incompleteUsers(entries: ReadonlyMap<string, Ha1s>, offered: readonly DigestHash[]): { user: string; realm: string; missing: DigestHash[] }[] {
  const out: { user: string; realm: string; missing: DigestHash[] }[] = [];
  for (const [key, ha1s] of entries) {
    const missing = offered.filter((h) => ha1s[h] === undefined);
    if (missing.length === 0) continue;
    const colon = key.indexOf(':');
    out.push({ user: key.slice(0, colon), realm: key.slice(colon + 1), missing });
  }
  return out;
}
