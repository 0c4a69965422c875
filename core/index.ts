export { defineProxy } from './script/types.ts';
export type {
  ProxyDefinition, Routes, ListenSpec, RequestCtx, ReplyCtx, FailureCtx, RouteResult, ModuleFunctions,
} from './script/types.ts';
export { defineModule, fn, DISABLED } from './modules/define.ts';
export type {
  RouteKind, ScopedFn, ModuleInstance, ModuleManifest, SetupEnv, BoundEnv, Disabled, FailureRouteName, ReplyRouteName,
} from './modules/define.ts';
export type { CoreServices, ForwardOptions } from './modules/core-services.ts';
export type { Verdict } from './dispatch/verdict.ts';
export type { MessageContext } from './dispatch/message-context.ts';
export type { Message, Request, Reply, Party, Method, DialectName } from './message.ts';
export type { Endpoint } from './address.ts';
export { Switchyard, type StartOptions, type ReloadResult } from './proxy.ts';
export { SwitchyardError, type ErrorCode } from './errors.ts';
