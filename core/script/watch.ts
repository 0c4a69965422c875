import { watch, type FSWatcher } from 'chokidar';

/**
 * Watches the script and its local imports; calls `onChange` once per burst of writes
 * (editors save in several steps, some by renaming a temporary file over the original).
 */
export class ScriptWatcher {
  private watcher: FSWatcher;
  private files = new Set<string>();
  private timer: NodeJS.Timeout | null = null;

  constructor(files: readonly string[], private readonly onChange: (changed: string) => void, private readonly debounceMs = 100) {
    this.watcher = watch([], {
      ignoreInitial: true,
      atomic: true,
      awaitWriteFinish: { stabilityThreshold: 40, pollInterval: 10 },
    });
    this.watcher.on('all', (event, file) => {
      if (event === 'add' || event === 'change' || event === 'unlink') this.schedule(file);
    });
    this.setFiles(files);
  }

  /** After a reload the script may import other files: watch exactly the new set. */
  setFiles(files: readonly string[]): void {
    const next = new Set(files);
    const added = [...next].filter((f) => !this.files.has(f));
    const removed = [...this.files].filter((f) => !next.has(f));
    if (added.length) this.watcher.add(added);
    if (removed.length) this.watcher.unwatch(removed);
    this.files = next;
  }

  private schedule(file: string): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = null;
      this.onChange(file);
    }, this.debounceMs);
  }

  async close(): Promise<void> {
    if (this.timer !== null) clearTimeout(this.timer);
    await this.watcher.close();
  }
}
