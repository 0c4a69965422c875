/**
 * A relay node's calls as NG's `query` and `delete` report them: per leg (SIP tag), per media,
 * RTP and RTCP apart, with what the relay received from that leg.
 */
import type { CallSide } from '../../modules/media-relay/backend.ts';
import type { NgCallStats, NgCounters, NgEndpoint, NgMediaStats, NgStreamStats } from '../../modules/media-relay/ng/call-stats.ts';
import type { SessionCounters } from '../../modules/media-relay/session.ts';
import type { RelayedAddress } from '../../core/model/media.ts';
import { unmapIPv4 } from '../../core/lib/address.ts';

/** What the node recorded of one leg's description of a stream. */
export interface LegMedia {
  readonly kind: string;
  readonly proto: string;
  /** Where the leg's SDP said it receives. */
  readonly sdpAddress: { readonly address: string; readonly port: number; readonly rtcpPort: number | null };
  /** The relay's address and ports written into the other leg's SDP. */
  readonly relayed: RelayedAddress;
}

export interface NodeLeg {
  readonly tag: string;
  readonly side: CallSide;
  readonly label: string | undefined;
  /** Unix ms. */
  readonly created: number;
  readonly medias: Map<number, LegMedia>;
}

export interface NodeCall {
  readonly callId: string;
  /** The first offer's from-tag: that leg is the caller (session party a), any other the callee (b). */
  readonly callerTag: string;
  readonly created: number;
  lastSignal: number;
  readonly legs: Map<string, NodeLeg>;
}

const ZERO: NgCounters = { packets: 0, bytes: 0, errors: 0 };

function add(a: NgCounters, b: NgCounters): NgCounters {
  return { packets: a.packets + b.packets, bytes: a.bytes + b.bytes, errors: a.errors + b.errors };
}

function endpoint(address: string, port: number): NgEndpoint | undefined {
  if (address === '' || port === 0) return undefined;
  const bare = unmapIPv4(address);
  return { family: bare.includes(':') ? 'IPv6' : 'IPv4', address: bare, port };
}

function seconds(ms: number): number {
  return Math.floor(ms / 1000);
}

/** The counters of a call's sessions, per leg and in total. */
export function nodeCallStats(call: NodeCall, sessions: readonly SessionCounters[]): NgCallStats {
  let rtp = ZERO;
  let rtcp = ZERO;
  for (const s of sessions) {
    const got = add({ packets: s.stats.parties[0]!.packets, bytes: s.stats.parties[0]!.bytes, errors: 0 }, { packets: s.stats.parties[1]!.packets, bytes: s.stats.parties[1]!.bytes, errors: s.stats.sendErrors });
    if (s.key.component === 'rtcp') rtcp = add(rtcp, got);
    else rtp = add(rtp, got);
  }
  const other = (leg: NodeLeg): string | undefined => [...call.legs.values()].find((l) => l.side !== leg.side)?.tag;
  const tags = [...call.legs.values()].map((leg) => {
    const party = leg.side === 'caller' ? 0 : 1;
    const medias: NgMediaStats[] = [...leg.medias].sort(([a], [b]) => a - b).map(([index, m]) => {
      const streams: NgStreamStats[] = [];
      for (const s of sessions) {
        if (s.key.stream !== index) continue;
        const p = s.stats.parties[party]!;
        const isRtcp = s.key.component === 'rtcp';
        const advertisedPort = isRtcp ? m.sdpAddress.rtcpPort ?? m.sdpAddress.port + 1 : m.sdpAddress.port;
        streams.push({
          localPort: p.relayPort,
          endpoint: endpoint(p.media.address, p.media.port),
          advertisedEndpoint: endpoint(m.sdpAddress.address, advertisedPort),
          flags: [isRtcp ? 'RTCP' : 'RTP', ...(p.latched ? ['confirmed', 'filled'] : [])],
          stats: { packets: p.packets, bytes: p.bytes, errors: 0 },
        });
      }
      return { index: index + 1, type: m.kind, protocol: m.proto, flags: streams.length > 0 ? ['initialized'] : [], streams };
    });
    return { tag: leg.tag, label: leg.label, created: seconds(leg.created), inDialogueWith: other(leg), medias };
  });
  return { created: seconds(call.created), lastSignal: seconds(call.lastSignal), tags, totals: { rtp, rtcp } };
}
