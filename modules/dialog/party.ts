import { unmapIPv4, type Request } from '../../core/module.ts';
import type { Dialog } from './dialog.ts';

/**
 * Who sent an in-dialog request of a dialog the proxy follows: one of its parties (by the
 * dialog's tags, and by the address that party's signaling uses), or a stranger who knows the
 * Call-ID but not the tags (`wrong-tags`), or the tags but sends from elsewhere (`wrong-source`).
 */
export type PartyCheck =
  | { readonly kind: 'party'; readonly party: 'caller' | 'callee' }
  | { readonly kind: 'wrong-tags' }
  | { readonly kind: 'wrong-source'; readonly party: 'caller' | 'callee' };

/**
 * The dialog's tags are the caller's From tag and, once answered, the callee's To tag: a request
 * from the caller carries them as From and To, one from the callee the other way round. Before
 * the answer the callee's tag is not known (forks may each have one): only the caller's is
 * checked. `checkSource`: the request must also come from the IP the named party's signaling
 * came from (the caller's INVITE, the callee's answer; the callee's before its answer is not known).
 */
export function checkParty(d: Dialog, req: Request, checkSource: boolean): PartyCheck {
  const calleeTag = d.ends?.toTag;
  let party: 'caller' | 'callee';
  if (req.from.tag === d.callerTag && (calleeTag === undefined || req.to.tag === calleeTag)) party = 'caller';
  else if (req.to.tag === d.callerTag && (calleeTag === undefined || req.from.tag === calleeTag)) party = 'callee';
  else return { kind: 'wrong-tags' };
  // Before the answer the callee is whichever branch will answer: its address is not known yet.
  if (!checkSource || (party === 'callee' && d.ends === null)) return { kind: 'party', party };
  const expected = party === 'caller' ? d.callerAddress : d.calleeAddress;
  return unmapIPv4(expected.address) === unmapIPv4(req.source.address) ? { kind: 'party', party } : { kind: 'wrong-source', party };
}
