// Dispatch of writes and two-phase commit: transactions (one-shot and interactive), votes,
// decisions and their acknowledgements, and the lock timeout of each.
//
// The rules:
// - the voters of a transaction are the configuration's when it starts (Membership.votingSet),
//   fixed from then on, and named with the configuration's number in every lock and prepare; a
//   write while a voter is not up is refused at once with UNAVAILABLE naming it;
// - implicit commit: a transaction is committed exactly when every voter holds a durable YES for
//   it. The coordinator tells the voters at once; its decision record is written in the
//   background (for re-driving and for status), never waited for;
// - abort by prevention: once its prepare may have reached a voter, a transaction aborts only
//   after some voter has refused it durably (a NO vote, or the answer to `prevent`); with no voter
//   left to ask, it is in doubt until one comes back (its client hears IN_DOUBT at the lock timeout);
// - the client hears OK once every voter that is still reachable has applied the commit; a voter
//   that went away gets the decision when it comes back, and is not "up" until it has it;
// - nothing undecided outlives the lock timeout.

import { isDeepStrictEqual } from 'node:util';
import { assert } from './assert.ts';
import { LIMITS, type CoordinatorContext } from './coord-context.ts';
import { abortReply, errorReply } from '../wire/errors.ts';
import { Decisions, type Decision } from './coord-decisions.ts';
import { OpMaker } from './coord-ops.ts';
import { Deadlines } from './deadlines.ts';
import { probe } from './probes.ts';
import { renderTweet } from './render.ts';
import { resultsDigest } from './results-digest.ts';
import { lockKeyOf, lockedMessage, readTouches, type Failure, type FromWorker, type Op, type OpResult, type PreparedTxn, type ReadQuery, type Reply, type ToWorkerCore, type Tweet, type VoteResult, type WriteRequest } from './types.ts';
import type { Queued, Txn } from './coord-txn.ts';

export class TwoPhaseCommit {
  private readonly ctx: CoordinatorContext;
  readonly txns = new Map<string, Txn>();
  /** Commits decided late, or an orphan's, being applied (a few at most, after faults): see readersBarredBy. Bounded by txns. */
  private readonly lateApplying = new Set<Txn>();
  private readonly connTxn = new Map<number, string>();
  readonly decisions: Decisions;
  /** By txid: when the transaction's lock timeout runs out (the whole transaction, or each of its phases). */
  private readonly txnDeadlines = new Deadlines<string>();
  private txnSeq = 0;
  private readonly opMaker: OpMaker;
  /**
   * Sees every decision, with whether the transaction's prepare went out and its voters: the
   * simulator's checker that a commit has every voter's durable YES and an abort after prepare a
   * voter's durable refusal.
   */
  decisionObserver: ((d: { txid: string; outcome: 'commit' | 'abort'; prepared: boolean; voters: readonly string[] }) => void) | null = null;
  /** The highest cseq of a commit decided (cseqs go out with prepares, so some are never committed). */
  private highestCommitted: number;

  constructor(ctx: CoordinatorContext, recovered: readonly Omit<Decision, 'unacked'>[], lastCommitted: number) {
    this.ctx = ctx;
    this.decisions = new Decisions(ctx, recovered);
    this.opMaker = new OpMaker(() => ctx.epoch);
    this.highestCommitted = lastCommitted;
  }

  // -------------------------------------------------------------------------
  // Client requests

  /** A post, update, delete or item write: in the connection's open transaction, or one-shot. */
  write(conn: number, slot: number, w: WriteRequest, now: number): void {
    const op = this.opMaker.toOp(w, now);
    const open = this.connTxn.get(conn);
    if (open !== undefined) this.enqueue(this.mustTxn(open), { slot, kind: 'op', op }, now);
    else this.startOneShot(conn, slot, [op], now);
  }

  transaction(conn: number, slot: number, ops: WriteRequest[], now: number): void {
    if (this.connTxn.has(conn)) {
      this.ctx.reply(conn, slot, errorReply('INVALID', 'a transaction is open on this connection: send its ops one at a time, then commit or abort it'));
      return;
    }
    this.startOneShot(conn, slot, ops.map((w) => this.opMaker.toOp(w, now)), now, true);
  }

  begin(conn: number, slot: number, now: number): void {
    // A coordinator that takes nothing gives out no transaction id either: its epoch may yet rise.
    const standing = this.ctx.identity.refusal();
    if (standing !== null) {
      this.ctx.reply(conn, slot, errorReply('UNAVAILABLE', standing.error));
      return;
    }
    const open = this.connTxn.get(conn);
    if (open !== undefined) {
      this.ctx.reply(conn, slot, errorReply('INVALID', `transaction ${open} is already open on this connection; commit or abort it first`));
      return;
    }
    const t = this.newTxn(conn, true, now);
    this.connTxn.set(conn, t.txid);
    this.ctx.reply(conn, slot, { status: 'OK', txid: t.txid });
  }

  commitOrAbort(conn: number, slot: number, kind: 'commit' | 'abort', now: number): void {
    const open = this.connTxn.get(conn);
    if (open === undefined) {
      this.ctx.reply(conn, slot, errorReply('INVALID', `no transaction is open on this connection; send {"action":"begin"} first`));
      return;
    }
    this.enqueue(this.mustTxn(open), { slot, kind }, now);
  }

  private newTxn(conn: number, interactive: boolean, now: number): Txn {
    this.txnSeq++;
    const t = blankTxn(`${this.ctx.epoch}.${this.txnSeq}`, conn, interactive, now);
    this.txns.set(t.txid, t);
    this.txnDeadlines.set(t.txid, Number.POSITIVE_INFINITY);
    return t;
  }

  private mustTxn(txid: string): Txn {
    const t = this.txns.get(txid);
    assert(t !== undefined, `transaction ${txid} is not known`);
    return t;
  }

  /** The transaction is gone: nothing about it is owed to anyone any more. */
  private dropTxn(t: Txn): void {
    this.lateApplying.delete(t);
    // A commit's trace ends when its decision is forgotten (every voter acknowledged it); any other's here.
    if (!this.decisions.has(t.txid)) this.ctx.trace.finished(t.txid);
    this.txns.delete(t.txid);
    this.txnDeadlines.clear(t.txid);
  }

  private startOneShot(conn: number, slot: number, ops: Op[], now: number, batch = false): void {
    const t = this.newTxn(conn, false, now);
    t.batch = batch;
    t.slot = slot;
    t.ops = ops;
    const set = this.ctx.members.votingSet();
    if (!set.ok) {
      this.finish(t, set.failure);
      return;
    }
    t.voters = set.voters;
    t.config = set.config;
    const held = this.heldByOnePhase(ops, t.voters);
    if (held !== null) {
      this.finish(t, held);
      return;
    }
    this.txnDeadlines.set(t.txid, now + this.ctx.cfg.lockTimeoutMs);
    this.sendPrepare(t, ops, now);
  }

  /**
   * LOCKED when a write touches a key of a one-phase transaction not decided here yet, and would
   * have a voter that one has not. Its sole voter committed it at its YES and let its locks go,
   * but a voter promoted since has not got it (it is streamed once decided here): evaluated
   * there, the write would see the key as it was before (simulator seed 963342). Under two
   * phases the voters' own locks would refuse it until the decision; this stands in for them.
   */
  private heldByOnePhase(ops: readonly Op[], voters: readonly string[]): Failure | null {
    for (const x of this.txns.values()) {
      if (x.voters.length !== 1 || (x.phase !== 'preparing' && x.phase !== 'preventing')) continue;
      if (voters.length === 1 && voters[0] === x.voters[0]) continue; // its own voter has it
      for (const op of ops) {
        const key = lockKeyOf(op);
        if (x.ops.some((o) => lockKeyOf(o) === key)) {
          probe('coord.one_phase_lock_stands');
          return { code: 'LOCKED', error: lockedMessage(key) };
        }
      }
    }
    return null;
  }

  private sendPrepare(t: Txn, ops: Op[] | null, now: number): void {
    const cseq = this.ctx.nextCseq();
    if (cseq === null) {
      const failure: Failure = { code: 'UNAVAILABLE', error: 'this coordinator is reserving commit sequence numbers (it just started, or one fsync is slow): retry' };
      // A one-shot write reached no worker yet: answered at once. An interactive one holds locks: aborted.
      if (t.interactive) this.decideAbort(t, failure, now);
      else this.finish(t, failure);
      return;
    }
    this.ctx.trace.prepareSent(t.txid, t.voters, now);
    this.ctx.prepareCount++;
    this.ctx.reads.preparing();
    t.phase = 'preparing';
    t.waiting = new Set(t.voters);
    t.yes = new Set();
    t.results = null;
    t.digest = null;
    // Its cseq goes out with the prepare: the voters can then commit it without this coordinator.
    t.cseq = cseq;
    // Each voter learns who the others are, to ask them if this coordinator goes away: their ids,
    // and the addresses its link was not told yet.
    const members = this.ctx.members;
    for (const w of t.voters) {
      const addresses = members.addressesToTell(w, t.voters);
      const msg: ToWorkerCore = { type: 'prepare', txid: t.txid, ops, voters: t.voters, config: t.config, floor: members.floorOf(w), cseq: t.cseq };
      this.ctx.send(w, addresses.length > 0 ? { ...msg, addresses } : msg);
    }
  }

  // Interactive transactions: requests queue and run one at a time, in order.

  private enqueue(t: Txn, q: Queued, now: number): void {
    if (t.phase === 'failed') {
      this.answerAfterFailure(t, q);
      return;
    }
    if (t.queue.length >= LIMITS.interactiveQueue) {
      this.ctx.reply(t.conn, q.slot, errorReply('INVALID', `too many requests queued in transaction ${t.txid} (limit ${LIMITS.interactiveQueue})`));
      return;
    }
    t.queue.push(q);
    if (t.phase === 'open') this.runQueue(t, now);
  }

  private runQueue(t: Txn, now: number): void {
    const members = this.ctx.members;
    while (t.phase === 'open' && t.queue.length > 0) {
      const q = t.queue.shift() as Queued;
      t.slot = q.slot;
      if (q.kind === 'abort') {
        t.clientAbort = true;
        this.decideAbort(t, { code: 'INVALID', error: 'aborted by the client' }, now);
        return;
      }
      if (q.kind === 'commit') {
        if (t.ops.length === 0) {
          this.finish(t, null);
          return;
        }
        const gone = members.firstNotUp(t.voters);
        if (gone !== null) {
          this.decideAbort(t, gone, now);
          return;
        }
        this.txnDeadlines.set(t.txid, Math.min(this.txnDeadlines.get(t.txid) ?? Number.POSITIVE_INFINITY, now + this.ctx.cfg.lockTimeoutMs));
        this.sendPrepare(t, null, now);
        return;
      }
      if (t.ops.length >= LIMITS.opsPerTransaction) {
        this.ctx.reply(t.conn, q.slot, errorReply('INVALID', `a transaction holds at most ${LIMITS.opsPerTransaction} writes`));
        t.slot = null;
        continue;
      }
      if (t.voters.length === 0) {
        // Its id was given out under an older epoch (this coordinator took a cluster over since):
        // it may be the id of another coordinator's transaction, which workers hold outcomes for.
        if (!t.txid.startsWith(`${this.ctx.epoch}.`)) {
          this.decideAbort(t, { code: 'UNAVAILABLE', error: `transaction ${t.txid} began before this coordinator took the cluster over at epoch ${this.ctx.epoch}: begin again` }, now);
          return;
        }
        const set = members.votingSet();
        if (!set.ok) {
          this.decideAbort(t, set.failure, now);
          return;
        }
        t.voters = set.voters;
        t.config = set.config;
        // The lock timeout runs from the first lock.
        this.txnDeadlines.set(t.txid, now + this.ctx.cfg.lockTimeoutMs);
      } else {
        const gone = members.firstNotUp(t.voters);
        if (gone !== null) {
          this.decideAbort(t, gone, now);
          return;
        }
      }
      const held = this.heldByOnePhase([q.op], t.voters);
      if (held !== null) {
        this.decideAbort(t, held, now);
        return;
      }
      t.phase = 'locking';
      t.lockSeq++;
      t.ops.push(q.op);
      t.results = null;
      t.waiting = new Set(t.voters);
      for (const w of t.voters) this.ctx.send(w, { type: 'lock', txid: t.txid, seq: t.lockSeq, op: q.op, config: t.config, floor: members.floorOf(w) });
    }
  }

  private answerAfterFailure(t: Txn, q: Queued): void {
    const reason = t.reason ?? { code: 'INTERNAL' as const, error: 'transaction failed' };
    if (q.kind === 'abort') {
      this.ctx.reply(t.conn, q.slot, { status: 'OK' });
      this.closeTxn(t);
    } else if (q.kind === 'commit') {
      this.ctx.reply(t.conn, q.slot, abortReply(reason));
      this.closeTxn(t);
    } else {
      this.ctx.reply(t.conn, q.slot, abortReply(reason));
    }
  }

  private closeTxn(t: Txn): void {
    this.dropTxn(t);
    if (this.connTxn.get(t.conn) === t.txid) this.connTxn.delete(t.conn);
  }

  connClosed(conn: number, now: number): void {
    const txid = this.connTxn.get(conn);
    if (txid === undefined) return;
    const t = this.mustTxn(txid);
    this.connTxn.delete(conn);
    t.queue = [];
    // Closing the connection aborts an open transaction; one already deciding runs to its end.
    if (t.phase === 'open' || t.phase === 'locking') {
      t.clientAbort = true;
      this.decideAbort(t, { code: 'INVALID', error: 'the client closed its connection' }, now);
    } else if (t.phase === 'failed') {
      this.dropTxn(t);
    } else if (t.phase !== 'aborting') {
      probe('coord.client_left_while_deciding');
    }
  }

  // -------------------------------------------------------------------------
  // Votes, decisions, acknowledgements

  onLockAnswer(worker: string, msg: Extract<FromWorker, { type: 'locked' | 'lock_refused' }>, now: number): void {
    const t = this.txns.get(msg.txid);
    if (t === undefined || t.phase !== 'locking' || msg.seq !== t.lockSeq || !t.waiting.has(worker)) return;
    if (msg.type === 'lock_refused') {
      this.decideAbort(t, { code: msg.code, error: msg.error }, now);
      return;
    }
    t.waiting.delete(worker);
    t.results ??= [msg.result];
    if (t.waiting.size === 0) {
      t.phase = 'open';
      const result = t.results[0] ?? {};
      const slot = t.slot;
      t.slot = null;
      if (slot !== null) this.ctx.reply(t.conn, slot, okWithResult(result));
      this.runQueue(t, now);
    }
  }

  onVote(worker: string, msg: Extract<FromWorker, { type: 'vote' }>, now: number): void {
    const ctx = this.ctx;
    const t = this.txns.get(msg.txid);
    if (t === undefined || (t.phase !== 'preparing' && t.phase !== 'preventing') || !t.voters.includes(worker) || t.yes.has(worker)) {
      probe('coord.duplicate_vote_ignored');
      return;
    }
    ctx.trace.step(t.txid, 'votes', worker, now);
    if (!msg.yes) {
      // A NO is sent only once its tombstone is durable: this voter will never hold a YES.
      this.decideAbort(t, t.reason ?? { code: msg.code, error: msg.error }, now);
      return;
    }
    t.waiting.delete(worker);
    t.yes.add(worker);
    // Each YES is compared with what came before it: results with results, a digest with the first
    // digest, or with the digest of the results (#13 item 5: only the first voter sends them).
    let same = true;
    if ('digest' in msg) {
      if (t.digest !== null) same = t.digest === msg.digest;
      else if (t.results !== null && t.results.length > 0) same = resultsDigest(t.results) === msg.digest;
      t.digest ??= msg.digest;
    } else {
      if (t.ops.length === 0 && msg.ops !== undefined) t.ops = msg.ops; // an orphan's, from the answer to prevent
      const results = withPosts(t.ops, msg.results);
      if (results === null) ctx.log('error', 'a worker answered a post by its op, and the op is not known here', { txid: t.txid, worker });
      const have = results ?? [];
      if (have.length > 0 && t.results !== null && t.results.length > 0) same = isDeepStrictEqual(t.results, have);
      else if (have.length > 0 && t.digest !== null) same = resultsDigest(have) === t.digest;
      if (t.results === null || t.results.length < have.length) t.results = have;
    }
    if (!same) ctx.log('error', 'workers computed different results for one transaction', { txid: t.txid, worker });
    if (this.everyVoterSaidYes(t)) {
      if (t.phase === 'preventing') probe('coord.prevent_found_every_yes');
      // Being prevented, its voters may have committed it among themselves long ago (simulator seed 741626).
      this.decideCommit(t, now, t.phase === 'preventing');
    }
  }

  /** Implicit commit: every voter holds a durable YES. */
  private everyVoterSaidYes(t: Txn): boolean {
    if (this.ctx.cfg.sabotage === 'commit_one_yes_missing' && t.voters.length > 1) return t.voters.length - t.yes.size <= 1;
    return t.voters.every((v) => t.yes.has(v));
  }

  /**
   * The transaction is committed (every voter holds a durable YES, or one of them has committed
   * it): tell every linked voter now; the decision record is written in the background.
   */
  private decideCommit(t: Txn, now: number, late = false): void {
    const ctx = this.ctx;
    assert(t.phase === 'preparing' || t.phase === 'preventing', `commit of ${t.txid} in phase ${t.phase}`);
    assert(t.cseq > 0, `commit of ${t.txid} without a cseq`);
    this.decisionObserver?.({ txid: t.txid, outcome: 'commit', prepared: true, voters: t.voters });
    t.phase = 'committing';
    ctx.trace.decided(t.txid, 'commit', null, now);
    ctx.decisionCount++;
    if (t.cseq > this.highestCommitted) this.highestCommitted = t.cseq;
    t.waiting = new Set();
    if (late || t.orphan) {
      // Not in the reads' overlay: its voters may have committed it long ago, and later commits may
      // have gone over its rows since; the overlay would show its older values (simulator seed
      // 801431). Reads of what it wrote go to voters that have applied it (readersBarredBy).
      this.lateApplying.add(t);
      ctx.reads.dataChanged();
    } else ctx.reads.decided(t.cseq, t.ops, t.results ?? []);
    if (late && !t.orphan) {
      // Its voters may have committed it long ago, and later writes gone over its rows since: as
      // an orphan's, its commit is streamed to no learner (a replay could undo a later delete), and
      // their copies start over once it is applied (simulator seed 741626).
      t.late = true;
      ctx.members.lateCommitDecided();
    }
    // Learners, and voters promoted after it was prepared, get it streamed; never an orphan or a
    // late commit (their copies start over once it is applied: see startCopies).
    if (t.ops.length > 0 && !t.orphan && !t.late) ctx.members.committed(t.txid, t.cseq, t.ops, t.voters);
    if (t.voters.length === 1 && !t.orphan) {
      // One phase: its only voter said YES once its prepared record was durable, and commits at once; nothing is owed.
      ctx.counters.commits++;
      this.finish(t, null);
      return;
    }
    this.decisions.add(t.txid, t.cseq, t.voters, now);
    ctx.emit({ type: 'log_commit', txid: t.txid, cseq: t.cseq, voters: t.voters, at: now });
    // A voter unreachable now learns the outcome when it comes back, before it is up again.
    this.txnDeadlines.set(t.txid, now + ctx.cfg.lockTimeoutMs);
    for (const w of t.voters) {
      if (ctx.members.isLinked(w)) {
        t.waiting.add(w);
        ctx.send(w, { type: 'commit', txid: t.txid, cseq: t.cseq });
      }
    }
    ctx.counters.commits++;
    if (t.waiting.size === 0) this.finish(t, null);
  }

  /** Visible on this voter: the client may be answered once every linked voter says so. The decision is kept until the acks say the commit is durable everywhere. */
  onApplied(worker: string, txid: string, now: number): void {
    this.ctx.trace.step(txid, 'applied', worker, now);
    const t = this.txns.get(txid);
    if (t !== undefined && t.phase === 'committing' && t.waiting.delete(worker) && t.waiting.size === 0) this.finish(t, null);
  }

  /** A transaction still waiting for its votes (or its voters' answers to prevent): nothing decided yet. */
  undecided(txid: string): boolean {
    const t = this.txns.get(txid);
    return t !== undefined && (t.phase === 'preparing' || t.phase === 'preventing');
  }

  onAck(worker: string, txid: string, outcome: 'commit' | 'abort', now: number, results?: OpResult[]): void {
    this.ctx.trace.step(txid, 'acks', worker, now);
    if (outcome === 'commit') this.decisions.acked(worker, txid);
    const t = this.txns.get(txid);
    if (t !== undefined && (t.phase === 'preparing' || t.phase === 'preventing') && t.voters.includes(worker)) {
      if (outcome === 'abort') {
        // Its tombstone is durable (a worker acks an abort only then): it never holds a YES.
        probe('coord.refusal_ack');
        this.decideAbort(t, t.reason ?? { code: 'TIMEOUT', error: `worker ${worker} aborted transaction ${txid} on its own (it outlived the lock timeout there, or another voter asked)` }, now);
      } else {
        // Its voters committed it (every one of them holds a YES) while this coordinator waited.
        probe('coord.commit_learnt_from_voter');
        if (results !== undefined && (t.results === null || t.results.length < results.length)) t.results = results;
        this.decideCommit(t, now, true);
        this.onAck(worker, txid, outcome, now);
      }
      return;
    }
    const expected = t === undefined ? null : t.phase === 'committing' ? 'commit' : t.phase === 'aborting' ? 'abort' : null;
    if (t !== undefined && outcome === 'abort' && expected !== 'abort') probe('coord.stray_abort_ack');
    if (t !== undefined && expected === outcome && t.waiting.delete(worker) && t.waiting.size === 0) {
      if (t.phase === 'committing') this.finish(t, null);
      else this.finishAbort(t);
    }
  }

  /**
   * A prepared worker asks what happened. Only a commit is answered: with no presumed abort, "not
   * known here" says nothing, and the voters settle it among themselves (or this coordinator
   * does, from their answers to prevent, once it learns of it from their state).
   */
  onQuery(worker: string, txid: string): void {
    const d = this.decisions.get(txid);
    if (d !== undefined) {
      probe('coord.decision_resent_on_query');
      this.ctx.send(worker, { type: 'commit', txid, cseq: d.cseq });
      return;
    }
    probe('coord.query_not_decided');
  }

  /**
   * The transaction cannot commit as things stand (a voter went down, did not answer in time, or
   * the client left). Before its prepare went out that is an abort; after, only a durable refusal
   * by some voter makes it one (abort by prevention).
   */
  private failTxn(t: Txn, reason: Failure, now: number): void {
    if (t.phase !== 'preparing' || this.ctx.cfg.sabotage === 'abort_without_preventing') {
      this.decideAbort(t, reason, now);
      return;
    }
    this.startPrevent(t, reason, now);
  }

  /** Ask every linked voter that has not said YES to refuse it durably. */
  private startPrevent(t: Txn, reason: Failure | null, now: number): void {
    probe('coord.prevent_started');
    t.reason = reason;
    t.phase = 'preventing';
    t.waiting = new Set();
    this.txnDeadlines.set(t.txid, now + this.ctx.cfg.lockTimeoutMs);
    for (const w of t.voters) this.askToPrevent(t, w);
    // Nobody can be asked (the voters without a YES are all down): waiting a lock timeout would
    // learn nothing, so the client hears IN_DOUBT now.
    this.inDoubtIfNobodyToAsk(t, now);
  }

  private askToPrevent(t: Txn, w: string): void {
    if (t.yes.has(w) || !this.ctx.members.isLinked(w)) return;
    t.waiting.add(w);
    this.ctx.send(w, { type: 'prevent', txid: t.txid });
  }

  /**
   * The operator's abort (tweetdb admin resolve) of a transaction in doubt whose missing voters are
   * out of the cluster: decided here as a refusal would decide it, and sent to its linked voters.
   * Not a durable refusal by a voter: the operator vouches that the missing ones are gone for good.
   */
  abortByHand(txid: string, now: number): void {
    const t = this.txns.get(txid);
    assert(t !== undefined && t.phase === 'preventing', `abort by hand of ${txid}, which is not in doubt`);
    this.decideAbort(t, { code: 'UNAVAILABLE', error: `transaction ${txid} was aborted by hand (tweetdb admin resolve)` }, now);
  }

  /** Before its prepare went out, or once some voter refused it durably: the outcome is abort. */
  private decideAbort(t: Txn, reason: Failure, now: number): void {
    assert(t.phase !== 'committing', `abort of ${t.txid} after its commit was decided`);
    this.decisionObserver?.({ txid: t.txid, outcome: 'abort', prepared: t.cseq > 0, voters: t.voters });
    t.reason = reason;
    this.ctx.trace.decided(t.txid, 'abort', reason.code, now);
    t.phase = 'aborting';
    t.waiting = new Set();
    this.txnDeadlines.set(t.txid, now + this.ctx.cfg.lockTimeoutMs);
    for (const w of t.voters) {
      if (this.ctx.members.isLinked(w)) {
        t.waiting.add(w);
        this.ctx.send(w, { type: 'abort', txid: t.txid });
      }
    }
    // The reply waits for the acks, so a client that retries at once finds the locks free.
    if (t.waiting.size === 0) this.finishAbort(t);
  }

  private finishAbort(t: Txn): void {
    const ctx = this.ctx;
    const reason = t.reason ?? { code: 'INTERNAL' as const, error: 'aborted' };
    if (!t.interactive) {
      this.finish(t, reason);
      return;
    }
    const slot = t.slot;
    t.slot = null;
    t.phase = 'failed';
    if (t.clientAbort) {
      ctx.counters.aborts.CLIENT = (ctx.counters.aborts.CLIENT ?? 0) + 1;
      if (slot !== null) ctx.reply(t.conn, slot, { status: 'OK' });
      this.closeTxn(t);
      return;
    }
    ctx.counters.aborts[reason.code] = (ctx.counters.aborts[reason.code] ?? 0) + 1;
    if (slot !== null) this.answerAfterFailure(t, { slot, kind: 'op', op: t.ops[0] as Op });
    const queued = t.queue;
    t.queue = [];
    for (const q of queued) this.answerAfterFailure(t, q);
    if (!this.connTxn.has(t.conn) || this.connTxn.get(t.conn) !== t.txid) this.dropTxn(t);
  }

  /**
   * A lock timeout passed with no voter's refusal and not every YES: its client hears IN_DOUBT
   * (once), voters silent on prevent are cut off (and asked again when they come back), and it is
   * looked at again after another lock timeout.
   */
  private stillInDoubt(t: Txn, now: number): void {
    const ctx = this.ctx;
    const missing = withoutYes(t);
    const named = missing.map((w) => `${w} (${ctx.members.addressOf(w) ?? 'no longer a member'})`).join(', ');
    const slot = t.slot;
    if (slot !== null) {
      probe('coord.in_doubt_reply');
      t.slot = null;
      ctx.counters.inDoubt++;
      ctx.reply(t.conn, slot, errorReply('IN_DOUBT', `transaction ${t.txid}: ${missing.length < t.voters.length ? 'every other voter holds a YES for it and ' : ''}${named} could not be asked whether ${missing.length === 1 ? 'it holds' : 'they hold'} a YES; it commits if ${missing.length === 1 ? 'so' : 'all do'} and aborts if not, once ${missing.length === 1 ? 'that worker answers' : 'they answer'} (status lists it under in_doubt); read the data back to know`));
      for (const q of t.queue) ctx.reply(t.conn, q.slot, errorReply('IN_DOUBT', `transaction ${t.txid} is in doubt (see the reply to its commit)`));
      t.queue = [];
      if (this.connTxn.get(t.conn) === t.txid) this.connTxn.delete(t.conn);
    }
    ctx.log('warn', `transaction ${t.txid} is in doubt: waiting for ${named} to say whether it holds a YES`, { txid: t.txid, missing });
    for (const w of [...t.waiting]) ctx.members.cutOff(w, now, `did not answer prevent for transaction ${t.txid} within the lock timeout`);
    this.txnDeadlines.set(t.txid, now + ctx.cfg.lockTimeoutMs);
  }

  private inDoubtIfNobodyToAsk(t: Txn, now: number): void {
    if (isInDoubt(t)) this.stillInDoubt(t, now);
  }

  /** In doubt (being prevented, nobody left to ask): the voters without a YES it waits for; otherwise null. */
  inDoubtOn(txid: string): string[] | null {
    const t = this.txns.get(txid);
    return t !== undefined && isInDoubt(t) ? withoutYes(t) : null;
  }

  /** The transaction's answer: OK with its results, or ABORT with the reason. */
  private finish(t: Txn, failure: Failure | null): void {
    const ctx = this.ctx;
    if (failure === null && t.cseq > 0) {
      ctx.reads.applied(t.cseq, t.ops);
      ctx.feed.publish(t.cseq, t.ops, t.results ?? []);
    }
    const slot = t.slot;
    t.slot = null;
    if (failure !== null) {
      ctx.counters.aborts[failure.code] = (ctx.counters.aborts[failure.code] ?? 0) + 1;
      if (slot !== null) ctx.reply(t.conn, slot, abortReply(failure));
      this.closeTxn(t);
      return;
    }
    if (slot !== null) {
      const results = t.results ?? [];
      if (t.interactive) ctx.reply(t.conn, slot, { status: 'OK' });
      else if (results.length === 1 && !t.batch) ctx.reply(t.conn, slot, okWithResult(results[0] as OpResult));
      else ctx.reply(t.conn, slot, { status: 'OK', results: results.map(renderResult) });
    }
    this.closeTxn(t);
  }

  // -------------------------------------------------------------------------
  // Workers coming and going

  /** A link went down: what waited on that worker to lock or vote aborts; what waited on it to apply or abort goes on without it. */
  workerDown(worker: string, address: string, now: number): void {
    for (const t of [...this.txns.values()]) {
      if (!t.waiting.has(worker)) continue;
      if (t.phase === 'locking' || t.phase === 'preparing') {
        this.failTxn(t, { code: 'UNAVAILABLE', error: `worker ${worker} (${address}) went down during the transaction` }, now);
      } else if (t.phase === 'preventing') {
        t.waiting.delete(worker); // asked again when it comes back (redrive)
        this.inDoubtIfNobodyToAsk(t, now);
      } else if (t.phase === 'committing' || t.phase === 'aborting') {
        t.waiting.delete(worker);
        if (t.waiting.size === 0) {
          if (t.phase === 'committing') this.finish(t, null);
          else this.finishAbort(t);
        }
      }
    }
  }

  /** A member replaced by a new identity: commits stop waiting for it to apply them. */
  memberRemoving(worker: string): void {
    for (const t of [...this.txns.values()]) {
      if (t.phase === 'committing' && t.waiting.delete(worker) && t.waiting.size === 0) this.finish(t, null);
    }
  }

  /** ... and decisions stop waiting for its ack (after the member is gone). */
  memberRemoved(worker: string): void {
    this.decisions.memberRemoved(worker, (txid) => this.txns.has(txid));
  }

  /**
   * A worker answered hello listing the transactions it voted (or is voting) YES on and has no
   * outcome for: send it every outcome it is owed (kept commits, decided aborts), ask it to
   * prevent what is still undecided, and take up as orphans the ones this coordinator lost (a
   * restart). Returns the txids whose outcome was sent.
   */
  redrive(worker: string, prepared: readonly PreparedTxn[], now: number): string[] {
    const owed: string[] = [];
    for (const p of prepared) {
      // A cseq some voter holds is never given out again.
      if (p.cseq > this.ctx.lastCseq) this.ctx.lastCseq = p.cseq;
      const t = this.txns.get(p.txid);
      if (t !== undefined && t.phase === 'committing') {
        // Only if it still owes its ack: one that acknowledged the commit has applied it, and a
        // `state` listing it prepared is older than that ack (a duplicated or overtaken line;
        // simulator seeds 992 and 1091). Its commit is sent below.
        if (!t.waiting.has(worker) && this.decisions.get(p.txid)?.unacked.has(worker) === true) t.waiting.add(worker);
        continue;
      }
      // Undecided here, and maybe committed by its voters already (applied on one, not yet on this
      // one): the worker serves no read until it has the outcome. It is asked below.
      if (t !== undefined && (t.phase === 'preparing' || t.phase === 'preventing')) {
        owed.push(p.txid);
        continue;
      }
      if (this.decisions.has(p.txid)) continue; // sent below
      if (t === undefined) {
        if (this.adoptOrphan(p, now)) owed.push(p.txid);
        continue;
      }
      // Decided abort (some voter refused it durably): it may learn it now.
      owed.push(p.txid);
      this.ctx.send(worker, { type: 'abort', txid: p.txid });
    }
    // Whatever is being prevented and waits on it: asked now (its state need not list it: it may never have seen the prepare).
    for (const t of this.txns.values()) if (t.phase === 'preventing' && t.voters.includes(worker) && !t.waiting.has(worker)) this.askToPrevent(t, worker);
    for (const d of this.decisions.values()) {
      if (!d.unacked.has(worker)) continue;
      owed.push(d.txid);
      this.ctx.send(worker, { type: 'commit', txid: d.txid, cseq: d.cseq });
    }
    return owed;
  }

  /**
   * A transaction some worker holds and this coordinator does not know (it lost it in a restart,
   * with its decision if that was not yet written): settled as any other after a timeout, by
   * asking its voters to prevent it. Every YES: committed; one refusal: aborted.
   */
  private adoptOrphan(p: PreparedTxn, now: number): boolean {
    // A record from before implicit commit carries no cseq: it commits with a new one, when told.
    const cseq = p.cseq > 0 ? p.cseq : this.ctx.nextCseq();
    if (cseq === null) return false; // asked again when the worker next links
    probe('coord.orphan_adopted');
    const t = blankTxn(p.txid, -1, false, now);
    t.phase = 'preventing';
    t.voters = [...p.voters];
    t.reason = { code: 'TIMEOUT', error: `transaction ${p.txid} was lost by a coordinator restart before it was decided` };
    t.cseq = cseq;
    t.orphan = true;
    this.txns.set(t.txid, t);
    this.ctx.prepareCount++;
    this.ctx.reads.preparing();
    this.ctx.trace.prepareSent(t.txid, t.voters, now);
    this.ctx.log('info', `transaction ${p.txid} is held prepared by its voters and was not decided here: asking them`, { txid: p.txid, voters: p.voters });
    this.ctx.members.orphanAdopted();
    this.txnDeadlines.set(t.txid, now + this.ctx.cfg.lockTimeoutMs);
    for (const w of t.voters) this.askToPrevent(t, w);
    return true;
  }

  /** Is a transaction past its prepare and not yet applied everywhere (the data may change under a read)? */
  anyPrepared(): boolean {
    for (const t of this.txns.values()) if (t.phase === 'preparing' || t.phase === 'preventing' || t.phase === 'committing') return true;
    return false;
  }

  /**
   * The workers that must not serve a read: voters still applying a commit decided late (or an
   * orphan's) that writes what the read looks at. The others that serve reads have applied it, or
   * a later write over it.
   */
  readersBarredBy(q: ReadQuery): Set<string> {
    const out = new Set<string>();
    for (const t of this.lateApplying) if (t.phase === 'committing' && t.ops.some((op) => readTouches(q, op))) for (const w of t.waiting) out.add(w);
    return out;
  }

  /**
   * Orphans not yet settled, or still being applied: a copy begun now could miss one, or replay it
   * over a later write its donor holds (no learner takes an orphan from a stream: see
   * CoordMembers.orphanAdopted).
   */
  hasUnsettledOrphans(): boolean {
    for (const t of this.txns.values()) if ((t.orphan && t.phase === 'preventing') || ((t.orphan || t.late) && t.phase === 'committing')) return true;
    return false;
  }

  /** Does a worker still take part in a transaction, or owe the ack of a commit? */
  owedBy(worker: string): boolean {
    for (const t of this.txns.values()) if (t.phase !== 'failed' && t.voters.includes(worker)) return true;
    for (const d of this.decisions.values()) if (d.unacked.has(worker)) return true;
    return false;
  }

  /** The highest cseq below which every commit decided is applied on every up voter: none is being applied. */
  settledThrough(): number {
    return this.appliedThroughOn(this.highestCommitted);
  }

  /**
   * The highest cseq through which an up voter that has applied up to `maxCseq` (its hello and its
   * acks say so) holds every commit: never below settledThrough(), and below every commit still
   * being applied (it may have applied a later one first).
   */
  appliedThroughOn(maxCseq: number): number {
    let low = Math.max(this.highestCommitted, maxCseq);
    for (const t of this.txns.values()) if (t.phase === 'committing' && t.cseq - 1 < low) low = t.cseq - 1;
    return low;
  }

  /** The commits decided and still being applied, in cseq order (a learner's stream starts with them). */
  committingNow(): { txid: string; cseq: number; ops: Op[] }[] {
    const out: { txid: string; cseq: number; ops: Op[] }[] = [];
    for (const t of this.txns.values()) if (t.phase === 'committing') out.push({ txid: t.txid, cseq: t.cseq, ops: t.ops });
    return out.sort((a, b) => a.cseq - b.cseq);
  }

  /** Is a transaction that could still commit (or is committing) running without `worker` (null: at all)? */
  inFlightWithout(worker: string | null): boolean {
    for (const t of this.txns.values()) {
      if (t.phase === 'failed' || t.phase === 'aborting' || t.voters.length === 0) continue;
      if (worker === null || !t.voters.includes(worker)) return true;
    }
    return false;
  }

  // -------------------------------------------------------------------------
  // Time

  /** Transactions past their lock timeout, then decisions whose acks are late. */
  tick(now: number): void {
    const ctx = this.ctx;
    const T = ctx.lockTimeoutS;
    for (const txid of this.txnDeadlines.due(now)) {
      const t = this.txns.get(txid);
      // Gone, or moved on, while an earlier one was handled in this tick.
      if (t === undefined || !((this.txnDeadlines.get(txid) ?? Number.POSITIVE_INFINITY) <= now)) continue;
      switch (t.phase) {
        case 'open':
          probe('coord.interactive_timeout');
          this.decideAbort(t, { code: 'TIMEOUT', error: `transaction ${t.txid} was not committed within the lock timeout (${T} s) and was aborted; its locks are released` }, now);
          break;
        case 'locking':
        case 'preparing': {
          const silent = [...t.waiting];
          const failure: Failure =
            silent.length > 0
              ? { code: 'UNAVAILABLE', error: `worker ${silent.map((w) => `${w} (${ctx.members.addressOf(w) ?? '?'})`).join(', ')} did not answer within the lock timeout (${T} s)` }
              : { code: 'TIMEOUT', error: `transaction ${t.txid} exceeded the lock timeout (${T} s) and was aborted` };
          this.failTxn(t, failure, now);
          // A voter silent for a whole lock timeout is cut off: until it answers again, writes
          // are refused at once (UNAVAILABLE) instead of each waiting out the timeout.
          if (silent.length > 0) probe('coord.silent_voter_cut_off');
          for (const w of silent) ctx.members.cutOff(w, now, `did not answer transaction ${t.txid} within the lock timeout`);
          // Nobody left to ask (the silent ones are cut off): the client hears IN_DOUBT now, a lock
          // timeout after the prepare, rather than after another one.
          this.inDoubtIfNobodyToAsk(t, now);
          break;
        }
        case 'committing':
          // The decision is durable; a voter that does not acknowledge in time is cut off and
          // re-driven when it reconnects, rather than holding the client hostage.
          if (t.waiting.size > 0) probe('coord.unapplied_commit_cut_off');
          for (const w of t.waiting) ctx.members.cutOff(w, now, `did not acknowledge commit ${t.txid} within the lock timeout`);
          break;
        case 'preventing':
          this.stillInDoubt(t, now);
          break;
        case 'aborting':
          this.finishAbort(t);
          break;
        case 'failed':
          break;
      }
    }
    // The client was answered on "applied"; a voter that never says the commit is durable (its
    // fsync or the message went missing) is cut off and re-driven when it reconnects.
    this.decisions.tick(now);
  }

  // -------------------------------------------------------------------------

  invariants(): void {
    const ctx = this.ctx;
    assert(this.txnDeadlines.size === this.txns.size, () => `txn.deadline: ${this.txnDeadlines.size} deadlines for ${this.txns.size} transactions`);
    for (const [txid, t] of this.txns) {
      assert(this.txnDeadlines.has(txid), () => `txn.deadline: transaction ${txid} has none`);
      const waitsOnLinks = t.phase === 'locking' || t.phase === 'preparing' || t.phase === 'preventing' || t.phase === 'committing' || t.phase === 'aborting';
      for (const w of t.waiting) {
        assert(t.voters.includes(w), () => `txn.waiting: transaction ${txid} waits on ${w}, which is not one of its voters`);
        if (waitsOnLinks) assert(ctx.members.isLinked(w), () => `txn.waiting: transaction ${txid} (${t.phase}) waits on ${w}, which is not linked`);
      }
      if (t.phase === 'open' || t.phase === 'failed') assert(t.interactive, () => `txn.phase: one-shot transaction ${txid} is ${t.phase}`);
      if (t.phase === 'locking' || t.phase === 'preparing') assert(t.waiting.size > 0, () => `txn.phase: transaction ${txid} is ${t.phase} and waits on no one`);
      if (t.orphan) assert(t.phase === 'preventing' || t.phase === 'committing' || t.phase === 'aborting', () => `txn.phase: orphan ${txid} is ${t.phase}`);
      const prepared = t.phase === 'preparing' || t.phase === 'preventing' || t.phase === 'committing';
      assert((!prepared || t.cseq > 0) && t.cseq <= ctx.lastCseq, () => `txn.cseq: transaction ${txid} is ${t.phase} with cseq ${t.cseq} (last given out ${ctx.lastCseq})`);
      for (const v of t.yes) assert(t.voters.includes(v), () => `txn.yes: ${v} said YES to ${txid} and is not one of its voters`);
      if (t.phase === 'preparing' || t.phase === 'preventing') {
        assert(ctx.cfg.sabotage === 'commit_one_yes_missing' || !t.voters.every((v) => t.yes.has(v)), () => `txn.yes: every voter said YES to ${txid} and it is still ${t.phase}`);
      }
      if (t.phase === 'committing') assert(this.decisions.has(txid), () => `txn.decision: transaction ${txid} is committing and its decision is gone`);
      if ((t.phase === 'open' || t.phase === 'locking') && t.interactive) assert(this.connTxn.get(t.conn) === txid, () => `txn.conn: open transaction ${txid} is not the one connection ${t.conn} names`);
      assert(t.interactive || t.queue.length === 0, () => `txn.queue: one-shot transaction ${txid} has requests queued`);
      assert(t.queue.length <= LIMITS.interactiveQueue, () => `txn.queue: transaction ${txid} queues ${t.queue.length} requests, over the limit of ${LIMITS.interactiveQueue}`);
      assert(t.ops.length <= LIMITS.opsPerTransaction, () => `txn.ops: transaction ${txid} has ${t.ops.length} writes, over the limit of ${LIMITS.opsPerTransaction}`);
    }
    for (const [conn, txid] of this.connTxn) {
      const t = this.txns.get(txid);
      assert(t !== undefined && t.conn === conn && t.interactive, () => `txn.conn: connection ${conn} names transaction ${txid}, which is ${t === undefined ? 'gone' : 'not its interactive transaction'}`);
    }
    this.decisions.invariants((txid) => this.txns.get(txid)?.phase);
  }
}

/** Being prevented with no voter left to ask: only a voter without a YES coming back settles it. */
function isInDoubt(t: Txn): boolean {
  return t.phase === 'preventing' && t.waiting.size === 0;
}

/** Its voters that have not said YES. */
function withoutYes(t: Txn): string[] {
  return t.voters.filter((v) => !t.yes.has(v));
}

/** A transaction with nothing done yet (an orphan is then filled in from a worker's state). */
function blankTxn(txid: string, conn: number, interactive: boolean, now: number): Txn {
  return {
    txid,
    conn,
    interactive,
    phase: 'open',
    voters: [],
    ops: [],
    slot: null,
    queue: [],
    waiting: new Set(),
    results: null,
    digest: null,
    lockSeq: 0,
    startedAt: now,
    reason: null,
    clientAbort: false,
    batch: false,
    cseq: 0,
    config: 0,
    yes: new Set(),
    orphan: false,
    late: false,
  };
}

/**
 * A YES's results with each `{as_posted: true}` replaced by the tweet its op posted (#13 item 5);
 * null when that op is not a post known here (a worker's mistake: its results are not used).
 */
function withPosts(ops: readonly Op[], results: readonly VoteResult[]): OpResult[] | null {
  let out: OpResult[] | null = null; // copied only when there is something to put back
  for (let i = 0; i < results.length; i++) {
    const r = results[i] as VoteResult;
    if ('as_posted' in r) {
      const op = ops[i];
      if (op === undefined || op.kind !== 'post') return null;
      out ??= results.slice(0, i) as OpResult[];
      out.push({ tweet: op.tweet });
    } else out?.push(r);
  }
  return out ?? (results as OpResult[]);
}

function renderResult(r: OpResult): Record<string, unknown> {
  if ('tweet' in r) return { tweet: renderTweet(r.tweet as Tweet) };
  if ('item' in r) return { item: r.item };
  return {};
}

function okWithResult(r: OpResult): Reply {
  return { status: 'OK', ...renderResult(r) };
}
