import { z } from 'zod';
import { defineModule, fn } from '../../core/modules/define.ts';
import type { Request } from '../../core/message.ts';
import type { DialogApi } from '../dialog/index.ts';
import { answerPlainCall } from './plain-media.ts';
import { MediaRelay } from './relay/media-relay.ts';
import { parsePortRange } from './relay/port-pool.ts';
import type { SessionStats } from './relay/media-session.ts';

export type { SessionStats };

export type EndMediaResult =
  | { readonly ok: true; readonly stats: SessionStats }
  | { readonly ok: false; readonly reason: 'no-session' };

export interface MediaRelayApi {
  readonly relay: MediaRelay;
}

const schema = z.object({
  /** Media ports, `min-max`. Ports another program holds are skipped. */
  ports: z.string().refine((s) => parsePortRange(s) !== null, { message: 'expected a port range like "5000-5999" (1-65535, min <= max)' }).default('5000-5999'),
  /** Address media sockets bind to: `::` is dual-stack; an IPv4 literal makes IPv4-only sockets. */
  host: z.string().min(1).default('::'),
  /** A session with no datagram in either direction for this long is ended and its port freed. */
  idleTimeoutSec: z.number().positive().default(60),
});

interface RelayState {
  readonly relay: MediaRelay;
  /** Call requests whose route engaged the relay; their answer opens the session. */
  readonly engaged: WeakSet<Request>;
}

export const mediaRelay = defineModule({
  name: 'media-relay',
  description: 'Embedded UDP media relay: one port per call, symmetric latching, idle timeout, per-session counters',
  schema,
  reloadable: ['idleTimeoutSec'],
  dependsOn: { dialog: 'required' },

  setup: ({ config, core, log, dep }): RelayState => {
    const c = config();
    const relay = new MediaRelay({ range: parsePortRange(c.ports)!, host: c.host, idleTimeoutMs: c.idleTimeoutSec * 1000 }, log);
    const engaged = new WeakSet<Request>();
    const dialogs = dep<DialogApi>('dialog')!;

    core.hooks.onAnswer((e) => {
      if (!engaged.has(e.request)) return 'pass';
      if (e.request.dialect === 'plain') return answerPlainCall(e, relay, core);
      return 'pass';
    });
    // Engaged once, the relay follows the call: a failed or ended dialog ends its media.
    dialogs.onEnded(({ dialog, reason }) => {
      relay.end(dialog.callId, reason === 'bye' ? 'bye' : 'dialog');
    });
    relay.onEnd((session, reason) => {
      if (reason === 'idle') dialogs.terminate(session.key, 'timeout');
    });
    return { relay, engaged };
  },

  onConfigChange: ({ state, config }) => {
    state.relay.setIdleTimeout(config().idleTimeoutSec * 1000);
  },

  functions: ({ state }) => ({
    /** Relays the media of this call for its whole life: opened on answer, ended with the dialog. */
    engageMediaProxy: fn(['request'], (mc): { readonly ok: true } => {
      state.engaged.add(mc.msg);
      return { ok: true };
    }),
    /** Ends the call's media session now and returns its counters. */
    endMediaSession: fn(['request', 'reply', 'failure'], (mc): EndMediaResult => {
      const stats = state.relay.end(mc.msg.callId, 'ended');
      return stats === null ? { ok: false, reason: 'no-session' } : { ok: true, stats };
    }),
  }),

  api: ({ state }): MediaRelayApi => ({ relay: state.relay }),

  onClose: ({ state }) => state.relay.close(),
});
