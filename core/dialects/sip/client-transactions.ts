import { canonicalIp } from '../../lib/ip-literal.ts';
import type { Reply } from '../../model/message.ts';
import { OpenMap } from '../../lib/open-map.ts';
import type { SipRequest, SipResponse } from './codec/message.ts';
import { serializeSip } from './codec/serialize.ts';
import { LingerQueue } from './linger.ts';
import { buildAck, buildCancel } from './messages.ts';
import { LINGER_MS, T1, T2, T4, TIMEOUT_64T1 } from './timers.ts';
import { ClientTransaction, FinishedClient, type ClientOwner, type Destination, type ProxyCall } from './transactions.ts';
import { sipWire } from './wire.ts';

export interface SipSender {
  /**
   * False when the message cannot go at all (no connection to the peer, and none can be opened).
   * `failed` runs if a connection dialled for it closes before it is established.
   */
  send(dest: Destination, bytes: Buffer, failed?: () => void): boolean | void;
}

export interface ClientTransactionStats {
  retransmissionsSent: number;
  /** Retransmissions put off because the answer may be waiting in the proxy's own queue. */
  retransmissionsPutOff: number;
}

/** A receive queue this deep puts a retransmission off (shallower ones are read within T1 anyway). */
const QUEUED_ANSWER_MS = 50;

/**
 * RFC 3261 §17.1, the client side: sends a request on its branch, repeats it over UDP (Timers A
 * and E), gives up after 64·T1 (Timers B and F), acknowledges a failure of an INVITE hop by hop
 * (and again when the failure is repeated: Timer D), absorbs repeated finals of a non-INVITE
 * (Timer K), sends CANCEL once a provisional response allows it (§9.1), and hands each response
 * to the transaction's owner.
 */
export class ClientTransactions {
  /** Keyed by branch and method (a CANCEL shares its INVITE's branch); open-map.ts says why not a Map. */
  private readonly table = new OpenMap<ClientTransaction | FinishedClient>();
  /** Finished client transactions: Timer D (a failure's ACK to repeat) and Timer K. */
  private readonly linger = new LingerQueue<FinishedClient>(LINGER_MS, (ct) => this.drop(ct));
  private readonly lingerShort = new LingerQueue<FinishedClient>(T4, (ct) => this.drop(ct));

  /** Responses to a live UDP branch that came from another address than the one the request went to: dropped. */
  repliesFromElsewhere = 0;

  /**
   * `queueDelayMs`: how long datagrams now wait in the proxy's own receive queues. A
   * retransmission is put off by that long: the answer it would ask for may be waiting there,
   * and under overload every needless repeat is load the proxy does not have to spare.
   */
  constructor(private readonly sender: SipSender, readonly stats: ClientTransactionStats, private readonly queueDelayMs: () => number = () => 0) {}

  get size(): number {
    return this.table.size;
  }

  /** Sends `out` (already carrying its Via with `branch`) to `downstream` and runs its timers. */
  start(branch: string, out: SipRequest, downstream: Destination, owner: ClientOwner, call: ProxyCall | null, timeoutMs = TIMEOUT_64T1): ClientTransaction {
    const bytes = serializeSip(out);
    const ct = new ClientTransaction(branch, owner, call, out, bytes, downstream, T1);
    this.table.set(`${branch}|${out.method}`, ct);
    if (this.sender.send(downstream, bytes, () => this.unreachable(ct, 503, 'Service Unavailable')) === false) {
      // After the caller has recorded the branch: it fails at once rather than after Timer B.
      setImmediate(() => this.unreachable(ct, 480, 'Temporarily Unavailable'));
      return ct;
    }
    if (downstream.transport === 'udp') this.armRetransmit(ct);
    ct.timeoutTimer = setTimeout(() => this.timeout(ct), Math.min(timeoutMs, TIMEOUT_64T1));
    ct.timeoutTimer.unref();
    return ct;
  }

  /** Timers A (INVITE) and E (others): repeat the request over UDP, doubling up to T2 for non-INVITE. */
  private armRetransmit(ct: ClientTransaction, after = ct.retransmitEvery, putOff = false): void {
    ct.retransmitTimer = setTimeout(() => {
      if (ct.state !== 'calling' && !(ct.state === 'proceeding' && !ct.isInvite)) return;
      const waiting = putOff ? 0 : this.queueDelayMs();
      if (waiting >= QUEUED_ANSWER_MS) {
        // Once: a request really lost on the way out is still repeated, that much later.
        this.stats.retransmissionsPutOff++;
        this.armRetransmit(ct, waiting, true);
        return;
      }
      this.stats.retransmissionsSent++;
      this.sender.send(ct.downstream, ct.bytes);
      ct.retransmitEvery = ct.isInvite ? ct.retransmitEvery * 2 : Math.min(ct.retransmitEvery * 2, T2);
      this.armRetransmit(ct);
    }, after);
    ct.retransmitTimer.unref();
  }

  private unreachable(ct: ClientTransaction, status: number, reason: string): void {
    if (ct.final !== null || ct.state === 'terminated') return;
    ct.clearTimers();
    ct.state = 'terminated';
    ct.owner.onUnreachable(ct, status, reason);
  }

  private timeout(ct: ClientTransaction): void {
    ct.timeoutTimer = null;
    if (ct.final !== null) return;
    ct.clearTimers();
    ct.state = 'terminated';
    ct.owner.onTimeout(ct);
  }

  /**
   * A response: to its transaction's owner, after the transaction's own work. Returns false when
   * it matches no transaction, live or finished: nothing this proxy sent (the proxy core drops
   * it); the finished branch of an answered INVITE for a 2xx on it, which the core passes on.
   */
  receive(reply: Reply): boolean | FinishedClient | Promise<boolean> {
    const key = `${sipWire(reply).via.branch ?? ''}|${reply.method}`;
    const ct = this.table.get(key);
    if (ct === undefined) return false;
    if (ct.downstream.transport === 'udp' && !sameHost(reply.source.address, ct.downstream.address.address)) {
      // Only the element the request went to answers it (RFC 3261 §18.1.2 in spirit): a stranger
      // who learnt the branch cannot end or answer someone else's call.
      this.repliesFromElsewhere++;
      return true;
    }
    if (ct instanceof FinishedClient) {
      // A repeated final of a finished branch: acknowledge it again if it was a failure.
      const ack = reply.status >= 300 ? ct.ack : null;
      if (ack !== null) this.sender.send(ct.downstream, ack);
      // A 2xx of an answered INVITE goes up again (RFC 6026 §8.3); anything else ends here.
      return reply.status < 200 || reply.status >= 300 || ct.upstream === null ? true : ct;
    }
    if (reply.status < 200) {
      if (ct.state === 'calling') ct.state = 'proceeding';
      ct.gotProvisional = true;
      if (ct.isInvite && ct.retransmitTimer !== null) {
        clearTimeout(ct.retransmitTimer);
        ct.retransmitTimer = null;
      }
      if (ct.isInvite && ct.timeoutTimer !== null) {
        clearTimeout(ct.timeoutTimer); // Timer B stops at the first provisional; the owner's Timer C rules now
        ct.timeoutTimer = null;
      }
      if (ct.cancelPending) this.sendCancel(ct);
    } else {
      const ack = ct.isInvite && reply.status >= 300 ? serializeSip(buildAck(ct.out, sipWire(reply).sip as SipResponse)) : null;
      if (ack !== null) this.sender.send(ct.downstream, ack);
      ct.state = 'completed';
      ct.clearTimers();
      // Timer D (INVITE failures: repeat the ACK), K (non-INVITE: absorb repeats), or an answered
      // INVITE's Accepted state (RFC 6026 §8: its 2xx repeats are passed on for 64·T1).
      const finished = new FinishedClient(key, ct.downstream, ack);
      this.table.set(key, finished);
      (ack !== null || (ct.isInvite && reply.status < 300) ? this.linger : this.lingerShort).add(finished);
      if (ct.final !== null && reply.status >= 300) return true; // a timed-out branch answering late
      if (reply.status >= 300 || ct.final === null) ct.final = reply;
    }
    const owned = ct.owner.onResponse(ct, reply);
    return owned instanceof Promise ? owned.then(() => true) : true;
  }

  /** The 2xx of an INVITE branch went upstream as `bytes`: its repeats get the same (Accepted state). */
  answered(ct: ClientTransaction, upstream: Destination, bytes: Buffer, toTag: string | undefined): void {
    const finished = this.table.get(`${ct.branch}|${ct.out.method}`);
    if (finished instanceof FinishedClient && finished.upstream === null) finished.answered(upstream, bytes, toTag);
  }

  /** CANCEL goes only after a provisional response (§9.1); before that it waits for one. */
  cancel(ct: ClientTransaction): void {
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
    this.sender.send(ct.downstream, serializeSip(buildCancel(ct.out)));
  }

  private drop(ct: FinishedClient): void {
    if (this.table.get(ct.key) === ct) this.table.delete(ct.key);
  }

  close(): void {
    for (const ct of this.table.values()) if (ct instanceof ClientTransaction) ct.clearTimers();
    this.table.clear();
    this.linger.clear();
    this.lingerShort.clear();
  }
}

function sameHost(a: string, b: string): boolean {
  return a === b || (canonicalIp(a) ?? a) === (canonicalIp(b) ?? b);
}
