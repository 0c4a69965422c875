/**
 * Where the proxy's JSON log lines go: stdout, without ever letting the log stop or grow the
 * proxy. A reader that went away (EPIPE) is not an error that kills the process: lines are
 * dropped from then on. A reader that does not keep up may hold at most MAX_QUEUED bytes in the
 * proxy; beyond that lines are dropped and counted, and a line says how many once it reads again.
 */
const MAX_QUEUED = 4 * 1024 * 1024;

export class LogSink {
  /** Lines dropped since the last report, and in all. */
  private unreported = 0;
  dropped = 0;
  /** The reader is gone (EPIPE, EBADF...): nothing more can be written. */
  broken = false;

  constructor(private readonly stream: NodeJS.WritableStream & { writableLength?: number }, private readonly maxQueued = MAX_QUEUED) {
    stream.on('error', () => { this.broken = true; });
  }

  /** Bytes written and not yet taken by the reader. */
  get queued(): number {
    return this.stream.writableLength ?? 0;
  }

  write(line: string): boolean {
    if (this.broken || this.queued > this.maxQueued) {
      this.dropped++;
      this.unreported++;
      return true;
    }
    if (this.unreported > 0) {
      const n = this.unreported;
      this.unreported = 0;
      this.stream.write(`${JSON.stringify({ level: 40, time: Date.now(), pid: process.pid, dropped: n, droppedInAll: this.dropped, msg: 'log lines dropped: the log reader did not keep up' })}\n`);
    }
    this.stream.write(line);
    return true;
  }
}

let stdout: LogSink | undefined;

/** The one sink on this process's stdout (stderr's errors are absorbed too: nothing the proxy writes there may kill it). */
export function stdoutSink(): LogSink {
  if (stdout === undefined) {
    stdout = new LogSink(process.stdout);
    process.stderr.on('error', () => undefined);
  }
  return stdout;
}
