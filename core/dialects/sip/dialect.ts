import type { Dialect, ParseOutcome } from '../../kernel/dialect.ts';
import type { Inbound } from '../../model/message.ts';
import { parseSip, type SipParseResult } from './codec/parse.ts';
import type { SipRequest } from './codec/message.ts';
import { serializeSip } from './codec/serialize.ts';
import { buildResponse, stampReceived } from './messages.ts';
import { overLimit } from './limits.ts';
import { toModel } from './model.ts';
import { sipWire, type SipTransportName } from './wire.ts';

export interface SipDialect extends Dialect {
  /** Turns one parsed message (UDP datagram or TCP frame) into the model. */
  accept(parsed: SipParseResult, raw: Buffer, inbound: Inbound, transport: SipTransportName, connection: number | null): ParseOutcome;
}

/** The SIP codec: RFC 3261 messages in, the shared model out; 400 for what can be answered, silence for the rest. */
export function createSipDialect(): SipDialect {
  const dropped: Record<string, number> = {};
  let answered400 = 0;
  const count = (code: string): void => { dropped[code] = (dropped[code] ?? 0) + 1; };

  /** The 400 for a request that cannot be taken; none for an ACK, which is never answered (RFC 3261 §17.1.1.3). */
  const badRequest = (req: SipRequest, reason: string): Buffer | null => {
    if (req.method === 'ACK') {
      count('bad-ack');
      return null;
    }
    answered400++;
    return serializeSip(buildResponse(req, 400, reason.replace(/[^\x20-\x7e]/g, ' '), null));
  };

  const accept: SipDialect['accept'] = (parsed, raw, inbound, transport, connection) => {
    if (!parsed.ok) {
      const e = parsed.error;
      if (e.code === 'keepalive') return { ok: false, reason: 'keep-alive', answer: null };
      if (e.canReply && e.msg !== undefined) return { ok: false, reason: e.reason, answer: badRequest(e.msg, e.reason) };
      count(e.code);
      return { ok: false, reason: e.reason, answer: null };
    }
    const over = overLimit(parsed.msg);
    if (over !== null) {
      count('over-limit');
      return { ok: false, reason: over, answer: parsed.msg.type === 'request' ? badRequest(parsed.msg, over) : null };
    }
    const m = toModel(parsed.msg, inbound, transport, connection, raw);
    if (!m.ok) {
      if (parsed.msg.type === 'request') return { ok: false, reason: m.reason, answer: badRequest(parsed.msg, m.reason) };
      count('bad-response');
      return { ok: false, reason: m.reason, answer: null };
    }
    if (m.msg.type === 'request') {
      const w = sipWire(m.msg);
      // The model's wire keeps the stamped Via: replies go back where the request really came from.
      (w as { via: typeof w.via }).via = stampReceived(w.sip as SipRequest, w.via, inbound.source);
    }
    return { ok: true, msg: m.msg };
  };

  return {
    name: 'sip',
    accept,
    parse: (buf, inbound) => accept(parseSip(buf), buf, inbound, 'udp', null),
    stats: () => ({ answered400, ...Object.fromEntries(Object.entries(dropped).map(([k, v]) => [`dropped.${k}`, v])) }),
  };
}
