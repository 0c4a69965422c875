/**
 * Benchmark (not a test): NG offers per second through the client and the server on loopback,
 * the handler answering at once, `window` commands outstanding. Measures the protocol layer
 * alone (framing, bencode, validation, cookie cache, UDP), not a relay.
 *
 *   node --import jiti/register bench/ng-server.ts [commands] [window]
 */
import { NgClient } from '../modules/media-relay/ng/client.ts';
import { NgServer } from '../modules/media-relay/ng/server.ts';

const commands = Number(process.argv[2] ?? 50_000);
const window = Number(process.argv[3] ?? 64);
const sdp = 'v=0\r\no=- 1 1 IN IP4 192.0.2.10\r\ns=-\r\nc=IN IP4 192.0.2.10\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0 8 101\r\na=rtpmap:101 telephone-event/8000\r\n';

const server = await NgServer.listen({
  host: '127.0.0.1',
  handler: {
    offer: async (r) => ({ ok: true, sdp: r.sdp }),
    answer: async (r) => ({ ok: true, sdp: r.sdp }),
    delete: async () => ({ ok: true }),
    query: async () => ({ ok: false, reason: 'Unknown call-id' }),
    list: async () => ({ ok: true, calls: [] }),
    statistics: async () => ({ ok: true, statistics: {} }),
  },
});
const client = await NgClient.open({ host: '127.0.0.1', port: server.port, timeoutMs: 2000, maxOutstanding: window });

let next = 0;
let failed = 0;
async function worker(): Promise<void> {
  while (next < commands) {
    const i = next++;
    const r = await client.offer({ callId: `bench-${i}`, fromTag: 'f', sdp, flags: ['trust-address'], replace: ['origin', 'session-connection'], ice: 'remove' });
    if (!r.ok) failed++;
  }
}

const start = performance.now();
await Promise.all(Array.from({ length: window }, worker));
const seconds = (performance.now() - start) / 1000;
console.log(`${commands} offers, ${window} outstanding: ${Math.round(commands / seconds)} /s (${failed} failed, ${client.stats().retransmissions} retransmissions)`);
await client.close();
await server.close();
