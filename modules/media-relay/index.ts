import { isIP } from 'node:net';
import { z } from 'zod';
import { defaultAdvertise, defineModule, fn, OpenMap, optional, required } from '../../core/module.ts';
import type { RelayBackend } from './backend.ts';
import { EmbeddedBackend, type RelayAddresses } from './embedded-backend.ts';
import { createMediaHandler, type FollowedCall, type MediaAsks } from './media-handler.ts';
import type { DialogFollow, MediaHints } from './module-apis.ts';
import { mediaOperations } from './operations.ts';
import { MediaRelay } from './relay/media-relay.ts';
import { parsePortRange } from './relay/port-pool.ts';
import { createMediaEngine } from './relay/select-engine.ts';
import type { SessionStats } from './session.ts';

export type { SessionStats };
export type { PartyStats } from './session.ts';
export type { RelayBackend, CallMediaStats, RelayTotals, PartyMedia, CallSide } from './backend.ts';
export type { SessionKey, SessionComponent } from './session.ts';

export type EndMediaResult =
  | { readonly ok: true; readonly stats: SessionStats }
  | { readonly ok: false; readonly reason: 'no-session' };

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

interface RelayState {
  readonly relay: MediaRelay;
  readonly backend: RelayBackend;
  readonly asks: MediaAsks;
  readonly calls: OpenMap<FollowedCall>;
}

export const mediaRelay = defineModule({
  name: 'media-relay',
  description: 'Embedded UDP media relay: SIP a port pair per party (latched by its first datagram), plain one port per call, idle timeout, per-session counters',
  schema,
  reloadable: ['idleTimeoutSec', 'relatchAfterSilentSec'],
  dependsOn: { dialog: required<DialogFollow>('dialog'), iceHints: optional<MediaHints>('ice-hints') },

  setup: ({ config, core, log, deps }): RelayState => {
    const c = config();
    const engine = createMediaEngine({ engine: c.engine, workers: c.workers, host: c.host }, log);
    const addresses = relayAddresses(c);
    log.info({ engine: engine.kind, workers: engine.workers, ports: c.ports, advertise: addresses.ipv4, advertiseIPv6: addresses.ipv6, strictSource: c.strictSource }, 'media relay ready');
    const relay = new MediaRelay({ range: parsePortRange(c.ports)!, idleTimeoutMs: c.idleTimeoutSec * 1000, relatchAfterSilentMs: c.relatchAfterSilentSec * 1000 }, engine, log);
    const backend: RelayBackend = new EmbeddedBackend(relay, addresses, { strictSource: c.strictSource });
    const asks: MediaAsks = { engaged: new WeakSet(), usedRequests: new WeakSet(), usedReplies: new WeakSet() };
    const calls = new OpenMap<FollowedCall>();
    const dialogs = deps.dialog;

    core.hooks.onMedia(createMediaHandler({ backend, asks, calls, hints: deps.iceHints, log }));
    // Engaged once, the relay follows the call: a failed or ended dialog ends its media.
    dialogs.onEnded(({ dialog, reason }) => {
      backend.end(dialog.callId, reason === 'bye' ? 'bye' : 'dialog');
      calls.delete(dialog.callId);
    });
    // Media without RTCP (the plain protocol's) cannot tell a held call from a gone one: its idle
    // ends the call. RTP and RTCP may go quiet while the call lives (hold, one-way video): their
    // idle ends only those sessions.
    backend.onEnded(({ key, reason }) => {
      if (reason === 'idle' && key.component === 'media') dialogs.terminate(key.callId, 'timeout');
    });
    return { relay, backend, asks, calls };
  },

  onConfigChange: ({ state, config }) => {
    state.backend.setIdleTimeout(config().idleTimeoutSec * 1000);
    state.relay.setRelatchAfterSilent(config().relatchAfterSilentSec * 1000);
  },

  functions: ({ state }) => ({
    /** Relays the media of this call for its whole life: every description of the call, until its dialog ends. */
    engageMediaProxy: fn(['request'], (mc): { readonly ok: true } => {
      state.asks.engaged.add(mc.msg);
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
    /** Ends the call's media now and returns the counters of its first session. */
    endMediaSession: fn(['request', 'reply', 'failure'], (mc): EndMediaResult => {
      const callId = mc.msg.callId;
      const ended = state.backend.end(callId, 'ended');
      state.calls.delete(callId);
      const first = ended?.sessions[0];
      return first === undefined ? { ok: false, reason: 'no-session' } : { ok: true, stats: first.stats };
    }),
  }),

  api: ({ state }): MediaRelayApi => ({ backend: state.backend }),

  operations: ({ state }) => mediaOperations(state.backend),

  onClose: ({ state }) => state.backend.close(),
});
