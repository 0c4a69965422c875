/**
 * The plain call protocol as a phone sees it (shared/spec/plain-protocol.md): what the proxy
 * sends, parsed without trusting it, and what a phone sends.
 */
import { isValidUser, MAX_PLAIN_MESSAGE } from '../../core/dialects/plain/grammar.ts';

export type ProxyMessage =
  | { readonly kind: 'ACK_REGISTER'; readonly user: string }
  | { readonly kind: 'CALL'; readonly from: string; readonly to: string }
  | { readonly kind: 'ACK_CALL'; readonly from: string; readonly to: string }
  /** `from`/`to` are null in the proxy's own `CALL_FAILED unknown peer`. */
  | { readonly kind: 'CALL_FAILED'; readonly from: string | null; readonly to: string | null; readonly reason: string }
  | { readonly kind: 'MEDIA_PORT'; readonly from: string; readonly to: string; readonly port: number }
  | { readonly kind: 'BYE'; readonly from: string; readonly to: string }
  | { readonly kind: 'ERROR'; readonly reason: string };

export type ParsedDatagram =
  | { readonly ok: true; readonly msg: ProxyMessage; readonly line: string }
  | { readonly ok: false; readonly reason: string; readonly line: string };

const PRINTABLE_LIMIT = 120;

/** A datagram as text safe to print on a terminal: control bytes escaped, long ones cut. */
export function printable(buf: Buffer, limit = PRINTABLE_LIMIT): string {
  let out = '';
  const n = Math.min(buf.length, limit);
  for (let i = 0; i < n; i++) {
    const c = buf[i]!;
    if (c >= 0x20 && c <= 0x7e && c !== 0x5c) out += String.fromCharCode(c);
    else if (c === 0x0a) out += '\\n';
    else if (c === 0x0d) out += '\\r';
    else if (c === 0x5c) out += '\\\\';
    else out += `\\x${c.toString(16).padStart(2, '0')}`;
  }
  return buf.length > limit ? `${out}... (${buf.length} bytes)` : out;
}

function stripTerminator(buf: Buffer): Buffer {
  const n = buf.length;
  if (n >= 2 && buf[n - 2] === 0x0d && buf[n - 1] === 0x0a) return buf.subarray(0, n - 2);
  if (n >= 1 && buf[n - 1] === 0x0a) return buf.subarray(0, n - 1);
  return buf;
}

function isPrintableAscii(buf: Buffer): boolean {
  for (const c of buf) if (c < 0x20 || c > 0x7e) return false;
  return true;
}

/** Users of a `KEYWORD FROM:<a> TO:<b>` message, or null when they are missing or invalid. */
function parties(words: readonly string[]): { from: string; to: string } | null {
  const [, f, t] = words;
  if (f === undefined || t === undefined || !f.startsWith('FROM:') || !t.startsWith('TO:')) return null;
  const from = f.slice(5);
  const to = t.slice(3);
  return isValidUser(from) && isValidUser(to) ? { from, to } : null;
}

/** Text after the first `n` space-separated words, as sent. */
function rest(line: string, n: number): string {
  let i = 0;
  for (let w = 0; w < n; w++) {
    while (line[i] === ' ') i++;
    while (i < line.length && line[i] !== ' ') i++;
  }
  return line.slice(i).trim();
}

/** Parses one datagram from the proxy's signaling port. Never throws. */
export function parseProxyMessage(buf: Buffer): ParsedDatagram {
  const shown = printable(buf);
  const bad = (reason: string): ParsedDatagram => ({ ok: false, reason, line: shown });
  if (buf.length === 0) return bad('empty datagram');
  if (buf.length > MAX_PLAIN_MESSAGE) return bad('too long for a signaling message');
  const body = stripTerminator(buf);
  if (!isPrintableAscii(body)) return bad('not a line of ASCII text');
  const line = body.toString('latin1');
  const words = line.split(' ').filter((w) => w !== '');
  const ok = (msg: ProxyMessage): ParsedDatagram => ({ ok: true, msg, line });
  switch (words[0]) {
    case 'ACK_REGISTER': {
      const user = words[1];
      return words.length === 2 && user !== undefined && isValidUser(user) ? ok({ kind: 'ACK_REGISTER', user }) : bad('malformed ACK_REGISTER');
    }
    case 'CALL':
    case 'ACK_CALL':
    case 'BYE': {
      const p = parties(words);
      return p !== null && words.length === 3 ? ok({ kind: words[0], ...p }) : bad(`malformed ${words[0]}`);
    }
    case 'CALL_FAILED': {
      const p = parties(words);
      if (p !== null) return ok({ kind: 'CALL_FAILED', ...p, reason: rest(line, 3) });
      const reason = rest(line, 1);
      if (words[1]?.startsWith('FROM:') || reason === '') return bad('malformed CALL_FAILED');
      return ok({ kind: 'CALL_FAILED', from: null, to: null, reason });
    }
    case 'MEDIA_PORT': {
      const p = parties(words);
      const port = words[3];
      if (p === null || words.length !== 4 || port === undefined || !/^\d{1,5}$/.test(port)) return bad('malformed MEDIA_PORT');
      const n = Number(port);
      return n >= 1 && n <= 65_535 ? ok({ kind: 'MEDIA_PORT', ...p, port: n }) : bad(`MEDIA_PORT ${port} is not a UDP port`);
    }
    case 'ERROR':
      return ok({ kind: 'ERROR', reason: rest(line, 1) });
    default:
      return bad('not a message of the plain protocol');
  }
}

/** What a phone sends; one message per datagram, ended by `\n` as `nc` ends it. */
export const compose = {
  register: (user: string): string => `REGISTER ${user}\n`,
  call: (caller: string, callee: string): string => `CALL FROM:${caller} TO:${callee}\n`,
  accept: (callee: string, caller: string): string => `ACK_CALL FROM:${callee} TO:${caller}\n`,
  refuse: (callee: string, caller: string, reason: string): string => `CALL_FAILED FROM:${callee} TO:${caller} ${reason}\n`,
  bye: (from: string, to: string): string => `BYE FROM:${from} TO:${to}\n`,
} as const;
