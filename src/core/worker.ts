// The worker's side of two-phase commit, as a deterministic state machine.
//
// Events in (a message from the coordinator, a write that became durable, a tick
// with the time), effects out (send this, persist that). The runtime in
// src/node/worker-node.ts does the I/O; the simulator drives the same class.
//
// The rules that keep copies identical:
// - a YES vote is sent only after the prepared record is durable;
// - once prepared, the worker never decides alone: it keeps the locks and asks
//   the coordinator until it learns the outcome;
// - the outcome is recorded in the same local transaction as its effect, and an
//   abort leaves a tombstone, so a late or repeated prepare is refused.
// - cooperative termination: a prepared worker also asks the other voters. One
//   that knows the outcome tells it; one that never voted YES first makes sure
//   it never will (a durable tombstone), then answers "abort".

import { strict as assert } from 'node:assert';
import { LockTable } from './locks.ts';
import { evaluateOp } from './ops.ts';
import {
  lockKeyOf,
  opTweetId,
  type ErrorCode,
  type FromWorker,
  type Item,
  type ItemKind,
  type Op,
  type OpResult,
  type Peer,
  type PeerAnswer,
  type PeerQuery,
  type Row,
  type Sabotage,
  type ToWorker,
  type Tweet,
} from './types.ts';

/** What the core may read of the worker's committed data (the runtime's store, or the simulator's). */
export interface WorkerReadView {
  getTweet(id: string): Tweet | null;
  getItem(kind: ItemKind, key: string): Item | null;
  outcomeOf(txid: string): 'commit' | 'abort' | null;
  /** The commit sequence number of a transaction this worker committed. */
  commitSeqOf(txid: string): number | null;
}

export type WorkerEffect =
  | { type: 'send'; msg: FromWorker }
  /** Ask another voter for an outcome (cooperative termination). */
  | { type: 'peer_ask'; peer: Peer; msg: PeerQuery }
  /** Answer a peer's question on the connection (`route`) it came from. */
  | { type: 'peer_reply'; route: string; msg: PeerAnswer }
  | { type: 'log'; level: 'info' | 'warn'; msg: string; data: Record<string, unknown> }
  | { type: 'persist_prepared'; txid: string; ops: Op[]; peers: Peer[] }
  | { type: 'persist_commit'; txid: string; cseq: number; ops: Op[] }
  | { type: 'persist_abort'; txid: string };

export type WorkerEvent =
  | { type: 'message'; msg: ToWorker }
  /** A persist_commit effect is written (visible to reads) but not yet fsynced. */
  | { type: 'applied'; txid: string }
  /** A persist_* effect is on disk. Delivered in the order the effects were given. */
  | { type: 'durable'; txid: string; what: 'prepared' | 'commit' | 'abort' }
  | { type: 'link_down' }
  /** Another worker asks for an outcome; `route` says where the answer goes. */
  | { type: 'peer_query'; route: string; msg: PeerQuery }
  | { type: 'peer_answer'; msg: PeerAnswer }
  | { type: 'tick' };

export interface RecoveredWorker {
  node_id: string;
  max_cseq: number;
  prepared: { txid: string; ops: Op[]; peers: Peer[] }[];
}

type Phase = 'active' | 'preparing' | 'prepared' | 'committing' | 'aborting';

interface WorkerTxn {
  txid: string;
  phase: Phase;
  ops: Op[];
  /** Rows as this transaction's staged ops leave them, by lock key (interactive transactions see their own writes). */
  staged: Map<string, Row | null>;
  results: OpResult[];
  lastSeq: number;
  firstLockAt: number;
  /** Set when abort arrives while the prepared record is still being written. */
  abortRequested: boolean;
  nextQueryAt: number;
  queryBackoffMs: number;
  /** The other voters, to ask when the coordinator does not answer. */
  peers: Peer[];
  /** Set once the commit arrived (phase committing). */
  cseq: number;
  /** Peers owed an answer once this transaction's abort is durable. */
  peerWaiters: string[];
  /** The commit is written (visible, locks released), its fsync not yet returned. */
  applied: boolean;
}

/** Persist effects: what the runtime writes, and reports back as `durable`, in order. */
export type PersistEffect = Extract<WorkerEffect, { type: 'persist_prepared' | 'persist_commit' | 'persist_abort' }>;

export function durableKind(e: PersistEffect): 'prepared' | 'commit' | 'abort' {
  return e.type === 'persist_prepared' ? 'prepared' : e.type === 'persist_commit' ? 'commit' : 'abort';
}

/** Asking the coordinator for an outcome backs off up to this interval, and never stops. */
export const MAX_QUERY_BACKOFF_MS = 5_000;
const FIRST_QUERY_DELAY_MS = 1_000;

export class WorkerCore {
  readonly nodeId: string;
  private readonly view: WorkerReadView;
  private readonly locks = new LockTable();
  private readonly txns = new Map<string, WorkerTxn>();
  private lockTimeoutMs: number;
  private maxCseq: number;
  private out: WorkerEffect[] = [];
  private readonly sabotage: Sabotage | null;
  /** Only under the 'apply_commit_twice' sabotage: what each commit applied, to apply it again. */
  private readonly appliedOps = new Map<string, Op[]>();
  /** Outcomes learnt from other workers rather than the coordinator (shown by status). */
  resolvedByPeers = 0;

  constructor(view: WorkerReadView, recovered: RecoveredWorker, lockTimeoutMs: number, now: number, sabotage: Sabotage | null = null) {
    this.view = view;
    this.sabotage = sabotage;
    this.nodeId = recovered.node_id;
    this.maxCseq = recovered.max_cseq;
    this.lockTimeoutMs = lockTimeoutMs;
    // A prepared transaction survives a restart with its locks: we voted YES, so we wait.
    for (const p of recovered.prepared) {
      const keys = p.ops.map(lockKeyOf);
      const got = this.locks.acquireAll(p.txid, keys);
      assert.ok(got.ok, `recovered prepared transactions ${p.txid} overlap on ${got.ok ? '' : got.key}`);
      this.txns.set(p.txid, {
        txid: p.txid,
        phase: 'prepared',
        ops: p.ops,
        staged: new Map(),
        results: [],
        lastSeq: 0,
        firstLockAt: now,
        abortRequested: false,
        nextQueryAt: now,
        queryBackoffMs: FIRST_QUERY_DELAY_MS,
        peers: p.peers,
        cseq: 0,
        peerWaiters: [],
        applied: false,
      });
    }
  }

  handle(event: WorkerEvent, now: number): WorkerEffect[] {
    this.out = [];
    switch (event.type) {
      case 'message':
        this.onMessage(event.msg, now);
        break;
      case 'applied': {
        // The client may be answered now; the ack (the decision may be forgotten) waits for the fsync.
        // The locks go now too: the next transaction on these keys must see this commit, and does.
        // Were the write lost to a power cut, so would be anything written after it in the log.
        const t = this.txns.get(event.txid);
        if (t !== undefined && t.phase === 'committing' && !t.applied) {
          t.applied = true;
          this.locks.releaseAll(t.txid);
          this.send({ type: 'applied', txid: event.txid });
        }
        break;
      }
      case 'durable':
        this.onDurable(event.txid, event.what, now);
        break;
      case 'link_down':
        // Nothing voted YES may be dropped; transactions still collecting locks may.
        for (const t of [...this.txns.values()]) if (t.phase === 'active') this.abortLocally(t);
        break;
      case 'peer_query':
        this.onPeerQuery(event.route, event.msg, now);
        break;
      case 'peer_answer':
        this.onPeerAnswer(event.msg);
        break;
      case 'tick':
        this.onTick(now);
        break;
    }
    const out = this.out;
    this.out = [];
    return out;
  }

  /** Prepared transactions waiting for their outcome (for status and tests). */
  preparedTxids(): string[] {
    return [...this.txns.values()].filter((t) => t.phase === 'prepared' || t.phase === 'committing').map((t) => t.txid);
  }

  /** Transactions that voted (or are voting) YES and write `key`, and have not applied it yet: their lock must not be given away. */
  votedHoldersOf(key: string): string[] {
    const out: string[] = [];
    for (const t of this.txns.values()) {
      const holds = t.phase === 'preparing' || t.phase === 'prepared' || (t.phase === 'committing' && !t.applied);
      if (holds && t.ops.some((op) => lockKeyOf(op) === key)) out.push(t.txid);
    }
    return out;
  }

  /** Calls `fn` for every lock granted from now on. */
  observeLocks(fn: (key: string, txid: string) => void): void {
    this.locks.observer = fn;
  }

  get lockCount(): number {
    return this.locks.size;
  }

  get txnCount(): number {
    return this.txns.size;
  }

  get appliedCseq(): number {
    return this.maxCseq;
  }

  /** After a full copy from another worker: the data is now as of `cseq`. */
  installed(cseq: number): void {
    assert.equal(this.txns.size, 0, 'a copy must not be installed while transactions are open');
    this.maxCseq = cseq;
  }

  private send(msg: FromWorker): void {
    this.out.push({ type: 'send', msg });
  }

  private onMessage(msg: ToWorker, now: number): void {
    switch (msg.type) {
      case 'hello':
        this.lockTimeoutMs = msg.lock_timeout_ms;
        this.send({ type: 'state', node_id: this.nodeId, prepared: this.preparedTxids(), max_cseq: this.maxCseq });
        return;
      case 'lock':
        this.onLock(msg.txid, msg.seq, msg.op, now);
        return;
      case 'prepare':
        this.onPrepare(msg.txid, msg.ops, msg.voters ?? [], now);
        return;
      case 'commit':
        this.onCommit(msg.txid, msg.cseq);
        return;
      case 'abort':
        this.onAbort(msg.txid);
        return;
      case 'read':
      case 'install':
        // Served by the runtime from committed data; they never touch transactions.
        return;
    }
  }

  private refusalFor(txid: string): { code: ErrorCode; error: string } | null {
    const outcome = this.view.outcomeOf(txid);
    if (outcome === 'abort') {
      return { code: 'TIMEOUT', error: `transaction ${txid} was already aborted (it outlived the lock timeout or was rolled back)` };
    }
    if (outcome === 'commit') return { code: 'INVALID', error: `transaction ${txid} has already committed` };
    return null;
  }

  private onLock(txid: string, seq: number, op: Op, now: number): void {
    let t = this.txns.get(txid);
    if (t === undefined) {
      const refused = this.refusalFor(txid);
      if (refused !== null) {
        this.send({ type: 'lock_refused', txid, seq, ...refused });
        return;
      }
      t = this.newTxn(txid, now);
    }
    if (seq <= t.lastSeq) return; // a duplicate of a message already answered
    if (t.phase === 'aborting') {
      this.send({ type: 'lock_refused', txid, seq, code: 'TIMEOUT', error: `transaction ${txid} was already aborted (it outlived the lock timeout or lost its coordinator link)` });
      return;
    }
    if (t.phase !== 'active') {
      this.send({ type: 'lock_refused', txid, seq, code: 'INVALID', error: `transaction ${txid} is already committing` });
      return;
    }
    t.lastSeq = seq;
    const got = this.locks.acquireAll(txid, [lockKeyOf(op)]);
    if (!got.ok) {
      this.send({ type: 'lock_refused', txid, seq, code: 'LOCKED', error: lockedMessage(got.key) });
      return;
    }
    const outcome = evaluateOp(this.currentOf(t, op), op);
    if (!outcome.ok) {
      this.send({ type: 'lock_refused', txid, seq, code: outcome.code, error: outcome.error });
      return;
    }
    t.staged.set(lockKeyOf(op), outcome.next);
    t.ops.push(op);
    t.results.push(outcome.result);
    this.send({ type: 'locked', txid, seq, result: outcome.result });
  }

  private onPrepare(txid: string, ops: Op[] | null, voters: Peer[], now: number): void {
    const peers = voters.filter((v) => v.id !== this.nodeId);
    const t = this.txns.get(txid);
    if (t !== undefined) {
      if (ops === null && t.phase === 'active') {
        t.peers = peers;
        this.startPrepare(t);
        return;
      }
      // A repeated prepare: answer it again once we have an answer; otherwise the vote is on its way.
      if (t.phase === 'prepared' && !t.abortRequested) this.send({ type: 'vote', txid, yes: true, results: t.results });
      return;
    }
    const refused = this.refusalFor(txid);
    if (refused !== null || ops === null) {
      // Prepare after abort (the "hanging" case), or an interactive transaction we no longer hold.
      const why = refused ?? { code: 'TIMEOUT' as const, error: `transaction ${txid} expired on worker ${this.nodeId} before it was committed` };
      this.send({ type: 'vote', txid, yes: false, ...why });
      return;
    }
    const fresh = this.newTxn(txid, now);
    fresh.peers = peers;
    const got = this.locks.acquireAll(txid, ops.map(lockKeyOf));
    if (!got.ok) {
      this.voteNo(fresh, 'LOCKED', lockedMessage(got.key));
      return;
    }
    for (const op of ops) {
      const outcome = evaluateOp(this.currentOf(fresh, op), op);
      if (!outcome.ok) {
        this.voteNo(fresh, outcome.code, outcome.error);
        return;
      }
      fresh.staged.set(lockKeyOf(op), outcome.next);
      fresh.ops.push(op);
      fresh.results.push(outcome.result);
    }
    this.startPrepare(fresh);
  }

  /** What the op's key holds as this transaction sees it: its own staged write, else the committed row. */
  private currentOf(t: WorkerTxn, op: Op): Row | null {
    const key = lockKeyOf(op);
    if (t.staged.has(key)) return t.staged.get(key) ?? null;
    const id = opTweetId(op);
    if (id !== null) return this.view.getTweet(id);
    return op.kind === 'put_item' ? this.view.getItem(op.item.kind, op.item.key) : op.kind === 'delete_item' ? this.view.getItem(op.item_kind, op.key) : null;
  }

  private startPrepare(t: WorkerTxn): void {
    t.phase = 'preparing';
    t.staged.clear();
    this.out.push({ type: 'persist_prepared', txid: t.txid, ops: t.ops, peers: t.peers });
    if (this.sabotage === 'vote_before_persist') this.send({ type: 'vote', txid: t.txid, yes: true, results: t.results });
  }

  /** Refuse: nothing was voted, so the worker may forget the transaction. The tombstone refuses a late repeat. */
  private voteNo(t: WorkerTxn, code: ErrorCode, error: string): void {
    this.send({ type: 'vote', txid: t.txid, yes: false, code, error });
    this.abortLocally(t);
  }

  private abortLocally(t: WorkerTxn): void {
    this.locks.releaseAll(t.txid);
    t.phase = 'aborting';
    this.out.push({ type: 'persist_abort', txid: t.txid });
  }

  private onCommit(txid: string, cseq: number): void {
    const t = this.txns.get(txid);
    if (t === undefined) {
      const outcome = this.view.outcomeOf(txid);
      // The only way a commit may reach a worker is after its own durable YES vote.
      assert.notEqual(outcome, 'abort', `commit of ${txid}, which this worker aborted: copies would diverge`);
      assert.equal(outcome, 'commit', `commit of ${txid}, which this worker never prepared`);
      const again = this.sabotage === 'apply_commit_twice' ? this.appliedOps.get(txid) : undefined;
      // (It takes the locks as a real commit holds them, so that only this one rule is broken.)
      if (again !== undefined && this.locks.acquireAll(txid, again.map(lockKeyOf)).ok) {
        const dup = this.newTxn(txid, 0);
        dup.phase = 'committing';
        dup.ops = again;
        this.out.push({ type: 'persist_commit', txid, cseq, ops: again });
        return;
      }
      this.send({ type: 'ack', txid, outcome: 'commit' });
      return;
    }
    assert.ok(t.phase === 'prepared' || t.phase === 'committing', `commit of ${txid} in phase ${t.phase}: it never voted YES`);
    if (t.phase === 'committing') return; // a duplicate; the ack follows the apply
    t.phase = 'committing';
    t.cseq = cseq;
    this.out.push({ type: 'persist_commit', txid, cseq, ops: t.ops });
    this.maxCseq = Math.max(this.maxCseq, cseq);
  }

  private onAbort(txid: string): void {
    const t = this.txns.get(txid);
    if (t === undefined) {
      const outcome = this.view.outcomeOf(txid);
      // A stale abort: the coordinator forgets a decision once every voter has acknowledged it, and
      // then answers a late (duplicated or delayed) question about it with "abort" (presumed abort).
      // Only a worker that already applied the commit can receive it; it changes nothing.
      if (outcome === 'commit') return;
      if (outcome === 'abort') {
        this.send({ type: 'ack', txid, outcome: 'abort' });
        return;
      }
      // An abort for a transaction never seen (the "empty rollback"): leave a tombstone first.
      const ghost = this.newTxn(txid, 0);
      this.abortLocally(ghost);
      return;
    }
    assert.notEqual(t.phase, 'committing', `abort of ${txid} after its commit arrived`);
    if (t.phase === 'aborting') return;
    if (t.phase === 'preparing') {
      // The prepared record is being written; the abort is queued behind it.
      t.abortRequested = true;
    }
    this.abortLocally(t);
  }

  private onDurable(txid: string, what: 'prepared' | 'commit' | 'abort', now: number): void {
    const t = this.txns.get(txid);
    assert.ok(t !== undefined, `durable ${what} for unknown transaction ${txid}`);
    switch (what) {
      case 'prepared':
        if (t.phase !== 'preparing') return; // aborted meanwhile: the abort record follows
        t.phase = 'prepared';
        t.nextQueryAt = now + Math.max(FIRST_QUERY_DELAY_MS, this.lockTimeoutMs);
        if (this.sabotage !== 'vote_before_persist') this.send({ type: 'vote', txid, yes: true, results: t.results });
        return;
      case 'commit':
        assert.equal(t.phase, 'committing');
        this.locks.releaseAll(txid);
        this.txns.delete(txid);
        if (this.sabotage === 'apply_commit_twice') this.appliedOps.set(txid, t.ops);
        this.send({ type: 'ack', txid, outcome: 'commit' });
        return;
      case 'abort':
        assert.equal(t.phase, 'aborting');
        this.txns.delete(txid);
        this.send({ type: 'ack', txid, outcome: 'abort' });
        for (const route of t.peerWaiters) this.answerPeer(route, txid, 'abort', 0);
        return;
    }
  }

  // -------------------------------------------------------------------------
  // Cooperative termination

  private answerPeer(route: string, txid: string, outcome: PeerAnswer['outcome'], cseq: number): void {
    this.out.push({ type: 'peer_reply', route, msg: { type: 'peer_answer', txid, from: this.nodeId, outcome, cseq } });
  }

  /**
   * Another voter asks what became of txid. "commit" and "abort" must be final: an abort is
   * answered only once its tombstone is durable, so that a restart cannot let this worker vote
   * YES on that transaction after all.
   */
  private onPeerQuery(route: string, q: PeerQuery, now: number): void {
    if (q.to !== this.nodeId) {
      this.answerPeer(route, q.txid, 'unknown', 0);
      return;
    }
    const t = this.txns.get(q.txid);
    if (t === undefined) {
      const outcome = this.view.outcomeOf(q.txid);
      if (outcome === 'commit') this.answerPeer(route, q.txid, 'commit', this.view.commitSeqOf(q.txid) ?? 0);
      else if (outcome === 'abort') this.answerPeer(route, q.txid, 'abort', 0);
      else {
        // Never seen here, so never voted YES: promise never to (a tombstone), then say abort.
        const ghost = this.newTxn(q.txid, now);
        ghost.peerWaiters.push(route);
        this.abortLocally(ghost);
      }
      return;
    }
    switch (t.phase) {
      case 'active':
        // Not voted yet: this worker may still refuse, and does, so the outcome is abort.
        t.peerWaiters.push(route);
        this.abortLocally(t);
        return;
      case 'aborting':
        t.peerWaiters.push(route);
        return;
      case 'committing':
        this.answerPeer(route, q.txid, 'commit', t.cseq);
        return;
      case 'preparing':
      case 'prepared':
        // Voted (or voting) YES and not told: as uncertain as the one asking.
        this.answerPeer(route, q.txid, 'unknown', 0);
        return;
    }
  }

  private onPeerAnswer(a: PeerAnswer): void {
    const t = this.txns.get(a.txid);
    if (t === undefined || t.phase !== 'prepared' || a.outcome === 'unknown') return;
    if (!t.peers.some((p) => p.id === a.from)) return; // not a voter of this transaction
    this.resolvedByPeers++;
    this.out.push({ type: 'log', level: 'info', msg: `transaction ${a.txid} resolved by asking worker ${a.from}: ${a.outcome}`, data: { txid: a.txid, peer: a.from, outcome: a.outcome } });
    if (a.outcome === 'commit') this.onCommit(a.txid, a.cseq);
    else this.onAbort(a.txid);
  }

  private onTick(now: number): void {
    for (const t of [...this.txns.values()]) {
      if (t.phase === 'active' && now - t.firstLockAt >= this.lockTimeoutMs) {
        // Not prepared within the lock timeout: no vote was given, so the worker may abort alone.
        this.abortLocally(t);
      } else if (t.phase === 'prepared' && now >= t.nextQueryAt) {
        // Ask the coordinator and, in case it is gone, every other voter.
        this.send({ type: 'query', txid: t.txid });
        for (const p of t.peers) this.out.push({ type: 'peer_ask', peer: p, msg: { type: 'peer_query', txid: t.txid, to: p.id } });
        t.nextQueryAt = now + t.queryBackoffMs;
        t.queryBackoffMs = Math.min(t.queryBackoffMs * 2, MAX_QUERY_BACKOFF_MS);
      }
      if (this.sabotage === 'release_prepared_lock_on_timeout' && t.phase === 'prepared' && now - t.firstLockAt >= this.lockTimeoutMs) {
        this.locks.releaseAll(t.txid);
      }
    }
  }

  private newTxn(txid: string, now: number): WorkerTxn {
    const t: WorkerTxn = {
      txid,
      phase: 'active',
      ops: [],
      staged: new Map(),
      results: [],
      lastSeq: 0,
      firstLockAt: now,
      abortRequested: false,
      nextQueryAt: Number.POSITIVE_INFINITY,
      queryBackoffMs: FIRST_QUERY_DELAY_MS,
      peers: [],
      cseq: 0,
      peerWaiters: [],
      applied: false,
    };
    this.txns.set(txid, t);
    return t;
  }
}

export function lockedMessage(key: string): string {
  const [kind, ...rest] = key.split(':');
  return `${kind} ${rest.join(':')} is locked by another transaction`;
}
