/**
 * The REGISTER storm's switchyard: the repository's default script (proxy.config.ts) with the
 * registrar sized for the storm (a storm of distinct users at several times the registration
 * capacity for a minute offers millions; the default limit, 100,000 users, would refuse them
 * as a configured limit, not as overload). Kamailio's usrloc has no such limit, only its
 * shared memory (-m 3072).
 */
import { defineProxy } from 'switchyard';
import { registrar } from 'switchyard/modules';
import base from '../../proxy.config.ts';

export default defineProxy({
  ...base,
  // the same modules in the same order, the registrar's limit raised (a map loses the tuple type)
  modules: base.modules.map((m) => (m.name === 'registrar' ? registrar({ maxUsers: 10_000_000 }) : m)) as unknown as typeof base.modules,
});
