/**
 * POSTs each record as JSON to a URL, for a billing or CRM system that wants them live. At most
 * `concurrency` requests are in flight and `maxQueued` wait; beyond that records are dropped
 * and counted, so a slow or dead receiver costs bounded memory and never delays a call.
 */
export class Webhook {
  private readonly queue: string[] = [];
  private inFlight = 0;
  private closed = false;
  sent = 0;
  failed = 0;
  dropped = 0;

  constructor(
    private readonly url: string,
    private readonly o: { readonly timeoutMs: number; readonly concurrency: number; readonly maxQueued: number; readonly headers: Readonly<Record<string, string>> },
    private readonly onFailure: (why: string) => void,
  ) {}

  post(body: string): void {
    if (this.closed) return;
    if (this.queue.length >= this.o.maxQueued) {
      this.dropped++;
      return;
    }
    this.queue.push(body);
    this.pump();
  }

  close(): void {
    this.closed = true;
    this.queue.length = 0;
  }

  private pump(): void {
    while (this.inFlight < this.o.concurrency && this.queue.length > 0) {
      const body = this.queue.shift()!;
      this.inFlight++;
      void this.send(body).finally(() => {
        this.inFlight--;
        this.pump();
      });
    }
  }

  private async send(body: string): Promise<void> {
    try {
      const res = await fetch(this.url, {
        method: 'POST', body, headers: { 'content-type': 'application/json', ...this.o.headers }, signal: AbortSignal.timeout(this.o.timeoutMs),
      });
      await res.body?.cancel();
      if (res.ok) this.sent++;
      else {
        this.failed++;
        this.onFailure(`HTTP ${res.status}`);
      }
    } catch (err) {
      this.failed++;
      this.onFailure(err instanceof Error ? err.message : String(err));
    }
  }
}
