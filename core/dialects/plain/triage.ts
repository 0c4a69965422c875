import type { Endpoint } from '../../lib/address.ts';
import { PRIORITY, type DatagramTriage, type FirstLook, type NewWorkLook } from '../../kernel/triage.ts';
import type { Request } from '../../model/message.ts';
import type { PlainDialect } from './dialect.ts';
import type { PlainProxyEngine } from './engine.ts';
import { parsePlain } from './parse.ts';

/**
 * The plain protocol's first look: its parse is already a single scan of one short line, so
 * the glance is the parse. CALL is a new call and REGISTER a registration; every reply, BYE and
 * anything that does not parse goes the full way (which answers errors). A refusal is the
 * dialect's `CALL_FAILED FROM:<callee> TO:<caller> overloaded` (ERROR overloaded to a REGISTER).
 */
export class PlainTriage implements DatagramTriage {
  constructor(private readonly dialect: PlainDialect, private readonly engine: PlainProxyEngine) {}

  look(buf: Buffer, source: Endpoint): FirstLook {
    const r = parsePlain(buf, { listener: '', source }); // the glance answers on the datagram's own listener
    if (!r.ok || r.msg.type !== 'request') return PRIORITY;
    const m = r.msg;
    if (m.method === 'INVITE') return { kind: 'new', work: 'call', glance: m };
    if (m.method === 'REGISTER') return { kind: 'new', work: 'register', glance: m };
    return PRIORITY;
  }

  isRepeat(look: NewWorkLook): boolean {
    const req = look.glance as Request;
    return req.method === 'INVITE' && this.engine.isPending(req.callId, req.from.user);
  }

  refusal(look: NewWorkLook): Buffer {
    return this.dialect.composeRefusal(look.glance as Request) ?? Buffer.alloc(0);
  }
}
