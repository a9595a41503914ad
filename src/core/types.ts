// Plain data shared by the coordinator and worker state machines.
// Nothing here does I/O; every value is JSON-serialisable so it can cross a socket
// or a simulated network unchanged.

/** A stored tweet. Times are milliseconds since the epoch (rendered as ISO 8601 at the edge). */
export interface Tweet {
  id: string;
  username: string;
  content: string;
  created_at: number;
  /** null until the tweet is first edited. */
  updated_at: number | null;
}

/**
 * One write inside a transaction, fully determined by the coordinator:
 * ids and timestamps are chosen there so every worker stores identical rows.
 */
export type Op =
  | { kind: 'post'; tweet: Tweet }
  | { kind: 'update'; id: string; content: string; username: string | null; at: number }
  | { kind: 'delete'; id: string; username: string | null };

/** What an op produced, as the client sees it: the resulting tweet, or nothing for a delete. */
export type OpResult = { tweet: Tweet } | Record<string, never>;

/** The error codes of the API, in one registry (see src/wire/errors.ts for their documentation). */
export type ErrorCode =
  | 'INVALID'
  | 'TOO_LARGE'
  | 'LOCKED'
  | 'NOT_FOUND'
  | 'EXISTS'
  | 'FORBIDDEN'
  | 'TIMEOUT'
  | 'UNAVAILABLE'
  | 'INTERNAL';

export interface Failure {
  code: ErrorCode;
  error: string;
}

/** The key a write locks. Tweets are one namespace; later kinds of item get their own prefix. */
export function lockKeyOf(op: Op): string {
  return op.kind === 'post' ? `tweet:${op.tweet.id}` : `tweet:${op.id}`;
}

export function opTweetId(op: Op): string {
  return op.kind === 'post' ? op.tweet.id : op.id;
}

// ---------------------------------------------------------------------------
// Coordinator <-> worker messages. The coordinator opens the link; both sides send.

/** Read queries a worker answers from its committed data. */
export type ReadQuery =
  | { kind: 'get_tweets'; limit: number; before: { created_at: number; id: string } | null; username: string | null }
  | { kind: 'get_tweet'; id: string }
  | { kind: 'check' }
  | { kind: 'snapshot'; after: string | null; limit: number };

/** A worker as its peers reach it: durable identity and the address the coordinator dials. */
export interface Peer {
  id: string;
  address: string;
}

/**
 * Worker <-> worker: cooperative termination. A prepared worker that cannot learn an outcome from
 * its coordinator asks the other voters. `to` is the identity it expects at that address: a new
 * identity there (a wiped worker) knows nothing of the old one's votes and answers "unknown".
 */
export type PeerQuery = { type: 'peer_query'; txid: string; to: string };
export type PeerAnswer = { type: 'peer_answer'; txid: string; from: string; outcome: 'commit' | 'abort' | 'unknown'; cseq: number };

/**
 * Test-only switches, each breaking one rule of the protocol on purpose, so that tests can show
 * the simulator's checkers catch that bug. Nothing outside the tests sets them.
 */
export type Sabotage =
  /** A worker votes YES before its prepared record is durable. */
  | 'vote_before_persist'
  /** A worker releases the locks of a prepared transaction at the lock timeout. */
  | 'release_prepared_lock_on_timeout'
  /** The coordinator sends commit before the decision is durable. */
  | 'commit_before_log'
  /** A worker applies a repeated commit a second time. */
  | 'apply_commit_twice';

export interface WorkerState {
  /** The worker's durable identity: a new one means its data directory is new. */
  node_id: string;
  /** Transactions the worker has voted YES on and not yet learnt the outcome of. */
  prepared: string[];
  /** The highest commit sequence number the worker has applied. */
  max_cseq: number;
}

export type ToWorker =
  | { type: 'hello'; lock_timeout_ms: number }
  /** Interactive transactions: take the op's lock now and stage it. */
  | { type: 'lock'; txid: string; seq: number; op: Op }
  /**
   * Phase 1. `ops` is set for one-shot transactions; interactive ones prepare what they staged.
   * `voters` are every worker voting on it: a prepared worker that loses its coordinator asks them
   * for the outcome (cooperative termination).
   */
  | { type: 'prepare'; txid: string; ops: Op[] | null; voters?: Peer[] }
  | { type: 'commit'; txid: string; cseq: number }
  | { type: 'abort'; txid: string }
  | { type: 'read'; rid: number; query: ReadQuery }
  | { type: 'install'; rid: number; rows: Tweet[]; reset: boolean; done: boolean; max_cseq: number };

export type FromWorker =
  | ({ type: 'state' } & WorkerState)
  | { type: 'locked'; txid: string; seq: number; result: OpResult }
  | { type: 'lock_refused'; txid: string; seq: number; code: ErrorCode; error: string }
  | { type: 'vote'; txid: string; yes: true; results: OpResult[] }
  | { type: 'vote'; txid: string; yes: false; code: ErrorCode; error: string }
  | { type: 'ack'; txid: string; outcome: 'commit' | 'abort' }
  /** A prepared worker asking for the outcome it is waiting on. */
  | { type: 'query'; txid: string }
  | { type: 'read_result'; rid: number; result: unknown }
  | { type: 'read_failed'; rid: number; error: string }
  | { type: 'installed'; rid: number; done: boolean };

// ---------------------------------------------------------------------------
// Client requests, as the coordinator's core receives them: already validated
// by src/wire/validate.ts, so every field has its type and is within its limits.

export interface PostInput { id: string | null; username: string; content: string }
export interface UpdateInput { id: string; content: string; username: string | null }
export interface DeleteInput { id: string; username: string | null }

export type WriteRequest =
  | { action: 'post'; tweet: PostInput }
  | { action: 'update'; tweet: UpdateInput }
  | { action: 'delete'; tweet: DeleteInput };

export interface Cursor { created_at: number; id: string }

export type ClientRequest =
  | WriteRequest
  | { action: 'transaction'; ops: WriteRequest[] }
  | { action: 'get_tweets'; limit: number; before: Cursor | null; username: string | null }
  | { action: 'get_tweet'; id: string }
  | { action: 'begin' }
  | { action: 'commit' }
  | { action: 'abort' }
  | { action: 'status' }
  | { action: 'check' }
  /** Sent by a worker process (not by users) to join the cluster. */
  | { action: 'register'; worker: { id: string; address: string } };

/** One reply line. The edge adds `req` when the request carried one. */
export type Reply =
  | ({ status: 'OK' } & { [field: string]: unknown })
  | { status: 'ABORT' | 'ERROR'; code: ErrorCode; error: string };
