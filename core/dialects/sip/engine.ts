import { createHash } from 'node:crypto';
import type { MessageContext } from '../../kernel/message-context.ts';
import type { ForwardPlan, ForwardTarget, ReplyExtras } from '../../model/verdict.ts';
import type { Logger } from '../../lib/log.ts';
import { reasonPhrase, type Reply, type Request } from '../../model/message.ts';
import { getHeader, getHeaders, getMaxForwards, hasHeader, prependHeader, removeHeader, setHeader, type SipRequest, type SipResponse } from './codec/message.ts';
import { serializeSip } from './codec/serialize.ts';
import { parseNameAddr, parseUri, type NameAddr } from './codec/uri.ts';
import { getParam } from './codec/params.ts';
import { parseViaList } from './codec/via.ts';
import { whenDone } from '../../lib/when-done.ts';
import { isRejectRequest, type ProxyHooks, type TransactionView } from '../../kernel/hooks.ts';
import type { ProxyEngine } from '../../kernel/engine.ts';
import { facing, hostPort, recordRouteUri, type LocalNode, type SipIdentity } from './local-node.ts';
import { buildAck, buildCancel, buildResponse, decrementMaxForwards } from './messages.ts';
import { FinishedTable } from './finished-table.ts';
import { OpenMap } from '../../lib/open-map.ts';
import { LingerQueue } from './linger.ts';
import { resolveNextHop, type NextHop } from './next-hop.ts';
import { T1, T2, T4, TIMEOUT_64T1, LINGER_MS } from './timers.ts';
import { ClientTransaction, FinishedClient, FinishedServer, ProxyCall, ServerTransaction, newBranch, type Destination } from './transactions.ts';
import { cloneSip, sipRequest, sipWire, type SipTransportName } from './wire.ts';

export interface SipSender {
  send(dest: Destination, bytes: Buffer): void;
}

export interface SipEngineDeps {
  readonly hooks: ProxyHooks;
  readonly log: Logger;
  readonly sender: SipSender;
  readonly node: LocalNode;
  /** How the proxy names itself on a listener. */
  identity(listener: string): SipIdentity;
  runRoute(kind: 'reply' | 'failure', name: string, txn: TransactionView, reply: Reply): Promise<MessageContext>;
}

export interface SipEngineStats {
  retransmissionsAbsorbed: number;
  retransmissionsSent: number;
  cancels: number;
  statelessReplies: number;
  strayReplies: number;
}

/** §17.2.3: branch, sent-by and method (ACK matches its INVITE). */
function serverKey(req: Request): string {
  const w = sipWire(req);
  const method = req.method === 'ACK' || req.method === 'CANCEL' ? 'INVITE' : req.method;
  const via = w.via;
  if (via.branch !== undefined && via.branch.startsWith('z9hG4bK')) return `${via.branch}|${via.host}:${via.port ?? 5060}|${method}`;
  const cseq = (getHeader(w.sip, 'cseq') ?? '').trim().split(/\s+/)[0];
  return `${req.callId}|${cseq}|${req.from.tag ?? ''}|${method}`;
}

function upstreamOf(req: Request): Destination {
  const w = sipWire(req);
  return { transport: w.transport, listener: req.listener, address: req.source, connection: w.connection };
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
 * The SIP dialect's stateful proxy (RFC 3261 §16, §17): server and client transactions
 * over UDP and TCP with their timers, retransmission absorption, 100 Trying, hop-by-hop
 * ACK, CANCEL, parallel forking with best-response selection, loose routing and
 * Record-Route, responses sent back along the Via path.
 */
export class SipProxyEngine implements ProxyEngine {
  /** Live transactions come and go with every call: open-map.ts says why these are not Maps. */
  private readonly servers = new OpenMap<ServerTransaction | FinishedServer>();
  /** Keyed by branch and method (a CANCEL shares its INVITE's branch). */
  private readonly clients = new OpenMap<ClientTransaction | FinishedClient>();
  readonly stats: SipEngineStats = { retransmissionsAbsorbed: 0, retransmissionsSent: 0, cancels: 0, statelessReplies: 0, strayReplies: 0 };
  /** Finished non-INVITE server transactions (Timer J), outside the heap. */
  private readonly finished = new FinishedTable(LINGER_MS);
  /** Finished INVITE server transactions absorbing retransmissions and their ACK (Timer H). */
  private readonly serverLinger = new LingerQueue<FinishedServer>(LINGER_MS, (st) => this.dropServer(st));
  /** Finished client transactions: Timer D (a failure's ACK to repeat) and Timer K. */
  private readonly clientLinger = new LingerQueue<FinishedClient>(LINGER_MS, (ct) => this.dropClient(ct));
  private readonly clientLingerShort = new LingerQueue<FinishedClient>(T4, (ct) => this.dropClient(ct));
  /**
   * Finished server transactions kept for T4: refusals (enough for a request retransmitted while
   * the refusal was on its way) and acknowledged failures (Timer I absorbs repeated ACKs).
   */
  private readonly serverLingerShort = new LingerQueue<FinishedServer>(T4, (st) => this.dropServer(st));

  constructor(private readonly deps: SipEngineDeps) {}

  get size(): number {
    return this.servers.size + this.finished.size + this.clients.size;
  }

  // ---- requests in ------------------------------------------------------------------

  intercept(req: Request): boolean {
    const sip = sipRequest(req);
    if (req.method === 'ACK') {
      const st = this.servers.get(serverKey(req));
      if (st instanceof FinishedServer && st.lastStatus >= 300) {
        if (!st.acked) {
          // The ACK for our non-2xx final: hop-by-hop, it ends here (Timer I keeps absorbing repeats).
          st.acked = true;
          st.clearTimers();
          this.serverLingerShort.add(st);
        }
        return true;
      }
      this.preRoute(sip);
      return false; // an ACK for a 2xx travels end to end through the script
    }
    if (req.method === 'CANCEL') {
      this.receiveCancel(req);
      return true;
    }
    const key = serverKey(req);
    const existing = this.servers.get(key);
    if (existing !== undefined) {
      this.stats.retransmissionsAbsorbed++;
      if (existing.lastResponse !== null) this.deps.sender.send(existing.upstream, existing.lastResponse);
      return true;
    }
    const finished = this.finished.get(key);
    if (finished !== undefined) {
      this.stats.retransmissionsAbsorbed++;
      this.deps.sender.send(finished.upstream, finished.response);
      return true;
    }
    const st = new ServerTransaction(key, req, sip, upstreamOf(req));
    this.servers.set(key, st);
    const mf = getMaxForwards(sip);
    if (mf !== undefined && mf <= 0 && req.method !== 'OPTIONS') {
      this.respond(req, 483, 'Too Many Hops');
      return true;
    }
    this.preRoute(sip);
    return false;
  }

  /**
   * §16.4 route information preprocessing: a Request-URI that is our own Record-Route URI
   * comes from a strict router (restore the real target from the last Route); Route entries
   * that name this proxy are removed.
   */
  private preRoute(sip: SipRequest): void {
    const { node } = this.deps;
    if (node.isUs(sip.uri)) {
      const routes = getHeaders(sip, 'route');
      const last = routes.length > 0 ? parseNameAddr(routes[routes.length - 1]!) : null;
      if (last !== null) {
        sip.uri = last.uri;
        setRoutes(sip, routes.slice(0, -1));
      }
    }
    for (;;) {
      const first = firstRoute(sip);
      if (first === null || !node.isUs(first.uri)) break;
      removeHeader(sip, 'route', 'first');
    }
  }

  private receiveCancel(cancel: Request): void {
    const st = this.servers.get(serverKey(cancel));
    const sip = sipRequest(cancel);
    const reply = (status: number, tag: string | null): void => {
      this.deps.sender.send(upstreamOf(cancel), serializeSip(buildResponse(sip, status, reasonPhrase(status), tag)));
    };
    if (st === undefined) {
      reply(481, null);
      return;
    }
    reply(200, st instanceof ServerTransaction ? st.toTag : null);
    if (!(st instanceof ServerTransaction) || st.lastStatus >= 200 || st.canceled) return;
    this.stats.cancels++;
    st.canceled = true;
    if (st.call !== null) this.cancelBranches(st.call);
  }

  // ---- local replies ------------------------------------------------------------------

  respond(req: Request, status: number, reason: string | undefined, extras?: ReplyExtras): void {
    if (req.method === 'ACK') return; // nothing answers an ACK
    const found = this.servers.get(serverKey(req));
    const st = found instanceof ServerTransaction ? found : undefined;
    const sip = sipRequest(req);
    const bytes = serializeSip(buildResponse(sip, status, reason ?? reasonPhrase(status), st?.toTag ?? null, extras));
    this.sendUpstream(st, upstreamOf(req), status, bytes);
  }

  refuse(req: Request, status: number, reason: string | undefined, extras?: ReplyExtras): void {
    if (req.method === 'ACK') return;
    const found = this.servers.get(serverKey(req));
    const st = found instanceof ServerTransaction ? found : undefined;
    const dest = upstreamOf(req);
    const bytes = serializeSip(buildResponse(sipRequest(req), status, reason ?? reasonPhrase(status), st?.toTag ?? null, extras));
    this.deps.sender.send(dest, bytes);
    if (st === undefined) return;
    st.clearTimers();
    // No Timer G: a repeated request is answered again from here, its ACK is absorbed.
    const done = new FinishedServer(st.key, dest, bytes, status, st.isInvite);
    done.acked = true;
    this.servers.set(st.key, done);
    this.serverLingerShort.add(done);
  }

  /** Sends a response upstream through its server transaction, which remembers it for retransmissions. */
  private sendUpstream(st: ServerTransaction | undefined, dest: Destination, status: number, bytes: Buffer): void {
    this.deps.sender.send(dest, bytes);
    if (st === undefined || this.servers.get(st.key) !== st) return;
    if (status < 200) {
      if (st.lastStatus < 200) {
        st.lastStatus = status;
        st.lastResponse = bytes;
      }
      return;
    }
    st.clearTimers();
    // A 2xx to an INVITE ends the transaction at once (the ACK goes end to end).
    if (st.isInvite && status < 300) {
      this.servers.delete(st.key);
      return;
    }
    // Keep only what absorbs retransmissions: the call, its messages and branches are let go.
    if (!st.isInvite) {
      this.servers.delete(st.key);
      this.finished.add(st.key, dest, status, bytes);
      return;
    }
    const done = new FinishedServer(st.key, dest, bytes, status, st.isInvite);
    this.servers.set(st.key, done);
    // Timer G: an INVITE's non-2xx final is repeated over UDP until the ACK comes (Timer H ends it).
    if (dest.transport === 'udp') {
      let every = T1;
      const repeat = (): void => {
        if (done.acked || this.servers.get(done.key) !== done) return;
        this.stats.retransmissionsSent++;
        this.deps.sender.send(dest, bytes);
        every = Math.min(every * 2, T2);
        done.setTimer(setTimeout(repeat, every).unref());
      };
      done.setTimer(setTimeout(repeat, every).unref());
    }
    this.serverLinger.add(done);
  }

  private dropClient(ct: FinishedClient): void {
    if (this.clients.get(ct.key) === ct) this.clients.delete(ct.key);
  }

  private dropServer(st: FinishedServer): void {
    st.clearTimers();
    if (this.servers.get(st.key) === st) this.servers.delete(st.key);
  }

  // ---- forwarding ---------------------------------------------------------------------

  async forward(mc: MessageContext, opts: ForwardPlan): Promise<void> {
    const req = mc.msg;
    if (req.method === 'ACK') return this.forwardAck(mc, opts);
    let call = mc.txn as ProxyCall | null;
    if (call === null) {
      const st = this.servers.get(serverKey(req));
      if (!(st instanceof ServerTransaction)) throw new Error('no server transaction for the request being forwarded');
      if (st.call !== null) throw new Error('this request has already been forwarded');
      call = new ProxyCall(st, req, mc.snapshot);
      st.call = call;
    }
    call.onFailure = opts.onFailure;
    call.onReply = opts.onReply;
    call.answerTimeoutMs = opts.answerTimeoutMs;
    const st = call.server;
    if (st.canceled) {
      this.respond(req, 487, 'Request Terminated');
      return;
    }
    if (st.isInvite && st.lastStatus === 0) this.respond(req, 100, 'Trying');
    try {
      await this.startBranches(mc, call, opts);
    } catch (err) {
      if (isRejectRequest(err)) {
        mc.log.info({ status: err.status, reason: err.reason }, 'request refused while forwarding');
        this.finishWithLocal(call, err.status, err.reason);
      } else {
        this.deps.log.error({ err, callId: req.callId }, 'forwarding failed');
        this.finishWithLocal(call, 500, 'Server Internal Error');
      }
      this.deps.hooks.emitTransactionEnd({ txn: call, outcome: 'failed', status: isRejectRequest(err) ? err.status : 500 });
    }
  }

  private async startBranches(mc: MessageContext, call: ProxyCall, opts: ForwardPlan): Promise<void> {
    const sip = sipRequest(mc.msg);
    const hops: { hop: NextHop; uri?: string }[] = [];
    if (opts.targets !== null && opts.targets.length > 0) {
      for (const t of opts.targets) {
        const h = await this.targetHop(t, sip);
        if (h !== null) hops.push(h);
      }
    } else {
      const hop = await this.routeHop(sip);
      if (hop !== null) hops.push({ hop });
    }
    if (hops.length === 0) {
      this.finishWithLocal(call, 478, 'Unresolvable destination');
      return;
    }
    for (const h of hops) await this.startBranch(mc, call, h.hop, h.uri, opts.recordRoute === true);
  }

  /**
   * A registered contact: sent to the address it registered from, with its Contact as
   * Request-URI. A bare URI (a peer proxy, a gateway): sent where the URI resolves to.
   */
  private async targetHop(t: ForwardTarget, sip: SipRequest): Promise<{ hop: NextHop; uri: string } | null> {
    const uri = t.uri ?? sip.uri;
    if (t.address === undefined) {
      const hop = await resolveNextHop(uri);
      return hop === null ? null : { hop, uri };
    }
    const transport: SipTransportName = t.transport ?? 'udp';
    return { hop: { address: t.address, transport, connection: t.connection ?? null }, uri };
  }

  /** §16.6 steps 6-7: the first Route if there is one (loose or strict), else the Request-URI. */
  private async routeHop(sip: SipRequest): Promise<NextHop | null> {
    const first = firstRoute(sip);
    if (first === null) return hasHeader(sip, 'route') ? null : resolveNextHop(sip.uri);
    const u = parseUri(first.uri);
    if (u !== null && getParam(u.params, 'lr') === undefined) {
      // A strict router: it becomes the Request-URI, the old one goes to the end of the route set.
      setRoutes(sip, [...getHeaders(sip, 'route').slice(1), `<${sip.uri}>`]);
      sip.uri = first.uri;
    }
    return resolveNextHop(first.uri);
  }

  private async startBranch(mc: MessageContext, call: ProxyCall, hop: NextHop, uri: string | undefined, recordRoute: boolean): Promise<void> {
    const req = mc.msg;
    const sip = sipRequest(req);
    const out = cloneSip(sip);
    if (uri !== undefined) out.uri = uri;
    decrementMaxForwards(out, getMaxForwards(sip));
    const listener = req.listener;
    const ours = this.deps.identity(listener);
    const id = facing(ours, hop.address.address);
    if (recordRoute) {
      // Double Record-Route when the call changes address family or transport (RFC 5658): each side gets a URI it can reach.
      const inbound = facing(ours, req.source.address);
      const inTransport = sipWire(req).transport;
      if (inbound.host !== id.host || inTransport !== hop.transport) prependHeader(out, 'Record-Route', recordRouteUri(inbound, inTransport));
      prependHeader(out, 'Record-Route', recordRouteUri(id, hop.transport));
    }
    const branch = newBranch();
    prependHeader(out, 'Via', `SIP/2.0/${hop.transport.toUpperCase()} ${hostPort(id)};branch=${branch};rport`);
    const downstream: Destination = { transport: hop.transport, listener, address: hop.address, connection: hop.connection ?? null };
    call.target = hop.address;
    await this.deps.hooks.emitRequestForward({ mc, request: req, target: hop.address, txn: call, sip: out });
    const bytes = serializeSip(out);
    const ct = new ClientTransaction(branch, call, out, bytes, downstream, T1);
    this.clients.set(`${branch}|${out.method}`, ct);
    call.branches.push(ct);
    this.deps.sender.send(downstream, bytes);
    if (hop.transport === 'udp') this.armRetransmit(ct);
    ct.timeoutTimer = setTimeout(() => this.branchTimeout(ct, 408, 'Request Timeout'), TIMEOUT_64T1);
    ct.timeoutTimer.unref();
    if (ct.isInvite) {
      ct.answerTimer = setTimeout(() => this.answerTimeout(ct), call.answerTimeoutMs);
      ct.answerTimer.unref();
    }
  }

  /** Timers A (INVITE) and E (others): repeat the request over UDP, doubling up to T2 for non-INVITE. */
  private armRetransmit(ct: ClientTransaction): void {
    ct.retransmitTimer = setTimeout(() => {
      if (ct.state !== 'calling' && !(ct.state === 'proceeding' && !ct.isInvite)) return;
      this.stats.retransmissionsSent++;
      this.deps.sender.send(ct.downstream, ct.bytes);
      ct.retransmitEvery = ct.isInvite ? ct.retransmitEvery * 2 : Math.min(ct.retransmitEvery * 2, T2);
      this.armRetransmit(ct);
    }, ct.retransmitEvery);
    ct.retransmitTimer.unref();
  }

  /** An ACK for a 2xx goes end to end without a transaction (§16.11: stateless, deterministic branch). */
  private async forwardAck(mc: MessageContext, opts: ForwardPlan): Promise<void> {
    const req = mc.msg;
    const sip = sipRequest(req);
    const t = opts.targets?.[0];
    const hop = t !== undefined ? (await this.targetHop(t, sip))?.hop ?? null : await this.routeHop(sip);
    if (hop === null) return;
    const out = cloneSip(sip);
    if (t?.uri !== undefined) out.uri = t.uri;
    decrementMaxForwards(out, getMaxForwards(sip));
    const id = facing(this.deps.identity(req.listener), hop.address.address);
    const branch = `z9hG4bK${createHash('sha1').update(`${req.callId}|${getHeader(sip, 'cseq')}|${req.from.tag}|${out.uri}|${sipWire(req).via.branch}`).digest('base64url').slice(0, 16)}`;
    prependHeader(out, 'Via', `SIP/2.0/${hop.transport.toUpperCase()} ${hostPort(id)};branch=${branch};rport`);
    await this.deps.hooks.emitRequestForward({ mc, request: req, target: hop.address, txn: null, sip: out });
    this.deps.sender.send({ transport: hop.transport, listener: req.listener, address: hop.address, connection: hop.connection ?? null }, serializeSip(out));
  }

  // ---- responses in -------------------------------------------------------------------

  receiveReply(reply: Reply): void | Promise<void> {
    const w = sipWire(reply);
    const branch = w.via.branch ?? '';
    const key = `${branch}|${reply.method}`;
    const ct = this.clients.get(key);
    if (ct instanceof FinishedClient) {
      // A repeated final of a finished branch: ACK it again if it was a failure.
      const ack = reply.status >= 300 ? ct.ack : null;
      if (ack !== null) this.deps.sender.send(ct.downstream, ack);
      else if (reply.status >= 200 && reply.status < 300 && reply.method !== 'CANCEL') this.forwardStateless(reply);
      return;
    }
    if (ct === undefined) {
      if (reply.method !== 'CANCEL') this.forwardStateless(reply);
      return;
    }
    if (reply.status < 200) {
      if (ct.state === 'calling') ct.state = 'proceeding';
      ct.gotProvisional = true;
      if (ct.isInvite && ct.retransmitTimer !== null) {
        clearTimeout(ct.retransmitTimer);
        ct.retransmitTimer = null;
      }
      if (ct.isInvite && ct.timeoutTimer !== null) {
        clearTimeout(ct.timeoutTimer); // Timer B stops at the first provisional; Timer C rules now
        ct.timeoutTimer = null;
      }
      if (ct.cancelPending) this.sendCancel(ct);
    } else {
      const ack = ct.isInvite && reply.status >= 300 ? serializeSip(buildAck(ct.out, sipWire(reply).sip as SipResponse)) : null;
      if (ack !== null) this.deps.sender.send(ct.downstream, ack);
      ct.state = 'completed';
      ct.clearTimers();
      // Timer D (INVITE failures: repeat the ACK) or K (non-INVITE: absorb repeats); a 2xx needs none.
      if (ct.isInvite && reply.status < 300) this.clients.delete(key);
      else {
        const finished = new FinishedClient(key, ct.downstream, ack);
        this.clients.set(key, finished);
        (ack !== null ? this.clientLinger : this.clientLingerShort).add(finished);
      }
      if (ct.final !== null && reply.status >= 300) return; // a timed-out branch answering late
      if (reply.status >= 300 || ct.final === null) ct.final = reply;
    }
    return this.branchResponse(ct.call, ct, reply);
  }

  /**
   * A branch's response, through the reply route if the call armed one. Synchronous unless
   * something on the way waits (a route, a hook binding media ports): most responses.
   */
  private branchResponse(call: ProxyCall, ct: ClientTransaction, reply: Reply): void | Promise<void> {
    if (call.onReply !== undefined && !(call.finished && reply.status >= 300)) {
      return this.deps.runRoute('reply', call.onReply, call, reply).then((mc) => this.branchOutcome(call, ct, reply, mc.verdict?.kind === 'drop'));
    }
    return this.branchOutcome(call, ct, reply, false);
  }

  private branchOutcome(call: ProxyCall, ct: ClientTransaction, reply: Reply, dropped: boolean): void | Promise<void> {
    if (reply.status < 200) {
      if (reply.status > 100 && !call.finished && !dropped) return this.passUpstream(call, reply);
      return;
    }
    if (reply.status < 300) {
      if (call.answered) return dropped ? undefined : this.passUpstream(call, reply);
      const decided = this.deps.hooks.emitAnswer({ txn: call, request: call.request, reply, after: (fn) => queueMicrotask(fn) });
      return whenDone(decided, () => this.passAnswer(call, ct, reply, dropped));
    }
    if (call.finished) return;
    if (call.pending.length === 0) return this.complete(call);
  }

  /** The first 2xx: the call is answered, the answer goes up, the other branches are cancelled. */
  private passAnswer(call: ProxyCall, ct: ClientTransaction, reply: Reply, dropped: boolean): void | Promise<void> {
    call.answered = true;
    call.finished = true;
    return whenDone(dropped ? undefined : this.passUpstream(call, reply), () => {
      for (const other of call.branches) if (other !== ct && other.final === null) this.cancelBranch(other);
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
      call.onFailure = undefined;
      const before = call.branches.length;
      const mc = await this.deps.runRoute('failure', name, call, best);
      const v = mc.verdict;
      if (v?.kind === 'forward') {
        await this.forward(mc, v.plan);
        if (call.branches.length > before) return;
      }
      if (v?.kind === 'respond') {
        this.finishWithLocal(call, v.status, v.reason, v.extras);
        this.deps.hooks.emitTransactionEnd({ txn: call, outcome, status: v.status });
        return;
      }
      if (v?.kind === 'drop') {
        call.finished = true;
        this.deps.hooks.emitTransactionEnd({ txn: call, outcome, status: best.status });
        return;
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

  /** Passes a response up to the previous hop: our Via off, hooks may rewrite the body, through the server transaction. */
  private passUpstream(call: ProxyCall, reply: Reply): void | Promise<void> {
    const out = cloneSip(sipWire(reply).sip as SipResponse);
    removeHeader(out, 'via', 'first');
    const hooked = this.deps.hooks.emitReplyForward({ txn: call, request: call.request, reply, sip: out });
    return whenDone(hooked, () => this.sendUpstream(call.server, call.server.upstream, reply.status, serializeSip(out)));
  }

  /** A response with no transaction (a repeated 2xx after ours ended): our Via off, on to the next Via's address. */
  private forwardStateless(reply: Reply): void {
    const out = cloneSip(sipWire(reply).sip as SipResponse);
    const vias = parseViaList(getHeaders(out, 'via').join(', '));
    const ours = vias?.[0];
    const next = vias?.[1];
    if (ours === undefined || next === undefined || !this.deps.node.isLocalHost(ours.host)) {
      this.stats.strayReplies++;
      return;
    }
    removeHeader(out, 'via', 'first');
    const host = next.received ?? (next.host.startsWith('[') ? next.host.slice(1, -1) : next.host);
    const port = next.rport ?? next.port ?? 5060;
    this.stats.statelessReplies++;
    this.deps.sender.send({ transport: next.transport.toLowerCase() === 'tcp' ? 'tcp' : 'udp', listener: reply.listener, address: { address: host, port }, connection: null }, serializeSip(out));
  }

  // ---- timers, CANCEL, ACK ---------------------------------------------------------------

  private branchTimeout(ct: ClientTransaction, status: number, reason: string): void {
    if (ct.final !== null) return;
    ct.clearTimers();
    ct.state = 'terminated';
    ct.final = this.localReply(ct.call, status, reason);
    if (!ct.call.finished && ct.call.pending.length === 0) void this.complete(ct.call).catch((err: unknown) => this.deps.log.error({ err }, 'failure handling failed'));
  }

  /** Timer C: a branch rang too long. Cancel it and count it as a 408 (§16.8). */
  private answerTimeout(ct: ClientTransaction): void {
    if (ct.final !== null) return;
    this.cancelBranch(ct);
    this.branchTimeout(ct, 408, 'Request Timeout');
  }

  private localReply(call: ProxyCall, status: number, reason: string): Reply {
    const req = call.request;
    return {
      type: 'reply', dialect: 'sip', status, reason, method: req.method, local: true, callId: req.callId, from: req.from, to: req.to,
      listener: req.listener, source: call.target, raw: Buffer.alloc(0), wire: req.wire,
    };
  }

  private cancelBranches(call: ProxyCall): void {
    for (const b of call.branches) if (b.final === null) this.cancelBranch(b);
  }

  /** CANCEL goes only after a provisional response (§9.1); before that it waits. */
  private cancelBranch(ct: ClientTransaction): void {
    if (!ct.isInvite || ct.cancelSent) return;
    if (!ct.gotProvisional) {
      ct.cancelPending = true;
      return;
    }
    this.sendCancel(ct);
  }

  private sendCancel(ct: ClientTransaction): void {
    if (ct.cancelSent) return;
    ct.cancelSent = true;
    ct.cancelPending = false;
    this.deps.sender.send(ct.downstream, serializeSip(buildCancel(ct.out)));
  }

  close(): void {
    for (const st of this.servers.values()) st.clearTimers();
    for (const ct of this.clients.values()) if (ct instanceof ClientTransaction) ct.clearTimers();
    this.servers.clear();
    this.clients.clear();
    this.finished.clear();
    this.serverLinger.clear();
    this.clientLinger.clear();
    this.clientLingerShort.clear();
    this.serverLingerShort.clear();
  }
}
