/**
 * Bytes received on a stream and not yet framed, in one buffer that grows by doubling: appending
 * a chunk copies only the chunk (amortised), where concatenating the whole backlog per chunk
 * costs the square of its length when a peer trickles bytes slowly.
 */
export class StreamBuffer {
  private buf: Buffer = Buffer.alloc(0);
  private start = 0;
  private end = 0;

  get length(): number {
    return this.end - this.start;
  }

  append(chunk: Buffer): void {
    if (this.length === 0 && chunk.length > 0) {
      // The common case, a chunk that holds whole messages: no copy.
      this.buf = chunk;
      this.start = 0;
      this.end = chunk.length;
      return;
    }
    const need = this.length + chunk.length;
    if (this.end + chunk.length > this.buf.length || this.buf.length === 0) {
      const next = Buffer.allocUnsafe(Math.max(need * 2, 4096));
      this.buf.copy(next, 0, this.start, this.end);
      this.buf = next;
      this.end = this.length;
      this.start = 0;
    }
    chunk.copy(this.buf, this.end);
    this.end += chunk.length;
  }

  /** The unread bytes (a view, valid until the next append). */
  view(): Buffer {
    return this.buf.subarray(this.start, this.end);
  }

  consume(n: number): void {
    this.start += n;
    if (this.start >= this.end) {
      this.buf = Buffer.alloc(0);
      this.start = this.end = 0;
    }
  }
}
