import path from 'node:path';
import { watch, type FSWatcher } from 'chokidar';

/**
 * Watches the script and its local imports; calls `onChange` once per burst of writes.
 *
 * It watches the folders that hold them, not the files: a save that replaces a file (a
 * temporary file renamed over it, as `sed -i` and most editors do) gives the path a new inode,
 * and a watch on the old one would go silent, whereas the folder stays. Events for other files
 * in those folders are ignored.
 */
export class ScriptWatcher {
  private watcher: FSWatcher;
  private files = new Set<string>();
  private dirs = new Set<string>();
  private timer: NodeJS.Timeout | null = null;
  private pending: string | null = null;
  private readonly started: Promise<void>;

  constructor(files: readonly string[], private readonly onChange: (changed: string) => void, private readonly debounceMs = 100) {
    this.watcher = watch([], { ignoreInitial: true, depth: 0 });
    this.started = new Promise((resolve) => this.watcher.once('ready', () => resolve()));
    this.watcher.on('all', (event, file) => {
      if ((event === 'add' || event === 'change' || event === 'unlink') && this.files.has(path.resolve(file))) this.schedule(path.resolve(file));
    });
    this.setFiles(files);
  }

  /** Resolves once the initial scan is done: saves from then on are seen. */
  ready(): Promise<void> {
    return this.started;
  }

  /** After a reload the script may import other files: watch exactly the new set. */
  setFiles(files: readonly string[]): void {
    this.files = new Set(files.map((f) => path.resolve(f)));
    const next = new Set([...this.files].map((f) => path.dirname(f)));
    const added = [...next].filter((d) => !this.dirs.has(d));
    const removed = [...this.dirs].filter((d) => !next.has(d));
    if (added.length) this.watcher.add(added);
    if (removed.length) this.watcher.unwatch(removed);
    this.dirs = next;
  }

  private schedule(file: string): void {
    this.pending = file;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = null;
      const changed = this.pending!;
      this.pending = null;
      this.onChange(changed);
    }, this.debounceMs);
  }

  async close(): Promise<void> {
    if (this.timer !== null) clearTimeout(this.timer);
    await this.watcher.close();
  }
}
