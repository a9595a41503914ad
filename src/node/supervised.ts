// What a node learns from the supervisor that started it (`tweetdb start`, src/cli/start.ts):
// how many times it has been restarted. The coordinator shows it in `status`
// (counters.restarts), each worker in `check` (restarts).

/** The environment variable through which `tweetdb start` tells a child how many times it was restarted. */
export const RESTARTS_ENV = 'TWEETDB_RESTARTS';

/** The restart count given by the supervisor: 0 when unset or not a whole number. */
export function restartCount(env: NodeJS.ProcessEnv = process.env): number {
  const v = env[RESTARTS_ENV];
  return v !== undefined && /^\d{1,9}$/.test(v) ? Number(v) : 0;
}
