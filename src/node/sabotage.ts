// Test-only switches that break one duty of the runtime shell on purpose, to
// prove the simulator runs the shell and its checkers catch each broken duty
// (test/sim/sabotage.test.ts). Production never sets one; the core's own
// switches are `Sabotage` in src/core/types.ts.

export const SHELL_SABOTAGES = [
  /** The coordinator's group commit reports its decision log durable when written, before the fsync returns. */
  'coordinator_durable_before_fsync',
  /** A worker's group commit reports its writes (prepared records, commits) durable before the fsync returns: it votes and acks early. */
  'worker_durable_before_fsync',
  /** A worker tells the core a commit is applied (so the client hears OK) before the write is made, so reads miss it. */
  'worker_applied_before_write',
] as const;

export type ShellSabotage = (typeof SHELL_SABOTAGES)[number];
