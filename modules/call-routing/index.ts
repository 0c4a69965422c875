import { z } from 'zod';
import {
  AddressSet, carriesRoute, defineModule, fn, formatEndpoint, forwardVerdict, LogThrottle, optional, parseCidr, required, respondVerdict,
  type Endpoint, type FailureRouteName, type ForwardPlan, type ForwardTarget, type MessageContext, type ReplyRouteName, type Request, type Verdict,
} from '../../core/module.ts';
import type { AuthApi } from '../auth/index.ts';
import type { DialogApi } from '../dialog/index.ts';
import type { LookupResult, RegistrarApi } from '../registrar/index.ts';
import { AnsweredAddresses } from './answered.ts';
import { forkTargets } from './forks.ts';

export interface ForwardCallOptions {
  /** Forward to this user's registration instead of the request's (SIP: Request-URI user; plain: callee). */
  to?: string;
  /** SIP: forward to this URI (it becomes the Request-URI), for a peer proxy or gateway, without a registrar lookup. */
  toUri?: string;
  /** The failure route to run if the call fails or is not answered (a key of `routes.failure`). */
  onFailure?: FailureRouteName;
  /** The reply route to run for each reply of the call (a key of `routes.reply`). */
  onReply?: ReplyRouteName;
  /** Overrides the module's answer timeout for this call. */
  answerTimeoutSec?: number;
}

const schema = z.object({
  /** How long a call may ring before it fails: plain CALL_FAILED ... no answer, SIP 408 (Timer C). */
  answerTimeoutSec: z.number().positive().default(30),
  /**
   * SIP: domains this proxy serves besides its own addresses and names on its SIP ports. A
   * request for a user nobody registered in another domain is relayed there only for a trusted
   * sender (relayFrom, or one that passed auth); anyone else gets 403 Not Relaying.
   */
  localDomains: z.array(z.string().min(1).transform((d) => d.toLowerCase())).default([]),
  /**
   * SIP: sources (addresses or CIDR ranges) trusted to steer their own routing: their requests
   * for other domains are relayed, `maddr` in their URIs is honoured, and their Routes and
   * in-dialog requests may lead anywhere. A request that passed auth is trusted the same way.
   */
  relayFrom: z.array(z.string().refine((c) => typeof parseCidr(c) !== 'string', 'an address or address/prefix')).default([]),
  /**
   * SIP: a call rings every contact whose address has answered the proxy before (or that
   * registered over TCP), and of the others at most this many per IP address: contacts
   * registered at someone else's address with forged REGISTERs cannot make one INVITE a flood.
   */
  maxUnverifiedForksPerAddress: z.number().int().min(1).max(100).default(1),
});

interface RoutingState {
  /** Requests whose route asked for Record-Route. */
  readonly recordRouted: WeakSet<Request>;
  relayFrom: AddressSet;
  readonly refusals: LogThrottle;
  /** Addresses that answered a request the proxy forwarded: contacts there are verified. */
  readonly answered: AnsweredAddresses;
  readonly skippedForks: LogThrottle;
}

/** The host of a SIP URI, lower case, without brackets. */
function hostOf(uri: string): string | undefined {
  const m = /^sips?:(?:[^@;>]*@)?(\[[^\]]+\]|[^:;>?]+)/i.exec(uri);
  return m?.[1]?.replace(/^\[|\]$/g, '').toLowerCase();
}

export const callRouting = defineModule({
  name: 'call-routing',
  description: 'Forwards calls to where the callee is registered (forking to every contact), and in-dialog requests along their route',
  schema,
  dependsOn: { registrar: required<RegistrarApi>('registrar'), dialog: optional<DialogApi>('dialog'), auth: optional<AuthApi>('auth') },
  reloadable: ['answerTimeoutSec', 'localDomains', 'relayFrom', 'maxUnverifiedForksPerAddress'],

  setup: ({ config, core }): RoutingState => {
    const state: RoutingState = {
      recordRouted: new WeakSet(), relayFrom: new AddressSet(config().relayFrom), refusals: new LogThrottle(1000),
      answered: new AnsweredAddresses(), skippedForks: new LogThrottle(1000),
    };
    // Any answer a contact sends back through the proxy (ringing, an answer, a refusal) verifies its address.
    core.hooks.onReplyForward(({ reply }) => {
      if (reply.dialect === 'sip' && !reply.local) state.answered.add(reply.source);
    });
    return state;
  },

  onConfigChange: ({ state, config }, { changed }) => {
    if (changed.includes('relayFrom')) state.relayFrom = new AddressSet(config().relayFrom);
  },

  functions: ({ config, core, deps, state }) => {
    /** A Request-URI for this proxy: its own address or name on a SIP port of its, or a configured domain. */
    const isLocal = (uri: string): boolean => core.isOwnUri(uri) || config().localDomains.includes(hostOf(uri) ?? '');

    /** Whether the sender may steer its own routing: a source of relayFrom, or a request that passed auth. */
    const trusted = (msg: Request): boolean => state.relayFrom.has(msg.source.address) || deps.auth?.passed(msg) !== undefined;

    type Targets = readonly ForwardTarget[] | 'by-request' | 'unavailable' | 'not-relaying' | null;

    /**
     * What a registrar lookup gives routing: its bindings (of the unverified ones at one address,
     * no more than maxUnverifiedForksPerAddress), or why there are none. A user nobody
     * registered, in a domain that is not this proxy's, goes by its Request-URI for a trusted
     * sender and is refused for anyone else; here, it is not found.
     */
    const byLookup = (found: LookupResult, mc: MessageContext, opts: ForwardCallOptions): Targets => {
      if (found.ok) {
        const { ring, skipped } = forkTargets(found.bindings, (b) => state.answered.has(b.address), config().maxUnverifiedForksPerAddress);
        if (skipped > 0) {
          const unlogged = state.skippedForks.pass();
          if (unlogged !== null) mc.log.info({ user: found.bindings[0]!.aor, contacts: found.bindings.length, skipped, alsoSinceLastLine: unlogged }, 'call rings fewer contacts: several unverified ones at one address');
        }
        return ring.map((b): ForwardTarget => ({ address: b.address, uri: b.contact, transport: b.transport, connection: b.connection ?? null }));
      }
      if (found.reason === 'unavailable') return 'unavailable';
      const msg = mc.msg;
      if (opts.to === undefined && msg.ruri.uri !== undefined && !isLocal(msg.ruri.uri)) return trusted(msg) ? 'by-request' : 'not-relaying';
      return null;
    };

    /**
     * Where a request goes: a request that carries its own route (SIP: in a dialog, or with a
     * Route set) along it; a request in a dialog that does not (plain BYE) to the other party of
     * the dialog; anything else to every binding of the user (SIP rings them all in parallel; the
     * plain protocol has one). At once unless the location store is networked.
     */
    const targetsOf = (mc: MessageContext, opts: ForwardCallOptions): Targets | Promise<Targets> => {
      const msg = mc.msg;
      if (opts.toUri !== undefined) return [{ uri: opts.toUri }];
      if (opts.to === undefined && carriesRoute(msg)) return 'by-request';
      const user = opts.to ?? msg.ruri.user;
      if (msg.inDialog && user === msg.ruri.user) {
        const peer: Endpoint | undefined = deps.dialog?.peerOf(msg.callId, { user: msg.from.user, address: msg.source }, msg.dialect);
        if (peer !== undefined) return [{ address: peer }];
      }
      const found = deps.registrar.lookupNow(user, msg.dialect);
      return found instanceof Promise ? found.then((f) => byLookup(f, mc, opts)) : byLookup(found, mc, opts);
    };

    return {
      /**
       * Forwards the request. A call goes to the callee's registration with a transaction and
       * answer timeout (SIP: to every contact in parallel); an in-dialog request to the other
       * party (SIP: along its Route set). An unknown callee is answered 404 (plain: CALL_FAILED unknown peer),
       * a user of another domain from an untrusted sender 403 Not Relaying, and 503 while a
       * shared location store does not answer.
       */
      forwardCall: fn(['request', 'failure'], (mc, opts: ForwardCallOptions = {}): Promise<Verdict> => {
        const fulfil = mc.reserve('forwardCall');
        const msg = mc.msg;
        const answerTimeoutMs = (opts.answerTimeoutSec ?? config().answerTimeoutSec) * 1000;
        const recordRoute = state.recordRouted.has(msg);
        // One shape for every call (optional fields present, possibly undefined): the engine reads it monomorphically.
        const plan = (targets: readonly ForwardTarget[] | null): ForwardPlan => ({
          targets, answerTimeoutMs, onFailure: opts.onFailure, onReply: opts.onReply, recordRoute, trusted: trusted(msg),
        });
        const decide = (targets: Targets): Verdict => {
          if (targets === null) return fulfil(respondVerdict(404));
          if (targets === 'not-relaying') {
            const unlogged = state.refusals.pass();
            if (unlogged !== null) mc.log.info({ ruri: msg.ruri.uri, alsoSinceLastLine: unlogged }, 'request for another domain refused: the sender is not trusted to relay');
            return fulfil(respondVerdict(403, 'Not Relaying'));
          }
          // The location store did not answer (a shared store that is down): try again later.
          if (targets === 'unavailable') return fulfil(respondVerdict(503, undefined, { retryAfterSec: 5 }));
          if (targets === 'by-request') return fulfil(forwardVerdict(plan(null), 'along its own route'));
          const first = targets[0]!;
          const where = first.address !== undefined ? formatEndpoint(first.address) : first.uri ?? '';
          return fulfil(forwardVerdict(plan(targets), targets.length === 1 ? `${opts.to ?? msg.ruri.user} at ${where}` : `${targets.length} contacts`));
        };
        const targets = targetsOf(mc, opts);
        // Decided at once, nothing is left for the dispatcher to wait for.
        return targets instanceof Promise ? mc.track(targets.then(decide)) : Promise.resolve(decide(targets));
      }),

      /**
       * SIP: whether `uri` (default: the Request-URI) is for this proxy: its own address or name
       * on one of its SIP ports, or one of `localDomains` (plain: always true).
       */
      isLocalDomain: fn(['request', 'failure'], (mc, uri?: string): boolean => {
        const target = uri ?? mc.msg.ruri.uri;
        return target === undefined || isLocal(target);
      }, () => false),

      /** SIP: put this proxy in the Record-Route of the call so in-dialog requests come through it (plain: no effect). */
      recordRoute: fn(['request'], (mc): { readonly ok: true } => {
        state.recordRouted.add(mc.msg);
        return { ok: true };
      }),
    };
  },
});
