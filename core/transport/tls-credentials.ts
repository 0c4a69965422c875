import { readFileSync } from 'node:fs';
import path from 'node:path';
import tls from 'node:tls';
import { watch, type FSWatcher } from 'chokidar';
import { SwitchyardError } from '../lib/errors.ts';
import type { Logger } from '../lib/log.ts';

/** A TLS listener's files, as absolute paths. */
export interface TlsFiles {
  readonly cert: string;
  readonly key: string;
  /** Trusted roots for the peers this listener dials (default: Node's bundled CAs). */
  readonly ca?: string;
  /** Check the certificate of the peers it dials (default true; false accepts self-signed ones, for testing). */
  readonly verifyPeer?: boolean;
}

function read(files: TlsFiles): tls.SecureContextOptions {
  return {
    cert: readFileSync(files.cert),
    key: readFileSync(files.key),
    ...(files.ca !== undefined ? { ca: readFileSync(files.ca) } : {}),
  };
}

/**
 * A listener's certificate and key, read at start and again whenever one of the files
 * changes: each successful read is handed to `onChange` (a server's setSecureContext), so the
 * next connection uses it; a pair that does not fit (the key replaced before the certificate)
 * keeps the previous one until the other file follows.
 */
export class TlsCredentials {
  private current: tls.SecureContextOptions;
  private watcher: FSWatcher | null = null;
  private readonly listeners: ((o: tls.SecureContextOptions) => void)[] = [];
  reloads = 0;

  constructor(readonly files: TlsFiles, private readonly log: Logger) {
    try {
      this.current = read(files);
      tls.createSecureContext(this.current);
    } catch (err) {
      throw new SwitchyardError('SY_LISTEN', `cannot use the certificate ${files.cert} with the key ${files.key}: ${(err as Error).message}`);
    }
  }

  /** The options a server or a dialled connection takes now. */
  get options(): tls.SecureContextOptions {
    return this.current;
  }

  onChange(h: (o: tls.SecureContextOptions) => void): void {
    this.listeners.push(h);
  }

  /** Starts watching the files' folders (a file replaced by a rename keeps being seen). */
  async watch(): Promise<void> {
    const watched = new Set([this.files.cert, this.files.key, ...(this.files.ca !== undefined ? [this.files.ca] : [])].map((f) => path.resolve(f)));
    this.watcher = watch([...new Set([...watched].map((f) => path.dirname(f)))], { ignoreInitial: true, depth: 0 });
    this.watcher.on('all', (event, file) => {
      if ((event === 'add' || event === 'change') && watched.has(path.resolve(file))) this.reload();
    });
    await new Promise<void>((resolve) => this.watcher!.once('ready', () => resolve()));
  }

  private reload(): void {
    let next: tls.SecureContextOptions;
    try {
      next = read(this.files);
      tls.createSecureContext(next);
    } catch (err) {
      this.log.warn({ cert: this.files.cert, err: (err as Error).message }, 'TLS certificate not reloaded (kept the previous one)');
      return;
    }
    this.current = next;
    this.reloads++;
    for (const h of this.listeners) h(next);
    this.log.info({ cert: this.files.cert, reloads: this.reloads }, 'TLS certificate reloaded');
  }

  async close(): Promise<void> {
    await this.watcher?.close();
    this.watcher = null;
  }
}
