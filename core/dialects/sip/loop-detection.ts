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
  const cseq = getHeader(sip, 'cseq') ?? '';
  const seq = cseq.trim().split(' ', 1)[0];
  return hash64(`${sip.uri}|${req.from.tag ?? ''}|${req.to.tag ?? ''}|${req.callId}|${seq}`);
}

/**
 * Two 32-bit FNV-1a hashes (different offsets) of a string, in base 36: a loop key needs no
 * secrecy, only to differ when the request differs, and is computed for every forwarded request.
 */
function hash64(s: string): string {
  let a = 0x811c9dc5;
  let b = 0x050c5d1f;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    a = Math.imul(a ^ c, 0x01000193);
    b = Math.imul(b ^ c, 0x01000193) ^ (b >>> 15);
  }
  return (a >>> 0).toString(36) + (b >>> 0).toString(36);
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
