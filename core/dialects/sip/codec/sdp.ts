/**
 * SDP (RFC 4566) for a media relay: parse into session-level lines and media
 * sections keeping every line in order, so formatSdp(parseSdp(x)) === x for
 * valid input (CRLF or LF preserved), plus the rewrites a relay needs:
 * connection address, media port, a=rtcp, attribute add/remove.
 * Nothing here throws on bad input: parseSdp returns { ok: false, reason }.
 */
import { isIPv6 } from 'node:net';

export interface SdpLine {
  /** one lower-case letter ('v', 'o', 'c', 'm', 'a' ...); '' for a trailing empty line */
  type: string;
  /** everything after "x=" */
  value: string;
}

export interface SdpMedia {
  /** lines[0] is the m= line, then the section's lines in order */
  lines: SdpLine[];
  media: string;
  port: number;
  portCount: number | undefined;
  proto: string;
  formats: string[];
}

export interface Sdp {
  eol: '\r\n' | '\n';
  /** v= up to (not including) the first m= */
  session: SdpLine[];
  media: SdpMedia[];
  /** whether the last line ended with a terminator */
  finalEol: boolean;
}

export interface SdpConnection {
  netType: string;
  addrType: string;
  /** address as written, including any /ttl/count suffix */
  address: string;
}

export type SdpParseResult = { ok: true; sdp: Sdp } | { ok: false; reason: string };

const M_LINE = /^([A-Za-z0-9_.+-]+) (\d{1,5})(?:\/(\d{1,5}))? ([^ ]+)((?: [^ ]+)*)$/;
const C_LINE = /^([^ ]+) ([^ ]+) ([^ ]+)$/;

function parseMediaLine(value: string): Omit<SdpMedia, 'lines'> | null {
  const m = M_LINE.exec(value);
  if (m === null) return null;
  const port = Number(m[2]);
  if (port > 65535) return null;
  const portCount = m[3] === undefined ? undefined : Number(m[3]);
  if (portCount === 0) return null;
  const fmts = (m[5] ?? '').trim();
  return { media: m[1] as string, port, portCount, proto: m[4] as string, formats: fmts === '' ? [] : fmts.split(' ') };
}

export function parseConnection(value: string): SdpConnection | null {
  const m = C_LINE.exec(value);
  if (m === null) return null;
  return { netType: m[1] as string, addrType: m[2] as string, address: m[3] as string };
}

function bad(reason: string): SdpParseResult {
  return { ok: false, reason };
}

/** Parse an SDP body. A Buffer is decoded as UTF-8. */
export function parseSdp(input: string | Buffer): SdpParseResult {
  const text = typeof input === 'string' ? input : input.toString('utf8');
  if (text.length === 0) return bad('empty SDP');
  const firstLf = text.indexOf('\n');
  const eol: '\r\n' | '\n' = firstLf > 0 && text.charCodeAt(firstLf - 1) === 13 ? '\r\n' : firstLf < 0 ? '\r\n' : '\n';

  const lines: SdpLine[] = [];
  let pos = 0;
  let finalEol = true;
  let lineNo = 0;
  let sawEmpty = false;
  while (pos < text.length) {
    lineNo++;
    let lf = text.indexOf('\n', pos);
    let end: number;
    if (lf < 0) {
      end = text.length;
      lf = text.length;
      finalEol = false;
    } else {
      end = lf;
      if (eol === '\r\n') {
        if (end > pos && text.charCodeAt(end - 1) === 13) end--;
        else return bad(`line ${lineNo}: mixed line terminators`);
      }
    }
    const line = text.slice(pos, end);
    pos = lf + 1;
    if (line.indexOf('\r') >= 0) return bad(`line ${lineNo}: stray CR`);
    if (line.length === 0) {
      sawEmpty = true;
      lines.push({ type: '', value: '' });
      continue;
    }
    if (sawEmpty) return bad(`line ${lineNo}: line after an empty line`);
    const t = line.charCodeAt(0);
    if (line.length < 2 || t < 0x61 || t > 0x7a || line.charCodeAt(1) !== 0x3d) {
      return bad(`line ${lineNo}: malformed line`);
    }
    lines.push({ type: line[0] as string, value: line.slice(2) });
  }

  const first = lines[0];
  if (first === undefined || first.type !== 'v') return bad('SDP must start with v=');
  if (first.value !== '0') return bad('unsupported SDP version');

  const session: SdpLine[] = [];
  const media: SdpMedia[] = [];
  let current: SdpMedia | null = null;
  let sessionHasC = false;
  for (let k = 0; k < lines.length; k++) {
    const line = lines[k] as SdpLine;
    if (line.type === 'm') {
      const parsed = parseMediaLine(line.value);
      if (parsed === null) return bad(`line ${k + 1}: malformed m= line`);
      current = { lines: [line], media: parsed.media, port: parsed.port, portCount: parsed.portCount, proto: parsed.proto, formats: parsed.formats };
      media.push(current);
      continue;
    }
    if (line.type === 'c' && parseConnection(line.value) === null) return bad(`line ${k + 1}: malformed c= line`);
    if (line.type === 'v' && k !== 0) return bad(`line ${k + 1}: unexpected v= line`);
    if (current === null) {
      session.push(line);
      if (line.type === 'c') sessionHasC = true;
    } else {
      current.lines.push(line);
    }
  }
  for (const t of ['o', 's', 't']) {
    if (!session.some((l) => l.type === t)) return bad(`missing ${t}= line`);
  }
  if (!sessionHasC) {
    for (let k = 0; k < media.length; k++) {
      const m = media[k] as SdpMedia;
      if (!m.lines.some((l) => l.type === 'c')) return bad(`media ${k}: missing c= line`);
    }
  }
  return { ok: true, sdp: { eol, session, media, finalEol } };
}

/** Format back to text. */
export function formatSdp(sdp: Sdp): string {
  const parts: string[] = [];
  const push = (l: SdpLine): void => { parts.push(l.type === '' ? '' : `${l.type}=${l.value}`); };
  for (const l of sdp.session) push(l);
  for (const m of sdp.media) for (const l of m.lines) push(l);
  let out = parts.join(sdp.eol);
  if (sdp.finalEol && parts.length > 0) out += sdp.eol;
  return out;
}

// ---------------------------------------------------------------------------
// Reading helpers
// ---------------------------------------------------------------------------

type Target = 'session' | number;

function linesOf(sdp: Sdp, target: Target): SdpLine[] | undefined {
  return target === 'session' ? sdp.session : sdp.media[target]?.lines;
}

/** The connection that applies to a media section (media-level, else session-level), or the session one. */
export function getConnection(sdp: Sdp, target: Target = 'session'): SdpConnection | undefined {
  if (target !== 'session') {
    const own = sdp.media[target]?.lines.find((l) => l.type === 'c');
    if (own !== undefined) return parseConnection(own.value) ?? undefined;
  }
  const s = sdp.session.find((l) => l.type === 'c');
  return s === undefined ? undefined : parseConnection(s.value) ?? undefined;
}

function attrName(value: string): string {
  const colon = value.indexOf(':');
  return colon < 0 ? value : value.slice(0, colon);
}

/** Values of `a=name:value` lines (or '' for flag attributes like a=rtcp-mux), in order. */
export function getAttributes(sdp: Sdp, target: Target, name: string): string[] {
  const out: string[] = [];
  for (const l of linesOf(sdp, target) ?? []) {
    if (l.type !== 'a' || attrName(l.value) !== name) continue;
    const colon = l.value.indexOf(':');
    out.push(colon < 0 ? '' : l.value.slice(colon + 1));
  }
  return out;
}

export function hasAttribute(sdp: Sdp, target: Target, name: string): boolean {
  return (linesOf(sdp, target) ?? []).some((l) => l.type === 'a' && attrName(l.value) === name);
}

/** a=rtcp of a media section (RFC 3605): port and optional connection. */
export function getRtcp(sdp: Sdp, index: number): { port: number; connection: SdpConnection | undefined } | undefined {
  const v = getAttributes(sdp, index, 'rtcp')[0];
  if (v === undefined) return undefined;
  const m = /^(\d{1,5})(?: (.+))?$/.exec(v);
  if (m === null) return undefined;
  return { port: Number(m[1]), connection: m[2] === undefined ? undefined : parseConnection(m[2]) ?? undefined };
}

// ---------------------------------------------------------------------------
// Rewriting
// ---------------------------------------------------------------------------

function addrTypeOf(address: string): 'IP4' | 'IP6' {
  return isIPv6(address) ? 'IP6' : 'IP4';
}

function connValue(address: string): string {
  return `IN ${addrTypeOf(address)} ${address}`;
}

/** insert `line` before the first line whose type is in `before` (searching from `from`), else append */
function insertBefore(lines: SdpLine[], line: SdpLine, before: string, from: number): void {
  for (let k = from; k < lines.length; k++) {
    const t = (lines[k] as SdpLine).type;
    if (t === '' || before.includes(t)) { lines.splice(k, 0, line); return; }
  }
  lines.push(line);
}

function setConnIn(lines: SdpLine[], address: string, media: boolean, create: boolean): boolean {
  let found = false;
  for (const l of lines) {
    if (l.type === 'c') { l.value = connValue(address); found = true; }
  }
  if (!found && create) {
    // session: v o s i u e p c b t r z k a ; media: m i c b k a
    if (media) insertBefore(lines, { type: 'c', value: connValue(address) }, 'bka', 1);
    else insertBefore(lines, { type: 'c', value: connValue(address) }, 'btrzka', 1);
    found = true;
  }
  return found;
}

/**
 * Set the connection address (c=), choosing IP4/IP6 from the address.
 * 'all' (default): every existing c= line, session and media level; a
 * session-level c= is added when there is none anywhere. 'session' or a
 * media index: that level only (the line is added when missing).
 */
export function setConnectionAddress(sdp: Sdp, address: string, target: 'all' | Target = 'all'): void {
  if (target === 'session') { setConnIn(sdp.session, address, false, true); return; }
  if (typeof target === 'number') {
    const m = sdp.media[target];
    if (m !== undefined) setConnIn(m.lines, address, true, true);
    return;
  }
  let any = setConnIn(sdp.session, address, false, false);
  for (const m of sdp.media) any = setConnIn(m.lines, address, true, false) || any;
  if (!any) setConnIn(sdp.session, address, false, true);
}

/** Rewrite the o= line's unicast address (and its addrtype). */
export function setOriginAddress(sdp: Sdp, address: string): void {
  for (const l of sdp.session) {
    if (l.type !== 'o') continue;
    const f = l.value.split(' ');
    if (f.length !== 6) return;
    f[4] = addrTypeOf(address);
    f[5] = address;
    l.value = f.join(' ');
    return;
  }
}

function formatMediaLine(m: SdpMedia): string {
  const port = m.portCount === undefined ? String(m.port) : `${m.port}/${m.portCount}`;
  return [m.media, port, m.proto, ...m.formats].join(' ');
}

/** Set the port of media section `index` (portCount: undefined keeps it, null removes it). */
export function setMediaPort(sdp: Sdp, index: number, port: number, portCount?: number | null): void {
  const m = sdp.media[index];
  if (m === undefined) return;
  m.port = port;
  if (portCount !== undefined) m.portCount = portCount === null ? undefined : portCount;
  (m.lines[0] as SdpLine).value = formatMediaLine(m);
}

/** Set the formats of media section `index` (e.g. after filtering codecs). */
export function setMediaFormats(sdp: Sdp, index: number, formats: readonly string[]): void {
  const m = sdp.media[index];
  if (m === undefined) return;
  m.formats = [...formats];
  (m.lines[0] as SdpLine).value = formatMediaLine(m);
}

/** Set the transport profile and the formats of media section `index` (a relay that converts RTP/AVP to UDP/TLS/RTP/SAVPF). */
export function setMediaProfile(sdp: Sdp, index: number, proto: string, formats: readonly string[]): void {
  const m = sdp.media[index];
  if (m === undefined) return;
  m.proto = proto;
  m.formats = [...formats];
  (m.lines[0] as SdpLine).value = formatMediaLine(m);
}

/**
 * Set or replace `a=rtcp:` (RFC 3605) of media section `index`, leaving
 * exactly one such line. With an address, the connection part is written
 * ("a=rtcp:port IN IP4 addr").
 */
export function setRtcp(sdp: Sdp, index: number, port: number, address?: string): void {
  const m = sdp.media[index];
  if (m === undefined) return;
  const value = address === undefined ? `rtcp:${port}` : `rtcp:${port} ${connValue(address)}`;
  let done = false;
  for (let k = 0; k < m.lines.length; k++) {
    const l = m.lines[k] as SdpLine;
    if (l.type !== 'a' || attrName(l.value) !== 'rtcp') continue;
    if (done) { m.lines.splice(k, 1); k--; continue; } // keep exactly one a=rtcp
    l.value = value;
    done = true;
  }
  if (!done) addAttribute(sdp, index, 'rtcp', value.slice(5));
}

/** Append an attribute line (`a=name` or `a=name:value`) to the session or a media section. */
export function addAttribute(sdp: Sdp, target: Target, name: string, value?: string): void {
  const lines = linesOf(sdp, target);
  if (lines === undefined) return;
  const line: SdpLine = { type: 'a', value: value === undefined ? name : `${name}:${value}` };
  // attributes go last in their section (before any trailing empty line)
  insertBefore(lines, line, '', 1);
}

/**
 * Remove attribute lines named `name` (optionally only those whose value
 * matches `pred`). Returns the number removed.
 */
export function removeAttribute(sdp: Sdp, target: Target, name: string, pred?: (value: string) => boolean): number {
  const lines = linesOf(sdp, target);
  if (lines === undefined) return 0;
  let removed = 0;
  for (let k = lines.length - 1; k >= 0; k--) {
    const l = lines[k] as SdpLine;
    if (l.type !== 'a' || attrName(l.value) !== name) continue;
    const colon = l.value.indexOf(':');
    if (pred !== undefined && !pred(colon < 0 ? '' : l.value.slice(colon + 1))) continue;
    lines.splice(k, 1);
    removed++;
  }
  return removed;
}

/** Serialize to a Buffer for use as a SIP body. */
export function sdpToBuffer(sdp: Sdp): Buffer {
  return Buffer.from(formatSdp(sdp), 'utf8');
}
