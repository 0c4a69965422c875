/**
 * Network namespaces for one test: a "public" segment where the proxy and public user agents
 * live, a router that masquerades a private LAN behind its public address, and the LAN. The
 * namespaces are joined only to each other by veth pairs (created inside them, so nothing is
 * added to the host's own namespace) and none has a route anywhere else: no packet of a test
 * can leave them. Everything is torn down by destroy(), and, should a test process die first,
 * by the next lab this helper creates (namespaces are named after the pid that made them).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { Duplex } from 'node:stream';

const PREFIX = 'sy-t';

export type NetnsSupport = { readonly ok: true } | { readonly ok: false; readonly reason: string };

function run(cmd: string, args: readonly string[], input?: string): { ok: boolean; out: string } {
  const r = spawnSync(cmd, args, { encoding: 'utf8', input, timeout: 10_000 });
  return { ok: r.status === 0, out: `${r.stdout ?? ''}${r.stderr ?? ''}${r.error ? r.error.message : ''}`.trim() };
}

function must(cmd: string, args: readonly string[], input?: string): string {
  const r = run(cmd, args, input);
  if (!r.ok) throw new Error(`${cmd} ${args.join(' ')}: ${r.out}`);
  return r.out;
}

let cachedSupport: NetnsSupport | undefined;

/** Whether this process can build a lab: root, iproute2, a namespace that can be added, nftables or iptables. */
export function netnsSupport(): NetnsSupport {
  if (cachedSupport !== undefined) return cachedSupport;
  const check = (): NetnsSupport => {
    if (process.platform !== 'linux') return { ok: false, reason: `network namespaces need Linux (this is ${process.platform})` };
    if (process.getuid?.() !== 0) return { ok: false, reason: 'network namespaces need root (ip netns add)' };
    if (!run('ip', ['-V']).ok) return { ok: false, reason: 'iproute2 (ip) is not installed' };
    if (!run('nft', ['--version']).ok && !run('iptables', ['--version']).ok) return { ok: false, reason: 'neither nftables (nft) nor iptables is installed' };
    const probe = `${PREFIX}${process.pid}-probe`;
    const added = run('ip', ['netns', 'add', probe]);
    if (!added.ok) return { ok: false, reason: `ip netns add failed: ${added.out}` };
    run('ip', ['netns', 'del', probe]);
    return { ok: true };
  };
  cachedSupport = check();
  return cachedSupport;
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Deletes namespaces this helper made in a test process that no longer runs. */
function sweepStale(): void {
  const list = run('ip', ['netns', 'list']);
  if (!list.ok) return;
  for (const line of list.out.split('\n')) {
    const name = line.split(' ')[0] ?? '';
    const m = new RegExp(`^${PREFIX}(\\d+)-`).exec(name);
    if (m !== null && Number(m[1]) !== process.pid && !pidAlive(Number(m[1]))) run('ip', ['netns', 'del', name]);
  }
}

const labs = new Set<NetnsLab>();
process.once('exit', () => {
  for (const lab of labs) lab.destroy();
});

let labCount = 0;

export interface VethEnd {
  readonly ns: string;
  readonly ifname: string;
  /** Address with prefix length, e.g. 203.0.113.1/24. */
  readonly cidr: string;
}

/** A set of namespaces owned by one test. */
export class NetnsLab {
  private readonly namespaces: string[] = [];
  private readonly children = new Set<ChildProcess>();
  private destroyed = false;
  readonly tag: string;

  private constructor() {
    this.tag = `${PREFIX}${process.pid}-${++labCount}`;
  }

  /** A new lab; throws when netnsSupport() says no. */
  static create(): NetnsLab {
    const support = netnsSupport();
    if (!support.ok) throw new Error(support.reason);
    sweepStale();
    const lab = new NetnsLab();
    labs.add(lab);
    return lab;
  }

  /** Adds a namespace (`<tag>-<role>`) with its loopback up. */
  namespace(role: string): string {
    const name = `${this.tag}-${role}`;
    must('ip', ['netns', 'add', name]);
    this.namespaces.push(name);
    must('ip', ['-n', name, 'link', 'set', 'lo', 'up']);
    return name;
  }

  /** A veth pair between two namespaces, addressed and up. */
  link(a: VethEnd, b: VethEnd): void {
    must('ip', ['-n', a.ns, 'link', 'add', a.ifname, 'type', 'veth', 'peer', 'name', b.ifname, 'netns', b.ns]);
    for (const end of [a, b]) {
      must('ip', ['-n', end.ns, 'addr', 'add', end.cidr, 'dev', end.ifname]);
      must('ip', ['-n', end.ns, 'link', 'set', end.ifname, 'up']);
    }
  }

  /** Runs a command in a namespace to completion; throws with its output when it fails. */
  exec(ns: string, cmd: string, args: readonly string[], input?: string): string {
    return must('ip', ['netns', 'exec', ns, cmd, ...args], input);
  }

  /** Masquerades what `ns` routes out of `wanIf` (nftables, else iptables), with forwarding on. */
  masquerade(ns: string, wanIf: string): 'nftables' | 'iptables' {
    this.exec(ns, 'sysctl', ['-qw', 'net.ipv4.ip_forward=1']);
    if (run('nft', ['--version']).ok) {
      this.exec(ns, 'nft', ['-f', '-'], `table ip nat {\n  chain postrouting {\n    type nat hook postrouting priority srcnat; policy accept;\n    oifname "${wanIf}" masquerade\n  }\n}\n`);
      return 'nftables';
    }
    this.exec(ns, 'iptables', ['-t', 'nat', '-A', 'POSTROUTING', '-o', wanIf, '-j', 'MASQUERADE']);
    return 'iptables';
  }

  /**
   * A TCP connection made from inside `ns` (a UA's control port on that namespace's loopback),
   * as a stream in this process: a small node process in the namespace pipes it to its stdio.
   * It retries the connection until `timeoutMs`, so it may be opened before the port listens.
   */
  connectTcp(ns: string, host: string, port: number, timeoutMs = 10_000): Duplex {
    const bridge = `
      const net = require('node:net');
      const deadline = Date.now() + ${timeoutMs};
      const attempt = () => {
        const s = net.connect(${port}, ${JSON.stringify(host)});
        s.once('connect', () => { process.stdin.pipe(s); s.pipe(process.stdout); s.on('close', () => process.exit(0)); process.stdin.on('end', () => s.end()); });
        s.once('error', (e) => { if (s.readyState === 'opening' && Date.now() < deadline) setTimeout(attempt, 100); else { console.error(e.message); process.exit(1); } });
      };
      attempt();`;
    const child = spawn('ip', ['netns', 'exec', ns, process.execPath, '-e', bridge], { stdio: ['pipe', 'pipe', 'inherit'] });
    this.children.add(child);
    child.once('exit', () => this.children.delete(child));
    return Duplex.from({ readable: child.stdout, writable: child.stdin });
  }

  /** Deletes the namespaces (their veths go with them). Processes started in them must be ended first by their owners. */
  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    labs.delete(this);
    for (const child of this.children) child.kill('SIGKILL');
    for (const ns of this.namespaces.reverse()) run('ip', ['netns', 'del', ns]);
  }
}

/**
 * The NAT topology:
 *
 *   [peer] 198.51.100.2 --- 198.51.100.1 [pub] 203.0.113.1 --- 203.0.113.254 [rtr] 192.168.77.1 --- 192.168.77.2 [lan]
 *
 * The proxy lives in pub; a public phone in peer (its own host, so it does not talk to the
 * proxy over loopback); a private phone in lan. The router masquerades the LAN behind
 * 203.0.113.254; pub has no route to 192.168.77.0/24, so only the NAT mapping a LAN host opened
 * brings a packet back to it. Addresses exist only in these namespaces (documentation and
 * private ranges, never routed out).
 */
export interface NatTopology {
  readonly lab: NetnsLab;
  /** The proxy's namespace. */
  readonly pub: string;
  /** A public phone's namespace. */
  readonly peer: string;
  readonly router: string;
  /** The private UA's namespace. */
  readonly lan: string;
  readonly publicAddress: string;
  readonly peerAddress: string;
  readonly routerPublicAddress: string;
  readonly lanAddress: string;
  readonly masquerade: 'nftables' | 'iptables';
}

export function natTopology(lab: NetnsLab): NatTopology {
  const pub = lab.namespace('pub');
  const peer = lab.namespace('peer');
  const router = lab.namespace('rtr');
  const lan = lab.namespace('lan');
  lab.link({ ns: peer, ifname: 'eth0', cidr: '198.51.100.2/24' }, { ns: pub, ifname: 'peer', cidr: '198.51.100.1/24' });
  lab.exec(peer, 'ip', ['route', 'add', 'default', 'via', '198.51.100.1']);
  lab.link({ ns: pub, ifname: 'eth0', cidr: '203.0.113.1/24' }, { ns: router, ifname: 'wan', cidr: '203.0.113.254/24' });
  lab.link({ ns: router, ifname: 'lan', cidr: '192.168.77.1/24' }, { ns: lan, ifname: 'eth0', cidr: '192.168.77.2/24' });
  lab.exec(lan, 'ip', ['route', 'add', 'default', 'via', '192.168.77.1']);
  const masquerade = lab.masquerade(router, 'wan');
  return { lab, pub, peer, router, lan, publicAddress: '203.0.113.1', peerAddress: '198.51.100.2', routerPublicAddress: '203.0.113.254', lanAddress: '192.168.77.2', masquerade };
}
