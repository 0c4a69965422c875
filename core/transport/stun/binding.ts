import { isIPv4, isIPv6 } from 'node:net';
import type { Endpoint } from '../../lib/address.ts';
import { unmapIPv4 } from '../../lib/address.ts';
import { crc32 } from './crc32.ts';

/** STUN (RFC 5389 / RFC 8489) Binding responder: what a client needs to learn its public address. */

export const MAGIC_COOKIE = 0x2112a442;
const HEADER = 20;
const BINDING_REQUEST = 0x0001;
const BINDING_SUCCESS = 0x0101;
const ATTR_XOR_MAPPED_ADDRESS = 0x0020;
const ATTR_SOFTWARE = 0x8022;
const ATTR_FINGERPRINT = 0x8028;
const FINGERPRINT_XOR = 0x5354554e;
const SOFTWARE = Buffer.from('switchyard');

/** Cheap test for the dispatcher: the first two bits are 0 and the magic cookie is in place. */
export function looksLikeStun(buf: Buffer): boolean {
  return buf.length >= HEADER && (buf[0]! & 0xc0) === 0 && buf.readUInt32BE(4) === MAGIC_COOKIE;
}

export interface StunRequest {
  readonly type: number;
  readonly transactionId: Buffer;
  readonly fingerprint: boolean;
}

/** Parses and checks a STUN message; null when it is malformed (wrong lengths, bad attributes, a FINGERPRINT that does not match). */
export function parseStun(buf: Buffer): StunRequest | null {
  if (!looksLikeStun(buf)) return null;
  const length = buf.readUInt16BE(2);
  if (length % 4 !== 0 || HEADER + length !== buf.length) return null;
  let fingerprint = false;
  let at = HEADER;
  while (at < buf.length) {
    if (at + 4 > buf.length) return null;
    const type = buf.readUInt16BE(at);
    const len = buf.readUInt16BE(at + 2);
    const next = at + 4 + Math.ceil(len / 4) * 4;
    if (next > buf.length) return null;
    if (type === ATTR_FINGERPRINT) {
      // FINGERPRINT is last, 4 bytes, CRC-32 of everything before it XOR 0x5354554e.
      if (len !== 4 || next !== buf.length) return null;
      if (buf.readUInt32BE(at + 4) !== ((crc32(buf, 0, at) ^ FINGERPRINT_XOR) >>> 0)) return null;
      fingerprint = true;
    }
    at = next;
  }
  return { type: buf.readUInt16BE(0), transactionId: Buffer.from(buf.subarray(8, 20)), fingerprint };
}

function xorMappedAddress(source: Endpoint, transactionId: Buffer): Buffer {
  const address = unmapIPv4(source.address);
  const port = source.port ^ (MAGIC_COOKIE >>> 16);
  if (isIPv4(address)) {
    const v = Buffer.alloc(8);
    v[1] = 0x01;
    v.writeUInt16BE(port, 2);
    const ip = address.split('.').reduce((n, o) => (n << 8) | Number(o), 0) >>> 0;
    v.writeUInt32BE((ip ^ MAGIC_COOKIE) >>> 0, 4);
    return v;
  }
  if (!isIPv6(address)) throw new Error(`not an IP address: ${address}`);
  const v = Buffer.alloc(20);
  v[1] = 0x02;
  v.writeUInt16BE(port, 2);
  const ip = ipv6Bytes(address);
  const key = Buffer.concat([Buffer.from([0x21, 0x12, 0xa4, 0x42]), transactionId]);
  for (let i = 0; i < 16; i++) v[4 + i] = ip[i]! ^ key[i]!;
  return v;
}

function ipv6Bytes(address: string): Buffer {
  const [head, tail] = address.includes('::') ? address.split('::') as [string, string] : [address, ''];
  const h = head === '' ? [] : head.split(':');
  const t = tail === '' ? [] : tail.split(':');
  const groups = [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t];
  const out = Buffer.alloc(16);
  groups.forEach((g, i) => out.writeUInt16BE(parseInt(g, 16), i * 2));
  return out;
}

function attribute(type: number, value: Buffer): Buffer {
  const padded = Buffer.alloc(4 + Math.ceil(value.length / 4) * 4);
  padded.writeUInt16BE(type, 0);
  padded.writeUInt16BE(value.length, 2);
  value.copy(padded, 4);
  return padded;
}

/** The Binding success response: XOR-MAPPED-ADDRESS of the source, SOFTWARE, and FINGERPRINT when the request had one. */
export function bindingResponse(req: StunRequest, source: Endpoint): Buffer {
  const attrs = Buffer.concat([attribute(ATTR_XOR_MAPPED_ADDRESS, xorMappedAddress(source, req.transactionId)), attribute(ATTR_SOFTWARE, SOFTWARE)]);
  const header = Buffer.alloc(HEADER);
  header.writeUInt16BE(BINDING_SUCCESS, 0);
  header.writeUInt32BE(MAGIC_COOKIE, 4);
  req.transactionId.copy(header, 8);
  if (!req.fingerprint) {
    header.writeUInt16BE(attrs.length, 2);
    return Buffer.concat([header, attrs]);
  }
  header.writeUInt16BE(attrs.length + 8, 2);
  const body = Buffer.concat([header, attrs]);
  const fp = Buffer.alloc(4);
  fp.writeUInt32BE((crc32(body) ^ FINGERPRINT_XOR) >>> 0, 0);
  return Buffer.concat([body, attribute(ATTR_FINGERPRINT, fp)]);
}

/** The answer to a datagram that looks like STUN: a response to a well-formed Binding request, else nothing. */
export function answerStun(buf: Buffer, source: Endpoint): Buffer | null {
  const req = parseStun(buf);
  if (req === null || req.type !== BINDING_REQUEST) return null;
  return bindingResponse(req, source);
}
