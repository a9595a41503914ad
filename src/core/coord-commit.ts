// Dispatch of writes and two-phase commit: transactions (one-shot and interactive), votes,
// decisions and their acknowledgements, and the lock timeout of each.
//
// The rules:
// - the voters of a transaction are the configuration's when it starts (Membership.votingSet),
//   fixed from then on, and named with the configuration's number in every lock and prepare; a
//   write while a voter is not up is refused at once with UNAVAILABLE naming it;
// - commit is decided only with every YES in hand, and logged durably before anyone is told
//   (presumed abort: no record means abort, so aborts are not logged);
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
import type { Failure, FromWorker, Op, OpResult, Peer, Reply, Tweet, WriteRequest } from './types.ts';
import type { Queued, Txn } from './coord-txn.ts';

export class TwoPhaseCommit {
  private readonly ctx: CoordinatorContext;
  readonly txns = new Map<string, Txn>();
  private readonly connTxn = new Map<number, string>();
  readonly decisions: Decisions;
  /** By txid: when the transaction's lock timeout runs out (the whole transaction, or each of its phases). */
  private readonly txnDeadlines = new Deadlines<string>();
  private txnSeq = 0;
  private readonly opMaker: OpMaker;

  constructor(ctx: CoordinatorContext, recovered: readonly Omit<Decision, 'unacked'>[]) {
    this.ctx = ctx;
    this.decisions = new Decisions(ctx, recovered);
    this.opMaker = new OpMaker(ctx.epoch);
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
    const t: Txn = {
      txid: `${this.ctx.epoch}.${this.txnSeq}`,
      conn,
      interactive,
      phase: 'open',
      voters: [],
      ops: [],
      slot: null,
      queue: [],
      waiting: new Set(),
      results: null,
      lockSeq: 0,
      startedAt: now,
      reason: null,
      clientAbort: false,
      batch: false,
      cseq: 0,
      config: 0,
    };
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
    this.txnDeadlines.set(t.txid, now + this.ctx.cfg.lockTimeoutMs);
    this.sendPrepare(t, ops, now);
  }

  private sendPrepare(t: Txn, ops: Op[] | null, now: number): void {
    this.ctx.trace.prepareSent(t.txid, t.voters, now);
    t.phase = 'preparing';
    t.waiting = new Set(t.voters);
    t.results = null;
    // Each voter learns who the others are, to ask them if this coordinator goes away.
    const voters: Peer[] = t.voters.map((id) => ({ id, address: this.ctx.members.addressOf(id) ?? '' }));
    const members = this.ctx.members;
    for (const w of t.voters) this.ctx.send(w, { type: 'prepare', txid: t.txid, ops, voters, config: t.config, floor: members.floorOf(w) });
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
        this.abortTxn(t, { code: 'INVALID', error: 'aborted by the client' }, now);
        return;
      }
      if (q.kind === 'commit') {
        if (t.ops.length === 0) {
          this.finish(t, null);
          return;
        }
        const gone = members.firstNotUp(t.voters);
        if (gone !== null) {
          this.abortTxn(t, gone, now);
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
        const set = members.votingSet();
        if (!set.ok) {
          this.abortTxn(t, set.failure, now);
          return;
        }
        t.voters = set.voters;
        t.config = set.config;
        // The lock timeout runs from the first lock.
        this.txnDeadlines.set(t.txid, now + this.ctx.cfg.lockTimeoutMs);
      } else {
        const gone = members.firstNotUp(t.voters);
        if (gone !== null) {
          this.abortTxn(t, gone, now);
          return;
        }
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
      this.abortTxn(t, { code: 'INVALID', error: 'the client closed its connection' }, now);
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
      this.abortTxn(t, { code: msg.code, error: msg.error }, now);
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
    if (t === undefined || t.phase !== 'preparing' || !t.waiting.has(worker)) {
      probe('coord.duplicate_vote_ignored');
      return;
    }
    ctx.trace.step(t.txid, 'votes', worker, now);
    if (!msg.yes) {
      this.abortTxn(t, { code: msg.code, error: msg.error }, now);
      return;
    }
    t.waiting.delete(worker);
    if (t.results === null) t.results = msg.results;
    else if (!isDeepStrictEqual(t.results, msg.results)) {
      ctx.log('error', 'workers computed different results for one transaction', { txid: t.txid, worker });
    }
    if (t.waiting.size === 0) {
      ctx.lastCseq++;
      t.cseq = ctx.lastCseq;
      t.phase = 'logging';
      ctx.emit({ type: 'log_commit', txid: t.txid, cseq: t.cseq, voters: t.voters, at: now });
      if (ctx.cfg.sabotage === 'commit_before_log') for (const v of t.voters) ctx.send(v, { type: 'commit', txid: t.txid, cseq: t.cseq });
    }
  }

  /** Visible on this voter: the client may be answered once every linked voter says so. The decision is kept until the acks say the commit is durable everywhere. */
  onApplied(worker: string, txid: string, now: number): void {
    this.ctx.trace.step(txid, 'applied', worker, now);
    const t = this.txns.get(txid);
    if (t !== undefined && t.phase === 'committing' && t.waiting.delete(worker) && t.waiting.size === 0) this.finish(t, null);
  }

  onLogged(txid: string, now: number): void {
    const ctx = this.ctx;
    const t = this.mustTxn(txid);
    assert(t.phase === 'logging', `logged ${txid} in phase ${t.phase}: only a commit being logged is`);
    this.decisions.add(txid, t.cseq, t.voters, now);
    ctx.trace.decided(txid, 'commit', null, now);
    ctx.decisionCount++;
    t.phase = 'committing';
    t.waiting = new Set();
    ctx.reads.decided(t.cseq, t.ops, t.results ?? []);
    // Learners, and voters promoted after it was prepared, get it streamed.
    ctx.members.committed(txid, t.cseq, t.ops, t.voters);
    // A voter unreachable now learns the outcome when it comes back, before it is up again.
    this.txnDeadlines.set(txid, now + ctx.cfg.lockTimeoutMs);
    for (const w of t.voters) {
      if (ctx.members.isLinked(w)) {
        t.waiting.add(w);
        ctx.send(w, { type: 'commit', txid, cseq: t.cseq });
      }
    }
    ctx.counters.commits++;
    if (t.waiting.size === 0) this.finish(t, null);
  }

  onAck(worker: string, txid: string, outcome: 'commit' | 'abort', now: number): void {
    this.ctx.trace.step(txid, 'acks', worker, now);
    if (outcome === 'commit') this.decisions.acked(worker, txid);
    // An ack counts only for the outcome the transaction is waiting on: an unprompted abort ack
    // (a worker that timed out alone) arriving during the vote is not a vote.
    const t = this.txns.get(txid);
    const expected = t === undefined ? null : t.phase === 'committing' ? 'commit' : t.phase === 'aborting' ? 'abort' : null;
    if (t !== undefined && outcome === 'abort' && expected !== 'abort') probe('coord.stray_abort_ack');
    if (t !== undefined && expected === outcome && t.waiting.delete(worker) && t.waiting.size === 0) {
      if (t.phase === 'committing') this.finish(t, null);
      else this.finishAbort(t);
    }
  }

  /** A prepared worker asks what happened. Presumed abort: no decision and not in flight means abort. */
  onQuery(worker: string, txid: string): void {
    const d = this.decisions.get(txid);
    if (d !== undefined) {
      probe('coord.decision_resent_on_query');
      this.ctx.send(worker, { type: 'commit', txid, cseq: d.cseq });
      return;
    }
    const t = this.txns.get(txid);
    if (t !== undefined && (t.phase === 'preparing' || t.phase === 'logging' || t.phase === 'committing')) return; // still deciding
    probe('coord.presumed_abort_answer');
    this.ctx.send(worker, { type: 'abort', txid });
  }

  private abortTxn(t: Txn, reason: Failure, now: number): void {
    assert(t.phase !== 'logging' && t.phase !== 'committing', `abort of ${t.txid} after its commit was decided`);
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
        this.abortTxn(t, { code: 'UNAVAILABLE', error: `worker ${worker} (${address}) went down during the transaction` }, now);
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
   * A worker answered hello listing the transactions it is prepared on: send it every outcome it
   * is owed (logged commits, and aborts for what nobody decided). Returns the txids sent.
   */
  redrive(worker: string, prepared: readonly string[]): string[] {
    const owed: string[] = [];
    for (const txid of prepared) {
      const t = this.txns.get(txid);
      if (t !== undefined && (t.phase === 'preparing' || t.phase === 'logging' || t.phase === 'committing')) {
        // Only if it still owes its ack: one that acknowledged the commit has applied it, and a
        // `state` listing it prepared is older than that ack (a duplicated or overtaken line;
        // simulator seeds 992 and 1091).
        if (t.phase === 'committing' && !t.waiting.has(worker) && this.decisions.get(txid)?.unacked.has(worker) === true) {
          t.waiting.add(worker);
        } else continue;
      }
      if (this.decisions.has(txid)) continue; // sent below
      owed.push(txid);
      this.ctx.send(worker, { type: 'abort', txid });
    }
    for (const d of this.decisions.values()) {
      if (!d.unacked.has(worker)) continue;
      owed.push(d.txid);
      this.ctx.send(worker, { type: 'commit', txid: d.txid, cseq: d.cseq });
    }
    return owed;
  }

  /** Does a worker still take part in a transaction, or owe the ack of a commit? */
  owedBy(worker: string): boolean {
    for (const t of this.txns.values()) if (t.phase !== 'failed' && t.voters.includes(worker)) return true;
    for (const d of this.decisions.values()) if (d.unacked.has(worker)) return true;
    return false;
  }

  /** The highest cseq below which every commit is applied on every up voter: none is being logged or applied. */
  settledThrough(): number {
    let low = this.ctx.lastCseq;
    for (const t of this.txns.values()) if ((t.phase === 'logging' || t.phase === 'committing') && t.cseq - 1 < low) low = t.cseq - 1;
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
          this.abortTxn(t, { code: 'TIMEOUT', error: `transaction ${t.txid} was not committed within the lock timeout (${T} s) and was aborted; its locks are released` }, now);
          break;
        case 'locking':
        case 'preparing': {
          const silent = [...t.waiting];
          const failure: Failure =
            silent.length > 0
              ? { code: 'UNAVAILABLE', error: `worker ${silent.map((w) => `${w} (${ctx.members.addressOf(w) ?? '?'})`).join(', ')} did not answer within the lock timeout (${T} s)` }
              : { code: 'TIMEOUT', error: `transaction ${t.txid} exceeded the lock timeout (${T} s) and was aborted` };
          this.abortTxn(t, failure, now);
          // A voter silent for a whole lock timeout is cut off: until it answers again, writes
          // are refused at once (UNAVAILABLE) instead of each waiting out the timeout.
          if (silent.length > 0) probe('coord.silent_voter_cut_off');
          for (const w of silent) ctx.members.cutOff(w, now, `did not answer transaction ${t.txid} within the lock timeout`);
          break;
        }
        case 'committing':
          // The decision is durable; a voter that does not acknowledge in time is cut off and
          // re-driven when it reconnects, rather than holding the client hostage.
          if (t.waiting.size > 0) probe('coord.unapplied_commit_cut_off');
          for (const w of t.waiting) ctx.members.cutOff(w, now, `did not acknowledge commit ${t.txid} within the lock timeout`);
          break;
        case 'aborting':
          this.finishAbort(t);
          break;
        case 'logging':
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
      const waitsOnLinks = t.phase === 'locking' || t.phase === 'preparing' || t.phase === 'committing' || t.phase === 'aborting';
      for (const w of t.waiting) {
        assert(t.voters.includes(w), () => `txn.waiting: transaction ${txid} waits on ${w}, which is not one of its voters`);
        if (waitsOnLinks) assert(ctx.members.isLinked(w), () => `txn.waiting: transaction ${txid} (${t.phase}) waits on ${w}, which is not linked`);
      }
      if (t.phase === 'open' || t.phase === 'failed') assert(t.interactive, () => `txn.phase: one-shot transaction ${txid} is ${t.phase}`);
      if (t.phase === 'locking' || t.phase === 'preparing') assert(t.waiting.size > 0, () => `txn.phase: transaction ${txid} is ${t.phase} and waits on no one`);
      if (t.phase === 'logging') assert(t.waiting.size === 0, () => `txn.phase: transaction ${txid} is logging and still waits on ${[...t.waiting].join(', ')}`);
      const decided = t.phase === 'logging' || t.phase === 'committing';
      assert(decided === t.cseq > 0 && t.cseq <= ctx.lastCseq, () => `txn.cseq: transaction ${txid} is ${t.phase} with cseq ${t.cseq} (last decided ${ctx.lastCseq})`);
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

function renderResult(r: OpResult): Record<string, unknown> {
  if ('tweet' in r) return { tweet: renderTweet(r.tweet as Tweet) };
  if ('item' in r) return { item: r.item };
  return {};
}

function okWithResult(r: OpResult): Reply {
  return { status: 'OK', ...renderResult(r) };
}
