import type { WorkClass } from '../../kernel/overload.ts';
import type { Request } from '../../model/message.ts';
import type { SipMessage } from './codec/message.ts';
import { getParam, parseParams, type Param } from './codec/params.ts';
import { parseFirstVia, removeViaParam, replaceFirstVia, setViaParam } from './codec/via.ts';
import { sipWire } from './wire.ts';

/**
 * RFC 7339 loss-based overload feedback as Via parameters (`oc=20;oc-validity=1000;...`) for a
 * response about new requests of a class, or null when there is none to give
 * (OverloadControl.feedback).
 */
export type OverloadFeedback = (work: WorkClass) => string | null;

/** The class of new work a request's client is told about: a call's for anything inside a dialog. */
export function feedbackClass(req: Request): WorkClass {
  if (req.method === 'REGISTER') return 'register';
  if (req.method === 'INVITE' || req.inDialog || req.method === 'ACK' || req.method === 'CANCEL' || req.method === 'BYE') return 'call';
  return 'other';
}

const OC_PARAMS = ['oc', 'oc-algo', 'oc-validity', 'oc-seq'] as const;

/** The parameters of a feedback string, parsed once per distinct string (it changes at most ten times a second). */
let lastText = '';
let lastParams: Param[] = [];

function paramsOf(text: string): Param[] {
  if (text !== lastText) {
    const params: Param[] = [];
    parseParams(`;${text}`, 0, params);
    lastText = text;
    lastParams = params;
  }
  return lastParams;
}

/**
 * RFC 7339 §5.2: a response to a client that asked for overload feedback (an `oc` parameter on
 * the top Via of its request) carries it on that Via, the response's first: `oc` with the
 * share of new requests to drop, `oc-validity`, `oc-seq` and `oc-algo="loss"`, the one
 * algorithm offered. Nothing changes for a client that did not ask, or while there is no
 * feedback to give.
 */
export function addOverloadFeedback(out: SipMessage, req: Request, feedback: OverloadFeedback | undefined): void {
  if (feedback === undefined || getParam(sipWire(req).via.params, 'oc') === undefined) return;
  const text = feedback(feedbackClass(req));
  if (text === null) return;
  const i = out.headers.findIndex((h) => h.lname === 'via');
  if (i < 0) return;
  const h = out.headers[i]!;
  const top = parseFirstVia(h.value);
  if (top === null) return;
  // The client's own overload parameters (oc, oc-algo with the algorithms it offers) give way
  // to the feedback, written after the rest as the first look writes it.
  for (const name of OC_PARAMS) removeViaParam(top, name);
  for (const p of paramsOf(text)) setViaParam(top, p.name, p.value);
  out.headers[i] = { name: h.name, lname: 'via', value: replaceFirstVia(h.value, top) };
}
