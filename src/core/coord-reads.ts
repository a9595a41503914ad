// Reads: served by one up worker from its committed data; they never block on locks. The
// overlay of commits decided but not yet applied everywhere, the page cache, check and status.

import { assert } from './assert.ts';
import { LIMITS, type CoordinatorContext } from './coord-context.ts';
import { publicState, type Member } from './coord-members.ts';
import { Deadlines } from './deadlines.ts';
import { probe } from './probes.ts';
import { pageKey, renderTweet, tweetsPage } from './render.ts';
import { lockKeyOf, opTweetId } from './types.ts';
import { errorReply } from '../wire/errors.ts';
import type { FromWorker, Item, Op, OpResult, ReadQuery, Reply, ToWorker, Tweet } from './types.ts';

/**
 * A read sent to a worker, waiting for its answer.
 *
 * Invariants:
 * - read.worker: it was sent to `worker`, which is among those it `tried`, and is linked;
 * - read.check: a part of a check is counted in its aggregate's outstanding parts;
 * - read.deadline: every pending read has one, and only pending reads do.
 */
interface PendingRead {
  conn: number;
  slot: number;
  query: ReadQuery;
  worker: string;
  tried: Set<string>;
  /** For `check`: the aggregate this part belongs to. */
  check: CheckAggregate | null;
  /** Values decided by transactions still committing when the read started (id -> tweet, null: deleted). */
  overlay: Map<string, Tweet | null> | null;
  /** get_tweets: the page size the client asked for. */
  pageSize: number;
  /** Commits decided before this read was sent (decisionCount then). */
  decisions: number;
  /** ctx.prepareCount when it was sent. */
  prepares: number;
}

/** A question asked of every member at once (check, resolve): each answer, or why there is none, by worker id. */
interface CheckAggregate {
  parts: Map<string, Record<string, unknown>>;
  outstanding: number;
  /** Called once, when every member has answered or been given up on. */
  done: (parts: Map<string, Record<string, unknown>>) => void;
}

/**
 * Invariants (besides each read's):
 * - reads.overlay: every decided value not yet applied everywhere belongs to a commit still
 *   `committing` with that cseq (it goes when that commit is applied by every reachable voter);
 * - reads.pages: at most LIMITS.cachedPages pages are kept, and none while the overlay is not empty.
 */
export class Reads {
  private readonly ctx: CoordinatorContext;
  private readonly reads = new Map<number, PendingRead>();
  /** By rid: when a read not answered goes to another worker. */
  private readonly deadlines = new Deadlines<number>();
  private robin = 0;
  /**
   * The latest value decided for each tweet a transaction still being committed wrote
   * (null: deleted). A later commit of the same id replaces it; it goes when the
   * transaction that wrote it has been applied by every reachable voter.
   */
  private readonly decidedTweets = new Map<string, { cseq: number; value: Tweet | null }>();
  /** The same for items, by lock key (`user:ada`). */
  private readonly decidedItems = new Map<string, { cseq: number; value: Item | null }>();
  /**
   * get_tweets reply lines, by query, as an up worker rendered them while nothing was committing
   * and no commit had been decided since the read was sent: the committed data they show has not
   * changed while no further commit is decided. Emptied by every decision.
   */
  private readonly pages = new Map<string, string>();

  constructor(ctx: CoordinatorContext) {
    this.ctx = ctx;
  }

  // -------------------------------------------------------------------------
  // The overlay of decided commits

  /** A prepare went out (or an orphan was taken up): the data may change without a decision here, so no page kept is current. */
  preparing(): void {
    this.pages.clear();
  }

  /** A commit decided outside the overlay (late, or an orphan's): no page kept is current. */
  dataChanged(): void {
    this.pages.clear();
  }

  /** A commit is decided (durable): until it is applied everywhere, reads see what it wrote. */
  decided(cseq: number, ops: readonly Op[], results: readonly OpResult[]): void {
    this.pages.clear();
    ops.forEach((op, i) => {
      const r = results[i];
      if (op.kind === 'delete') this.decidedTweets.set(op.id, { cseq, value: null });
      else if (op.kind === 'delete_item') this.decidedItems.set(lockKeyOf(op), { cseq, value: null });
      else if (r !== undefined && 'tweet' in r) this.decidedTweets.set(r.tweet.id, { cseq, value: r.tweet as Tweet });
      else if (r !== undefined && 'item' in r) this.decidedItems.set(lockKeyOf(op), { cseq, value: r.item as Item });
    });
  }

  /** The commit is applied by every reachable voter: its values are what any worker shows now. */
  applied(cseq: number, ops: readonly Op[]): void {
    for (const op of ops) {
      const id = opTweetId(op);
      if (id !== null && this.decidedTweets.get(id)?.cseq === cseq) this.decidedTweets.delete(id);
      const key = lockKeyOf(op);
      if (id === null && this.decidedItems.get(key)?.cseq === cseq) this.decidedItems.delete(key);
    }
  }

  /**
   * What transactions whose commit is durable but not yet applied everywhere wrote. While one
   * is in that state, one worker may show its writes and another not yet: a read that saw the
   * new value and a later read on another worker that saw the old one would not be
   * linearizable. Reads therefore see these values whichever worker serves them.
   */
  private committingOverlay(): Map<string, Tweet | null> | null {
    if (this.decidedTweets.size === 0) return null;
    return new Map([...this.decidedTweets].map(([id, d]) => [id, d.value]));
  }

  // -------------------------------------------------------------------------
  // Client reads

  start(conn: number, slot: number, query: ReadQuery, now: number): void {
    const ctx = this.ctx;
    const overlay = this.committingOverlay();
    if (query.kind === 'get_tweet' && overlay !== null && overlay.has(query.id)) {
      ctx.reply(conn, slot, readReply({ query, overlay: null, pageSize: 0 }, { tweet: overlay.get(query.id) ?? null }));
      return;
    }
    const decidedItem = query.kind === 'get_item' ? this.decidedItems.get(`${query.item_kind}:${query.key}`) : undefined;
    if (query.kind === 'get_item' && decidedItem !== undefined) {
      ctx.reply(conn, slot, readReply({ query, overlay: null, pageSize: 0 }, { item: decidedItem.value }));
      return;
    }
    // No up worker, no read: not even of a page kept here, so that reads fail alike whatever they ask.
    if (!ctx.members.anyUp()) {
      ctx.reply(conn, slot, errorReply('UNAVAILABLE', noReaderMessage(ctx.members.size)));
      return;
    }
    if (query.kind === 'get_tweets' && overlay === null) {
      const page = this.pages.get(pageKey(query));
      if (page !== undefined) {
        ctx.counters.reads++;
        ctx.emit({ type: 'reply_text', conn, slot, text: page });
        return;
      }
    }
    let pageSize = 0;
    if (query.kind === 'get_tweets') {
      pageSize = query.limit - 1;
      // Rows the overlay removes must not shorten the page: ask for as many more.
      if (overlay !== null) query = { ...query, limit: query.limit + overlay.size };
    }
    // Never a voter still applying a commit decided late that writes what this read looks at.
    const barred = ctx.commit.readersBarredBy(query);
    const up = barred.size === 0 ? ctx.members.upMembers() : ctx.members.upMembers().filter((m) => !barred.has(m.id));
    if (up.length === 0) {
      ctx.reply(conn, slot, errorReply('UNAVAILABLE', `what this read looks at is written by a commit decided late (after a fault) that no worker serving reads has applied yet; try again in a moment`));
      return;
    }
    const w = up[this.robin++ % up.length] as Member;
    const r: PendingRead = { conn, slot, query, worker: w.id, tried: new Set([w.id, ...barred]), check: null, overlay, pageSize, decisions: ctx.decisionCount, prepares: ctx.prepareCount };
    this.sendRead(r, now);
  }

  private sendRead(r: PendingRead, now: number): void {
    const rid = this.ctx.nextRid++;
    this.reads.set(rid, r);
    this.deadlines.set(rid, now + this.ctx.cfg.lockTimeoutMs);
    this.ctx.send(r.worker, readMessage(rid, r));
  }

  private forget(rid: number): void {
    this.reads.delete(rid);
    this.deadlines.clear(rid);
  }

  private retry(rid: number, r: PendingRead, now: number, why: string): void {
    const ctx = this.ctx;
    this.forget(rid);
    if (r.check !== null) {
      this.checkPart(r.check, r.worker, { error: why });
      return;
    }
    const next = ctx.members.upMembers().find((m) => !r.tried.has(m.id));
    if (next === undefined) {
      ctx.reply(r.conn, r.slot, errorReply('UNAVAILABLE', `${why}, and no other worker could serve the read`));
      return;
    }
    probe('coord.read_retried');
    r.tried.add(next.id);
    this.sendRead({ ...r, worker: next.id }, now);
  }

  onResult(m: Member, msg: Extract<FromWorker, { type: 'read_result' | 'read_failed' | 'read_text' }>, now: number): void {
    const ctx = this.ctx;
    const r = this.reads.get(msg.rid);
    // An answer nobody waits for any more: the read went to another worker, or was answered.
    if (r === undefined || r.worker !== m.id) return;
    this.forget(msg.rid);
    if (msg.type === 'read_text') {
      // Asked for only when no overlay applies: the worker's line is the answer as it stands.
      assert(r.overlay === null && r.check === null, `read ${msg.rid} was answered as text but needs the coordinator's view`);
      ctx.counters.reads++;
      // Kept only if nothing could have changed the data meanwhile: no decision, and no transaction
      // whose prepare went out (a sole voter applies its commit before this coordinator hears
      // of it; voters may commit one without it).
      if (r.query.kind === 'get_tweets' && r.decisions === ctx.decisionCount && r.prepares === ctx.prepareCount && !ctx.commit.anyPrepared()) {
        if (this.pages.size >= LIMITS.cachedPages) this.pages.clear();
        this.pages.set(pageKey(r.query), msg.text);
      }
      ctx.emit({ type: 'reply_text', conn: r.conn, slot: r.slot, text: msg.text });
      return;
    }
    if (msg.type === 'read_failed' && msg.in_doubt !== undefined && r.check === null) {
      // Its copy may lack a commit its voters settled without the coordinator: ask another.
      this.retry(msg.rid, r, now, `worker ${m.id} holds transaction ${msg.in_doubt} in doubt`);
      return;
    }
    if (msg.type === 'read_failed') {
      if (r.check !== null) this.checkPart(r.check, m.id, { error: msg.error });
      else ctx.reply(r.conn, r.slot, errorReply('INTERNAL', `worker ${m.id} failed to read: ${msg.error}`));
      return;
    }
    ctx.counters.reads++;
    if (r.check !== null) {
      this.checkPart(r.check, m.id, msg.result as Record<string, unknown>);
      return;
    }
    ctx.reply(r.conn, r.slot, readReply(r, msg.result));
  }

  /** Reads sent to a worker whose link went down go to another. */
  workerDown(worker: string, now: number): void {
    for (const [rid, r] of [...this.reads]) {
      if (r.worker === worker) this.retry(rid, r, now, `worker ${worker} went down`);
    }
  }

  tick(now: number): void {
    for (const rid of this.deadlines.due(now)) {
      const r = this.reads.get(rid);
      if (r !== undefined) this.retry(rid, r, now, `worker ${r.worker} did not answer within the lock timeout`);
    }
  }

  // -------------------------------------------------------------------------
  // check and status

  check(conn: number, slot: number, now: number): void {
    this.askEveryMember(conn, slot, { kind: 'check' }, now, (parts) => this.ctx.reply(conn, slot, { status: 'OK', workers: this.byMember(parts) }));
  }

  /**
   * Asks every member that answers the same question; `done` gets, by worker id, each one's
   * `state` with its result or an `error` (it failed, went down or was silent for the lock
   * timeout); a member that does not answer at all (down, greeting) is there with its state only.
   */
  askEveryMember(conn: number, slot: number, query: ReadQuery, now: number, done: CheckAggregate['done']): void {
    const ctx = this.ctx;
    const agg: CheckAggregate = { parts: new Map(), outstanding: 0, done };
    for (const m of ctx.members.all()) {
      if (!ctx.members.answers(m)) {
        agg.parts.set(m.id, { state: publicState(m) });
        continue;
      }
      const rid = ctx.nextRid++;
      agg.outstanding++;
      this.reads.set(rid, { conn, slot, query, worker: m.id, tried: new Set([m.id]), check: agg, overlay: null, pageSize: 0, decisions: ctx.decisionCount, prepares: ctx.prepareCount });
      this.deadlines.set(rid, now + ctx.cfg.lockTimeoutMs);
      ctx.send(m.id, { type: 'read', rid, query });
    }
    if (agg.outstanding === 0) agg.done(agg.parts);
  }

  /** Every member in order, each with its address and its part of an askEveryMember. */
  byMember(parts: Map<string, Record<string, unknown>>): Record<string, unknown>[] {
    return [...this.ctx.members.all()].map((m) => ({ id: m.id, address: m.address, ...(parts.get(m.id) ?? { state: publicState(m) }) }));
  }

  private checkPart(agg: CheckAggregate, worker: string, part: Record<string, unknown>): void {
    const ctx = this.ctx;
    const m = ctx.members.get(worker);
    agg.parts.set(worker, { state: m === undefined ? 'down' : publicState(m), ...part });
    agg.outstanding--;
    if (agg.outstanding === 0) agg.done(agg.parts);
  }

  status(now: number): Reply {
    const ctx = this.ctx;
    const inDoubt: Record<string, unknown>[] = [];
    for (const t of ctx.commit.txns.values()) {
      if (t.phase === 'preparing' || t.phase === 'preventing' || t.phase === 'committing') {
        // A transaction being prevented with no one left to ask waits for the voters without a YES to come back.
        const waitingFor = ctx.commit.inDoubtOn(t.txid) ?? [...t.waiting];
        inDoubt.push({ txid: t.txid, state: t.phase, age_ms: now - t.startedAt, waiting_for: waitingFor });
      }
    }
    for (const d of ctx.commit.decisions.values()) {
      if (ctx.commit.txns.has(d.txid)) continue;
      inDoubt.push({ txid: d.txid, state: 'committed', age_ms: now - d.at, waiting_for: [...d.unacked] });
    }
    return {
      status: 'OK',
      // The cluster served, this coordinator's epoch, and whether it takes writes (forming, recovering, fenced, serving).
      identity: ctx.identity.describe(),
      lock_timeout_s: ctx.lockTimeoutS,
      config: { n: ctx.members.config.n, voters: [...ctx.members.config.voters] },
      evict_after_s: ctx.cfg.evictAfterMs / 1000,
      min_voters: ctx.cfg.minVoters,
      ...(ctx.cfg.openMode === true ? { open_mode: 'no cluster key: any process on this machine can act as a node of this cluster; give every node --cluster-key-file' } : {}),
      workers: [...ctx.members.all()].map((m) => ({ id: m.id, address: m.address, state: publicState(m), ...ctx.members.describe(m) })),
      in_doubt: inDoubt,
      counters: {
        commits: ctx.counters.commits,
        aborts: { ...ctx.counters.aborts },
        reads: ctx.counters.reads,
        requests: ctx.counters.requests,
        open_transactions: ctx.commit.txns.size,
        last_cseq: ctx.lastCseq,
        evictions: ctx.members.counts.evictions,
        promotions: ctx.members.counts.promotions,
        removals: ctx.members.counts.removals,
        rejoins: ctx.members.counts.rejoins,
        in_doubt_replies: ctx.counters.inDoubt,
        ...(ctx.cfg.ioStats?.() ?? {}),
      },
    };
  }

  // -------------------------------------------------------------------------

  invariants(): void {
    const ctx = this.ctx;
    assert(this.deadlines.size === this.reads.size, () => `read.deadline: ${this.deadlines.size} read deadlines for ${this.reads.size} pending reads`);
    for (const [rid, r] of this.reads) {
      assert(this.deadlines.has(rid), () => `read.deadline: read ${rid} has no deadline`);
      assert(r.tried.has(r.worker) && ctx.members.isLinked(r.worker), () => `read.worker: read ${rid} waits on ${r.worker}, which is ${ctx.members.isLinked(r.worker) ? 'not among those tried' : 'not linked'}`);
      if (r.check !== null) assert(r.check.outstanding > 0, () => `read.check: read ${rid} is part of a check that waits on nothing`);
    }
    if (this.decidedTweets.size > 0 || this.decidedItems.size > 0) {
      const committing = new Set<number>();
      for (const t of ctx.commit.txns.values()) if (t.phase === 'committing') committing.add(t.cseq);
      for (const [id, d] of this.decidedTweets) assert(committing.has(d.cseq), () => `reads.overlay: tweet ${id} was decided by commit ${d.cseq}, which is no longer being applied`);
      for (const [key, d] of this.decidedItems) assert(committing.has(d.cseq), () => `reads.overlay: ${key} was decided by commit ${d.cseq}, which is no longer being applied`);
    }
    assert(this.pages.size <= LIMITS.cachedPages, () => `reads.pages: ${this.pages.size} pages kept, over the limit of ${LIMITS.cachedPages}`);
    assert(this.pages.size === 0 || this.decidedTweets.size === 0, () => `reads.pages: ${this.pages.size} pages kept while ${this.decidedTweets.size} decided tweets are not applied everywhere`);
  }
}

/** A read as sent to a worker: get_tweets with nothing to overlay is answered as the client's line itself. */
function readMessage(rid: number, r: PendingRead): ToWorker {
  if (r.query.kind === 'get_tweets' && r.overlay === null && r.check === null) return { type: 'read', rid, query: r.query, reply_text: true };
  return { type: 'read', rid, query: r.query };
}

function readReply(r: Pick<PendingRead, 'query' | 'overlay' | 'pageSize'>, result: unknown): Reply {
  const query = r.query;
  switch (query.kind) {
    case 'get_tweets': {
      let rows = (result as { tweets: Tweet[] }).tweets;
      if (r.overlay !== null) {
        const ov = r.overlay;
        const before = query.before;
        rows = rows.filter((t) => !ov.has(t.id));
        for (const t of ov.values()) {
          if (t === null || (query.username !== null && t.username !== query.username)) continue;
          if (before !== null && !(t.created_at < before.created_at || (t.created_at === before.created_at && t.id < before.id))) continue;
          rows.push(t);
        }
        rows.sort((a, b) => b.created_at - a.created_at || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0));
      }
      return tweetsPage(rows, r.pageSize);
    }
    case 'get_tweet': {
      const t = (result as { tweet: Tweet | null }).tweet;
      if (t === null) return errorReply('NOT_FOUND', `tweet ${query.id} does not exist`);
      return { status: 'OK', tweet: renderTweet(t) };
    }
    case 'get_item': {
      const item = (result as { item: Item | null }).item;
      if (item === null) return errorReply('NOT_FOUND', `${query.item_kind} ${query.key} does not exist`);
      return { status: 'OK', item };
    }
    default:
      return { status: 'OK', result };
  }
}

function noReaderMessage(members: number): string {
  return members === 0
    ? 'no worker has registered with this coordinator yet; start one with `tweetdb worker PORT`'
    : 'no worker is up to serve reads; see {"action":"status"}';
}
