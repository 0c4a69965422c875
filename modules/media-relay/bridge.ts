/**
 * What a route asks of an NG relay (rtpengine) for one call beyond placing it: the NG flags of
 * each leg, and the DTLS-SRTP/RTP bridge between a WebRTC client and a plain RTP phone.
 *
 * Flags are named by the party that reads the description they go with, as Kamailio scripts
 * pick them by where a message goes: `toCallee` goes with every description the caller writes
 * (the INVITE's offer, its re-INVITEs, the ACK of a late offer), `toCaller` with every one the
 * callee writes. Each is written as rtpengine_offer() takes it (`'RTP/AVP ICE=remove
 * rtcp-mux-demux replace-origin'`: words are flags, `key=value` are keys, a value in brackets a
 * list, the transport words name `transport-protocol`) or as an object of the same keys.
 *
 * The bridge writes those flags itself: toward the WebRTC party `UDP/TLS/RTP/SAVPF ICE=force
 * DTLS=passive rtcp-mux-offer rtcp-mux-require SDES-off generate-mid`, toward the RTP phone
 * `RTP/AVP ICE=remove rtcp-mux-demux`. `auto` chooses it per call from the call's first
 * description: a description in a DTLS profile (UDP/TLS/RTP/SAVP[F]) read by a party on
 * UDP/TCP/TLS, or one in another profile read by a party on WS/WSS.
 */
import { isIP } from 'node:net';
import { z } from 'zod';
import type { MediaStream, SignalingTransport } from '../../core/module.ts';
import { bencodeText, isBencodeDict, isBencodeList, type BencodeValue } from './ng/bencode.ts';
import { canonicalName, NG_ICE_MODES, NG_TRANSPORT_PROTOCOLS, type NgIceMode, type NgTransportProtocol } from './ng/messages.ts';
import { parseRtppFlags } from './ng/rtpp-flags.ts';

export const NG_DTLS_MODES = ['off', 'no', 'disable', 'passive', 'active'] as const;
export const NG_RTCP_MUX = ['offer', 'require', 'demux', 'accept', 'reject'] as const;
export const BRIDGE_KINDS = ['webrtc-to-rtp', 'rtp-to-webrtc'] as const;
/** `ICE` list items besides the mode (rtpengine 11 and later take a list; 10.5 a mode alone). */
export const NG_ICE_ITEMS = ['trickle', 'ice2', 'lite-forward', 'lite-backward', 'lite-both', 'lite-off'] as const;

/** The party that wrote a description (backend.ts's CallSide; named here so that the two files do not import each other). */
type Writer = 'caller' | 'callee';

/** Which party of a call is the WebRTC client: the caller (`webrtc-to-rtp`) or the callee. */
export type BridgeKind = (typeof BRIDGE_KINDS)[number];
export type BridgeAsk = 'auto' | BridgeKind;

/** Another NG key, as given: a string, a list of strings, or a dictionary of those (`codec`). */
export type NgOptionValue = string | readonly string[] | Readonly<Record<string, string | readonly string[]>>;

/** The NG flags of one leg, as the relay's offer or answer gets them. */
export interface NgLegFlags {
  /** `flags`: `trust-address`, `symmetric`, `strict-source`, `generate-mid`, ... */
  readonly flags?: readonly string[];
  /** `replace`: `origin`, `session-connection`, ... */
  readonly replace?: readonly string[];
  readonly transportProtocol?: NgTransportProtocol | 'accept';
  readonly ice?: NgIceMode;
  /** Further `ICE` items: `trickle`, `lite-both`, ... */
  readonly iceOptions?: readonly string[];
  readonly dtls?: (typeof NG_DTLS_MODES)[number];
  readonly rtcpMux?: readonly (typeof NG_RTCP_MUX)[number][];
  /** `SDES`: `off`, `no-<suite>`, `only-<suite>`, ... */
  readonly sdes?: readonly string[];
  /** `direction`: the logical interfaces of the writer's side and of the reader's. */
  readonly direction?: readonly string[];
  readonly addressFamily?: 'IP4' | 'IP6';
  readonly mediaAddress?: string;
  readonly label?: string;
  /** Any other NG key, written as given (`DTLS-fingerprint`, `ICE-lite`, `codec`, `record call`...). */
  readonly options?: Readonly<Record<string, NgOptionValue>>;
}

/** The flags of both legs of a call. */
export interface CallLegFlags {
  readonly toCallee: NgLegFlags;
  readonly toCaller: NgLegFlags;
}

/** What a route asked for a call, validated. */
export interface LegAsk {
  readonly bridge?: BridgeAsk;
  readonly ng?: { readonly toCallee?: NgLegFlags; readonly toCaller?: NgLegFlags };
}

/** Keys the proxy writes for each command itself: a route may not set them. */
const RESERVED = new Set(['command', 'call-id', 'from-tag', 'to-tag', 'via-branch', 'sdp', 'received-from', 'rtpp-flags', 'supports']);

function reservedKey(key: string): boolean {
  return RESERVED.has(canonicalName(key));
}

const item = z.string().min(1).max(200);
const optionValue = z.union([item, z.array(item).max(64), z.record(item, z.union([item, z.array(item).max(64)]))]);

/** One leg's flags as an object (the string form is read into this). */
const legObject = z.object({
  flags: z.array(item).max(64).optional(),
  replace: z.array(item).max(16).optional(),
  transportProtocol: z.enum([...NG_TRANSPORT_PROTOCOLS, 'accept']).optional(),
  /** A mode, or a list of at most one mode and other ICE items. */
  ice: z.union([z.enum(NG_ICE_MODES), z.array(item).min(1).max(8)]).optional(),
  dtls: z.enum(NG_DTLS_MODES).optional(),
  rtcpMux: z.array(z.enum(NG_RTCP_MUX)).max(5).optional(),
  sdes: z.array(item).max(32).optional(),
  direction: z.array(item).max(2).optional(),
  addressFamily: z.enum(['IP4', 'IP6']).optional(),
  mediaAddress: z.string().refine((a) => isIP(a) !== 0, { message: 'expected an IP address' }).optional(),
  label: item.optional(),
  options: z.record(item, optionValue).refine((o) => !Object.keys(o).some(reservedKey), {
    message: `the proxy writes ${[...RESERVED].join(', ')} itself`,
  }).optional(),
}).strict().superRefine((o, ctx) => {
  if (!Array.isArray(o.ice)) return;
  const modes = o.ice.filter((i) => (NG_ICE_MODES as readonly string[]).includes(i.toLowerCase()));
  if (modes.length > 1) ctx.addIssue({ code: 'custom', path: ['ice'], message: `names two ICE modes: ${modes.join(', ')}` });
  const unknown = o.ice.filter((i) => !(NG_ICE_MODES as readonly string[]).includes(i.toLowerCase()) && !(NG_ICE_ITEMS as readonly string[]).includes(i.toLowerCase()));
  if (unknown.length > 0) ctx.addIssue({ code: 'custom', path: ['ice'], message: `expected an ICE mode (${NG_ICE_MODES.join(', ')}) or item (${NG_ICE_ITEMS.join(', ')}), not ${unknown.join(', ')}` });
});

type LegInput = z.input<typeof legObject>;

/** A value of rtpp-flags as text, a list of texts, or a dictionary of those. */
function optionOf(v: BencodeValue): NgOptionValue | string {
  const text = bencodeText(v);
  if (text !== undefined) return text;
  if (typeof v === 'number') return String(v);
  if (isBencodeList(v)) return v.map((x) => bencodeText(x) ?? '');
  if (isBencodeDict(v)) {
    const out: Record<string, string | string[]> = {};
    for (const [k, x] of v) {
      const t = bencodeText(x);
      out[k] = t !== undefined ? t : isBencodeList(x) ? x.map((y) => bencodeText(y) ?? '') : '';
    }
    return out;
  }
  return '';
}

function listOf(v: BencodeValue): string[] {
  const o = optionOf(v);
  return typeof o === 'string' ? [o] : Array.isArray(o) ? [...(o as readonly string[])] : [];
}

/**
 * Reads a leg's flags as Kamailio's rtpengine module takes them (rtpengine's rtpp-flags syntax):
 * `replace-*`, `rtcp-mux-*` and `SDES-*` words go to those lists, `internal`/`external` to
 * `direction`, the transport words (`RTP/AVP`, `UDP/TLS/RTP/SAVPF`, or `RTP`, `AVP`, `SRTP`,
 * `AVPF`, `DTLS` combined) to `transport-protocol`, other words to `flags`; `key=value` sets
 * the key. Keys the proxy writes itself (call-id, tags, sdp, received-from...) are refused.
 */
export function readLegFlags(text: string): { readonly ok: true; readonly value: LegInput } | { readonly ok: false; readonly reason: string } {
  const parsed = parseRtppFlags(text);
  if (!parsed.ok) return parsed;
  const flags: string[] = [];
  const replace: string[] = [];
  const rtcpMux: string[] = [];
  const sdes: string[] = [];
  const direction: string[] = [];
  const out: Record<string, unknown> = {};
  const options: Record<string, NgOptionValue> = {};
  for (const flag of parsed.value.flags) {
    const name = canonicalName(flag);
    if (name.startsWith('replace-')) replace.push(name.slice('replace-'.length));
    else if (name.startsWith('rtcp-mux-')) rtcpMux.push(name.slice('rtcp-mux-'.length));
    else if (name.startsWith('sdes-')) sdes.push(flag.slice('sdes-'.length));
    else flags.push(flag);
  }
  for (const [key, value] of parsed.value.entries) {
    const name = canonicalName(key);
    if (RESERVED.has(name)) return { ok: false, reason: `"${key}" is written by the proxy, not by the route` };
    const text1 = (): string => {
      const o = optionOf(value);
      return typeof o === 'string' ? o : '';
    };
    switch (name) {
      case 'flags': flags.push(...listOf(value)); break;
      case 'replace': replace.push(...listOf(value).map(canonicalName)); break;
      case 'rtcp-mux': rtcpMux.push(...listOf(value).map(canonicalName)); break;
      case 'sdes': sdes.push(...listOf(value)); break;
      case 'direction': direction.push(...listOf(value)); break;
      case 'transport-protocol': out.transportProtocol = text1(); break;
      case 'ice': {
        const items = listOf(value).map(canonicalName);
        out.ice = items.length === 1 && (NG_ICE_MODES as readonly string[]).includes(items[0]!) ? items[0] : items;
        break;
      }
      case 'dtls': out.dtls = canonicalName(text1()); break;
      case 'address-family': out.addressFamily = text1(); break;
      case 'media-address': out.mediaAddress = text1(); break;
      case 'label': out.label = text1(); break;
      default: options[key] = optionOf(value);
    }
  }
  if (flags.length > 0) out.flags = flags;
  if (replace.length > 0) out.replace = replace;
  if (rtcpMux.length > 0) out.rtcpMux = rtcpMux;
  if (sdes.length > 0) out.sdes = sdes;
  if (direction.length > 0) out.direction = direction;
  if (Object.keys(options).length > 0) out.options = options;
  return { ok: true, value: out as LegInput };
}

/** One leg's flags in a route: a flag string as rtpengine_offer() takes it, or the object. */
export const legFlagsSchema = z.preprocess((value, ctx) => {
  if (typeof value !== 'string') return value;
  const r = value.length > 4000 ? { ok: false as const, reason: 'longer than 4000 characters' } : readLegFlags(value);
  if (r.ok) return r.value;
  ctx.addIssue({ code: 'custom', message: r.reason });
  return z.NEVER;
}, legObject).transform(normalize);

/** `ICE` as one mode and the other items. */
function normalize(o: z.output<typeof legObject>): NgLegFlags {
  const { ice, ...rest } = o;
  if (ice === undefined) return rest;
  if (!Array.isArray(ice)) return { ...rest, ice };
  const mode = ice.map((i) => i.toLowerCase()).find((i) => (NG_ICE_MODES as readonly string[]).includes(i)) as NgIceMode | undefined;
  const iceOptions = ice.filter((i) => !(NG_ICE_MODES as readonly string[]).includes(i.toLowerCase()));
  return { ...rest, ...(mode === undefined ? {} : { ice: mode }), ...(iceOptions.length === 0 ? {} : { iceOptions }) };
}

/** What engageMediaProxy() takes besides the relay's name or set. */
export const legAskSchema = {
  /**
   * The DTLS-SRTP/RTP bridge: `auto` decides per call; `webrtc-to-rtp` (the caller is the
   * WebRTC client) and `rtp-to-webrtc` (the callee is) always bridge.
   */
  bridge: z.enum(['auto', ...BRIDGE_KINDS]).optional(),
  /** NG flags per leg, added to the bridge's (`flags` and `replace` add up; other keys replace the bridge's). */
  ng: z.object({ toCallee: legFlagsSchema.optional(), toCaller: legFlagsSchema.optional() }).strict().optional(),
};

/** Toward a WebRTC client: DTLS-SRTP, the relay its only ICE candidate, RTP and RTCP on one port. */
export const TOWARD_WEBRTC: NgLegFlags = {
  transportProtocol: 'UDP/TLS/RTP/SAVPF', ice: 'force', dtls: 'passive', rtcpMux: ['offer', 'require'], sdes: ['off'], flags: ['generate-mid'],
};
/**
 * Toward a plain RTP phone: RTP/AVP, no ICE, RTCP on a port of its own. `DTLS-reverse=passive`
 * keeps the relay passive toward the WebRTC party whose offer this goes with: otherwise it takes
 * the active role at the offer and starts its handshake before the answer has told the browser
 * anything, and Chromium, which then answers as the active side too, never completes one.
 */
export const TOWARD_RTP: NgLegFlags = { transportProtocol: 'RTP/AVP', ice: 'remove', rtcpMux: ['demux'], options: { 'DTLS-reverse': 'passive' } };

export function bridgeFlags(kind: BridgeKind): CallLegFlags {
  return kind === 'webrtc-to-rtp' ? { toCallee: TOWARD_RTP, toCaller: TOWARD_WEBRTC } : { toCallee: TOWARD_WEBRTC, toCaller: TOWARD_RTP };
}

/** The DTLS-SRTP profiles of WebRTC (RFC 8827: UDP/TLS/RTP/SAVPF). */
const DTLS_PROFILE = /^UDP\/TLS\/RTP\/SAVPF?$/i;

/**
 * `auto`: whether the call's first description needs the bridge, and which party is the WebRTC
 * client. `streams` are the description's relayed streams, `writer` the party that wrote it,
 * `readerTransport` how it travels to the other party (where the request goes, or back to the caller).
 */
export function autoBridge(streams: readonly MediaStream[], writer: Writer, readerTransport: SignalingTransport | undefined): BridgeKind | null {
  const writerWebRtc = streams.some((s) => DTLS_PROFILE.test(s.proto));
  const readerWebRtc = readerTransport === 'ws' || readerTransport === 'wss';
  if (writerWebRtc === readerWebRtc) return null;
  const callerWebRtc = writer === 'caller' ? writerWebRtc : readerWebRtc;
  return callerWebRtc ? 'webrtc-to-rtp' : 'rtp-to-webrtc';
}

/** The route's flags over the bridge's: `flags` and `replace` add up, every other key the route names replaces the bridge's. */
export function mergeLegFlags(base: NgLegFlags, over: NgLegFlags | undefined): NgLegFlags {
  if (over === undefined) return base;
  const union = (a: readonly string[] | undefined, b: readonly string[] | undefined): readonly string[] | undefined =>
    (a === undefined ? b : b === undefined ? a : [...new Set([...a, ...b])]);
  const flags = union(base.flags, over.flags);
  const replace = union(base.replace, over.replace);
  const options = base.options === undefined ? over.options : over.options === undefined ? base.options : { ...base.options, ...over.options };
  return {
    ...base, ...over,
    ...(flags === undefined ? {} : { flags }), ...(replace === undefined ? {} : { replace }), ...(options === undefined ? {} : { options }),
  };
}

/**
 * The flags of a call's legs, decided at its first description: null when the route asked for
 * none (or `auto` found no bridge needed and no flags were given), the relay then handled as
 * every other call. `kind` says which bridge was chosen, if any.
 */
export function decideLegs(
  ask: LegAsk | undefined, streams: readonly MediaStream[], writer: Writer, readerTransport: SignalingTransport | undefined,
): (CallLegFlags & { readonly kind: BridgeKind | null }) | null {
  if (ask === undefined) return null;
  const kind = ask.bridge === 'auto' ? autoBridge(streams, writer, readerTransport) : ask.bridge ?? null;
  if (kind === null && ask.ng === undefined) return null;
  const base = kind === null ? { toCallee: {}, toCaller: {} } : bridgeFlags(kind);
  return { kind, toCallee: mergeLegFlags(base.toCallee, ask.ng?.toCallee), toCaller: mergeLegFlags(base.toCaller, ask.ng?.toCaller) };
}
