/**
 * An NG relay's counters of a call (`query`, `delete`) as the module reports counters: one
 * SessionCounters per stream and component, the caller's leg as party a, the callee's as b.
 */
import { isRtcpStream, type NgCallStats, type NgStreamStats, type NgTagStats } from '../ng/call-stats.ts';
import { compareSessionKeys, type PartyStats, type SessionCounters } from '../session.ts';

export interface CallTags {
  readonly caller: string;
  readonly callee: string | undefined;
}

function party(name: string, role: PartyStats['role'], s: NgStreamStats | undefined): PartyStats {
  const media = s?.endpoint ?? s?.advertisedEndpoint;
  return {
    name,
    role,
    // A leg's local port is where the relay takes that leg's media: the port the party sends to.
    relayPort: s?.localPort ?? 0,
    media: { address: media?.address ?? '', port: media?.port ?? 0 },
    latched: s?.flags.includes('confirmed') ?? false,
    packets: s?.stats.packets ?? 0,
    bytes: s?.stats.bytes ?? 0,
  };
}

/** A leg's stream of one media (1-based index in NG) and component (an rtcp-mux stream is the RTP one). */
function streamOf(tag: NgTagStats | undefined, media: number, rtcp: boolean): NgStreamStats | undefined {
  const m = tag?.medias.find((x) => x.index === media);
  return m?.streams.find((s) => isRtcpStream(s) === rtcp);
}

export function sessionCounters(callId: string, stats: NgCallStats, tags: CallTags, now = Date.now()): SessionCounters[] {
  const caller = stats.tags.find((t) => t.tag === tags.caller);
  const callee = stats.tags.find((t) => t.tag === tags.callee) ?? stats.tags.find((t) => t.tag !== tags.caller);
  const durationMs = stats.created === undefined ? 0 : Math.max(0, now - stats.created * 1000);
  const indices = new Set<number>();
  for (const t of [caller, callee]) for (const m of t?.medias ?? []) if (m.streams.length > 0) indices.add(m.index);
  const out: SessionCounters[] = [];
  for (const index of indices) {
    for (const rtcp of [false, true]) {
      const a = streamOf(caller, index, rtcp);
      const b = streamOf(callee, index, rtcp);
      if (a === undefined && b === undefined) continue;
      out.push({
        key: { callId, stream: index - 1, component: rtcp ? 'rtcp' : 'rtp' },
        stats: { port: a?.localPort ?? b?.localPort ?? 0, durationMs, parties: [party(tags.caller, 'caller', a), party(tags.callee ?? '', 'callee', b)], strangers: 0, sendErrors: 0 },
      });
    }
  }
  return out.sort((x, y) => compareSessionKeys(x.key, y.key));
}
