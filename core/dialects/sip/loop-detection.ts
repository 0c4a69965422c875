import { createHash } from 'node:crypto';
import type { Request } from '../../model/message.ts';
import { getHeader, type SipRequest } from './codec/message.ts';
import { OWN_BRANCH_PREFIX } from './transactions.ts';

/** Where the loop key starts in a branch of ours. */
const MARK = '.lk';

/**
 * RFC 3261 §16.6 item 8: what a forwarded request's branch carries to tell a loop from a
 * spiral, a hash of the request as received (after route preprocessing): Request-URI, From
 * tag, To tag, Call-ID and CSeq number. A request that comes back with the same values has
 * looped; one whose Request-URI changed on the way (a spiral) has not.
 */
export function loopKey(req: Request, sip: SipRequest): string {
  const cseq = (getHeader(sip, 'cseq') ?? '').trim().split(/\s/, 1)[0];
  return createHash('sha1').update(`${sip.uri}|${req.from.tag ?? ''}|${req.to.tag ?? ''}|${req.callId}|${cseq}`).digest('base64url').slice(0, 12);
}

/** A branch of ours with the loop key of the request it forwards. */
export function markBranch(branch: string, key: string): string {
  return `${branch}${MARK}${key}`;
}

/**
 * §16.3 item 4: the request carries a Via this process added (its branch) with the loop key
 * this request has now: it went out from here and came back unchanged. `key` is computed only
 * when such a Via is there.
 */
export function hasLooped(sip: SipRequest, key: () => string): boolean {
  for (const h of sip.headers) {
    if (h.lname !== 'via') continue;
    const via = h.value;
    let at = via.indexOf(OWN_BRANCH_PREFIX);
    while (at >= 0) {
      let end = at + OWN_BRANCH_PREFIX.length;
      while (end < via.length && !';, \t\r\n'.includes(via[end]!)) end++;
      const mark = via.lastIndexOf(MARK, end);
      if (mark > at && via.slice(mark + MARK.length, end) === key()) return true;
      at = via.indexOf(OWN_BRANCH_PREFIX, end);
    }
  }
  return false;
}
