// What the cluster page shows of the nodes, built from the coordinator's `status` and `check`
// replies (the same two `tweetdb status` reads): one card per node, the transactions in doubt,
// and the commit rate. Pure: the times come in as arguments.

import type { ApiReply } from '../client/client.ts';
import type { CheckWorker, LearnerProgress, MemberRole, StatusWorker } from '../wire/protocol.ts';
import { differingCopies } from '../wire/check-copies.ts';

export interface NodeCard {
  id: string;
  role: 'coordinator' | 'worker';
  /** up, down, joining; the coordinator's own: up or unreachable. */
  state: string;
  address: string;
  /** Highest commit number applied (the coordinator's: the last one decided). */
  applied: number | null;
  /** Commits behind the coordinator's last; null when unknown. */
  lag: number | null;
  /** Its copy's digest is not the one most workers hold. */
  digest_differs: boolean;
  prepared: number | null;
  locks: number | null;
  fsync_ms: number | null;
  /** Why its check part failed, when it did. */
  error: string | null;
  /** A worker's place in the voting set (voter, learner, evicted, leaving); null for the coordinator, or from a coordinator older than configurations. */
  member: MemberRole | null;
  /** A learner's catch-up; null otherwise. */
  learner: LearnerProgress | null;
}

export interface InDoubtRow {
  txid: string;
  state: string;
  age_ms: number;
  waiting_for: string[];
}

export interface ClusterSnapshot {
  /** When this was put together (ms since the epoch, this server's clock). */
  at: number;
  coordinator: string;
  reachable: boolean;
  /** Why the coordinator could not be read, when it could not. */
  error: string | null;
  /** When the workers' details (applied, locks, ...) were last read; null: not yet. */
  checked_at: number | null;
  commits_per_s: number;
  aborts_per_s: number;
  nodes: NodeCard[];
  in_doubt: InDoubtRow[];
}


interface Counters {
  commits?: number;
  aborts?: Record<string, number>;
  last_cseq?: number;
  log_fsyncs?: number;
  log_fsync_ms?: number;
}

/** A status reply, read at `at`: what the next snapshot's rates are computed from. */
export interface StatusRead {
  reply: ApiReply;
  at: number;
}

/** A check reply, with the coordinator's last commit number when it was asked: lag is measured against that. */
export interface CheckRead extends StatusRead {
  lastCseq: number | null;
}

const mean = (total: number | undefined, count: number | undefined): number | null =>
  total === undefined || count === undefined ? null : count === 0 ? 0 : Math.round((total / count) * 100) / 100;

const finished = (c: Counters): number => Object.values(c.aborts ?? {}).reduce((a, b) => a + b, 0);

/**
 * The snapshot from the latest status (and the one before it, for the rates) and the latest check.
 * Worker states come from status (read every poll); the details from check, which may be older.
 */
export function clusterSnapshot(coordinator: string, now: number, status: StatusRead | null, previous: StatusRead | null, check: CheckRead | null, error: string | null): ClusterSnapshot {
  const counters = (status?.reply.counters ?? {}) as Counters;
  const last = counters.last_cseq ?? null;
  const parts = ((check?.reply.workers ?? []) as CheckWorker[]).filter((w) => typeof w.id === 'string');
  const byId = new Map(parts.map((w) => [w.id, w]));
  const statusWorkers = (status?.reply.workers ?? []) as StatusWorker[];
  const roles = new Map(statusWorkers.map((w) => [w.id, w.role]));
  const differ = differingCopies(parts.map((w) => ({ ...w, learner: roles.get(w.id) === 'learner' })));
  const workers = statusWorkers.map((w): NodeCard => {
    const c = byId.get(w.id);
    return {
      id: w.id,
      role: 'worker',
      state: w.state,
      address: w.address,
      applied: c?.max_cseq ?? null,
      // Against the last commit when the check was asked: status is read more recently, so under load
      // comparing with it would show commits in flight as lag.
      lag: c?.max_cseq === undefined || check === null || check.lastCseq === null ? null : Math.max(0, check.lastCseq - c.max_cseq),
      digest_differs: differ.has(w.id),
      prepared: c?.prepared ?? null,
      locks: c?.locks ?? null,
      fsync_ms: mean(c?.fsync_ms, c?.fsyncs),
      error: c?.error ?? null,
      member: w.role ?? null,
      learner: w.learner ?? null,
    };
  });
  const inDoubt = (status?.reply.in_doubt ?? []) as InDoubtRow[];
  const coordinatorCard: NodeCard = {
    id: 'coordinator',
    role: 'coordinator',
    state: error === null && status !== null ? 'up' : 'unreachable',
    address: coordinator,
    applied: last,
    lag: last === null ? null : 0,
    digest_differs: false,
    prepared: status === null ? null : inDoubt.length,
    locks: null,
    fsync_ms: mean(counters.log_fsync_ms, counters.log_fsyncs),
    error,
    member: null,
    learner: null,
  };
  const rate = (f: (c: Counters) => number): number => {
    if (status === null || previous === null || status.at <= previous.at) return 0;
    const d = f(counters) - f((previous.reply.counters ?? {}) as Counters);
    return Math.max(0, Math.round((d * 1000) / (status.at - previous.at)));
  };
  return {
    at: now,
    coordinator,
    reachable: error === null && status !== null,
    error,
    checked_at: check?.at ?? null,
    commits_per_s: rate((c) => c.commits ?? 0),
    aborts_per_s: rate(finished),
    nodes: [coordinatorCard, ...workers],
    in_doubt: inDoubt.map((t) => ({ txid: t.txid, state: t.state, age_ms: t.age_ms, waiting_for: t.waiting_for })),
  };
}
