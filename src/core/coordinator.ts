// The coordinator's side of two-phase commit, as a deterministic state machine.
//
// Events in (a client request, a worker's message, a link that came up or went
// down, a decision that became durable, a tick with the time), effects out
// (reply, send, log, link). src/node/coordinator-node.ts does the I/O.
//
// The rules:
// - every registered worker votes on every write; a write while one is not up
//   is refused at once with UNAVAILABLE naming it;
// - commit is decided only with every YES in hand, and logged durably before
//   anyone is told (presumed abort: no record means abort, so aborts are not logged);
// - the client hears OK once every voter that is still reachable has applied
//   the commit; a voter that went away gets the decision when it comes back,
//   and is not "up" (it neither votes nor serves reads) until it has it;
// - nothing undecided outlives the lock timeout.

import { strict as assert } from 'node:assert';
import { isDeepStrictEqual } from 'node:util';
import { pageKey, renderTweet, tweetsPage } from './render.ts';
import { lockKeyOf, opTweetId } from './types.ts';
import { CORE_LIMITS as LIMITS } from '../wire/limits.ts';
import type {
  ClientRequest,
  CopyRow,
  Item,
  ErrorCode,
  Failure,
  FromWorker,
  Op,
  OpResult,
  Peer,
  ReadQuery,
  Reply,
  Sabotage,
  ToWorker,
  Tweet,
  WorkerState,
  WriteRequest,
} from './types.ts';

export type WorkerLinkState = 'up' | 'down' | 'joining';

export type CoordinatorEffect =
  | { type: 'reply'; conn: number; slot: number; reply: Reply }
  /** A reply already rendered as its line (a JSON object, no newline): a worker's read_text, passed on unparsed. */
  | { type: 'reply_text'; conn: number; slot: number; text: string }
  /** A line outside the request/reply order: a change event to a subscriber. */
  | { type: 'push'; conn: number; line: ChangeEvent }
  | { type: 'send'; worker: string; msg: ToWorker }
  | { type: 'log_commit'; txid: string; cseq: number; voters: string[]; at: number }
  | { type: 'forget_decision'; txid: string }
  | { type: 'save_member'; id: string; address: string }
  | { type: 'remove_member'; id: string }
  /** Keep a connection open to this worker (reconnecting as needed), or stop. */
  | { type: 'link'; worker: string; address: string; afterMs?: number }
  | { type: 'unlink'; worker: string }
  | { type: 'log'; level: 'info' | 'warn' | 'error'; msg: string; data?: Record<string, unknown> };

export type CoordinatorEvent =
  | { type: 'request'; conn: number; slot: number; request: ClientRequest }
  | { type: 'conn_closed'; conn: number }
  | { type: 'link_up'; worker: string }
  | { type: 'link_down'; worker: string }
  | { type: 'worker_message'; worker: string; msg: FromWorker }
  /** A log_commit effect is on disk. */
  | { type: 'logged'; txid: string }
  | { type: 'tick' };

export interface RecoveredCoordinator {
  epoch: number;
  last_cseq: number;
  members: { id: string; address: string }[];
  decisions: { txid: string; cseq: number; voters: string[]; at: number }[];
}

export interface CoordinatorConfig {
  lockTimeoutMs: number;
  /** Pages of a full copy to a joining worker. */
  copyPageRows: number;
  /** Counters kept by the runtime (fsyncs, ...), shown by status. Reading them does no I/O. */
  ioStats?: () => Record<string, number>;
  /** Test-only: break one rule on purpose (see Sabotage). */
  sabotage?: Sabotage;
}

interface Member {
  id: string;
  address: string;
  state: WorkerLinkState;
  linked: boolean;
  /** From the worker's last `state` message. */
  maxCseq: number;
  /** Outcomes sent while it rejoins, not yet acknowledged. */
  resolving: Set<string>;
  helloPending: boolean;
  copy: { rid: number; donor: string; after: string | null } | null;
  /** A joining worker that is owed an answer (hello, an ack, a copy page) and gives none by then is cut off and redialled. */
  progressDeadline: number;
}

type TxnPhase = 'open' | 'locking' | 'preparing' | 'logging' | 'committing' | 'aborting' | 'failed';

/** A request waiting in an interactive transaction's queue. */
type Queued = { slot: number; kind: 'op'; op: Op } | { slot: number; kind: 'commit' } | { slot: number; kind: 'abort' };

interface Txn {
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
  deadline: number;
  reason: Failure | null;
  /** Set when the client itself asked to abort: the reply is OK, not ABORT. */
  clientAbort: boolean;
  /** A `transaction` request: its reply lists every op's result, even for one op. */
  batch: boolean;
  cseq: number;
}

interface Decision {
  txid: string;
  cseq: number;
  voters: string[];
  unacked: Set<string>;
  at: number;
  /** When voters still linked but silent about the commit being durable are cut off. */
  ackDeadline: number;
}

interface PendingRead {
  conn: number;
  slot: number;
  query: ReadQuery;
  worker: string;
  tried: Set<string>;
  deadline: number;
  /** For `check`: the aggregate this part belongs to. */
  check: CheckAggregate | null;
  /** Values decided by transactions still committing when the read started (id -> tweet, null: deleted). */
  overlay: Map<string, Tweet | null> | null;
  /** get_tweets: the page size the client asked for. */
  pageSize: number;
  /** Commits decided before this read was sent (decisionCount then). */
  decisions: number;
}

interface CheckAggregate {
  conn: number;
  slot: number;
  parts: Map<string, Record<string, unknown>>;
  outstanding: number;
}

/** A link that reached another identity than the member's is dialled again after this long, not at once. */
export const WRONG_IDENTITY_REDIAL_MS = 2_000;

/** One line of the change feed. `seq` is the commit sequence number: it only grows, across restarts too. */
export interface ChangeEvent {
  event: 'tweet.created' | 'tweet.updated' | 'tweet.deleted';
  tweet: ReturnType<typeof renderTweet> | { id: string };
  seq: number;
}

export class CoordinatorCore {
  private readonly cfg: CoordinatorConfig;
  readonly epoch: number;
  private readonly members = new Map<string, Member>();
  private readonly txns = new Map<string, Txn>();
  private readonly connTxn = new Map<number, string>();
  private readonly decisions = new Map<string, Decision>();
  private readonly reads = new Map<number, PendingRead>();
  /**
   * The latest value decided for each tweet a transaction still being committed wrote
   * (null: deleted). A later commit of the same id replaces it; it goes when the
   * transaction that wrote it has been applied by every reachable voter.
   */
  private readonly decided = new Map<string, { cseq: number; value: Tweet | null }>();
  /** The same for items, by lock key (`user:ada`). */
  private readonly decidedItems = new Map<string, { cseq: number; value: Item | null }>();
  /** Connections following the change feed (subscribe). */
  private readonly subscribers = new Set<number>();
  /** The latest change events, for subscribers that resume from a seq (oldest first). */
  private readonly recentEvents: ChangeEvent[] = [];
  private lastCseq: number;
  private txnSeq = 0;
  private idSeq = 0;
  private lastIdMs = 0;
  private nextRid = 1;
  private readRobin = 0;
  /** Commits decided so far (in this process): the committed data changes only when this grows. */
  private decisionCount = 0;
  /**
   * get_tweets reply lines, by query, as an up worker rendered them while nothing was committing
   * and no commit had been decided since the read was sent: the committed data they show has not
   * changed while no further commit is decided. Emptied by every decision.
   */
  private readonly pages = new Map<string, string>();
  private out: CoordinatorEffect[] = [];
  readonly counters = {
    commits: 0,
    aborts: {} as Partial<Record<ErrorCode | 'CLIENT', number>>,
    reads: 0,
    requests: 0,
  };

  constructor(cfg: CoordinatorConfig, recovered: RecoveredCoordinator) {
    this.cfg = cfg;
    this.epoch = recovered.epoch;
    this.lastCseq = recovered.last_cseq;
    for (const m of recovered.members) this.members.set(m.id, newMember(m.id, m.address));
    for (const d of recovered.decisions) {
      // No deadline: every voter is unlinked now, and is re-driven (with its own deadline) when it links.
      this.decisions.set(d.txid, { ...d, unacked: new Set(d.voters.filter((v) => this.members.has(v))), ackDeadline: Number.POSITIVE_INFINITY });
    }
  }

  /** Effects to run at start: open a link to every remembered worker. */
  start(): CoordinatorEffect[] {
    return [...this.members.values()].map((m) => ({ type: 'link', worker: m.id, address: m.address }) as const);
  }

  get lockTimeoutMs(): number {
    return this.cfg.lockTimeoutMs;
  }

  handle(event: CoordinatorEvent, now: number): CoordinatorEffect[] {
    this.out = [];
    switch (event.type) {
      case 'request':
        this.counters.requests++;
        this.onRequest(event.conn, event.slot, event.request, now);
        break;
      case 'conn_closed':
        this.onConnClosed(event.conn, now);
        break;
      case 'link_up':
        this.onLinkUp(event.worker, now);
        break;
      case 'link_down':
        this.onLinkDown(event.worker, now);
        break;
      case 'worker_message':
        this.onWorkerMessage(event.worker, event.msg, now);
        break;
      case 'logged':
        this.onLogged(event.txid, now);
        break;
      case 'tick':
        this.onTick(now);
        break;
    }
    this.reviewJoiners();
    const out = this.out;
    this.out = [];
    return out;
  }

  // -------------------------------------------------------------------------
  // Client requests

  private reply(conn: number, slot: number, reply: Reply): void {
    this.out.push({ type: 'reply', conn, slot, reply });
  }

  private onRequest(conn: number, slot: number, req: ClientRequest, now: number): void {
    switch (req.action) {
      case 'post':
      case 'update':
      case 'delete':
      case 'put_item':
      case 'delete_item': {
        const op = this.toOp(req, now);
        const open = this.connTxn.get(conn);
        if (open !== undefined) this.enqueue(this.mustTxn(open), { slot, kind: 'op', op }, now);
        else this.startOneShot(conn, slot, [op], now);
        return;
      }
      case 'transaction': {
        if (this.connTxn.has(conn)) {
          this.reply(conn, slot, invalid('a transaction is open on this connection: send its ops one at a time, then commit or abort it'));
          return;
        }
        this.startOneShot(conn, slot, req.ops.map((w) => this.toOp(w, now)), now, true);
        return;
      }
      case 'begin': {
        const open = this.connTxn.get(conn);
        if (open !== undefined) {
          this.reply(conn, slot, invalid(`transaction ${open} is already open on this connection; commit or abort it first`));
          return;
        }
        const t = this.newTxn(conn, true, now);
        this.connTxn.set(conn, t.txid);
        this.reply(conn, slot, { status: 'OK', txid: t.txid });
        return;
      }
      case 'commit':
      case 'abort': {
        const open = this.connTxn.get(conn);
        if (open === undefined) {
          this.reply(conn, slot, invalid(`no transaction is open on this connection; send {"action":"begin"} first`));
          return;
        }
        this.enqueue(this.mustTxn(open), { slot, kind: req.action }, now);
        return;
      }
      case 'get_tweets':
        this.startRead(conn, slot, { kind: 'get_tweets', limit: req.limit + 1, before: req.before, username: req.username }, now);
        return;
      case 'get_tweet':
        this.startRead(conn, slot, { kind: 'get_tweet', id: req.id }, now);
        return;
      case 'get_item':
        this.startRead(conn, slot, { kind: 'get_item', item_kind: req.item.kind, key: req.item.key }, now);
        return;
      case 'subscribe':
        this.onSubscribe(conn, slot, req.since);
        return;
      case 'status':
        this.reply(conn, slot, this.statusReply(now));
        return;
      case 'check':
        this.startCheck(conn, slot, now);
        return;
      case 'register':
        this.onRegister(conn, slot, req.worker.id, req.worker.address, now);
        return;
      default: {
        // Every request gets exactly one reply: an action added to the types but not here is a bug the compiler catches.
        const unhandled: never = req;
        throw new Error(`unhandled request ${JSON.stringify(unhandled)}`);
      }
    }
  }

  private toOp(w: WriteRequest, now: number): Op {
    switch (w.action) {
      case 'post':
        return {
          kind: 'post',
          tweet: { id: w.tweet.id ?? this.newTweetId(now), username: w.tweet.username, content: w.tweet.content, created_at: now, updated_at: null },
        };
      case 'update':
        return { kind: 'update', id: w.tweet.id, content: w.tweet.content, username: w.tweet.username, at: now };
      case 'delete':
        return { kind: 'delete', id: w.tweet.id, username: w.tweet.username };
      case 'put_item':
        return { kind: 'put_item', item: w.item, mode: w.if_absent ? 'create' : 'replace' };
      case 'delete_item':
        return { kind: 'delete_item', item_kind: w.item.kind, key: w.item.key };
    }
  }

  /** Time-ordered ids: milliseconds, then this coordinator's epoch and a counter, all in base 36. */
  private newTweetId(now: number): string {
    if (now !== this.lastIdMs) {
      this.lastIdMs = now;
      this.idSeq = 0;
    }
    this.idSeq++;
    return `${now.toString(36).padStart(9, '0')}${this.epoch.toString(36).padStart(3, '0')}${this.idSeq.toString(36).padStart(3, '0')}`;
  }

  private newTxn(conn: number, interactive: boolean, now: number): Txn {
    this.txnSeq++;
    const t: Txn = {
      txid: `${this.epoch}.${this.txnSeq}`,
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
      deadline: Number.POSITIVE_INFINITY,
      reason: null,
      clientAbort: false,
      batch: false,
      cseq: 0,
    };
    this.txns.set(t.txid, t);
    return t;
  }

  private mustTxn(txid: string): Txn {
    const t = this.txns.get(txid);
    assert.ok(t !== undefined, `transaction ${txid} is not known`);
    return t;
  }

  /** Every registered worker votes. Returns the voters, or why a write cannot run now. */
  private votingSet(): { ok: true; voters: string[] } | { ok: false; failure: Failure } {
    if (this.members.size === 0) {
      return { ok: false, failure: { code: 'UNAVAILABLE', error: 'no worker has registered with this coordinator yet; start one with `tweetdb worker PORT`' } };
    }
    for (const m of this.members.values()) {
      if (m.state !== 'up') {
        const why =
          m.state === 'down'
            ? 'is unreachable'
            : m.helloPending
              ? 'is connected but has not answered yet (it may be frozen, overloaded or cut off)'
              : 'is joining the cluster (catching up on data)';
        return { ok: false, failure: { code: 'UNAVAILABLE', error: `worker ${m.id} (${m.address}) ${why}; writes resume when it is up` } };
      }
    }
    return { ok: true, voters: [...this.members.keys()] };
  }

  private startOneShot(conn: number, slot: number, ops: Op[], now: number, batch = false): void {
    const t = this.newTxn(conn, false, now);
    t.batch = batch;
    t.slot = slot;
    t.ops = ops;
    const set = this.votingSet();
    if (!set.ok) {
      this.finish(t, set.failure);
      return;
    }
    t.voters = set.voters;
    t.deadline = now + this.cfg.lockTimeoutMs;
    this.sendPrepare(t, ops);
  }

  private sendPrepare(t: Txn, ops: Op[] | null): void {
    t.phase = 'preparing';
    t.waiting = new Set(t.voters);
    t.results = null;
    // Each voter learns who the others are, to ask them if this coordinator goes away.
    const voters: Peer[] = t.voters.map((id) => ({ id, address: this.members.get(id)?.address ?? '' }));
    for (const w of t.voters) this.send(w, { type: 'prepare', txid: t.txid, ops, voters });
  }

  private send(worker: string, msg: ToWorker): void {
    this.out.push({ type: 'send', worker, msg });
  }

  // Interactive transactions: requests queue and run one at a time, in order.

  private enqueue(t: Txn, q: Queued, now: number): void {
    if (t.phase === 'failed') {
      this.answerAfterFailure(t, q);
      return;
    }
    if (t.queue.length >= LIMITS.interactiveQueue) {
      this.reply(t.conn, q.slot, invalid(`too many requests queued in transaction ${t.txid} (limit ${LIMITS.interactiveQueue})`));
      return;
    }
    t.queue.push(q);
    if (t.phase === 'open') this.runQueue(t, now);
  }

  private runQueue(t: Txn, now: number): void {
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
        const gone = this.firstVoterNotUp(t);
        if (gone !== null) {
          this.abortTxn(t, gone, now);
          return;
        }
        t.deadline = Math.min(t.deadline, now + this.cfg.lockTimeoutMs);
        this.sendPrepare(t, null);
        return;
      }
      if (t.ops.length >= LIMITS.opsPerTransaction) {
        this.reply(t.conn, q.slot, invalid(`a transaction holds at most ${LIMITS.opsPerTransaction} writes`));
        t.slot = null;
        continue;
      }
      if (t.voters.length === 0) {
        const set = this.votingSet();
        if (!set.ok) {
          this.abortTxn(t, set.failure, now);
          return;
        }
        t.voters = set.voters;
        // The lock timeout runs from the first lock.
        t.deadline = now + this.cfg.lockTimeoutMs;
      } else {
        const gone = this.firstVoterNotUp(t);
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
      for (const w of t.voters) this.send(w, { type: 'lock', txid: t.txid, seq: t.lockSeq, op: q.op });
    }
  }

  private firstVoterNotUp(t: Txn): Failure | null {
    for (const w of t.voters) {
      const m = this.members.get(w);
      if (m === undefined || m.state !== 'up') {
        return { code: 'UNAVAILABLE', error: `worker ${w} (${m?.address ?? 'removed'}) became unreachable during the transaction` };
      }
    }
    return null;
  }

  private answerAfterFailure(t: Txn, q: Queued): void {
    const reason = t.reason ?? { code: 'INTERNAL' as const, error: 'transaction failed' };
    if (q.kind === 'abort') {
      this.reply(t.conn, q.slot, { status: 'OK' });
      this.closeTxn(t);
    } else if (q.kind === 'commit') {
      this.reply(t.conn, q.slot, { status: 'ABORT', ...reason });
      this.closeTxn(t);
    } else {
      this.reply(t.conn, q.slot, { status: 'ABORT', ...reason });
    }
  }

  private closeTxn(t: Txn): void {
    this.txns.delete(t.txid);
    if (this.connTxn.get(t.conn) === t.txid) this.connTxn.delete(t.conn);
  }

  // -------------------------------------------------------------------------
  // The change feed

  private onSubscribe(conn: number, slot: number, since: number | null): void {
    if (!this.subscribers.has(conn) && this.subscribers.size >= LIMITS.subscribers) {
      this.reply(conn, slot, { status: 'ERROR', code: 'UNAVAILABLE', error: `this coordinator already feeds ${LIMITS.subscribers} subscribers, the most it takes` });
      return;
    }
    this.subscribers.add(conn);
    // Events after `since` that are still kept are replayed; older ones are gone (gap: re-read instead).
    const oldest = this.recentEvents[0]?.seq ?? this.lastCseq + 1;
    const replay = since === null ? [] : this.recentEvents.filter((e) => e.seq > since);
    const gap = since !== null && since < this.lastCseq && since < oldest - 1;
    this.reply(conn, slot, { status: 'OK', seq: this.lastCseq, replayed: replay.length, gap });
    for (const e of replay) this.out.push({ type: 'push', conn, line: e });
  }

  /** A committed transaction's changes to tweets, to every subscriber (items are private: never published). */
  private publish(t: Txn): void {
    const results = t.results ?? [];
    t.ops.forEach((op, i) => {
      const r = results[i];
      let e: ChangeEvent | null = null;
      if (op.kind === 'post' && r !== undefined && 'tweet' in r) e = { event: 'tweet.created', tweet: renderTweet(r.tweet as Tweet), seq: t.cseq };
      else if (op.kind === 'update' && r !== undefined && 'tweet' in r) e = { event: 'tweet.updated', tweet: renderTweet(r.tweet as Tweet), seq: t.cseq };
      else if (op.kind === 'delete') e = { event: 'tweet.deleted', tweet: { id: op.id }, seq: t.cseq };
      if (e === null) return;
      this.recentEvents.push(e);
      // Trimmed in one go when twice over the limit: shifting one off per commit would copy 10,000 each time.
      if (this.recentEvents.length >= 2 * LIMITS.recentEvents) this.recentEvents.splice(0, this.recentEvents.length - LIMITS.recentEvents);
      for (const conn of this.subscribers) this.out.push({ type: 'push', conn, line: e });
    });
  }

  private onConnClosed(conn: number, now: number): void {
    this.subscribers.delete(conn);
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
      this.txns.delete(txid);
    }
  }

  // -------------------------------------------------------------------------
  // Votes, decisions, acknowledgements

  private onWorkerMessage(worker: string, msg: FromWorker, now: number): void {
    const m = this.members.get(worker);
    if (m === undefined || !m.linked) return; // from a link we no longer trust
    if (m.state === 'joining') m.progressDeadline = now + this.cfg.lockTimeoutMs;
    switch (msg.type) {
      case 'state':
        this.onState(m, msg, now);
        return;
      case 'locked':
      case 'lock_refused': {
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
          if (slot !== null) this.reply(t.conn, slot, okWithResult(result));
          this.runQueue(t, now);
        }
        return;
      }
      case 'vote': {
        const t = this.txns.get(msg.txid);
        if (t === undefined || t.phase !== 'preparing' || !t.waiting.has(worker)) return;
        if (!msg.yes) {
          this.abortTxn(t, { code: msg.code, error: msg.error }, now);
          return;
        }
        t.waiting.delete(worker);
        if (t.results === null) t.results = msg.results;
        else if (!isDeepStrictEqual(t.results, msg.results)) {
          this.out.push({ type: 'log', level: 'error', msg: 'workers computed different results for one transaction', data: { txid: t.txid, worker } });
        }
        if (t.waiting.size === 0) {
          this.lastCseq++;
          t.cseq = this.lastCseq;
          t.phase = 'logging';
          this.out.push({ type: 'log_commit', txid: t.txid, cseq: t.cseq, voters: t.voters, at: now });
          if (this.cfg.sabotage === 'commit_before_log') for (const v of t.voters) this.send(v, { type: 'commit', txid: t.txid, cseq: t.cseq });
        }
        return;
      }
      case 'applied': {
        // Visible on this voter: the client may be answered once every linked voter says so.
        // The decision itself is kept until the acks say the commit is durable everywhere.
        const t = this.txns.get(msg.txid);
        if (t !== undefined && t.phase === 'committing' && t.waiting.delete(worker) && t.waiting.size === 0) this.finish(t, null);
        return;
      }
      case 'ack':
        this.onAck(m, msg.txid, msg.outcome, now);
        return;
      case 'query':
        this.onQuery(m, msg.txid);
        return;
      case 'read_result':
      case 'read_failed':
      case 'read_text':
        this.onReadResult(m, msg);
        return;
      case 'installed':
        this.onInstalled(m, msg.rid, msg.done);
        return;
    }
  }

  private onLogged(txid: string, now: number): void {
    const t = this.mustTxn(txid);
    assert.equal(t.phase, 'logging');
    const d: Decision = { txid, cseq: t.cseq, voters: t.voters, unacked: new Set(t.voters), at: now, ackDeadline: now + this.cfg.lockTimeoutMs };
    this.decisionCount++;
    this.pages.clear();
    this.decisions.set(txid, d);
    t.phase = 'committing';
    t.waiting = new Set();
    const results = t.results ?? [];
    t.ops.forEach((op, i) => {
      const r = results[i];
      if (op.kind === 'delete') this.decided.set(op.id, { cseq: t.cseq, value: null });
      else if (op.kind === 'delete_item') this.decidedItems.set(lockKeyOf(op), { cseq: t.cseq, value: null });
      else if (r !== undefined && 'tweet' in r) this.decided.set(r.tweet.id, { cseq: t.cseq, value: r.tweet as Tweet });
      else if (r !== undefined && 'item' in r) this.decidedItems.set(lockKeyOf(op), { cseq: t.cseq, value: r.item as Item });
    });
    // A voter unreachable now learns the outcome when it comes back, before it is up again.
    t.deadline = now + this.cfg.lockTimeoutMs;
    for (const w of t.voters) {
      const m = this.members.get(w);
      if (m !== undefined && m.linked) {
        t.waiting.add(w);
        this.send(w, { type: 'commit', txid, cseq: t.cseq });
      }
    }
    this.counters.commits++;
    if (t.waiting.size === 0) this.finish(t, null);
  }

  private onAck(m: Member, txid: string, outcome: 'commit' | 'abort', _now: number): void {
    m.resolving.delete(txid);
    if (outcome === 'commit') {
      const d = this.decisions.get(txid);
      if (d !== undefined) {
        d.unacked.delete(m.id);
        m.maxCseq = Math.max(m.maxCseq, d.cseq);
        if (d.unacked.size === 0) {
          this.decisions.delete(txid);
          this.out.push({ type: 'forget_decision', txid });
        }
      }
    }
    // An ack counts only for the outcome the transaction is waiting on: an unprompted abort ack
    // (a worker that timed out alone) arriving during the vote is not a vote.
    const t = this.txns.get(txid);
    const expected = t === undefined ? null : t.phase === 'committing' ? 'commit' : t.phase === 'aborting' ? 'abort' : null;
    if (t !== undefined && expected === outcome && t.waiting.delete(m.id) && t.waiting.size === 0) {
      if (t.phase === 'committing') this.finish(t, null);
      else this.finishAbort(t);
    }
    if (m.state === 'joining') this.maybeInSync(m);
  }

  /** A prepared worker asks what happened. Presumed abort: no decision and not in flight means abort. */
  private onQuery(m: Member, txid: string): void {
    const d = this.decisions.get(txid);
    if (d !== undefined) {
      this.send(m.id, { type: 'commit', txid, cseq: d.cseq });
      return;
    }
    const t = this.txns.get(txid);
    if (t !== undefined && (t.phase === 'preparing' || t.phase === 'logging' || t.phase === 'committing')) return; // still deciding
    this.send(m.id, { type: 'abort', txid });
  }

  private abortTxn(t: Txn, reason: Failure, now: number): void {
    assert.ok(t.phase !== 'logging' && t.phase !== 'committing', `abort of ${t.txid} after its commit was decided`);
    t.reason = reason;
    t.phase = 'aborting';
    t.waiting = new Set();
    t.deadline = now + this.cfg.lockTimeoutMs;
    for (const w of t.voters) {
      const m = this.members.get(w);
      if (m !== undefined && m.linked) {
        t.waiting.add(w);
        this.send(w, { type: 'abort', txid: t.txid });
      }
    }
    // The reply waits for the acks, so a client that retries at once finds the locks free.
    if (t.waiting.size === 0) this.finishAbort(t);
  }

  private finishAbort(t: Txn): void {
    const reason = t.reason ?? { code: 'INTERNAL' as const, error: 'aborted' };
    if (!t.interactive) {
      this.finish(t, reason);
      return;
    }
    const slot = t.slot;
    t.slot = null;
    t.phase = 'failed';
    if (t.clientAbort) {
      this.counters.aborts.CLIENT = (this.counters.aborts.CLIENT ?? 0) + 1;
      if (slot !== null) this.reply(t.conn, slot, { status: 'OK' });
      this.closeTxn(t);
      return;
    }
    this.counters.aborts[reason.code] = (this.counters.aborts[reason.code] ?? 0) + 1;
    if (slot !== null) this.answerAfterFailure(t, { slot, kind: 'op', op: t.ops[0] as Op });
    const queued = t.queue;
    t.queue = [];
    for (const q of queued) this.answerAfterFailure(t, q);
    if (!this.connTxn.has(t.conn) || this.connTxn.get(t.conn) !== t.txid) this.txns.delete(t.txid);
  }

  /** The transaction's answer: OK with its results, or ABORT with the reason. */
  private finish(t: Txn, failure: Failure | null): void {
    if (failure === null && t.cseq > 0) {
      for (const op of t.ops) {
        const id = opTweetId(op);
        if (id !== null && this.decided.get(id)?.cseq === t.cseq) this.decided.delete(id);
        const key = lockKeyOf(op);
        if (id === null && this.decidedItems.get(key)?.cseq === t.cseq) this.decidedItems.delete(key);
      }
      this.publish(t);
    }
    const slot = t.slot;
    t.slot = null;
    if (failure !== null) {
      this.counters.aborts[failure.code] = (this.counters.aborts[failure.code] ?? 0) + 1;
      if (slot !== null) this.reply(t.conn, slot, { status: 'ABORT', ...failure });
      this.closeTxn(t);
      return;
    }
    if (slot !== null) {
      const results = t.results ?? [];
      if (t.interactive) this.reply(t.conn, slot, { status: 'OK' });
      else if (results.length === 1 && !t.batch) this.reply(t.conn, slot, okWithResult(results[0] as OpResult));
      else this.reply(t.conn, slot, { status: 'OK', results: results.map(renderResult) });
    }
    this.closeTxn(t);
  }

  // -------------------------------------------------------------------------
  // Time

  private onTick(now: number): void {
    for (const t of [...this.txns.values()]) {
      if (now < t.deadline) continue;
      const T = this.cfg.lockTimeoutMs / 1000;
      switch (t.phase) {
        case 'open':
          this.abortTxn(t, { code: 'TIMEOUT', error: `transaction ${t.txid} was not committed within the lock timeout (${T} s) and was aborted; its locks are released` }, now);
          break;
        case 'locking':
        case 'preparing': {
          const silent = [...t.waiting];
          const failure: Failure =
            silent.length > 0
              ? { code: 'UNAVAILABLE', error: `worker ${silent.map((w) => `${w} (${this.members.get(w)?.address ?? '?'})`).join(', ')} did not answer within the lock timeout (${T} s)` }
              : { code: 'TIMEOUT', error: `transaction ${t.txid} exceeded the lock timeout (${T} s) and was aborted` };
          this.abortTxn(t, failure, now);
          // A voter silent for a whole lock timeout is cut off: until it answers again, writes
          // are refused at once (UNAVAILABLE) instead of each waiting out the timeout.
          for (const w of silent) this.cutOff(w, now, `did not answer transaction ${t.txid} within the lock timeout`);
          break;
        }
        case 'committing':
          // The decision is durable; a voter that does not acknowledge in time is cut off and
          // re-driven when it reconnects, rather than holding the client hostage.
          for (const w of t.waiting) this.cutOff(w, now, `did not acknowledge commit ${t.txid} within the lock timeout`);
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
    for (const d of [...this.decisions.values()]) {
      if (now < d.ackDeadline) continue;
      d.ackDeadline = now + this.cfg.lockTimeoutMs;
      for (const w of [...d.unacked]) {
        const m = this.members.get(w);
        if (m !== undefined && m.linked && !m.resolving.has(d.txid)) this.cutOff(w, now, `did not report commit ${d.txid} durable within the lock timeout`);
      }
    }
    for (const [rid, r] of [...this.reads]) {
      if (now >= r.deadline) this.retryRead(rid, r, now, `worker ${r.worker} did not answer within the lock timeout`);
    }
    for (const m of [...this.members.values()]) {
      const owed = m.helloPending || m.resolving.size > 0 || m.copy !== null;
      if (m.linked && m.state === 'joining' && owed && now >= m.progressDeadline) this.cutOff(m.id, now, 'made no progress rejoining within the lock timeout');
    }
  }

  private cutOff(worker: string, now: number, why: string): void {
    const m = this.members.get(worker);
    if (m === undefined) return;
    this.out.push({ type: 'log', level: 'warn', msg: `worker ${worker} cut off: ${why}` });
    this.out.push({ type: 'unlink', worker });
    this.out.push({ type: 'link', worker, address: m.address });
    this.onLinkDown(worker, now);
  }

  // -------------------------------------------------------------------------
  // Membership and links

  /**
   * Only authenticated workers reach this (the edge checks their proof of the cluster key), and
   * still no registration may displace a member that is live: linked and answering as itself.
   * A moved worker (same identity, new address) and a wiped one (new identity at a known
   * address) are taken only once the member they replace has gone quiet.
   */
  private onRegister(conn: number, slot: number, id: string, address: string, now: number): void {
    const existing = this.members.get(id);
    if (existing !== undefined) {
      if (existing.address !== address) {
        if (isLive(existing)) {
          this.reply(conn, slot, {
            status: 'ERROR',
            code: 'EXISTS',
            error: `worker ${id} is live at ${existing.address}; a second process with its identity cannot register at ${address}: stop one of them (a copy of a data directory shares its identity)`,
          });
          return;
        }
        existing.address = address;
        this.out.push({ type: 'save_member', id, address });
        this.out.push({ type: 'unlink', worker: id });
        this.out.push({ type: 'link', worker: id, address });
      }
      this.reply(conn, slot, { status: 'OK', lock_timeout_s: this.cfg.lockTimeoutMs / 1000, id });
      return;
    }
    // A new identity at a known address is that worker with a new data directory: it replaces the old one,
    // but never one still live there (another process, or a worker another one is posing as).
    const there = [...this.members.values()].filter((m) => m.address === address);
    const live = there.find(isLive);
    if (live !== undefined) {
      this.reply(conn, slot, {
        status: 'ERROR',
        code: 'EXISTS',
        error: `worker ${live.id} is live at ${address}; ${id} cannot register there until it is gone (stop it, or give this worker another address with --advertise)`,
      });
      return;
    }
    if (this.members.size - there.length >= LIMITS.maxWorkers) {
      this.reply(conn, slot, { status: 'ERROR', code: 'INVALID', error: `this cluster already has ${LIMITS.maxWorkers} workers, the most it takes` });
      return;
    }
    for (const old of there) this.removeMember(old, now);
    this.members.set(id, newMember(id, address));
    this.out.push({ type: 'save_member', id, address });
    this.out.push({ type: 'link', worker: id, address });
    this.out.push({ type: 'log', level: 'info', msg: `worker ${id} registered at ${address}` });
    this.reply(conn, slot, { status: 'OK', lock_timeout_s: this.cfg.lockTimeoutMs / 1000, id });
  }

  private removeMember(m: Member, now: number): void {
    this.onLinkDown(m.id, now);
    for (const t of [...this.txns.values()]) {
      if (t.phase === 'committing' && t.waiting.delete(m.id) && t.waiting.size === 0) this.finish(t, null);
    }
    this.members.delete(m.id);
    this.out.push({ type: 'unlink', worker: m.id });
    this.out.push({ type: 'remove_member', id: m.id });
    this.out.push({ type: 'log', level: 'warn', msg: `worker ${m.id} at ${m.address} replaced by a new identity` });
    for (const d of [...this.decisions.values()]) {
      d.unacked.delete(m.id);
      if (d.unacked.size === 0 && !this.txns.has(d.txid)) {
        this.decisions.delete(d.txid);
        this.out.push({ type: 'forget_decision', txid: d.txid });
      }
    }
  }

  private onLinkUp(worker: string, now: number): void {
    const m = this.members.get(worker);
    if (m === undefined) return;
    m.progressDeadline = now + this.cfg.lockTimeoutMs;
    m.linked = true;
    m.state = 'joining';
    m.helloPending = true;
    m.resolving.clear();
    m.copy = null;
    this.send(worker, { type: 'hello', lock_timeout_ms: this.cfg.lockTimeoutMs });
  }

  private onLinkDown(worker: string, now: number): void {
    const m = this.members.get(worker);
    if (m === undefined || !m.linked) return;
    m.linked = false;
    m.state = 'down';
    m.copy = null;
    m.resolving.clear();
    for (const t of [...this.txns.values()]) {
      if (!t.waiting.has(worker)) continue;
      if (t.phase === 'locking' || t.phase === 'preparing') {
        this.abortTxn(t, { code: 'UNAVAILABLE', error: `worker ${worker} (${m.address}) went down during the transaction` }, now);
      } else if (t.phase === 'committing' || t.phase === 'aborting') {
        t.waiting.delete(worker);
        if (t.waiting.size === 0) {
          if (t.phase === 'committing') this.finish(t, null);
          else this.finishAbort(t);
        }
      }
    }
    for (const [rid, r] of [...this.reads]) {
      if (r.worker === worker) this.retryRead(rid, r, now, `worker ${worker} went down`);
    }
    // A copy that used this worker as donor stops; the joiner starts over with another.
    for (const j of this.members.values()) if (j.copy !== null && j.copy.donor === worker) j.copy = null;
  }

  private onState(m: Member, s: WorkerState, _now: number): void {
    if (s.node_id !== m.id) {
      // Another process answers at this address; it will register under its own identity.
      this.out.push({ type: 'log', level: 'warn', msg: `worker at ${m.address} answered as ${s.node_id}, expected ${m.id}` });
      this.out.push({ type: 'unlink', worker: m.id });
      // Dialled again later, not at once: a loop of instant redials would flood the log and both processes.
      this.out.push({ type: 'link', worker: m.id, address: m.address, afterMs: WRONG_IDENTITY_REDIAL_MS });
      m.linked = false;
      m.state = 'down';
      return;
    }
    m.helloPending = false;
    m.maxCseq = s.max_cseq;
    // Re-drive every outcome it is owed: logged commits, and aborts for what nobody decided.
    for (const txid of s.prepared) {
      const t = this.txns.get(txid);
      if (t !== undefined && (t.phase === 'preparing' || t.phase === 'logging' || t.phase === 'committing')) {
        if (t.phase === 'committing' && !t.waiting.has(m.id)) {
          t.waiting.add(m.id);
        } else continue;
      }
      if (this.decisions.has(txid)) continue; // sent below
      m.resolving.add(txid);
      this.send(m.id, { type: 'abort', txid });
    }
    for (const d of this.decisions.values()) {
      if (!d.unacked.has(m.id)) continue;
      m.resolving.add(d.txid);
      this.send(m.id, { type: 'commit', txid: d.txid, cseq: d.cseq });
    }
    this.maybeInSync(m);
  }

  /** A rejoining worker is up once it owes nothing and has every commit; otherwise it copies. */
  private maybeInSync(m: Member): void {
    if (m.state !== 'joining' || m.helloPending || m.resolving.size > 0 || m.copy !== null) return;
    // A transaction that started without this worker could still commit without it: wait for it.
    if (this.inFlightWithout(m.id)) return;
    if (m.maxCseq >= this.lastCseq) {
      m.state = 'up';
      this.out.push({ type: 'log', level: 'info', msg: `worker ${m.id} (${m.address}) is up` });
    }
    // else: maybeStartCopies() starts a full copy once nothing is in flight.
  }

  /** Is a transaction that could still commit (or is committing) running without `worker` (null: at all)? */
  private inFlightWithout(worker: string | null): boolean {
    for (const t of this.txns.values()) {
      if (t.phase === 'failed' || t.phase === 'aborting' || t.voters.length === 0) continue;
      if (worker === null || !t.voters.includes(worker)) return true;
    }
    return false;
  }

  /** Joiners waiting on in-flight transactions are looked at again after every event. */
  private reviewJoiners(): void {
    for (const m of this.members.values()) if (m.state === 'joining') this.maybeInSync(m);
    this.maybeStartCopies();
  }

  private maybeStartCopies(): void {
    for (const m of this.members.values()) {
      if (m.state !== 'joining' || m.helloPending || m.resolving.size > 0 || m.copy !== null || m.maxCseq >= this.lastCseq) continue;
      // Nothing may commit while the copy is taken: wait until every transaction is decided and applied.
      if (this.inFlightWithout(null)) return;
      const donor = [...this.members.values()].find((d) => d.state === 'up');
      if (donor === undefined) return;
      const rid = this.nextRid++;
      m.copy = { rid, donor: donor.id, after: null };
      this.out.push({ type: 'log', level: 'info', msg: `worker ${m.id} copies the data from ${donor.id}` });
      this.send(donor.id, { type: 'read', rid, query: { kind: 'snapshot', after: null, limit: this.cfg.copyPageRows } });
    }
  }

  private onCopyPage(donor: Member, rid: number, rows: CopyRow[]): void {
    for (const m of this.members.values()) {
      if (m.copy === null || m.copy.rid !== rid || m.copy.donor !== donor.id) continue;
      const done = rows.length < this.cfg.copyPageRows;
      const reset = m.copy.after === null;
      m.copy.after = rows.length > 0 ? (rows[rows.length - 1] as CopyRow).c : m.copy.after;
      this.send(m.id, { type: 'install', rid, rows, reset, done, max_cseq: this.lastCseq });
      return;
    }
  }

  private onInstalled(m: Member, rid: number, done: boolean): void {
    if (m.copy === null || m.copy.rid !== rid) return;
    if (done) {
      this.onCopyDone(m);
      return;
    }
    const donor = this.members.get(m.copy.donor);
    if (donor === undefined || donor.state !== 'up') {
      m.copy = null; // starts over with another donor
      return;
    }
    const next = this.nextRid++;
    m.copy.rid = next;
    this.send(donor.id, { type: 'read', rid: next, query: { kind: 'snapshot', after: m.copy.after, limit: this.cfg.copyPageRows } });
  }

  private onCopyDone(m: Member): void {
    m.copy = null;
    m.maxCseq = this.lastCseq;
    this.maybeInSync(m);
  }

  // -------------------------------------------------------------------------
  // Reads: served by one up worker from its committed data; they never block on locks.

  private anyWorkerUp(): boolean {
    for (const m of this.members.values()) if (m.state === 'up') return true;
    return false;
  }

  private upWorkers(): Member[] {
    return [...this.members.values()].filter((m) => m.state === 'up');
  }

  /**
   * What transactions whose commit is durable but not yet applied everywhere wrote. While one
   * is in that state, one worker may show its writes and another not yet: a read that saw the
   * new value and a later read on another worker that saw the old one would not be
   * linearizable. Reads therefore see these values whichever worker serves them.
   */
  private committingOverlay(): Map<string, Tweet | null> | null {
    if (this.decided.size === 0) return null;
    return new Map([...this.decided].map(([id, d]) => [id, d.value]));
  }

  private startRead(conn: number, slot: number, query: ReadQuery, now: number): void {
    const overlay = this.committingOverlay();
    if (query.kind === 'get_tweet' && overlay !== null && overlay.has(query.id)) {
      this.reply(conn, slot, this.readReply({ query, overlay: null, pageSize: 0 }, { tweet: overlay.get(query.id) ?? null }));
      return;
    }
    const decidedItem = query.kind === 'get_item' ? this.decidedItems.get(`${query.item_kind}:${query.key}`) : undefined;
    if (query.kind === 'get_item' && decidedItem !== undefined) {
      this.reply(conn, slot, this.readReply({ query, overlay: null, pageSize: 0 }, { item: decidedItem.value }));
      return;
    }
    // No up worker, no read: not even of a page kept here, so that reads fail alike whatever they ask.
    if (!this.anyWorkerUp()) {
      this.reply(conn, slot, { status: 'ERROR', code: 'UNAVAILABLE', error: noReaderMessage(this.members.size) });
      return;
    }
    if (query.kind === 'get_tweets' && overlay === null) {
      const page = this.pages.get(pageKey(query));
      if (page !== undefined) {
        this.counters.reads++;
        this.out.push({ type: 'reply_text', conn, slot, text: page });
        return;
      }
    }
    let pageSize = 0;
    if (query.kind === 'get_tweets') {
      pageSize = query.limit - 1;
      // Rows the overlay removes must not shorten the page: ask for as many more.
      if (overlay !== null) query = { ...query, limit: query.limit + overlay.size };
    }
    const up = this.upWorkers();
    const w = up[this.readRobin++ % up.length] as Member;
    const rid = this.nextRid++;
    const r: PendingRead = { conn, slot, query, worker: w.id, tried: new Set([w.id]), deadline: now + this.cfg.lockTimeoutMs, check: null, overlay, pageSize, decisions: this.decisionCount };
    this.reads.set(rid, r);
    this.send(w.id, readMessage(rid, r));
  }

  private retryRead(rid: number, r: PendingRead, now: number, why: string): void {
    this.reads.delete(rid);
    if (r.check !== null) {
      this.checkPart(r.check, r.worker, { error: why });
      return;
    }
    const next = this.upWorkers().find((m) => !r.tried.has(m.id));
    if (next === undefined) {
      this.reply(r.conn, r.slot, { status: 'ERROR', code: 'UNAVAILABLE', error: `${why}, and no other worker could serve the read` });
      return;
    }
    const id = this.nextRid++;
    r.tried.add(next.id);
    const again = { ...r, worker: next.id, deadline: now + this.cfg.lockTimeoutMs };
    this.reads.set(id, again);
    this.send(next.id, readMessage(id, again));
  }

  private onReadResult(m: Member, msg: Extract<FromWorker, { type: 'read_result' | 'read_failed' | 'read_text' }>): void {
    const r = this.reads.get(msg.rid);
    if (r === undefined) {
      if (msg.type === 'read_result') this.onCopyPage(m, msg.rid, (msg.result as { rows: CopyRow[] }).rows);
      return;
    }
    if (r.worker !== m.id) return;
    this.reads.delete(msg.rid);
    if (msg.type === 'read_text') {
      // Asked for only when no overlay applies: the worker's line is the answer as it stands.
      assert.ok(r.overlay === null && r.check === null, `read ${msg.rid} was answered as text but needs the coordinator's view`);
      this.counters.reads++;
      if (r.query.kind === 'get_tweets' && r.decisions === this.decisionCount) {
        if (this.pages.size >= LIMITS.cachedPages) this.pages.clear();
        this.pages.set(pageKey(r.query), msg.text);
      }
      this.out.push({ type: 'reply_text', conn: r.conn, slot: r.slot, text: msg.text });
      return;
    }
    if (msg.type === 'read_failed') {
      if (r.check !== null) this.checkPart(r.check, m.id, { error: msg.error });
      else this.reply(r.conn, r.slot, { status: 'ERROR', code: 'INTERNAL', error: `worker ${m.id} failed to read: ${msg.error}` });
      return;
    }
    this.counters.reads++;
    if (r.check !== null) {
      this.checkPart(r.check, m.id, msg.result as Record<string, unknown>);
      return;
    }
    this.reply(r.conn, r.slot, this.readReply(r, msg.result));
  }

  private readReply(r: Pick<PendingRead, 'query' | 'overlay' | 'pageSize'>, result: unknown): Reply {
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
        if (t === null) return { status: 'ERROR', code: 'NOT_FOUND', error: `tweet ${query.id} does not exist` };
        return { status: 'OK', tweet: renderTweet(t) };
      }
      case 'get_item': {
        const item = (result as { item: Item | null }).item;
        if (item === null) return { status: 'ERROR', code: 'NOT_FOUND', error: `${query.item_kind} ${query.key} does not exist` };
        return { status: 'OK', item };
      }
      default:
        return { status: 'OK', result };
    }
  }

  private startCheck(conn: number, slot: number, now: number): void {
    const agg: CheckAggregate = { conn, slot, parts: new Map(), outstanding: 0 };
    for (const m of this.members.values()) {
      if (!m.linked || m.helloPending) {
        agg.parts.set(m.id, { state: m.state });
        continue;
      }
      const rid = this.nextRid++;
      agg.outstanding++;
      this.reads.set(rid, { conn, slot, query: { kind: 'check' }, worker: m.id, tried: new Set([m.id]), deadline: now + this.cfg.lockTimeoutMs, check: agg, overlay: null, pageSize: 0, decisions: this.decisionCount });
      this.send(m.id, { type: 'read', rid, query: { kind: 'check' } });
    }
    if (agg.outstanding === 0) this.finishCheck(agg);
  }

  private checkPart(agg: CheckAggregate, worker: string, part: Record<string, unknown>): void {
    agg.parts.set(worker, { state: this.members.get(worker)?.state ?? 'down', ...part });
    agg.outstanding--;
    if (agg.outstanding === 0) this.finishCheck(agg);
  }

  private finishCheck(agg: CheckAggregate): void {
    const workers = [...this.members.values()].map((m) => ({ id: m.id, address: m.address, ...(agg.parts.get(m.id) ?? { state: m.state }) }));
    this.reply(agg.conn, agg.slot, { status: 'OK', workers });
  }

  // -------------------------------------------------------------------------
  // Status

  private statusReply(now: number): Reply {
    const inDoubt: Record<string, unknown>[] = [];
    for (const t of this.txns.values()) {
      if (t.phase === 'preparing' || t.phase === 'logging' || t.phase === 'committing') {
        inDoubt.push({ txid: t.txid, state: t.phase, age_ms: now - t.startedAt, waiting_for: [...t.waiting] });
      }
    }
    for (const d of this.decisions.values()) {
      if (this.txns.has(d.txid)) continue;
      inDoubt.push({ txid: d.txid, state: 'committed', age_ms: now - d.at, waiting_for: [...d.unacked] });
    }
    return {
      status: 'OK',
      lock_timeout_s: this.cfg.lockTimeoutMs / 1000,
      workers: [...this.members.values()].map((m) => ({ id: m.id, address: m.address, state: m.state })),
      in_doubt: inDoubt,
      counters: {
        commits: this.counters.commits,
        aborts: { ...this.counters.aborts },
        reads: this.counters.reads,
        requests: this.counters.requests,
        open_transactions: this.txns.size,
        last_cseq: this.lastCseq,
        ...(this.cfg.ioStats?.() ?? {}),
      },
    };
  }
}

/** A read as sent to a worker: get_tweets with nothing to overlay is answered as the client's line itself. */
function readMessage(rid: number, r: PendingRead): ToWorker {
  if (r.query.kind === 'get_tweets' && r.overlay === null && r.check === null) return { type: 'read', rid, query: r.query, reply_text: true };
  return { type: 'read', rid, query: r.query };
}

/** A member is live while linked and answering as itself: no registration may displace it. */
function isLive(m: Member): boolean {
  return m.linked && !m.helloPending;
}

function newMember(id: string, address: string): Member {
  return { id, address, state: 'down', linked: false, maxCseq: 0, resolving: new Set(), helloPending: false, copy: null, progressDeadline: Number.POSITIVE_INFINITY };
}

function invalid(error: string): Reply {
  return { status: 'ERROR', code: 'INVALID', error };
}

function renderResult(r: OpResult): Record<string, unknown> {
  if ('tweet' in r) return { tweet: renderTweet(r.tweet as Tweet) };
  if ('item' in r) return { item: r.item };
  return {};
}

function okWithResult(r: OpResult): Reply {
  return { status: 'OK', ...renderResult(r) };
}

function noReaderMessage(members: number): string {
  return members === 0
    ? 'no worker has registered with this coordinator yet; start one with `tweetdb worker PORT`'
    : 'no worker is up to serve reads; see {"action":"status"}';
}
