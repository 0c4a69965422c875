/** Every failure the core reports at boot or reload carries a stable code, so operators can grep for it. */
export type ErrorCode =
  | 'SY_CONFIG_LOAD'          // the script could not be loaded (syntax error, throw at import)
  | 'SY_CONFIG_INVALID'       // the script loaded but failed validation
  | 'SY_MODULE_DUPLICATE'     // one module listed twice
  | 'SY_MODULE_MISSING_DEP'   // a required dependency is not listed
  | 'SY_MODULE_DEP_CYCLE'     // modules depend on each other in a circle
  | 'SY_MODULE_FUNCTION_DUPLICATE' // two modules (or a module and the core) declare one function name
  | 'SY_MODULE_SETUP'         // setup() threw
  | 'SY_MODULE_SETUP_TIMEOUT' // setup() did not finish in time
  | 'SY_MODULE_SET_CHANGED'   // a reload adds or removes modules: needs a restart
  | 'SY_LISTEN'               // a listener could not bind
  | 'SY_ADMIN_EXPOSED'        // the admin listener would be reachable from other machines without a token
  | 'SY_ADMIN_LISTEN'         // the admin listener could not bind
  | 'SY_VERDICT_TWICE'        // a route gave a second verdict
  | 'SY_SCOPE';               // a function called in a route kind where it is not legal

export class SwitchyardError extends Error {
  readonly code: ErrorCode;
  readonly details: Record<string, unknown>;
  constructor(code: ErrorCode, message: string, details: Record<string, unknown> = {}) {
    super(message);
    this.name = 'SwitchyardError';
    this.code = code;
    this.details = details;
  }
}

export function isSwitchyardError(e: unknown): e is SwitchyardError {
  // Not instanceof: a script loaded by jiti has its own copy of this class.
  const code = e instanceof Error ? (e as Error & { code?: unknown }).code : undefined;
  return typeof code === 'string' && code.startsWith('SY_');
}
