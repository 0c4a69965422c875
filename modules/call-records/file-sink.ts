import { createWriteStream, statSync, type WriteStream } from 'node:fs';

/**
 * Appends lines to a file without ever holding the proxy up: writes are buffered by the stream,
 * and while more than `maxBufferedBytes` wait for the disk, new lines are dropped and counted.
 * A file moved away (logrotate without copytruncate) is noticed within a second and the
 * sink reopens the path, as a log writer does.
 */
export class FileSink {
  private stream: WriteStream;
  private ino: number | null = null;
  private readonly checker: NodeJS.Timeout;
  dropped = 0;
  written = 0;

  constructor(readonly path: string, private readonly maxBufferedBytes: number, private readonly onError: (err: Error) => void) {
    this.stream = this.open();
    this.checker = setInterval(() => this.reopenIfMoved(), 1000);
    this.checker.unref();
  }

  write(line: string): void {
    if (this.stream.writableLength > this.maxBufferedBytes) {
      this.dropped++;
      return;
    }
    this.stream.write(line + '\n');
    this.written++;
  }

  close(): Promise<void> {
    clearInterval(this.checker);
    return new Promise((resolve) => this.stream.end(() => resolve()));
  }

  private open(): WriteStream {
    const s = createWriteStream(this.path, { flags: 'a', mode: 0o640 });
    s.on('error', (err) => this.onError(err));
    s.once('open', () => { this.ino = inodeOf(this.path); });
    return s;
  }

  private reopenIfMoved(): void {
    if (this.ino === null) return;
    const now = inodeOf(this.path);
    if (now === this.ino) return;
    const old = this.stream;
    this.ino = null;
    this.stream = this.open();
    old.end();
  }
}

function inodeOf(path: string): number | null {
  try {
    return statSync(path).ino;
  } catch {
    return null;
  }
}
