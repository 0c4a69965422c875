import type { MediaAttribute, MediaOffer, RelayedStream } from '../../core/module.ts';
import { formatRelayCandidate, isIPv6Candidate, parseCandidate } from './candidate.ts';
import { relayCandidatePriority } from './priority.ts';

export type IceCandidateMode = 'none' | 'low-priority' | 'high-priority';

export interface IceHintOptions {
  /** Add the relay as a candidate, and how it should rank against the client's own. */
  readonly candidate: IceCandidateMode;
  /** Remove IPv6 candidates (a leg that cannot reach IPv6). */
  readonly dropIPv6Candidates: boolean;
  /** Remove ICE altogether from this SDP (bridging an ICE client to a non-ICE one). */
  readonly removeIce: boolean;
}

const ICE_ATTRIBUTES = new Set(['ice-ufrag', 'ice-pwd', 'ice-options', 'ice-lite', 'ice-mismatch', 'ice-pacing', 'candidate', 'remote-candidates', 'end-of-candidates']);
const FOUNDATION = 'switchyard';

const isIce = (a: MediaAttribute): boolean => ICE_ATTRIBUTES.has(a.name);
const isCandidate = (a: MediaAttribute): a is MediaAttribute & { value: string } => a.name === 'candidate' && a.value !== null;

/**
 * ICE hints for a description the relay took over (MediaProxy's ice_candidate): streams that
 * carry ICE (`a=ice-ufrag`, media or session level) get an `a=candidate ... typ relay` for the
 * relay address and ports (RTP component 1, RTCP component 2 unless rtcp-mux), ranked low or
 * high by RFC 8445 priority; IPv6 candidates or all of ICE can be removed. Streams without ICE
 * are not touched. Returns whether anything changed.
 */
export function applyIceHints(offer: MediaOffer, streams: readonly RelayedStream[], o: IceHintOptions): boolean {
  let changed = false;
  if (o.removeIce) {
    if (offer.removeAttributes('session', isIce) > 0) changed = true;
    for (const s of offer.streams) if (offer.removeAttributes(s.index, isIce) > 0) changed = true;
    return changed;
  }
  const sessionIce = offer.attributes('session').some((a) => a.name === 'ice-ufrag');
  for (const { stream, to } of streams) {
    const i = stream.index;
    if (stream.rtp === null || !(sessionIce || offer.attributes(i).some((a) => a.name === 'ice-ufrag'))) continue;
    if (o.dropIPv6Candidates && offer.removeAttributes(i, (a) => isCandidate(a) && isIPv6Candidate(a.value)) > 0) changed = true;
    if (o.candidate === 'none') continue;
    const attributes = offer.attributes(i);
    const existing = (component: number): number[] => attributes
      .filter(isCandidate)
      .map((a) => parseCandidate(a.value))
      .filter((c) => c !== null && c.component === component)
      .map((c) => c!.priority);
    const rtcpPort = stream.rtcpMux ? undefined : to.rtcpPort;
    const added: MediaAttribute[] = [];
    for (const component of rtcpPort === undefined ? [1] : [1, 2]) {
      added.push({
        name: 'candidate',
        value: formatRelayCandidate({
          foundation: FOUNDATION, component, priority: relayCandidatePriority(o.candidate, component, existing(component)),
          address: to.address, port: component === 1 ? to.rtpPort : rtcpPort!,
          raddr: stream.rtp.address, rport: component === 1 ? stream.rtp.port : stream.rtp.port + 1,
        }),
      });
    }
    // After the client's candidates, before a=end-of-candidates.
    const names = attributes.map((a) => a.name);
    const end = names.indexOf('end-of-candidates');
    const lastCandidate = names.lastIndexOf('candidate');
    offer.insertAttributes(i, end >= 0 ? end : lastCandidate >= 0 ? lastCandidate + 1 : attributes.length, added);
    changed = true;
  }
  return changed;
}
