export { registrar, type RegistrarApi, type LookupResult, type Binding, type LocationStore } from './registrar/index.ts';
export { dialog, type DialogApi, type Dialog } from './dialog/index.ts';
export { callRouting, type ForwardCallOptions } from './call-routing/index.ts';
export { mediaRelay, type MediaRelayApi, type EndMediaResult, type MediaProxyAsk, type BridgeAsk, type NgLegFlags } from './media-relay/index.ts';
export { iceHints, type IceHintsApi, type IceHintsOverride, type IceCandidateMode } from './ice-hints/index.ts';
export { auth, type AuthResult, type AuthFailure, type CredentialStore } from './auth/index.ts';
export { floodLimits, type BanResult } from './flood-limits/index.ts';
export { callRecords, type CallRecord, type CallResult, type MediaLeg } from './call-records/index.ts';
