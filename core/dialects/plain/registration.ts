import type { Request } from '../../model/message.ts';
import type { RegistrationParse, RequestedContact } from '../../model/registration.ts';

/** The plain protocol's one contact: the datagram's source, for no set lifetime. */
const AT_SOURCE: RequestedContact = Object.freeze({ uri: null });
const CONTACTS: readonly RequestedContact[] = Object.freeze([AT_SOURCE]);

/**
 * `REGISTER <user>`: an update binding the user at the address the datagram came from. The
 * protocol names no lifetime and nothing that orders two REGISTERs; it runs over UDP only.
 */
export function readPlainRegistration(req: Request): RegistrationParse {
  return {
    ok: true,
    registration: {
      kind: 'update',
      aor: req.from.user,
      flow: { dialect: 'plain', listener: req.listener, address: req.source, transport: 'udp', connection: null },
      contacts: CONTACTS,
    },
  };
}
