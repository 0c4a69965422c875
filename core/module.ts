/**
 * switchyard's module kit: what `import ... from 'switchyard/module'` gives a module author, and
 * all that the modules in this repository import from the core. A module declares itself with
 * `defineModule`, its script functions with `fn`, what it uses of other modules with
 * `required`/`optional`; it decides verdicts with the verdict constructors, takes part in calls
 * through the hooks, reads messages through the model and the accessors here (never a wire
 * format), and originates requests through `core.originate`.
 */
export { defineModule, fn, required, optional, DISABLED } from './kernel/define-module.ts';
/** zod, for a module's options schema: the same copy the core validates with. */
export { z } from 'zod';
export type {
  RouteKind, ScopedFn, ModuleInstance, ModuleManifest, ModuleFactory, ModuleOptions, SetupEnv, BoundEnv, Dependency, DepsOf,
  Disabled, FailureRouteName, ReplyRouteName, ResultObject,
} from './kernel/define-module.ts';
export type { MessageContext } from './kernel/message-context.ts';
export type { TransactionView } from './kernel/contracts.ts';
export type { CoreServices, OriginateRequest, OriginateResult, PlainOriginateRequest, SipOriginateRequest } from './kernel/core-services.ts';
export type {
  ModuleOperations, ModuleMetric, MetricSample, RegistrationInfo, CallInfo, CallMedia, CallMediaSession, LegMedia, HangupResult, ModuleHealth,
} from './kernel/operations.ts';
export { MediaRefused, isMediaRefused } from './kernel/hooks.ts';
export type {
  HookBus, RequestForwardEvent, ReplyForwardEvent, AnswerEvent, MediaEvent, TransactionEndEvent, TransactionOutcome,
} from './kernel/hooks.ts';

// The model.
export { respondVerdict, forwardVerdict, DROP, isVerdict } from './model/verdict.ts';
export type { Verdict, ForwardPlan, ForwardTarget, ReplyExtras } from './model/verdict.ts';
export { reasonPhrase } from './model/message.ts';
export type { Message, Request, Reply, Party, Method, DialectName, Inbound } from './model/message.ts';
export type { MediaOffer, MediaStream, MediaAttribute, MediaAddress, MediaTarget, RelayedAddress, RelayedStream } from './model/media.ts';
export type { RegistrationRequest, RegistrationParse, RequestedContact, Flow } from './model/registration.ts';

// Accessors answered by the message's dialect.
export { carriesRoute, flowOf, headerValues, registrationOf, sameContactUri } from './dialects/access.ts';

// Tables and helpers for module state.
export { formatEndpoint, sameEndpoint, asSeenBy, unmapIPv4 } from './lib/address.ts';
export type { Endpoint } from './lib/address.ts';
export { OpenMap } from './lib/open-map.ts';
export { PackedTable } from './lib/packed-table.ts';
export { LogThrottle } from './lib/log-throttle.ts';
export { TrustedPeers, parseCidr, type CidrRule } from './lib/trusted-peers.ts';
export type { Logger } from './lib/log.ts';

// For modules that own media sockets (the media relay).
export { defaultAdvertise } from './lib/advertise.ts';
export { createUdpSocket, bindUdp } from './transport/udp-socket.ts';
export { loadAddon, type AddonLoad } from './lib/native-addon.ts';
