import { sameEndpoint } from '../../lib/address.ts';
import type { Dialect, ParseOutcome } from '../../kernel/dialect.ts';
import type { Endpoint } from '../../lib/address.ts';
import { reasonPhrase, type Inbound, type Message, type Reply, type Request } from '../../model/message.ts';
import { composeAckCall, composeAckRegister, composeCallFailed, composeCallFailedBare, composeError, plainReasonText } from './compose.ts';
import { ErrorLimiter, type ErrorLimiterOptions } from './error-limiter.ts';
import { parsePlain } from './parse.ts';
import type { PlainWire } from './wire.ts';

/** Statuses that mean "this request is not acceptable" rather than "the call failed": plain answers them with ERROR. */
const ERROR_STATUSES: ReadonlySet<number> = new Set([400, 403, 405, 481, 482, 483, 500, 501, 503, 513]);

/** What the plain protocol says for a status the route gave no reason for. */
function plainWording(req: Request, status: number): string {
  if (status === 404 && req.method === 'INVITE') return 'unknown peer';
  return reasonPhrase(status).toLowerCase();
}

export function plainWire(msg: Request | Reply): PlainWire {
  return msg.wire as PlainWire;
}

/** The plain codec plus the rules its proxy engine forwards and answers by. */
export interface PlainDialect extends Dialect {
  /** The proxy's own reply to a request; null where the plain protocol has nothing to send. */
  /** The proxy's own reply; without a reason, the plain protocol's wording for the status (404 to a call: "unknown peer"). */
  composeReply(req: Request, status: number, reason: string | undefined): Buffer | null;
  /** The answer to a request refused under overload: `CALL_FAILED FROM:<callee> TO:<caller> overloaded` to a call, else `ERROR overloaded` (null when the error limiter holds it back). */
  composeRefusal(req: Request): Buffer | null;
  /** Requests that get a reply are forwarded with a transaction; the others statelessly. */
  expectsReply(req: Request): boolean;
  /** The key that pairs a reply with the transaction of its request. */
  transactionKey(msg: Message): string;
  /** Whether a reply that carries a transaction's key really belongs to it. */
  acceptsReply(reply: Reply, req: Request, target: Endpoint): boolean;
  /** What goes to the next hop when a request is forwarded to `target`. */
  forwardRequestBytes(req: Request, target: Endpoint): Buffer;
  /** What goes upstream when a reply to `req` is passed on. */
  forwardReplyBytes(reply: Reply, req: Request): Buffer;
  /** The answer to a reply that matches no transaction, or null to drop it. */
  strayReply(reply: Reply): Buffer | null;
}

export function createPlainDialect(limits: ErrorLimiterOptions = { ratePerSecond: 10, burst: 20, maxSources: 10_000 }): PlainDialect {
  const limiter = new ErrorLimiter(limits);
  let parseErrors = 0;

  const error = (ip: string, reason: string, terminator: PlainWire['terminator'], requestLength: number): Buffer | null =>
    limiter.allow(ip) ? composeError(plainReasonText(reason), terminator, requestLength) : null;

  return {
    name: 'plain',

    parse(buf: Buffer, inbound: Inbound): ParseOutcome {
      const r = parsePlain(buf, inbound);
      if (r.ok) return r;
      parseErrors++;
      return { ok: false, reason: r.reason, answer: error(inbound.source.address, r.reason, r.terminator, buf.length) };
    },

    composeReply(req: Request, status: number, reason: string | undefined): Buffer | null {
      const w = plainWire(req);
      const text = plainReasonText(reason ?? plainWording(req, status));
      if (ERROR_STATUSES.has(status)) return error(req.source.address, text, w.terminator, req.raw.length);
      if (req.method === 'REGISTER') return status < 300 ? composeAckRegister(req.from.user, w.terminator) : error(req.source.address, text, w.terminator, req.raw.length);
      if (req.method === 'INVITE') {
        if (status < 200) return null;
        if (status < 300) return composeAckCall(req.to.user, req.from.user, w.terminator);
        // The spec's "unknown peer" form names nobody: there is no callee to name.
        if (status === 404) return composeCallFailedBare(text, w.terminator);
        return composeCallFailed(req.to.user, req.from.user, text, w.terminator);
      }
      // BYE has no reply in the plain protocol unless it failed.
      return status < 300 ? null : error(req.source.address, text, w.terminator, req.raw.length);
    },

    composeRefusal(req: Request): Buffer | null {
      const w = plainWire(req);
      if (req.method === 'INVITE') return composeCallFailed(req.to.user, req.from.user, 'overloaded', w.terminator);
      return error(req.source.address, 'overloaded', w.terminator, req.raw.length);
    },

    expectsReply: (req) => req.method === 'INVITE',
    transactionKey: (msg) => msg.callId,
    // A reply must come from the callee the call was forwarded to, at the address it was sent to.
    acceptsReply: (reply, req, target) =>
      sameEndpoint(reply.source, target) && reply.from.user === req.from.user && reply.to.user === req.to.user,

    forwardRequestBytes: (req) => req.raw,
    forwardReplyBytes: (reply) => reply.raw,

    strayReply(reply: Reply): Buffer | null {
      return error(reply.source.address, 'no matching call', plainWire(reply).terminator, reply.raw.length);
    },

    stats: () => ({ parseErrors, errorsSuppressed: limiter.suppressed }),
  };
}
