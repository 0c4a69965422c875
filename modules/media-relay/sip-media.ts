import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import type { Endpoint } from '../../core/lib/address.ts';
import type { Logger } from '../../core/lib/log.ts';
import type { Request } from '../../core/model/message.ts';
import { RejectRequest } from '../../core/kernel/hooks.ts';
import { getHeader, type SipMessage } from '../../core/dialects/sip/codec/message.ts';
import {
  getAttributes, getConnection, hasAttribute, parseSdp, sdpToBuffer, setConnectionAddress, setMediaPort, setRtcp, type Sdp,
} from '../../core/dialects/sip/codec/sdp.ts';
import type { MediaRelay } from './relay/media-relay.ts';
import type { RelaySession } from './relay/engine.ts';
import type { RelayedStream } from '../ice-hints/rewrite.ts';

/** Which end of the call an SDP came from: the caller (a) or the callee (b). */
export type Side = 'a' | 'b';

interface StreamPair {
  readonly rtp: RelaySession;
  readonly rtcp: RelaySession;
}

/** The relayed streams of one SIP call, by m= line index. */
export interface SipMediaCall {
  readonly callId: string;
  readonly callerTag: string | undefined;
  readonly streams: Map<number, Promise<StreamPair | null>>;
}

const RELAYED_PROTO = /(^|\/)(RTP|UDP)(\/|$)/i;
const UNKNOWN: Endpoint = { address: '', port: 0 };

export function isSdp(sip: SipMessage): boolean {
  if (sip.body.length === 0) return false;
  const ct = getHeader(sip, 'content-type');
  return ct !== undefined && ct.toLowerCase().split(';')[0]!.trim() === 'application/sdp';
}

function bareAddress(c: string): string {
  return c.split('/')[0]!;
}

/**
 * Rewrites the SDP of one message so every supported stream goes through the relay
 * (RFC 4566, RFC 3264): `c=` (session and media level) becomes the relay's advertised
 * address, each `m=` port the relay port of that stream, `a=rtcp` its RTCP port; the
 * address the SDP gave is what the relay expects that side to send from.
 * Port-0 and non-RTP streams are left alone. Returns false when the body is not SDP or is malformed.
 */
/** Extra rewriting of an SDP the relay took over (ICE hints), given the streams it relayed. */
export type SdpHints = (sdp: Sdp, streams: readonly RelayedStream[]) => void;

export async function rewriteSdp(sip: SipMessage, side: Side, call: SipMediaCall, relay: MediaRelay, advertise: string, log: Logger, hints?: SdpHints): Promise<boolean> {
  if (!isSdp(sip)) return false;
  const parsed = parseSdp(sip.body);
  if (!parsed.ok) {
    // A request can be refused; a reply cannot, and passes unchanged (its media will not be relayed).
    if (sip.type === 'request') throw new RejectRequest(400, 'Malformed SDP');
    log.warn({ callId: call.callId, reason: parsed.reason }, 'SDP not rewritten: it does not parse');
    return false;
  }
  const sdp: Sdp = parsed.sdp;
  const relayed = new Set<number>();
  const streams: RelayedStream[] = [];
  for (let i = 0; i < sdp.media.length; i++) {
    const m = sdp.media[i]!;
    if (m.port === 0 || !RELAYED_PROTO.test(m.proto)) continue;
    const conn = getConnection(sdp, i);
    if (conn === undefined) continue;
    const address = await addressOf(bareAddress(conn.address));
    if (address === null) {
      log.warn({ callId: call.callId, stream: i, host: conn.address }, 'stream not relayed: its connection address does not resolve');
      continue;
    }
    const rtcp = rtcpOf(getAttributes(sdp, i, 'rtcp')[0], hasAttribute(sdp, i, 'rtcp-mux'), m.port);
    const rtcpAddress = rtcp.address !== undefined ? await addressOf(rtcp.address) : address;
    let pending = call.streams.get(i);
    if (pending === undefined) {
      pending = relay.openPair(`${call.callId}#${i}`, { name: 'caller', address: UNKNOWN }, { name: 'callee', address: UNKNOWN });
      call.streams.set(i, pending);
    }
    const pair = await pending;
    if (pair === null) {
      call.streams.delete(i); // a later offer tries again; the relay logged the full range
      continue;
    }
    pair.rtp.setExpected(side, { address, port: m.port });
    pair.rtcp.setExpected(side, { address: rtcpAddress ?? address, port: rtcp.port });
    setMediaPort(sdp, i, pair.rtp.port);
    if (rtcp.present) setRtcp(sdp, i, pair.rtcp.port, advertise);
    relayed.add(i);
    streams.push({ index: i, rtpPort: pair.rtp.port, rtcpPort: pair.rtcp.port, rtcpMux: hasAttribute(sdp, i, 'rtcp-mux'), raddr: address, rport: m.port });
  }
  if (relayed.size === 0) return false;
  pointAtRelay(sdp, relayed, advertise);
  hints?.(sdp, streams);
  sip.body = sdpToBuffer(sdp);
  return true;
}

/**
 * Rewrites the connection lines that the relayed streams use, and only those: a stream left
 * alone (non-RTP, or no port pair) must still reach its own address. A relayed stream that
 * shares the session-level c= with such a stream gets a media-level c= of its own.
 */
function pointAtRelay(sdp: Sdp, relayed: ReadonlySet<number>, advertise: string): void {
  const hasOwn = (i: number): boolean => sdp.media[i]!.lines.some((l) => l.type === 'c');
  const othersNeedSession = sdp.media.some((m, i) => !relayed.has(i) && m.port !== 0 && !hasOwn(i));
  if (!othersNeedSession && getConnection(sdp, 'session') !== undefined) setConnectionAddress(sdp, advertise, 'session');
  for (const i of relayed) {
    if (hasOwn(i) || othersNeedSession || getConnection(sdp, 'session') === undefined) setConnectionAddress(sdp, advertise, i);
  }
}

/** `a=rtcp:<port> [IN IP4 <address>]` (RFC 3605), else RTP+1, or the RTP port itself with rtcp-mux. */
function rtcpOf(attr: string | undefined, mux: boolean, rtpPort: number): { port: number; address?: string; present: boolean } {
  const m = attr === undefined ? null : /^(\d+)(?:\s+IN\s+IP[46]\s+(\S+))?/.exec(attr);
  if (m !== null) return m[2] !== undefined ? { port: Number(m[1]), address: m[2], present: true } : { port: Number(m[1]), present: true };
  return { port: mux ? rtpPort : rtpPort + 1, present: false };
}

/** An IP address as the relay compares it; a host name in c= is resolved. */
async function addressOf(host: string): Promise<string | null> {
  if (isIP(host) !== 0) return host;
  try {
    return (await lookup(host)).address;
  } catch {
    return null;
  }
}

/** The side a request comes from: the caller's From tag, or the callee's. */
export function requestSide(req: Request, call: SipMediaCall): Side {
  return call.callerTag === undefined || req.from.tag === call.callerTag ? 'a' : 'b';
}

export function otherSide(s: Side): Side {
  return s === 'a' ? 'b' : 'a';
}
