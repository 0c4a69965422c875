/**
 * The auth module's one contact with messages and verdicts: what a request offers for
 * authentication, and how a decision is answered (401 with WWW-Authenticate, 407 with
 * Proxy-Authenticate, 403, 400). Everything else in the module works on plain values.
 */
import { headerValues, respondVerdict, type Request, type Verdict } from '../../core/module.ts';
import type { AuthDecision, AuthRequest } from './verify.ts';

/** `www`: the proxy answers as the registrar or UAS (401); `proxy`: as a proxy on the path (407). */
export type AuthFlow = 'www' | 'proxy';

const FLOW = {
  www: { credentials: 'Authorization', challenge: 'WWW-Authenticate', status: 401, reason: 'Unauthorized' },
  proxy: { credentials: 'Proxy-Authorization', challenge: 'Proxy-Authenticate', status: 407, reason: 'Proxy Authentication Required' },
} as const;

/** SIP requests carry credentials; the plain protocol has no authentication at all. */
export function carriesCredentials(msg: Request): boolean {
  return msg.dialect === 'sip';
}

/** ACK and CANCEL cannot be challenged (RFC 3261 §22.1): nothing answers an ACK, and a CANCEL is answered by the transaction layer. */
export function canChallenge(msg: Request): boolean {
  return msg.method !== 'ACK' && msg.method !== 'CANCEL';
}

/** The identity a request claims: the address-of-record it registers (To), or the caller (From). */
export function claimedUser(msg: Request): string {
  return msg.method === 'REGISTER' ? msg.to.user : msg.from.user;
}

export function authRequestOf(msg: Request, flow: AuthFlow): AuthRequest {
  return {
    method: msg.method,
    requestUri: msg.ruri.uri ?? '',
    credentials: headerValues(msg, FLOW[flow].credentials),
    source: msg.source.address,
    claimedUser: claimedUser(msg),
  };
}

/** The answer to a request that did not pass. */
export function verdictOf(d: Exclude<AuthDecision, { kind: 'accepted' }>, flow: AuthFlow): Verdict {
  switch (d.kind) {
    case 'challenge': {
      const f = FLOW[flow];
      return respondVerdict(f.status, f.reason, { headers: d.challenges.map((value) => [f.challenge, value] as const) });
    }
    case 'refused': return respondVerdict(403, 'Forbidden');
    case 'malformed': return respondVerdict(400, `Bad Request (${d.reason})`);
  }
}
