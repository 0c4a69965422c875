/**
 * SIP message parser (RFC 3261 §7, §18.3 framing, §25 grammar).
 *
 * Hot-path design, in the spirit of Kamailio's parser: one forward scan over
 * the bytes, header names classified by comparing bytes against a small
 * table (no string allocation for well-known names), header values kept as
 * byte ranges and decoded only on first access (WireHeader). Only what a
 * proxy must check before forwarding is validated eagerly: start line,
 * mandatory headers, CSeq, Content-Length and Max-Forwards syntax.
 *
 * parseSip never throws: every path returns a result object.
 */
import { WireHeader, type SipHeader, type SipMessage, type SipRequest, type WireInfo } from './message.ts';
import {
  H_CALL_ID, H_CONTENT_LENGTH, H_CSEQ, H_FROM, H_MAX_FORWARDS, H_TO, H_VIA, TOKEN_CHARS, lookupHeaderName, type NameLookup,
} from './names.ts';
import { isValidUri } from './uri.ts';

export interface ParseOptions {
  /**
   * Stream transport (TCP, TLS, WebSocket-less streams): Content-Length is
   * mandatory, a partial message yields code 'incomplete' and `consumed`
   * tells how many bytes one message took.
   */
  stream?: boolean;
  /** Largest accepted message in bytes (default 65535). */
  maxSize?: number;
}

export type SipParseErrorCode =
  | 'incomplete'            // stream mode: wait for more bytes
  | 'keepalive'             // only CRLFs (RFC 5626 keep-alive); see `consumed`
  | 'empty'
  | 'too-large'
  | 'truncated'             // datagram ends before the end of the header section
  | 'bad-start-line'
  | 'bad-method'
  | 'bad-request-uri'
  | 'bad-version'
  | 'bad-status'
  | 'bad-header'            // a header line without ':' or an empty mandatory header
  | 'bad-header-name'       // non-token / non-ASCII bytes in a header name
  | 'bare-cr'
  | 'bare-lf'
  | 'missing-header'
  | 'bad-cseq'
  | 'cseq-mismatch'
  | 'bad-content-length'
  | 'missing-content-length'
  | 'bad-max-forwards';

export interface SipParseError {
  code: SipParseErrorCode;
  /** short ASCII text, usable as a 400 reason phrase */
  reason: string;
  /** a request whose start line and Via, From, To, Call-ID, CSeq were read: an error response can be built */
  canReply: boolean;
  /** when canReply: the request as far as it was read (headers usable to build the response) */
  msg?: SipRequest;
  /** for 'keepalive': number of bytes to discard; for 'incomplete', when the header section is all there: the bytes the whole message needs */
  consumed?: number;
}

export type SipParseResult =
  | { ok: true; msg: SipMessage; consumed: number; warnings: readonly string[] }
  | { ok: false; error: SipParseError };

// ---------------------------------------------------------------------------

const CR = 13;
const LF = 10;
const SP = 32;
const HT = 9;

const EMPTY_BODY = Buffer.alloc(0);
const NO_WARNINGS: readonly string[] = Object.freeze([]);
const WARN_NO_MAX_FORWARDS: readonly string[] = Object.freeze(['missing-max-forwards']);
const INCOMPLETE: SipParseResult = Object.freeze({
  ok: false,
  error: Object.freeze({ code: 'incomplete', reason: 'Incomplete message', canReply: false }),
}) as SipParseResult;

const ESSENTIAL = (1 << H_VIA) | (1 << H_TO) | (1 << H_FROM) | (1 << H_CALL_ID) | (1 << H_CSEQ);
const ESSENTIAL_NAMES: ReadonlyArray<readonly [number, string]> = [
  [H_VIA, 'Via'], [H_FROM, 'From'], [H_TO, 'To'], [H_CALL_ID, 'Call-ID'], [H_CSEQ, 'CSeq'],
];

const KNOWN_METHODS = [
  'INVITE', 'ACK', 'BYE', 'CANCEL', 'OPTIONS', 'REGISTER', 'PRACK', 'SUBSCRIBE',
  'NOTIFY', 'PUBLISH', 'INFO', 'REFER', 'MESSAGE', 'UPDATE',
];
const METHODS_BY_LEN: string[][] = [];
for (const m of KNOWN_METHODS) (METHODS_BY_LEN[m.length] ??= []).push(m);

function internMethod(buf: Buffer, s: number, e: number): string {
  const cands = METHODS_BY_LEN[e - s];
  if (cands !== undefined) {
    for (let c = 0; c < cands.length; c++) {
      const m = cands[c] as string;
      let k = 0;
      while (k < m.length && buf[s + k] === m.charCodeAt(k)) k++;
      if (k === m.length) return m;
    }
  }
  return buf.toString('latin1', s, e);
}

/** "SIP/2.0" at buf[i] ("SIP" case-insensitive) */
function isSip20(buf: Buffer, i: number): boolean {
  return ((buf[i] as number) | 0x20) === 0x73 && ((buf[i + 1] as number) | 0x20) === 0x69 &&
    ((buf[i + 2] as number) | 0x20) === 0x70 && buf[i + 3] === 0x2f && buf[i + 4] === 0x32 &&
    buf[i + 5] === 0x2e && buf[i + 6] === 0x30;
}

/** "SIP/" at buf[i] (case-insensitive) */
function isSipSlash(buf: Buffer, i: number): boolean {
  return ((buf[i] as number) | 0x20) === 0x73 && ((buf[i + 1] as number) | 0x20) === 0x69 &&
    ((buf[i + 2] as number) | 0x20) === 0x70 && buf[i + 3] === 0x2f;
}

function fail(code: SipParseErrorCode, reason: string): SipParseResult {
  return { ok: false, error: { code, reason, canReply: false } };
}

function isDigit(c: number | undefined): boolean {
  return c !== undefined && c >= 0x30 && c <= 0x39;
}

/** Non-negative decimal in buf[s, e); -1 when not all digits, empty or too long. */
function parseUint(buf: Buffer, s: number, e: number, maxDigits: number): number {
  if (s >= e || e - s > maxDigits) return -1;
  let v = 0;
  for (let i = s; i < e; i++) {
    const c = buf[i] as number;
    if (c < 0x30 || c > 0x39) return -1;
    v = v * 10 + (c - 0x30);
  }
  return v;
}

/** 1*DIGIT of any length (Max-Forwards: leading zeros are legal, `0000000000` is 0). */
function allDigits(buf: Buffer, s: number, e: number): boolean {
  if (s >= e) return false;
  for (let i = s; i < e; i++) {
    const c = buf[i] as number;
    if (c < 0x30 || c > 0x39) return false;
  }
  return true;
}

function isLws(c: number): boolean {
  return c === SP || c === HT || c === CR || c === LF;
}

/** CSeq = 1*DIGIT LWS Method. 0 ok, 1 malformed, 2 method differs from `method`. */
function checkCSeq(buf: Buffer, vs: number, ve: number, method: string | null): number {
  let i = vs;
  let v = 0;
  while (i < ve && isDigit(buf[i])) { v = v * 10 + ((buf[i] as number) - 0x30); i++; }
  if (i === vs || i - vs > 10 || v > 0x7fffffff) return 1;
  const afterNum = i;
  while (i < ve && isLws(buf[i] as number)) i++;
  if (i === afterNum) return 1;
  const ms = i;
  while (i < ve && TOKEN_CHARS[buf[i] as number] === 1) i++;
  if (i === ms || i !== ve) return 1;
  if (method === null) return 0;
  if (i - ms !== method.length) return 2;
  for (let k = 0; k < method.length; k++) if (buf[ms + k] !== method.charCodeAt(k)) return 2;
  return 0;
}

const lookup: NameLookup = { lname: '', name: '', id: 0 };

// ---------------------------------------------------------------------------

/**
 * Parse one SIP message from the start of `buf`.
 *
 * UDP (default): `buf` is one datagram; without Content-Length the body is
 * the rest of the datagram; with it, bytes past the body are ignored.
 * Stream (`opts.stream`): returns code 'incomplete' until a whole message is
 * present; `consumed` is the number of bytes the message (and any leading
 * CRLF keep-alives) took.
 *
 * The message references `buf` (no copy): do not modify it afterwards.
 */
export function parseSip(buf: Buffer, opts?: ParseOptions): SipParseResult {
  const stream = opts !== undefined && opts.stream === true;
  const maxSize = opts !== undefined && opts.maxSize !== undefined ? opts.maxSize : 65535;
  const len = buf.length;

  // leading CRLFs: keep-alives (RFC 5626 §3.5.1) or stream noise
  let p = 0;
  while (p < len) {
    const c = buf[p];
    if (c !== CR && c !== LF) break;
    p++;
  }
  if (p === len) {
    if (p === 0) return stream ? INCOMPLETE : fail('empty', 'Empty message');
    return { ok: false, error: { code: 'keepalive', reason: 'Keep-alive', canReply: false, consumed: p } };
  }
  if (!stream && len - p > maxSize) return fail('too-large', 'Message Too Large');
  const msgStart = p;

  // ---- start line --------------------------------------------------------
  const firstLf = buf.indexOf(LF, p);
  const firstCr = buf.indexOf(CR, p);
  if (firstCr >= 0 && (firstLf < 0 || firstCr < firstLf - 1) && firstCr < len - 1) {
    return fail('bare-cr', 'Bare CR in start line');
  }
  if (firstLf >= 0 && firstCr !== firstLf - 1) return fail('bare-lf', 'Bare LF in start line');
  if (firstLf < 0) {
    if (!stream) return fail('truncated', 'Truncated message');
    return len - msgStart > maxSize ? fail('too-large', 'Message Too Large') : INCOMPLETE;
  }
  const i = firstCr;
  const slEnd = i;
  const startLineEnd = i + 2;

  let isRequest: boolean;
  let method = '';
  let uri = '';
  let status = 0;
  let reason = '';
  /** first error found that still allows reading on (to decide canReply) */
  let errCode: SipParseErrorCode | null = null;
  let errReason = '';

  if (slEnd - p >= 4 && isSipSlash(buf, p)) {
    // Status-Line = SIP-Version SP Status-Code SP Reason-Phrase CRLF
    isRequest = false;
    if (slEnd - p < 7 || !isSip20(buf, p)) return fail('bad-version', 'Version Not Supported');
    if (slEnd - p < 11 || buf[p + 7] !== SP || !isDigit(buf[p + 8]) || !isDigit(buf[p + 9]) || !isDigit(buf[p + 10])) {
      return fail('bad-status', 'Malformed Status-Line');
    }
    status = ((buf[p + 8] as number) - 0x30) * 100 + ((buf[p + 9] as number) - 0x30) * 10 + ((buf[p + 10] as number) - 0x30);
    if (status < 100 || status > 699) return fail('bad-status', 'Bad Status-Code');
    if (p + 11 < slEnd) {
      if (buf[p + 11] !== SP) return fail('bad-status', 'Malformed Status-Line');
      reason = buf.toString('utf8', p + 12, slEnd);
    }
  } else {
    // Request-Line = Method SP Request-URI SP SIP-Version CRLF
    isRequest = true;
    let j = p;
    while (j < slEnd && TOKEN_CHARS[buf[j] as number] === 1) j++;
    if (j === p || j >= slEnd || buf[j] !== SP) return fail('bad-method', 'Malformed Request-Line');
    const me = j;
    let k = slEnd - 1;
    while (k > me && buf[k] !== SP) k--;
    if (k <= me + 1) return fail('bad-start-line', 'Malformed Request-Line');
    method = internMethod(buf, p, me);
    if (slEnd - (k + 1) === 7 && isSip20(buf, k + 1)) {
      // fine
    } else if (slEnd - (k + 1) >= 5 && isSipSlash(buf, k + 1) && isDigit(buf[k + 5])) {
      errCode = 'bad-version';
      errReason = 'Version Not Supported';
    } else {
      return fail('bad-start-line', 'Malformed Request-Line');
    }
    uri = buf.toString('latin1', me + 1, k);
    if (errCode === null && !isValidUri(uri)) {
      errCode = 'bad-request-uri';
      errReason = 'Bad Request-URI';
    }
  }

  // ---- headers -----------------------------------------------------------
  const headers: SipHeader[] = [];
  let seen = 0;
  let cseq: WireHeader | null = null;
  let contentLength = -1;
  let badContentLength = false;
  let badMaxForwards = false;
  let emptyEssential = '';
  let headersEnd = -1;
  let pos = startLineEnd;

  for (;;) {
    if (pos >= len) break;
    let c = buf[pos] as number;
    if (c === CR) {
      if (pos + 1 >= len) break;
      if (buf[pos + 1] === LF) { headersEnd = pos; break; }
    }
    const lineStart = pos;
    // -- name
    let j = pos;
    while (j < len && TOKEN_CHARS[(c = buf[j] as number)] === 1) j++;
    const ne = j;
    let bad: SipParseErrorCode | null = null;
    let badReason = '';
    if (j >= len) break;
    if (ne === lineStart) {
      if (c === CR) { bad = 'bare-cr'; badReason = 'Bare CR in header'; }
      else if (c === LF) { bad = 'bare-lf'; badReason = 'Bare LF in header'; }
      else if (c >= 0x80) { bad = 'bad-header-name'; badReason = 'Non-ASCII header name'; }
      else { bad = 'bad-header-name'; badReason = 'Malformed header name'; }
    } else {
      while (j < len && ((c = buf[j] as number) === SP || c === HT)) j++;
      if (j >= len) break;
      if (c !== 0x3a) {
        if (c >= 0x80) { bad = 'bad-header-name'; badReason = 'Non-ASCII header name'; }
        else if (c === CR || c === LF) { bad = 'bad-header'; badReason = 'Header without colon'; }
        else { bad = 'bad-header-name'; badReason = 'Malformed header name'; }
      }
    }
    if (bad === null) {
      // -- value: up to CRLF not followed by SP/HT; folds are part of it
      j++;
      // leading whitespace, including folds before the first value byte
      for (;;) {
        while (j < len && ((c = buf[j] as number) === SP || c === HT)) j++;
        if (j + 2 < len && c === CR && buf[j + 1] === LF && ((c = buf[j + 2] as number) === SP || c === HT)) {
          j += 3;
          continue;
        }
        break;
      }
      const vs = j;
      let folded = false;
      let lineEnd = -1;
      let outOfData = false;
      for (;;) {
        // one physical line: native searches for LF and CR (memchr) beat a JS byte loop
        const lf = buf.indexOf(LF, j);
        const cr = lf < 0 ? -1 : buf.indexOf(CR, j);
        if (lf < 0 || cr !== lf - 1) {
          if (cr >= 0 && cr < lf - 1) { j = cr; bad = 'bare-cr'; badReason = 'Bare CR in header value'; break; }
          if (lf >= 0) { j = lf; bad = 'bare-lf'; badReason = 'Bare LF in header value'; break; }
          // no LF yet: a CR not at the very end is bare
          const cr2 = buf.indexOf(CR, j);
          if (cr2 >= 0 && cr2 < len - 1) { j = cr2; bad = 'bare-cr'; badReason = 'Bare CR in header value'; break; }
          outOfData = true;
          break;
        }
        if (lf + 1 >= len) { outOfData = true; break; }
        c = buf[lf + 1] as number;
        if (c === SP || c === HT) { folded = true; j = lf + 2; continue; }
        lineEnd = cr;
        break;
      }
      if (outOfData) break;
      if (bad === null) {
        // trailing whitespace (and trailing folds) are not part of the value
        let ve = lineEnd;
        while (ve > vs && ((c = buf[ve - 1] as number) === SP || c === HT || c === CR || c === LF)) ve--;
        const next = lineEnd + 2;
        let name: string;
        let lname: string;
        let id = 0;
        if (lookupHeaderName(buf, lineStart, ne, lookup)) {
          name = lookup.name !== '' ? lookup.name : buf.toString('latin1', lineStart, ne);
          lname = lookup.lname;
          id = lookup.id;
        } else {
          name = buf.toString('latin1', lineStart, ne);
          lname = name.toLowerCase();
        }
        const h = new WireHeader(buf, name, lname, lineStart, next, vs, ve, folded);
        headers.push(h);
        if (id !== 0) {
          if (vs === ve) {
            if (id !== H_CONTENT_LENGTH && id !== H_MAX_FORWARDS) {
              if (emptyEssential === '') emptyEssential = name;
            } else if (id === H_CONTENT_LENGTH) {
              badContentLength = true;
            } else {
              badMaxForwards = true;
            }
          } else {
            seen |= 1 << id;
            if (id === H_CSEQ) {
              if (cseq === null) cseq = h;
            } else if (id === H_CONTENT_LENGTH) {
              const v = parseUint(buf, vs, ve, 10);
              if (v < 0 || (contentLength >= 0 && v !== contentLength)) badContentLength = true;
              else contentLength = v;
            } else if (id === H_MAX_FORWARDS) {
              if (!allDigits(buf, vs, ve)) badMaxForwards = true;
            }
          }
        }
        pos = next;
        continue;
      }
    }
    // -- damaged line: remember the first error, resynchronise on the next LF
    if (errCode === null) { errCode = bad; errReason = badReason; }
    const lf = buf.indexOf(LF, j);
    if (lf < 0) { pos = len; break; }
    pos = lf + 1;
  }

  const replyable = isRequest && (seen & ESSENTIAL) === ESSENTIAL && emptyEssential === '';

  if (headersEnd < 0) {
    // ran out of bytes before the empty line
    if (stream && errCode === null) {
      return len - msgStart > maxSize ? fail('too-large', 'Message Too Large') : INCOMPLETE;
    }
    return replyError(errCode ?? 'truncated', errCode !== null ? errReason : 'Truncated message',
      replyable, method, uri, headers);
  }

  if (errCode !== null) return replyError(errCode, errReason, replyable, method, uri, headers);

  // ---- framing -------------------------------------------------------------
  const bodyStart = headersEnd + 2;
  let msgEnd: number;
  if (badContentLength) {
    return replyError('bad-content-length', 'Bad Content-Length', replyable, method, uri, headers);
  }
  if (stream) {
    if (contentLength < 0) {
      return replyError('missing-content-length', 'Missing Content-Length', replyable, method, uri, headers);
    }
    msgEnd = bodyStart + contentLength;
    if (msgEnd - msgStart > maxSize) return fail('too-large', 'Message Too Large');
    if (msgEnd > len) return { ok: false, error: { code: 'incomplete', reason: 'Incomplete message', canReply: false, consumed: msgEnd } };
  } else if (contentLength >= 0) {
    msgEnd = bodyStart + contentLength;
    if (msgEnd > len) {
      return replyError('bad-content-length', 'Content-Length exceeds message', replyable, method, uri, headers);
    }
  } else {
    msgEnd = len;
  }

  // ---- mandatory headers and CSeq ---------------------------------------------
  if ((seen & ESSENTIAL) !== ESSENTIAL || emptyEssential !== '') {
    let missing = emptyEssential;
    if (missing === '') {
      for (const [id, n] of ESSENTIAL_NAMES) if ((seen & (1 << id)) === 0) { missing = n; break; }
      return replyError('missing-header', `Missing ${missing}`, replyable, method, uri, headers);
    }
    return replyError('bad-header', `Empty ${missing}`, replyable, method, uri, headers);
  }
  if (cseq !== null) {
    const r = checkCSeq(buf, cseq.vs, cseq.ve, isRequest ? method : null);
    if (r === 1) return replyError('bad-cseq', 'Bad CSeq', replyable, method, uri, headers);
    if (r === 2) return replyError('cseq-mismatch', 'CSeq method does not match', replyable, method, uri, headers);
  }
  if (badMaxForwards) return replyError('bad-max-forwards', 'Bad Max-Forwards', replyable, method, uri, headers);

  // ---- build -----------------------------------------------------------------
  const raw = msgStart === 0 && msgEnd === len ? buf : buf.subarray(msgStart, msgEnd);
  const body = msgEnd > bodyStart ? buf.subarray(bodyStart, msgEnd) : EMPTY_BODY;
  const wire: WireInfo = {
    raw, src: buf, start: msgStart, startLineEnd, headersEnd, end: msgEnd, body,
    method, uri, status, reason,
  };
  let msg: SipMessage;
  if (isRequest) {
    msg = { type: 'request', method, uri, version: 'SIP/2.0', headers, body, wire };
  } else {
    msg = { type: 'response', status, reason, version: 'SIP/2.0', headers, body, wire };
  }
  const warnings = isRequest && (seen & (1 << H_MAX_FORWARDS)) === 0 ? WARN_NO_MAX_FORWARDS : NO_WARNINGS;
  return { ok: true, msg, consumed: msgEnd, warnings };
}

function replyError(
  code: SipParseErrorCode, reason: string, canReply: boolean,
  method: string, uri: string, headers: SipHeader[],
): SipParseResult {
  if (!canReply) return fail(code, reason);
  const msg: SipRequest = {
    type: 'request', method, uri, version: 'SIP/2.0', headers, body: EMPTY_BODY, wire: undefined,
  };
  return { ok: false, error: { code, reason, canReply: true, msg } };
}
