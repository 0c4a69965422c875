import { isIP } from 'node:net';
import { z } from 'zod';
import { defaultAdvertise, defineModule, fn, OpenMap, optional, required } from '../../core/module.ts';
import type { RelayBackend, RelayChoice } from './backend.ts';
import { legAskSchema, type BridgeAsk, type LegAsk, type NgLegFlags } from './bridge.ts';
import { EmbeddedBackend, type RelayAddresses } from './embedded-backend.ts';
import { NgClient } from './ng/client.ts';
import { RemoteCallStore } from './remote/call-store.ts';
import { NgBackend } from './remote/ng-backend.ts';
import { parseNgAddress } from './remote/relay-address.ts';
import { RelaySet, type RemoteRelay } from './remote/relay-set.ts';
import { SourceSets, validSourceSets } from './remote/source-sets.ts';
import { byeBoth, endableDialog, type EndableDialog } from './call-ender.ts';
import { createMediaHandler, type FollowedCall, type MediaAsks } from './media-handler.ts';
import type { DialogFollow, MediaHints } from './module-apis.ts';
import { mediaOperations } from './operations.ts';
import { PortBudget } from './port-budget.ts';
import { MediaRelay } from './relay/media-relay.ts';
import { parsePortRange } from './relay/port-pool.ts';
import { createMediaEngine } from './relay/select-engine.ts';
import type { SessionStats } from './session.ts';

export type { SessionStats };
export type { PartyStats } from './session.ts';
export type { RelayBackend, CallMediaStats, RelayTotals, PartyMedia, CallSide, RelayChoice } from './backend.ts';
export type { SessionKey, SessionComponent } from './session.ts';
export type { BridgeAsk, BridgeKind, NgLegFlags } from './bridge.ts';

export type EndMediaResult =
  | { readonly ok: true; readonly stats: SessionStats }
  /** `not-a-party`: the request is not from a party of the call's dialog (its tags or its address): nothing ended. */
  | { readonly ok: false; readonly reason: 'no-session' | 'not-a-party' };

export interface MediaRelayApi {
  readonly backend: RelayBackend;
}

const schema = z.object({
  /** Media ports, `min-max`. Ports another program holds are skipped. */
  ports: z.string().refine((s) => parsePortRange(s) !== null, { message: 'expected a port range like "5000-5999" (1-65535, min <= max)' }).default('5000-5999'),
  /** Address media sockets bind to: `::` is dual-stack; an IPv4 literal makes IPv4-only sockets. */
  host: z.string().min(1).default('::'),
  /**
   * What forwards the datagrams: `native` (worker threads in C, recvmmsg/sendmmsg; built at
   * install), `js` (dgram on the event loop), or `auto`: native when built, else js.
   */
  engine: z.enum(['auto', 'native', 'js']).default('auto'),
  /** Native engine threads, each forwarding its share of the sessions; `auto`: one per core. */
  workers: z.union([z.number().int().min(1).max(64), z.literal('auto')]).default('auto'),
  /** A session with no datagram in either direction for this long is ended and its port freed. */
  idleTimeoutSec: z.number().positive().default(60),
  /**
   * SIP: the relay's address written into SDP for a party whose media is IPv4 (behind 1:1 NAT:
   * the public one). Default: `host` when it is an address, else SWITCHYARD_ADVERTISE, else the
   * host's first non-loopback IPv4.
   */
  advertise: z.string().refine((a) => isIP(a) === 4, { message: 'expected an IPv4 address' }).optional(),
  /**
   * The same for a party whose media is IPv6. Default: SWITCHYARD_ADVERTISE_IPV6, else the
   * host's first global IPv6, else ::1. Each party is told the address of its own family, so
   * IPv4 and IPv6 parties are bridged.
   */
  advertiseIPv6: z.string().refine((a) => isIP(a) === 6, { message: 'expected an IPv6 address' }).optional(),
  /**
   * SIP: which source may latch a party's leg. false (default): the first datagram to the
   * party's relay port, from anywhere (any NAT). true: only one from the IP in its SDP or the IP
   * its signaling came from.
   */
  strictSource: z.boolean().default(false),
  /**
   * SIP: a party whose latched source has sent nothing for this long, while datagrams from
   * elsewhere arrive at its relay port, latches anew at the next one (a NAT mapping that changed
   * mid-call). 0 turns it off. A re-INVITE that moves a party's SDP address re-latches it too.
   */
  relatchAfterSilentSec: z.number().min(0).default(2),
  /**
   * Streams (m= lines) one description may carry: a request with more is refused with 488 before
   * any port is taken (one INVITE with 500 m= lines would hold 2,000 ports).
   */
  maxStreamsPerCall: z.number().int().min(1).max(1000).default(16),
  /**
   * Relay ports the calls from one signaling source IP may hold at once (a SIP stream takes
   * four, a plain call one); a request past it is refused with 503. Default: half of `ports`
   * (remote relays: 2000).
   */
  maxPortsPerSource: z.number().int().min(1).optional(),
  /**
   * Remote relays driven over rtpengine's NG protocol (switchyard relay nodes, rtpengine) in
   * place of the embedded one: each new call goes to a healthy relay, the one or the set the
   * route names (`engageMediaProxy({ relay })`, `({ set })`) or else by weight. Empty: the
   * embedded relay (then `ports`, `host`, `engine`, `workers`, `advertise`, `advertiseIPv6`,
   * `relatchAfterSilentSec` apply; each relay node has its own).
   */
  relays: z.array(z.object({
    /** What routes and logs call it. */
    name: z.string().min(1),
    /** Its NG control address, `host:port` or `[ipv6]:port`. */
    ng: z.string().refine((s) => parseNgAddress(s) !== null, { message: 'expected host:port or [ipv6]:port' }),
    /** Its share of new calls among the healthy relays of its set; 0 takes calls only when named. */
    weight: z.number().int().min(0).default(1),
    set: z.string().min(1).default('default'),
  })).default([]).refine((list) => new Set(list.map((r) => r.name)).size === list.length, { message: 'relay names must be unique' }),
  /** How remote relays are driven. */
  remote: z.object({
    /** How long one NG command may take, retransmissions included. */
    timeoutMs: z.number().int().min(50).max(30_000).default(1000),
    /** Sends per command within timeoutMs. */
    tries: z.number().int().min(1).max(10).default(3),
    /** Relays a new call is tried on before it is refused (503 Media Relay Unavailable). */
    failoverTries: z.number().int().min(1).max(10).default(2),
    /** Between health pings of a relay that is up. */
    pingIntervalSec: z.number().positive().default(5),
    /** A relay that is down is pinged after 1 s, then ever less often, up to this. */
    maxBackoffSec: z.number().positive().default(30),
    /**
     * Failed pings in a row after which a relay counts as lost: its calls are ended, SIP calls
     * with a BYE to each party (their media has nowhere to go; the proxy cannot re-INVITE).
     */
    lostAfterFailures: z.number().int().min(1).default(3),
    /**
     * A call whose route names no relay or set goes to a set by where its signaling came from
     * (MediaProxy's signaling_ip_avp): the first rule whose addresses or CIDR ranges hold the source.
     */
    setsBySource: z.array(z.object({ from: z.array(z.string()).min(1), set: z.string().min(1) })).default([])
      .refine(validSourceSets, { message: 'every "from" entry must be an address or address/prefix' }),
    /**
     * A Redis or Valkey URL where the relay of each call is kept, so that a BYE after this proxy
     * restarted still ends the call's media on its relay (the relays carry the media meanwhile).
     */
    callStore: z.string().refine((s) => /^(rediss?|unix):\/\//.test(s), { message: 'expected a redis://, rediss:// or unix:// URL' }).optional(),
    callStorePrefix: z.string().default('switchyard:'),
    /** How long the call store keeps a call at most. */
    callStoreTtlSec: z.number().int().positive().default(43_200),
  }).prefault({}),
});

/**
 * The relay's address per family: the options, else defaults for the bound host (a wildcard:
 * the environment or the host's interfaces; an address: itself; an IPv4-only relay gives its
 * IPv4 address to every party).
 */
function relayAddresses(c: { host: string; advertise?: string | undefined; advertiseIPv6?: string | undefined }): RelayAddresses {
  const wildcard = c.host === '::' || c.host === '0.0.0.0';
  const hostFamily = isIP(c.host);
  const ipv4 = c.advertise ?? (wildcard || hostFamily === 4 ? defaultAdvertise(c.host, 'IPv4') : c.host);
  const ipv6 = c.advertiseIPv6 ?? (c.host === '0.0.0.0' || hostFamily === 4 ? ipv4 : defaultAdvertise(c.host, 'IPv6'));
  return { ipv4, ipv6 };
}

/** What a route may ask in engageMediaProxy(). */
const askSchema = z.object({ relay: z.string().min(1).optional(), set: z.string().min(1).optional(), ...legAskSchema }).strict();

/** What engageMediaProxy() takes: where the call goes (remote relays), and what the relay is to do with each leg. */
export interface MediaProxyAsk extends RelayChoice {
  /**
   * The DTLS-SRTP/RTP bridge (an NG relay such as rtpengine): `auto` bridges a call between a
   * WebRTC client (a UDP/TLS/RTP/SAVPF description, or a party on WS/WSS) and a plain RTP party;
   * `webrtc-to-rtp` (the caller is the WebRTC client) and `rtp-to-webrtc` always bridge.
   */
  readonly bridge?: BridgeAsk;
  /**
   * NG flags per leg, named by the party that reads them, as rtpengine_offer() takes them
   * (`'RTP/AVP ICE=remove rtcp-mux-demux'`) or as an object (`{ transportProtocol: 'RTP/AVP',
   * ice: 'remove', rtcpMux: ['demux'] }`); over the bridge's, when there is one.
   */
  readonly ng?: { readonly toCallee?: string | NgLegFlagsInput; readonly toCaller?: string | NgLegFlagsInput };
}

/** A leg's flags as an object, as a route writes them (`ice` may list a mode with other items). */
export type NgLegFlagsInput = Omit<NgLegFlags, 'ice' | 'iceOptions'> & { readonly ice?: NgLegFlags['ice'] | readonly string[] };

/**
 * A route's ask, checked against the configured relays: a wrong name, a malformed flag, or a
 * relay name, bridge kind or flags without remote relays is the script's error (the route
 * throws; the request gets 500 and the error is logged). `auto` is allowed with the embedded
 * relay: a call it finds needs the bridge is refused 488 there.
 */
function checkAsk(ask: MediaProxyAsk, names: { readonly relays: ReadonlySet<string>; readonly sets: ReadonlySet<string> }): { choice?: RelayChoice; legs?: LegAsk } {
  const parsed = askSchema.safeParse(ask);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new TypeError(`engageMediaProxy: ${issue.path.join('.') || 'choice'}: ${issue.message}`);
  }
  const { relay, set, bridge, ng } = parsed.data;
  const remote = names.relays.size > 0;
  if ((relay !== undefined || set !== undefined) && !remote) throw new TypeError('engageMediaProxy: a relay or set was named, but no remote relays are configured (mediaRelay({ relays }))');
  if (((bridge !== undefined && bridge !== 'auto') || ng !== undefined) && !remote) {
    throw new TypeError(`engageMediaProxy: ${ng !== undefined ? 'ng flags need' : `bridge '${bridge}' needs`} a remote NG relay such as rtpengine (mediaRelay({ relays })): the embedded relay forwards media as it is`);
  }
  if (relay !== undefined && !names.relays.has(relay)) throw new TypeError(`engageMediaProxy: relay: no relay named "${relay}"`);
  if (set !== undefined && !names.sets.has(set)) throw new TypeError(`engageMediaProxy: set: no relay set named "${set}"`);
  const choice = relay === undefined && set === undefined ? undefined : { ...(relay === undefined ? {} : { relay }), ...(set === undefined ? {} : { set }) };
  const legs = bridge === undefined && ng === undefined ? undefined : { ...(bridge === undefined ? {} : { bridge }), ...(ng === undefined ? {} : { ng }) };
  return { ...(choice === undefined ? {} : { choice }), ...(legs === undefined ? {} : { legs }) };
}

interface RelayState {
  /** The configured remote relays' names and sets (empty: the embedded relay). */
  readonly relayNames: { readonly relays: ReadonlySet<string>; readonly sets: ReadonlySet<string> };
  /** The embedded relay; null with remote relays. */
  readonly relay: MediaRelay | null;
  readonly backend: RelayBackend;
  readonly bySource: SourceSets | null;
  /** Remote relays: answered SIP calls, with what it takes to end them with BYE. */
  readonly endable: OpenMap<EndableDialog>;
  readonly asks: MediaAsks;
  readonly calls: OpenMap<FollowedCall>;
  /** Ends the relay's following of a call and gives its ports back to its source's budget. */
  readonly forget: (callId: string) => void;
  readonly dialogs: DialogFollow;
}

export const mediaRelay = defineModule({
  name: 'media-relay',
  description: 'Embedded UDP media relay: SIP a port pair per party (latched by its first datagram), plain one port per call, idle timeout, per-session counters',
  schema,
  reloadable: ['idleTimeoutSec', 'relatchAfterSilentSec', 'maxStreamsPerCall', 'maxPortsPerSource'],
  dependsOn: { dialog: required<DialogFollow>('dialog'), iceHints: optional<MediaHints>('ice-hints') },

  setup: async ({ config, core, log, deps }): Promise<RelayState> => {
    const c = config();
    let backend: RelayBackend;
    let relay: MediaRelay | null = null;
    if (c.relays.length > 0) {
      const r = c.remote;
      const relays: RemoteRelay[] = [];
      for (const rc of c.relays) {
        const at = parseNgAddress(rc.ng)!;
        relays.push({ name: rc.name, set: rc.set, weight: rc.weight, client: await NgClient.open({ host: at.host, port: at.port, timeoutMs: r.timeoutMs, tries: r.tries }) });
      }
      const set = new RelaySet(relays, { pingIntervalMs: r.pingIntervalSec * 1000, minBackoffMs: Math.min(1000, r.maxBackoffSec * 1000), maxBackoffMs: r.maxBackoffSec * 1000 }, log);
      const callStore = r.callStore === undefined ? undefined
        : await RemoteCallStore.open({ url: r.callStore, prefix: r.callStorePrefix, ttlSec: r.callStoreTtlSec, commandTimeoutMs: r.timeoutMs, log });
      backend = new NgBackend({ relays: set, failoverTries: r.failoverTries, lostAfterFailures: r.lostAfterFailures, strictSource: c.strictSource, callStore, log });
      // A BYE for a call this process does not follow may be one placed before a restart.
      if (callStore !== undefined) {
        core.hooks.onRequestForward(({ request }) => {
          if (request.method === 'BYE' && !calls.has(request.callId)) backend.end(request.callId, 'bye');
        });
      }
      log.info({ relays: c.relays.map((x) => `${x.name}=${x.ng} (${x.set}, weight ${x.weight})`), strictSource: c.strictSource }, 'media relay: remote relays over NG');
    } else {
      const engine = createMediaEngine({ engine: c.engine, workers: c.workers, host: c.host }, log);
      const addresses = relayAddresses(c);
      log.info({ engine: engine.kind, workers: engine.workers, ports: c.ports, advertise: addresses.ipv4, advertiseIPv6: addresses.ipv6, strictSource: c.strictSource }, 'media relay ready');
      relay = new MediaRelay({ range: parsePortRange(c.ports)!, idleTimeoutMs: c.idleTimeoutSec * 1000, relatchAfterSilentMs: c.relatchAfterSilentSec * 1000 }, engine, log);
      backend = new EmbeddedBackend(relay, addresses, { strictSource: c.strictSource });
    }
    const asks: MediaAsks = { engaged: new WeakSet(), usedRequests: new WeakSet(), usedReplies: new WeakSet(), choices: new WeakMap(), legs: new WeakMap() };
    const calls = new OpenMap<FollowedCall>();
    const dialogs = deps.dialog;
    const range = parsePortRange(c.ports)!;
    const defaultBudget = c.relays.length > 0 ? 2000 : Math.max(4, Math.floor((range.max - range.min + 1) / 2));
    const budget = new PortBudget(() => config().maxPortsPerSource ?? defaultBudget);
    /** The call's media is over: the relay forgets it and its source gets its ports back. */
    const forget = (callId: string): void => {
      calls.delete(callId);
      budget.release(callId);
    };

    core.hooks.onMedia(createMediaHandler({ backend, asks, calls, hints: deps.iceHints, limits: () => config(), budget, log }));
    const endable = new OpenMap<EndableDialog>();
    // Engaged once, the relay follows the call: a failed or ended dialog ends its media.
    dialogs.onEnded(({ dialog, reason }) => {
      backend.end(dialog.callId, reason === 'bye' ? 'bye' : 'dialog');
      forget(dialog.callId);
      endable.delete(dialog.callId);
    });
    if (backend.onCallsLost !== undefined) {
      core.hooks.onAnswer(({ request, reply }) => {
        if (!calls.has(request.callId)) return;
        const d = endableDialog(request, reply);
        if (d !== null) endable.set(d.callId, d);
      });
      // A lost relay's calls have no media path left: each party gets a BYE, the dialog ends.
      backend.onCallsLost(({ callIds }) => {
        for (const callId of callIds) {
          const d = endable.get(callId);
          endable.delete(callId);
          forget(callId);
          if (d !== undefined) void byeBoth(core, d, log).catch((err: unknown) => log.warn({ callId, err }, 'BYE after a lost relay failed'));
          dialogs.terminate(callId, 'terminated');
        }
      });
    }
    // Media without RTCP (the plain protocol's) cannot tell a held call from a gone one: its idle
    // ends the call. RTP and RTCP may go quiet while the call lives (hold, one-way video): their
    // idle ends only those sessions.
    backend.onEnded(({ key, reason }) => {
      if (reason === 'idle' && key.component === 'media') dialogs.terminate(key.callId, 'timeout');
    });
    const bySource = c.relays.length > 0 && c.remote.setsBySource.length > 0 ? new SourceSets(c.remote.setsBySource) : null;
    const relayNames = { relays: new Set(c.relays.map((x) => x.name)), sets: new Set(c.relays.map((x) => x.set)) };
    return { relay, backend, asks, calls, endable, bySource, relayNames, forget, dialogs };
  },

  onConfigChange: ({ state, config }) => {
    state.backend.setIdleTimeout(config().idleTimeoutSec * 1000);
    state.relay?.setRelatchAfterSilent(config().relatchAfterSilentSec * 1000);
  },

  functions: ({ state }) => ({
    /**
     * Relays the media of this call for its whole life: every description of the call, until its
     * dialog ends. With remote relays, `{ relay: 'eu-1' }` places the call on that relay and
     * `{ set: 'eu' }` on one of that set (none healthy: the request is refused with 503);
     * `{ bridge: 'auto' }` has the relay (rtpengine) bridge a WebRTC client and a plain RTP
     * phone, and `{ ng: { toCallee, toCaller } }` gives it NG flags per leg.
     */
    engageMediaProxy: fn(['request'], (mc, ask?: MediaProxyAsk): { readonly ok: true } => {
      const checked = ask === undefined ? {} : checkAsk(ask, state.relayNames);
      state.asks.engaged.add(mc.msg);
      const set = checked.choice === undefined ? state.bySource?.setFor(mc.msg.source.address) : undefined;
      const chosen = checked.choice ?? (set === undefined ? undefined : { set });
      if (chosen !== undefined) state.asks.choices.set(mc.msg, chosen);
      if (checked.legs !== undefined) state.asks.legs.set(mc.msg, checked.legs);
      return { ok: true };
    }),
    /**
     * Relays the media this message describes: in a request route the request's (plain: the
     * call's MEDIA_PORT), in a reply route the reply's. The relay then follows the call's later
     * descriptions until its dialog ends, as for engageMediaProxy.
     */
    useMediaProxy: fn(['request', 'reply'], (mc): { readonly ok: true } => {
      if (mc.kind === 'reply' && mc.reply !== null) state.asks.usedReplies.add(mc.reply);
      else state.asks.usedRequests.add(mc.msg);
      return { ok: true };
    }),
    /** Ends the call's media now and returns the counters of its first session; nothing for a request that is not from a party of the call. */
    endMediaSession: fn(['request', 'reply', 'failure'], (mc): EndMediaResult => {
      if (mc.kind === 'request' && state.dialogs.senderOf(mc.msg) === 'stranger') return { ok: false, reason: 'not-a-party' };
      const callId = mc.msg.callId;
      const ended = state.backend.end(callId, 'ended');
      state.forget(callId);
      const first = ended?.sessions[0];
      return first === undefined ? { ok: false, reason: 'no-session' } : { ok: true, stats: first.stats };
    }),
  }),

  api: ({ state }): MediaRelayApi => ({ backend: state.backend }),

  operations: ({ state }) => mediaOperations(state.backend),

  onClose: ({ state }) => state.backend.close(),
});
