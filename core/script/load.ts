import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createJiti } from 'jiti';
import { SwitchyardError } from '../lib/errors.ts';
import type { AnyModule } from '../kernel/define-module.ts';
import { formatZodIssues, validateModules, type ValidatedModule } from '../kernel/validate-modules.ts';
import { localImportGraph } from './imports.ts';
import { NO_OVERRIDES, type ScriptOverrides } from './overrides.ts';
import { DEFAULT_PORTS, proxyDefinitionSchema } from './schema.ts';
import { adminRefusal, resolveAdmin, type ResolvedAdmin } from './admin-options.ts';
import type { CompiledRoutes } from '../kernel/snapshot.ts';
import type { OverloadOptions } from '../kernel/overload.ts';
import type { SipScriptOptions } from './types.ts';

/** The running product's top folder: the repository when it runs from sources, dist/ when built. */
const PRODUCT_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
/** Product code: never part of a script's own files (watched on reload, type-checked by `check`). */
export const PRODUCT_DIRS = [path.join(PRODUCT_ROOT, 'core'), path.join(PRODUCT_ROOT, 'modules'), path.join(PRODUCT_ROOT, 'cli')];

type ApiModules = Readonly<Record<'switchyard' | 'switchyard/module' | 'switchyard/modules', Record<string, unknown>>>;
let apiModules: Promise<ApiModules> | undefined;

/**
 * What a script's `import ... from 'switchyard'` (and `/module`, `/modules`) gets: the running
 * installation's own module instances, imported the way the product itself was (natively from
 * dist, or through the source loader in-process), never a second copy per script load.
 */
function switchyardApi(): Promise<ApiModules> {
  // One after the other: the modules import the kit, and a source loader that is still evaluating
  // the kit for one import would hand the other a half-made copy.
  apiModules ??= (async () => {
    const api = await import('../../index.ts');
    const kit = await import('../module.ts');
    const modules = await import('../../modules/index.ts');
    return { switchyard: api, 'switchyard/module': kit, 'switchyard/modules': modules };
  })();
  return apiModules;
}

export interface ResolvedListen {
  readonly name: string;
  readonly dialect: 'plain' | 'sip';
  readonly host: string;
  readonly port: number;
  /** SIP: the address put in Via and Record-Route (toward IPv4 and IPv6 peers). */
  readonly advertise?: string;
  readonly advertiseIPv6?: string;
  /** Answer STUN Binding requests on the UDP socket. */
  readonly stun: boolean;
  /** STUN answers per second per source IP (twice that in a burst). */
  readonly stunRatePerSource: number;
  readonly udpEngine: 'auto' | 'native' | 'js';
  /** SIP: transports opened on the port (default both). */
  readonly transports?: readonly ('udp' | 'tcp')[];
  /** SIP: a listener of one stream transport instead (no UDP socket). */
  readonly transport?: 'tls' | 'ws' | 'wss';
  /** SIP over TLS or WSS: the certificate files, as absolute paths. */
  readonly tls?: { readonly cert: string; readonly key: string; readonly ca?: string; readonly verifyPeer?: boolean };
  /** SIP over WS or WSS: the Origins allowed to connect. */
  readonly origins?: readonly string[];
  /** SIP over TLS, WS or WSS: the time a peer has to finish its handshake. */
  readonly handshakeTimeoutMs?: number;
}

/** Default ports of the single-transport SIP listeners (RFC 3261 §26.2 for TLS; RFC 7118 names none, these are common). */
const STREAM_PORTS = { tls: 5061, ws: 8080, wss: 8443 } as const;

type SipListenInput = { transport?: 'tls' | 'ws' | 'wss'; transports?: unknown; cert?: string; key?: string; ca?: string; verifyPeer?: boolean; origins?: string[]; handshakeTimeoutMs?: number };

/** A TLS, WS or WSS listener's own settings, its files resolved against the script's folder. */
function streamListener(script: string, l: SipListenInput & { transport: 'tls' | 'ws' | 'wss' }): Pick<ResolvedListen, 'transport' | 'tls' | 'origins' | 'handshakeTimeoutMs'> {
  const refuse = (why: string): never => { throw new SwitchyardError('SY_CONFIG_INVALID', `${script}: invalid script:\n  listen (${l.transport}): ${why}`, { file: script, problems: [why] }); };
  if (l.transports !== undefined) refuse('give either transport or transports, not both');
  const dir = path.dirname(script);
  const secure = l.transport !== 'ws';
  if (secure && (l.cert === undefined || l.key === undefined)) refuse(`${l.transport} needs cert and key (files relative to the script)`);
  if (!secure && (l.cert !== undefined || l.key !== undefined)) refuse('ws carries no certificate (wss does)');
  if (l.transport !== 'tls' && (l.ca !== undefined || l.verifyPeer !== undefined)) refuse('ca and verifyPeer are for tls listeners (the proxy dials over TLS only)');
  if (l.transport === 'tls' && l.origins !== undefined) refuse('origins are for ws and wss listeners');
  return {
    transport: l.transport,
    ...(secure ? { tls: {
      cert: path.resolve(dir, l.cert!), key: path.resolve(dir, l.key!),
      ...(l.ca !== undefined ? { ca: path.resolve(dir, l.ca) } : {}),
      ...(l.verifyPeer !== undefined ? { verifyPeer: l.verifyPeer } : {}),
    } } : {}),
    ...(l.origins !== undefined ? { origins: l.origins } : {}),
    ...(l.handshakeTimeoutMs !== undefined ? { handshakeTimeoutMs: l.handshakeTimeoutMs } : {}),
  };
}

export interface LoadedScript {
  readonly file: string;
  readonly listen: readonly ResolvedListen[];
  readonly modules: readonly ValidatedModule[];
  readonly routes: CompiledRoutes;
  readonly defaultReply: { readonly status: number; readonly reason: string };
  readonly logLevel: string | undefined;
  readonly overload: OverloadOptions;
  /** SIP beside its listeners (the resolver's bounds, the Record-Route mark's key). */
  readonly sip: SipScriptOptions;
  /** The admin listener as the script asks for it (the command line may override it). */
  readonly admin: ResolvedAdmin;
  /** The script and the local files it imports. */
  readonly files: readonly string[];
}

/** `file:line:col` of the first place in the error (message, then stack frames in order) inside the script's own files. */
function locate(err: unknown, files: readonly string[]): string | null {
  const text = err instanceof Error ? `${err.message}\n${err.stack ?? ''}` : String(err);
  let best: { at: number; where: string } | null = null;
  for (const f of files) {
    const i = text.indexOf(f + ':');
    if (i < 0 || (best !== null && i >= best.at)) continue;
    const m = /^:(\d+)(?::(\d+))?/.exec(text.slice(i + f.length));
    if (m) best = { at: i, where: `${f}:${m[1]}${m[2] ? `:${m[2]}` : ''}` };
  }
  return best?.where ?? null;
}

/** The line where a config field is written; for a module option, the first one after that module's factory call. */
function lineOfField(files: readonly string[], field: string, moduleName: string | undefined): string | null {
  const esc = (t: string): string => t.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const key = new RegExp(`(^|[\\s{,])['"]?${esc(field)}['"]?\\s*:`);
  const factory = moduleName === undefined ? null : new RegExp(`\\b${esc(moduleName.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase()))}\\s*\\(`);
  for (const f of files) {
    let lines: string[];
    try { lines = readFileSync(f, 'utf8').split('\n'); } catch { continue; }
    const from = factory === null ? 0 : Math.max(0, lines.findIndex((l) => factory.test(l)));
    const n = lines.findIndex((l, i) => i >= from && key.test(l.slice(i === from && factory !== null ? (factory.exec(l)?.index ?? 0) : 0)));
    if (n >= 0) return `${f}:${n + 1}`;
  }
  return null;
}

function withLocations(problems: readonly string[], files: readonly string[]): string[] {
  return problems.map((p) => {
    const field = /\.([A-Za-z_$][\w$]*)(?:\[\d+\])*:/.exec(p)?.[1];
    const moduleName = /^modules\[\d+\] \(([\w-]+)\)/.exec(p)?.[1];
    const at = field !== undefined ? lineOfField(files, field, moduleName) : null;
    return at !== null ? `${at}: ${p}` : p;
  });
}

/** The script's modules with the overridden options laid over their own (each module's schema then checks them). */
function withModuleOptions(modules: readonly unknown[], overrides: ScriptOverrides): unknown[] {
  const over = overrides.moduleOptions;
  if (over === undefined) return [...modules];
  return modules.map((m) => {
    const name = (m as { name?: unknown } | null)?.name;
    const options = typeof name === 'string' ? over[name] : undefined;
    if (options === undefined) return m;
    return { ...(m as object), options: { ...((m as { options?: object }).options ?? {}), ...options } };
  });
}

type PortedListen = { dialect: 'plain' | 'sip'; port?: number | undefined; transport?: 'tls' | 'ws' | 'wss' | undefined };

/**
 * The port a listener of `dialect` opens on: the override, else the script's, else the dialect's
 * default. A SIP override is the UDP (and TCP) listener's: TLS and WebSocket listeners keep theirs.
 */
function portOf(abs: string, listen: readonly PortedListen[], l: PortedListen, overrides: ScriptOverrides): number {
  if (l.transport !== undefined) return l.port ?? STREAM_PORTS[l.transport];
  const over = overrides.ports?.[l.dialect];
  if (over === undefined) return l.port ?? DEFAULT_PORTS[l.dialect];
  const n = listen.filter((x) => x.dialect === l.dialect && x.transport === undefined).length;
  if (n > 1) throw new SwitchyardError('SY_CONFIG_INVALID', `${abs}: the ${l.dialect} port is overridden, but the script has ${n} ${l.dialect} listeners (set their ports in the script)`, { file: abs });
  return over;
}

/**
 * Loads a route script with jiti (no module cache, so every load sees the files as they
 * are now) and validates it, with the command line's overrides applied. Throws SY_CONFIG_LOAD
 * or SY_CONFIG_INVALID naming file, line and field.
 */
export async function loadScript(file: string, overrides: ScriptOverrides = NO_OVERRIDES): Promise<LoadedScript> {
  const abs = path.resolve(file);
  const files = localImportGraph(abs, PRODUCT_DIRS);
  const jiti = createJiti(import.meta.url, { moduleCache: false, virtualModules: { ...(await switchyardApi()) } });
  let exported: unknown;
  try {
    exported = await jiti.import(abs, { default: true });
  } catch (err) {
    const where = locate(err, files) ?? abs;
    const message = err instanceof Error ? err.message.split('\n')[0] : String(err);
    throw new SwitchyardError('SY_CONFIG_LOAD', `${where}: the script failed to load: ${message}`, { file: abs, where });
  }

  const parsed = proxyDefinitionSchema.safeParse(exported);
  if (!parsed.success) {
    const problems = withLocations(formatZodIssues('', parsed.error).map((p) => (p.startsWith(':') ? `(default export)${p}` : p.slice(1))), files);
    throw new SwitchyardError('SY_CONFIG_INVALID', `${abs}: invalid script:\n  ${problems.join('\n  ')}`, { file: abs, problems });
  }
  const def = parsed.data;
  let modules: ValidatedModule[];
  try {
    modules = validateModules(withModuleOptions(def.modules, overrides) as AnyModule[]);
  } catch (err) {
    if (err instanceof SwitchyardError && err.code === 'SY_CONFIG_INVALID') {
      const problems = withLocations((err.details.problems as string[]) ?? [err.message], files);
      throw new SwitchyardError('SY_CONFIG_INVALID', `${abs}: invalid module config:\n  ${problems.join('\n  ')}`, { file: abs, problems });
    }
    throw err;
  }

  const listen = def.listen.map((l): ResolvedListen => {
    const port = portOf(abs, def.listen, l, overrides);
    const base = { dialect: l.dialect, port, host: l.host ?? '::', name: l.name ?? `${l.dialect}:${port}`, stun: l.stun ?? false, stunRatePerSource: l.stunRatePerSource ?? 5, udpEngine: l.udpEngine ?? 'auto' };
    if (l.dialect === 'plain') return base;
    const sip = {
      ...base,
      ...(l.advertise !== undefined ? { advertise: l.advertise } : {}),
      ...(l.advertiseIPv6 !== undefined ? { advertiseIPv6: l.advertiseIPv6 } : {}),
    };
    if (l.transport === undefined) {
      const misplaced = (['cert', 'key', 'ca', 'verifyPeer', 'origins', 'handshakeTimeoutMs'] as const).filter((k) => l[k] !== undefined);
      if (misplaced.length > 0) throw new SwitchyardError('SY_CONFIG_INVALID', `${abs}: invalid script:\n  listen: ${misplaced.join(', ')} need transport 'tls', 'ws' or 'wss'`, { file: abs, problems: misplaced });
      return { ...sip, transports: l.transports ?? ['udp', 'tcp'] };
    }
    const transport = l.transport;
    return { ...sip, ...streamListener(abs, { ...l, transport }), name: l.name ?? `sip-${transport}:${port}` };
  });
  const names = new Set<string>();
  for (const l of listen) {
    if (names.has(l.name)) throw new SwitchyardError('SY_CONFIG_INVALID', `${abs}: two listeners are named '${l.name}'`, { file: abs });
    names.add(l.name);
  }

  const admin = resolveAdmin(def.admin);
  const refusal = adminRefusal(admin);
  if (refusal !== null) {
    const at = lineOfField(files, 'admin', undefined);
    throw new SwitchyardError('SY_CONFIG_INVALID', `${abs}: invalid script:\n  ${at !== null ? `${at}: ` : ''}admin.host: ${refusal}`, { file: abs, problems: [`admin.host: ${refusal}`] });
  }

  return {
    file: abs,
    admin,
    listen,
    modules,
    routes: { request: def.routes.request, reply: def.routes.reply ?? {}, failure: def.routes.failure ?? {} },
    defaultReply: def.defaultReply ?? { status: 404, reason: 'no route' },
    logLevel: def.log?.level,
    overload: def.overload ?? {},
    sip: def.sip ?? {},
    files,
  };
}
