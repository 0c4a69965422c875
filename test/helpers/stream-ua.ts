import { randomBytes } from 'node:crypto';
import net from 'node:net';
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

/**
 * A WebSocket client at the byte level (`sip` subprotocol, masked text frames), for a peer that
 * must never read: the `ws` client resumes its socket by itself when its receiver drains.
 * Resolves once the upgrade is answered 101, with the socket paused.
 */
export async function rawWebSocket(port: number, o: { origin?: string } = {}): Promise<{ readonly socket: net.Socket; send(text: string): void }> {
  const socket = net.connect({ host: '127.0.0.1', port });
  await new Promise<void>((resolve, reject) => { socket.once('connect', () => resolve()); socket.once('error', reject); });
  socket.on('error', () => undefined);
  socket.write([
    'GET / HTTP/1.1', `Host: 127.0.0.1:${port}`, 'Upgrade: websocket', 'Connection: Upgrade', `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}`,
    'Sec-WebSocket-Version: 13', 'Sec-WebSocket-Protocol: sip', ...(o.origin !== undefined ? [`Origin: ${o.origin}`] : []), '', '',
  ].join('\r\n'));
  await new Promise<void>((resolve, reject) => {
    let head = '';
    const onData = (d: Buffer): void => {
      head += d.toString('latin1');
      if (!head.includes('\r\n\r\n')) return;
      socket.off('data', onData);
      socket.pause();
      if (head.startsWith('HTTP/1.1 101 ')) resolve();
      else reject(new Error(head.split('\r\n')[0]));
    };
    socket.on('data', onData);
  });
  return {
    socket,
    send(text: string): void {
      const payload = Buffer.from(text, 'utf8');
      const n = payload.length;
      const head = n < 126 ? Buffer.from([0x81, 0x80 | n]) : n < 65_536 ? Buffer.from([0x81, 0x80 | 126, n >> 8, n & 0xff]) : Buffer.concat([Buffer.from([0x81, 0x80 | 127]), (() => { const b = Buffer.alloc(8); b.writeBigUInt64BE(BigInt(n)); return b; })()]);
      const mask = randomBytes(4);
      for (let i = 0; i < n; i++) payload[i]! ^= mask[i & 3]!;
      socket.write(Buffer.concat([head, mask, payload]));
    },
  };
}
