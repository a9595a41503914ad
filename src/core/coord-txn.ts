// A transaction of the coordinator, as two-phase commit (coord-commit.ts) keeps it.

import type { Failure, Op, OpResult } from './types.ts';

/**
 * `preventing`: an abort is wanted after prepare went out; the voters that have not said YES are
 * asked to refuse it durably (`prevent`), and it aborts at the first refusal, or commits if every
 * voter turns out to hold a YES. With no one left to ask it is in doubt until one comes back.
 */
export type TxnPhase = 'open' | 'locking' | 'preparing' | 'preventing' | 'committing' | 'aborting' | 'failed';

/** A request waiting in an interactive transaction's queue. */
export type Queued = { slot: number; kind: 'op'; op: Op } | { slot: number; kind: 'commit' } | { slot: number; kind: 'abort' };

/**
 * One transaction, from its first request until its client has its answer.
 *
 * Invariants:
 * - txn.waiting: the workers it waits on are among its voters, and are linked while it waits on
 *   them to lock, vote, apply or abort (a link that goes down is dropped from it at once);
 * - txn.phase: `open` and `failed` are interactive only; `locking` and `preparing` wait on
 *   someone (the last answer moves them on); an orphan (learnt from a worker's state) is
 *   `preventing`, `committing` or `aborting`;
 * - txn.cseq: set once its prepare goes out (so always while `preparing`, `preventing` or
 *   `committing`), and never past the last cseq given out;
 * - txn.yes: only voters, and while `preparing` or `preventing` never all of them (that is a commit);
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
  /** The first results digest a YES carried (#13 item 5: voters but the first send one), compared with every other YES. */
  digest: string | null;
  lockSeq: number;
  startedAt: number;
  reason: Failure | null;
  /** Set when the client itself asked to abort: the reply is OK, not ABORT. */
  clientAbort: boolean;
  /** A `transaction` request: its reply lists every op's result, even for one op. */
  batch: boolean;
  /** The cseq it commits with: given out with its prepare (0 until then). */
  cseq: number;
  /** The configuration its voters were taken from (0 until its first lock or prepare). */
  config: number;
  /** The voters that said they hold a durable YES for it (a vote, or the answer to prevent). */
  yes: Set<string>;
  /** Learnt from a worker's state after this coordinator lost it (a restart): no client; its ops are known once a voter says YES with them. */
  orphan: boolean;
  /**
   * Committed late: decided after its voters may have committed it on their own (the answer to
   * prevent, or a voter's ack), so later writes may already have gone over its rows on them.
   */
  late: boolean;
}
