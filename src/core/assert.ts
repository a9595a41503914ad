// The one assertion of the cores. A broken invariant is a bug, never bad input (the edge validates
// every message first): the runtime stops the process (exit 70) rather than risk diverging copies.

/** Thrown when a core finds a state its rules make impossible. `code` lets the shell tell it from an I/O error. */
export class InvariantError extends Error {
  readonly code = 'INVARIANT';
  constructor(message: string) {
    super(message);
    this.name = 'InvariantError';
  }
}

/**
 * Throws an InvariantError with `msg` unless `cond` holds. `msg` names the invariant first (as in
 * the `Invariants:` comments), then the values that broke it, so a log line says what to look at.
 */
export function assert(cond: boolean, msg: string | (() => string)): asserts cond {
  if (!cond) throw new InvariantError(typeof msg === 'string' ? msg : msg());
}
