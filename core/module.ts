/** switchyard's module kit: what `import ... from 'switchyard/module'` gives a module author. */
export { defineModule, fn, DISABLED } from './kernel/define-module.ts';
export type {
  RouteKind, ScopedFn, ModuleInstance, ModuleManifest, SetupEnv, BoundEnv, Disabled, FailureRouteName, ReplyRouteName,
} from './kernel/define-module.ts';
export type { MessageContext } from './kernel/message-context.ts';
export type { Message, Request, Reply, Party, Method, DialectName } from './model/message.ts';
export type { Endpoint } from './lib/address.ts';
export type {
  MediaOffer, MediaStream, MediaAddress, MediaAttribute, MediaTarget, RelayedAddress, RelayedStream,
} from './model/media.ts';
export { MediaRefused, isMediaRefused, type MediaEvent } from './kernel/hooks.ts';
export type { Logger } from './lib/log.ts';
export { OpenMap } from './lib/open-map.ts';
export { LogThrottle } from './lib/log-throttle.ts';
export { asSeenBy } from './lib/address.ts';
export { defaultAdvertise } from './lib/advertise.ts';
export { createUdpSocket, bindUdp } from './transport/udp-socket.ts';
export { loadAddon, type AddonLoad } from './lib/native-addon.ts';
