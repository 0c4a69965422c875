import { registrationOf, respondVerdict, type MessageContext, type RegistrationRequest, type Verdict } from '../../core/module.ts';
import { applyRegistration, type RegistrarPolicy } from './apply-registration.ts';
import type { LocationStore } from './store.ts';

/**
 * A REGISTER of either dialect: read through the dialect, then applied to the user's bindings
 * in one atomic update of the store.
 */
export async function register(mc: MessageContext, store: LocationStore, policy: RegistrarPolicy, seen?: (reg: RegistrationRequest) => void): Promise<Verdict> {
  const read = registrationOf(mc.msg);
  if (!read.ok) return respondVerdict(400, read.reason);
  const reg = read.registration;
  seen?.(reg);
  let verdict: Verdict;
  try {
    verdict = await store.update(reg.aor, (current, moment) => applyRegistration(reg, policy, current, moment));
  } catch (err) {
    // A shared store that is down: the phone registers again later, nothing is half-written.
    mc.log.warn({ aor: reg.aor, err: (err as Error).message }, 'REGISTER not stored: location store unavailable');
    return respondVerdict(503, 'Service Unavailable', { retryAfterSec: 5 });
  }
  mc.log.debug({ aor: reg.aor, kind: reg.kind, status: verdict.kind === 'respond' ? verdict.status : undefined, at: mc.msg.source }, 'REGISTER answered');
  if (reg.kind === 'update' && verdict.kind === 'respond' && verdict.status < 300 && mc.log.isLevelEnabled('debug')) {
    mc.log.debug({ aor: reg.aor, contacts: verdict.extras?.contacts?.length, at: mc.msg.source }, 'registered');
  }
  return verdict;
}
