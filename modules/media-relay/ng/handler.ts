/**
 * What an NG relay implements: one async method per command, each given the validated,
 * typed request and answering a typed reply. `dispatch` turns the reply into the result
 * dictionary rtpengine would send.
 */
import type { Endpoint } from '../../../core/lib/address.ts';
import type { BencodeInputObject } from './bencode.ts';
import { callStatsFields, type NgCallStats } from './call-stats.ts';
import {
  errorResponse,
  loadLimitResponse,
  okResponse,
  pongResponse,
  type NgAnswerRequest,
  type NgDeleteRequest,
  type NgListRequest,
  type NgOfferRequest,
  type NgOtherRequest,
  type NgPingRequest,
  type NgQueryRequest,
  type NgRequest,
  type NgResponse,
  type NgStatisticsRequest,
} from './messages.ts';

/** Who sent a command. */
export interface NgRequestContext {
  readonly source: Endpoint;
  readonly cookie: string;
}

/**
 * A refusal: `error` with the reason, or with `loadLimit` rtpengine's `load limit` result
 * (for a sender that said it supports it; others get the reason as an error).
 */
export interface NgRefusal {
  readonly ok: false;
  readonly reason: string;
  readonly loadLimit?: boolean;
}

export type NgReply<T extends object> = ({ readonly ok: true } & T) | NgRefusal;

export interface NgSdpReply {
  /** The rewritten SDP. */
  readonly sdp: Buffer | string;
  readonly warning?: string;
}

export interface NgDeleteReply {
  /** rtpengine answers an unknown call with `ok` and a warning, unless the `fatal` flag asks for an error. */
  readonly warning?: string;
  /** The ended call's counters; left out when the request had the `fast` flag. */
  readonly stats?: NgCallStats;
}

export interface NgQueryReply {
  readonly stats: NgCallStats;
}

export interface NgListReply {
  readonly calls: readonly string[];
}

export interface NgStatisticsReply {
  /** rtpengine's `statistics` dictionary (`currentstatistics`, `totalstatistics`, ...). */
  readonly statistics: BencodeInputObject;
}

export interface NgOtherReply {
  readonly fields?: BencodeInputObject;
}

export interface NgHandler {
  /** Without it, ping is answered `pong`. */
  ping?(request: NgPingRequest, context: NgRequestContext): Promise<NgReply<object>>;
  offer(request: NgOfferRequest, context: NgRequestContext): Promise<NgReply<NgSdpReply>>;
  answer(request: NgAnswerRequest, context: NgRequestContext): Promise<NgReply<NgSdpReply>>;
  delete(request: NgDeleteRequest, context: NgRequestContext): Promise<NgReply<NgDeleteReply>>;
  query(request: NgQueryRequest, context: NgRequestContext): Promise<NgReply<NgQueryReply>>;
  list(request: NgListRequest, context: NgRequestContext): Promise<NgReply<NgListReply>>;
  statistics(request: NgStatisticsRequest, context: NgRequestContext): Promise<NgReply<NgStatisticsReply>>;
  /** Recording, DTMF, media playing...: without it they are refused. */
  other?(request: NgOtherRequest, context: NgRequestContext): Promise<NgReply<NgOtherReply>>;
}

function refusal(request: NgRequest, r: NgRefusal): NgResponse {
  return r.loadLimit === true && request.supports.has('load-limit') ? loadLimitResponse(r.reason) : errorResponse(r.reason);
}

/** Runs the handler's method for `request` and builds the result dictionary. A handler that throws is the caller's to catch. */
export async function dispatch(handler: NgHandler, request: NgRequest, context: NgRequestContext): Promise<NgResponse> {
  switch (request.command) {
    case 'ping': {
      if (handler.ping === undefined) return pongResponse();
      const r = await handler.ping(request, context);
      return r.ok ? pongResponse() : refusal(request, r);
    }
    case 'offer':
    case 'answer': {
      const r = request.command === 'offer' ? await handler.offer(request, context) : await handler.answer(request, context);
      return r.ok ? okResponse({ sdp: r.sdp }, r.warning) : refusal(request, r);
    }
    case 'delete': {
      const r = await handler.delete(request, context);
      if (!r.ok) return refusal(request, r);
      return okResponse(r.stats === undefined ? {} : callStatsFields(r.stats), r.warning);
    }
    case 'query': {
      const r = await handler.query(request, context);
      return r.ok ? okResponse(callStatsFields(r.stats)) : refusal(request, r);
    }
    case 'list': {
      const r = await handler.list(request, context);
      return r.ok ? okResponse({ calls: r.calls.slice(0, request.limit) }) : refusal(request, r);
    }
    case 'statistics': {
      const r = await handler.statistics(request, context);
      return r.ok ? okResponse({ statistics: r.statistics }) : refusal(request, r);
    }
    default: {
      if (handler.other === undefined) return errorResponse(`Unsupported command "${request.command}"`);
      const r = await handler.other(request, context);
      return r.ok ? okResponse(r.fields ?? {}) : refusal(request, r);
    }
  }
}
