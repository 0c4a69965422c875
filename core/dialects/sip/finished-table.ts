import { PackedTable } from '../../lib/packed-table.ts';
import type { Destination } from './transactions.ts';
import type { SipTransportName } from './wire.ts';

/** A finished transaction as the table gives it back: where its response went, and the response. */
export interface FinishedRecord {
  readonly upstream: Destination;
  readonly status: number;
  readonly response: Buffer;
}

type Header = [transport: SipTransportName, listener: string, address: string, port: number, connection: number | null, status: number];

/** A large table is swept whole every this many seconds (packed-table.ts sweepTick). */
const PASS_TICKS = 4;

/**
 * Finished non-INVITE server transactions, kept for Timer J (64·T1 over UDP) to repeat their
 * final response to a retransmitted request. A flood of REGISTERs keeps half a million of them;
 * held outside the JavaScript heap (packed-table.ts) they cost the garbage collector nothing.
 * An entry leaves at a sweep once a second after its time, up to `PASS_TICKS` seconds late in a
 * large table (it only absorbs retransmissions a little longer).
 */
export class FinishedTable {
  private readonly table = new PackedTable();
  private timer: NodeJS.Timeout | null = null;

  constructor(private readonly lingerMs: number, private readonly now: () => number = Date.now) {}

  get size(): number {
    return this.table.size;
  }

  add(key: string, upstream: Destination, status: number, response: Buffer): void {
    const header: Header = [upstream.transport, upstream.listener, upstream.address.address, upstream.address.port, upstream.connection, status];
    this.table.set(key, `${JSON.stringify(header)}\n${response.toString('latin1')}`, Math.ceil((this.now() + this.lingerMs) / 1000));
    if (this.timer === null) {
      this.timer = setInterval(() => this.sweep(), 1000);
      this.timer.unref();
    }
  }

  has(key: string): boolean {
    return this.table.has(key);
  }

  get(key: string): FinishedRecord | undefined {
    const text = this.table.get(key);
    if (text === undefined) return undefined;
    const nl = text.indexOf('\n');
    const [transport, listener, address, port, connection, status] = JSON.parse(text.slice(0, nl)) as Header;
    return { upstream: { transport, listener, address: { address, port }, connection }, status, response: Buffer.from(text.slice(nl + 1), 'latin1') };
  }

  /** Lets go of the entries whose time is up (the timer does this every second). */
  sweep(): void {
    this.table.sweepTick(Math.floor(this.now() / 1000), PASS_TICKS);
    if (this.table.size === 0 && this.timer !== null) {
      clearInterval(this.timer);
      this.timer = null;
    }
  }

  clear(): void {
    this.table.clear();
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
  }
}
