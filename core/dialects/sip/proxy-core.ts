import { createHash } from 'node:crypto';
import type { TransactionView } from '../../kernel/contracts.ts';
import type { ProxyEngine } from '../../kernel/engine.ts';
import type { WorkClass } from '../../kernel/overload.ts';
import { isMediaRefused, isRequestRefused, type ProxyHooks } from '../../kernel/hooks.ts';
import type { MessageContext } from '../../kernel/message-context.ts';
import { failureOutcome, replyDropped } from '../../kernel/outcome.ts';
import { unmapIPv4 } from '../../lib/address.ts';
import type { Logger } from '../../lib/log.ts';
import { whenDone } from '../../lib/when-done.ts';
import { reasonPhrase, type Reply, type Request } from '../../model/message.ts';
import type { ForwardPlan, ForwardTarget, ReplyExtras } from '../../model/verdict.ts';
import { getHeader, getHeaders, getMaxForwards, hasHeader, prependHeader, removeHeader, setHeader, type SipMessage, type SipRequest, type SipResponse } from './codec/message.ts';
import { getParam } from './codec/params.ts';
import { serializeSip } from './codec/serialize.ts';
import { parseNameAddr, parseUri, type NameAddr } from './codec/uri.ts';
import type { ClientTransactions, SipSender } from './client-transactions.ts';
import { aliasContact, takeAlias } from './contact-alias.ts';
import { hasSdpBody, sipMediaOffer, type SdpMediaOffer } from './media-offer.ts';
import { hasLooped, loopKey, markBranch } from './loop-detection.ts';
import { facing, hostPort, recordRouteUri, type LocalNode, type SipIdentity } from './local-node.ts';
import { buildResponse, decrementMaxForwards } from './messages.ts';
import { resolveNextHop, transportOfVia, type HopResult, type NextHop } from './next-hop.ts';
import type { SipResolver } from './resolver.ts';
import type { RouteMarks } from './route-mark.ts';
import { upstreamOf, type ServerTransactions } from './server-transactions.ts';
import { ProxyCall, newBranch, type ClientOwner, type ClientTransaction, type Destination } from './transactions.ts';
import { cloneSip, sipRequest, sipWire, type SipTransportName } from './wire.ts';

export interface SipProxyCoreDeps {
  readonly hooks: ProxyHooks;
  readonly log: Logger;
  readonly sender: SipSender;
  readonly node: LocalNode;
  readonly servers: ServerTransactions;
  readonly clients: ClientTransactions;
  /** Host names of next hops, within bounds. */
  readonly resolver: SipResolver;
  /** The mark of this proxy's Record-Route, tying it to a dialog. */
  readonly marks: RouteMarks;
  /** How the proxy names itself on a listener. */
  identity(listener: string, transport?: SipTransportName): SipIdentity;
  runRoute(kind: 'reply' | 'failure', name: string, txn: TransactionView, reply: Reply): Promise<MessageContext>;
}

export interface SipProxyStats {
  cancels: number;
  statelessReplies: number;
  strayReplies: number;
  /** Requests answered 482: they came back unchanged, or their next hop was this proxy. */
  loops: number;
  /** CANCELs for a live INVITE from another address than the INVITE's: answered 481, nothing cancelled. */
  cancelsFromElsewhere: number;
  /**
   * Requests answered 403 because they named a next hop elsewhere without the right to: not from
   * a trusted source, and not in a dialog this proxy record-routed (open relay, SSRF).
   */
  notRelayed: number;
}

/** Requests whose Contact is a dialog's remote target (RFC 3261 §12, RFC 3311, RFC 6665, RFC 3515). */
const TARGET_METHODS: ReadonlySet<string> = new Set(['INVITE', 'UPDATE', 'SUBSCRIBE', 'NOTIFY', 'REFER']);

/** What the proxy says of itself in its answer to OPTIONS (RFC 3261 §11.2). */
const OPTIONS_ANSWER: ReplyExtras = {
  headers: [
    ['Allow', 'INVITE, ACK, CANCEL, BYE, OPTIONS, REGISTER, UPDATE, PRACK, INFO, MESSAGE, SUBSCRIBE, NOTIFY, REFER'],
    ['Accept', 'application/sdp'],
    ['Accept-Encoding', 'identity'],
    ['Accept-Language', 'en'],
  ],
};

/**
 * A reply whose top Record-Route is not this proxy: a record-routing proxy downstream stays in
 * the dialog's path and answers for the callee's address (its alias, not ours).
 */
function recordRoutedBeyond(reply: SipResponse, node: LocalNode): boolean {
  const top = getHeaders(reply, 'record-route')[0];
  if (top === undefined) return false;
  const first = parseNameAddr(top);
  return first !== null && !node.isUs(first.uri);
}

function firstRoute(sip: SipRequest): NameAddr | null {
  const first = getHeaders(sip, 'route')[0];
  return first === undefined ? null : parseNameAddr(first);
}

/** Replaces the route set with `values`, one Route header. */
function setRoutes(sip: SipRequest, values: readonly string[]): void {
  removeHeader(sip, 'route', 'all');
  if (values.length > 0) setHeader(sip, 'Route', values.join(', '));
}

/** Response preference of §16.7 step 6: 6xx first, then the lowest class; within a class the first. */
function better(a: Reply, b: Reply): boolean {
  const ca = Math.floor(a.status / 100);
  const cb = Math.floor(b.status / 100);
  if (ca === 6 || cb === 6) return ca === 6 && cb !== 6;
  return ca < cb;
}

/**
 * The proxy core of RFC 3261 §16 over the transaction layers of §17: route information
 * preprocessing, forwarding to one or many branches (parallel forking, Record-Route, Via,
 * Max-Forwards), CANCEL, Timer C, the choice of the best response and the failure route, and
 * responses passed back along the Via path. Calls go down to the transaction layers; responses
 * come up to it as the owner of its branches.
 */
export class SipProxyCore implements ProxyEngine, ClientOwner {
  readonly stats: SipProxyStats = { cancels: 0, statelessReplies: 0, strayReplies: 0, loops: 0, cancelsFromElsewhere: 0, notRelayed: 0 };
  /** Requests that reached this proxy through its own Record-Route: it is in their dialog's path. */
  private readonly inOurPath = new WeakSet<Request>();
  /** Requests whose Route to this proxy carried the mark of their dialog: a dialog this proxy record-routed. */
  private readonly inOurDialog = new WeakSet<Request>();
  /** §16.6 item 8: each forwarded request's loop key, carried in its branches. */
  private readonly loopKeys = new WeakMap<Request, string>();

  constructor(private readonly deps: SipProxyCoreDeps) {}

  get size(): number {
    return this.deps.servers.size + this.deps.clients.size;
  }

  get pending(): number {
    return this.deps.servers.pending;
  }

  get completed(): Readonly<Record<WorkClass, number>> {
    return this.deps.servers.completed;
  }

  dropped(req: Request): void {
    this.deps.servers.forget(req);
  }

  // ---- requests in ------------------------------------------------------------------

  intercept(req: Request): boolean {
    const { servers } = this.deps;
    const sip = sipRequest(req);
    if (req.method === 'ACK') {
      if (servers.absorbAck(req)) return true;
      this.preRouteOf(req, sip);
      return false; // an ACK for a 2xx travels end to end through the script
    }
    if (req.method === 'CANCEL') {
      this.receiveCancel(req);
      return true;
    }
    if (servers.open(req) === null) return true; // a retransmission, answered
    if (req.method === 'OPTIONS' && !req.inDialog && this.addressedToUs(sip)) {
      // A keepalive or health probe for this proxy: it answers as the final recipient (§11).
      this.respond(req, 200, 'OK', OPTIONS_ANSWER);
      return true;
    }
    const mf = getMaxForwards(sip);
    if (mf !== undefined && mf <= 0) {
      this.respond(req, 483, 'Too Many Hops');
      return true;
    }
    this.preRouteOf(req, sip);
    if (hasLooped(sip, () => this.loopKeyOf(req, sip))) {
      this.stats.loops++;
      this.respond(req, 482, 'Loop Detected');
      return true;
    }
    return false;
  }

  /** The request's loop key, computed once (after route preprocessing, before any forwarding changes it). */
  private loopKeyOf(req: Request, sip: SipRequest): string {
    let key = this.loopKeys.get(req);
    if (key === undefined) this.loopKeys.set(req, (key = loopKey(req, sip)));
    return key;
  }

  /** A Request-URI that names this proxy and no user in it (`sip:proxy.example.com`), with no Route elsewhere. */
  private addressedToUs(sip: SipRequest): boolean {
    const u = parseUri(sip.uri);
    if (u === null || u.user !== undefined || !this.deps.node.isUs(u)) return false;
    const first = firstRoute(sip);
    return first === null || this.deps.node.isUs(first.uri);
  }

  /** Route preprocessing, and what it tells of the request: by this proxy's Record-Route, of a dialog it marked. */
  private preRouteOf(req: Request, sip: SipRequest): void {
    const found = this.preRoute(sip);
    if (found === null) return;
    this.inOurPath.add(req);
    if (found.mark !== null && this.deps.marks.verify(found.mark, req.callId, [req.from.tag, req.to.tag])) this.inOurDialog.add(req);
  }

  /**
   * §16.4 route information preprocessing: a Request-URI that is our own Record-Route URI
   * comes from a strict router (restore the real target from the last Route); Route entries
   * that name this proxy are removed. Returns null when no Route named this proxy, else the
   * mark one of them carried (null: none).
   */
  private preRoute(sip: SipRequest): { mark: string | null } | null {
    if (!hasHeader(sip, 'route')) return null;
    const { node } = this.deps;
    // The route set is read once and written back once: linear in its length.
    let routes = getHeaders(sip, 'route');
    let ours = false;
    let mark: string | null = null;
    const markOf = (uri: string): void => {
      const m = getParam(parseUri(uri)?.params ?? [], 'mark');
      if (mark === null && typeof m === 'string') mark = m;
    };
    if (node.isUs(sip.uri)) {
      const last = routes.length > 0 ? parseNameAddr(routes[routes.length - 1]!) : null;
      if (last !== null) {
        markOf(sip.uri);
        sip.uri = last.uri;
        routes = routes.slice(0, -1);
        ours = true;
      }
    }
    let skip = 0;
    while (skip < routes.length) {
      const r = parseNameAddr(routes[skip]!);
      if (r === null || !node.isUs(r.uri)) break;
      markOf(r.uri);
      skip++;
    }
    if (skip > 0) ours = true;
    if (!ours) return null;
    setRoutes(sip, routes.slice(skip));
    return { mark };
  }

  private receiveCancel(cancel: Request): void {
    const { servers } = this.deps;
    const live = servers.live(cancel);
    // A CANCEL goes hop by hop, from where its INVITE came: a stranger who learnt the branch cannot end someone else's call.
    const stranger = live !== undefined && unmapIPv4(live.upstream.address.address) !== unmapIPv4(cancel.source.address);
    if (stranger) this.stats.cancelsFromElsewhere++;
    const st = stranger ? undefined : live;
    const known = !stranger && (live !== undefined || servers.has(cancel));
    const status = known ? 200 : 481;
    this.deps.sender.send(upstreamOf(cancel), serializeSip(buildResponse(sipRequest(cancel), status, reasonPhrase(status), st?.toTag ?? null)));
    servers.countSent(status);
    if (st === undefined || st.lastStatus >= 200 || st.canceled) return;
    this.stats.cancels++;
    st.canceled = true;
    if (st.call !== null) this.cancelBranches(st.call);
  }

  // ---- local replies ------------------------------------------------------------------

  respond(req: Request, status: number, reason: string | undefined, extras?: ReplyExtras): void {
    this.deps.servers.respond(req, status, reason, extras);
  }

  refuse(req: Request, status: number, reason: string | undefined, extras?: ReplyExtras): void {
    this.deps.servers.refuse(req, status, reason, extras);
  }

  // ---- forwarding ---------------------------------------------------------------------

  /** Carries out a forward verdict: new branches for the request (after a failure route, of the same call). */
  async forward(mc: MessageContext, plan: ForwardPlan): Promise<void> {
    const req = mc.msg;
    if (req.method === 'ACK') return this.forwardAck(req, plan);
    let call = mc.txn as ProxyCall | null;
    if (call === null) {
      const st = this.deps.servers.live(req);
      if (st === undefined) throw new Error('no server transaction for the request being forwarded');
      if (st.call !== null) throw new Error('this request has already been forwarded');
      call = new ProxyCall(st, req, mc.snapshot);
      st.call = call;
    }
    call.onFailure = plan.onFailure;
    call.onReply = plan.onReply;
    call.answerTimeoutMs = plan.answerTimeoutMs;
    call.inPath = plan.recordRoute || this.inOurPath.has(req);
    const st = call.server;
    if (st.canceled) {
      this.finishWithLocal(call, 487, 'Request Terminated');
      return;
    }
    if (st.isInvite && st.lastStatus === 0) this.respond(req, 100, 'Trying');
    this.loopKeyOf(req, sipRequest(req));
    try {
      const started = await this.startBranches(call, plan);
      if (started === 'here') {
        // Sent on, it would come back here until Max-Forwards ran out (the reference script's 404 too).
        this.finishWithLocal(call, 404, 'Not Here');
        this.deps.hooks.emitTransactionEnd({ txn: call, outcome: 'failed', status: 404 });
        return;
      }
      if (started === 'not-relayed') {
        this.stats.notRelayed++;
        mc.log.info({ ruri: sipRequest(req).uri, route: getHeaders(sipRequest(req), 'route')[0] }, 'request refused: it names a next hop elsewhere, outside a dialog this proxy record-routed, from an untrusted source');
        this.finishWithLocal(call, 403, 'Not Relaying');
        this.deps.hooks.emitTransactionEnd({ txn: call, outcome: 'failed', status: 403 });
        return;
      }
      if (started === 'unavailable') {
        this.finishWithLocal(call, 503, 'Service Unavailable', { retryAfterSec: 5 });
        this.deps.hooks.emitTransactionEnd({ txn: call, outcome: 'failed', status: 503 });
        return;
      }
      if (started === 'loop') {
        this.stats.loops++;
        mc.log.info({ ruri: sipRequest(req).uri }, 'request refused: its next hop is this proxy');
        this.finishWithLocal(call, 482, 'Loop Detected');
        this.deps.hooks.emitTransactionEnd({ txn: call, outcome: 'failed', status: 482 });
      } else if (started === 0) {
        this.finishWithLocal(call, 478, 'Unresolvable destination');
        this.deps.hooks.emitTransactionEnd({ txn: call, outcome: 'failed', status: 478 });
      }
    } catch (err) {
      const refused = isMediaRefused(err) || isRequestRefused(err) ? err : null;
      if (refused !== null) {
        mc.log.info({ status: refused.status, reason: refused.reason }, isMediaRefused(refused) ? 'request refused: its media cannot go through' : 'request refused by a module');
        this.finishWithLocal(call, refused.status, refused.reason);
      } else {
        this.deps.log.error({ err, callId: req.callId }, 'forwarding failed');
        this.finishWithLocal(call, 500, 'Server Internal Error');
      }
      this.deps.hooks.emitTransactionEnd({ txn: call, outcome: 'failed', status: refused?.status ?? 500 });
    }
  }

  /**
   * Starts a branch per target that resolves and is not this proxy itself (sending to itself
   * would loop); returns how many, 'loop' when every target that resolved was this proxy,
   * 'here' for a request whose own route ends at this proxy, 'not-relayed' for a request whose
   * own route goes elsewhere without the right to, 'unavailable' when no name could be resolved now.
   */
  private async startBranches(call: ProxyCall, plan: ForwardPlan): Promise<number | 'here' | 'loop' | 'not-relayed' | 'unavailable'> {
    const sip = sipRequest(call.request);
    const trusted = plan.trusted === true;
    const hops: { hop: NextHop; uri?: string }[] = [];
    let unavailable = false;
    if (plan.targets !== null && plan.targets.length > 0) {
      for (const t of plan.targets) {
        const h = await this.targetHop(t, sip, trusted);
        if (typeof h !== 'string') hops.push(h);
        else if (h === 'unavailable') unavailable = true;
      }
    } else {
      const hop = await this.routeHop(call.request, sip, trusted);
      if (hop === 'here' || hop === 'not-relayed' || hop === 'unavailable') return hop;
      if (hop !== 'unresolvable') hops.push({ hop });
    }
    if (hops.length === 0 && unavailable) return 'unavailable';
    const elsewhere = hops.filter((h) => !this.deps.node.isOwnAddress(h.hop.address));
    if (elsewhere.length === 0 && hops.length > 0) return 'loop';
    for (const h of elsewhere) await this.startBranch(call, h.hop, h.uri, plan.recordRoute);
    return elsewhere.length;
  }

  /**
   * A registered contact: sent to the address it registered from, with its Contact as
   * Request-URI. A bare URI (a peer proxy, a gateway): sent where the URI resolves to.
   */
  private async targetHop(t: ForwardTarget, sip: SipRequest, trusted: boolean): Promise<{ hop: NextHop; uri: string } | 'unresolvable' | 'unavailable'> {
    const uri = t.uri ?? sip.uri;
    if (t.address === undefined) {
      const hop = await resolveNextHop(uri, this.deps.resolver, trusted);
      return typeof hop === 'string' ? hop : { hop, uri };
    }
    const transport: SipTransportName = t.transport ?? 'udp';
    return { hop: { address: t.address, transport, connection: t.connection ?? null }, uri };
  }

  /**
   * §16.6 steps 6-7: the first Route if there is one (loose or strict), else the Request-URI:
   * where an alias of ours in it says, for a request that came through this proxy's
   * Record-Route, else where the URI resolves to; 'here' when that is this proxy itself (an
   * in-dialog request without a Route set, sent to the proxy's own address). Anywhere else only
   * for a request of a dialog this proxy record-routed (its Route carried the dialog's mark) or
   * from a trusted sender: otherwise 'not-relayed', before any lookup.
   */
  private async routeHop(req: Request, sip: SipRequest, trusted: boolean): Promise<HopResult | 'here' | 'not-relayed'> {
    const first = firstRoute(sip);
    const steered = trusted || this.inOurDialog.has(req);
    if (first === null) {
      if (hasHeader(sip, 'route')) return 'unresolvable';
      if (!steered) return this.deps.node.isUs(sip.uri) ? 'here' : 'not-relayed';
      const alias = this.inOurPath.has(req) ? takeAlias(sip) : null;
      if (alias !== null) return alias;
      return this.deps.node.isUs(sip.uri) ? 'here' : resolveNextHop(sip.uri, this.deps.resolver, trusted);
    }
    if (!steered) return 'not-relayed';
    const u = parseUri(first.uri);
    if (u !== null && getParam(u.params, 'lr') === undefined) {
      // A strict router: it becomes the Request-URI, the old one goes to the end of the route set.
      setRoutes(sip, [...getHeaders(sip, 'route').slice(1), `<${sip.uri}>`]);
      sip.uri = first.uri;
    }
    return resolveNextHop(first.uri, this.deps.resolver, trusted);
  }

  private async startBranch(call: ProxyCall, hop: NextHop, uri: string | undefined, recordRoute: boolean): Promise<void> {
    const req = call.request;
    const sip = sipRequest(req);
    const out = cloneSip(sip);
    if (uri !== undefined) out.uri = uri;
    decrementMaxForwards(out, getMaxForwards(sip));
    const listener = req.listener;
    const inTransport = sipWire(req).transport;
    const id = facing(this.deps.identity(listener, hop.transport), hop.address.address);
    // A record-routing proxy before this one stays in the path and answers for the caller's address.
    if (call.inPath && TARGET_METHODS.has(out.method) && !hasHeader(sip, 'record-route')) aliasContact(out, req.source, inTransport);
    if (recordRoute) {
      // Double Record-Route when the call changes address family or transport (RFC 5658): each side gets a URI it can reach.
      const inbound = facing(this.deps.identity(listener, inTransport), req.source.address);
      const mark = req.from.tag === undefined ? undefined : this.deps.marks.mark(req.callId, req.from.tag);
      if (inbound.host !== id.host || inbound.port !== id.port || inTransport !== hop.transport) prependHeader(out, 'Record-Route', recordRouteUri(inbound, inTransport, mark));
      prependHeader(out, 'Record-Route', recordRouteUri(id, hop.transport, mark));
    }
    const branch = markBranch(newBranch(), this.loopKeyOf(req, sip));
    prependHeader(out, 'Via', `SIP/2.0/${hop.transport.toUpperCase()} ${hostPort(id)};branch=${branch};rport`);
    const downstream: Destination = { transport: hop.transport, listener, address: hop.address, connection: hop.connection ?? null, ...(hop.name !== undefined ? { name: hop.name } : {}) };
    call.target = hop.address;
    call.targetTransport = hop.transport;
    await this.deps.hooks.emitRequestForward({ request: req, target: hop.address, txn: call });
    await this.describeMedia(req, null, call, out);
    const ct = this.deps.clients.start(branch, out, downstream, this, call);
    call.branches.push(ct);
    if (ct.isInvite) {
      ct.answerTimer = setTimeout(() => this.answerTimeout(ct), call.answerTimeoutMs);
      ct.answerTimer.unref();
    }
  }

  /** An ACK for a 2xx goes end to end without a transaction (§16.11: stateless, deterministic branch). */
  private async forwardAck(req: Request, plan: ForwardPlan): Promise<void> {
    const sip = sipRequest(req);
    const t = plan.targets?.[0];
    const trusted = plan.trusted === true;
    const found = t !== undefined ? await this.targetHop(t, sip, trusted) : await this.routeHop(req, sip, trusted);
    const hop = typeof found === 'string' ? null : 'hop' in found ? found.hop : found;
    if (hop === null || this.deps.node.isOwnAddress(hop.address)) return; // an ACK with nowhere (else) to go ends here
    const out = cloneSip(sip);
    if (t?.uri !== undefined) out.uri = t.uri;
    decrementMaxForwards(out, getMaxForwards(sip));
    const id = facing(this.deps.identity(req.listener, hop.transport), hop.address.address);
    const branch = `z9hG4bK${createHash('sha1').update(`${req.callId}|${getHeader(sip, 'cseq')}|${req.from.tag}|${out.uri}|${sipWire(req).via.branch}`).digest('base64url').slice(0, 16)}`;
    prependHeader(out, 'Via', `SIP/2.0/${hop.transport.toUpperCase()} ${hostPort(id)};branch=${branch};rport`);
    try {
      await this.deps.hooks.emitRequestForward({ request: req, target: hop.address, txn: null });
    } catch (err) {
      if (!isRequestRefused(err)) throw err;
      this.deps.log.debug({ callId: req.callId, status: err.status, reason: err.reason }, 'ACK dropped: refused by a module');
      return;
    }
    try {
      await this.describeMedia(req, null, null, out);
    } catch (err) {
      if (!isMediaRefused(err)) throw err;
      this.deps.log.warn({ callId: req.callId, status: err.status, reason: err.reason }, 'ACK passed with its media unchanged');
    }
    this.deps.sender.send({ transport: hop.transport, listener: req.listener, address: hop.address, connection: hop.connection ?? null, ...(hop.name !== undefined ? { name: hop.name } : {}) }, serializeSip(out));
  }

  // ---- responses in -------------------------------------------------------------------

  receiveReply(reply: Reply): void | Promise<void> {
    const owned = this.deps.clients.receive(reply);
    if (owned === true) return;
    if (owned === false) {
      // Nothing this proxy sent: passing it on would let anyone bounce a message off the proxy.
      this.stats.strayReplies++;
      return;
    }
    if (owned instanceof Promise) return owned.then(() => undefined);
    // The 2xx of an answered INVITE again (its ACK is end to end): what went upstream goes again.
    const answer = owned.answerTag === reply.to.tag ? owned.answer : null;
    if (answer === null) return this.forwardStateless(reply, owned.upstream!);
    this.deps.sender.send(owned.upstream!, answer);
    this.deps.servers.countSent(reply.status);
  }

  /** A response of one of our branches (the client transaction layer has done its part). */
  onResponse(ct: ClientTransaction, reply: Reply): void | Promise<void> {
    const call = ct.call!;
    if (call.onReply !== undefined && !(call.finished && reply.status >= 300)) {
      return this.deps.runRoute('reply', call.onReply, call, reply).then((mc) => this.branchOutcome(call, ct, reply, replyDropped(mc.verdict)));
    }
    return this.branchOutcome(call, ct, reply, false);
  }

  /** Timer B: the branch never answered. */
  onTimeout(ct: ClientTransaction): void {
    this.branchFailed(ct, 408, 'Request Timeout');
  }

  private branchOutcome(call: ProxyCall, ct: ClientTransaction, reply: Reply, dropped: boolean): void | Promise<void> {
    if (reply.status < 200) {
      if (reply.status > 100 && !call.finished && !dropped) return this.passUpstream(call, reply);
      return;
    }
    if (reply.status < 300) {
      if (call.answered) return dropped ? undefined : this.passUpstream(call, reply, ct);
      this.deps.hooks.emitAnswer({ txn: call, request: call.request, reply });
      return this.passAnswer(call, ct, reply, dropped);
    }
    if (call.finished) return;
    if (call.pending.length === 0) return this.complete(call);
  }

  /** The first 2xx: the call is answered, the answer goes up, the other branches are cancelled. */
  private passAnswer(call: ProxyCall, ct: ClientTransaction, reply: Reply, dropped: boolean): void | Promise<void> {
    call.answered = true;
    call.finished = true;
    return whenDone(dropped ? undefined : this.passUpstream(call, reply, ct), () => {
      for (const other of call.branches) if (other !== ct && other.final === null) this.deps.clients.cancel(other);
      this.deps.hooks.emitTransactionEnd({ txn: call, outcome: 'answered', status: reply.status });
    });
  }

  /** All branches are final and none answered: the failure route may try elsewhere, else the best response goes up. */
  private async complete(call: ProxyCall): Promise<void> {
    let best: Reply | null = null;
    for (const b of call.branches) if (b.final !== null && (best === null || better(b.final, best))) best = b.final;
    if (best === null) return;
    const outcome = best.local === true && best.status === 408 ? 'timeout' : 'failed';
    if (call.onFailure !== undefined && !call.server.canceled) {
      const name = call.onFailure;
      call.onFailure = undefined; // one shot: a failure route that forwards again re-arms it
      const mc = await this.deps.runRoute('failure', name, call, best);
      const next = failureOutcome(mc.verdict);
      switch (next.kind) {
        case 'forward':
          return this.forward(mc, next.plan);
        case 'respond':
          this.finishWithLocal(call, next.status, next.reason, next.extras);
          this.deps.hooks.emitTransactionEnd({ txn: call, outcome, status: next.status });
          return;
        case 'drop':
          call.finished = true;
          this.deps.hooks.emitTransactionEnd({ txn: call, outcome, status: best.status });
          return;
        case 'pass':
          break;
      }
    }
    if (best.local === true) this.finishWithLocal(call, best.status, best.reason);
    else if (best.status === 503) this.finishWithLocal(call, 500, 'Server Internal Error'); // §16.7 step 6
    else await this.passUpstream(call, best);
    call.finished = true;
    this.deps.hooks.emitTransactionEnd({ txn: call, outcome, status: best.status });
  }

  private finishWithLocal(call: ProxyCall, status: number, reason: string | undefined, extras?: ReplyExtras): void {
    call.finished = true;
    this.respond(call.request, status, reason, extras);
  }

  /**
   * Passes a response up to the previous hop: our Via off, hooks may rewrite the body, through
   * the server transaction. An INVITE's 2xx is remembered as sent on its branch (`ct`), whose
   * repeats then get the same.
   */
  private passUpstream(call: ProxyCall, reply: Reply, ct?: ClientTransaction): void | Promise<void> {
    const out = cloneSip(sipWire(reply).sip as SipResponse);
    removeHeader(out, 'via', 'first');
    this.deps.servers.withFeedback(out, call.request);
    if (call.inPath && reply.status < 300 && TARGET_METHODS.has(reply.method) && !recordRoutedBeyond(out, this.deps.node)) aliasContact(out, reply.source, sipWire(reply).transport);
    const hooked = this.deps.hooks.emitReplyForward({ txn: call, request: call.request, reply });
    const send = (): void => {
      const bytes = serializeSip(out);
      this.deps.servers.send(call.server, call.server.upstream, reply.status, bytes);
      if (ct !== undefined && ct.isInvite && reply.status >= 200 && reply.status < 300) this.deps.clients.answered(ct, call.server.upstream, bytes, reply.to.tag);
    };
    return whenDone(hooked, () => {
      const described = this.describeMedia(call.request, reply, call, out);
      if (described === undefined) return send();
      return described.then(send, (err: unknown) => {
        if (!isMediaRefused(err)) throw err;
        this.deps.log.warn({ callId: reply.callId, status: reply.status, reason: err.reason }, 'reply passed with its media unchanged');
        send();
      });
    });
  }

  /**
   * The media description an outgoing copy carries, through the media hooks, written back into
   * its body when a hook changed it. Nothing (no promise) when nobody listens or there is no SDP.
   * A MediaRefused from a hook is thrown to the caller.
   */
  private describeMedia(request: Request, reply: Reply | null, txn: TransactionView | null, out: SipMessage): Promise<void> | undefined {
    if (!this.deps.hooks.wantsMedia || !hasSdpBody(out)) return undefined;
    let offer: SdpMediaOffer | undefined;
    const emitted = this.deps.hooks.emitMedia({ request, reply, txn, offer: () => (offer ??= sipMediaOffer(out)) });
    const write = (): void => { offer?.writeTo(out); };
    return emitted instanceof Promise ? emitted.then(write) : Promise.resolve(write());
  }

  /**
   * Another 2xx on the branch of an INVITE answered already (a forking proxy beyond answered it
   * twice): our Via off, to where the INVITE came from, never to what its Vias say.
   */
  private forwardStateless(reply: Reply, upstream: Destination): void {
    const out = cloneSip(sipWire(reply).sip as SipResponse);
    removeHeader(out, 'via', 'first');
    this.stats.statelessReplies++;
    this.deps.sender.send(upstream, serializeSip(out));
    this.deps.servers.countSent(reply.status);
  }

  // ---- timers, CANCEL ----------------------------------------------------------------

  /** A branch ended without a response of its own: it counts as a local failure (§16.7 step 5, §16.8). */
  private branchFailed(ct: ClientTransaction, status: number, reason: string): void {
    const call = ct.call!;
    if (ct.final !== null) return;
    ct.clearTimers();
    ct.state = 'terminated';
    ct.final = this.localReply(call, status, reason);
    if (!call.finished && call.pending.length === 0) void this.complete(call).catch((err: unknown) => this.deps.log.error({ err }, 'failure handling failed'));
  }

  /** The branch's peer cannot be reached at all (its connection is gone, or could not be opened): it fails at once. */
  onUnreachable(ct: ClientTransaction, status: number, reason: string): void {
    this.branchFailed(ct, status, reason);
  }

  /** Timer C: a branch rang too long. Cancel it and count it as a 408 (§16.8). */
  private answerTimeout(ct: ClientTransaction): void {
    if (ct.final !== null) return;
    this.deps.clients.cancel(ct);
    this.branchFailed(ct, 408, 'Request Timeout');
  }

  private localReply(call: ProxyCall, status: number, reason: string): Reply {
    const req = call.request;
    return {
      type: 'reply', dialect: 'sip', status, reason, method: req.method, local: true, callId: req.callId, from: req.from, to: req.to,
      listener: req.listener, source: call.target, raw: Buffer.alloc(0), wire: req.wire,
    };
  }

  private cancelBranches(call: ProxyCall): void {
    for (const b of call.branches) if (b.final === null) this.deps.clients.cancel(b);
  }

  close(): void {
    this.deps.servers.close();
    this.deps.clients.close();
  }
}
