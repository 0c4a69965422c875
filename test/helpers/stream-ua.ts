import tls from 'node:tls';
import WebSocket from 'ws';

/**
 * A bare SIP endpoint for tests over a stream of its own: a TLS connection (Content-Length
 * framing) or a WebSocket (one message per frame, the `sip` subprotocol). Sends text, collects
 * what arrives, waits for a match.
 */
export class StreamUa {
  readonly inbox: string[] = [];
  private waiters: { pred: (m: string) => boolean; resolve: (m: string) => void }[] = [];
  closed: Promise<void>;

  private constructor(private readonly write: (text: string) => void, private readonly end: () => void, readonly local: { address: string; port: number }, onClose: (cb: () => void) => void) {
    this.closed = new Promise((resolve) => onClose(resolve));
  }

  private deliver(m: string): void {
    const w = this.waiters.find((x) => x.pred(m));
    if (w !== undefined) {
      this.waiters.splice(this.waiters.indexOf(w), 1);
      w.resolve(m);
    } else this.inbox.push(m);
  }

  /** Connects over TLS, trusting `ca` only. */
  static async tls(port: number, ca: Buffer, host = '127.0.0.1'): Promise<StreamUa & { socket: tls.TLSSocket }> {
    const socket = tls.connect({ host, port, ca });
    await new Promise<void>((resolve, reject) => { socket.once('secureConnect', () => resolve()); socket.once('error', reject); });
    const ua = new StreamUa((t) => socket.write(t), () => socket.destroy(), { address: socket.localAddress!, port: socket.localPort! }, (cb) => socket.once('close', cb));
    let pending = '';
    socket.setEncoding('latin1').on('data', (chunk: string) => {
      pending += chunk;
      for (let guard = 0; guard < 1000; guard++) {
        const end = pending.indexOf('\r\n\r\n');
        if (end < 0) return;
        const len = Number(/\r\ncontent-length:\s*(\d+)/i.exec(pending.slice(0, end))?.[1] ?? 0);
        if (pending.length < end + 4 + len) return;
        ua.deliver(pending.slice(0, end + 4 + len));
        pending = pending.slice(end + 4 + len);
      }
    });
    socket.on('error', () => undefined);
    return Object.assign(ua, { socket });
  }

  /** Opens a WebSocket with the `sip` subprotocol (wss: trusting `ca`). */
  static async ws(url: string, o: { ca?: Buffer; origin?: string; protocol?: string } = {}): Promise<StreamUa & { ws: WebSocket }> {
    const ws = new WebSocket(url, o.protocol ?? 'sip', { ...(o.ca ? { ca: o.ca } : {}), ...(o.origin ? { origin: o.origin } : {}) });
    await new Promise<void>((resolve, reject) => { ws.once('open', () => resolve()); ws.once('error', reject); ws.once('unexpected-response', (_req, res) => reject(new Error(`HTTP ${res.statusCode}`))); });
    const sock = (ws as unknown as { _socket: { localAddress: string; localPort: number } })._socket;
    const ua = new StreamUa((t) => ws.send(t), () => ws.close(), { address: sock.localAddress, port: sock.localPort }, (cb) => ws.once('close', () => cb()));
    ws.on('message', (d) => ua.deliver(d.toString()));
    ws.on('error', () => undefined);
    return Object.assign(ua, { ws });
  }

  send(text: string): void {
    this.write(text.replace(/\r?\n/g, '\r\n'));
  }

  /** The first message (already received or coming) whose first line matches. */
  next(startLine: RegExp, timeoutMs = 5000): Promise<string> {
    const i = this.inbox.findIndex((m) => startLine.test(m.split('\r\n')[0]!));
    if (i >= 0) return Promise.resolve(this.inbox.splice(i, 1)[0]!);
    return new Promise((resolve, reject) => {
      const pred = (m: string): boolean => startLine.test(m.split('\r\n')[0]!);
      const entry = { pred, resolve: (m: string) => { clearTimeout(t); resolve(m); } };
      const t = setTimeout(() => {
        this.waiters.splice(this.waiters.indexOf(entry), 1);
        reject(new Error(`nothing matching ${startLine} within ${timeoutMs} ms; inbox: ${this.inbox.map((m) => m.split('\r\n')[0]).join(' | ')}`));
      }, timeoutMs);
      this.waiters.push(entry);
    });
  }

  close(): void {
    this.end();
  }
}
