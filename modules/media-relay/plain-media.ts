import type { CoreServices } from '../../core/kernel/core-services.ts';
import type { AnswerDecision, AnswerEvent } from '../../core/kernel/hooks.ts';
import { composeCallFailed, composeMediaPort } from '../../core/dialects/plain/compose.ts';
import { plainWire } from '../../core/dialects/plain/dialect.ts';
import type { MediaRelay } from './relay/media-relay.ts';

/**
 * The plain dialect's media signalling: when the callee accepts (ACK_CALL), open a session
 * with caller and callee at their signaling addresses, pass the ACK_CALL on, then send
 * MEDIA_PORT to both (caller first). With no free port the ACK_CALL is withheld and both
 * get CALL_FAILED ... no media port.
 */
export async function answerPlainCall(e: AnswerEvent, relay: MediaRelay, core: CoreServices): Promise<AnswerDecision> {
  const { request, reply, txn } = e;
  const caller = request.from.user;
  const callee = request.to.user;
  const callerTerm = plainWire(request).terminator;
  const calleeTerm = plainWire(reply).terminator;
  const session = await relay.open(request.callId, { name: caller, address: request.source }, { name: callee, address: txn.target });
  if (session === null) {
    core.send(request.listener, request.source, composeCallFailed(callee, caller, 'no media port', callerTerm));
    core.send(reply.listener, reply.source, composeCallFailed(callee, caller, 'no media port', calleeTerm));
    return 'withhold';
  }
  e.after(() => {
    // Caller first: the callee's copy leaves only once the caller's is with the kernel.
    core.send(request.listener, request.source, composeMediaPort(caller, callee, session.port, callerTerm), () =>
      core.send(reply.listener, txn.target, composeMediaPort(caller, callee, session.port, calleeTerm)));
  });
  return 'pass';
}
