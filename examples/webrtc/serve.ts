import { createReadStream, existsSync, statSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';

const HERE = path.dirname(fileURLToPath(import.meta.url));
/** SIP.js as npm installed it: its ES modules load in the browser as they are, no CDN and no bundler. */
const SIPJS = path.join(path.dirname(createRequire(import.meta.url).resolve('sip.js/package.json')), 'lib');
const TYPES: Record<string, string> = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.css': 'text/css' };

function fileFor(url: string): string | null {
  const p = decodeURIComponent(new URL(url, 'http://x').pathname);
  const [root, rel] = p.startsWith('/sip.js/') ? [SIPJS, p.slice('/sip.js/'.length)] : [HERE, p === '/' ? 'index.html' : p.slice(1)];
  const file = path.resolve(root, rel);
  if (!file.startsWith(root + path.sep) || !existsSync(file) || !statSync(file).isFile()) return null;
  return ['.html', '.js', '.css'].includes(path.extname(file)) ? file : null;
}

/** Serves the page and SIP.js on `port` (0: any free one); resolves with the server. */
export async function servePage(port: number, host = '127.0.0.1'): Promise<http.Server & { port: number }> {
  const server = http.createServer((req, res) => {
    const file = fileFor(req.url ?? '/');
    if (file === null) return void res.writeHead(404).end();
    res.writeHead(200, { 'Content-Type': TYPES[path.extname(file)]! });
    createReadStream(file).pipe(res);
  });
  await new Promise<void>((resolve) => server.listen(port, host, resolve));
  return Object.assign(server, { port: (server.address() as AddressInfo).port });
}

if (process.argv[1] !== undefined && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const s = await servePage(Number(process.env.PAGE_PORT ?? 8088));
  console.log(`open http://127.0.0.1:${s.port}/?server=ws://127.0.0.1:${process.env.WS_PORT ?? 8080}&user=alice`);
}
