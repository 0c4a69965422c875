/** switchyard's module kit: what `import ... from 'switchyard/module'` gives a module author. */
export { defineModule, fn, DISABLED } from './kernel/define-module.ts';
export type {
  RouteKind, ScopedFn, ModuleInstance, ModuleManifest, SetupEnv, BoundEnv, Disabled, FailureRouteName, ReplyRouteName,
} from './kernel/define-module.ts';
export type { MessageContext } from './kernel/message-context.ts';
export type { Message, Request, Reply, Party, Method, DialectName } from './model/message.ts';
export type { Endpoint } from './lib/address.ts';
export { respondVerdict } from './model/verdict.ts';
export type { Verdict, ReplyExtras } from './model/verdict.ts';
export type { RegistrationRequest, RegistrationParse, RequestedContact, Flow } from './model/registration.ts';
export { registrationOf, sameContactUri } from './dialects/access.ts';
export { sameEndpoint } from './lib/address.ts';
export { PackedTable } from './lib/packed-table.ts';
