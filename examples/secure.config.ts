/**
 * The hardened configuration: what to run on an address the internet can reach. The same
 * listeners as the default script (plain on UDP 34567, SIP on 5060, media on 5000-5999; the
 * command's --plain-port, --sip-port and --media-ports or their variables move them), and:
 * - every REGISTER authenticated (digest, 401): a user registers only its own address;
 * - every new SIP request authenticated (407) unless it comes from a trusted peer (a gateway,
 *   a peer proxy: `SWITCHYARD_TRUSTED`, addresses or CIDR ranges, comma-separated); the caller
 *   may only call as itself;
 * - requests for domains that are not this proxy's (`SWITCHYARD_DOMAINS`, besides its own
 *   addresses on its SIP port) are relayed for authenticated users and trusted peers only: anyone
 *   else gets 403 Not Relaying (call routing), and a REGISTER for one is refused the same way;
 * - a source sending more than 60 messages in 2 s (any kind, either dialect, UDP or TCP) is
 *   dropped unanswered for 5 minutes; trusted peers are exempt;
 * - the users come from examples/users.txt (alice / alice-secret, bob / bob-secret).
 * The limits every script has are on here too, some spelled out below with their defaults:
 * loops, counts per message, TCP, the log, DNS, in-dialog requests only from a call's parties,
 * media streams and ports per call and per source, registrations per source and in bytes.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { defineProxy } from 'switchyard';
import { auth, callRouting, dialog, floodLimits, mediaRelay, registrar } from 'switchyard/modules';

const here = path.dirname(fileURLToPath(import.meta.url));
const list = (name: string): string[] => (process.env[name] ?? '').split(',').map((s) => s.trim()).filter((s) => s !== '');
/** Gateways and peer proxies: no authentication, no flood limit. */
const TRUSTED = list('SWITCHYARD_TRUSTED');

export default defineProxy({
  listen: [
    { dialect: 'plain', port: 34567 },
    { dialect: 'sip', port: 5060 },
  ],
  // Host names of next hops: lookups bounded in time, number and waiting, answers cached.
  sip: { dns: { timeoutMs: 2000, maxConcurrent: 2, maxQueued: 64, cacheSec: 300, negativeCacheSec: 30 } },
  modules: [
    registrar({ maxUsers: 100_000, maxBytes: 128 * 1024 * 1024, maxBytesPerUser: 4096, plainMaxUsersPerSource: 1000, sipMaxUsersPerSource: 1000 }),
    dialog({ checkPartySource: true }),
    // Domains this proxy serves besides its own addresses; others only for authenticated users and trusted peers.
    callRouting({ answerTimeoutSec: 30, localDomains: list('SWITCHYARD_DOMAINS'), maxUnverifiedForksPerAddress: 1 }),
    mediaRelay({ ports: '5000-5999', idleTimeoutSec: 60, strictSource: true, maxStreamsPerCall: 16, maxPortsPerSource: 500 }),
    // MD5 first: SIPp and many deployed phones read only the first challenge; SHA-256 is offered too.
    auth({ realm: 'switchyard', usersFile: path.join(here, 'users.txt'), trustedPeers: TRUSTED, algorithms: ['MD5', 'SHA-256'] }),
    floodLimits({ maxMessages: 60, intervalSec: 2, banSec: 300, trustedPeers: TRUSTED }),
  ],
  routes: {
    async request(ctx) {
      const { msg } = ctx;

      if (msg.dialect === 'plain') {
        // The plain protocol has no authentication: its own rules (a caller calls from where it registered).
        if (msg.method === 'REGISTER') return ctx.register();
        if (msg.inDialog) {
          // A BYE counts only from a party of the call, while the call rings or runs.
          const fromParty = (await ctx.registeredAtSource(msg.from.user)) || (await ctx.registeredAtSource(msg.to.user));
          if (!fromParty) return ctx.respond(403, 'not a party of this call');
          if (ctx.dialogState() === null) return ctx.respond(481, 'no such call');
          if (msg.method === 'BYE') ctx.endMediaSession();
          return ctx.forwardCall();
        }
        if (msg.method !== 'INVITE') return ctx.respond(501, 'unsupported request');
        if (!(await ctx.registeredAtSource())) return ctx.respond(403, 'caller not registered at this address');
        ctx.engageMediaProxy();
        return ctx.forwardCall({ onFailure: 'callFailed' });
      }

      if (msg.method === 'REGISTER') {
        if (!ctx.isLocalDomain()) return ctx.respond(403, 'Not Relaying');
        const who = await ctx.authenticate();
        if (!who.ok) return; // answered: 401 with a challenge, or 403
        return ctx.register();
      }

      // Requests inside a call follow the route this proxy record-routed.
      if (msg.inDialog) {
        if (msg.method === 'BYE') ctx.endMediaSession();
        return ctx.forwardCall();
      }

      const who = await ctx.proxyAuthenticate();
      if (!who.ok) return; // answered: 407 with a challenge, or 403

      if (msg.method === 'INVITE') {
        ctx.engageMediaProxy();
        ctx.recordRoute();
        return ctx.forwardCall({ onFailure: 'callFailed' });
      }
      return ctx.forwardCall();
    },

    failure: {
      callFailed(ctx) {
        ctx.log.info({ status: ctx.reply.status, reason: ctx.reply.reason, local: ctx.reply.local === true }, 'call failed');
      },
    },
  },
});
