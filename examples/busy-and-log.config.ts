/**
 * Example route script: a call log, and "busy" for users who are already in a call.
 *
 * - Every call is logged at each step: "call started" (the CALL was forwarded), "call answered"
 *   (reply route: the callee's ACK_CALL), "call failed" (failure route: the callee's
 *   CALL_FAILED, or the proxy's own 408 "no answer", with status, reason and `local`), and
 *   "call ended" (BYE, with the media relay's counters from `endMediaSession()`).
 * - A CALL to a user who already has a call, ringing or established, is answered 486 "busy",
 *   which the caller receives as `CALL_FAILED FROM:<callee> TO:<caller> busy`, and logged
 *   ("call rejected"). The callee is not disturbed.
 *
 * Registration, the media relay and BYE work as in the default script (proxy.config.ts).
 *
 * Run:  npx switchyard --config examples/busy-and-log.config.ts
 * Environment (read when the script loads):
 *   SWITCHYARD_ANSWER_TIMEOUT_SEC   how long a call may ring (default 30)
 * Another signaling port or media range: --plain-port / --media-ports, or SWITCHYARD_PLAIN_PORT /
 * SWITCHYARD_MEDIA_PORTS (see switchyard --help).
 *
 * Which calls exist is tracked here, in the script. The proxy's dialog module knows it too,
 * but a script can only ask it about the call of the message at hand (`ctx.dialogState()`),
 * not "is bob in any call?", so the script keeps its own table, fed by the route blocks:
 * a call enters it when its CALL is forwarded and leaves it on BYE or failure.
 *
 * Two things end a call without running a route block, so the table cannot see them: the
 * media relay's idle timeout (60 s without a media datagram), and "no media port" (the
 * reply route has already seen the ACK_CALL). Users of such a call stay "busy" until either
 * of them sends BYE (which is always passed on and clears the entry) or the proxy restarts.
 */
import { defineProxy } from 'switchyard';
import { callRouting, dialog, mediaRelay, registrar } from 'switchyard/modules';
import { envSeconds } from './env.ts';

interface Call {
  readonly callId: string;
  readonly caller: string;
  readonly callee: string;
  state: 'ringing' | 'established';
  readonly startedAt: number;
  answeredAt: number | null;
}

interface CallTable {
  /** Calls by call id (the plain protocol has one call per pair of users). */
  readonly calls: Map<string, Call>;
  /** The ids of the calls each user is in (normally one). */
  readonly byUser: Map<string, Set<string>>;
}

// Reloading the script (save the file, or SIGHUP) evaluates this file again. A plain
// `const table = new Map()` here would then start empty: calls in progress would be
// forgotten (their users would look free), and calls still ringing would run the failure
// route of the generation they started with, updating the old, orphaned table. Keeping the
// table on globalThis makes every generation of the script share it, so it survives
// reloads. A restart clears it, as it clears the proxy's own calls. Change the key's
// version if you change the shape of CallTable.
const TABLE_KEY = Symbol.for('switchyard.examples.busy-and-log.calls/v1');
const store = globalThis as typeof globalThis & { [TABLE_KEY]?: CallTable };
const table: CallTable = (store[TABLE_KEY] ??= { calls: new Map(), byUser: new Map() });

function addCall(call: Call): void {
  table.calls.set(call.callId, call);
  for (const user of [call.caller, call.callee]) {
    let ids = table.byUser.get(user);
    if (ids === undefined) table.byUser.set(user, (ids = new Set()));
    ids.add(call.callId);
  }
}

function removeCall(callId: string): Call | undefined {
  const call = table.calls.get(callId);
  if (call === undefined) return undefined;
  table.calls.delete(callId);
  for (const user of [call.caller, call.callee]) {
    const ids = table.byUser.get(user);
    ids?.delete(callId);
    if (ids?.size === 0) table.byUser.delete(user);
  }
  return call;
}

/**
 * The call that makes `callee` busy for a CALL from `caller`, if any. The caller sending
 * the same CALL again while it rings is not a new call (the proxy passes it on).
 */
function busyWith(callee: string, caller: string, callId: string): Call | undefined {
  for (const id of table.byUser.get(callee) ?? []) {
    const call = table.calls.get(id);
    if (call === undefined) continue;
    const repeat = id === callId && call.state === 'ringing' && call.caller === caller;
    if (!repeat) return call;
  }
  return undefined;
}

// The answer timeout from the environment, so the example runs anywhere (and in tests)
// without editing this file. A malformed value fails the load.

const ANSWER_TIMEOUT_SEC = envSeconds('SWITCHYARD_ANSWER_TIMEOUT_SEC', 30);

export default defineProxy({
  listen: [{ dialect: 'plain', port: 34567 }],
  modules: [
    registrar(),
    dialog(),
    callRouting({ answerTimeoutSec: ANSWER_TIMEOUT_SEC }),
    mediaRelay({ ports: '5000-5999', idleTimeoutSec: 60 }),
  ],
  routes: {
    async request(ctx) {
      const { msg } = ctx;
      if (msg.method === 'REGISTER') return ctx.register();

      if (msg.method === 'INVITE') {
        const caller = msg.from.user;
        const callee = msg.to.user;
        // A caller must call from the address it registered from.
        if (!(await ctx.registeredAtSource())) return ctx.respond(403, 'caller not registered at this address');

        // Check and claim the callee in one synchronous step, so that two CALLs to the same
        // user arriving together cannot both get through.
        const busy = busyWith(callee, caller, msg.callId);
        if (busy !== undefined) {
          ctx.log.info({ caller, callee, reason: 'busy', busyWith: busy.caller === callee ? busy.callee : busy.caller, busyState: busy.state }, 'call rejected');
          return ctx.respond(486, 'busy');
        }
        const repeat = table.calls.has(msg.callId);
        if (!repeat) addCall({ callId: msg.callId, caller, callee, state: 'ringing', startedAt: Date.now(), answeredAt: null });

        ctx.engageMediaProxy();
        const verdict = await ctx.forwardCall({ onReply: 'logAnswer', onFailure: 'logFailure' });
        if (verdict.ok && verdict.kind === 'forward') {
          ctx.log.info({ caller, callee, repeat }, repeat ? 'call repeated' : 'call started');
        } else if (!repeat) {
          // Not forwarded (callee not registered: 404 "unknown peer"), so no failure route will run.
          removeCall(msg.callId);
          // A verdict without a reason is worded by the dialect (404 to a plain call: "unknown peer").
          const failure = verdict.ok && verdict.kind === 'respond' ? { status: verdict.status, reason: verdict.reason ?? 'unknown peer' } : { status: null, reason: 'not forwarded' };
          ctx.log.info({ caller, callee, ...failure, local: true }, 'call failed');
        }
        return verdict;
      }

      if (msg.method === 'BYE') {
        const media = ctx.endMediaSession();
        const call = removeCall(msg.callId);
        ctx.log.info({
          by: msg.from.user,
          to: msg.to.user,
          knownCall: call !== undefined,
          dialog: ctx.dialogState(), // the dialog module's view: 'confirmed', or null if it already ended
          talkMs: call?.answeredAt != null ? Date.now() - call.answeredAt : null,
          media: media.ok
            ? {
                port: media.stats.port,
                durationMs: media.stats.durationMs,
                parties: media.stats.parties.map((p) => ({ user: p.name, packets: p.packets, bytes: p.bytes, latched: p.latched })),
                strangers: media.stats.strangers,
                sendErrors: media.stats.sendErrors,
              }
            : null,
        }, 'call ended');
        return ctx.forwardCall();
      }
      return ctx.respond(501, 'unsupported request');
    },

    // Runs for every reply of a forwarded call: ACK_CALL (2xx) and CALL_FAILED (3xx-6xx).
    // Failures are logged by the failure route below, which also sees the proxy's own timeout.
    reply: {
      logAnswer(ctx) {
        if (ctx.reply.status >= 300) return;
        const call = table.calls.get(ctx.msg.callId);
        if (call !== undefined) {
          call.state = 'established';
          call.answeredAt = Date.now();
        }
        ctx.log.info({
          caller: ctx.msg.from.user, callee: ctx.msg.to.user,
          ringMs: call !== undefined ? Date.now() - call.startedAt : null,
        }, 'call answered');
      },
    },

    // Runs when the callee answers CALL_FAILED, or does not answer within the answer timeout
    // (then `reply.local` is true, 408 "no answer"). Returning nothing passes the failure on.
    failure: {
      logFailure(ctx) {
        const call = removeCall(ctx.msg.callId);
        ctx.log.info({
          caller: ctx.msg.from.user, callee: ctx.msg.to.user,
          status: ctx.reply.status, reason: ctx.reply.reason, local: ctx.reply.local === true,
          ringMs: call !== undefined ? Date.now() - call.startedAt : null,
        }, 'call failed');
      },
    },
  },
});
