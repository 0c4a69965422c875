import type { Logger } from '../lib/log.ts';
import type { Reply, Request } from '../model/message.ts';
import type { Verdict } from '../model/verdict.ts';
import type { OverloadOptions } from '../kernel/overload.ts';
import type {
  AnyModule, Disabled, FailureRouteName, FunctionsOf, ReplyRouteName, ResultObject, RouteKind, ScopedFn,
} from '../kernel/define-module.ts';

type UnionToIntersection<U> = (U extends unknown ? (x: U) => void : never) extends (x: infer I) => void ? I : never;

/** Replaces the route-name placeholders in a module function's parameters with the script's own keys. */
type WithRouteNames<T, FK extends string, RK extends string> =
  T extends FailureRouteName ? FK
  : T extends ReplyRouteName ? RK
  : T extends (...args: never[]) => unknown ? T
  : T extends readonly unknown[] ? { [I in keyof T]: WithRouteNames<T[I], FK, RK> }
  : T extends object ? { [P in keyof T]: WithRouteNames<T[P], FK, RK> }
  : T;

/** A function whose result is an `{ ok }` object may also give `{ ok: false, reason: 'disabled' }`; any other declares its own disabled value. */
type OrDisabled<R> = Awaited<R> extends ResultObject ? (R extends Promise<infer T> ? Promise<T | Disabled> : R | Disabled) : R;

/** The module functions legal in route kind K, from the modules the script lists. */
export type ModuleFunctions<M extends readonly AnyModule[], K extends RouteKind, FK extends string, RK extends string> =
  UnionToIntersection<FunctionsOf<M[number]>> extends infer All
    ? {
        [P in keyof All as All[P] extends ScopedFn<infer S, never, unknown> ? (K extends S ? P : never) : never]:
          All[P] extends ScopedFn<RouteKind, infer A, infer R> ? (...args: WithRouteNames<A, FK, RK>) => OrDisabled<R> : never;
      }
    : never;

/** What a route block may return; the verdict a function produced counts even if it is not returned. */
export type RouteResult = Verdict | { readonly ok: boolean } | void | undefined;
type MaybePromise<T> = T | Promise<T>;

interface CommonCtx {
  /** The request being routed (in reply and failure routes: the request the call was forwarded with). */
  readonly msg: Request;
  /** A logger bound to this message: route kind, script generation, call id, method, source. */
  readonly log: Logger;
  /** Generation of the script this route belongs to (1 at boot, +1 per successful reload). */
  readonly routeGeneration: number;
  /** Sends nothing: the message is dropped (counts as the verdict). */
  drop(): Verdict;
}

export interface RequestCoreCtx extends CommonCtx {
  /** Answers the request from the proxy: in the plain dialect, ACK_REGISTER / CALL_FAILED / ERROR as fits. */
  respond(status: number, reason?: string): Verdict;
}
export interface ReplyCoreCtx extends CommonCtx {
  readonly reply: Reply;
}
export interface FailureCoreCtx extends CommonCtx {
  /** The failure being handled: the callee's reply, or a local 408 "no answer" (`reply.local`). */
  readonly reply: Reply;
  /** Sends this failure upstream instead of the one received. */
  respond(status: number, reason?: string): Verdict;
}

export type RequestCtx<M extends readonly AnyModule[], FK extends string, RK extends string> = RequestCoreCtx & ModuleFunctions<M, 'request', FK, RK>;
export type ReplyCtx<M extends readonly AnyModule[], FK extends string, RK extends string> = ReplyCoreCtx & ModuleFunctions<M, 'reply', FK, RK>;
export type FailureCtx<M extends readonly AnyModule[], FK extends string, RK extends string> = FailureCoreCtx & ModuleFunctions<M, 'failure', FK, RK>;

interface ListenCommon {
  /** Default: the dialect's port (plain 34567, SIP 5060). */
  readonly port?: number;
  /** Default `::` (dual-stack). An IPv4 literal makes an IPv4-only socket. */
  readonly host?: string;
  /** Name used in logs; default `<dialect>:<port>`. */
  readonly name?: string;
  /** Answer STUN Binding requests (RFC 5389) on this UDP port, so a client learns its public address from the proxy it talks to. */
  readonly stun?: boolean;
  /**
   * STUN answers per second to one source IP, twice that in a burst (default 5): the rest are
   * dropped, so forged Binding requests cannot make the proxy flood someone with answers.
   */
  readonly stunRatePerSource?: number;
  /**
   * How the UDP socket is driven. `native` (native/signal.c, built at install): each wakeup
   * drains the socket with recvmmsg and hands the batch to the script in one call, and the
   * replies leave in one sendmmsg. `js`: node:dgram. `auto` (default): native when it was built
   * and the host is an IP literal; SWITCHYARD_UDP_ENGINE=js|native overrides it.
   */
  readonly udpEngine?: 'auto' | 'native' | 'js';
}

interface StreamListenCommon {
  /** How long a peer has to finish its TLS handshake or WebSocket upgrade (default 10 s). */
  readonly handshakeTimeoutMs?: number;
}

interface SipListenCommon {
  readonly dialect: 'sip';
  /** The address put in Via and Record-Route (default: the bound address, or the first non-loopback IPv4). */
  readonly advertise?: string;
  /** The same toward IPv6 peers of a dual-stack listener (default: the first global IPv6, else ::1). */
  readonly advertiseIPv6?: string;
}

/**
 * A signaling listener: the plain call protocol over UDP, SIP over UDP and TCP on one port, or
 * SIP over one of TLS (default port 5061), WebSocket (8080) or WebSocket over TLS (8443).
 */
export type ListenSpec =
  | (ListenCommon & { readonly dialect: 'plain' })
  | (ListenCommon & SipListenCommon & {
      /** Default both. */
      readonly transports?: readonly ('udp' | 'tcp')[];
    })
  | (Omit<ListenCommon, 'stun' | 'udpEngine'> & SipListenCommon & StreamListenCommon & {
      readonly transport: 'tls';
      /** Certificate and key files (PEM), relative to the script; a change on disk is used by the next connection. */
      readonly cert: string;
      readonly key: string;
      /** Roots trusted when the proxy dials a TLS peer (default: Node's bundled CAs). */
      readonly ca?: string;
      /** false: accept any certificate from dialled peers (self-signed test peers only). Default true. */
      readonly verifyPeer?: boolean;
    })
  | (Omit<ListenCommon, 'stun' | 'udpEngine'> & SipListenCommon & StreamListenCommon & {
      readonly transport: 'ws';
      /** Origins browsers may connect from (default: any). */
      readonly origins?: readonly string[];
    })
  | (Omit<ListenCommon, 'stun' | 'udpEngine'> & SipListenCommon & StreamListenCommon & {
      readonly transport: 'wss';
      readonly cert: string;
      readonly key: string;
      readonly origins?: readonly string[];
    });

export interface Routes<M extends readonly AnyModule[], FK extends string, RK extends string> {
  /** Runs for every request (REGISTER, CALL/INVITE, BYE...). */
  request(ctx: RequestCtx<M, FK, RK>): MaybePromise<RouteResult>;
  /** Named routes a forwarded call runs for each reply (`forwardCall({ onReply: 'name' })`). */
  reply?: { [K in RK]: (ctx: ReplyCtx<M, FK, RK>) => MaybePromise<RouteResult> };
  /** Named routes a forwarded call runs when it fails or is not answered (`forwardCall({ onFailure: 'name' })`). */
  failure?: { [K in FK]: (ctx: FailureCtx<M, FK, RK>) => MaybePromise<RouteResult> };
}

export interface ProxyDefinition<M extends readonly AnyModule[], FK extends string, RK extends string> {
  readonly listen: readonly ListenSpec[];
  readonly modules: M;
  readonly routes: Routes<M, FK, RK>;
  /** The reply a request gets when its route gives no verdict (default 404 "no route"). */
  readonly defaultReply?: { readonly status: number; readonly reason: string };
  /**
   * The admin listener (metrics, health, the control API, the status page): default
   * 127.0.0.1:8060. A host other than loopback needs a `token`; `false` runs none.
   */
  readonly admin?: false | { readonly enabled?: boolean; readonly host?: string; readonly port?: number; readonly token?: string };
  readonly log?: { readonly level?: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent' };
  /** Overload control: when and how new requests are refused past the proxy's capacity (README, "Overload"). */
  readonly overload?: OverloadOptions;
  /** SIP beside its listeners (README, "Limits"). */
  readonly sip?: SipScriptOptions;
}

/** SIP options of a script: how next hops' host names are resolved, the key of the Record-Route mark. */
export interface SipScriptOptions {
  /** Bounds on resolving host names of Request-URIs and Routes (reloadable). */
  readonly dns?: {
    /** A name taking longer is given up: 503 (default 2000). */
    readonly timeoutMs?: number;
    /** Answers kept at most this long (default 300; shorter when their TTL says so). */
    readonly cacheSec?: number;
    /** Names that did not resolve, or took too long, kept as such (default 30). */
    readonly negativeCacheSec?: number;
    /** Names kept at most (default 10,000). */
    readonly maxCached?: number;
    /** Lookups at once (default 2: the system resolver takes one of libuv's four threads each). */
    readonly maxConcurrent?: number;
    /** Lookups waiting for a turn; past it 503 at once (default 64). */
    readonly maxQueued?: number;
    /** DNS servers asked directly (`ip`, `ip:port`, `[ipv6]:port`) instead of the system resolver. */
    readonly servers?: readonly string[];
  };
  /**
   * The key (32 characters or more) of the mark this proxy puts in its Record-Route, which lets
   * in-dialog requests of the dialogs it record-routed go anywhere: proxies behind one name share
   * it, and it keeps those dialogs working across a restart. Read at start (a reload keeps the
   * key in use); random per process by default.
   */
  readonly routeSecret?: string;
}

/** The route script's entry point: returns its argument, typed so that ctx carries the listed modules' functions. */
export function defineProxy<const M extends readonly AnyModule[], FK extends string = never, RK extends string = never>(
  def: ProxyDefinition<M, FK, RK>,
): ProxyDefinition<M, FK, RK> {
  return def;
}
