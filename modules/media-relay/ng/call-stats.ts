/**
 * A call's counters as `query` returns them (and `delete`, unless told `fast`): per party
 * (SIP tag), per media, per stream (RTP and RTCP), with rtpengine's key names. A relay node
 * builds the dictionary from the typed form; a client reads it back, leniently, since
 * rtpengine versions add keys and leave some out.
 */
import { type BencodeDict, type BencodeInputObject, type BencodeValue, bencodeText, isBencodeDict, isBencodeList } from './bencode.ts';

/** Received from the stream's endpoint (rtpengine's `stats`). */
export interface NgCounters {
  readonly packets: number;
  readonly bytes: number;
  readonly errors: number;
}

export interface NgEndpoint {
  readonly family: 'IPv4' | 'IPv6';
  readonly address: string;
  readonly port: number;
}

export interface NgStreamStats {
  /** The relay's port for this stream; absent on an inactive stream. */
  readonly localPort?: number;
  /** Where the relay forwards to (learnt), and where the SDP said (advertised). */
  readonly endpoint?: NgEndpoint;
  readonly advertisedEndpoint?: NgEndpoint;
  /** Unix seconds. */
  readonly lastPacket?: number;
  /** `RTP` or `RTCP`, and state such as `filled`, `confirmed`. */
  readonly flags: readonly string[];
  readonly stats: NgCounters;
}

export interface NgMediaStats {
  /** From 1, in SDP order. */
  readonly index: number;
  readonly type: string;
  readonly protocol?: string;
  readonly flags: readonly string[];
  readonly streams: readonly NgStreamStats[];
}

/** One party of the call: the SIP tag it signalled with. */
export interface NgTagStats {
  readonly tag: string;
  readonly label?: string;
  /** Unix seconds. */
  readonly created?: number;
  readonly inDialogueWith?: string;
  readonly medias: readonly NgMediaStats[];
}

export interface NgCallStats {
  /** Unix seconds. */
  readonly created?: number;
  readonly lastSignal?: number;
  readonly tags: readonly NgTagStats[];
  readonly totals: { readonly rtp: NgCounters; readonly rtcp: NgCounters };
}

const ZERO_COUNTERS: NgCounters = { packets: 0, bytes: 0, errors: 0 };

function addCounters(a: NgCounters, b: NgCounters): NgCounters {
  return { packets: a.packets + b.packets, bytes: a.bytes + b.bytes, errors: a.errors + b.errors };
}

/**
 * Whether a stream carries RTCP only: flagged `RTCP` and not `RTP`. With rtcp-mux rtpengine flags
 * the one stream that carries both `RTP` and `RTCP` (and lists an unused `fallback RTCP` stream).
 */
export function isRtcpStream(stream: NgStreamStats): boolean {
  return stream.flags.includes('RTCP') && !stream.flags.includes('RTP');
}

/** What one party sent, over all its media: RTP and RTCP apart (a stream of RTCP only is RTCP; an rtcp-mux stream counts as RTP). */
export function legTotals(tag: NgTagStats): { readonly rtp: NgCounters; readonly rtcp: NgCounters } {
  let rtp = ZERO_COUNTERS;
  let rtcp = ZERO_COUNTERS;
  for (const media of tag.medias) {
    for (const stream of media.streams) {
      if (isRtcpStream(stream)) rtcp = addCounters(rtcp, stream.stats);
      else rtp = addCounters(rtp, stream.stats);
    }
  }
  return { rtp, rtcp };
}

// ---------------------------------------------------------------------------------------------
// Building (relay side)

function countersDict(c: NgCounters): BencodeInputObject {
  return { packets: c.packets, bytes: c.bytes, errors: c.errors };
}

function endpointDict(e: NgEndpoint | undefined): BencodeInputObject | undefined {
  return e === undefined ? undefined : { family: e.family, address: e.address, port: e.port };
}

function streamDict(s: NgStreamStats): BencodeInputObject {
  return {
    'local port': s.localPort,
    endpoint: endpointDict(s.endpoint),
    'advertised endpoint': endpointDict(s.advertisedEndpoint),
    'last packet': s.lastPacket,
    flags: s.flags,
    stats: countersDict(s.stats),
  };
}

function mediaDict(m: NgMediaStats): BencodeInputObject {
  return { index: m.index, type: m.type, protocol: m.protocol, flags: m.flags, streams: m.streams.map(streamDict) };
}

function tagDict(t: NgTagStats): BencodeInputObject {
  return { tag: t.tag, label: t.label, created: t.created, 'in dialogue with': t.inDialogueWith, medias: t.medias.map(mediaDict) };
}

/** The fields `query` (and `delete`) add to an `ok` result. */
export function callStatsFields(s: NgCallStats): BencodeInputObject {
  const tags = new Map<string, BencodeInputObject>();
  for (const t of s.tags) tags.set(t.tag, tagDict(t));
  return {
    created: s.created,
    'last signal': s.lastSignal,
    tags,
    totals: { RTP: countersDict(s.totals.rtp), RTCP: countersDict(s.totals.rtcp) },
  };
}

// ---------------------------------------------------------------------------------------------
// Reading (client side)

function int(d: BencodeDict, key: string): number | undefined {
  const v = d.get(key);
  return typeof v === 'number' ? v : undefined;
}

function dicts(v: BencodeValue | undefined): BencodeDict[] {
  if (isBencodeList(v)) return v.filter(isBencodeDict);
  if (isBencodeDict(v)) return [...v.values()].filter(isBencodeDict);
  return [];
}

function texts(v: BencodeValue | undefined): string[] {
  if (!isBencodeList(v)) return [];
  const out: string[] = [];
  for (const item of v) {
    const s = bencodeText(item);
    if (s !== undefined) out.push(s);
  }
  return out;
}

function counters(v: BencodeValue | undefined): NgCounters {
  if (!isBencodeDict(v)) return ZERO_COUNTERS;
  return { packets: int(v, 'packets') ?? 0, bytes: int(v, 'bytes') ?? 0, errors: int(v, 'errors') ?? 0 };
}

function endpoint(v: BencodeValue | undefined): NgEndpoint | undefined {
  if (!isBencodeDict(v)) return undefined;
  const family = bencodeText(v.get('family'));
  const address = bencodeText(v.get('address'));
  const port = int(v, 'port');
  if ((family !== 'IPv4' && family !== 'IPv6') || address === undefined || port === undefined) return undefined;
  return { family, address, port };
}

function stream(d: BencodeDict): NgStreamStats {
  return {
    localPort: int(d, 'local port'),
    endpoint: endpoint(d.get('endpoint')),
    advertisedEndpoint: endpoint(d.get('advertised endpoint')),
    lastPacket: int(d, 'last packet'),
    flags: texts(d.get('flags')),
    stats: counters(d.get('stats')),
  };
}

function media(d: BencodeDict): NgMediaStats {
  return {
    index: int(d, 'index') ?? 0,
    type: bencodeText(d.get('type')) ?? '',
    protocol: bencodeText(d.get('protocol')),
    flags: texts(d.get('flags')),
    streams: dicts(d.get('streams')).map(stream),
  };
}

function tag(key: string, d: BencodeDict): NgTagStats {
  return {
    tag: bencodeText(d.get('tag')) ?? key,
    label: bencodeText(d.get('label')),
    created: int(d, 'created'),
    inDialogueWith: bencodeText(d.get('in dialogue with')),
    medias: dicts(d.get('medias')).map(media),
  };
}

/** Reads the counters of a `query` (or `delete`) result; what is missing reads as empty or zero. */
export function parseCallStats(d: BencodeDict): NgCallStats {
  const tags: NgTagStats[] = [];
  const tagsDict = d.get('tags');
  if (isBencodeDict(tagsDict)) {
    for (const [key, value] of tagsDict) if (isBencodeDict(value)) tags.push(tag(key, value));
  }
  const totals = d.get('totals');
  return {
    created: int(d, 'created'),
    lastSignal: int(d, 'last signal') ?? int(d, 'last_signal'),
    tags,
    totals: isBencodeDict(totals) ? { rtp: counters(totals.get('RTP')), rtcp: counters(totals.get('RTCP')) } : { rtp: ZERO_COUNTERS, rtcp: ZERO_COUNTERS },
  };
}
