// The protocol: every message that crosses a socket, as types. Client requests and
// their replies (the TCP API), the messages between the coordinator and its workers and
// between workers, the data they carry, and the error codes (documented, one by one, in
// src/wire/errors.ts). Nothing here does I/O or holds logic: the cores import these
// types, the edges (src/wire/validate.ts, src/wire/node-messages.ts) check bytes against
// them. Every value is JSON-serialisable, so it crosses a socket or a simulated network
// unchanged.

/** A stored tweet. Times are milliseconds since the epoch (rendered as ISO 8601 at the edge). */
export interface Tweet {
  id: string;
  username: string;
  content: string;
  created_at: number;
  /** null until the tweet is first edited. */
  updated_at: number | null;
}

/**
 * Items other than tweets, each kind its own namespace of keys: the web app's
 * accounts and sessions; a tweet's counters (`stats`: likes, replies) and an account's
 * (`user_stats`: tweets); one user's like of one tweet (`like`, key `TWEETID USERKEY`); and
 * what a reply answers (`reply`, key the reply's id, value `{to}`). They lock, replicate and commit exactly like tweets.
 */
export const ITEM_KINDS = ['user', 'session', 'stats', 'user_stats', 'like', 'reply'] as const;
export type ItemKind = (typeof ITEM_KINDS)[number];

/**
 * The kinds that hold counters: written only by incr_item (put_item of them is INVALID), so
 * their values are nothing but these counters, small whatever happens.
 */
export const COUNTER_KINDS = ['stats', 'user_stats'] as const satisfies readonly ItemKind[];
export type CounterKind = (typeof COUNTER_KINDS)[number];
/** The counters a counter item may hold. */
export const COUNTER_FIELDS = ['likes', 'replies', 'tweets'] as const;
export type CounterField = (typeof COUNTER_FIELDS)[number];

export interface Item {
  kind: ItemKind;
  key: string;
  /** A JSON object, stored as given. */
  value: Record<string, unknown>;
}

/**
 * One write inside a transaction, fully determined by the coordinator:
 * ids and timestamps are chosen there so every worker stores identical rows.
 */
export type Op =
  | { kind: 'post'; tweet: Tweet }
  | { kind: 'update'; id: string; content: string; username: string | null; at: number }
  | { kind: 'delete'; id: string; username: string | null }
  /** `create`: only if the key is free (an equal value there is the same write, retried); `replace`: whatever is there. */
  | { kind: 'put_item'; item: Item; mode: 'create' | 'replace' }
  | { kind: 'delete_item'; item_kind: ItemKind; key: string }
  /** Adds `by` to the integer `value[field]` of an existing item, computed on each worker under the item's lock. */
  | { kind: 'incr_item'; item_kind: CounterKind; key: string; field: CounterField; by: number };

/** What an op produced, as the client sees it: the resulting tweet or item, or nothing for a delete. */
export type OpResult = { tweet: Tweet } | { item: Item } | Record<string, never>;

/**
 * A result as a YES vote says it: an OpResult, or `{as_posted: true}` for a post's result that is
 * the tweet its op posted, as the prepare sent it (#13 item 5): the coordinator has that op, and
 * puts the tweet back before it uses the results. A retried post answers with the stored tweet,
 * which is sent whole.
 */
export type VoteResult = OpResult | { as_posted: true };

/** The error codes of the API; src/wire/errors.ts is their registry (status, retryable, meaning, what to do). */
export type ErrorCode =
  | 'INVALID'
  | 'TOO_LARGE'
  | 'LOCKED'
  | 'NOT_FOUND'
  | 'EXISTS'
  | 'FORBIDDEN'
  | 'TIMEOUT'
  | 'UNAVAILABLE'
  | 'UNAUTHENTICATED'
  | 'INTERNAL'
  | 'IN_DOUBT'
  | 'WRONG_CLUSTER';

export interface Failure {
  code: ErrorCode;
  error: string;
}

// ---------------------------------------------------------------------------
// Coordinator <-> worker messages. The coordinator opens the link; both sides send.

/** Read queries a worker answers from its committed data. */
export type ReadQuery =
  | { kind: 'get_tweets'; limit: number; before: { created_at: number; id: string } | null; username: string | null }
  | { kind: 'get_tweet'; id: string }
  | { kind: 'get_item'; item_kind: ItemKind; key: string }
  | { kind: 'check' }
  /** What this worker knows of one transaction (for `resolve`): answered { txn: TxnKnowledge }. */
  | { kind: 'txn'; txid: string };

/**
 * A worker's record of one transaction: prepared (voted YES, outcome unknown, locks held; with
 * every voter the prepared record names; `told_peer`: since it started it told another voter that
 * it holds a YES, so that voter may have committed on its own), committed, aborted, or no record.
 */
export type TxnKnowledge = { state: 'prepared'; voters: string[]; told_peer?: true } | { state: 'commit' | 'abort' | 'unknown' };

/**
 * One row of a full copy: a tweet or an item, with the cursor after which the next page starts
 * and `s`, the commit sequence number of the row's last write (0: written before rows carried it).
 * A copy is read while writes go on, so a learner replays the commits streamed since the copy
 * began over it; `s` makes that replay skip what the row already holds.
 */
export type CopyRow = { c: string; s: number; tweet: Tweet } | { c: string; s: number; item: Item };

/** A worker as its peers reach it: durable identity and the address the coordinator dials. */
export interface Peer {
  id: string;
  address: string;
}

/**
 * Worker <-> worker: cooperative termination. A prepared worker that cannot learn an outcome from
 * its coordinator asks the other voters. `to` is the identity it expects at that address: a new
 * identity there (a wiped worker) knows nothing of the old one's votes and answers "unknown".
 */
export type PeerQuery = { type: 'peer_query'; txid: string; to: string };
/**
 * `prepared`: the one asked holds a durable YES for it and was not told the outcome (it never
 * refuses it from then on); `abort`: it refused durably, or aborted; `unknown`: it cannot say yet
 * (its prepared record is still being written, or it is not the identity asked).
 */
export type PeerAnswer = { type: 'peer_answer'; txid: string; from: string; outcome: 'commit' | 'abort' | 'prepared' | 'unknown'; cseq: number };

/** A transaction a worker holds prepared (a durable YES) and has no outcome for: its voters (itself among them) and its commit sequence number. */
export interface PreparedTxn {
  txid: string;
  voters: string[];
  cseq: number;
}

export interface WorkerState {
  /** The worker's durable identity: a new one means its data directory is new. */
  node_id: string;
  /** Transactions the worker has voted YES on and not yet learnt the outcome of. */
  prepared: PreparedTxn[];
  /** The highest commit sequence number the worker has applied. */
  max_cseq: number;
  /** The configuration it has in use (a coordinator that lost its data takes over above it). */
  known_config: KnownConfig;
  /** A configuration proposed to it, newer than the one in use, that it made durable (it may or may not have been put in use). */
  proposed_config: KnownConfig | null;
  /** The highest commit sequence number reservation a coordinator told it of. */
  reserved: number;
}

/**
 * The voting set as a worker last heard of it (from hello, a config message, or a prepare it took):
 * its number, its voters, and those promoted and still catching up. 0 and no voters: none yet.
 */
export interface KnownConfig {
  n: number;
  voters: string[];
  catching_up: string[];
}

/**
 * What a worker knows of the cluster it belongs to, as it tells a coordinator when it registers:
 * a coordinator that lost its data directory adopts the cluster and takes over above all of it;
 * one of another cluster refuses the worker.
 */
export interface ClusterKnowledge {
  /** The cluster its data belongs to; null: it never joined one (or its store is from before cluster ids). */
  cluster: string | null;
  /** The highest coordinator epoch it has obeyed (0: none). */
  epoch: number;
  /** The configuration it has in use, and one proposed to it and newer (null: none). */
  config: KnownConfig;
  proposed: KnownConfig | null;
  /** The highest commit sequence number it holds (applied, or in a prepared record). */
  max_cseq: number;
  /** The highest cseq reservation a coordinator told it of. */
  reserved: number;
  /** It holds no data and no outcome of any transaction: it may join any cluster. */
  fresh: boolean;
}

/** Coordinator -> worker: the messages of the protocol itself, which the worker core handles. */
export type ToWorkerCore =
  /**
   * The first message on a coordinator's link: nothing else on it is taken before this is.
   * `cluster`: the cluster's id (a worker of another cluster refuses the link); `epoch` and `run`:
   * this coordinator's term and process (a worker refuses a lower epoch than one it has obeyed, or
   * the same epoch from another run: fencing); `config`, `voters`, `catching_up`: the voting set;
   * `voter`: whether this worker votes in it; `reserved`: the cseq reservation in force.
   */
  | { type: 'hello'; lock_timeout_ms: number; cluster: string; epoch: number; run: string; config: number; voter: boolean; voters: string[]; catching_up: string[]; reserved: number }
  /**
   * Interactive transactions: take the op's lock now and stage it. `config` is the configuration
   * the transaction's voters were taken from; `floor` the last replicate this worker was sent
   * before it (a worker that has not received that one yet refuses: it would judge on old rows).
   */
  | { type: 'lock'; txid: string; seq: number; op: Op; config: number; floor: number }
  /**
   * Phase 1. `ops` is set for one-shot transactions; interactive ones prepare what they staged.
   * `voters` are the ids of every worker voting on it, in the coordinator's order (the first one
   * sends the results with its YES: see `vote`): a prepared worker that loses its coordinator asks
   * them for the outcome (cooperative termination). Their addresses are said once per link, not in
   * every prepare: `addresses` holds only those this link was not told yet (or that changed), and
   * never the receiving worker's own; the worker keeps a book of them for the link's life, and a
   * prepare naming a voter it has no address for closes the link (both sides start again empty).
   * `config` and `floor` as for lock. `cseq` is the commit sequence number the transaction commits
   * with, if it does: it is in the prepared record, so the voters can commit it without the
   * coordinator (implicit commit).
   */
  | { type: 'prepare'; txid: string; ops: Op[] | null; voters?: string[]; addresses?: Peer[]; config: number; floor: number; cseq: number }
  | { type: 'commit'; txid: string; cseq: number }
  /** The outcome is abort: some voter refused it durably. */
  | { type: 'abort'; txid: string }
  /**
   * Abort by prevention: refuse this transaction durably (a tombstone), then say so (ack abort),
   * unless you hold a durable YES for it: then answer that YES again (with the ops), and keep it.
   */
  | { type: 'prevent'; txid: string }
  /**
   * The configuration changed: this worker now votes (`voter`) or not (evicted, or a learner);
   * `removed`: the operator took it out of the cluster (it stops registering).
   */
  | { type: 'config'; config: number; voter: boolean; removed: boolean; voters: string[]; catching_up: string[] }
  /** A new cseq reservation is durable on the coordinator: a coordinator that loses its data starts above it. */
  | { type: 'reserved'; through: number }
  /**
   * A configuration proposed, sent to each of its voters: make it durable, then ack it
   * (config_ack). It is used (and said with `config`) only once every one of them has: so every
   * configuration ever used is known by every one of its voters, which a coordinator that loses its
   * data relies on to find the newest.
   */
  | { type: 'config_propose'; config: number; voters: string[]; catching_up: string[] }
  /**
   * A committed transaction this worker did not vote on, streamed to a learner (and to a voter
   * promoted while transactions prepared without it were in flight), numbered `seq` on its link
   * from 1. Applied in seq order, each op only over a row older than `cseq`.
   */
  | { type: 'replicate'; seq: number; txid: string; cseq: number; ops: Op[] };

/**
 * Coordinator -> worker: what the worker's shell serves from its committed data without the core
 * (src/node/worker-service.ts): reads, and the pages of a full copy, read on a donor and installed
 * on a joining worker.
 */
export type ToWorkerService =
  /**
   * `reply_text`: answer a get_tweets with the client's reply line itself (read_text), which the
   * coordinator passes on unparsed. Asked only when no commit is being applied (no overlay).
   */
  | { type: 'read'; rid: number; query: ReadQuery; reply_text?: boolean }
  /** A page of a full copy: at most `limit` rows after the cursor `after` (null: from the first), answered by copy_page. */
  | { type: 'copy_read'; rid: number; after: string | null; limit: number }
  /**
   * A page of a full copy. `stream_seq`: the last replicate sent on this link before the copy's
   * stream began; with `reset` (the first page), any replicate up to it not yet applied is from an
   * older stream and is dropped.
   */
  | { type: 'install'; rid: number; rows: CopyRow[]; reset: boolean; done: boolean; max_cseq: number; stream_seq: number };

export type ToWorker = ToWorkerCore | ToWorkerService;

/**
 * A vote's number on its link (from 1, counted by the worker from the coordinator's hello): the
 * coordinator takes a worker's votes in the order they were sent. A sole voter's YES is its commit,
 * applied there: taken out of order (a network that reorders), the learners' stream would replay a
 * delete before the post it followed (simulator seed 827057). Absent: taken as it comes.
 */
export interface VoteNumber {
  n?: number;
}

export type FromWorker =
  | ({ type: 'state' } & WorkerState)
  /**
   * The answer to a hello the worker will not take, just before it closes the link: its data
   * belongs to another `cluster` (`reason` cluster), or it has obeyed a newer coordinator (`reason`
   * epoch: `epoch`, and whether its link to that one is `live`). Nothing changed on the worker.
   */
  | { type: 'refused'; reason: 'cluster' | 'epoch'; cluster: string | null; epoch: number; live: boolean; error: string }
  | { type: 'locked'; txid: string; seq: number; result: OpResult }
  | { type: 'lock_refused'; txid: string; seq: number; code: ErrorCode; error: string }
  /**
   * A YES. Only one voter sends the results: the first of its prepare's `voters` (so a sole voter
   * always does), a worker that does not know its place (its prepared record, recovered after a
   * restart, does not say), and any whose results are empty (shorter than a digest). The others
   * send `digest` (src/core/results-digest.ts), which the coordinator compares with the results to
   * keep its check that the voters computed the same. A commit needs every YES, so the results are
   * in before it. A post's result is `{as_posted: true}` (see VoteResult). `ops`: only in the
   * answer to `prevent`, for a coordinator that lost the transaction (restarted); that answer
   * always carries the results whole.
   */
  | ({ type: 'vote'; txid: string; yes: true; results: VoteResult[]; ops?: Op[] } & VoteNumber)
  | ({ type: 'vote'; txid: string; yes: true; digest: string } & VoteNumber)
  | ({ type: 'vote'; txid: string; yes: false; code: ErrorCode; error: string } & VoteNumber)
  /**
   * The commit is written and visible to this worker's reads, not yet fsynced. The client may be
   * answered: were this write lost to a power cut, the worker would come back still prepared and
   * learn the outcome again from the coordinator's durable decision, before it served reads.
   */
  | { type: 'applied'; txid: string }
  /**
   * The outcome is durable here: the coordinator may forget its decision once every voter said so.
   * `results`: with a commit its voters settled without the coordinator (it may owe a client the reply).
   */
  | { type: 'ack'; txid: string; outcome: 'commit' | 'abort'; results?: OpResult[] }
  /** A prepared worker asking for the outcome it is waiting on. */
  | { type: 'query'; txid: string }
  | { type: 'read_result'; rid: number; result: unknown }
  /** A read answered as the client's reply line (a JSON object, no newline), as asked by `reply_text`. */
  | { type: 'read_text'; rid: number; text: string }
  /** A read or a copy_read the worker could not answer from its store. */
  /**
   * `in_doubt`: not a failure of the store: this worker told another voter it holds a YES for that
   * transaction, which touches what was asked and is not settled here; the voters may have
   * committed it, so its copy may lack it. The coordinator asks another worker.
   */
  | { type: 'read_failed'; rid: number; error: string; in_doubt?: string }
  /** The answer to copy_read: its rows in cursor order; fewer than `limit` when they are the last. */
  | { type: 'copy_page'; rid: number; rows: CopyRow[] }
  | { type: 'installed'; rid: number; done: boolean }
  /** Every replicate up to `seq` (numbered per link) is durable here. */
  | { type: 'replicated'; seq: number }
  /** A proposed configuration (config_propose) is durable here. */
  | { type: 'config_ack'; config: number };

// ---------------------------------------------------------------------------
// Client requests, as the coordinator's core receives them: already validated
// by src/wire/validate.ts, so every field has its type and is within its limits.

export interface PostInput { id: string | null; username: string; content: string }
export interface UpdateInput { id: string; content: string; username: string | null }
export interface DeleteInput { id: string; username: string | null }

export type WriteRequest =
  | { action: 'post'; tweet: PostInput }
  | { action: 'update'; tweet: UpdateInput }
  | { action: 'delete'; tweet: DeleteInput }
  | { action: 'put_item'; item: Item; if_absent: boolean }
  | { action: 'delete_item'; item: { kind: ItemKind; key: string } }
  | { action: 'incr_item'; item: { kind: CounterKind; key: string }; field: CounterField; by: number };

export interface Cursor { created_at: number; id: string }

export type ClientRequest =
  | WriteRequest
  | { action: 'transaction'; ops: WriteRequest[] }
  | { action: 'get_tweets'; limit: number; before: Cursor | null; username: string | null }
  | { action: 'get_tweet'; id: string }
  | { action: 'get_item'; item: { kind: ItemKind; key: string } }
  /** Follow committed changes to tweets from `since` (a seq of an earlier event) on. */
  | { action: 'subscribe'; since: number | null }
  /** Follow finished transactions: each one's txid, outcome, voters and the time of every step (sampled when busy). */
  | { action: 'trace' }
  | { action: 'begin' }
  | { action: 'commit' }
  | { action: 'abort' }
  | { action: 'status' }
  | { action: 'check' }
  /**
   * The operator's last resort (`tweetdb admin resolve`): settle a transaction the coordinator no
   * longer knows. Without `confirm` it only reports what each worker knows.
   */
  | { action: 'resolve'; txid: string; outcome: 'commit' | 'abort'; confirm: boolean }
  /** The operator takes a worker out of the cluster (`tweetdb admin remove-worker`): by id or address. */
  | { action: 'remove_worker'; worker: string }
  /** Sent by a worker process (not by users) to join the cluster; `known`: what it holds of a cluster. */
  | { action: 'register'; worker: { id: string; address: string }; known: ClusterKnowledge };

/** One reply line. The edge adds `req` when the request carried one. */
export type Reply =
  | ({ status: 'OK' } & { [field: string]: unknown })
  | { status: 'ABORT' | 'ERROR'; code: ErrorCode; error: string };

/**
 * Requests the coordinator's edge answers itself, never the core (src/node/coordinator-node.ts):
 * a client's token, and a worker's proof that it holds the cluster key.
 */
export type EdgeAction = 'auth' | 'node_hello' | 'node_proof';

/** Every action a request may name. */
export type Action = ClientRequest['action'] | EdgeAction;

/** One worker's part of the `check` reply (`{"workers":[...]}`), as clients read it. */
export interface CheckWorker {
  id: string;
  address: string;
  state: string;
  digest?: string;
  prepared?: number;
  locks?: number;
  max_cseq?: number;
  fsyncs?: number;
  fsync_ms?: number;
  error?: string;
}

/** A worker's place in the voting set, as `status` shows it. */
export type MemberRole = 'voter' | 'learner' | 'evicted' | 'leaving';

/** What a learner has done of its catch-up, in the `status` reply. */
export interface LearnerProgress {
  /** resolving: settling what it was owed; copying: installing pages; streaming: applying commits since the copy began. */
  phase: 'resolving' | 'copying' | 'streaming';
  /** Commits sent or buffered for it and not yet applied. */
  behind: number;
  copied_rows: number;
  copied_bytes: number;
}

/**
 * One worker of the `status` reply (`{"workers":[...]}`), as clients read it. `role` and `learner`
 * come from coordinators with numbered configurations; an older one sends neither.
 */
export interface StatusWorker {
  id: string;
  address: string;
  state: string;
  /**
   * voter: in the configuration; learner: not in it, linked, catching up; evicted: not in it, not
   * linked; leaving: removed by the operator, out of the configuration, settling what it is owed.
   */
  role?: MemberRole;
  /** For a learner (and one leaving, or a promoted voter still applying what was streamed to it). */
  learner?: LearnerProgress;
}
