/**
 * The node options this process was started with: its command line's and `NODE_OPTIONS`' (which node applies
 * without listing them in `process.execArgv`). Settings the process applies to V8 at run time leave alone one that
 * an operator gave here.
 */
export function processNodeOptions(): string[] {
  return [...process.execArgv, ...(process.env.NODE_OPTIONS ?? '').split(/\s+/).filter(Boolean)];
}
