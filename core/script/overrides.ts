/**
 * What the command line changes in a script without editing it: the port of a dialect's
 * listener and options of listed modules. Applied at every load, so a reload keeps them.
 */
export interface ScriptOverrides {
  /** The port of the script's one listener of each dialect (0: any free port); a script with none of that dialect ignores it. */
  readonly ports?: Readonly<Partial<Record<'plain' | 'sip', number>>>;
  /** Options over the script's, by module name, validated by the module's own schema; a module the script does not list ignores them. */
  readonly moduleOptions?: Readonly<Record<string, Readonly<Record<string, unknown>>>>;
}

export const NO_OVERRIDES: ScriptOverrides = Object.freeze({});
