import dgram from 'node:dgram';

/**
 * A DNS server for tests on a loopback UDP port: A records for the names it is given, NXDOMAIN
 * for others, and no answer at all for names under `stall` (a server that has gone quiet). It
 * counts the questions it got and the most it held unanswered at once.
 */
export class DnsServer {
  /** Questions received, as `name/type`. */
  readonly questions: string[] = [];
  /** Questions left unanswered (stalled) so far, and the most of them outstanding at once. */
  private stalled: { name: string; at: number }[] = [];
  maxOutstanding = 0;

  private constructor(private readonly socket: dgram.Socket, private readonly records: ReadonlyMap<string, string>, private readonly stall: string, private readonly stallMs: number) {
    socket.on('message', (msg, rinfo) => this.answer(msg, rinfo));
  }

  /**
   * `records`: name → IPv4 address; names ending in `stall` never get an answer. A question
   * counts as outstanding for `stallMs` (set it below the client's deadline).
   */
  static async start(records: Record<string, string>, stall = '.stall.test', stallMs = 60_000): Promise<DnsServer> {
    const socket = dgram.createSocket('udp4');
    await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', () => resolve()));
    return new DnsServer(socket, new Map(Object.entries(records).map(([k, v]) => [k.toLowerCase(), v])), stall, stallMs);
  }

  get port(): number {
    return this.socket.address().port;
  }

  /** Questions about `name` (any type). */
  asked(name: string): number {
    return this.questions.filter((q) => q.startsWith(`${name.toLowerCase()}/`)).length;
  }

  private answer(msg: Buffer, rinfo: dgram.RemoteInfo): void {
    if (msg.length < 12) return;
    let at = 12;
    const labels: string[] = [];
    while (at < msg.length && msg[at]! !== 0) {
      const len = msg[at]!;
      labels.push(msg.toString('latin1', at + 1, at + 1 + len));
      at += 1 + len;
    }
    const qEnd = at + 5;
    if (qEnd > msg.length) return;
    const name = labels.join('.').toLowerCase();
    const type = msg.readUInt16BE(at + 1);
    this.questions.push(`${name}/${type === 1 ? 'A' : type === 28 ? 'AAAA' : type}`);
    const now = Date.now();
    this.stalled = this.stalled.filter((s) => now - s.at < this.stallMs);
    if (name.endsWith(this.stall)) {
      this.stalled.push({ name, at: now });
      this.maxOutstanding = Math.max(this.maxOutstanding, this.stalled.length);
      return;
    }
    const address = this.records.get(name);
    const header = Buffer.alloc(12);
    msg.copy(header, 0, 0, 2); // the query's id
    const rcode = address === undefined ? 3 : 0; // NXDOMAIN, or NOERROR
    header.writeUInt16BE(0x8180 | rcode, 2);
    header.writeUInt16BE(1, 4);
    const withAnswer = address !== undefined && type === 1;
    header.writeUInt16BE(withAnswer ? 1 : 0, 6);
    const question = msg.subarray(12, qEnd);
    const parts = [header, question];
    if (withAnswer) {
      const rr = Buffer.alloc(16);
      rr.writeUInt16BE(0xc00c, 0);
      rr.writeUInt16BE(1, 2);
      rr.writeUInt16BE(1, 4);
      rr.writeUInt32BE(300, 6);
      rr.writeUInt16BE(4, 10);
      address.split('.').forEach((o, i) => { rr[12 + i] = Number(o); });
      parts.push(rr);
    }
    this.socket.send(Buffer.concat(parts), rinfo.port, rinfo.address);
  }

  close(): void {
    this.socket.close();
  }
}
