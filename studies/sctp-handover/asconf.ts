// Encoding of the ASCONF chunk B would send to add an address to A–B
// (RFC 5061 §4.1.1, §4.2.1). Neither npm stack implements ADD-IP, so the
// demonstration puts this chunk on the wire itself and then plays the part of
// a compliant receiver by hand.

const ASCONF_CHUNK_TYPE = 0xc1;
const IPV4_ADDRESS_PARAMETER = 0x0005;
const ADD_IP_ADDRESS_PARAMETER = 0xc001;

function ipv4AddressParameter(ip: string): Buffer {
  const parameter = Buffer.alloc(8);
  parameter.writeUInt16BE(IPV4_ADDRESS_PARAMETER, 0);
  parameter.writeUInt16BE(8, 2);
  ip.split('.').forEach((octet, index) => parameter.writeUInt8(Number(octet), 4 + index));
  return parameter;
}

/** ASCONF { serial, address of the sender, Add IP Address(correlationId, addedIp) }. */
export function addIpAsconfChunk(serial: number, senderIp: string, addedIp: string, correlationId = 1): Buffer {
  const added = ipv4AddressParameter(addedIp);
  const addIp = Buffer.alloc(8);
  addIp.writeUInt16BE(ADD_IP_ADDRESS_PARAMETER, 0);
  addIp.writeUInt16BE(8 + added.length, 2);
  addIp.writeUInt32BE(correlationId, 4);
  const body = Buffer.concat([Buffer.alloc(4), ipv4AddressParameter(senderIp), addIp, added]);
  body.writeUInt32BE(serial, 0);
  const header = Buffer.alloc(4);
  header.writeUInt8(ASCONF_CHUNK_TYPE, 0);
  header.writeUInt8(0, 1);
  header.writeUInt16BE(4 + body.length, 2);
  return Buffer.concat([header, body]);
}
