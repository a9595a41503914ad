// What the coordinator core's parts share: the configuration, the effects being collected for
// the event in hand, the counters, the commit sequence, and a handle on each part. One context
// object, made by CoordinatorCore, passed to every part (src/core/coord-*.ts).

import type { ChangeFeed, ChangeEvent } from './coord-feed.ts';
import type { Tracer, TraceLine, TxnTrace } from './coord-trace.ts';
import type { Membership } from './coord-members.ts';
import type { ClusterIdentity } from './coord-identity.ts';
import type { Reads } from './coord-reads.ts';
import type { TwoPhaseCommit } from './coord-commit.ts';
import type { ClientRequest, ErrorCode, FromWorker, Reply, Sabotage, ToWorker } from './types.ts';

/** Why a coordinator recovers its cluster from its workers: its data directory was empty, or older than theirs. */
export type RecoveringWhy = 'empty' | 'behind';

/** A worker as the status and check replies show it. */
export type WorkerLinkState = 'up' | 'down' | 'joining';

export type CoordinatorEffect =
  | { type: 'reply'; conn: number; slot: number; reply: Reply }
  /** A reply already rendered as its line (a JSON object, no newline): a worker's read_text, passed on unparsed. */
  | { type: 'reply_text'; conn: number; slot: number; text: string }
  /** A line outside the request/reply order: a change event to a subscriber. */
  | { type: 'push'; conn: number; line: ChangeEvent }
  /** The same for the trace feed: a finished transaction's steps to a trace subscriber. */
  | { type: 'push_trace'; conn: number; line: TraceLine }
  /** A transaction is over, with the time of each of its steps (only with cfg.traceEffects: the runtime's metrics). */
  | { type: 'trace'; trace: TxnTrace }
  | { type: 'send'; worker: string; msg: ToWorker }
  /** A commit decided (implicitly: every voter holds a YES), written in the background: nothing waits for it. */
  | { type: 'log_commit'; txid: string; cseq: number; voters: string[]; at: number }
  | { type: 'forget_decision'; txid: string }
  /** A configuration proposed (the voting set, numbered): durable (`config_logged`) before its voters are told. */
  | { type: 'log_config'; config: number; voters: string[]; catching_up: string[] }
  /** The proposed configuration, acked by each of its voters, is the one in use: durable (`config_committed`) before it is used. */
  | { type: 'commit_config'; config: number }
  /** Commit sequence numbers up to `through` may be given out once this is durable (`cseq_reserved`). */
  | { type: 'reserve_cseq'; through: number }
  /** The cluster served (null: none yet) and this coordinator's epoch: durable (`identity_logged` with `seq`) before any worker is linked. */
  | { type: 'log_identity'; seq: number; cluster: string | null; epoch: number; recovering: RecoveringWhy | null }
  /** `leaving`: the operator removed it; it leaves the membership once it owes nothing (kept across restarts). */
  | { type: 'save_member'; id: string; address: string; leaving: boolean }
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
  /** A log_config effect is on disk. */
  | { type: 'config_logged'; config: number }
  /** A commit_config effect is on disk. */
  | { type: 'config_committed'; config: number }
  /** A reserve_cseq effect is on disk. */
  | { type: 'cseq_reserved'; through: number }
  /** A log_identity effect is on disk. */
  | { type: 'identity_logged'; seq: number }
  | { type: 'tick' };

export interface RecoveredCoordinator {
  /** This run's epoch: one above the last run's. */
  epoch: number;
  /** The cluster it serves (null: none: a store that is empty, or from before cluster ids). */
  cluster?: string | null;
  /** The store holds nothing at all (a new data directory, or a lost one): the coordinator knows no cluster. */
  empty?: boolean;
  /** It was recovering the cluster when it stopped (and why): it recovers again, never serves from this store as it is. */
  recovering?: RecoveringWhy | null;
  last_cseq: number;
  /** The highest cseq a run of this coordinator may have given out (0: a store from before implicit commit). */
  cseq_reserved?: number;
  members: { id: string; address: string; leaving?: boolean }[];
  /** The voting set, numbered. A store from before configurations: every member votes, as configuration 1 (0 with no member). */
  config: { n: number; voters: string[]; catching_up?: string[] };
  /** The highest configuration proposed (null: none beyond the one in use). */
  config_proposed?: { n: number; voters: string[]; catching_up: string[] } | null;
  decisions: { txid: string; cseq: number; voters: string[]; at: number }[];
}

export interface CoordinatorConfig {
  lockTimeoutMs: number;
  /** This process's run: random, so that two processes with one epoch are told apart (fencing). */
  run: string;
  /** The id a new cluster gets if this coordinator forms one (random). */
  newClusterId: string;
  /** `--new-cluster`: with an empty data directory, form a new cluster at once (no wait for workers of an existing one). */
  newCluster: boolean;
  /**
   * How long a coordinator that did not form its cluster in this run waits before it chooses a
   * first voter (ClusterIdentity.mayChooseFirstVoter). Absent: FIRST_VOTER_GRACE_MS (10 s). The
   * unit tests' cores set 0: they start with a cluster already theirs.
   */
  firstVoterGraceMs?: number;
  /** Pages of a full copy to a joining worker. */
  copyPageRows: number;
  /** A voter not up for this long is evicted by a configuration change (`--evict-after`). */
  evictAfterMs: number;
  /** Writes are refused while fewer workers vote (`--min-voters`). */
  minVoters: number;
  /** Counters kept by the runtime (fsyncs, ...), shown by status. Reading them does no I/O. */
  ioStats?: () => Record<string, number>;
  /** Test-only: break one rule on purpose (see Sabotage). */
  sabotage?: Sabotage;
  /** Emit a `trace` effect for every finished transaction (the runtime turns them into metrics). */
  traceEffects?: boolean;
  /** The runtime has no cluster key (loopback's open mode): status says so (README Security, "Open mode"). */
  openMode?: boolean;
}

/** Limits (TigerBeetle style: everything has one), kept with every other limit in src/wire/limits.ts. */
export { CORE_LIMITS as LIMITS } from '../wire/limits.ts';

/** Commit sequence numbers reserved (durably) at a time: see CoordinatorContext.nextCseq. */
export const CSEQ_RESERVE = 100_000;

/** A link that reached another identity than the member's is dialled again after this long, not at once. */
export const WRONG_IDENTITY_REDIAL_MS = 2_000;

export class CoordinatorContext {
  readonly cfg: CoordinatorConfig;
  /** This coordinator's epoch (its term): raised above every epoch a worker obeyed when it takes a cluster over. */
  epoch: number;
  /**
   * The last commit sequence number given out (with a prepare). After a restart it starts above
   * every cseq the log and the workers' `state` name, so none is given out twice to transactions
   * that may both commit.
   */
  lastCseq: number;
  /**
   * The highest cseq that may be given out: its reservation is durable, so a restart starts above
   * every cseq a voter may hold (the decision log is written in the background and may lag).
   */
  cseqLimit: number;
  /** A reservation being written (its `through`), or null. */
  reserving: number | null = null;
  /** Read ids, for client reads and copy pages alike. */
  nextRid = 1;
  /** The time the event being handled came with (milliseconds since the epoch): data, not a clock. */
  now = 0;
  /** Commits decided so far (in this process): the committed data changes only when this grows, or ... */
  decisionCount = 0;
  /** ... once a prepare has gone out: a sole voter applies its commit before the coordinator hears of it, and voters may commit one without it. */
  prepareCount = 0;
  /** The effects of the event being handled, in order. Limit: what one event causes (a few per worker, subscriber or read). */
  out: CoordinatorEffect[] = [];
  readonly counters = {
    commits: 0,
    aborts: {} as Partial<Record<ErrorCode | 'CLIENT', number>>,
    reads: 0,
    requests: 0,
    /** Writes whose client heard IN_DOUBT: every reachable voter held a YES and another could not be asked. */
    inDoubt: 0,
    /** Transactions settled by hand (`tweetdb admin resolve`), by outcome. */
    manualResolutions: { commit: 0, abort: 0 },
  };
  // The parts, each set once by CoordinatorCore's constructor before any event.
  members!: Membership;
  commit!: TwoPhaseCommit;
  reads!: Reads;
  feed!: ChangeFeed;
  trace!: Tracer;
  identity!: ClusterIdentity;

  constructor(cfg: CoordinatorConfig, epoch: number, lastCseq: number) {
    this.cfg = cfg;
    this.epoch = epoch;
    this.lastCseq = lastCseq;
    this.cseqLimit = lastCseq;
  }

  /**
   * The next cseq, or null while none is reserved (a restart, before its first reservation is
   * durable). Reservations run CSEQ_RESERVE ahead, renewed at half way, so a write waits for one
   * only if 50,000 commits were prepared within one fsync.
   */
  nextCseq(): number | null {
    this.reserveAhead();
    if (this.lastCseq >= this.cseqLimit) return null;
    return ++this.lastCseq;
  }

  /** Asks for the next reservation when less than half of one is left (none while one is being written). */
  reserveAhead(): void {
    if (this.reserving === null && this.cseqLimit - this.lastCseq < CSEQ_RESERVE / 2) {
      this.reserving = this.lastCseq + CSEQ_RESERVE;
      this.emit({ type: 'reserve_cseq', through: this.reserving });
    }
  }

  cseqReserved(through: number): void {
    if (through > this.cseqLimit) this.cseqLimit = through;
    if (this.reserving !== null && through >= this.reserving) this.reserving = null;
    // The workers keep the newest reservation: a coordinator that loses its data starts above it.
    this.members.tellReserved(this.cseqLimit);
  }

  emit(e: CoordinatorEffect): void {
    this.out.push(e);
  }

  reply(conn: number, slot: number, reply: Reply): void {
    this.out.push({ type: 'reply', conn, slot, reply });
  }

  send(worker: string, msg: ToWorker): void {
    this.out.push({ type: 'send', worker, msg });
  }

  log(level: 'info' | 'warn' | 'error', msg: string, data?: Record<string, unknown>): void {
    this.out.push(data === undefined ? { type: 'log', level, msg } : { type: 'log', level, msg, data });
  }

  /** The lock timeout in seconds, as error messages and replies say it. */
  get lockTimeoutS(): number {
    return this.cfg.lockTimeoutMs / 1000;
  }
}
