/** Public API of the SIP wire dialect: parse, serialize, headers, URIs, Via, SDP. */
export { parseSip, type ParseOptions, type SipParseError, type SipParseErrorCode, type SipParseResult } from './parse.ts';
export { serializeSip } from './serialize.ts';
export {
  WireHeader, addHeader, createRequest, createResponse, findListComma, getCSeq, getHeader, getHeaders,
  getMaxForwards, hasHeader, parseCSeq, prependHeader, removeHeader, setHeader, splitHeaderList,
  type CSeq, type SipHeader, type SipMessage, type SipRequest, type SipResponse, type SipVersion, type WireInfo,
} from './message.ts';
export { canonicalName, displayName, isListHeader } from './names.ts';
export { formatParams, getParam, parseParams, quote, removeParam, setParam, unquote, type Param } from './params.ts';
export {
  formatNameAddr, formatUri, isValidUri, parseNameAddr, parseUri, unescapeUri, uriHostPort,
  type NameAddr, type SipUri, type UriParam,
} from './uri.ts';
export {
  MAGIC_COOKIE, formatVia, isRfc3261Branch, parseVia, parseViaList, removeViaParam, setViaParam, type Via,
} from './via.ts';
export {
  addAttribute, formatSdp, getAttributes, getConnection, getRtcp, hasAttribute, parseConnection, parseSdp,
  removeAttribute, sdpToBuffer, setConnectionAddress, setMediaFormats, setMediaPort, setOriginAddress, setRtcp,
  type Sdp, type SdpConnection, type SdpLine, type SdpMedia, type SdpParseResult,
} from './sdp.ts';
