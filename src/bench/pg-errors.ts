// Errors of the PostgreSQL comparison. Each carries a code a caller can switch
// on and a message a person can act on: what failed, why, and what to do.

export type PgBenchErrorCode =
  /** initdb/postgres not found: install Debian's package (the message says how). */
  | 'POSTGRES_MISSING'
  /** Running as root and there is no `postgres` system user to run the servers as. */
  | 'POSTGRES_USER_MISSING'
  /** initdb failed or timed out; the message carries its output. */
  | 'POSTGRES_INIT_FAILED'
  /** A server exited or did not accept connections in time; the message carries its log's tail. */
  | 'POSTGRES_START_FAILED'
  /** Creating the schema or connecting the clients failed. */
  | 'POSTGRES_SETUP_FAILED'
  /** A server or the temp directory could not be removed; the message names what to remove by hand. */
  | 'POSTGRES_CLEANUP_FAILED'
  /** Prepared transactions of the run could not be resolved (committed or rolled back) at its end. */
  | 'POSTGRES_RECOVERY_FAILED'
  /** Bad arguments to the bench functions. */
  | 'INVALID_ARGUMENT'
  /** SIGINT or SIGTERM arrived during the run. */
  | 'INTERRUPTED';

export class PgBenchError extends Error {
  readonly code: PgBenchErrorCode;

  constructor(code: PgBenchErrorCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'PgBenchError';
    this.code = code;
  }
}

/** The server binaries are not installed; `code` is 'POSTGRES_MISSING'. */
export class PgMissingError extends PgBenchError {
  constructor(message: string) {
    super('POSTGRES_MISSING', message);
    this.name = 'PgMissingError';
  }
}

/** Any thrown value as an Error, for messages and `cause`. */
export function asError(e: unknown): Error {
  return e instanceof Error ? e : new Error(String(e));
}
