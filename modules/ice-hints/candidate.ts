import { isIPv6 } from 'node:net';

/** An `a=candidate` value (RFC 8839 §5.1), the fields ICE hints need, the rest kept as text. */
export interface Candidate {
  readonly foundation: string;
  readonly component: number;
  readonly transport: string;
  readonly priority: number;
  readonly address: string;
  readonly port: number;
  readonly type: string;
}

const CANDIDATE = /^(\S{1,32}) (\d{1,3}) (\S+) (\d{1,10}) (\S+) (\d{1,5}) typ (\S+)/;

export function parseCandidate(value: string): Candidate | null {
  const m = CANDIDATE.exec(value);
  if (m === null) return null;
  return {
    foundation: m[1]!, component: Number(m[2]), transport: m[3]!, priority: Number(m[4]),
    address: m[5]!, port: Number(m[6]), type: m[7]!,
  };
}

export function isIPv6Candidate(value: string): boolean {
  const c = parseCandidate(value);
  return c !== null && isIPv6(c.address);
}

/** `<foundation> <component> UDP <priority> <address> <port> typ relay raddr <address> rport <port>` */
export function formatRelayCandidate(o: { foundation: string; component: number; priority: number; address: string; port: number; raddr: string; rport: number }): string {
  return `${o.foundation} ${o.component} UDP ${o.priority} ${o.address} ${o.port} typ relay raddr ${o.raddr} rport ${o.rport}`;
}
