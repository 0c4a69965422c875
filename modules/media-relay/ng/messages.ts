/**
 * The NG vocabulary both sides share: framing (`<cookie> <bencoded dictionary>`), the typed
 * command set with the validation of each command's parameters, the encoding of a typed
 * request into its dictionary, and the result dictionaries (`ok`, `error`, `pong`,
 * `load limit`) with the field names rtpengine uses.
 *
 * Keys are matched as rtpengine matches them: `transport protocol`, `transport-protocol` and
 * `transport_protocol` are one key, in any letter case. Flags are kept in that canonical form
 * too (`trust address` and `trust-address` are `trust-address`).
 */
import { isIP } from 'node:net';
import { parseRtppFlags } from './rtpp-flags.ts';
import {
  type BencodeDict,
  type BencodeInputObject,
  type BencodeValue,
  bencodeText,
  isBencodeDict,
  isBencodeList,
} from './bencode.ts';

// ---------------------------------------------------------------------------------------------
// Framing

/** Cookies are short tokens (Kamailio's are `<id>_<random>_<seq>`); a longer one is not answered. */
const MAX_COOKIE_LENGTH = 128;

const SPACE = 0x20;

export type NgFrame =
  | { readonly ok: true; readonly cookie: string; readonly body: Buffer }
  | { readonly ok: false; readonly reason: 'no-cookie' | 'cookie-too-long' };

/**
 * Splits a datagram into its cookie (the bytes before the first space, as latin1 so it is
 * echoed byte for byte) and its body.
 */
export function splitFrame(datagram: Buffer): NgFrame {
  const end = Math.min(datagram.length, MAX_COOKIE_LENGTH + 1);
  for (let i = 0; i < end; i++) {
    if (datagram[i] !== SPACE) continue;
    if (i === 0) return { ok: false, reason: 'no-cookie' };
    return { ok: true, cookie: datagram.toString('latin1', 0, i), body: datagram.subarray(i + 1) };
  }
  return { ok: false, reason: datagram.length > MAX_COOKIE_LENGTH ? 'cookie-too-long' : 'no-cookie' };
}

/** The bytes that start a framed message: the cookie and its space. */
export function framePrefix(cookie: string): Buffer {
  return Buffer.from(`${cookie} `, 'latin1');
}

// ---------------------------------------------------------------------------------------------
// Commands

/** The commands a relay node serves. */
const NG_CORE_COMMANDS = ['ping', 'offer', 'answer', 'delete', 'query', 'list', 'statistics'] as const;
export type NgCoreCommand = (typeof NG_CORE_COMMANDS)[number];

/** Commands rtpengine defines that Kamailio and OpenSIPS send; recognised, and refused unless a handler takes them. */
const NG_OTHER_COMMANDS = [
  'start recording', 'stop recording', 'pause recording',
  'block DTMF', 'unblock DTMF', 'block media', 'unblock media', 'silence media', 'unsilence media',
  'start forwarding', 'stop forwarding', 'play media', 'stop media', 'play DTMF',
  'publish', 'subscribe request', 'subscribe answer', 'unsubscribe', 'connect',
] as const;
export type NgOtherCommand = (typeof NG_OTHER_COMMANDS)[number];
export type NgCommand = NgCoreCommand | NgOtherCommand;

const COMMANDS: ReadonlyMap<string, NgCommand> = new Map<string, NgCommand>([...NG_CORE_COMMANDS, ...NG_OTHER_COMMANDS].map((c) => [c, c]));

export const NG_TRANSPORT_PROTOCOLS = ['RTP/AVP', 'RTP/SAVP', 'RTP/AVPF', 'RTP/SAVPF', 'UDP/TLS/RTP/SAVP', 'UDP/TLS/RTP/SAVPF'] as const;
export type NgTransportProtocol = (typeof NG_TRANSPORT_PROTOCOLS)[number];

/** What `ICE` asks of the relay (rtpengine: remove, force, default, force-relay, optional). */
export const NG_ICE_MODES = ['remove', 'force', 'default', 'force-relay', 'optional'] as const;
export type NgIceMode = (typeof NG_ICE_MODES)[number];

export type NgAddressFamily = 'IP4' | 'IP6';

export interface NgAddress {
  readonly family: NgAddressFamily;
  readonly address: string;
}

/** What every request may carry besides its command's own fields. */
export interface NgCommon {
  /** `flags`, canonical (lower case, hyphens). */
  readonly flags: ReadonlySet<string>;
  /** `supports`: what the sender understands in a result (Kamailio: `load limit`). */
  readonly supports: ReadonlySet<string>;
  /** Every other key, by canonical name, as received. */
  readonly options: ReadonlyMap<string, BencodeValue>;
}

/** Which call, and which party of it, a command is about. */
export interface NgCallRef {
  readonly callId: string;
  readonly fromTag?: string;
  readonly toTag?: string;
  readonly viaBranch?: string;
}

/** The fields of `offer` and `answer`. */
export interface NgSdpFields {
  readonly sdp: Buffer;
  readonly fromTag: string;
  /** `replace`: parts of the SDP to rewrite (`origin`, `session-connection`, ...), canonical. */
  readonly replace: ReadonlySet<string>;
  readonly ice?: NgIceMode;
  /** Other `ICE` list items (`trickle`, `lite-*`, `ice2`, ...). */
  readonly iceOptions: readonly string[];
  /** `direction`: the logical interfaces of the sender's side and of the other side. */
  readonly direction: readonly string[];
  readonly transportProtocol?: NgTransportProtocol | 'accept';
  /** The SIP message's source address (`received-from`). */
  readonly receivedFrom?: NgAddress;
  readonly addressFamily?: NgAddressFamily;
  readonly mediaAddress?: string;
  /** `rtcp-mux`: offer, require, demux, accept, reject. */
  readonly rtcpMux: ReadonlySet<string>;
  readonly sdes: readonly string[];
  readonly label?: string;
  /** Kamailio: `sip_request` or `sip_reply`. */
  readonly sipMessageType?: string;
}

export interface NgPingRequest extends NgCommon {
  readonly command: 'ping';
}
export interface NgOfferRequest extends NgCommon, NgCallRef, NgSdpFields {
  readonly command: 'offer';
  readonly fromTag: string;
}
export interface NgAnswerRequest extends NgCommon, NgCallRef, NgSdpFields {
  readonly command: 'answer';
  readonly fromTag: string;
  readonly toTag: string;
}
export interface NgDeleteRequest extends NgCommon, NgCallRef {
  readonly command: 'delete';
  /** `delete delay` in seconds (0: at once). */
  readonly deleteDelay?: number;
}
export interface NgQueryRequest extends NgCommon, NgCallRef {
  readonly command: 'query';
}
export interface NgListRequest extends NgCommon {
  readonly command: 'list';
  /** How many call-ids at most (rtpengine's default 32). */
  readonly limit: number;
}
export interface NgStatisticsRequest extends NgCommon {
  readonly command: 'statistics';
}
/** A recognised command outside the core set: its call reference if it names one, the rest in `options`. */
export interface NgOtherRequest extends NgCommon, Partial<NgCallRef> {
  readonly command: NgOtherCommand;
}

export type NgRequest =
  | NgPingRequest
  | NgOfferRequest
  | NgAnswerRequest
  | NgDeleteRequest
  | NgQueryRequest
  | NgListRequest
  | NgStatisticsRequest
  | NgOtherRequest;

export type NgRequestResult = { readonly ok: true; readonly request: NgRequest } | { readonly ok: false; readonly reason: string };

/** rtpengine's own error reasons, so a proxy that matches on them behaves the same. */
export const NG_ERRORS = {
  notDictionary: 'Could not decode bencode dictionary',
  noCommand: 'Dictionary contains no key "command"',
  unknownCommand: 'Unrecognized command',
  noCallId: 'No call-id in message',
  noFromTag: 'No from-tag in message',
  noToTag: 'No to-tag in message',
  noSdp: 'No SDP body in message',
} as const;

const DEFAULT_LIST_LIMIT = 32;

/** Lower case, spaces and underscores as hyphens: the one spelling of a key or flag. */
export function canonicalName(name: string): string {
  let i = 0;
  for (; i < name.length; i++) {
    const c = name.charCodeAt(i);
    if (c === 0x20 || c === 0x5f || (c >= 0x41 && c <= 0x5a)) break;
  }
  if (i === name.length) return name;
  let out = name.slice(0, i);
  for (; i < name.length; i++) {
    const c = name.charCodeAt(i);
    if (c === 0x20 || c === 0x5f) out += '-';
    else if (c >= 0x41 && c <= 0x5a) out += String.fromCharCode(c + 32);
    else out += name[i];
  }
  return out;
}

/** The keys a request's typed fields come from, by canonical name. */
const FIELD_KEYS = new Set([
  'command', 'call-id', 'from-tag', 'to-tag', 'via-branch', 'flags', 'supports', 'sdp', 'replace', 'ice',
  'direction', 'transport-protocol', 'received-from', 'address-family', 'media-address', 'rtcp-mux', 'sdes',
  'label', 'sip-message-type', 'rtpp-flags', 'delete-delay', 'limit',
]);

/** Thrown only inside parseNgRequest, which returns it as a value. */
class Invalid {
  constructor(readonly reason: string) {}
}

/** The request dictionary with its keys made canonical, refusing a key given twice under two spellings. */
function canonicalKeys(dict: BencodeDict): Map<string, BencodeValue> {
  const out = new Map<string, BencodeValue>();
  for (const [key, value] of dict) {
    const name = canonicalName(key);
    if (out.has(name)) throw new Invalid(`Key ${quoted(name)} given twice`);
    out.set(name, value);
  }
  return out;
}

/** Keys whose values are lists: what `rtpp-flags` gives for them adds to what the dictionary has. */
const LIST_KEYS = new Set(['flags', 'replace', 'direction', 'rtcp-mux', 'sdes', 'supports']);

function asList(v: BencodeValue): BencodeValue[] {
  return isBencodeList(v) ? [...v] : [v];
}

/**
 * Folds `rtpp-flags` into the dictionary: its flags and list values are added to the lists,
 * its other keys fill what the dictionary leaves out (a key the dictionary has wins).
 */
function foldRtppFlags(keys: Map<string, BencodeValue>): void {
  const raw = keys.get('rtpp-flags');
  if (raw === undefined) return;
  const text = bencodeText(raw);
  if (text === undefined) throw new Invalid('"rtpp-flags" must be a string');
  const parsed = parseRtppFlags(text);
  if (!parsed.ok) throw new Invalid(parsed.reason);
  const add = (name: string, items: BencodeValue[]): void => {
    const had = keys.get(name);
    keys.set(name, had === undefined ? items : [...asList(had), ...items]);
  };
  if (parsed.value.flags.length > 0) add('flags', parsed.value.flags.map((f) => Buffer.from(f)));
  for (const [key, value] of parsed.value.entries) {
    const name = canonicalName(key);
    if (LIST_KEYS.has(name)) add(name, asList(value));
    else if (!keys.has(name)) keys.set(name, value);
  }
}

function text(keys: ReadonlyMap<string, BencodeValue>, name: string): string | undefined {
  const v = keys.get(name);
  if (v === undefined) return undefined;
  const s = bencodeText(v);
  if (s === undefined) throw new Invalid(`"${name}" must be a string`);
  return s;
}

/** A string that must be there and not be empty (rtpengine treats an empty one as missing). */
function required(keys: ReadonlyMap<string, BencodeValue>, name: string, missing: string): string {
  const s = text(keys, name);
  if (s === undefined || s.length === 0) throw new Invalid(missing);
  return s;
}

/** rtpengine takes integers as bencode integers or as decimal strings. */
function integer(keys: ReadonlyMap<string, BencodeValue>, name: string): number | undefined {
  const v = keys.get(name);
  if (v === undefined) return undefined;
  if (typeof v === 'number') return v;
  const s = bencodeText(v);
  if (s !== undefined && /^-?\d{1,15}$/.test(s)) return Number(s);
  throw new Invalid(`"${name}" must be an integer`);
}

/** A list of strings; rtpengine also takes a single string where a list is expected. */
function strings(keys: ReadonlyMap<string, BencodeValue>, name: string): string[] {
  const v = keys.get(name);
  if (v === undefined) return [];
  const single = bencodeText(v);
  if (single !== undefined) return [single];
  if (!isBencodeList(v)) throw new Invalid(`"${name}" must be a list of strings`);
  const out: string[] = [];
  for (const item of v) {
    const s = bencodeText(item);
    if (s === undefined) throw new Invalid(`"${name}" must be a list of strings`);
    out.push(s);
  }
  return out;
}

function canonicalSet(list: readonly string[]): Set<string> {
  return new Set(list.map(canonicalName));
}

const TRANSPORT_VALUES = [...NG_TRANSPORT_PROTOCOLS, 'accept'] as const;
const FAMILIES = ['IP4', 'IP6'] as const;

/** A value as an error reason quotes it: short, since the reason goes back to whoever sent it. */
function quoted(value: string): string {
  return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}...` : value);
}

function oneOf<T extends string>(value: string | undefined, allowed: readonly T[], name: string): T | undefined {
  if (value === undefined) return undefined;
  if ((allowed as readonly string[]).includes(value)) return value as T;
  throw new Invalid(`Invalid "${name}" value ${quoted(value)}`);
}

function familyOf(address: string): NgAddressFamily {
  const v = isIP(address);
  if (v === 4) return 'IP4';
  if (v === 6) return 'IP6';
  throw new Invalid(`${quoted(address)} is not an IP address`);
}

/** `received-from`: `[family, address]`, or the address alone. */
function receivedFrom(keys: ReadonlyMap<string, BencodeValue>): NgAddress | undefined {
  const v = keys.get('received-from');
  if (v === undefined) return undefined;
  const alone = bencodeText(v);
  if (alone !== undefined) return { family: familyOf(alone), address: alone };
  const pair = strings(keys, 'received-from');
  if (pair.length !== 2) throw new Invalid('"received-from" must be [family, address]');
  const family = oneOf(pair[0], FAMILIES, 'received-from');
  const address = pair[1] as string;
  if (family !== familyOf(address)) throw new Invalid(`"received-from" address ${quoted(address)} is not ${family}`);
  return { family: family as NgAddressFamily, address };
}

function ice(keys: ReadonlyMap<string, BencodeValue>): { mode: NgIceMode | undefined; options: string[] } {
  let mode: NgIceMode | undefined;
  const options: string[] = [];
  for (const item of strings(keys, 'ice')) {
    const name = canonicalName(item);
    if ((NG_ICE_MODES as readonly string[]).includes(name)) {
      if (mode !== undefined && mode !== name) throw new Invalid(`"ICE" names two modes, ${mode} and ${name}`);
      mode = name as NgIceMode;
    } else options.push(item);
  }
  return { mode, options };
}

/** A tag or branch: absent when missing or empty (rtpengine treats an empty one as missing). */
function optionalText(keys: ReadonlyMap<string, BencodeValue>, name: string): string | undefined {
  const s = text(keys, name);
  return s === '' ? undefined : s;
}

function sdpRequest(command: 'offer' | 'answer', keys: ReadonlyMap<string, BencodeValue>, common: NgCommon, rawFlags: readonly string[]): NgOfferRequest | NgAnswerRequest {
  // In rtpengine's order: SDP, call-id, from-tag, to-tag.
  const sdp = keys.get('sdp');
  if (sdp === undefined || (Buffer.isBuffer(sdp) && sdp.length === 0)) throw new Invalid(NG_ERRORS.noSdp);
  if (!Buffer.isBuffer(sdp)) throw new Invalid('"sdp" must be a string');
  const callId = required(keys, 'call-id', NG_ERRORS.noCallId);
  const fromTag = required(keys, 'from-tag', NG_ERRORS.noFromTag);
  const toTag = optionalText(keys, 'to-tag');
  if (command === 'answer' && toTag === undefined) throw new Invalid(NG_ERRORS.noToTag);
  const direction = strings(keys, 'direction');
  if (direction.length > 2) throw new Invalid('"direction" names more than two interfaces');
  const iceList = ice(keys);
  const replace = canonicalSet(strings(keys, 'replace'));
  const rtcpMux = canonicalSet(strings(keys, 'rtcp-mux'));
  const sdes = strings(keys, 'sdes');
  // rtpengine reads `replace-origin`, `rtcp-mux-demux`, `SDES-off` in the flags as those keys' values.
  for (const flag of rawFlags) {
    const name = canonicalName(flag);
    if (name.startsWith('replace-')) replace.add(name.slice('replace-'.length));
    else if (name.startsWith('rtcp-mux-')) rtcpMux.add(name.slice('rtcp-mux-'.length));
    else if (name.startsWith('sdes-')) sdes.push(flag.slice('sdes-'.length));
  }
  const fields = {
    flags: common.flags,
    supports: common.supports,
    options: common.options,
    callId,
    fromTag,
    viaBranch: optionalText(keys, 'via-branch'),
    sdp,
    replace,
    ice: iceList.mode,
    iceOptions: iceList.options,
    direction,
    transportProtocol: oneOf(text(keys, 'transport-protocol'), TRANSPORT_VALUES, 'transport-protocol'),
    receivedFrom: receivedFrom(keys),
    addressFamily: oneOf(text(keys, 'address-family'), FAMILIES, 'address-family'),
    mediaAddress: text(keys, 'media-address'),
    rtcpMux,
    sdes,
    label: text(keys, 'label'),
    sipMessageType: text(keys, 'sip-message-type'),
  };
  return command === 'offer' ? { command, ...fields, toTag } : { command, ...fields, toTag: toTag as string };
}

function validate(keys: ReadonlyMap<string, BencodeValue>): NgRequest {
  const name = text(keys, 'command');
  if (name === undefined) throw new Invalid(NG_ERRORS.noCommand);
  const command = COMMANDS.get(name);
  if (command === undefined) throw new Invalid(NG_ERRORS.unknownCommand);
  const options = new Map<string, BencodeValue>();
  for (const [k, v] of keys) if (!FIELD_KEYS.has(k)) options.set(k, v);
  const rawFlags = strings(keys, 'flags');
  const common: NgCommon = { flags: canonicalSet(rawFlags), supports: canonicalSet(strings(keys, 'supports')), options };
  switch (command) {
    case 'ping':
    case 'statistics':
      return { command, flags: common.flags, supports: common.supports, options };
    case 'list': {
      const limit = integer(keys, 'limit') ?? DEFAULT_LIST_LIMIT;
      if (limit < 0) throw new Invalid('invalid limit, must be >= 0');
      return { command, flags: common.flags, supports: common.supports, options, limit };
    }
    case 'offer':
    case 'answer':
      return sdpRequest(command, keys, common, rawFlags);
    case 'delete': {
      const deleteDelay = integer(keys, 'delete-delay');
      if (deleteDelay !== undefined && deleteDelay < 0) throw new Invalid('"delete delay" must not be negative');
      return { command, flags: common.flags, supports: common.supports, options, ...callRef(keys), deleteDelay };
    }
    case 'query':
      return { command, flags: common.flags, supports: common.supports, options, ...callRef(keys) };
    default: {
      const callId = text(keys, 'call-id');
      const ref = callId !== undefined && callId !== '' ? callRef(keys) : {};
      return { command, flags: common.flags, supports: common.supports, options, ...ref };
    }
  }
}

function callRef(keys: ReadonlyMap<string, BencodeValue>): NgCallRef {
  return {
    callId: required(keys, 'call-id', NG_ERRORS.noCallId),
    fromTag: optionalText(keys, 'from-tag'),
    toTag: optionalText(keys, 'to-tag'),
    viaBranch: optionalText(keys, 'via-branch'),
  };
}

/** Validates a decoded request into its typed command, or says why not (as rtpengine would). */
export function parseNgRequest(value: BencodeValue): NgRequestResult {
  if (!isBencodeDict(value)) return { ok: false, reason: NG_ERRORS.notDictionary };
  try {
    const keys = canonicalKeys(value);
    foldRtppFlags(keys);
    return { ok: true, request: validate(keys) };
  } catch (e) {
    if (e instanceof Invalid) return { ok: false, reason: e.reason };
    throw e;
  }
}

// ---------------------------------------------------------------------------------------------
// Requests, as a client writes them

/** Which call a client command is about. */
export interface NgCallParams {
  readonly callId: string;
  readonly fromTag?: string;
  readonly toTag?: string;
  readonly viaBranch?: string;
  readonly flags?: readonly string[];
  /** Further keys, written as given. */
  readonly options?: BencodeInputObject;
}

export interface NgSdpParams extends NgCallParams {
  readonly fromTag: string;
  readonly sdp: Buffer | string;
  readonly replace?: readonly string[];
  readonly ice?: NgIceMode | readonly string[];
  readonly direction?: readonly string[];
  readonly transportProtocol?: NgTransportProtocol | 'accept';
  readonly receivedFrom?: NgAddress;
  readonly addressFamily?: NgAddressFamily;
  readonly mediaAddress?: string;
  readonly rtcpMux?: readonly string[];
  readonly sdes?: readonly string[];
  /** `DTLS`: `off`, `passive`, `active`. */
  readonly dtls?: string;
  readonly label?: string;
  readonly sipMessageType?: string;
}

export interface NgAnswerParams extends NgSdpParams {
  readonly toTag: string;
}

export interface NgDeleteParams extends NgCallParams {
  readonly deleteDelay?: number;
}

/** What every request a client sends says it understands: the load-limit result. */
const CLIENT_SUPPORTS = ['load limit'];

function nonEmpty<T>(list: readonly T[] | undefined): readonly T[] | undefined {
  return list !== undefined && list.length > 0 ? list : undefined;
}

function callDict(command: NgCommand, p: NgCallParams): BencodeInputObject {
  return {
    ...p.options,
    command,
    'call-id': p.callId,
    'from-tag': p.fromTag,
    'to-tag': p.toTag,
    'via-branch': p.viaBranch,
    flags: nonEmpty(p.flags),
    supports: CLIENT_SUPPORTS,
  };
}

/** The dictionary of an `offer` or `answer`, with the key spellings Kamailio's module sends. */
export function sdpRequestDict(command: 'offer' | 'answer', p: NgSdpParams): BencodeInputObject {
  return {
    ...callDict(command, p),
    sdp: p.sdp,
    replace: nonEmpty(p.replace),
    ICE: typeof p.ice === 'string' ? p.ice : nonEmpty(p.ice),
    direction: nonEmpty(p.direction),
    'transport-protocol': p.transportProtocol,
    'received-from': p.receivedFrom === undefined ? undefined : [p.receivedFrom.family, p.receivedFrom.address],
    'address family': p.addressFamily,
    'media address': p.mediaAddress,
    'rtcp-mux': nonEmpty(p.rtcpMux),
    SDES: nonEmpty(p.sdes),
    DTLS: p.dtls,
    label: p.label,
    'sip-message-type': p.sipMessageType,
  };
}

export function deleteRequestDict(p: NgDeleteParams): BencodeInputObject {
  return { ...callDict('delete', p), 'delete delay': p.deleteDelay };
}

export function queryRequestDict(p: NgCallParams): BencodeInputObject {
  return callDict('query', p);
}

export function listRequestDict(limit?: number): BencodeInputObject {
  return { command: 'list', limit, supports: CLIENT_SUPPORTS };
}

export function simpleRequestDict(command: 'ping' | 'statistics'): BencodeInputObject {
  return { command };
}

// ---------------------------------------------------------------------------------------------
// Results

/** A result dictionary, ready to frame. */
export type NgResponse = BencodeInputObject & { readonly result: 'ok' | 'pong' | 'error' | 'load limit' };

export function pongResponse(): NgResponse {
  return { result: 'pong' };
}

/** `ok` with the command's fields, and a warning for a non-fatal problem. */
export function okResponse(fields: BencodeInputObject = {}, warning?: string): NgResponse {
  return { ...fields, warning, result: 'ok' };
}

/** `error`: no other key than the reason. */
export function errorResponse(reason: string): NgResponse {
  return { result: 'error', 'error-reason': reason };
}

/** rtpengine's refusal when it is over a configured load: the proxy tries another relay. */
export function loadLimitResponse(message: string): NgResponse {
  return { result: 'load limit', message };
}

/** A result as a client reads it. */
export type NgResultStatus =
  | { readonly kind: 'ok'; readonly dict: BencodeDict; readonly warning?: string }
  | { readonly kind: 'pong'; readonly dict: BencodeDict }
  | { readonly kind: 'error'; readonly reason: string }
  | { readonly kind: 'load-limit'; readonly message: string }
  | { readonly kind: 'malformed'; readonly message: string };

/** Reads the `result` of a decoded answer. */
export function resultStatus(value: BencodeValue): NgResultStatus {
  if (!isBencodeDict(value)) return { kind: 'malformed', message: 'the answer is not a dictionary' };
  const result = bencodeText(value.get('result'));
  switch (result) {
    case 'ok': {
      const warning = bencodeText(value.get('warning'));
      return warning === undefined ? { kind: 'ok', dict: value } : { kind: 'ok', dict: value, warning };
    }
    case 'pong':
      return { kind: 'pong', dict: value };
    case 'error':
      return { kind: 'error', reason: bencodeText(value.get('error-reason')) ?? 'error without a reason' };
    case 'load limit':
      return { kind: 'load-limit', message: bencodeText(value.get('message')) ?? 'load limit' };
    case undefined:
      return { kind: 'malformed', message: 'the answer has no "result" string' };
    default:
      return { kind: 'malformed', message: `unknown result "${result}"` };
  }
}
