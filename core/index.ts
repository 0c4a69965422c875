export { defineProxy } from './script/types.ts';
export type {
  ProxyDefinition, Routes, ListenSpec, RequestCtx, ReplyCtx, FailureCtx, RouteResult, ModuleFunctions,
} from './script/types.ts';
export { defineModule, fn, DISABLED } from './kernel/define-module.ts';
export type {
  RouteKind, ScopedFn, ModuleInstance, ModuleManifest, SetupEnv, BoundEnv, Disabled, FailureRouteName, ReplyRouteName,
} from './kernel/define-module.ts';
export type { CoreServices } from './kernel/core-services.ts';
export type { OverloadOptions } from './kernel/overload.ts';
export type { ForwardPlan, ForwardTarget, ReplyExtras } from './model/verdict.ts';
export type { Verdict } from './model/verdict.ts';
export type { MessageContext } from './kernel/message-context.ts';
export type { Message, Request, Reply, Party, Method, DialectName } from './model/message.ts';
export type { Endpoint } from './lib/address.ts';
export { Switchyard, type StartOptions, type ReloadResult } from './boot/switchyard.ts';
export { SwitchyardError, type ErrorCode } from './lib/errors.ts';
