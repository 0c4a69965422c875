/**
 * SIP message serializer.
 *
 * An untouched parsed message serializes to exactly its original bytes (the
 * original Buffer view is returned). Otherwise untouched header lines are
 * copied byte for byte from the source buffer (contiguous runs in one copy),
 * modified or new headers are emitted as `Name: value`, and Content-Length
 * is recomputed when the body was replaced (or added when it is missing).
 */
import { WireHeader, type SipHeader, type SipMessage } from './message.ts';

/** a run of bytes [s, e) of buf, or text to encode */
type Piece = { buf: Buffer; s: number; e: number } | string;

const CRLF = '\r\n';

function headerLine(name: string, value: string): string {
  if (/[\r\n]/.test(value)) value = value.replace(/[\r\n]+/g, ' ');
  if (/[\r\n:]/.test(name)) name = name.replace(/[\r\n:]+/g, '');
  return `${name}: ${value}${CRLF}`;
}

function startLine(msg: SipMessage): string {
  return msg.type === 'request'
    ? `${msg.method} ${msg.uri} ${msg.version}${CRLF}`
    : `${msg.version} ${msg.status} ${msg.reason}${CRLF}`;
}

/** Serialize a message to wire bytes. */
export function serializeSip(msg: SipMessage): Buffer {
  const wire = msg.wire;
  const headers = msg.headers;
  const bodyChanged = wire === undefined || msg.body !== wire.body;
  const startSame = wire !== undefined && (msg.type === 'request'
    ? wire.status === 0 && msg.method === wire.method && msg.uri === wire.uri
    : wire.status !== 0 && msg.status === wire.status && msg.reason === wire.reason);

  // fast path: nothing changed at all
  if (startSame && !bodyChanged && wire !== undefined) {
    let expect = wire.startLineEnd;
    let same = true;
    for (let i = 0; i < headers.length; i++) {
      const h = headers[i];
      if (!(h instanceof WireHeader) || h.src !== wire.src || h.start !== expect) { same = false; break; }
      expect = h.end;
    }
    if (same && expect === wire.headersEnd) return wire.raw;
  }

  const pieces: Piece[] = [];
  let last: { buf: Buffer; s: number; e: number } | null = null;
  const pushRange = (buf: Buffer, s: number, e: number): void => {
    if (last !== null && last.buf === buf && last.e === s) { last.e = e; return; }
    last = { buf, s, e };
    pieces.push(last);
  };
  const pushText = (t: string): void => { last = null; pieces.push(t); };

  if (startSame && wire !== undefined) pushRange(wire.src, wire.start, wire.startLineEnd);
  else pushText(startLine(msg));

  let sawContentLength = false;
  for (let i = 0; i < headers.length; i++) {
    const h = headers[i] as SipHeader;
    if (bodyChanged && h.lname === 'content-length') {
      if (!sawContentLength) pushText(headerLine(h.name, String(msg.body.length)));
      sawContentLength = true;
      continue;
    }
    if (h instanceof WireHeader && h.src !== null) pushRange(h.src, h.start, h.end);
    else pushText(headerLine(h.name, h.value));
  }
  if (bodyChanged && !sawContentLength) pushText(headerLine('Content-Length', String(msg.body.length)));

  if (!bodyChanged && wire !== undefined) {
    pushRange(wire.src, wire.headersEnd, wire.end);
  } else {
    pushText(CRLF);
    if (msg.body.length > 0) pushRange(msg.body, 0, msg.body.length);
  }

  let total = 0;
  for (const piece of pieces) {
    total += typeof piece === 'string' ? Buffer.byteLength(piece, 'utf8') : piece.e - piece.s;
  }
  const out = Buffer.allocUnsafe(total);
  let off = 0;
  for (const piece of pieces) {
    if (typeof piece === 'string') off += out.write(piece, off, 'utf8');
    else off += piece.buf.copy(out, off, piece.s, piece.e);
  }
  return out;
}
