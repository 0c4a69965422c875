/**
 * What a module shows an operator through the admin listener: metrics read at scrape time from
 * counters the module already keeps, and its part of the control API (registrations, calls,
 * their media, ending a call, health). Every part is optional; the admin merges what the listed
 * modules offer. Nothing here runs per message: it is called when someone asks.
 */
import type { DialectName, SignalingTransport } from '../model/message.ts';
import type { Endpoint } from '../lib/address.ts';

/** One labelled value of a metric. */
export interface MetricSample {
  readonly labels?: Readonly<Record<string, string>>;
  readonly value: number;
}

/**
 * A Prometheus metric a module keeps: `read` is called at each scrape. A counter's value must
 * never go down while the proxy runs. Names follow Prometheus conventions (`switchyard_` prefix,
 * base units, `_total` for counters).
 */
export interface ModuleMetric {
  readonly name: string;
  readonly help: string;
  readonly type: 'counter' | 'gauge';
  readonly labelNames?: readonly string[];
  read(): number | readonly MetricSample[] | Promise<number | readonly MetricSample[]>;
}

/** A registered contact, as the control API lists it. */
export interface RegistrationInfo {
  readonly user: string;
  readonly dialect: DialectName;
  /** The transport address it registered from. */
  readonly address: Endpoint;
  readonly listener: string;
  readonly contact?: string;
  readonly transport?: SignalingTransport;
  /** Epoch ms. */
  readonly registeredAt: number;
  /** Epoch ms; null: until replaced. */
  readonly expiresAt: number | null;
}

/** A call in progress, as the control API lists it. */
export interface CallInfo {
  readonly callId: string;
  readonly dialect: DialectName;
  readonly caller: string;
  readonly callee: string;
  readonly state: 'early' | 'confirmed';
  readonly callerAddress: Endpoint;
  readonly calleeAddress: Endpoint;
  /** Epoch ms. */
  readonly startedAt: number;
  readonly answeredAt: number | null;
}

/** One direction of a relayed stream: what one party sent through the relay. */
export interface LegMedia {
  readonly party: string;
  /** Where its media comes from (once latched) or is expected from; empty address while unknown. */
  readonly address: Endpoint;
  readonly latched: boolean;
  readonly packets: number;
  readonly bytes: number;
}

/** A relay session of a call: one port, both parties' counters. */
export interface CallMediaSession {
  readonly stream: number;
  readonly component: string;
  readonly port: number;
  readonly legs: readonly LegMedia[];
  readonly strangers: number;
}

export interface CallMedia {
  readonly sessions: readonly CallMediaSession[];
}

export type HangupResult =
  /** Each party's final response to its BYE (null: the plain protocol has none; 408: none came in time). */
  | { readonly ok: true; readonly caller: number | null; readonly callee: number | null }
  | { readonly ok: false; readonly reason: 'no-such-call' | 'not-answered' };

/** A module's own view of whether it can serve (a store reachable, a relay alive). */
export interface ModuleHealth {
  readonly ok: boolean;
  readonly detail?: string;
}

export interface ModuleOperations {
  readonly metrics?: readonly ModuleMetric[];
  /** Registered users, optionally one user's, at most `limit` contacts. */
  registrations?(query: { readonly user?: string; readonly limit: number }): Promise<readonly RegistrationInfo[]>;
  /** Calls in progress. */
  calls?(): readonly CallInfo[];
  /** The live media counters of a call; null when it has no media through this module. */
  callMedia?(callId: string): Promise<CallMedia | null>;
  /** Ends a call: a BYE to each party (SIP through the UAC core, plain as the protocol's BYE). */
  hangup?(callId: string): Promise<HangupResult>;
  health?(): ModuleHealth | Promise<ModuleHealth>;
  /** Figures for the `stats` view, by name. */
  stats?(): Readonly<Record<string, number>> | Promise<Readonly<Record<string, number>>>;
}
