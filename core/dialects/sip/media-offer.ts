/**
 * The SIP dialect's MediaOffer: an SDP body (RFC 4566) read into streams, changed in place and
 * rendered back losslessly: every line nobody changed keeps its bytes, order and line ends.
 */
import { isIPv6 } from 'node:net';
import { MediaRefused } from '../../kernel/hooks.ts';
import type { MediaAddress, MediaAttribute, MediaOffer, MediaStream, MediaTarget, RelayedAddress } from '../../model/media.ts';
import { getHeader, type SipMessage } from './codec/message.ts';
import {
  getAttributes, getConnection, hasAttribute, parseSdp, sdpToBuffer, setConnectionAddress, setMediaPort, setMediaProfile, setOriginAddress, setRtcp,
  type Sdp, type SdpLine,
} from './codec/sdp.ts';

/** Whether the message carries an SDP body: a non-empty body with Content-Type application/sdp (any case, parameters ignored). */
export function hasSdpBody(sip: SipMessage): boolean {
  if (sip.body.length === 0) return false;
  const ct = getHeader(sip, 'content-type');
  return ct !== undefined && ct.toLowerCase().split(';')[0]!.trim() === 'application/sdp';
}

/** Reads an SDP body; throws MediaRefused(400, 'Malformed SDP') when it does not parse (the parser's reason is the error's `cause`). */
export function readSdpOffer(body: Buffer | string): SdpMediaOffer {
  const parsed = parseSdp(body);
  if (!parsed.ok) {
    const refused = new MediaRefused(400, 'Malformed SDP');
    refused.cause = parsed.reason;
    throw refused;
  }
  return new SdpMediaOffer(parsed.sdp);
}

/** The media description in a SIP message's body (see readSdpOffer); check hasSdpBody first. */
export function sipMediaOffer(sip: SipMessage): SdpMediaOffer {
  return readSdpOffer(sip.body);
}

/** `a=rtcp:<port> [IN IP4|IP6 <address>]` (RFC 3605). */
const RTCP_ATTRIBUTE = /^(\d+)(?:\s+IN\s+IP[46]\s+(\S+))?/;

function attributeOf(l: SdpLine): MediaAttribute {
  const colon = l.value.indexOf(':');
  return colon < 0 ? { name: l.value, value: null } : { name: l.value.slice(0, colon), value: l.value.slice(colon + 1) };
}

function attributeLine(a: MediaAttribute): SdpLine {
  return { type: 'a', value: a.value === null ? a.name : `${a.name}:${a.value}` };
}

export class SdpMediaOffer implements MediaOffer {
  private readonly list: MediaStream[];
  /** Whether each stream carried `a=rtcp` when read: only those get one written. */
  private readonly hadRtcp: boolean[];
  /** The relay address of each relayed stream, by index: the connection lines are written from it when rendered. */
  private readonly relayed = new Map<number, string>();
  private touched = false;
  readonly relayRequired = false;
  readonly sharedRelayPort = false;

  constructor(readonly sdp: Sdp) {
    this.list = [];
    this.hadRtcp = [];
    for (let i = 0; i < sdp.media.length; i++) {
      const rtcpValue = getAttributes(sdp, i, 'rtcp')[0];
      const rtcp = rtcpValue === undefined ? null : RTCP_ATTRIBUTE.exec(rtcpValue);
      this.hadRtcp.push(rtcp !== null);
      this.list.push(readStream(sdp, i, rtcp));
    }
  }

  get streams(): readonly MediaStream[] {
    return this.list;
  }

  get changed(): boolean {
    return this.touched;
  }

  relay(index: number, to: RelayedAddress): void {
    const s = this.stream(index);
    setMediaPort(this.sdp, index, to.rtpPort);
    const rtcpPort = to.rtcpPort ?? to.rtpPort;
    if (this.hadRtcp[index]) setRtcp(this.sdp, index, rtcpPort, to.address);
    this.relayed.set(index, to.address);
    this.list[index] = {
      ...s,
      rtp: { address: to.address, port: to.rtpPort },
      rtcp: s.rtcp === null ? null : { address: to.address, port: to.rtcpPort ?? to.rtpPort + 1 },
    };
    this.touched = true;
  }

  setTransport(index: number, proto: string, formats: readonly string[]): void {
    const s = this.stream(index);
    if (s.proto === proto && s.formats.length === formats.length && s.formats.every((f, i) => f === formats[i])) return;
    setMediaProfile(this.sdp, index, proto, formats);
    this.list[index] = { ...s, proto, formats: [...formats] };
    this.touched = true;
  }

  attributes(target: MediaTarget): readonly MediaAttribute[] {
    const out: MediaAttribute[] = [];
    for (const l of this.linesOf(target)) if (l.type === 'a') out.push(attributeOf(l));
    return out;
  }

  insertAttributes(target: MediaTarget, at: number, attributes: readonly MediaAttribute[]): void {
    const lines = this.linesOf(target);
    let pos = -1;
    let seen = 0;
    for (let k = 0; k < lines.length; k++) {
      if (lines[k]!.type !== 'a') continue;
      if (seen === at) {
        pos = k;
        break;
      }
      seen++;
    }
    if (pos < 0) {
      if (at !== seen) throw new RangeError(`attribute position ${at} is outside 0-${seen}`);
      pos = lines.length; // the end of the section, before the empty lines that may close the body
      while (pos > 1 && lines[pos - 1]!.type === '') pos--;
    }
    if (attributes.length === 0) return;
    lines.splice(pos, 0, ...attributes.map(attributeLine));
    this.touched = true;
  }

  removeAttributes(target: MediaTarget, remove: (a: MediaAttribute) => boolean): number {
    const lines = this.linesOf(target);
    let n = 0;
    for (let k = lines.length - 1; k >= 0; k--) {
      const l = lines[k]!;
      if (l.type !== 'a' || !remove(attributeOf(l))) continue;
      lines.splice(k, 1);
      n++;
    }
    if (n > 0) this.touched = true;
    return n;
  }

  /**
   * The SDP as it now reads. The connection lines of the relayed streams are written here, from
   * all of them at once (see pointAtRelay); a later relay() and render keeps them pointing right.
   */
  toBuffer(): Buffer {
    if (this.relayed.size > 0) pointAtRelay(this.sdp, this.relayed);
    return sdpToBuffer(this.sdp);
  }

  /** Writes the description into the message's body when it changed (the Content-Length follows the body); returns whether it did. */
  writeTo(sip: SipMessage): boolean {
    if (!this.touched) return false;
    sip.body = this.toBuffer();
    return true;
  }

  private stream(index: number): MediaStream {
    const s = this.list[index];
    if (s === undefined) throw new RangeError(`no stream ${index}: the SDP has ${this.list.length}`);
    return s;
  }

  private linesOf(target: MediaTarget): SdpLine[] {
    return target === 'session' ? this.sdp.session : this.sdp.media[this.stream(target).index]!.lines;
  }
}

function readStream(sdp: Sdp, index: number, rtcp: RegExpExecArray | null): MediaStream {
  const m = sdp.media[index]!;
  const conn = getConnection(sdp, index);
  // A multicast address keeps its /ttl[/count] suffix in c=; the stream's address is the address alone.
  const address = conn === undefined ? null : conn.address.split('/')[0]!;
  const rtcpMux = hasAttribute(sdp, index, 'rtcp-mux');
  const disabled = m.port === 0;
  let rtcpAddress: MediaAddress | null = null;
  if (!disabled && rtcp !== null) {
    const at = rtcp[2] ?? address;
    if (at !== null) rtcpAddress = { address: at, port: Number(rtcp[1]) };
  } else if (!disabled && !rtcpMux && address !== null) {
    rtcpAddress = { address, port: m.port + 1 };
  }
  return {
    index,
    kind: m.media,
    proto: m.proto,
    formats: m.formats,
    rtp: address === null ? null : { address, port: m.port },
    rtcp: rtcpAddress,
    rtcpMux,
    disabled,
  };
}

/**
 * Rewrites the connection lines the relayed streams use, and only those: a stream left alone
 * must still reach its own address. The session-level c= is rewritten when no enabled stream
 * left alone depends on it and the relayed streams share one address; a relayed stream that
 * cannot use it gets a media-level c= of its own.
 */
function pointAtRelay(sdp: Sdp, relayed: ReadonlyMap<number, string>): void {
  const hasOwn = (i: number): boolean => sdp.media[i]!.lines.some((l) => l.type === 'c');
  const othersNeedSession = sdp.media.some((m, i) => !relayed.has(i) && m.port !== 0 && !hasOwn(i));
  const addresses = new Set(relayed.values());
  const shareSession = !othersNeedSession && addresses.size === 1 && getConnection(sdp, 'session') !== undefined;
  if (shareSession) setConnectionAddress(sdp, addresses.values().next().value!, 'session');
  // A reader of the other family judges the description by its first address type (baresip
  // refuses an IPv4 o= line where it has no IPv4): o= names the relay when the family changed.
  if (addresses.size === 1 && !othersNeedSession) {
    const relay = addresses.values().next().value!;
    const origin = sdp.session.find((l) => l.type === 'o')?.value.split(' ');
    if (origin !== undefined && origin.length === 6 && origin[4] !== (isIPv6(relay) ? 'IP6' : 'IP4')) setOriginAddress(sdp, relay);
  }
  for (const [i, address] of relayed) {
    if (hasOwn(i) || !shareSession) setConnectionAddress(sdp, address, i);
  }
}
