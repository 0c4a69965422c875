/**
 * Ends a SIP call from the middle, as the proxy on its route: a BYE to each party through the
 * UAC core, each inside the dialog (its tags, the party's Contact as Request-URI, the part of
 * the Record-Route set on that party's side). What it needs is learnt from the call's INVITE
 * and its 2xx when the call is answered.
 */
import { headerValues, type CoreServices, type Logger, type Reply, type Request } from '../../core/module.ts';

export interface EndableDialog {
  readonly callId: string;
  readonly callerUri: string;
  readonly callerTag: string;
  readonly callerContact: string;
  readonly calleeUri: string;
  readonly calleeTag: string;
  readonly calleeContact: string;
  readonly inviteCseq: number;
  /** The Record-Route set as the 2xx carries it: the entry nearest the callee first. */
  readonly recordRoute: readonly string[];
}

/** Splits header values into name-addrs at the commas outside <> and quotes. */
function nameAddrs(values: readonly string[]): string[] {
  const out: string[] = [];
  for (const v of values) {
    let depth = 0;
    let quoted = false;
    let start = 0;
    for (let i = 0; i < v.length; i++) {
      const c = v[i];
      if (c === '"') quoted = !quoted;
      else if (!quoted && c === '<') depth++;
      else if (!quoted && c === '>') depth--;
      else if (!quoted && depth === 0 && c === ',') {
        out.push(v.slice(start, i).trim());
        start = i + 1;
      }
    }
    const last = v.slice(start).trim();
    if (last !== '') out.push(last);
  }
  return out;
}

function uriOf(nameAddr: string): string {
  const m = /<([^>]*)>/.exec(nameAddr);
  return (m === null ? nameAddr.split(';')[0]! : m[1]!).trim();
}

/** What it takes to end the dialog an INVITE and its 2xx made; null when the messages lack it (the plain protocol has none). */
export function endableDialog(invite: Request, ok: Reply): EndableDialog | null {
  if (invite.dialect !== 'sip') return null;
  const callerContact = nameAddrs(headerValues(invite, 'contact'))[0];
  const calleeContact = nameAddrs(headerValues(ok, 'contact'))[0];
  const cseq = Number((headerValues(invite, 'cseq')[0] ?? '').trim().split(/\s+/)[0]);
  const { from, to } = invite;
  const calleeTag = ok.to.tag;
  if (callerContact === undefined || calleeContact === undefined || !Number.isInteger(cseq) || from.uri === undefined || to.uri === undefined || from.tag === undefined || calleeTag === undefined) return null;
  return {
    callId: invite.callId,
    callerUri: from.uri, callerTag: from.tag, callerContact: uriOf(callerContact),
    calleeUri: to.uri, calleeTag, calleeContact: uriOf(calleeContact),
    inviteCseq: cseq,
    recordRoute: nameAddrs(headerValues(ok, 'record-route')),
  };
}

/**
 * Sends BYE to both parties. The Record-Route entries above this proxy's own lead to the callee
 * (nearest first when reversed), those below it to the caller; without an entry of its own the
 * proxy sends each BYE straight to the party's Contact. Resolves with both final statuses.
 */
export async function byeBoth(core: CoreServices, d: EndableDialog, log: Logger): Promise<readonly [number, number]> {
  const own = d.recordRoute.findIndex((r) => core.isOwnUri(uriOf(r)));
  const towardCallee = own < 0 ? [] : d.recordRoute.slice(0, own).reverse();
  const towardCaller = own < 0 ? [] : d.recordRoute.slice(own + 1);
  const reason: readonly (readonly [string, string])[] = [['Reason', 'SIP;cause=503;text="media relay lost"']];
  const [toCallee, toCaller] = await Promise.all([
    core.originate({ dialect: 'sip', method: 'BYE', uri: d.calleeContact, from: `<${d.callerUri}>`, fromTag: d.callerTag, to: `<${d.calleeUri}>`, toTag: d.calleeTag, callId: d.callId, cseq: d.inviteCseq + 1, routeSet: towardCallee, headers: reason, timeoutMs: 4000 }),
    core.originate({ dialect: 'sip', method: 'BYE', uri: d.callerContact, from: `<${d.calleeUri}>`, fromTag: d.calleeTag, to: `<${d.callerUri}>`, toTag: d.callerTag, callId: d.callId, cseq: 1_000_000 + d.inviteCseq, routeSet: towardCaller, headers: reason, timeoutMs: 4000 }),
  ]);
  log.info({ callId: d.callId, callee: toCallee.status, caller: toCaller.status }, 'call ended: its media relay was lost');
  return [toCallee.status, toCaller.status];
}
