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
// - implicit commit: a transaction is committed exactly when every voter holds a
//   durable YES for it; its prepared record holds the cseq it commits with, so the
//   voters can carry it out without the coordinator;
// - a refusal is durable before it is said: a NO vote, the answer to `prevent`,
//   and a peer told "abort" all wait for the tombstone's fsync, so a refused
//   transaction can never gather every YES later;
// - cooperative termination: a prepared worker also asks the other voters. One
//   that knows the outcome tells it; one that holds a durable YES says so (all of
//   them: committed); one that never voted YES first makes sure it never will (a
//   durable tombstone), then answers "abort".

import { assert } from './assert.ts';
import { Deadlines } from './deadlines.ts';
import { LockTable } from './locks.ts';
import { CORE_LIMITS } from '../wire/limits.ts';
import { probe } from './probes.ts';
import { evaluateOp } from './ops.ts';
import { resultsDigest } from './results-digest.ts';
import { lockKeyOf, lockedMessage, opTweetId, readTouches, type ClusterKnowledge, type ErrorCode, type FromWorker, type KnownConfig, type Op, type OpResult, type Peer, type PeerAnswer, type PeerQuery, type PreparedTxn, type ReadQuery, type Row, type Sabotage, type ToWorkerCore, type TxnKnowledge, type VoteResult } from './types.ts';
import type { RecoveredWorker, WorkerEffect, WorkerEvent, WorkerReadView } from './worker-types.ts';

export { durableEvent, type PersistEffect, type RecoveredWorker, type WorkerEffect, type WorkerEvent, type WorkerReadView } from './worker-types.ts';

type Phase = 'active' | 'preparing' | 'prepared' | 'committing' | 'aborting';

/**
 * A transaction on this worker: collecting locks (active), then its prepared record (preparing:
 * being written; prepared: durable, YES voted), then its outcome being written.
 *
 * Invariants:
 * - prepared.locks: a transaction voting or voted YES (preparing, prepared, or committing and not
 *   yet applied) holds the lock of every key it writes: no one else may change them before its
 *   outcome is known; an aborting or applied one holds none;
 * - prepared.staged: only an active transaction has staged rows, each under a lock it holds;
 * - prepared.cseq: a committing transaction has its commit's cseq, positive and at most the
 *   highest applied;
 * - prepared.abort: only an aborting transaction was asked to abort while preparing, or owes
 *   peers an answer (they get it once the abort is durable);
 * - prepared.deadline: every transaction has one, running (finite) exactly while it is active
 *   (its lock timeout) or prepared (its next question for the outcome);
 * - replica.keys: a key a replicate could not lock waits only for replicates still being written.
 */
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
  queryBackoffMs: number;
  /** The other voters, to ask when the coordinator does not answer. */
  peers: Peer[];
  /** The cseq it commits with: from its prepare (0 until then, and in records from before implicit commit). */
  cseq: number;
  /** Voters that said they hold a durable YES for it (peer answers "prepared"): all of them, and it is committed. */
  preparedPeers: Set<string>;
  /** The NO vote owed once its tombstone is durable: a refusal is never said before it is kept. */
  noVote: { code: ErrorCode; error: string } | null;
  /** Peers owed an answer once this transaction's abort is durable. */
  peerWaiters: string[];
  /** The commit is written (visible, locks released), its fsync not yet returned. */
  applied: boolean;
  /** A commit streamed to this worker (replicate), which it did not vote on: no ack is owed. */
  replicated: boolean;
  /** Committed by its voters without the coordinator's word (implicit commit): its ack carries the results. */
  untold: boolean;
  /** This worker is its only voter: committed in one phase (no prepared record), and its YES is said once the commit is durable. */
  onePhase: boolean;
  /**
   * Its YES carries the results (true), or only their digest: only the first of the prepare's
   * voters sends them. True unless the prepare said otherwise (a record recovered after a restart
   * does not keep its place among the voters).
   */
  sendsResults: boolean;
}

/** Asking the coordinator for an outcome backs off up to this interval, and never stops. */
export const MAX_QUERY_BACKOFF_MS = 5_000;
const FIRST_QUERY_DELAY_MS = 1_000;

export class WorkerCore {
  readonly nodeId: string;
  private readonly view: WorkerReadView;
  private readonly locks = new LockTable();
  private readonly txns = new Map<string, WorkerTxn>();
  /** By txid: an active transaction's lock timeout, or when a prepared one next asks for its outcome. */
  private readonly deadlines = new Deadlines<string>();
  private lockTimeoutMs: number;
  private maxCseq: number;
  private out: WorkerEffect[] = [];
  private readonly sabotage: Sabotage | null;
  /** Only under the 'apply_commit_twice' sabotage: what each commit applied, to apply it again. */
  private readonly appliedOps = new Map<string, Op[]>();
  /** Outcomes learnt from other workers rather than the coordinator (shown by status). */
  resolvedByPeers = 0;
  /** The configuration as last heard, and whether this worker votes in it (see refusal()). */
  private config: number;
  private voter: boolean;
  /** That configuration's voters and those of them still catching up (a coordinator that lost its data is told them). */
  private configVoters: string[];
  private configCatchingUp: string[];
  /**
   * The cluster this worker's data belongs to (null: it never joined one), and the coordinator it
   * obeys: the highest epoch it took a hello from, and that coordinator process's run. A hello from
   * another cluster, a lower epoch, or the same epoch from another run is refused (fencing).
   */
  private cluster: string | null;
  private fence: { epoch: number; run: string };
  /** The fence as written is durable (false while its persist_fence is being written). */
  private fenceDurable = true;
  /** The answer to hello (state) waits for the fence to be durable. */
  private stateOwed = false;
  /** The newest cseq reservation a coordinator told of. */
  private reserved: number;
  /** The newest configuration proposed to it (config_propose) newer than the one in use, and whether it is durable (then acked). */
  private proposed: KnownConfig | null;
  private proposedDurable = true;
  /** Replicates received on this coordinator link, in order (seq), and those that arrived ahead of a missing one. */
  private replicaSeq = 0;
  /** Votes sent on the coordinator's current link (each carries its number: the coordinator takes them in order); -1: no link (a hello not yet taken). */
  private votesSent = -1;
  private readonly ahead = new Map<number, Extract<ToWorkerCore, { type: 'replicate' }>>();
  /**
   * By txid: a replicate being written, and its seq, answered `replicated` once durable, not once
   * written: the coordinator promotes a learner whose stream is answered, and a voter must never
   * lack a commit after a power cut (simulator seed 412).
   */
  private readonly replicating = new Map<string, number>();
  /**
   * Keys a replicate being written could not lock (a transaction prepared here held them), by key:
   * the replicates still to be written over them. Until those are visible, no transaction takes
   * such a key: it would be judged on the row as it was before the replicate (simulator seed
   * 709143). At most one entry per key a replicate in flight writes.
   */
  private readonly unlockedReplicaKeys = new Map<string, Set<string>>();
  /**
   * Sees every YES this worker says (a vote, the answer to prevent, a peer told "prepared") and
   * every refusal (NO, ack abort, a peer told abort), and whether its record (the prepared record,
   * or the tombstone) is durable then: the simulator's checker of implicit commit.
   */
  statementObserver: ((s: { txid: string; says: 'yes' | 'refused'; durable: boolean }) => void) | null = null;
  /**
   * Transactions this worker told another voter it holds a YES for (at most the transactions it
   * has): the voters may commit one without it, so until it is settled here its rows are not read here.
   */
  private readonly exposed = new Set<string>();
  /**
   * The voters' addresses this coordinator link was told, by id: a prepare names voters by id and
   * carries only the addresses not said on this link yet. Emptied when the link goes down (the
   * coordinator's book for the link starts empty too). At most CORE_LIMITS.maxWorkers: past that
   * one is not kept, and the coordinator, whose book for the link is full too, sends it every time.
   */
  private readonly book = new Map<string, string>();
  /** Sees every vote with the configuration it was asked under (the simulator's configuration checker). */
  voteObserver: ((vote: { txid: string; config: number; known: number; voter: boolean }) => void) | null = null;

  constructor(view: WorkerReadView, recovered: RecoveredWorker, lockTimeoutMs: number, now: number, sabotage: Sabotage | null = null) {
    this.view = view;
    this.sabotage = sabotage;
    this.nodeId = recovered.node_id;
    this.maxCseq = recovered.max_cseq;
    this.config = recovered.config;
    this.voter = recovered.voter;
    this.configVoters = recovered.config_voters ?? [];
    this.configCatchingUp = recovered.config_catching_up ?? [];
    this.cluster = recovered.cluster ?? null;
    this.fence = recovered.fence ?? { epoch: 0, run: '' };
    this.reserved = recovered.reserved ?? 0;
    this.proposed = recovered.proposed ?? null;
    this.lockTimeoutMs = lockTimeoutMs;
    // A prepared transaction survives a restart with its locks: we voted YES, so we wait.
    for (const p of recovered.prepared) {
      const keys = p.ops.map(lockKeyOf);
      const got = this.locks.acquireAll(p.txid, keys);
      assert(got.ok, () => `recovered prepared transactions ${p.txid} overlap on ${got.ok ? '' : got.key}`);
      this.txns.set(p.txid, {
        txid: p.txid,
        phase: 'prepared',
        ops: p.ops,
        staged: new Map(),
        results: p.results,
        lastSeq: 0,
        firstLockAt: now,
        abortRequested: false,
        queryBackoffMs: FIRST_QUERY_DELAY_MS,
        peers: p.peers,
        cseq: p.cseq,
        preparedPeers: new Set(),
        noVote: null,
        peerWaiters: [],
        applied: false,
        replicated: false,
        untold: false,
        onePhase: false,
        sendsResults: true,
      });
      // It asks for the outcome at once: it may have been down long.
      this.deadlines.set(p.txid, now);
      probe('worker.recovered_prepared');
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
          if (t.replicated) this.replicaWritten(t.txid, t.ops);
          if (!this.replicating.has(t.txid) && !t.onePhase) this.send({ type: 'applied', txid: event.txid });
          // (A sole voter's YES, sent before this, already answered the client: reads that follow it reach this worker after this write.)
        }
        break;
      }
      case 'durable':
        this.onDurable(event.txid, event.what, now);
        break;
      case 'proposal_durable':
        if (this.proposed !== null && this.proposed.n === event.config) {
          this.proposedDurable = true;
          this.send({ type: 'config_ack', config: event.config });
        }
        break;
      case 'fence_durable':
        this.fenceDurable = true;
        if (this.stateOwed) {
          this.stateOwed = false;
          this.sendState();
        }
        break;
      case 'link_down':
        // Nothing voted YES may be dropped; transactions still collecting locks may.
        for (const t of [...this.txns.values()]) if (t.phase === 'active') this.abortLocally(t);
        // A stream is numbered per link: the next link's starts again at 1. So are votes.
        this.replicaSeq = 0;
        this.votesSent = -1;
        this.ahead.clear();
        // So is the voters' address book: the next link is told every address again.
        this.book.clear();
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

  /**
   * Is this commit certain without its own fsync? A voter's is, one phase or not: its durable
   * prepared record, with every other voter's, makes it committed (implicit commit), and a worker
   * restarted without the commit record still holds that record and settles it again. A commit
   * streamed to a learner has no such record: its write is all there is (and its `replicated`
   * waits for the fsync).
   */
  commitBacked(txid: string): boolean {
    const t = this.txns.get(txid);
    return t !== undefined && !t.replicated;
  }

  /** Prepared transactions waiting for their outcome (for status and tests). */
  preparedTxids(): string[] {
    return this.preparedList().map((p) => p.txid);
  }

  /** The same, with each one's voters and cseq (the coordinator settles those it lost: `state`). */
  private preparedList(): PreparedTxn[] {
    return [...this.txns.values()]
      .filter((t) => (t.phase === 'prepared' || t.phase === 'committing') && !t.replicated)
      .map((t) => ({ txid: t.txid, voters: [this.nodeId, ...t.peers.map((p) => p.id)], cseq: t.cseq }));
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

  /**
   * The transaction that keeps this read from being served here, or null: one this worker told
   * another voter it holds a YES for, still prepared here, writing what the read looks at (a
   * tweet read by id, any tweet for a page, the item). Its voters may have committed it already,
   * so another copy may show it while this one does not.
   */
  readBlockedBy(q: ReadQuery): string | null {
    // Every read asks: almost always no transaction is exposed, and then nothing is walked.
    for (const txid of this.exposed) {
      const t = this.txns.get(txid);
      if (t === undefined || t.phase !== 'prepared') continue;
      if (t.ops.some((op) => readTouches(q, op))) {
        probe('worker.read_blocked_in_doubt');
        return t.txid;
      }
    }
    return null;
  }

  /** Calls `fn` for every lock granted from now on. */
  observeLocks(fn: (key: string, txid: string) => void): void {
    this.locks.observer = fn;
  }

  /**
   * What this worker's record says of one transaction (for the operator's `resolve`): one voting or
   * voted YES is prepared (with the voters its prepared record names); then its outcome, from
   * memory or the store; a transaction still collecting locks has decided nothing ("unknown").
   */
  txnKnowledge(txid: string): TxnKnowledge {
    const t = this.txns.get(txid);
    if (t !== undefined && t.phase !== 'active') {
      if (t.phase === 'committing') return { state: 'commit' };
      if (t.phase === 'aborting') return { state: 'abort' };
      const voters = t.peers.map((p) => p.id);
      return this.exposed.has(txid) ? { state: 'prepared', voters, told_peer: true } : { state: 'prepared', voters };
    }
    return { state: this.view.outcomeOf(txid) ?? 'unknown' };
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

  /**
   * A new copy begins (its first page): replicates up to `streamSeq` belong to an older stream on
   * this link, whose copy this one replaces. One still waiting for a gap to fill would be applied
   * over the new copy once the gap came, long after later writes (simulator seed 803596: a post
   * brought back over its own delete). They are dropped; the new stream starts after `streamSeq`.
   */
  copyStarting(streamSeq: number): void {
    if (streamSeq > this.replicaSeq) this.replicaSeq = streamSeq;
    for (const seq of [...this.ahead.keys()]) if (seq <= streamSeq) this.ahead.delete(seq);
  }

  /** After a full copy from another worker: the data is now as of `cseq`. */
  installed(cseq: number): void {
    assert(this.txns.size === 0, 'a copy must not be installed while transactions are open');
    this.maxCseq = cseq;
  }

  private send(msg: FromWorker): void {
    // With no link the shell drops it: numbered, it would leave a gap the next link never fills.
    if (msg.type === 'vote' && this.votesSent >= 0) msg = { ...msg, n: ++this.votesSent };
    this.out.push({ type: 'send', msg });
  }

  private onMessage(msg: ToWorkerCore, now: number): void {
    switch (msg.type) {
      case 'hello': {
        // The first on a link (a repeat, duplicated on the way, changes nothing): votes count from 1.
        if (this.votesSent < 0) this.votesSent = 0;
        // The shell hands over only a hello helloRefusal() took (and nothing on that link before it).
        assert(this.sabotage === 'obey_lower_epoch' || this.helloRefusal(msg, false) === null, () => `hello from cluster ${msg.cluster}, epoch ${msg.epoch} that this worker refuses`);
        this.lockTimeoutMs = msg.lock_timeout_ms;
        this.heardConfig({ n: msg.config, voters: msg.voters, catching_up: msg.catching_up }, msg.voter, false);
        this.heardReserved(msg.reserved);
        // The lock timeout of what is still collecting locks runs to the new setting.
        for (const t of this.txns.values()) if (t.phase === 'active') this.deadlines.set(t.txid, t.firstLockAt + this.lockTimeoutMs);
        if (msg.cluster !== this.cluster || msg.epoch !== this.fence.epoch || msg.run !== this.fence.run) {
          // A new coordinator (or this worker's first): obeyed from now on, once that is durable.
          if (this.cluster === null) probe('worker.joined_cluster');
          this.cluster = msg.cluster;
          this.fence = { epoch: msg.epoch, run: msg.run };
          this.fenceDurable = false;
          this.out.push({ type: 'persist_fence', cluster: msg.cluster, epoch: msg.epoch, run: msg.run });
        }
        // The state goes out once this worker is sure never to obey an older coordinator again.
        if (this.fenceDurable) this.sendState();
        else this.stateOwed = true;
        return;
      }
      case 'reserved':
        this.heardReserved(msg.through);
        return;
      case 'config_propose':
        this.onProposal({ n: msg.config, voters: msg.voters, catching_up: msg.catching_up });
        return;
      case 'lock':
        this.onLock(msg.txid, msg.seq, msg.op, msg.config, msg.floor, now);
        return;
      case 'prepare': {
        const voters = this.votersOf(msg);
        if (voters !== null) this.onPrepare(msg.txid, msg.ops, voters, msg.config, msg.floor, msg.cseq, now);
        return;
      }
      case 'commit':
        this.onCommit(msg.txid, msg.cseq);
        return;
      case 'abort':
        this.onAbort(msg.txid);
        return;
      case 'prevent':
        this.onPrevent(msg.txid, now);
        return;
      case 'config':
        this.heardConfig({ n: msg.config, voters: msg.voters, catching_up: msg.catching_up }, msg.voter, msg.removed);
        return;
      case 'replicate':
        this.onReplicate(msg);
        return;
    }
  }

  /**
   * A prepare's voters with their addresses: from the prepare, else from what this link was told
   * before (kept in the book). A voter with no address known is the coordinator's mistake (or a
   * prepare lost on the way): nothing changes, and the shell closes the link as for any bad message,
   * so that both sides start a new one with empty books.
   */
  private votersOf(msg: Extract<ToWorkerCore, { type: 'prepare' }>): Peer[] | null {
    const given = new Map<string, string>();
    for (const a of msg.addresses ?? []) given.set(a.id, a.address);
    const voters: Peer[] = [];
    for (const id of msg.voters ?? []) {
      const address = given.get(id) ?? this.book.get(id) ?? (id === this.nodeId ? '' : undefined);
      if (address === undefined) {
        probe('worker.prepare_unknown_voter');
        this.out.push({ type: 'bad_message', why: `prepare ${msg.txid} names voter ${id}, whose address this link was never told` });
        return null;
      }
      voters.push({ id, address });
    }
    for (const [id, address] of given) if (this.book.size < CORE_LIMITS.maxWorkers || this.book.has(id)) this.book.set(id, address);
    return voters;
  }

  private heardConfig(c: KnownConfig, voter: boolean, removed: boolean): void {
    if (c.n < this.config && !removed) return; // an old message overtaken by a newer one
    if (c.n === this.config && voter === this.voter && !removed && sameIds(c.voters, this.configVoters) && sameIds(c.catching_up, this.configCatchingUp)) return;
    this.config = c.n;
    this.voter = voter;
    this.configVoters = [...c.voters];
    this.configCatchingUp = [...c.catching_up];
    this.out.push({ type: 'save_config', config: { n: c.n, voters: this.configVoters, catching_up: this.configCatchingUp }, voter, removed });
  }

  /**
   * A prepare from a configuration newer than the one heard of (its config message lost, or
   * overtaken): its voters are that configuration's, and this worker is one. Learnt here so that the
   * configuration is durable with the prepared record: a coordinator that loses its data must find
   * every configuration some commit was decided in. Which voters still catch up is not said: those
   * of the configuration it knew are kept (it votes already, or refusal() would have refused).
   */
  private heardConfigInPrepare(config: number, voters: readonly Peer[]): void {
    if (config <= this.config) return;
    probe('worker.config_from_prepare');
    const ids = voters.map((v) => v.id);
    this.heardConfig({ n: config, voters: ids, catching_up: this.configCatchingUp.filter((id) => ids.includes(id)) }, true, false);
  }

  /**
   * A configuration proposed: kept durably (what this worker tells a coordinator that lost its data
   * it knows), then acked; it is used only once every voter of it has acked, and said with `config`.
   */
  private onProposal(c: KnownConfig): void {
    const p = this.proposed;
    if (c.n <= this.config || (p !== null && c.n < p.n)) {
      // Older than what is known: in use already (acked before), or overtaken by a newer proposal.
      this.send({ type: 'config_ack', config: c.n });
      return;
    }
    if (p !== null && p.n === c.n && sameIds(p.voters, c.voters) && sameIds(p.catching_up, c.catching_up)) {
      if (this.proposedDurable) this.send({ type: 'config_ack', config: c.n }); // a repeat: acked again (else once durable)
      return;
    }
    this.proposed = { n: c.n, voters: [...c.voters], catching_up: [...c.catching_up] };
    this.proposedDurable = false;
    this.out.push({ type: 'persist_proposal', config: this.proposed });
  }

  /** The configuration in use here. */
  private inUse(): KnownConfig {
    return { n: this.config, voters: [...this.configVoters], catching_up: [...this.configCatchingUp] };
  }

  /** A configuration proposed to it and made durable, newer than the one in use (it may never have been used): null when none. */
  private newerProposal(): KnownConfig | null {
    const p = this.proposed;
    return p !== null && p.n > this.config && this.proposedDurable ? { n: p.n, voters: [...p.voters], catching_up: [...p.catching_up] } : null;
  }

  private heardReserved(through: number): void {
    if (through <= this.reserved) return;
    this.reserved = through;
    this.out.push({ type: 'save_reserved', through });
  }

  private sendState(): void {
    this.send({
      type: 'state',
      node_id: this.nodeId,
      prepared: this.preparedList(),
      max_cseq: this.maxCseq,
      known_config: this.inUse(),
      proposed_config: this.newerProposal(),
      reserved: this.reserved,
    });
  }

  /**
   * Why a coordinator's hello is refused, as the answer to send before closing its link, or null
   * when it is taken. Pure: nothing changes. A worker of another cluster refuses it (its data would
   * mix with that cluster's), and so does one that obeyed a newer coordinator: a lower epoch, or
   * the same epoch from another process (a coordinator whose store was lost or restored from an old
   * copy). `live`: this worker's link to the coordinator it obeys is up now (the other is not a
   * coordinator that is gone, but one that serves).
   */
  helloRefusal(h: Extract<ToWorkerCore, { type: 'hello' }>, live: boolean): Extract<FromWorker, { type: 'refused' }> | null {
    if (this.cluster !== null && h.cluster !== this.cluster) {
      probe('worker.refused_other_cluster');
      return { type: 'refused', reason: 'cluster', cluster: this.cluster, epoch: this.fence.epoch, live, error: `worker ${this.nodeId} holds the data of cluster ${this.cluster}, not ${h.cluster}: it takes no coordinator of another cluster (start it on an empty data directory to add it to ${h.cluster})` };
    }
    if (this.sabotage === 'obey_lower_epoch') return null;
    if (h.epoch < this.fence.epoch || (h.epoch === this.fence.epoch && h.run !== this.fence.run)) {
      probe('worker.refused_older_coordinator');
      const whose = h.epoch < this.fence.epoch ? `a lower epoch (${h.epoch}) than` : `epoch ${h.epoch}, the epoch of another coordinator process,`;
      return { type: 'refused', reason: 'epoch', cluster: this.cluster, epoch: this.fence.epoch, live, error: `worker ${this.nodeId} obeys the coordinator of epoch ${this.fence.epoch}${live ? ', which is linked to it now' : ''}; a coordinator with ${whose} it obeyed is refused` };
    }
    return null;
  }

  /** What this worker tells a coordinator when it registers; `fresh`: its store holds no rows (the shell knows). */
  knowledge(storeEmpty: boolean): ClusterKnowledge {
    let maxCseq = this.maxCseq;
    for (const t of this.txns.values()) if (t.cseq > maxCseq) maxCseq = t.cseq;
    return {
      cluster: this.cluster,
      epoch: this.fence.epoch,
      config: this.inUse(),
      proposed: this.newerProposal(),
      max_cseq: maxCseq,
      reserved: this.reserved,
      fresh: this.cluster === null && storeEmpty && this.txns.size === 0,
    };
  }

  /**
   * Why a new transaction may not start here, or null: a worker votes only while it is a voter of
   * the configuration it knows, never on a transaction from an older configuration (one it may have
   * left since), and never before it has every commit streamed to it ahead of the request.
   */
  private refusal(config: number, floor: number): { code: ErrorCode; error: string } | null {
    const refused = (error: string): { code: ErrorCode; error: string } => {
      probe('worker.not_a_voter_refused');
      return { code: 'UNAVAILABLE', error };
    };
    if (this.sabotage === 'accept_stale_prepare') return null;
    if (!this.voter) return refused(`worker ${this.nodeId} does not vote in configuration ${this.config} (it is a learner, or was evicted)`);
    if (config < this.config) return refused(`the transaction comes from configuration ${config}; worker ${this.nodeId} is in configuration ${this.config}`);
    if (floor > this.replicaSeq) return refused(`worker ${this.nodeId} has not yet received every commit streamed to it before this transaction`);
    return null;
  }

  /** Tells the observer (the simulator's checker) that a transaction is accepted here under `config`. */
  private observeVote(txid: string, config: number): void {
    this.voteObserver?.({ txid, config, known: this.config, voter: this.voter });
  }

  get knownConfig(): { config: number; voter: boolean } {
    return { config: this.config, voter: this.voter };
  }

  /** A commit this worker did not vote on (it is a learner, or was promoted after the transaction was prepared). */
  private onReplicate(msg: Extract<ToWorkerCore, { type: 'replicate' }>): void {
    if (msg.seq <= this.replicaSeq) return; // a duplicate
    if (msg.seq > this.replicaSeq + 1) {
      probe('worker.replicate_ahead');
      if (this.ahead.size < CORE_LIMITS.replicatesAhead) this.ahead.set(msg.seq, msg);
      return;
    }
    this.applyReplicate(msg);
    for (let next = this.ahead.get(this.replicaSeq + 1); next !== undefined; next = this.ahead.get(this.replicaSeq + 1)) {
      this.ahead.delete(next.seq);
      this.applyReplicate(next);
    }
  }

  private applyReplicate(msg: Extract<ToWorkerCore, { type: 'replicate' }>): void {
    this.replicaSeq = msg.seq;
    const t = this.txns.get(msg.txid);
    if (t !== undefined) {
      // Prepared here (it voted, then lost track): the replicate is its commit.
      if (t.phase === 'prepared') this.onCommit(msg.txid, msg.cseq);
      if (t.phase === 'committing') this.replicating.set(msg.txid, msg.seq);
      else this.send({ type: 'replicated', seq: msg.seq });
      return;
    }
    // Applied even when this worker committed it already: a copy installed since may have
    // replaced its rows. Each op writes only over an older row, so a second apply changes nothing.
    // Written like a commit, holding the locks it can take until it is visible, so that a
    // transaction on these keys judged here after it sees it. A key held by another is held by
    // one prepared here before this commit was decided; that one cannot commit (the voters of
    // this commit held the key), so the write goes ahead.
    const r = this.newTxn(msg.txid, 0);
    r.phase = 'committing';
    r.cseq = msg.cseq;
    r.ops = msg.ops;
    r.replicated = true;
    this.deadlines.set(msg.txid, Number.POSITIVE_INFINITY);
    for (const key of new Set(msg.ops.map(lockKeyOf))) {
      if (this.locks.acquireAll(msg.txid, [key]).ok) continue;
      probe('worker.replicate_key_held');
      const waiting = this.unlockedReplicaKeys.get(key) ?? new Set<string>();
      waiting.add(msg.txid);
      this.unlockedReplicaKeys.set(key, waiting);
    }
    this.replicating.set(msg.txid, msg.seq);
    this.maxCseq = Math.max(this.maxCseq, msg.cseq);
    this.out.push({ type: 'persist_commit', txid: msg.txid, cseq: msg.cseq, ops: msg.ops });
  }

  /**
   * Takes every key for a transaction judged here, or none: a key held by another transaction, or
   * written by a replicate not yet visible, is refused (LOCKED).
   */
  private lockKeys(txid: string, keys: readonly string[]): { ok: true } | { ok: false; key: string } {
    for (const key of keys) if (this.unlockedReplicaKeys.has(key)) return { ok: false, key };
    return this.locks.acquireAll(txid, keys);
  }

  /** A replicate is visible (or gone): the keys it could not lock are free to be judged again. */
  private replicaWritten(txid: string, ops: readonly Op[]): void {
    if (this.unlockedReplicaKeys.size === 0) return;
    for (const op of ops) {
      const key = lockKeyOf(op);
      const waiting = this.unlockedReplicaKeys.get(key);
      if (waiting === undefined) continue;
      waiting.delete(txid);
      if (waiting.size === 0) this.unlockedReplicaKeys.delete(key);
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

  private onLock(txid: string, seq: number, op: Op, config: number, floor: number, now: number): void {
    let t = this.txns.get(txid);
    if (t === undefined) {
      const refused = this.refusalFor(txid) ?? this.refusal(config, floor);
      if (refused !== null) {
        this.send({ type: 'lock_refused', txid, seq, ...refused });
        return;
      }
      this.observeVote(txid, config);
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
    const got = this.lockKeys(txid, [lockKeyOf(op)]);
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

  private onPrepare(txid: string, ops: Op[] | null, voters: Peer[], config: number, floor: number, cseq: number, now: number): void {
    const peers = voters.filter((v) => v.id !== this.nodeId);
    // The first voter sends the results with its YES; the others their digest (see yesVote).
    const sendsResults = voters.length === 0 || voters[0]?.id === this.nodeId;
    const t = this.txns.get(txid);
    if (t !== undefined) {
      if (ops === null && t.phase === 'active') {
        // Locked while a voter; evicted since, it may not vote.
        if (!this.voter && this.sabotage !== 'accept_stale_prepare') {
          probe('worker.not_a_voter_refused');
          this.voteNo(t, 'UNAVAILABLE', `worker ${this.nodeId} no longer votes (configuration ${this.config})`);
          return;
        }
        // (Its configuration was checked at its first lock; only a voter may go on.)
        this.observeVote(txid, this.config);
        this.heardConfigInPrepare(config, voters);
        t.peers = peers;
        t.cseq = cseq;
        t.sendsResults = sendsResults;
        const behind = this.newerRowThan(t.ops, cseq);
        if (behind !== null) {
          this.voteNo(t, 'LOCKED', behind);
          return;
        }
        if (peers.length === 0) this.commitInOnePhase(t);
        else this.startPrepare(t);
        return;
      }
      // A repeated prepare: answer it again once we have an answer; otherwise the vote is on its way.
      if (t.phase === 'prepared' && !t.abortRequested) {
        probe('worker.repeated_prepare_revoted');
        this.observeYes(t);
        this.send(this.yesVote(t));
      }
      // Refused already (the tombstone is being written): the NO goes out once it is durable.
      if (t.phase === 'aborting' && t.noVote === null) t.noVote = { code: 'TIMEOUT', error: `transaction ${txid} was already aborted on worker ${this.nodeId}` };
      return;
    }
    if (this.view.outcomeOf(txid) === 'commit') {
      // Committed here already (by its voters, while the coordinator's vote was late): say so.
      this.send(this.ackOfSettled(txid, 'commit'));
      return;
    }
    const refused = this.refusalFor(txid);
    if (refused !== null) {
      // Prepare after abort (the "hanging" case): its tombstone is durable (the transaction is forgotten).
      probe('worker.hanging_prepare_refused');
      this.send({ type: 'vote', txid, yes: false, ...refused });
      this.observeRefusal(txid);
      return;
    }
    const notHere = ops === null ? { code: 'TIMEOUT' as const, error: `transaction ${txid} expired on worker ${this.nodeId} before it was committed` } : this.refusal(config, floor);
    if (notHere !== null || ops === null) {
      // An interactive transaction we no longer hold, or one this worker may not vote on: refused
      // durably (a tombstone first), so that it can never gather every YES later.
      const ghost = this.newTxn(txid, now);
      this.voteNo(ghost, notHere?.code ?? 'TIMEOUT', notHere?.error ?? '');
      return;
    }
    this.observeVote(txid, config);
    this.heardConfigInPrepare(config, voters);
    const fresh = this.newTxn(txid, now);
    fresh.peers = peers;
    fresh.cseq = cseq;
    fresh.sendsResults = sendsResults;
    const got = this.lockKeys(txid, ops.map(lockKeyOf));
    if (!got.ok) {
      this.voteNo(fresh, 'LOCKED', lockedMessage(got.key));
      return;
    }
    const behind = this.newerRowThan(ops, cseq);
    if (behind !== null) {
      this.voteNo(fresh, 'LOCKED', behind);
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
    if (peers.length === 0) this.commitInOnePhase(fresh);
    else this.startPrepare(fresh);
  }

  /**
   * Why a transaction with this cseq may not write these rows, or null: a commit writes only over
   * older rows, so one whose row was written since by a later commit (its prepare was overtaken)
   * would be lost. Rows are looked at only when this worker applied a commit at least as new.
   */
  private newerRowThan(ops: readonly Op[], cseq: number): string | null {
    if (cseq > this.maxCseq) return null;
    for (const op of ops) {
      if (this.view.rowCseqOf(op) >= cseq) {
        probe('worker.prepare_behind_row');
        return `${lockedMessage(lockKeyOf(op)).replace(' is locked by another transaction', '')} was written by a newer transaction meanwhile`;
      }
    }
    return null;
  }

  /** What the op's key holds as this transaction sees it: its own staged write, else the committed row. */
  private currentOf(t: WorkerTxn, op: Op): Row | null {
    const key = lockKeyOf(op);
    if (t.staged.has(key)) return t.staged.get(key) ?? null;
    const id = opTweetId(op);
    if (id !== null) return this.view.getTweet(id);
    return op.kind === 'put_item' ? this.view.getItem(op.item.kind, op.item.key) : op.kind === 'delete_item' || op.kind === 'incr_item' ? this.view.getItem(op.item_kind, op.key) : null;
  }

  private startPrepare(t: WorkerTxn): void {
    t.phase = 'preparing';
    this.deadlines.set(t.txid, Number.POSITIVE_INFINITY);
    t.staged.clear();
    this.out.push({ type: 'persist_prepared', txid: t.txid, ops: t.ops, peers: t.peers, cseq: t.cseq, results: t.results });
    if (this.sabotage === 'vote_before_persist') {
      this.observeYes(t);
      this.send(this.yesVote(t));
    }
  }

  /**
   * A YES for `t`: with its results if it is the voter that sends them (the first of the prepare's
   * voters, or one that does not know its place), or if they are empty (shorter than a digest);
   * otherwise with their digest, which the coordinator compares with the results it gets from the
   * first voter. The answer to prevent always carries them (with the ops): see onPrevent.
   */
  private yesVote(t: WorkerTxn): FromWorker {
    if (!t.sendsResults && t.results.length > 0) return { type: 'vote', txid: t.txid, yes: true, digest: resultsDigest(t.results) };
    // A new post's result is the tweet its op posted (the very object): the coordinator sent it, and puts it back.
    const results = t.results.map((r, i): VoteResult => {
      const op = t.ops[i];
      return op !== undefined && op.kind === 'post' && 'tweet' in r && r.tweet === op.tweet ? { as_posted: true } : r;
    });
    return { type: 'vote', txid: t.txid, yes: true, results };
  }

  /**
   * The only voter: its durable YES is every YES, so once its prepared record is durable it says
   * YES and commits at once, without waiting to be told (one phase, no second round). The record
   * comes first so that a commit write lost to a power cut is not lost with it: reads may have
   * seen that write, and the record brings it back at restart.
   */
  private commitInOnePhase(t: WorkerTxn): void {
    probe('worker.one_phase_commit');
    t.onePhase = true;
    this.startPrepare(t);
  }

  /**
   * Refuse: nothing was voted, so the worker may forget the transaction. The tombstone refuses a
   * late repeat, and the NO goes out only once it is durable: a refusal said and then lost to a
   * power cut could let the transaction gather every YES after its client was told ABORT.
   */
  private voteNo(t: WorkerTxn, code: ErrorCode, error: string): void {
    t.noVote = { code, error };
    this.abortLocally(t);
  }

  private abortLocally(t: WorkerTxn): void {
    this.locks.releaseAll(t.txid);
    t.phase = 'aborting';
    t.staged.clear(); // nothing reads them again, and their locks are gone
    this.deadlines.set(t.txid, Number.POSITIVE_INFINITY);
    this.out.push({ type: 'persist_abort', txid: t.txid });
  }

  private onCommit(txid: string, cseq: number): void {
    const t = this.txns.get(txid);
    if (t === undefined) {
      const outcome = this.view.outcomeOf(txid);
      // The only way a commit may reach a worker is after its own durable YES vote.
      assert(outcome !== 'abort', `commit of ${txid}, which this worker aborted: copies would diverge`);
      assert(outcome === 'commit', `commit of ${txid}, which this worker never prepared`);
      const again = this.sabotage === 'apply_commit_twice' ? this.appliedOps.get(txid) : undefined;
      // (It takes the locks as a real commit holds them, so that only this one rule is broken.)
      if (again !== undefined && this.locks.acquireAll(txid, again.map(lockKeyOf)).ok) {
        const dup = this.newTxn(txid, 0);
        dup.phase = 'committing';
        dup.cseq = cseq;
        dup.ops = again;
        this.deadlines.set(txid, Number.POSITIVE_INFINITY);
        // Written as the newest write: the store writes a commit only over older rows, so the
        // same cseq again would change nothing; this is the repeat a store without that rule makes.
        this.out.push({ type: 'persist_commit', txid, cseq: this.maxCseq + 1, ops: again });
        return;
      }
      probe('worker.commit_after_forgotten');
      this.send({ type: 'ack', txid, outcome: 'commit' });
      return;
    }
    assert(t.phase === 'prepared' || t.phase === 'committing', `commit of ${txid} in phase ${t.phase}: it never voted YES`);
    if (t.phase === 'committing') {
      probe('worker.duplicate_commit');
      return; // a duplicate; the ack follows the apply
    }
    t.phase = 'committing';
    this.deadlines.set(txid, Number.POSITIVE_INFINITY);
    t.cseq = cseq;
    this.out.push(t.untold ? { type: 'persist_commit', txid, cseq, ops: t.ops, results: t.results } : { type: 'persist_commit', txid, cseq, ops: t.ops });
    this.maxCseq = Math.max(this.maxCseq, cseq);
  }

  /**
   * Abort by prevention: refuse the transaction durably unless this worker holds a durable YES for
   * it. A YES is a promise: it is said again (with the ops, for a coordinator that lost them), and kept.
   */
  private onPrevent(txid: string, now: number): void {
    const t = this.txns.get(txid);
    if (t === undefined) {
      const outcome = this.view.outcomeOf(txid);
      if (outcome !== null) {
        this.send(this.ackOfSettled(txid, outcome));
        if (outcome === 'abort') this.observeRefusal(txid);
        return;
      }
      probe('worker.prevented_unseen');
      if (this.sabotage === 'refuse_without_tombstone') {
        this.send({ type: 'ack', txid, outcome: 'abort' });
        this.observeRefusal(txid);
        return;
      }
      this.abortLocally(this.newTxn(txid, now));
      return;
    }
    switch (t.phase) {
      case 'prepared':
        probe('worker.prevent_met_yes');
        this.observeYes(t);
        this.send({ type: 'vote', txid, yes: true, results: t.results, ops: t.ops });
        // Its only voter: that YES is every YES, and the coordinator takes it as the commit (one
        // phase, nothing kept). So it commits now, in this turn, as a sole voter does after its
        // vote: anything asked of this worker after it (a copy's page) must see it (simulator
        // seed 710352: a learner copied from it before its tick committed it, and lacked it).
        if (t.peers.length === 0 && t.cseq > 0) {
          probe('worker.one_phase_recovered');
          this.commitAlone(t);
        }
        return;
      case 'active':
        this.abortLocally(t);
        return;
      case 'preparing':
        // Its YES was not said yet: it may still refuse, and does (the tombstone follows the record).
        probe('worker.abort_while_preparing');
        t.abortRequested = true;
        this.abortLocally(t);
        return;
      case 'committing':
      case 'aborting':
        return; // the ack follows its fsync
    }
  }

  /** The ack of an outcome already settled and forgotten here, with a commit's results when kept (settled without the coordinator). */
  private ackOfSettled(txid: string, outcome: 'commit' | 'abort'): FromWorker {
    // A commit here implies this worker's YES, durable with it (forgotten: its fsync returned).
    if (outcome === 'commit') this.statementObserver?.({ txid, says: 'yes', durable: true });
    const results = outcome === 'commit' ? this.view.commitResultsOf(txid) : null;
    return results === null ? { type: 'ack', txid, outcome } : { type: 'ack', txid, outcome, results };
  }

  /** Tells the observer (the simulator's checker) that this worker says it refused `txid`. */
  private observeRefusal(txid: string): void {
    this.statementObserver?.({ txid, says: 'refused', durable: this.view.outcomeOf(txid) === 'abort' && !this.txns.has(txid) });
  }

  /** ... that it says it holds a YES for `txid`: durable only once its prepared record is (phase prepared). */
  private observeYes(t: WorkerTxn): void {
    this.statementObserver?.({ txid: t.txid, says: 'yes', durable: t.phase === 'prepared' });
  }

  private onAbort(txid: string): void {
    const t = this.txns.get(txid);
    if (t === undefined) {
      const outcome = this.view.outcomeOf(txid);
      // An abort is decided only after some voter refused durably, and a refused transaction never
      // gathers every YES (there is no presumed abort any more): one that committed here cannot be aborted.
      assert(outcome !== 'commit', `abort of ${txid}, which this worker committed: copies would diverge`);
      if (outcome === 'abort') {
        this.send({ type: 'ack', txid, outcome: 'abort' });
        return;
      }
      // An abort for a transaction never seen (the "empty rollback"): leave a tombstone first.
      probe('worker.empty_rollback');
      const ghost = this.newTxn(txid, 0);
      this.abortLocally(ghost);
      return;
    }
    assert(t.phase !== 'committing', `abort of ${txid} after its commit arrived`);
    if (t.phase === 'aborting') return;
    if (t.phase === 'preparing') {
      // The prepared record is being written; the abort is queued behind it.
      probe('worker.abort_while_preparing');
      t.abortRequested = true;
    }
    this.abortLocally(t);
  }

  private onDurable(txid: string, what: 'prepared' | 'commit' | 'abort', now: number): void {
    const t = this.txns.get(txid);
    assert(t !== undefined, `durable ${what} for unknown transaction ${txid}`);
    switch (what) {
      case 'prepared':
        if (t.phase !== 'preparing') return; // aborted meanwhile: the abort record follows
        t.phase = 'prepared';
        this.deadlines.set(txid, now + Math.max(FIRST_QUERY_DELAY_MS, this.lockTimeoutMs));
        if (this.sabotage !== 'vote_before_persist') {
          this.observeYes(t);
          this.send(this.yesVote(t));
        }
        if (t.onePhase) this.commitAlone(t);
        return;
      case 'commit': {
        assert(t.phase === 'committing', `durable commit of ${txid} in phase ${t.phase}`);
        this.locks.releaseAll(txid);
        const streamed = this.replicating.get(txid);
        this.forget(txid);
        if (streamed !== undefined) this.send({ type: 'replicated', seq: streamed });
        if (t.replicated) return;
        if (this.sabotage === 'apply_commit_twice') this.appliedOps.set(txid, t.ops);
        // Settled without the coordinator: it may still owe the client its reply, with these results.
        this.send(t.untold ? { type: 'ack', txid, outcome: 'commit', results: t.results } : { type: 'ack', txid, outcome: 'commit' });
        return;
      }
      case 'abort':
        assert(t.phase === 'aborting', `durable abort of ${txid} in phase ${t.phase}`);
        this.forget(txid);
        if (t.noVote !== null) this.send({ type: 'vote', txid, yes: false, ...t.noVote });
        this.send({ type: 'ack', txid, outcome: 'abort' });
        this.observeRefusal(txid);
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
      else if (outcome === 'abort') {
        this.answerPeer(route, q.txid, 'abort', 0);
        this.observeRefusal(q.txid);
      } else if (this.sabotage === 'refuse_without_tombstone') {
        this.answerPeer(route, q.txid, 'abort', 0);
        this.observeRefusal(q.txid);
      } else {
        // Never seen here, so never voted YES: promise never to (a tombstone), then say abort.
        probe('worker.peer_told_never_voted');
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
      case 'prepared':
        // A durable YES, not told the outcome: if every voter says so, it is committed.
        this.observeYes(t);
        this.exposed.add(t.txid);
        this.answerPeer(route, q.txid, 'prepared', t.cseq);
        return;
      case 'preparing':
        // Its prepared record is being written: it cannot say yet.
        this.answerPeer(route, q.txid, 'unknown', 0);
        return;
    }
  }

  private onPeerAnswer(a: PeerAnswer): void {
    const t = this.txns.get(a.txid);
    if (t === undefined || t.phase !== 'prepared' || a.outcome === 'unknown') return;
    if (!t.peers.some((p) => p.id === a.from)) return; // not a voter of this transaction
    if (a.outcome === 'prepared') {
      // A durable YES is never taken back, so these add up across rounds of questions.
      t.preparedPeers.add(a.from);
      if (!this.everyVoterPrepared(t)) return;
      this.resolvedByPeers++;
      probe('worker.implicit_commit_by_peers');
      this.out.push({ type: 'log', level: 'info', msg: `transaction ${a.txid} committed by its voters: every one of them holds a durable YES`, data: { txid: a.txid, voters: t.peers.length + 1 } });
      this.observeYes(t);
      t.untold = true;
      this.onCommit(a.txid, t.cseq);
      return;
    }
    this.resolvedByPeers++;
    probe('worker.resolved_by_peer');
    this.out.push({ type: 'log', level: 'info', msg: `transaction ${a.txid} resolved by asking worker ${a.from}: ${a.outcome}`, data: { txid: a.txid, peer: a.from, outcome: a.outcome } });
    if (a.outcome === 'commit') {
      t.untold = true;
      this.onCommit(a.txid, a.cseq);
    } else this.onAbort(a.txid);
  }

  private onTick(now: number): void {
    for (const txid of this.deadlines.due(now)) {
      const t = this.txns.get(txid);
      if (t === undefined) continue;
      if (t.phase === 'active') {
        // Not prepared within the lock timeout: no vote was given, so the worker may abort alone.
        probe('worker.lock_timeout_abort');
        this.abortLocally(t);
      } else if (t.phase === 'prepared' && t.peers.length === 0 && t.cseq > 0) {
        // The only voter, back with its durable YES (a restart): committed, whatever the coordinator knows.
        probe('worker.one_phase_recovered');
        this.commitAlone(t);
      } else if (t.phase === 'prepared') {
        // Ask the coordinator and, in case it is gone, every other voter.
        this.send({ type: 'query', txid: t.txid });
        for (const p of t.peers) this.out.push({ type: 'peer_ask', peer: p, msg: { type: 'peer_query', txid: t.txid, to: p.id } });
        this.deadlines.set(txid, now + t.queryBackoffMs);
        t.queryBackoffMs = Math.min(t.queryBackoffMs * 2, MAX_QUERY_BACKOFF_MS);
      }
    }
    if (this.sabotage === 'release_prepared_lock_on_timeout') {
      for (const t of this.txns.values()) if (t.phase === 'prepared' && now - t.firstLockAt >= this.lockTimeoutMs) this.locks.releaseAll(t.txid);
    }
  }

  /**
   * Does every voter hold a durable YES (this worker's own, and each other's as it said)? Never for a
   * record from before implicit commit (cseq 0): it commits only when told.
   */
  private everyVoterPrepared(t: WorkerTxn): boolean {
    if (t.cseq === 0) return false;
    if (this.sabotage === 'commit_one_yes_missing') return t.peers.length <= 1 || t.peers.filter((p) => !t.preparedPeers.has(p.id)).length <= 1;
    return t.peers.every((p) => t.preparedPeers.has(p.id));
  }

  /** Its only voter commits it: its durable YES is every YES. The ack (with the results kept) tells a coordinator that lost the YES. */
  private commitAlone(t: WorkerTxn): void {
    this.observeYes(t);
    t.untold = true;
    this.onCommit(t.txid, t.cseq);
  }

  private forget(txid: string): void {
    const t = this.txns.get(txid);
    if (t !== undefined && t.replicated) this.replicaWritten(txid, t.ops);
    this.exposed.delete(txid);
    this.replicating.delete(txid);
    this.txns.delete(txid);
    this.deadlines.clear(txid);
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
      queryBackoffMs: FIRST_QUERY_DELAY_MS,
      peers: [],
      cseq: 0,
      preparedPeers: new Set(),
      noVote: null,
      peerWaiters: [],
      applied: false,
      replicated: false,
      untold: false,
      onePhase: false,
      sendsResults: true,
    };
    this.txns.set(txid, t);
    this.deadlines.set(txid, now + this.lockTimeoutMs);
    return t;
  }

  /**
   * Asserts every invariant of the prepared records and the locks (the `Invariants:` comments on
   * WorkerTxn and LockTable); throws an InvariantError naming the first one broken. Cheap enough
   * to run after every event: it walks the open transactions' ops and the locks once, never the data.
   */
  invariants(): void {
    this.locks.invariants();
    assert(this.deadlines.size === this.txns.size, () => `prepared.deadline: ${this.deadlines.size} deadlines for ${this.txns.size} transactions`);
    for (const [txid, t] of this.txns) {
      const holds = t.phase === 'preparing' || t.phase === 'prepared' || (t.phase === 'committing' && !t.applied);
      if (t.replicated) {
        // A replicate takes the locks it can (see applyReplicate): it never voted; applied, it holds none.
        if (t.applied) assert(this.locks.keysOf(txid).length === 0, () => `prepared.locks: replicated ${txid} is applied and still holds ${this.locks.keysOf(txid).join(', ')}`);
      } else if (holds) {
        for (const op of t.ops) {
          const key = lockKeyOf(op);
          assert(this.locks.holderOf(key) === txid, () => `prepared.locks: ${txid} (${t.phase}) writes ${key} and does not hold its lock (${this.locks.holderOf(key) ?? 'nobody'} does)`);
        }
      } else if (t.phase !== 'active') {
        const held = this.locks.keysOf(txid);
        assert(held.length === 0, () => `prepared.locks: ${txid} (${t.phase}${t.applied ? ', applied' : ''}) still holds ${held.join(', ')}`);
      }
      if (t.phase === 'active') {
        for (const key of t.staged.keys()) assert(this.locks.holderOf(key) === txid, () => `prepared.staged: ${txid} staged ${key} without its lock`);
      } else {
        assert(t.staged.size === 0, () => `prepared.staged: ${txid} (${t.phase}) still has staged rows`);
      }
      if (t.phase === 'committing') assert(t.cseq > 0 && t.cseq <= this.maxCseq, () => `prepared.cseq: ${txid} commits with cseq ${t.cseq} (highest applied ${this.maxCseq})`);
      if (t.abortRequested || t.peerWaiters.length > 0) assert(t.phase === 'aborting', () => `prepared.abort: ${txid} was asked to abort, or owes peers an answer, and is ${t.phase}`);
      const when = this.deadlines.get(txid);
      const runs = t.phase === 'active' || t.phase === 'prepared';
      assert(when !== undefined && Number.isFinite(when) === runs, () => `prepared.deadline: ${txid} (${t.phase}) has deadline ${when}`);
    }
    for (const txid of this.exposed) assert(this.txns.has(txid), () => `prepared.exposed: ${txid} is marked as told to a peer and is gone`);
    for (const [key, waiting] of this.unlockedReplicaKeys) {
      for (const txid of waiting) {
        const t = this.txns.get(txid);
        assert(t !== undefined && t.replicated && !t.applied, () => `replica.keys: ${key} waits for replicate ${txid}, which is ${t === undefined ? 'gone' : t.applied ? 'applied' : 'not a replicate'}`);
      }
    }
    assert(this.book.size <= CORE_LIMITS.maxWorkers, () => `worker.book: ${this.book.size} voter addresses kept for the link, over the limit of ${CORE_LIMITS.maxWorkers}`);
    for (const [key, txid] of this.locks.entries()) {
      const t = this.txns.get(txid);
      assert(t !== undefined && t.phase !== 'aborting' && !t.applied, () => `lock.holder: ${key} is held by ${txid}, which is ${t === undefined ? 'gone' : t.applied ? 'applied' : t.phase}`);
    }
  }
}

function sameIds(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((id, i) => id === b[i]);
}

export { lockedMessage } from './types.ts';
