/**
 * A party's description as the SDP an NG relay reads, and the relay's addresses read back from
 * the SDP it returns. The relay sees every stream in order (so that offer and answer name the
 * same m= lines); streams the module does not relay go as disabled (port 0), the relay leaves
 * them alone. Usually only what a relay needs is read back: per m= line its port, its connection
 * address and its RTCP port. A call with NG flags (a relay that converts the media) sends the
 * party's ICE too and reads back the relay's whole description of each stream.
 */
import { isIPv6 } from 'node:net';
import type { MediaAttribute, MediaOffer, MediaStream, RelayedAddress } from '../../../core/module.ts';
import type { RelayDescription, RelayStreamDescription } from '../backend.ts';

/** ICE stays with the module (ice-hints): the relay is asked to remove it anyway, so it is not sent. */
const NOT_SENT = new Set(['candidate', 'remote-candidates', 'end-of-candidates', 'ice-ufrag', 'ice-pwd', 'ice-options', 'ice-lite', 'rtcp']);
/** With NG flags the relay may speak ICE with the party (ICE=force): it gets the party's ICE. */
const NOT_SENT_WITH_ICE = new Set(['rtcp']);

function connection(address: string): string {
  return `IN ${isIPv6(address) ? 'IP6' : 'IP4'} ${address}`;
}

function attributeLines(offer: MediaOffer, target: 'session' | number, notSent: ReadonlySet<string>): string[] {
  const out: string[] = [];
  for (const a of offer.attributes(target)) {
    if (notSent.has(a.name)) continue;
    out.push(a.value === null ? `a=${a.name}` : `a=${a.name}:${a.value}`);
  }
  return out;
}

/** A stream without RTP formats (the plain protocol's) is sent as one RTP/AVP stream: relays want a profile. */
function mediaLine(s: MediaStream, port: number): string {
  const rtp = /(^|\/)RTP(\/|$)/i.test(s.proto);
  const proto = rtp ? s.proto : 'RTP/AVP';
  const formats = s.formats.length > 0 && rtp ? s.formats : ['0'];
  return `m=${s.kind === 'application' && !rtp ? 'audio' : s.kind} ${port} ${proto} ${formats.join(' ')}`;
}

/**
 * The SDP for `relayed` (streams by index) of `offer`; `origin` names the session's address.
 * Without ICE lines unless `withIce` (a call with NG flags).
 */
export function renderSdp(offer: MediaOffer, relayed: ReadonlySet<number>, withIce = false): string {
  const notSent = withIce ? NOT_SENT_WITH_ICE : NOT_SENT;
  const first = offer.streams.find((s) => relayed.has(s.index))?.rtp?.address ?? '0.0.0.0';
  const lines = ['v=0', `o=- 0 0 ${connection(first)}`, 's=-', `c=${connection(first)}`, 't=0 0', ...attributeLines(offer, 'session', notSent)];
  for (const s of offer.streams) {
    if (!relayed.has(s.index) || s.rtp === null) {
      lines.push(mediaLine(s, 0));
      continue;
    }
    lines.push(mediaLine(s, s.rtp.port));
    if (s.rtp.address !== first) lines.push(`c=${connection(s.rtp.address)}`);
    if (s.rtcp !== null && (s.rtcp.port !== s.rtp.port + 1 || s.rtcp.address !== s.rtp.address)) lines.push(`a=rtcp:${s.rtcp.port} ${connection(s.rtcp.address)}`);
    lines.push(...attributeLines(offer, s.index, notSent));
  }
  return `${lines.join('\r\n')}\r\n`;
}

interface ReadMedia {
  port: number;
  address: string | undefined;
  rtcpPort: number | undefined;
  rtcpMux: boolean;
}

/**
 * Where the relay put each of `streams`, from the SDP it returned: by m= line index. A stream
 * the relay answered with port 0 or without an address is left out (not relayed).
 */
export function readRelayed(sdp: string, streams: readonly MediaStream[]): Map<number, RelayedAddress> {
  let sessionAddress: string | undefined;
  const media: ReadMedia[] = [];
  for (const raw of sdp.split(/\r?\n/)) {
    const line = raw.trimEnd();
    if (line.startsWith('m=')) {
      const port = Number(line.split(' ')[1]);
      media.push({ port: Number.isInteger(port) ? port : 0, address: undefined, rtcpPort: undefined, rtcpMux: false });
    } else if (line.startsWith('c=')) {
      const address = line.split(' ')[2]?.split('/')[0];
      const current = media.at(-1);
      if (current === undefined) sessionAddress = address;
      else current.address = address;
    } else if (line.startsWith('a=rtcp:')) {
      const current = media.at(-1);
      const port = Number(line.slice(7).split(' ')[0]);
      if (current !== undefined && Number.isInteger(port)) current.rtcpPort = port;
    } else if (line === 'a=rtcp-mux') {
      const current = media.at(-1);
      if (current !== undefined) current.rtcpMux = true;
    }
  }
  const out = new Map<number, RelayedAddress>();
  for (const s of streams) {
    const m = media[s.index];
    const address = m?.address ?? sessionAddress;
    if (m === undefined || m.port === 0 || address === undefined) continue;
    if (s.rtcp === null && !s.rtcpMux) out.set(s.index, { address, rtpPort: m.port });
    else out.set(s.index, { address, rtpPort: m.port, rtcpPort: m.rtcpPort ?? (m.rtcpMux && s.rtcpMux ? m.port : m.port + 1) });
  }
  return out;
}

function attributeOf(value: string): MediaAttribute {
  const colon = value.indexOf(':');
  return colon < 0 ? { name: value, value: null } : { name: value.slice(0, colon), value: value.slice(colon + 1) };
}

/**
 * The relay's whole description of `streams` from the SDP it returned (a call with NG flags):
 * per relayed stream its m= line's profile and formats and its attribute lines, and the session's
 * attribute lines; a stream the relay answered with port 0 is left out. Addresses and ports are
 * read by readRelayed.
 */
export function readRelayDescription(sdp: string, streams: readonly MediaStream[]): RelayDescription {
  const sessionAttributes: MediaAttribute[] = [];
  const media: (RelayStreamDescription & { readonly port: number; readonly attributes: MediaAttribute[] })[] = [];
  for (const raw of sdp.split(/\r?\n/)) {
    const line = raw.trimEnd();
    if (line.startsWith('m=')) {
      const [, port, proto, ...formats] = line.slice(2).split(' ').filter((w) => w !== '');
      const p = Number(port?.split('/')[0]);
      media.push({ port: Number.isInteger(p) ? p : 0, proto: proto ?? '', formats, attributes: [] });
    } else if (line.startsWith('a=')) {
      const a = attributeOf(line.slice(2));
      const current = media.at(-1);
      (current === undefined ? sessionAttributes : current.attributes).push(a);
    }
  }
  const out = new Map<number, RelayStreamDescription>();
  for (const s of streams) {
    const m = media[s.index];
    if (m === undefined || m.port === 0 || m.proto === '') continue;
    out.set(s.index, { proto: m.proto, formats: m.formats, attributes: m.attributes });
  }
  return { sessionAttributes, streams: out };
}
