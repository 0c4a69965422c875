import { headerValues, type CoreServices, type Endpoint, type Flow, type ForwardTarget, type HangupResult, type Reply, type Request } from '../../core/module.ts';
import type { Dialog, SipDialogEnds } from './dialog.ts';

/** Splits a header value into its comma-separated name-addrs (commas inside <> or quotes stay). */
export function splitNameAddrs(value: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let quoted = false;
  let start = 0;
  for (let i = 0; i < value.length; i++) {
    const c = value[i];
    if (c === '"' && value[i - 1] !== '\\') quoted = !quoted;
    else if (!quoted && c === '<') depth++;
    else if (!quoted && c === '>') depth--;
    else if (!quoted && depth === 0 && c === ',') {
      out.push(value.slice(start, i).trim());
      start = i + 1;
    }
  }
  const last = value.slice(start).trim();
  if (last !== '') out.push(last);
  return out;
}

/** The URI of a name-addr (`"Bob" <sip:bob@h>;p=1` or `sip:bob@h;p=1`). */
export function uriOf(nameAddr: string): string {
  const lt = nameAddr.indexOf('<');
  if (lt >= 0) return nameAddr.slice(lt + 1, nameAddr.indexOf('>', lt));
  return nameAddr.split(';')[0]!.trim();
}

function cseqOf(msg: Request | Reply): number {
  return Number.parseInt(headerValues(msg, 'CSeq')[0] ?? '', 10) || 1;
}

/** The dialog's ends at its answer; null when the messages lack what a BYE needs. */
export function sipDialogEnds(request: Request, reply: Reply): SipDialogEnds | null {
  const callerContact = headerValues(request, 'Contact')[0];
  const calleeContact = headerValues(reply, 'Contact')[0];
  if (request.from.tag === undefined || reply.to.tag === undefined || callerContact === undefined || calleeContact === undefined) return null;
  return {
    fromTag: request.from.tag,
    toTag: reply.to.tag,
    callerUri: `<${request.from.uri ?? ''}>`,
    calleeUri: `<${request.to.uri ?? ''}>`,
    callerContact: uriOf(callerContact),
    calleeContact: uriOf(calleeContact),
    recordRoute: headerValues(reply, 'Record-Route').flatMap(splitNameAddrs),
    cseq: [cseqOf(request), 0],
  };
}

/** An in-dialog request: the CSeq its sender used, so the proxy's own BYE in that party's name goes above it. */
export function noteCSeq(ends: SipDialogEnds, request: Request): void {
  const side = request.from.tag === ends.fromTag ? 0 : 1;
  ends.cseq[side] = Math.max(ends.cseq[side], cseqOf(request));
}

/** A party reached directly: where its signaling comes from, over its transport (a TCP party on its connection). */
function direct(address: Endpoint, flow: Flow | null): ForwardTarget {
  return flow === null ? { address } : { address, transport: flow.transport, connection: flow.connection };
}

/**
 * Ends a call from the proxy: a BYE to each party, in the other party's name. SIP: through the
 * UAC core inside the dialog (tags, Call-ID, the next CSeq, the route set of the proxies beyond
 * this one), sent to the address and over the transport the party's signaling uses; plain: the
 * protocol's BYE.
 */
export async function hangup(d: Dialog, core: CoreServices): Promise<HangupResult> {
  if (d.dialect === 'plain') {
    await core.originate({ dialect: 'plain', method: 'BYE', from: d.caller, to: d.callee, targets: [d.callerAddress, d.calleeAddress], listener: d.listener });
    return { ok: true, caller: null, callee: null };
  }
  const e = d.ends;
  if (e === null) return { ok: false, reason: 'no-such-call' };
  // Record-Route lists the proxies toward the callee above this one's own entry, toward the caller below it.
  const own = e.recordRoute.findIndex((r) => core.isOwnUri(uriOf(r)));
  const towardCallee = own < 0 ? [] : e.recordRoute.slice(0, own).reverse();
  const towardCaller = own < 0 ? [] : e.recordRoute.slice(own + 1).filter((r) => !core.isOwnUri(uriOf(r)));
  const common = { dialect: 'sip' as const, method: 'BYE', callId: d.callId, listener: d.listener, timeoutMs: 8000 };
  const [callee, caller] = await Promise.all([
    core.originate({
      ...common, uri: e.calleeContact, from: e.callerUri, fromTag: e.fromTag, to: e.calleeUri, toTag: e.toTag, cseq: e.cseq[0] + 1,
      routeSet: towardCallee, ...(towardCallee.length === 0 ? { target: direct(d.calleeAddress, d.calleeFlow) } : {}),
    }),
    core.originate({
      ...common, uri: e.callerContact, from: e.calleeUri, fromTag: e.toTag, to: e.callerUri, toTag: e.fromTag, cseq: e.cseq[1] + 1,
      routeSet: towardCaller, ...(towardCaller.length === 0 ? { target: direct(d.callerAddress, d.callerFlow) } : {}),
    }),
  ]);
  return { ok: true, caller: caller.status, callee: callee.status };
}
