/** A minimal STUN client for tests: builds Binding requests and reads XOR-MAPPED-ADDRESS. */
import { randomBytes } from 'node:crypto';
import { crc32 } from '../../core/transport/stun/crc32.ts';
import { MAGIC_COOKIE } from '../../core/transport/stun/binding.ts';

/** A Binding request as a client builds it, optionally with SOFTWARE and FINGERPRINT. */
export function bindingRequest(o: { fingerprint?: boolean; software?: string; txid?: Buffer } = {}): Buffer {
  const txid = o.txid ?? randomBytes(12);
  const attrs: Buffer[] = [];
  if (o.software !== undefined) {
    const v = Buffer.from(o.software);
    const a = Buffer.alloc(4 + Math.ceil(v.length / 4) * 4);
    a.writeUInt16BE(0x8022, 0);
    a.writeUInt16BE(v.length, 2);
    v.copy(a, 4);
    attrs.push(a);
  }
  const body = Buffer.concat(attrs);
  const header = Buffer.alloc(20);
  header.writeUInt16BE(0x0001, 0);
  header.writeUInt16BE(body.length + (o.fingerprint ? 8 : 0), 2);
  header.writeUInt32BE(MAGIC_COOKIE, 4);
  txid.copy(header, 8);
  const msg = Buffer.concat([header, body]);
  if (!o.fingerprint) return msg;
  const fp = Buffer.alloc(8);
  fp.writeUInt16BE(0x8028, 0);
  fp.writeUInt16BE(4, 2);
  fp.writeUInt32BE((crc32(msg) ^ 0x5354554e) >>> 0, 4);
  return Buffer.concat([msg, fp]);
}

/** XOR-MAPPED-ADDRESS of a success response, decoded. */
export function mappedAddress(res: Buffer): { address: string; port: number } {
  let at = 20;
  while (at < res.length) {
    const type = res.readUInt16BE(at);
    const len = res.readUInt16BE(at + 2);
    if (type === 0x0020) {
      const family = res[at + 5];
      const port = res.readUInt16BE(at + 6) ^ (MAGIC_COOKIE >>> 16);
      if (family === 1) {
        const ip = (res.readUInt32BE(at + 8) ^ MAGIC_COOKIE) >>> 0;
        return { address: [24, 16, 8, 0].map((s) => (ip >>> s) & 0xff).join('.'), port };
      }
      const key = Buffer.concat([res.subarray(4, 8), res.subarray(8, 20)]);
      const bytes = Buffer.from(res.subarray(at + 8, at + 24).map((b, i) => b ^ key[i]!));
      const groups = Array.from({ length: 8 }, (_, i) => bytes.readUInt16BE(i * 2).toString(16));
      return { address: groups.join(':').replace(/(^|:)0(:0)+(:|$)/, '::'), port };
    }
    at += 4 + Math.ceil(len / 4) * 4;
  }
  throw new Error('no XOR-MAPPED-ADDRESS');
}

