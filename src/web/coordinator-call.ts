// One request from the web layer to the coordinator, with its failures turned
// into problems: the coordinator's own codes map to HTTP statuses, and a lost
// connection is "unavailable" for a read but "outcome unknown" for a write
// (the write may or may not have happened: never report success or failure
// that cannot be proved).

import { ConnectionLost, type ApiReply } from '../client/client.ts';
import type { CoordinatorPool } from '../client/pool.ts';
import type { ErrorCode } from '../wire/protocol.ts';
import { ProblemError } from './problems.ts';

/**
 * Sends `body`. Returns an OK reply, or one whose code is listed in `allow` (for the caller
 * to handle); any other failure is thrown as a ProblemError, with `messages` replacing the
 * coordinator's sentence where the web has a better one for its users.
 */
export async function coordinatorCall(
  pool: CoordinatorPool,
  body: Record<string, unknown>,
  kind: 'read' | 'write',
  messages: Partial<Record<ErrorCode, string>> = {},
  allow: readonly ErrorCode[] = [],
): Promise<ApiReply> {
  let r: ApiReply;
  try {
    r = await pool.request(body);
  } catch (e) {
    if (!(e instanceof ConnectionLost)) throw e;
    if (kind === 'read') throw new ProblemError('UNAVAILABLE', `the database coordinator at ${pool.address} could not be reached (${e.message}); try again shortly`);
    throw new ProblemError('UNKNOWN_OUTCOME', `the database coordinator stopped answering before it confirmed the change, so it may or may not have been made (${e.message}); check, or retry the same request`);
  }
  if (r.status === 'OK') return r;
  const code = (r.code ?? 'INTERNAL') as ErrorCode;
  if (allow.includes(code)) return r;
  throw new ProblemError(code, messages[code] ?? r.error ?? `the coordinator answered ${r.status} ${code}`);
}
