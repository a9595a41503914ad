// The coordinator's side of two-phase commit, as a deterministic state machine.
//
// Events in (a client request, a worker's message, a link that came up or went down, a
// decision that became durable, a tick with the time), effects out (reply, send, log, link).
// src/node/coordinator-node.ts does the I/O.
//
// This class dispatches each event to the part it belongs to; the parts share one context
// (coord-context.ts):
// - coord-commit.ts: writes and two-phase commit (transactions, votes, decisions);
// - coord-members.ts: membership, each member's way back to up as one status;
// - coord-reads.ts: reads (overlay of decided commits, page cache, check, status);
// - coord-feed.ts: the change feed;
// - coord-identity.ts: the cluster served, the epoch, and whether writes are taken (forming,
//   recovering a cluster whose history this coordinator lacks, fenced by a newer one);
// - coord-resolve.ts: the operator's resolve of a transaction the coordinator no longer knows.

import { ChangeFeed } from './coord-feed.ts';
import { ClusterIdentity } from './coord-identity.ts';
import { CoordinatorContext, type CoordinatorConfig, type CoordinatorEffect, type CoordinatorEvent, type RecoveredCoordinator } from './coord-context.ts';
import { TwoPhaseCommit } from './coord-commit.ts';
import { Membership } from './coord-members.ts';
import { Reads } from './coord-reads.ts';
import { resolveTxn } from './coord-resolve.ts';
import { Tracer } from './coord-trace.ts';
import { probe } from './probes.ts';
import type { ClientRequest, FromWorker } from './types.ts';

export {
  LIMITS,
  WRONG_IDENTITY_REDIAL_MS,
  type CoordinatorConfig,
  type CoordinatorEffect,
  type CoordinatorEvent,
  type RecoveredCoordinator,
  type WorkerLinkState,
} from './coord-context.ts';
export type { ChangeEvent } from './coord-feed.ts';
export type { TraceLine, TxnTrace } from './coord-trace.ts';

export class CoordinatorCore {
  private readonly ctx: CoordinatorContext;

  constructor(cfg: CoordinatorConfig, recovered: RecoveredCoordinator) {
    // Above every cseq a former run may have given out: they are all at most its reservation.
    const ctx = new CoordinatorContext(cfg, recovered.epoch, Math.max(recovered.last_cseq, recovered.cseq_reserved ?? 0));
    ctx.members = new Membership(ctx, recovered.members, recovered.config, recovered.config_proposed ?? null);
    ctx.identity = new ClusterIdentity(ctx, recovered.cluster ?? null, recovered.empty ?? false, recovered.recovering ?? null);
    ctx.commit = new TwoPhaseCommit(ctx, recovered.decisions, recovered.last_cseq);
    ctx.reads = new Reads(ctx);
    ctx.feed = new ChangeFeed(ctx);
    ctx.trace = new Tracer(ctx);
    this.ctx = ctx;
  }

  get epoch(): number {
    return this.ctx.epoch;
  }

  get counters(): CoordinatorContext['counters'] {
    return this.ctx.counters;
  }

  /** The status reply as of `now`, read only (the runtime's metrics read it; nothing changes). */
  status(now: number): ReturnType<Reads['status']> {
    return this.ctx.reads.status(now);
  }

  /** Transactions not traced because too many were open at once. */
  get untraced(): number {
    return this.ctx.trace.untraced;
  }

  /** Does a worker take part in a transaction not yet settled, or owe a commit's ack? (The simulator wipes a disk only when not.) */
  involves(worker: string): boolean {
    return this.ctx.commit.owedBy(worker);
  }

  /** Calls `fn` with every commit or abort decided (the simulator's implicit-commit checker). */
  observeDecisions(fn: NonNullable<TwoPhaseCommit['decisionObserver']>): void {
    this.ctx.commit.decisionObserver = fn;
  }

  get lockTimeoutMs(): number {
    return this.ctx.cfg.lockTimeoutMs;
  }

  /**
   * Effects to run at start: write the identity (the epoch of this run), reserve the first cseqs.
   * Every remembered worker is linked once the identity is durable (identity_logged).
   */
  start(now: number): CoordinatorEffect[] {
    const ctx = this.ctx;
    ctx.out = [];
    ctx.now = now;
    ctx.identity.start(now);
    ctx.nextCseq(); // (none is free yet: this only asks for the first reservation)
    const out = ctx.out;
    ctx.out = [];
    return out;
  }

  handle(event: CoordinatorEvent, now: number): CoordinatorEffect[] {
    const ctx = this.ctx;
    ctx.out = [];
    ctx.now = now;
    switch (event.type) {
      case 'request':
        ctx.counters.requests++;
        this.onRequest(event.conn, event.slot, event.request, now);
        break;
      case 'conn_closed':
        ctx.feed.connClosed(event.conn);
        ctx.trace.connClosed(event.conn);
        ctx.commit.connClosed(event.conn, now);
        break;
      case 'link_up':
        ctx.members.linkUp(event.worker, now);
        break;
      case 'link_down':
        ctx.members.linkDown(event.worker, now);
        break;
      case 'worker_message':
        this.onWorkerMessage(event.worker, event.msg, now);
        break;
      case 'config_logged':
        ctx.members.onConfigLogged(event.config);
        break;
      case 'config_committed':
        ctx.members.onConfigCommitted(event.config);
        break;
      case 'cseq_reserved':
        ctx.cseqReserved(event.through);
        break;
      case 'identity_logged':
        if (ctx.identity.logged(event.seq)) ctx.members.linkAll();
        break;
      case 'tick':
        // In this order: a transaction's timeout may cut a voter off before its reads are retried.
        ctx.commit.tick(now);
        ctx.reads.tick(now);
        ctx.members.tick(now);
        break;
    }
    ctx.members.review();
    const out = ctx.out;
    ctx.out = [];
    return out;
  }

  /**
   * Asserts every invariant of every part (the `Invariants:` comments in coord-*.ts); throws an
   * InvariantError naming the first one broken. Cheap enough to run after every event: it walks
   * the transactions, decisions, members and reads in flight once each, never the data.
   */
  invariants(): void {
    const ctx = this.ctx;
    ctx.commit.invariants();
    ctx.members.invariants();
    ctx.identity.invariants();
    ctx.reads.invariants();
    ctx.feed.invariants();
    ctx.trace.invariants();
  }

  private onRequest(conn: number, slot: number, req: ClientRequest, now: number): void {
    const ctx = this.ctx;
    switch (req.action) {
      case 'post':
      case 'update':
      case 'delete':
      case 'put_item':
      case 'delete_item':
      case 'incr_item':
        ctx.commit.write(conn, slot, req, now);
        return;
      case 'transaction':
        ctx.commit.transaction(conn, slot, req.ops, now);
        return;
      case 'begin':
        ctx.commit.begin(conn, slot, now);
        return;
      case 'commit':
      case 'abort':
        ctx.commit.commitOrAbort(conn, slot, req.action, now);
        return;
      case 'get_tweets':
        ctx.reads.start(conn, slot, { kind: 'get_tweets', limit: req.limit + 1, before: req.before, username: req.username }, now);
        return;
      case 'get_tweet':
        ctx.reads.start(conn, slot, { kind: 'get_tweet', id: req.id }, now);
        return;
      case 'get_item':
        ctx.reads.start(conn, slot, { kind: 'get_item', item_kind: req.item.kind, key: req.item.key }, now);
        return;
      case 'subscribe':
        ctx.feed.subscribe(conn, slot, req.since);
        return;
      case 'trace':
        ctx.trace.subscribe(conn, slot);
        return;
      case 'status':
        ctx.reply(conn, slot, ctx.reads.status(now));
        return;
      case 'check':
        ctx.reads.check(conn, slot, now);
        return;
      case 'resolve':
        resolveTxn(ctx, conn, slot, req, now);
        return;
      case 'register':
        ctx.members.register(conn, slot, req.worker.id, req.worker.address, req.known, now);
        return;
      case 'remove_worker':
        ctx.members.removeWorker(conn, slot, req.worker);
        return;
      default: {
        // Every request gets exactly one reply: an action added to the types but not here is a bug the compiler catches.
        const unhandled: never = req;
        throw new Error(`unhandled request ${JSON.stringify(unhandled)}`);
      }
    }
  }

  private onWorkerMessage(worker: string, msg: FromWorker, now: number): void {
    const ctx = this.ctx;
    const m = ctx.members.heard(worker, now);
    if (m === null) return; // from a link we no longer trust
    switch (msg.type) {
      case 'state':
        ctx.members.onState(m, msg, now);
        return;
      case 'refused':
        ctx.members.onRefused(m, msg, now);
        return;
      case 'locked':
      case 'lock_refused':
        ctx.commit.onLockAnswer(worker, msg, now);
        return;
      case 'vote': {
        // Taken in the order the worker sent them (VoteNumber).
        for (const v of ctx.members.votesInOrder(m, msg, now)) {
          // A sole voter's YES is its commit, durable: for the membership it is the ack of an outcome owed.
          const onePhase = v.yes && ctx.commit.txns.get(v.txid)?.voters.length === 1;
          ctx.commit.onVote(worker, v, now);
          if (onePhase) {
            ctx.members.onAck(m, v.txid);
            ctx.members.maybeInSync(m);
          }
        }
        return;
      }
      case 'applied':
        ctx.commit.onApplied(worker, msg.txid, now);
        return;
      case 'ack':
        // A commit acked for a transaction whose vote was not taken yet, while an earlier vote of
        // this worker is missing: taken now, it would be decided before a commit the worker applied
        // first (a sole voter's, whose YES is its commit), and the learners' stream would replay a
        // post after the delete that followed it (simulator seed 978126). Its vote comes in order,
        // or the link starts over and its state says what it holds.
        if (msg.outcome === 'commit' && ctx.members.votesMissing(m) && ctx.commit.undecided(msg.txid)) {
          probe('coord.ack_waits_for_votes');
          return;
        }
        ctx.members.onAck(m, msg.txid);
        ctx.commit.onAck(worker, msg.txid, msg.outcome, now, msg.results);
        ctx.members.maybeInSync(m);
        return;
      case 'query':
        ctx.commit.onQuery(worker, msg.txid);
        return;
      case 'read_failed':
        // A read's or a copy page's: each part knows the rids it asked.
        if (!ctx.members.onCopyFailed(m, msg.rid, msg.error)) ctx.reads.onResult(m, msg, now);
        return;
      case 'read_result':
      case 'read_text':
        ctx.reads.onResult(m, msg, now);
        return;
      case 'copy_page':
        ctx.members.onCopyPage(m, msg.rid, msg.rows);
        return;
      case 'installed':
        ctx.members.onInstalled(m, msg.rid, msg.done);
        return;
      case 'replicated':
        ctx.members.onReplicated(m, msg.seq);
        return;
      case 'config_ack':
        ctx.members.onConfigAck(m, msg.config);
        return;
    }
  }
}
