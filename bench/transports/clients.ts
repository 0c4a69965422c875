/** The bench's SIP clients over UDP, TLS and WebSocket, and the few message helpers they need. */
import dgram from 'node:dgram';
import tls from 'node:tls';
import WebSocket from 'ws';

export type BenchTransport = 'udp' | 'tls' | 'ws';

/** A client connection: sends text, hands every whole message it receives to `onMessage`. */
export interface Client {
  send(text: string): void;
  /** What its Via and Contact name: its address, or the `.invalid` host a browser writes. */
  readonly local: string;
  onMessage: (m: string) => void;
  close(): void;
}

export async function connect(transport: BenchTransport, host: string, port: number): Promise<Client> {
  if (transport === 'udp') {
    const s = dgram.createSocket('udp4');
    await new Promise<void>((r) => s.bind(0, host, r));
    const c: Client = { send: (t) => s.send(t, port, host), local: `${host}:${s.address().port}`, onMessage: () => undefined, close: () => s.close() };
    s.on('message', (m) => c.onMessage(m.toString('latin1')));
    return c;
  }
  if (transport === 'tls') {
    const s = tls.connect({ host, port, rejectUnauthorized: false });
    await new Promise<void>((resolve, reject) => { s.once('secureConnect', () => resolve()); s.once('error', reject); });
    const c: Client = { send: (t) => s.write(t), local: `${host}:${s.localPort}`, onMessage: () => undefined, close: () => s.destroy() };
    let pending = '';
    s.setEncoding('latin1').on('data', (chunk: string) => {
      pending += chunk;
      for (;;) {
        const end = pending.indexOf('\r\n\r\n');
        if (end < 0) return;
        const len = Number(/\r\ncontent-length:\s*(\d+)/i.exec(pending.slice(0, end))?.[1] ?? 0);
        if (pending.length < end + 4 + len) return;
        c.onMessage(pending.slice(0, end + 4 + len));
        pending = pending.slice(end + 4 + len);
      }
    });
    s.on('error', () => undefined);
    return c;
  }
  const ws = new WebSocket(`ws://${host}:${port}`, 'sip');
  await new Promise<void>((resolve, reject) => { ws.once('open', () => resolve()); ws.once('error', reject); });
  const c: Client = { send: (t) => ws.send(t), local: 'bench.invalid', onMessage: () => undefined, close: () => ws.close() };
  ws.on('message', (d) => c.onMessage(d.toString()));
  ws.on('error', () => undefined);
  return c;
}

export const header = (m: string, name: string): string => new RegExp(`\\r\\n${name}:[ \\t]*([^\\r\\n]*)`, 'i').exec(m)?.[1] ?? '';
export const headers = (m: string, name: string): string[] => [...m.matchAll(new RegExp(`\\r\\n${name}:[ \\t]*([^\\r\\n]*)`, 'gi'))].map((x) => x[1]!);

let seq = 0;

/** A request from `c` over `t`, with a fresh branch. */
export function request(method: string, t: BenchTransport, c: Pick<Client, 'local'>, o: { uri: string; from: string; to: string; callId: string; cseq: number; extra?: string[] }): string {
  const via = t === 'udp' ? `SIP/2.0/UDP ${c.local}` : t === 'tls' ? `SIP/2.0/TLS ${c.local}` : 'SIP/2.0/WS bench.invalid';
  return [`${method} ${o.uri} SIP/2.0`, `Via: ${via};branch=z9hG4bK-b${++seq};rport`, 'Max-Forwards: 70', `From: ${o.from}`, `To: ${o.to}`,
    `Call-ID: ${o.callId}`, `CSeq: ${o.cseq} ${method}`, ...(o.extra ?? []), 'Content-Length: 0', '', ''].join('\r\n');
}
