import { timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';
import type { Switchyard } from '../boot/switchyard.ts';
import { SwitchyardError } from '../lib/errors.ts';
import type { Logger } from '../lib/log.ts';
import { adminRefusal, type ResolvedAdmin } from '../script/admin-options.ts';
import { Control } from './control.ts';
import { LiveStatus } from './live-status.ts';
import { proxyMetrics } from './metrics.ts';
import { STATUS_PAGE } from './status-page.ts';

/** The cookie the status page carries its token in (EventSource cannot send an Authorization header). */
const TOKEN_COOKIE = 'switchyard_admin';
/** Request bodies of the control API are small JSON objects. */
const MAX_BODY = 64 * 1024;

class HttpError extends Error {
  constructor(readonly status: number, message: string) {
    super(message);
  }
}

function json(res: ServerResponse, status: number, body: unknown): void {
  const text = `${JSON.stringify(body, null, 2)}\n`;
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' });
  res.end(text);
}

function sameSecret(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

async function readJson(req: IncomingMessage): Promise<Record<string, unknown>> {
  // A JSON content type forces a cross-site browser request into a CORS preflight this server never grants.
  if (!/^application\/json\b/i.test(req.headers['content-type'] ?? '')) throw new HttpError(415, 'send Content-Type: application/json');
  let size = 0;
  const chunks: Buffer[] = [];
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY) throw new HttpError(413, 'request body too large');
    chunks.push(chunk);
  }
  const text = Buffer.concat(chunks).toString('utf8').trim();
  if (text === '') return {};
  try {
    const v = JSON.parse(text) as unknown;
    if (typeof v === 'object' && v !== null && !Array.isArray(v)) return v as Record<string, unknown>;
  } catch { /* answered below */ }
  throw new HttpError(400, 'the body must be a JSON object');
}

export interface AdminServerOptions extends ResolvedAdmin {
  readonly version: string;
  readonly log: Logger;
}

/**
 * The admin listener: /metrics (Prometheus), /health and /ready (probes), the JSON control API
 * under /api (docs/operations.md), and the live status page at /. Loopback only unless a bearer
 * token is configured; with a token every path but /health and /ready needs it.
 */
export class AdminServer {
  readonly metrics: Registry;
  readonly control: Control;
  private readonly live: LiveStatus;

  private constructor(private readonly server: Server, private readonly proxy: Switchyard, private readonly opts: AdminServerOptions) {
    this.metrics = proxyMetrics(proxy, opts.version);
    this.control = new Control(proxy, opts.version);
    this.live = new LiveStatus(proxy, this.control, this.metrics);
    server.on('request', (req, res) => {
      this.route(req, res).catch((err: unknown) => {
        const status = err instanceof HttpError ? err.status : 500;
        if (status === 500) opts.log.error({ err, path: req.url }, 'admin request failed');
        if (!res.headersSent) json(res, status, { error: (err as Error).message });
        else res.end();
      });
    });
  }

  static async start(proxy: Switchyard, opts: AdminServerOptions): Promise<AdminServer> {
    const refusal = adminRefusal(opts);
    if (refusal !== null) throw new SwitchyardError('SY_ADMIN_EXPOSED', refusal);
    const server = createServer();
    server.keepAliveTimeout = 5000;
    await new Promise<void>((resolve, reject) => {
      server.once('error', (err: NodeJS.ErrnoException) => reject(new SwitchyardError('SY_ADMIN_LISTEN', `admin listener ${opts.host}:${opts.port}: ${err.code ?? err.message}`)));
      server.listen(opts.port, opts.host, () => resolve());
    });
    const admin = new AdminServer(server, proxy, opts);
    opts.log.info({ host: opts.host, port: admin.port, token: opts.token !== undefined }, 'admin listener ready');
    return admin;
  }

  get port(): number {
    return (this.server.address() as AddressInfo).port;
  }

  private authorized(req: IncomingMessage, url: URL): boolean {
    const token = this.opts.token;
    if (token === undefined) return true;
    const auth = req.headers.authorization ?? '';
    if (auth.startsWith('Bearer ') && sameSecret(auth.slice(7).trim(), token)) return true;
    const cookie = (req.headers.cookie ?? '').split(';').map((c) => c.trim()).find((c) => c.startsWith(`${TOKEN_COOKIE}=`));
    if (cookie !== undefined && sameSecret(decodeURIComponent(cookie.slice(TOKEN_COOKIE.length + 1)), token)) return true;
    return url.pathname === '/' && sameSecret(url.searchParams.get('token') ?? '', token);
  }

  private async route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://admin');
    const method = req.method ?? 'GET';
    const path = url.pathname;
    if (path === '/health') return json(res, this.proxy.stopping ? 503 : 200, { status: this.proxy.stopping ? 'stopping' : 'ok' });
    if (path === '/ready') {
      const r = await this.control.readiness();
      return json(res, r.ready ? 200 : 503, r);
    }
    if (!this.authorized(req, url)) {
      res.writeHead(401, { 'www-authenticate': 'Bearer realm="switchyard"', 'content-type': 'application/json' });
      res.end('{"error":"a valid bearer token is needed"}\n');
      return;
    }
    if (method === 'GET' && path === '/') {
      const token = url.searchParams.get('token');
      if (token !== null && this.opts.token !== undefined) {
        // The token moves into a cookie the page's requests carry, and out of the address bar.
        res.writeHead(303, { location: '/', 'set-cookie': `${TOKEN_COOKIE}=${encodeURIComponent(token)}; HttpOnly; SameSite=Strict; Path=/` });
        res.end();
        return;
      }
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
      res.end(STATUS_PAGE);
      return;
    }
    if (method === 'GET' && path === '/metrics') {
      const text = await this.metrics.metrics();
      res.writeHead(200, { 'content-type': this.metrics.contentType });
      res.end(text);
      return;
    }
    if (path.startsWith('/api/')) return this.api(method, path.slice(5), url, req, res);
    json(res, 404, { error: `no ${method} ${path}` });
  }

  private async api(method: string, path: string, url: URL, req: IncomingMessage, res: ServerResponse): Promise<void> {
    const parts = path.split('/').map(decodeURIComponent);
    const key = `${method} ${parts[0]}${parts.length > 1 ? '/:' : ''}${parts.length > 2 ? `/${parts.slice(2).join('/')}` : ''}`;
    switch (key) {
      case 'GET version': return json(res, 200, this.control.info());
      case 'GET stats': return json(res, 200, await this.control.stats());
      case 'GET registrations': {
        const user = url.searchParams.get('user') ?? undefined;
        const limit = Math.min(10_000, Math.max(1, Number(url.searchParams.get('limit') ?? 1000) || 1000));
        return json(res, 200, { registrations: await this.control.registrations({ ...(user !== undefined ? { user } : {}), limit }) });
      }
      case 'GET calls': return json(res, 200, { calls: await this.control.calls() });
      case 'POST calls/:/hangup': {
        await readJson(req);
        const r = await this.control.hangup(parts[1]!);
        if (r === null) return json(res, 501, { error: 'no listed module can end calls (list dialog())' });
        return json(res, r.ok ? 200 : r.reason === 'no-such-call' ? 404 : 409, r);
      }
      case 'POST reload': {
        await readJson(req);
        const r = await this.proxy.reload();
        return json(res, r.ok ? 200 : 422, r);
      }
      case 'GET reloads': return json(res, 200, { reloads: this.proxy.reloads.history, counts: this.proxy.reloads.counts });
      case 'GET modules': return json(res, 200, { modules: this.control.modules() });
      case 'POST modules/:': {
        const body = await readJson(req);
        if (typeof body.enabled !== 'boolean') throw new HttpError(400, 'send {"enabled": true} or {"enabled": false}');
        const r = this.proxy.modules.setEnabled(parts[1]!, body.enabled);
        return json(res, r.ok ? 200 : r.reason === 'no-such-module' ? 404 : 409, r);
      }
      case 'GET events': return this.live.subscribe(res);
      default: return json(res, 404, { error: `no ${method} /api/${path}` });
    }
  }

  async close(): Promise<void> {
    this.live.close();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
