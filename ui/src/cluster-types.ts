// What /api/cluster and /api/cluster/events send (src/web/cluster-view.ts and cluster-watch.ts),
// with the checks that a parsed value has that shape.

export interface NodeCard {
  id: string;
  role: 'coordinator' | 'worker';
  state: string;
  address: string;
  applied: number | null;
  lag: number | null;
  digest_differs: boolean;
  prepared: number | null;
  locks: number | null;
  fsync_ms: number | null;
  error: string | null;
  /** voter, learner, evicted or leaving; null for the coordinator (or from a coordinator older than configurations). */
  member: 'voter' | 'learner' | 'evicted' | 'leaving' | null;
  /** A learner's catch-up. */
  learner: { phase: string; behind?: number; copied_rows?: number; copied_bytes?: number } | null;
}

export interface InDoubtRow {
  txid: string;
  state: string;
  age_ms: number;
  waiting_for: string[];
}

export interface ClusterSnapshot {
  at: number;
  coordinator: string;
  reachable: boolean;
  error: string | null;
  checked_at: number | null;
  commits_per_s: number;
  aborts_per_s: number;
  nodes: NodeCard[];
  in_doubt: InDoubtRow[];
}

/** One finished transaction: times are milliseconds after `at` (prepare sent). */
export interface TxnTrace {
  txid: string;
  outcome: 'commit' | 'abort';
  code?: string;
  voters: string[];
  at: number;
  votes: Record<string, number>;
  decision: number | null;
  applied: Record<string, number>;
  acks: Record<string, number>;
}

export interface TxnLine {
  trace: TxnTrace;
  sampled_1_in: number;
}

export interface TraceState {
  following: boolean;
  why: string;
}

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

export function isSnapshot(v: unknown): v is ClusterSnapshot {
  return isObj(v) && typeof v.at === 'number' && Array.isArray(v.nodes) && Array.isArray(v.in_doubt) && typeof v.reachable === 'boolean';
}

export function isTxnLine(v: unknown): v is TxnLine {
  if (!isObj(v) || typeof v.sampled_1_in !== 'number' || !isObj(v.trace)) return false;
  const t = v.trace;
  return typeof t.txid === 'string' && typeof t.at === 'number' && Array.isArray(t.voters) && isObj(t.votes) && isObj(t.applied) && isObj(t.acks);
}

export function isTraceState(v: unknown): v is TraceState {
  return isObj(v) && typeof v.following === 'boolean' && typeof v.why === 'string';
}
