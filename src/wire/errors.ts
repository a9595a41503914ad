// The one registry of error codes: what each means and what to do about it.
// Replies carry the code and a sentence naming the item and the cause.

import type { ErrorCode } from '../core/types.ts';

export const ERROR_CODES: Record<ErrorCode, { status: 'ABORT' | 'ERROR'; meaning: string; action: string }> = {
  INVALID: { status: 'ERROR', meaning: 'malformed request: unknown action, missing or wrong field, content too long, a string that is not well-formed Unicode (a lone surrogate), nesting past 32 levels', action: 'fix the request; nothing was changed' },
  TOO_LARGE: { status: 'ERROR', meaning: 'request over the size limit (1 MiB); the connection is closed', action: 'send a smaller request' },
  LOCKED: { status: 'ABORT', meaning: 'another transaction holds a lock on the item; no waiting, it fails at once', action: 'retry shortly' },
  NOT_FOUND: { status: 'ABORT', meaning: 'update, delete or get of an id that does not exist', action: 'check the id' },
  EXISTS: { status: 'ABORT', meaning: 'post of an id that exists with other content', action: 'choose another id, or omit it' },
  FORBIDDEN: { status: 'ABORT', meaning: '`username` given and not the author', action: 'only the author may change a tweet' },
  TIMEOUT: { status: 'ABORT', meaning: 'the transaction exceeded the lock timeout and was aborted (ERROR: a request still unfinished 10 s after its first byte; the connection is closed)', action: 'retry; keep transactions shorter than the lock timeout; send each request whole' },
  UNAVAILABLE: { status: 'ABORT', meaning: 'a worker (named) or the coordinator\'s log could not be reached in time (ERROR, then closed: a connection over the per-address or total connection limit)', action: 'retry when `status` shows every worker up; for a refused connection, close others first' },
  UNAUTHENTICATED: { status: 'ERROR', meaning: 'the action needs a proof of the cluster key (node actions such as register) or the client token, and the connection has none', action: 'workers: pass the same --cluster-key-file as the coordinator; clients: send {"action":"auth","token":...} first' },
  INTERNAL: { status: 'ERROR', meaning: 'a bug: logged with a trace id that the reply carries', action: 'report it with the trace id' },
};

export function errorReply(code: ErrorCode, error: string): { status: 'ERROR'; code: ErrorCode; error: string } {
  return { status: 'ERROR', code, error };
}
