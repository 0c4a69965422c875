import dgram from 'node:dgram';

/** A bare SIP endpoint over UDP for tests: sends text, collects what arrives, waits for a match. */
export class SipUa {
  readonly inbox: string[] = [];
  private waiters: { pred: (m: string) => boolean; resolve: (m: string) => void }[] = [];

  private constructor(readonly socket: dgram.Socket, readonly host: string) {
    socket.on('message', (buf) => {
      const m = buf.toString('latin1');
      const w = this.waiters.find((x) => x.pred(m));
      if (w !== undefined) {
        this.waiters.splice(this.waiters.indexOf(w), 1);
        w.resolve(m);
      } else this.inbox.push(m);
    });
  }

  static async open(host = '127.0.0.1', port = 0): Promise<SipUa> {
    const s = dgram.createSocket(host.includes(':') ? { type: 'udp6', ipv6Only: true } : { type: 'udp4' });
    await new Promise<void>((resolve, reject) => { s.once('error', reject); s.bind(port, host, () => resolve()); });
    return new SipUa(s, host);
  }

  get port(): number {
    return this.socket.address().port;
  }

  /** `host:port` as it goes in a Via or Contact. */
  get hostport(): string {
    return this.host.includes(':') ? `[${this.host}]:${this.port}` : `${this.host}:${this.port}`;
  }

  send(text: string, port: number, host = this.host): void {
    this.socket.send(Buffer.from(text.replace(/\r?\n/g, '\r\n'), 'latin1'), port, host);
  }

  /** The first message (already received or coming) whose first line matches. */
  next(startLine: RegExp, timeoutMs = 3000): Promise<string> {
    const i = this.inbox.findIndex((m) => startLine.test(m.split('\r\n')[0]!));
    if (i >= 0) return Promise.resolve(this.inbox.splice(i, 1)[0]!);
    return new Promise((resolve, reject) => {
      const pred = (m: string): boolean => startLine.test(m.split('\r\n')[0]!);
      const entry = { pred, resolve: (m: string) => { clearTimeout(t); resolve(m); } };
      const t = setTimeout(() => {
        this.waiters.splice(this.waiters.indexOf(entry), 1);
        reject(new Error(`${this.hostport}: nothing matching ${startLine} within ${timeoutMs} ms; inbox: ${this.inbox.map((m) => m.split('\r\n')[0]).join(' | ')}`));
      }, timeoutMs);
      this.waiters.push(entry);
    });
  }

  close(): void {
    this.socket.close();
  }
}

/** A header's value from a message's text. */
export function header(msg: string, name: string): string | undefined {
  const m = new RegExp(`\\r\\n${name}:[ \\t]*([^\\r\\n]*)`, 'i').exec(msg);
  return m?.[1];
}

export function headers(msg: string, name: string): string[] {
  return [...msg.matchAll(new RegExp(`\\r\\n${name}:[ \\t]*([^\\r\\n]*)`, 'gi'))].map((m) => m[1]!);
}

/** A response to `req` as a UA answers it: Vias, From, To (+tag), Call-ID, CSeq, Record-Route copied. */
export function answer(req: string, status: string, o: { tag?: string; contact?: string; body?: string; extra?: string[] } = {}): string {
  const lines = [`SIP/2.0 ${status}`];
  for (const v of headers(req, 'Via')) lines.push(`Via: ${v}`);
  for (const r of headers(req, 'Record-Route')) lines.push(`Record-Route: ${r}`);
  lines.push(`From: ${header(req, 'From')}`);
  const to = header(req, 'To')!;
  lines.push(`To: ${o.tag !== undefined && !/;tag=/.test(to) ? `${to};tag=${o.tag}` : to}`);
  lines.push(`Call-ID: ${header(req, 'Call-ID')}`, `CSeq: ${header(req, 'CSeq')}`);
  if (o.contact !== undefined) lines.push(`Contact: <${o.contact}>`);
  lines.push(...(o.extra ?? []));
  const body = o.body ?? '';
  if (body !== '') lines.push('Content-Type: application/sdp');
  lines.push(`Content-Length: ${Buffer.byteLength(body)}`, '', body);
  return lines.join('\r\n');
}

export function sdp(address: string, port: number, extra: string[] = []): string {
  const ip = address.includes(':') ? 'IP6' : 'IP4';
  return [`v=0`, `o=- 1 1 IN ${ip} ${address}`, 's=-', `c=IN ${ip} ${address}`, 't=0 0', `m=audio ${port} RTP/AVP 0`, ...extra, ''].join('\r\n');
}
