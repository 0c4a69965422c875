import type { Inbound, Message, Reply, Request } from '../../model/message.ts';
import { MAX_PLAIN_MESSAGE, isValidUser, plainCallId, type Terminator } from './grammar.ts';
import type { PlainKeyword, PlainWire } from './wire.ts';

export type PlainParseResult =
  | { readonly ok: true; readonly msg: Message }
  | { readonly ok: false; readonly reason: string; readonly terminator: Terminator };

const SPACE = 0x20;

/** Statuses given to a callee's CALL_FAILED by its reason text, so failure routes can test `status`. */
const FAILURE_STATUS_BY_REASON: Readonly<Record<string, number>> = {
  busy: 486, 'no answer': 408, declined: 603, rejected: 603, 'not found': 404, unavailable: 480,
};

export function failureStatusFor(reason: string): number {
  return FAILURE_STATUS_BY_REASON[reason.toLowerCase()] ?? 480;
}

function terminatorOf(buf: Buffer): Terminator {
  const n = buf.length;
  if (n >= 2 && buf[n - 2] === 0x0d && buf[n - 1] === 0x0a) return '\r\n';
  if (n >= 1 && buf[n - 1] === 0x0a) return '\n';
  return '';
}

function isPrintableAscii(buf: Buffer, end: number): boolean {
  for (let i = 0; i < end; i++) {
    const c = buf[i]!;
    if (c < 0x20 || c > 0x7e) return false;
  }
  return true;
}

/** Splits on runs of spaces, remembering where each field starts (CALL_FAILED keeps its reason verbatim). */
function fields(line: string): { words: string[]; starts: number[] } {
  const words: string[] = [];
  const starts: number[] = [];
  let i = 0;
  while (i < line.length) {
    while (i < line.length && line.charCodeAt(i) === SPACE) i++;
    if (i >= line.length) break;
    const start = i;
    while (i < line.length && line.charCodeAt(i) !== SPACE) i++;
    words.push(line.slice(start, i));
    starts.push(start);
  }
  return { words, starts };
}

function userAfter(prefix: 'FROM:' | 'TO:', word: string | undefined): string | null {
  if (word === undefined || !word.startsWith(prefix)) return null;
  return word.slice(prefix.length);
}

/**
 * Parses one plain-protocol datagram into the message model. Never throws:
 * anything that is not a well-formed message comes back with a short reason.
 */
export function parsePlain(buf: Buffer, inbound: Inbound): PlainParseResult {
  const terminator = terminatorOf(buf);
  const fail = (reason: string): PlainParseResult => ({ ok: false, reason, terminator });
  if (buf.length === 0) return fail('empty message');
  if (buf.length > MAX_PLAIN_MESSAGE) return fail('message too long');
  const end = buf.length - terminator.length;
  if (!isPrintableAscii(buf, end)) return fail('not ASCII text');
  const line = buf.toString('latin1', 0, end);
  const { words, starts } = fields(line);
  const keyword = words[0];
  if (keyword === undefined) return fail('empty message');

  const base = { dialect: 'plain' as const, listener: inbound.listener, source: inbound.source, raw: buf };
  const wire = (kw: PlainKeyword, sender: string, addressee: string): PlainWire => ({ keyword: kw, terminator, sender, addressee });

  if (keyword === 'REGISTER') {
    if (words.length !== 2) return fail('usage: REGISTER <user>');
    const user = words[1]!;
    if (!isValidUser(user)) return fail('invalid user id');
    const party = { user };
    const msg: Request = { ...base, type: 'request', method: 'REGISTER', inDialog: false, callId: `plain-reg:${user}`, from: party, to: party, ruri: party, wire: wire('REGISTER', user, user) };
    return { ok: true, msg };
  }

  if (keyword === 'CALL' || keyword === 'ACK_CALL' || keyword === 'BYE' || keyword === 'CALL_FAILED') {
    const sender = userAfter('FROM:', words[1]);
    const addressee = userAfter('TO:', words[2]);
    if (sender === null || addressee === null) return fail(`usage: ${keyword} FROM:<user> TO:<user>${keyword === 'CALL_FAILED' ? ' <reason>' : ''}`);
    if (keyword !== 'CALL_FAILED' && words.length !== 3) return fail(`usage: ${keyword} FROM:<user> TO:<user>`);
    if (!isValidUser(sender) || !isValidUser(addressee)) return fail('invalid user id');
    const callId = plainCallId(sender, addressee);
    const w = wire(keyword, sender, addressee);
    if (keyword === 'CALL' || keyword === 'BYE') {
      const msg: Request = {
        ...base, type: 'request', method: keyword === 'CALL' ? 'INVITE' : 'BYE', inDialog: keyword === 'BYE',
        callId, from: { user: sender }, to: { user: addressee }, ruri: { user: addressee }, wire: w,
      };
      return { ok: true, msg };
    }
    // Replies travel callee → caller; in the model From/To name the caller and callee of the call.
    const reason = keyword === 'ACK_CALL' ? 'OK' : words.length > 3 ? line.slice(starts[3]).trimEnd() : '';
    const status = keyword === 'ACK_CALL' ? 200 : failureStatusFor(reason);
    const msg: Reply = {
      ...base, type: 'reply', status, reason, method: 'INVITE',
      callId, from: { user: addressee }, to: { user: sender }, wire: w,
    };
    return { ok: true, msg };
  }

  if (keyword === 'ACK_REGISTER' || keyword === 'MEDIA_PORT' || keyword === 'ERROR') return fail(`${keyword} is sent by the proxy, not to it`);
  return fail('unknown message');
}
