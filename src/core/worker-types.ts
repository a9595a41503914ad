// The worker core's interface with its shell: the events it takes, the effects it gives, what it
// reads of the committed data and what it recovers at start. The runtime (src/node/worker-node.ts),
// the store (src/storage/worker-store.ts) and the simulator build on these; the state machine that
// turns events into effects is src/core/worker.ts, which re-exports them.

import type { FromWorker, Item, ItemKind, KnownConfig, Op, OpResult, Peer, PeerAnswer, PeerQuery, ToWorkerCore, Tweet } from './types.ts';

/** What the core may read of the worker's committed data (the runtime's store, or the simulator's). */
export interface WorkerReadView {
  getTweet(id: string): Tweet | null;
  getItem(kind: ItemKind, key: string): Item | null;
  outcomeOf(txid: string): 'commit' | 'abort' | null;
  /** The commit sequence number of a transaction this worker committed. */
  commitSeqOf(txid: string): number | null;
  /** The results of a commit settled without the coordinator (null: not kept). */
  commitResultsOf(txid: string): OpResult[] | null;
  /** The cseq of the last commit that wrote the row an op writes (0: no such row). */
  rowCseqOf(op: Op): number;
}

export type WorkerEffect =
  | { type: 'send'; msg: FromWorker }
  /** Ask another voter for an outcome (cooperative termination). */
  | { type: 'peer_ask'; peer: Peer; msg: PeerQuery }
  /** Answer a peer's question on the connection (`route`) it came from. */
  | { type: 'peer_reply'; route: string; msg: PeerAnswer }
  | { type: 'log'; level: 'info' | 'warn'; msg: string; data: Record<string, unknown> }
  /**
   * The coordinator sent a message that passed its schema and still cannot be taken (a prepare
   * naming a voter whose address the link was never told): nothing changed; the shell closes the
   * link as for a message that fails its schema.
   */
  | { type: 'bad_message'; why: string }
  | { type: 'persist_prepared'; txid: string; ops: Op[]; peers: Peer[]; cseq: number; results: OpResult[] }
  /** `results`: only for a commit its voters settled without the coordinator, kept for a coordinator that may owe a client the reply. */
  | { type: 'persist_commit'; txid: string; cseq: number; ops: Op[]; results?: OpResult[] }
  | { type: 'persist_abort'; txid: string }
  /**
   * The cluster this worker belongs to and the coordinator it obeys (its epoch and run): durable
   * before the worker answers that coordinator's hello, so that after any crash it still refuses
   * every coordinator older than the one it obeyed (fencing).
   */
  | { type: 'persist_fence'; cluster: string; epoch: number; run: string }
  /** A configuration proposed to this worker (config_propose): durable before it is acked. */
  | { type: 'persist_proposal'; config: KnownConfig }
  /**
   * The configuration as this worker last heard it (hello, or a config message): written by the
   * shell at once, made durable with the next batch. Losing it to a power cut is harmless: the
   * coordinator says it again in its next hello.
   */
  | { type: 'save_config'; config: KnownConfig; voter: boolean; removed: boolean }
  /** The newest cseq reservation a coordinator told of: written at once, durable with the next batch (a coordinator that loses its data starts above it). */
  | { type: 'save_reserved'; through: number };

export type WorkerEvent =
  /** Only what the core handles: reads and copy pages (ToWorkerService) are the shell's. */
  | { type: 'message'; msg: ToWorkerCore }
  /** A persist_commit effect is written (visible to reads) but not yet fsynced. */
  | { type: 'applied'; txid: string }
  /** A persist_* effect is on disk. Delivered in the order the effects were given. */
  | { type: 'durable'; txid: string; what: 'prepared' | 'commit' | 'abort' }
  /** A persist_fence effect is on disk. */
  | { type: 'fence_durable' }
  /** A persist_proposal effect is on disk. */
  | { type: 'proposal_durable'; config: number }
  | { type: 'link_down' }
  /** Another worker asks for an outcome; `route` says where the answer goes. */
  | { type: 'peer_query'; route: string; msg: PeerQuery }
  | { type: 'peer_answer'; msg: PeerAnswer }
  | { type: 'tick' };

export interface RecoveredWorker {
  node_id: string;
  max_cseq: number;
  /** The configuration last heard of (0: none yet), whether this worker votes in it, and whether the operator removed it. */
  config: number;
  voter: boolean;
  removed: boolean;
  /** That configuration's voters and those of them still catching up (absent: none known, as in a store from before cluster ids). */
  config_voters?: string[];
  config_catching_up?: string[];
  /** The cluster its data belongs to (null: none yet), and the coordinator it last obeyed (epoch 0: none). */
  cluster?: string | null;
  fence?: { epoch: number; run: string };
  /** The newest cseq reservation a coordinator told of. */
  reserved?: number;
  /** The newest configuration proposed to it (durable), if newer than the one in use. */
  proposed?: KnownConfig | null;
  /** `cseq` 0: a record written before prepared records carried their cseq (it commits only when told). */
  prepared: { txid: string; ops: Op[]; peers: Peer[]; cseq: number; results: OpResult[] }[];
}

/** Persist effects: what the runtime writes, and reports back as `durable`, in order. */
export type PersistEffect = Extract<WorkerEffect, { type: 'persist_prepared' | 'persist_commit' | 'persist_abort' | 'persist_fence' | 'persist_proposal' }>;

/** The event that tells the core a persist effect is on disk. */
export function durableEvent(e: PersistEffect): WorkerEvent {
  if (e.type === 'persist_fence') return { type: 'fence_durable' };
  if (e.type === 'persist_proposal') return { type: 'proposal_durable', config: e.config.n };
  return { type: 'durable', txid: e.txid, what: e.type === 'persist_prepared' ? 'prepared' : e.type === 'persist_commit' ? 'commit' : 'abort' };
}
