// Plain data shared by the coordinator and worker state machines.
// Nothing here does I/O. The types that cross a socket (requests, replies, node
// messages and the data they carry) live in src/wire/protocol.ts and are re-exported
// here; what stays is the cores' own: rows, lock keys, sabotage switches.

import type { Item, Op, ReadQuery, Tweet } from '../wire/protocol.ts';

export { ITEM_KINDS } from '../wire/protocol.ts';
export type {
  Tweet,
  ItemKind,
  Item,
  Op,
  OpResult,
  VoteResult,
  ErrorCode,
  Failure,
  ReadQuery,
  CopyRow,
  Peer,
  PeerQuery,
  PeerAnswer,
  PreparedTxn,
  WorkerState,
  ToWorker,
  ToWorkerCore,
  ToWorkerService,
  TxnKnowledge,
  FromWorker,
  PostInput,
  UpdateInput,
  DeleteInput,
  WriteRequest,
  Cursor,
  ClientRequest,
  Reply,
  KnownConfig,
  ClusterKnowledge,
} from '../wire/protocol.ts';

/** What one lock key names in a worker's data. */
export type Row = Tweet | Item;

/** What a write refused for its key's lock is told (LOCKED). */
export function lockedMessage(key: string): string {
  const [kind, ...rest] = key.split(':');
  return `${kind} ${rest.join(':')} is locked by another transaction`;
}

/** The key a write locks: the kind of item, then its id (tweets are `tweet:ID`, accounts `user:NAME`). */
export function lockKeyOf(op: Op): string {
  switch (op.kind) {
    case 'post':
      return `tweet:${op.tweet.id}`;
    case 'update':
    case 'delete':
      return `tweet:${op.id}`;
    case 'put_item':
      return `${op.item.kind}:${op.item.key}`;
    case 'delete_item':
    case 'incr_item':
      return `${op.item_kind}:${op.key}`;
  }
}

/** The tweet id a tweet op writes; null for other items. */
export function opTweetId(op: Op): string | null {
  switch (op.kind) {
    case 'post':
      return op.tweet.id;
    case 'update':
    case 'delete':
      return op.id;
    default:
      return null;
  }
}

/** Does a read look at what `op` writes (a tweet read by id, any tweet for a page, the item)? */
export function readTouches(q: ReadQuery, op: Op): boolean {
  const key = lockKeyOf(op);
  switch (q.kind) {
    case 'get_tweets':
      return key.startsWith('tweet:');
    case 'get_tweet':
      return key === `tweet:${q.id}`;
    case 'get_item':
      return key === `${q.item_kind}:${q.key}`;
    default:
      return false;
  }
}

export function isItem(r: Row): r is Item {
  return 'value' in r && 'kind' in r;
}

/**
 * Test-only switches, each breaking one rule of the protocol on purpose, so that tests can show
 * the simulator's checkers catch that bug. Nothing outside the tests sets them.
 */
export type Sabotage =
  /** A worker votes YES before its prepared record is durable. */
  | 'vote_before_persist'
  /** A worker releases the locks of a prepared transaction at the lock timeout. */
  | 'release_prepared_lock_on_timeout'
  /** The coordinator aborts a transaction whose prepare went out without making sure some voter refused it durably. */
  | 'abort_without_preventing'
  /** A worker answers that it never prepared a transaction (refusing it) without a durable tombstone. */
  | 'refuse_without_tombstone'
  /** The coordinator decides commit with one YES still missing. */
  | 'commit_one_yes_missing'
  /** A worker applies a repeated commit a second time. */
  | 'apply_commit_twice'
  /** The coordinator promotes a learner, and lets it serve reads, once its copy is installed, before it applied the commits streamed since. */
  | 'promote_learner_early'
  /** An evicted worker that comes back is taken as the voter it was: up without a copy. */
  | 'evicted_counted_as_voter'
  /** A worker accepts a prepare (or lock) from a configuration it has left, or while it is no voter. */
  | 'accept_stale_prepare'
  /** A worker takes a hello from a coordinator with a lower epoch than one it obeyed (or the same epoch from another run). */
  | 'obey_lower_epoch'
  /** A coordinator that lost its data directory starts its epoch at 1 and takes writes at once, as if it were new. */
  | 'wiped_coordinator_starts_at_epoch_1';
