/**
 * What an NG offer or answer does to the SDP one leg sends, around the relay taking its streams
 * over: which streams the relay takes, where their media is expected from, and the rewrites
 * rtpengine's flags ask for (origin, ICE).
 */
import { isIP } from 'node:net';
import type { MediaStream } from '../../core/model/media.ts';
import { setOriginAddress } from '../../core/dialects/sip/codec/sdp.ts';
import type { SdpMediaOffer } from '../../core/dialects/sip/media-offer.ts';
import type { NgAnswerRequest, NgOfferRequest } from '../../modules/media-relay/ng/messages.ts';
import { familyOfAddress, type Family } from './advertise.ts';

/** Transports the relay forwards: RTP in any profile, or bare UDP. */
const RELAYED_PROTO = /(^|\/)(RTP|UDP)(\/|$)/i;

/** ICE lines: a relay that is no ICE agent removes them, or the parties would pair around it. */
const ICE_ATTRIBUTES = new Set(['candidate', 'remote-candidates', 'end-of-candidates', 'ice-ufrag', 'ice-pwd', 'ice-options', 'ice-lite', 'ice-mismatch', 'ice-pacing']);

/** A stream the relay takes over, with where its party's media is expected from. */
export type LegStream = MediaStream;

/**
 * The streams of a description the relay takes over: enabled, RTP or UDP, at an IP literal (a
 * name in c= is never resolved). Unless `trust-address` is given, the party is expected at
 * the address the SIP message came from (`received-from`) with the ports its SDP names, as
 * rtpengine does for parties behind NAT; latching then learns the ports.
 */
export function relayableStreams(offer: SdpMediaOffer, request: NgOfferRequest | NgAnswerRequest): LegStream[] {
  const trusted = request.flags.has('trust-address') || request.receivedFrom === undefined;
  const out: LegStream[] = [];
  for (const s of offer.streams) {
    if (s.disabled || s.rtp === null || !RELAYED_PROTO.test(s.proto) || isIP(s.rtp.address) === 0) continue;
    if (trusted) {
      out.push(s);
      continue;
    }
    const at = request.receivedFrom!.address;
    out.push({ ...s, rtp: { address: at, port: s.rtp.port }, rtcp: s.rtcp === null ? null : { address: at, port: s.rtcp.port } });
  }
  return out;
}

/**
 * The family of the SDP the other leg will read: `address-family` when given, else the family
 * of the description's first relayable stream (an IPv4 offer is answered in IPv4).
 */
export function targetFamily(request: NgOfferRequest | NgAnswerRequest, streams: readonly LegStream[]): Family {
  if (request.addressFamily !== undefined) return request.addressFamily;
  const first = streams[0]?.rtp?.address;
  return (first === undefined ? null : familyOfAddress(first)) ?? 'IP4';
}

/** Removes every ICE attribute, session and media level; returns how many lines went. */
export function removeIce(offer: SdpMediaOffer): number {
  let n = offer.removeAttributes('session', (a) => ICE_ATTRIBUTES.has(a.name));
  for (const s of offer.streams) n += offer.removeAttributes(s.index, (a) => ICE_ATTRIBUTES.has(a.name));
  return n;
}

/** `replace: origin`: the o= line names the relay, so the SDP no longer says where the party is. */
export function replaceOrigin(offer: SdpMediaOffer, address: string): void {
  setOriginAddress(offer.sdp, address);
}
