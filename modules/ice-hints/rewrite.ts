import type { Sdp, SdpLine } from '../../core/dialects/sip/codec/sdp.ts';
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

/** A stream the relay took over: its relay ports and the address it replaced. */
export interface RelayedStream {
  readonly index: number;
  readonly rtpPort: number;
  readonly rtcpPort: number;
  readonly rtcpMux: boolean;
  readonly raddr: string;
  readonly rport: number;
}

const ICE_ATTRIBUTES = new Set(['ice-ufrag', 'ice-pwd', 'ice-options', 'ice-lite', 'ice-mismatch', 'ice-pacing', 'candidate', 'remote-candidates', 'end-of-candidates']);
const FOUNDATION = 'switchyard';

function attrName(l: SdpLine): string | null {
  if (l.type !== 'a') return null;
  const colon = l.value.indexOf(':');
  return colon < 0 ? l.value : l.value.slice(0, colon);
}

function hasAttr(lines: readonly SdpLine[], name: string): boolean {
  return lines.some((l) => attrName(l) === name);
}

/**
 * ICE hints for one SDP the relay rewrote (MediaProxy's ice_candidate): streams that carry
 * ICE (`a=ice-ufrag`, media or session level) get an `a=candidate ... typ relay` for the relay
 * address and ports (RTP component 1, RTCP component 2 unless rtcp-mux), ranked low or high
 * by RFC 8445 priority; IPv6 candidates or all of ICE can be removed. Streams without ICE are
 * not touched. Returns whether anything changed.
 */
export function applyIceHints(sdp: Sdp, streams: readonly RelayedStream[], advertise: string, o: IceHintOptions): boolean {
  let changed = false;
  const drop = (lines: SdpLine[], pred: (l: SdpLine) => boolean): void => {
    for (let k = lines.length - 1; k >= 0; k--) {
      if (pred(lines[k]!)) {
        lines.splice(k, 1);
        changed = true;
      }
    }
  };
  if (o.removeIce) {
    const isIce = (l: SdpLine): boolean => ICE_ATTRIBUTES.has(attrName(l) ?? '');
    drop(sdp.session, isIce);
    for (const m of sdp.media) drop(m.lines, isIce);
    return changed;
  }
  const sessionIce = hasAttr(sdp.session, 'ice-ufrag');
  for (const s of streams) {
    const m = sdp.media[s.index];
    if (m === undefined || !(sessionIce || hasAttr(m.lines, 'ice-ufrag'))) continue;
    if (o.dropIPv6Candidates) drop(m.lines, (l) => attrName(l) === 'candidate' && isIPv6Candidate(l.value.slice('candidate:'.length)));
    if (o.candidate === 'none') continue;
    const existing = (component: number): number[] => m.lines
      .filter((l) => attrName(l) === 'candidate')
      .map((l) => parseCandidate(l.value.slice('candidate:'.length)))
      .filter((c) => c !== null && c.component === component)
      .map((c) => c!.priority);
    const added: SdpLine[] = [];
    const components = s.rtcpMux ? [1] : [1, 2];
    for (const component of components) {
      added.push({
        type: 'a',
        value: `candidate:${formatRelayCandidate({
          foundation: FOUNDATION, component, priority: relayCandidatePriority(o.candidate, component, existing(component)),
          address: advertise, port: component === 1 ? s.rtpPort : s.rtcpPort, raddr: s.raddr, rport: component === 1 ? s.rport : s.rport + 1,
        })}`,
      });
    }
    // After the client's candidates, before a=end-of-candidates.
    const end = m.lines.findIndex((l) => attrName(l) === 'end-of-candidates');
    const lastCandidate = m.lines.map(attrName).lastIndexOf('candidate');
    const trailingEmpty = m.lines.length > 1 && m.lines[m.lines.length - 1]!.type === '' ? 1 : 0;
    const at = end >= 0 ? end : lastCandidate >= 0 ? lastCandidate + 1 : m.lines.length - trailingEmpty;
    m.lines.splice(at, 0, ...added);
    changed = true;
  }
  return changed;
}
