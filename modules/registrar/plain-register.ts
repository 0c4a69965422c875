import type { MessageContext } from '../../core/kernel/message-context.ts';
import { respondVerdict, type Verdict } from '../../core/model/verdict.ts';
import type { LocationStore } from './store.ts';

export interface PlainRegistrarConfig {
  readonly maxUsers: number;
  readonly plainBindingTtlSec: number;
}

/**
 * `REGISTER <user>`: the datagram's source becomes the user's binding, replacing an earlier
 * plain one (a SIP contact of the same user stays); answered ACK_REGISTER.
 */
export async function registerPlain(mc: MessageContext, store: LocationStore, cfg: PlainRegistrarConfig): Promise<Verdict> {
  const msg = mc.msg;
  const aor = msg.from.user;
  const existing = await store.lookup(aor);
  if (existing.length === 0 && store.size() >= cfg.maxUsers) return respondVerdict(503, 'registrar full');
  const now = Date.now();
  await store.replace(aor, [...existing.filter((b) => b.dialect !== 'plain'), {
    aor, dialect: msg.dialect, listener: msg.listener, address: msg.source, registeredAt: now,
    expiresAt: cfg.plainBindingTtlSec > 0 ? now + cfg.plainBindingTtlSec * 1000 : null,
  }]);
  mc.log.debug({ aor, at: msg.source }, 'registered');
  return respondVerdict(200, 'OK');
}
