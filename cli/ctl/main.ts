import { parseArgs } from 'node:util';
import type { CallView } from '../../core/admin/control.ts';
import type { RegistrationInfo } from '../../core/kernel/operations.ts';
import { ADMIN_DEFAULTS, parseAdminAddress } from '../../core/script/admin-options.ts';
import { AdminClient } from './client.ts';
import { duration, endpoint, table } from './table.ts';

export const CTL_USAGE = `usage: switchyard ctl <command> [--admin <host:port>] [--token <token>] [--json]

  registrations [user]     registered contacts (all, or one user's)
  calls                    calls in progress: parties, state, relay ports, media counters
  hangup <call-id>         ends a call: a BYE to each party
  reload                   loads the script again (as a save or SIGHUP would)
  stats                    the proxy's counters
  modules                  the modules and whether each is enabled
  module <name> on|off     enables or disables a module until the next reload that sets it
  version                  the running proxy's version, script and listeners

  --admin   the admin listener (default $SWITCHYARD_ADMIN, else ${ADMIN_DEFAULTS.host}:${ADMIN_DEFAULTS.port})
  --token   its bearer token (default $SWITCHYARD_ADMIN_TOKEN)
  --json    print the API's JSON answer instead of a table`;

interface Out {
  write(text: string): void;
}

/** `switchyard ctl ...`: `argv` is what follows `ctl`. Exit status 0 done, 1 refused or unreachable, 2 bad arguments. */
export async function runCtl(argv: readonly string[], out: Out = process.stdout, err: Out = process.stderr): Promise<number> {
  let args;
  try {
    args = parseArgs({
      args: [...argv], allowPositionals: true,
      options: { admin: { type: 'string' }, token: { type: 'string' }, json: { type: 'boolean', default: false }, help: { type: 'boolean', short: 'h', default: false } },
    });
  } catch (e) {
    err.write(`${(e as Error).message}\n${CTL_USAGE}\n`);
    return 2;
  }
  const { values, positionals } = args;
  if (values.help || positionals.length === 0) {
    (values.help ? out : err).write(`${CTL_USAGE}\n`);
    return values.help ? 0 : 2;
  }
  const addressText = values.admin ?? (process.env.SWITCHYARD_ADMIN || `${ADMIN_DEFAULTS.host}:${ADMIN_DEFAULTS.port}`);
  const address = parseAdminAddress(addressText);
  if (address === null) {
    err.write(`--admin: '${addressText}' is not <host>:<port>\n`);
    return 2;
  }
  const host = address.host.includes(':') ? `[${address.host}]` : address.host;
  const client = new AdminClient(`http://${host}:${address.port}`, values.token ?? (process.env.SWITCHYARD_ADMIN_TOKEN || undefined));
  const [command, ...rest] = positionals;
  const request = requestFor(command!, rest);
  if (typeof request === 'string') {
    err.write(`${request}\n${CTL_USAGE}\n`);
    return 2;
  }
  let reply;
  try {
    reply = await client.call(request.method, request.path, request.body);
  } catch (e) {
    err.write(`cannot reach the admin listener at ${addressText}: ${(e as Error & { cause?: Error }).cause?.message ?? (e as Error).message}\n`);
    return 1;
  }
  if (values.json) out.write(`${JSON.stringify(reply.body, null, 2)}\n`);
  else if (reply.status >= 400) err.write(`${command}: ${describeRefusal(reply.status, reply.body)}\n`);
  else out.write(`${render(command!, reply.body)}\n`);
  return reply.status < 400 ? 0 : 1;
}

function requestFor(command: string, rest: readonly string[]): { method: 'GET' | 'POST'; path: string; body?: unknown } | string {
  switch (command) {
    case 'registrations': return { method: 'GET', path: `/api/registrations${rest[0] !== undefined ? `?user=${encodeURIComponent(rest[0])}` : ''}` };
    case 'calls': return { method: 'GET', path: '/api/calls' };
    case 'hangup': return rest[0] === undefined ? 'hangup: which call? (its Call-ID, as ctl calls lists it)' : { method: 'POST', path: `/api/calls/${encodeURIComponent(rest[0])}/hangup` };
    case 'reload': return { method: 'POST', path: '/api/reload' };
    case 'stats': return { method: 'GET', path: '/api/stats' };
    case 'modules': return { method: 'GET', path: '/api/modules' };
    case 'module': {
      const [name, onOff] = rest;
      if (name === undefined || (onOff !== 'on' && onOff !== 'off')) return 'module: give a module name and on or off';
      return { method: 'POST', path: `/api/modules/${encodeURIComponent(name)}`, body: { enabled: onOff === 'on' } };
    }
    case 'version': return { method: 'GET', path: '/api/version' };
    default: return `unknown ctl command '${command}'`;
  }
}

function describeRefusal(status: number, body: Record<string, unknown>): string {
  const why = body.detail ?? body.error ?? body.reason ?? JSON.stringify(body);
  return `${String(why)} (HTTP ${status})`;
}

/** Flattens nested counters into `a.b.c  value` lines. */
function flatten(prefix: string, v: unknown, out: [string, string][]): void {
  if (v !== null && typeof v === 'object' && !Array.isArray(v)) for (const [k, x] of Object.entries(v)) flatten(prefix === '' ? k : `${prefix}.${k}`, x, out);
  else out.push([prefix, String(v)]);
}

function render(command: string, body: Record<string, unknown>): string {
  const now = Date.now();
  switch (command) {
    case 'registrations': {
      const regs = body.registrations as RegistrationInfo[];
      if (regs.length === 0) return 'nobody registered';
      return table(['user', 'dialect', 'address', 'transport', 'contact', 'expires in'], regs.map((r) => [
        r.user, r.dialect, endpoint(r.address), r.transport ?? 'udp', r.contact ?? '-', r.expiresAt === null ? 'never' : duration(r.expiresAt - now),
      ]));
    }
    case 'calls': {
      const calls = body.calls as CallView[];
      if (calls.length === 0) return 'no calls';
      return table(['call-id', 'caller', 'callee', 'dialect', 'state', 'duration', 'relay ports', 'caller→callee pkts/bytes', 'callee→caller pkts/bytes'], calls.map((c) => {
        const legs = [0, 1].map((i) => (c.media?.sessions ?? []).reduce((t, s) => ({ p: t.p + (s.legs[i]?.packets ?? 0), b: t.b + (s.legs[i]?.bytes ?? 0) }), { p: 0, b: 0 }));
        return [
          c.callId, c.caller, c.callee, c.dialect, c.state, duration(now - (c.answeredAt ?? c.startedAt)),
          c.media === null ? '-' : c.media.sessions.map((s) => String(s.port)).join(','), `${legs[0]!.p}/${legs[0]!.b}`, `${legs[1]!.p}/${legs[1]!.b}`,
        ];
      }));
    }
    case 'hangup': return `ended: BYE answered by caller ${body.caller ?? '(plain: no answer expected)'}, callee ${body.callee ?? '(plain: no answer expected)'}`;
    case 'reload': {
      const applied = (body.applied as string[] | undefined) ?? [];
      const restart = (body.needsRestart as string[] | undefined) ?? [];
      return `reloaded: generation ${String(body.generation)}${applied.length > 0 ? `, applied ${applied.join(', ')}` : ''}${restart.length > 0 ? `; needs a restart: ${restart.join(', ')}` : ''}`;
    }
    case 'modules': return table(['module', 'enabled', 'description'], (body.modules as { name: string; enabled: boolean; description: string }[]).map((m) => [m.name, m.enabled ? 'on' : 'off', m.description]));
    case 'module': return `${String(body.name)}: ${body.enabled === true ? 'on' : 'off'}${body.changed === false ? ' (it already was)' : ''}`;
    default: {
      const rows: [string, string][] = [];
      flatten('', body, rows);
      return table(['name', 'value'], rows);
    }
  }
}
