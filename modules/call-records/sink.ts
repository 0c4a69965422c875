import { createWriteStream, type WriteStream } from 'node:fs';
import { LogThrottle, type Logger } from '../../core/module.ts';
import type { CallRecord } from './record.ts';

/** Where records go: appended to a JSON-lines file, and POSTed one by one to a webhook when one is set. */
export class RecordSink {
  private readonly file: WriteStream | null;
  private readonly failures = new LogThrottle(10_000);

  constructor(file: string | undefined, private readonly webhook: string | undefined, private readonly log: Logger) {
    this.file = file === undefined ? null : createWriteStream(file, { flags: 'a' });
    this.file?.on('error', (err) => log.error({ err, file }, 'call records: cannot write the file'));
  }

  write(r: CallRecord): void {
    const line = JSON.stringify(r);
    this.file?.write(`${line}\n`);
    if (this.webhook !== undefined) {
      fetch(this.webhook, { method: 'POST', headers: { 'content-type': 'application/json' }, body: line, signal: AbortSignal.timeout(5000) })
        .then((res) => { if (!res.ok) this.failed(`HTTP ${res.status}`); }, (err: Error) => this.failed(err.message));
    }
  }

  private failed(why: string): void {
    const unlogged = this.failures.pass();
    if (unlogged !== null) this.log.warn({ webhook: this.webhook, why, alsoSinceLastWarning: unlogged }, 'call records: the webhook did not take a record');
  }

  /** Resolves once every line is written. */
  close(): Promise<void> {
    const f = this.file;
    return f === null ? Promise.resolve() : new Promise((resolve) => f.end(() => resolve()));
  }
}
