/**
 * The REGISTER flood's switchyard: the repository's default script (proxy.config.ts) with the
 * registrar sized for the flood. run_reg.sh registers rate × duration distinct users (180,000 at
 * 3000/s for 60 s) and the default registrar refuses new users past 100,000 (503 Registrar Full),
 * which would end the ladder on a configured limit, not on throughput. Kamailio's usrloc has no
 * such limit (only its shared memory, -m 3072).
 */
import { defineProxy } from 'switchyard';
import { registrar } from 'switchyard/modules';
import base from '../../proxy.config.ts';

export default defineProxy({
  ...base,
  // the same modules in the same order, the registrar's limit raised (a map loses the tuple type)
  modules: base.modules.map((m) => (m.name === 'registrar' ? registrar({ maxUsers: 2_000_000 }) : m)) as unknown as typeof base.modules,
});
