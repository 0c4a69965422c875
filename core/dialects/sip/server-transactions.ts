import { classIndex } from '../../kernel/message-counts.ts';
import type { WorkClass } from '../../kernel/overload.ts';
import { OpenMap } from '../../lib/open-map.ts';
import { reasonPhrase, type Request } from '../../model/message.ts';
import type { ReplyExtras } from '../../model/verdict.ts';
import { getHeader } from './codec/message.ts';
import type { SipMessage } from './codec/message.ts';
import { serializeSip } from './codec/serialize.ts';
import type { SipSender } from './client-transactions.ts';
import { FinishedTable } from './finished-table.ts';
import { LingerQueue } from './linger.ts';
import { buildResponse } from './messages.ts';
import { addOverloadFeedback, type OverloadFeedback } from './overload-feedback.ts';
import { LINGER_MS, T1, T2, T4 } from './timers.ts';
import { FinishedServer, ServerTransaction, type Destination } from './transactions.ts';
import { sipRequest, sipWire } from './wire.ts';

export interface ServerTransactionStats {
  retransmissionsAbsorbed: number;
  retransmissionsSent: number;
}

/** §17.2.3: branch, sent-by and method (ACK and CANCEL match their INVITE). */
export function serverKey(req: Request): string {
  const w = sipWire(req);
  const method = req.method === 'ACK' || req.method === 'CANCEL' ? 'INVITE' : req.method;
  const via = w.via;
  if (via.branch !== undefined && via.branch.startsWith('z9hG4bK')) return `${via.branch}|${via.host}:${via.port ?? 5060}|${method}`;
  const cseq = (getHeader(w.sip, 'cseq') ?? '').trim().split(/\s+/)[0];
  return `${req.callId}|${cseq}|${req.from.tag ?? ''}|${method}`;
}

/** Where a response to `req` goes: back the way it came (its connection, or the address it came from). */
export function upstreamOf(req: Request): Destination {
  const w = sipWire(req);
  return { transport: w.transport, listener: req.listener, address: req.source, connection: w.connection };
}

/**
 * RFC 3261 §17.2, the server side: one transaction per request received, which absorbs the
 * request's retransmissions by repeating the last response, repeats an INVITE's failure over UDP
 * until its ACK comes (Timer G, ended by H), takes that ACK hop by hop, and lingers after its
 * final response to absorb late repeats (Timers H, I, J). What is kept after the final is only
 * what repeating it needs.
 */
export class ServerTransactions {
  /** Live transactions come and go with every call: open-map.ts says why this is not a Map. */
  private readonly table = new OpenMap<ServerTransaction | FinishedServer>();
  /** Finished non-INVITE transactions (Timer J), outside the heap. */
  private readonly finished = new FinishedTable(LINGER_MS);
  /** Finished INVITE transactions absorbing retransmissions and their ACK (Timer H). */
  private readonly linger = new LingerQueue<FinishedServer>(LINGER_MS, (st) => this.drop(st));
  /**
   * Kept for T4: refusals (enough for a request retransmitted while the refusal was on its way)
   * and acknowledged failures (Timer I absorbs repeated ACKs).
   */
  private readonly lingerShort = new LingerQueue<FinishedServer>(T4, (st) => this.drop(st));

  /** Live transactions (no final response yet): overload control caps them. */
  private liveCount = 0;
  /** New (out-of-dialog) requests answered finally, per class: the rate overload control measures. */
  readonly completed: Record<WorkClass, number> = { call: 0, register: 0, other: 0 };
  /** Responses sent upstream, the proxy's own and those it passed on, by class (1xx first); repeats not counted. */
  readonly responsesSent = [0, 0, 0, 0, 0, 0];

  /** `feedback`: RFC 7339 overload feedback for the clients that ask (overload-feedback.ts). */
  constructor(private readonly sender: SipSender, readonly stats: ServerTransactionStats, private readonly feedback?: OverloadFeedback) {}

  /** A response to `req` about to go upstream: the overload feedback on its Via if its client asked for it (RFC 7339). */
  withFeedback(out: SipMessage, req: Request): void {
    addOverloadFeedback(out, req, this.feedback);
  }

  get size(): number {
    return this.table.size + this.finished.size;
  }

  get pending(): number {
    return this.liveCount;
  }

  /** Whether a transaction, live or finished, has this key (a request with it is a retransmission). */
  knows(key: string): boolean {
    return this.table.has(key) || this.finished.has(key);
  }

  /** A request the route dropped: its live transaction goes (a retransmission runs the route again). */
  forget(req: Request): void {
    const st = this.live(req);
    if (st === undefined || st.lastStatus >= 200 || st.call !== null) return;
    this.table.delete(st.key);
    this.liveCount--;
  }

  /** The ACK of a failure this proxy sent: it ends here, hop by hop (true). Any other ACK is not ours to absorb. */
  absorbAck(ack: Request): boolean {
    const st = this.table.get(serverKey(ack));
    if (!(st instanceof FinishedServer) || st.lastStatus < 300) return false;
    if (!st.acked) {
      st.acked = true;
      st.clearTimers();
      this.lingerShort.add(st); // Timer I keeps absorbing repeats
    }
    return true;
  }

  /** Opens the transaction of a new request, or answers a retransmission with the last response and returns null. */
  open(req: Request): ServerTransaction | null {
    const key = serverKey(req);
    const existing = this.table.get(key);
    if (existing !== undefined) {
      this.stats.retransmissionsAbsorbed++;
      if (existing.lastResponse !== null) this.sender.send(existing.upstream, existing.lastResponse);
      return null;
    }
    const finished = this.finished.get(key);
    if (finished !== undefined) {
      this.stats.retransmissionsAbsorbed++;
      this.sender.send(finished.upstream, finished.response);
      return null;
    }
    const st = new ServerTransaction(key, req, sipRequest(req), upstreamOf(req));
    this.table.set(key, st);
    this.liveCount++;
    return st;
  }

  /** The live transaction of `req` (or of the INVITE a CANCEL names). */
  live(req: Request): ServerTransaction | undefined {
    const st = this.table.get(serverKey(req));
    return st instanceof ServerTransaction ? st : undefined;
  }

  /** Whether any transaction, live or finished, matches (a CANCEL for it is answered 200). */
  has(req: Request): boolean {
    return this.table.has(serverKey(req));
  }

  /** The proxy's own response to `req`, through its transaction when it has one. */
  respond(req: Request, status: number, reason: string | undefined, extras?: ReplyExtras): void {
    if (req.method === 'ACK') return; // nothing answers an ACK
    const st = this.live(req);
    const out = buildResponse(sipRequest(req), status, reason ?? reasonPhrase(status), st?.toTag ?? null, extras);
    addOverloadFeedback(out, req, this.feedback);
    this.send(st, upstreamOf(req), status, serializeSip(out));
  }

  /**
   * A final refusal that is not retransmitted (a request shed under overload): a repeated
   * request gets the same answer again, its ACK is absorbed.
   */
  refuse(req: Request, status: number, reason: string | undefined, extras?: ReplyExtras): void {
    if (req.method === 'ACK') return;
    const st = this.live(req);
    const dest = upstreamOf(req);
    const out = buildResponse(sipRequest(req), status, reason ?? reasonPhrase(status), st?.toTag ?? null, extras);
    addOverloadFeedback(out, req, this.feedback);
    const bytes = serializeSip(out);
    this.sender.send(dest, bytes);
    this.countSent(status);
    if (st === undefined) return;
    st.clearTimers();
    this.liveCount--;
    const done = new FinishedServer(st.key, dest, bytes, status, st.isInvite);
    done.acked = true;
    this.table.set(st.key, done);
    this.lingerShort.add(done);
  }

  /** Sends a response upstream through transaction `st`, which remembers it for retransmissions. */
  send(st: ServerTransaction | undefined, dest: Destination, status: number, bytes: Buffer): void {
    this.sender.send(dest, bytes);
    this.countSent(status);
    if (st === undefined || this.table.get(st.key) !== st) return;
    if (status < 200) {
      if (st.lastStatus < 200) {
        st.lastStatus = status;
        st.lastResponse = bytes;
      }
      return;
    }
    st.clearTimers();
    this.liveCount--;
    if (!st.request.inDialog) this.completed[st.isInvite ? 'call' : st.sip.method === 'REGISTER' ? 'register' : 'other']++;
    // A 2xx to an INVITE ends the transaction at once (the ACK goes end to end).
    if (st.isInvite && status < 300) {
      this.table.delete(st.key);
      return;
    }
    // Keep only what absorbs retransmissions: the call, its messages and branches are let go.
    if (!st.isInvite) {
      this.table.delete(st.key);
      this.finished.add(st.key, dest, status, bytes);
      return;
    }
    const done = new FinishedServer(st.key, dest, bytes, status, st.isInvite);
    this.table.set(st.key, done);
    // Timer G: an INVITE's non-2xx final is repeated over UDP until the ACK comes (Timer H ends it).
    if (dest.transport === 'udp') {
      let every = T1;
      const repeat = (): void => {
        if (done.acked || this.table.get(done.key) !== done) return;
        this.stats.retransmissionsSent++;
        this.sender.send(dest, bytes);
        every = Math.min(every * 2, T2);
        done.setTimer(setTimeout(repeat, every).unref());
      };
      done.setTimer(setTimeout(repeat, every).unref());
    }
    this.linger.add(done);
  }

  /** A response sent upstream outside a transaction's `send` (a CANCEL's answer, a stateless forward). */
  countSent(status: number): void {
    const c = classIndex(status);
    if (c >= 0) this.responsesSent[c]!++;
  }

  private drop(st: FinishedServer): void {
    st.clearTimers();
    if (this.table.get(st.key) === st) this.table.delete(st.key);
  }

  close(): void {
    for (const st of this.table.values()) st.clearTimers();
    this.table.clear();
    this.liveCount = 0;
    this.finished.clear();
    this.linger.clear();
    this.lingerShort.clear();
  }
}
