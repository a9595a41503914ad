// A transaction of the coordinator, as two-phase commit (coord-commit.ts) keeps it.

import type { Failure, Op, OpResult } from './types.ts';

export type TxnPhase = 'open' | 'locking' | 'preparing' | 'logging' | 'committing' | 'aborting' | 'failed';

/** A request waiting in an interactive transaction's queue. */
export type Queued = { slot: number; kind: 'op'; op: Op } | { slot: number; kind: 'commit' } | { slot: number; kind: 'abort' };

/**
 * One transaction, from its first request until its client has its answer.
 *
 * Invariants:
 * - txn.waiting: the workers it waits on are among its voters, and are linked while it waits on
 *   them to lock, vote, apply or abort (a link that goes down is dropped from it at once);
 * - txn.phase: `open` and `failed` are interactive only; `locking` and `preparing` wait on
 *   someone (the last answer moves them on); `logging` waits on no worker, only on the disk;
 * - txn.cseq: set exactly while `logging` or `committing`, and never past the last decided cseq;
 * - txn.decision: a `committing` transaction's decision is kept (until every voter acks it);
 * - txn.conn: an open interactive transaction is the one its connection names, and back;
 * - txn.queue: only interactive transactions queue, at most LIMITS.interactiveQueue requests;
 * - txn.ops: at most LIMITS.opsPerTransaction writes (a one-shot `transaction` is validated to it);
 * - txn.deadline: every transaction has one (Infinity until its lock timeout starts), and only
 *   live transactions do.
 */
export interface Txn {
  txid: string;
  conn: number;
  interactive: boolean;
  phase: TxnPhase;
  voters: string[];
  ops: Op[];
  /** The slot whose reply this transaction owes now. */
  slot: number | null;
  queue: Queued[];
  waiting: Set<string>;
  results: OpResult[] | null;
  lockSeq: number;
  startedAt: number;
  reason: Failure | null;
  /** Set when the client itself asked to abort: the reply is OK, not ABORT. */
  clientAbort: boolean;
  /** A `transaction` request: its reply lists every op's result, even for one op. */
  batch: boolean;
  cseq: number;
  /** The configuration its voters were taken from (0 until its first lock or prepare). */
  config: number;
}
