/**
 * Example route script: calls only between users of an allow-list.
 *
 * Everything else is the default policy of the plain call protocol (see proxy.config.ts):
 * REGISTER records the sender's address, a caller must call from the address it registered
 * from, an answered call gets a port of the embedded media relay, BYE ends the media and is
 * passed to the other party.
 *
 * A call between two users that are not an allowed pair is answered 603 "not allowed", which
 * the caller receives as `CALL_FAILED FROM:<callee> TO:<caller> not allowed`, and logged
 * ("call not allowed"). The callee never hears of it, and the answer is the same whether or
 * not the callee is registered, so the rejection does not tell who is online.
 *
 * Run:  npx switchyard --config examples/allow-list.config.ts
 * Another signaling port or media range: --plain-port / --media-ports, or SWITCHYARD_PLAIN_PORT /
 * SWITCHYARD_MEDIA_PORTS in the environment (see switchyard --help).
 */
import { defineProxy } from 'switchyard';
import { callRouting, dialog, mediaRelay, registrar } from 'switchyard/modules';

// ---------------------------------------------------------------------------------------
// THE ALLOW-LIST. To change who may call whom, edit this list and save the file: the
// running proxy reloads the script (or send it SIGHUP); registrations and calls in
// progress are kept, and the new list applies to the next CALL.
//
// Each entry is a pair of user ids (letters and digits, at most 64) that may call EACH
// OTHER: ['alice', 'bob'] lets alice call bob and bob call alice. A user may appear in
// any number of pairs. A user in no pair can still register but can call nobody and be
// called by nobody. A malformed entry stops the script from loading, with the reason.
// ---------------------------------------------------------------------------------------
const ALLOWED_PAIRS: readonly (readonly [string, string])[] = [
  ['alice', 'bob'],
  ['alice', 'carol'],
  ['bob', 'dave'],
];

const USER_ID = /^[A-Za-z0-9]{1,64}$/;

/** Order-independent key of a pair of users. */
const pairKey = (a: string, b: string): string => (a < b ? `${a} ${b}` : `${b} ${a}`);

const allowed: ReadonlySet<string> = new Set(ALLOWED_PAIRS.map(([a, b], i) => {
  for (const u of [a, b]) {
    if (!USER_ID.test(u)) throw new Error(`ALLOWED_PAIRS[${i}]: '${u}' is not a user id (letters and digits, 1-64)`);
  }
  if (a === b) throw new Error(`ALLOWED_PAIRS[${i}]: a pair needs two different users, got '${a}' twice`);
  return pairKey(a, b);
}));

function mayCall(caller: string, callee: string): boolean {
  return allowed.has(pairKey(caller, callee));
}

export default defineProxy({
  listen: [{ dialect: 'plain', port: 34567 }],
  modules: [
    registrar(),
    dialog(),
    callRouting({ answerTimeoutSec: 30 }),
    mediaRelay({ ports: '5000-5999', idleTimeoutSec: 60 }),
  ],
  routes: {
    async request(ctx) {
      const { msg } = ctx;
      if (msg.method === 'REGISTER') return ctx.register();

      if (msg.method === 'INVITE') {
        // A caller must call from the address it registered from.
        if (!(await ctx.registeredAtSource())) return ctx.respond(403, 'caller not registered at this address');
        if (!mayCall(msg.from.user, msg.to.user)) {
          ctx.log.info({ caller: msg.from.user, callee: msg.to.user }, 'call not allowed');
          return ctx.respond(603, 'not allowed');
        }
        ctx.engageMediaProxy();
        return ctx.forwardCall({ onFailure: 'callFailed' });
      }

      if (msg.method === 'BYE') {
        ctx.endMediaSession();
        return ctx.forwardCall();
      }
      return ctx.respond(501, 'unsupported request');
    },

    failure: {
      callFailed(ctx) {
        ctx.log.info({ status: ctx.reply.status, reason: ctx.reply.reason, local: ctx.reply.local === true }, 'call failed');
      },
    },
  },
});
