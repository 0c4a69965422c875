import { randomBytes } from 'node:crypto';
import * as address from '../../lib/address.ts';
import type { Endpoint } from '../../lib/address.ts';
import type { WorkClass } from '../../kernel/overload.ts';
import * as kernelTriage from '../../kernel/triage.ts';
import type { DatagramTriage, FirstLook, NewWorkLook } from '../../kernel/triage.ts';
import * as via from './codec/via.ts';
import { RecentFingerprints } from '../../lib/recent-fingerprints.ts';
import type { OverloadFeedback } from './overload-feedback.ts';

// imported bindings copied to module constants once (cheap access under CommonJS transpilers such as jiti)
const unmapIPv4 = address.unmapIPv4;
const ABSORB = kernelTriage.ABSORB;
const PRIORITY = kernelTriage.PRIORITY;
const MAGIC_COOKIE = via.MAGIC_COOKIE;

/**
 * The To tag of every refusal sent without a transaction: a prefix drawn once per process, so
 * that the ACK of such a refusal (hop by hop, RFC 3261 §17.1.1.3) is recognised at a glance and
 * absorbed, as Kamailio's sl module does with its sl_tag. Any other request carrying it names a
 * dialog that never was, and gets 481 the same way.
 */
const REFUSAL_TAG = `sl${randomBytes(6).toString('base64url')}.`;
const REFUSAL_TAG_BYTES = Buffer.from(REFUSAL_TAG, 'latin1');

const CR = 0x0d;
const LF = 0x0a;
const SP = 0x20;
const HT = 0x09;
const COLON = 0x3a;
const SEMI = 0x3b;

const STATUS_503 = Buffer.from('SIP/2.0 503 Service Unavailable\r\n', 'latin1');
const STATUS_481 = Buffer.from('SIP/2.0 481 Call/Transaction Does Not Exist\r\n', 'latin1');
const TRAILER = Buffer.from('Server: switchyard\r\nContent-Length: 0\r\n\r\n', 'latin1');

/** What one pass over a request found: where the lines a response copies lie, and the top Via's parts. */
interface SipGlance {
  method: string;
  /** [start, end) of each Via line, without CRLF and trailing white space. */
  vias: number[];
  from: number;
  fromEnd: number;
  to: number;
  toEnd: number;
  callId: number;
  callIdEnd: number;
  cseq: number;
  cseqEnd: number;
  /** Where the To tag's value starts, or -1. */
  toTag: number;
  /** A folded line, or a field the copy needs is missing: only the full parse answers it. */
  unsure: boolean;
  /** The top Via, read by `readTopVia` (host, port, branch as the codec would give them). */
  via: TopVia | null | undefined;
}

interface TopVia {
  readonly host: string;
  readonly port: number | undefined;
  readonly branch: string;
  /** Just past a valueless `rport`, or -1. */
  readonly rportEnd: number;
  /** Where the first via-parm ends (its comma, or the line's end). */
  readonly parmEnd: number;
  /**
   * RFC 7339: the client asked for overload feedback (an `oc` parameter); then the [start, end)
   * of each overload parameter (`;oc`, `;oc-algo=...`, ...), which the feedback replaces.
   */
  readonly oc: boolean;
  readonly ocSpans: readonly number[] | null;
}

function lower(c: number): number {
  return c >= 0x41 && c <= 0x5a ? c | 0x20 : c;
}

/** Whether buf at `at` spells `text` (lower case), ignoring case, within `end`. */
function spellsAt(buf: Buffer, at: number, end: number, text: string): boolean {
  if (at + text.length > end) return false;
  for (let k = 0; k < text.length; k++) if (lower(buf[at + k]!) !== text.charCodeAt(k)) return false;
  return true;
}

/** Whether buf at `at` starts with `text` exactly. */
function startsWith(buf: Buffer, at: number, text: string): boolean {
  if (at + text.length > buf.length) return false;
  for (let k = 0; k < text.length; k++) if (buf[at + k] !== text.charCodeAt(k)) return false;
  return true;
}

function isToken(c: number): boolean {
  return (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || (c >= 0x30 && c <= 0x39) || c === 0x2d || c === 0x2e || c === 0x21
    || c === 0x25 || c === 0x2a || c === 0x5f || c === 0x2b || c === 0x60 || c === 0x27 || c === 0x7e;
}

function isHostChar(c: number): boolean {
  return (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || c === 0x2d || c === 0x2e || c === 0x5f;
}

/** Where the value of the header line starting at `start` begins: past the colon and white space. */
function valueAt(buf: Buffer, start: number, end: number): number {
  let i = start;
  while (i < end && buf[i] !== COLON) i++;
  i++;
  while (i < end && (buf[i] === SP || buf[i] === HT)) i++;
  return i;
}

/** Where the tag parameter's value of a To line starts, or -1: `;` LWS `tag` LWS `=` after the name-addr's `>`. */
function tagAt(buf: Buffer, valueStart: number, end: number): number {
  let i = valueStart;
  for (let k = valueStart; k < end; k++) {
    if (buf[k] === 0x3e) { // '>'
      i = k + 1;
      break;
    }
  }
  for (; i < end; i++) {
    if (buf[i] !== SEMI) continue;
    let j = i + 1;
    while (j < end && (buf[j] === SP || buf[j] === HT)) j++;
    if (!spellsAt(buf, j, end, 'tag')) continue;
    j += 3;
    while (j < end && (buf[j] === SP || buf[j] === HT)) j++;
    if (buf[j] !== 0x3d) continue; // '='
    j++;
    while (j < end && (buf[j] === SP || buf[j] === HT)) j++;
    return j;
  }
  return -1;
}

/**
 * The top Via of a request, read from its bytes when it has the plain shape nearly every
 * client sends (`SIP/2.0/UDP host[:port];name=value...`, no white space inside, no quoted
 * value, no received yet); anything else is left to the codec (null).
 */
function readTopVia(buf: Buffer, start: number, end: number): TopVia | null {
  let i = valueAt(buf, start, end);
  if (!spellsAt(buf, i, end, 'sip/2.0/')) return null;
  i += 8;
  while (i < end && isToken(buf[i]!)) i++;
  if (buf[i] !== SP && buf[i] !== HT) return null;
  while (i < end && (buf[i] === SP || buf[i] === HT)) i++;
  const hostStart = i;
  if (buf[i] === 0x5b) { // '[': an IPv6 reference, brackets kept as the codec keeps them
    while (i < end && buf[i] !== 0x5d) i++;
    if (i >= end) return null;
    i++;
  } else {
    while (i < end && isHostChar(buf[i]!)) i++;
  }
  if (i === hostStart) return null;
  const host = buf.toString('latin1', hostStart, i);
  let port: number | undefined;
  if (buf[i] === COLON) {
    i++;
    const p0 = i;
    let p = 0;
    while (i < end && i - p0 < 6 && buf[i]! >= 0x30 && buf[i]! <= 0x39) p = p * 10 + (buf[i++]! - 0x30);
    if (i === p0 || p > 65535) return null;
    port = p;
  }
  let branch: string | null = null;
  let rportEnd = -1;
  let oc = false;
  let ocSpans: number[] | null = null;
  while (buf[i] === SEMI) {
    const ps = i;
    const ns = ++i;
    while (i < end && isToken(buf[i]!)) i++;
    const ne = i;
    if (ne === ns) return null;
    let vs = -1;
    if (buf[i] === 0x3d) {
      vs = ++i;
      if (buf[i] === 0x22) { // a quoted string (oc-algo="loss"): to its closing quote
        for (i++; i < end && buf[i] !== 0x22; i++) if (buf[i] === 0x5c) i++;
        if (i >= end) return null;
        i++;
      } else {
        while (i < end && (isToken(buf[i]!) || buf[i] === COLON || buf[i] === 0x5b || buf[i] === 0x5d)) i++;
      }
      if (i === vs) return null;
    }
    const n = ne - ns;
    if (n === 6 && vs >= 0 && spellsAt(buf, ns, ne, 'branch')) branch = buf.toString('latin1', vs, i);
    else if (n === 5 && vs < 0 && spellsAt(buf, ns, ne, 'rport')) rportEnd = ne;
    else if (n === 8 && spellsAt(buf, ns, ne, 'received')) return null;
    else if ((n === 2 || n >= 6 && n <= 11) && spellsAt(buf, ns, ne, 'oc') && (n === 2 || buf[ns + 2] === 0x2d)) {
      // oc, and oc-algo, oc-seq, oc-validity (a request carries the first two)
      if (n === 2) oc = true;
      (ocSpans ??= []).push(ps, i);
    }
  }
  while (i < end && (buf[i] === SP || buf[i] === HT)) i++;
  if (i < end && buf[i] !== 0x2c) return null; // anything but the end or a comma before the next via-parm
  return branch === null ? null : { host, port, branch, rportEnd, parmEnd: i, oc, ocSpans: oc ? ocSpans : null };
}

/** 32-bit FNV-1a of a string: a short, stable suffix for the refusal's To tag. */
function hash32(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

/** A request's transaction as a fingerprint: its top Via branch and its method (a CANCEL shares the branch). */
function requestFingerprint(branch: string, method: string): number {
  return Math.imul(hash32(branch) ^ method.charCodeAt(0), 0x01000193) ^ method.length;
}

const HEX = Buffer.from('0123456789abcdef', 'latin1');

/**
 * Writes a response into one allocation, byte by byte: its pieces are a few dozen bytes each,
 * where a Buffer.copy or a string per piece would cost more than the copy itself.
 */
class ResponseBytes {
  at = 0;

  constructor(readonly out: Buffer, private readonly src: Buffer) {}

  range(start: number, end: number): void {
    const { out, src } = this;
    let at = this.at;
    for (let k = start; k < end; k++) out[at++] = src[k]!;
    this.at = at;
  }

  bytes(b: Buffer): void {
    const out = this.out;
    let at = this.at;
    for (let k = 0; k < b.length; k++) out[at++] = b[k]!;
    this.at = at;
  }

  text(s: string): void {
    const out = this.out;
    let at = this.at;
    for (let k = 0; k < s.length; k++) out[at++] = s.charCodeAt(k);
    this.at = at;
  }

  hex(n: number): void {
    for (let shift = 28; shift >= 0; shift -= 4) this.out[this.at++] = HEX[(n >>> shift) & 15]!;
  }
}

/**
 * The SIP side of the dispatcher's first look: one pass over a request's header section (names
 * compared byte by byte, values left as bytes) tells a new call or REGISTER from what belongs to
 * a dialog, and notes where Via, From, To, Call-ID and CSeq lie, so that a refusal is those lines
 * copied into a 503 (RFC 3261 §8.2.6, §21.5.4) without a parse or a transaction. Whatever the
 * glance is not sure of (folded lines, an unusual Via) goes the full way.
 */
export class SipTriage implements DatagramTriage {
  /**
   * The requests refused lately, by top Via branch and method: a retransmission that crossed
   * its refusal finds its own. 2 × 64 Ki fingerprints (512 KiB) hold the last 32-64 thousand
   * refusals, seconds of the deepest overload, where a repeat comes within T1 or two of its
   * original.
   */
  private readonly refused = new RecentFingerprints(65_536);

  /**
   * `knows(key)`: whether a server transaction, live or finished, has this key
   * (server-transactions.ts serverKey); `feedback`: RFC 7339 overload feedback for a refusal's
   * Via when its client asked for it (overload-feedback.ts).
   */
  constructor(private readonly knows: (key: string) => boolean, private readonly feedback?: OverloadFeedback) {}

  look(buf: Buffer, source: Endpoint): FirstLook {
    if (buf.length < 16 || startsWith(buf, 0, 'SIP/')) return PRIORITY; // a response, or too short to be a request
    let method: string;
    if (startsWith(buf, 0, 'INVITE ')) method = 'INVITE';
    else if (startsWith(buf, 0, 'REGISTER ')) method = 'REGISTER';
    else if (startsWith(buf, 0, 'ACK ')) method = 'ACK';
    else if (startsWith(buf, 0, 'BYE ') || startsWith(buf, 0, 'CANCEL ')) method = buf[0] === 0x42 ? 'BYE' : 'CANCEL';
    else {
      let sp = 0;
      while (sp < 32 && sp < buf.length && isToken(buf[sp]!)) sp++;
      if (sp === 0 || buf[sp] !== SP) return PRIORITY; // the parser decides what this is
      method = buf.toString('latin1', 0, sp);
    }
    const g = this.scan(buf, method);
    if (g === null) return PRIORITY;
    if (g.toTag >= 0 && this.isRefusalTag(buf, g.toTag, g.toEnd)) {
      // A request inside a "dialog" that was a refusal: its ACK ends here; anything else gets 481.
      if (method === 'ACK') return ABSORB;
      const answer = g.unsure ? null : this.answer(buf, g, source, STATUS_481, null);
      return answer === null ? PRIORITY : { kind: 'absorb', answer };
    }
    if (g.toTag >= 0 || method === 'ACK' || method === 'BYE' || method === 'CANCEL') return PRIORITY;
    const work: WorkClass = method === 'INVITE' ? 'call' : method === 'REGISTER' ? 'register' : 'other';
    return { kind: 'new', work, glance: g };
  }

  isRepeat(look: NewWorkLook, buf: Buffer): boolean {
    const g = look.glance as SipGlance;
    const top = this.topVia(buf, g);
    // Without an RFC 3261 branch the key needs the parse: the full path decides.
    if (top === null || !top.branch.startsWith(MAGIC_COOKIE)) return true;
    return this.knows(`${top.branch}|${top.host}:${top.port ?? 5060}|${g.method}`);
  }

  wasRefused(look: NewWorkLook, buf: Buffer): boolean {
    if (this.refused.empty) return false;
    const g = look.glance as SipGlance;
    const top = this.topVia(buf, g);
    return top !== null && this.refused.has(requestFingerprint(top.branch, g.method));
  }

  refusal(look: NewWorkLook, buf: Buffer, source: Endpoint, retryAfterSec: number): Buffer | null {
    const g = look.glance as SipGlance;
    const answer = g.unsure ? null : this.answer(buf, g, source, STATUS_503, retryAfterSec, look.work);
    const top = this.topVia(buf, g);
    if (answer !== null && top !== null) this.refused.add(requestFingerprint(top.branch, g.method));
    return answer;
  }

  /**
   * A stateless response: the request's Vias (the top one stamped, and with the overload
   * feedback about new requests of class `work` if its client asked for it), From, To (tagged),
   * Call-ID, CSeq.
   */
  private answer(buf: Buffer, g: SipGlance, source: Endpoint, status: Buffer, retryAfterSec: number | null, work?: WorkClass): Buffer | null {
    const top = this.topVia(buf, g);
    if (top === null) return null;
    const feedback = top.oc && work !== undefined && this.feedback !== undefined ? this.feedback(work) : null;
    const vias = g.vias;
    // RFC 3581 and §18.2.1, as the full path stamps it (messages.ts stampReceived).
    const ip = unmapIPv4(source.address);
    const sentBy = top.host.charCodeAt(0) === 0x5b ? top.host.slice(1, -1) : top.host;
    // rport gets the source port where it stands, received goes last, as setViaParam places them.
    const rport = top.rportEnd >= 0 ? `=${source.port}` : '';
    const received = top.rportEnd >= 0 || sentBy !== ip ? `;received=${ip}` : '';
    const retry = retryAfterSec === null ? '' : `Retry-After: ${retryAfterSec}\r\n`;
    let length = status.length + rport.length + received.length + retry.length + TRAILER.length + 2 * (vias.length / 2 + 4);
    if (feedback !== null) {
      length += 1 + feedback.length;
      for (let k = 0; k < top.ocSpans!.length; k += 2) length -= top.ocSpans![k + 1]! - top.ocSpans![k]!;
    }
    for (let i = 0; i < vias.length; i += 2) length += vias[i + 1]! - vias[i]!;
    length += g.fromEnd - g.from + g.toEnd - g.to + g.callIdEnd - g.callId + g.cseqEnd - g.cseq;
    if (g.toTag < 0) length += 5 + REFUSAL_TAG_BYTES.length + 8;
    const w = new ResponseBytes(Buffer.allocUnsafe(length), buf);
    w.bytes(status);
    if (feedback !== null) {
      this.topViaReplacingFeedback(w, vias[0]!, top, rport);
      w.text(received);
      w.text(';');
      w.text(feedback);
    } else {
      if (top.rportEnd >= 0) {
        w.range(vias[0]!, top.rportEnd);
        w.text(rport);
        w.range(top.rportEnd, top.parmEnd);
      } else {
        w.range(vias[0]!, top.parmEnd);
      }
      w.text(received);
    }
    w.range(top.parmEnd, vias[1]!);
    w.text('\r\n');
    for (let i = 2; i < vias.length; i += 2) {
      w.range(vias[i]!, vias[i + 1]!);
      w.text('\r\n');
    }
    w.range(g.from, g.fromEnd);
    w.text('\r\n');
    w.range(g.to, g.toEnd);
    if (g.toTag < 0) {
      w.text(';tag=');
      w.bytes(REFUSAL_TAG_BYTES);
      w.hex(hash32(top.branch));
    }
    w.text('\r\n');
    w.range(g.callId, g.callIdEnd);
    w.text('\r\n');
    w.range(g.cseq, g.cseqEnd);
    w.text('\r\n');
    w.text(retry);
    w.bytes(TRAILER);
    return w.out;
  }

  /** The top via-parm from `start`, rport's value written after its name, the overload parameters left out (the feedback replaces them). */
  private topViaReplacingFeedback(w: ResponseBytes, start: number, top: TopVia, rport: string): void {
    const spans = top.ocSpans!;
    let at = start;
    let rportDone = top.rportEnd < 0;
    for (let k = 0; k < spans.length; k += 2) {
      if (!rportDone && top.rportEnd <= spans[k]!) {
        w.range(at, top.rportEnd);
        w.text(rport);
        at = top.rportEnd;
        rportDone = true;
      }
      w.range(at, spans[k]!);
      at = spans[k + 1]!;
    }
    if (!rportDone) {
      w.range(at, top.rportEnd);
      w.text(rport);
      at = top.rportEnd;
    }
    w.range(at, top.parmEnd);
  }

  /** One pass over the header lines; null when there is no header section to speak of. */
  private scan(buf: Buffer, method: string): SipGlance | null {
    const n = buf.length;
    let pos = 0;
    while (pos < n && buf[pos] !== LF) pos++;
    if (pos >= n || buf[pos - 1] !== CR || !startsWith(buf, pos - 9, ' SIP/2.0')) return null;
    pos++;
    const g: SipGlance = {
      method, vias: [], from: -1, fromEnd: -1, to: -1, toEnd: -1, callId: -1, callIdEnd: -1, cseq: -1, cseqEnd: -1, toTag: -1, unsure: false, via: undefined,
    };
    while (pos < n) {
      if (buf[pos] === CR) break; // the empty line ends the header section
      let end = pos;
      while (end < n && buf[end] !== CR) end++;
      let last = end;
      while (last > pos && (buf[last - 1] === SP || buf[last - 1] === HT)) last--;
      const c = lower(buf[pos]!);
      if (c === SP || c === HT) g.unsure = true; // a folded line: the glance does not unfold
      else if (c === 0x76 || c === 0x66 || c === 0x74 || c === 0x69 || c === 0x63) this.note(buf, g, pos, last, c);
      pos = end + 2;
    }
    if (g.vias.length === 0 || g.from < 0 || g.to < 0 || g.callId < 0 || g.cseq < 0) g.unsure = true;
    return g;
  }

  /** Remembers a header line the response copies (names compared ignoring case, compact forms too). */
  private note(buf: Buffer, g: SipGlance, start: number, end: number, c: number): void {
    let nameEnd = start;
    while (nameEnd < end && buf[nameEnd] !== COLON && buf[nameEnd] !== SP && buf[nameEnd] !== HT) nameEnd++;
    const len = nameEnd - start;
    if (c === 0x76 && (len === 1 || len === 3 && spellsAt(buf, start, nameEnd, 'via'))) g.vias.push(start, end);
    else if (c === 0x74 && (len === 1 || len === 2 && spellsAt(buf, start, nameEnd, 'to'))) {
      if (g.to >= 0) return;
      g.to = start;
      g.toEnd = end;
      g.toTag = tagAt(buf, valueAt(buf, start, end), end);
    } else if (c === 0x66 && (len === 1 || len === 4 && spellsAt(buf, start, nameEnd, 'from'))) {
      if (g.from < 0) [g.from, g.fromEnd] = [start, end];
    } else if (c === 0x69 && len === 1 || c === 0x63 && len === 7 && spellsAt(buf, start, nameEnd, 'call-id')) {
      if (g.callId < 0) [g.callId, g.callIdEnd] = [start, end];
    } else if (c === 0x63 && len === 4 && spellsAt(buf, start, nameEnd, 'cseq')) {
      if (g.cseq < 0) [g.cseq, g.cseqEnd] = [start, end];
    }
  }

  private isRefusalTag(buf: Buffer, at: number, end: number): boolean {
    if (at + REFUSAL_TAG_BYTES.length > end) return false;
    for (let k = 0; k < REFUSAL_TAG_BYTES.length; k++) if (buf[at + k] !== REFUSAL_TAG_BYTES[k]) return false;
    return true;
  }

  private topVia(buf: Buffer, g: SipGlance): TopVia | null {
    if (g.via === undefined) g.via = g.vias.length === 0 ? null : readTopVia(buf, g.vias[0]!, g.vias[1]!);
    return g.via;
  }
}
