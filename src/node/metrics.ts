// Prometheus metrics (prom-client): what a process exports on --metrics-port (coordinator,
// worker) or /metrics (web). The cores stay pure: the runtime observes what they emit (the
// `trace` effect of a finished transaction) and reads their counters when scraped; the runtime
// itself times its fsyncs and counts its batches. Off unless asked for (--metrics-port): the
// simulator never has any. Names and units per Prometheus conventions (seconds, `_total`).

import { createServer, type Server } from 'node:http';
import type { Socket } from 'node:net';

/** Connections the metrics port keeps open at once; beyond, the oldest idle one makes room. */
export const METRICS_MAX_CONNECTIONS = 64;
/** A scrape's request must have come whole within this (slowloris). */
export const METRICS_HEADERS_TIMEOUT_MS = 5_000;
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { TxnTrace } from '../core/coordinator.ts';

/** Latency buckets in seconds: 2PC on one machine takes about a millisecond, a stuck one the lock timeout. */
const SECONDS_BUCKETS = [0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
const BATCH_BUCKETS = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512];

/** A registry with the default Node metrics (event-loop lag, heap, GC, CPU, file descriptors). */
export function newRegistry(): Registry {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  return registry;
}

/**
 * A counter that follows a running total kept elsewhere (the core's counters): on each scrape
 * it adds what the total grew by. The total only grows within a process, as a counter must.
 */
function followTotal(c: Counter<string>, seen: Map<string, number>, labels: Record<string, string>, total: number): void {
  const key = JSON.stringify(labels);
  const before = seen.get(key) ?? 0;
  if (total > before) c.inc(labels, total - before);
  seen.set(key, total);
}

/** Group commit's fsyncs and batches, on both kinds of node. */
export class StorageMetrics {
  private readonly fsync: Histogram<string>;
  private readonly batch: Histogram<string>;

  constructor(registry: Registry) {
    this.fsync = new Histogram({ name: 'tweetdb_fsync_duration_seconds', help: 'Time one fsync of the durable log took (group commit: one fsync covers a batch).', buckets: SECONDS_BUCKETS, registers: [registry] });
    this.batch = new Histogram({ name: 'tweetdb_group_commit_batch_size', help: 'Writes made durable by one group-commit batch.', buckets: BATCH_BUCKETS, registers: [registry] });
  }

  /** `sync` timed: its duration goes to the fsync histogram (`now` is the node's clock, in ms). */
  timedSync(now: () => number, sync: (done: (err: unknown) => void) => void): (done: (err: unknown) => void) => void {
    return (done) => {
      const started = now();
      sync((err) => {
        if (err === null) this.fsync.observe((now() - started) / 1000);
        done(err);
      });
    };
  }

  /** `write` counted: each batch's size goes to the batch histogram. */
  countedWrite<T>(write: (batch: T[]) => void): (batch: T[]) => void {
    return (batch) => {
      this.batch.observe(batch.length);
      write(batch);
    };
  }
}

/** What the coordinator's metrics read from it when scraped. */
export interface CoordinatorGauges {
  counters(): { commits: number; aborts: Partial<Record<string, number>>; manualResolutions: Record<'commit' | 'abort', number> };
  /** The core's status reply now: members and what is in doubt. */
  status(): { workers?: unknown; in_doubt?: unknown; config?: unknown; counters?: unknown };
  untraced(): number;
  clientConnections(): number;
  queuedRequests(): number;
}

export class CoordinatorMetrics {
  readonly registry: Registry;
  readonly storage: StorageMetrics;
  private readonly duration: Histogram<string>;
  private readonly phase: Histogram<string>;
  private gauges: CoordinatorGauges | null = null;

  constructor(registry: Registry = newRegistry()) {
    this.registry = registry;
    this.storage = new StorageMetrics(registry);
    this.duration = new Histogram({ name: 'tweetdb_commit_duration_seconds', help: 'A committed transaction from prepare sent to applied on every voter (when its client is answered).', buckets: SECONDS_BUCKETS, registers: [registry] });
    this.phase = new Histogram({
      name: 'tweetdb_commit_phase_seconds',
      help: 'A committed transaction from prepare sent to the end of each phase: votes (the last vote), decision (durable in the log), applied (the last voter applied it), acked (the last voter made it durable).',
      labelNames: ['phase'],
      buckets: SECONDS_BUCKETS,
      registers: [registry],
    });
    const seen = new Map<string, number>();
    const self = (): CoordinatorGauges | null => this.gauges;
    new Counter({
      name: 'tweetdb_commits_total',
      help: 'Transactions committed.',
      registers: [registry],
      collect() {
        const g = self();
        if (g !== null) followTotal(this, seen, {}, g.counters().commits);
      },
    });
    const abortSeen = new Map<string, number>();
    new Counter({
      name: 'tweetdb_aborts_total',
      help: 'Transactions aborted, by error code (CLIENT: the client asked).',
      labelNames: ['code'],
      registers: [registry],
      collect() {
        const g = self();
        if (g === null) return;
        for (const [code, n] of Object.entries(g.counters().aborts)) followTotal(this, abortSeen, { code }, n ?? 0);
      },
    });
    const manualSeen = new Map<string, number>();
    new Counter({
      name: 'tweetdb_manual_resolutions_total',
      help: 'Transactions settled by hand with tweetdb admin resolve, by outcome.',
      labelNames: ['outcome'],
      registers: [registry],
      collect() {
        const g = self();
        if (g === null) return;
        for (const [outcome, n] of Object.entries(g.counters().manualResolutions)) followTotal(this, manualSeen, { outcome }, n);
      },
    });
    const untracedSeen = new Map<string, number>();
    new Counter({
      name: 'tweetdb_untraced_transactions_total',
      help: 'Transactions whose steps were not recorded (too many open at once): missing from the commit duration histograms.',
      registers: [registry],
      collect() {
        const g = self();
        if (g !== null) followTotal(this, untracedSeen, {}, g.untraced());
      },
    });
    new Gauge({
      name: 'tweetdb_in_doubt_transactions',
      help: 'Transactions being decided or committed and not yet acknowledged by every voter.',
      registers: [registry],
      collect() {
        const s = self()?.status();
        this.set(Array.isArray(s?.in_doubt) ? s.in_doubt.length : 0);
      },
    });
    new Gauge({
      name: 'tweetdb_in_doubt_oldest_age_seconds',
      help: 'Age of the oldest transaction in doubt (0: none).',
      registers: [registry],
      collect() {
        const s = self()?.status();
        const ages = Array.isArray(s?.in_doubt) ? (s.in_doubt as { age_ms: number }[]).map((t) => t.age_ms) : [];
        this.set(ages.length === 0 ? 0 : Math.max(...ages) / 1000);
      },
    });
    new Gauge({
      name: 'tweetdb_members',
      help: 'Cluster members, by role and state.',
      labelNames: ['role', 'state'],
      registers: [registry],
      collect() {
        this.reset();
        const s = self()?.status();
        const ws = Array.isArray(s?.workers) ? (s.workers as { state: string; role?: string }[]) : [];
        for (const role of ['voter', 'learner', 'evicted', 'leaving']) {
          for (const state of ['up', 'down', 'joining']) this.set({ role, state }, ws.filter((w) => (w.role ?? 'voter') === role && w.state === state).length);
        }
      },
    });
    new Gauge({
      name: 'tweetdb_configuration',
      help: 'The number of the voting configuration in use (it grows with each eviction, promotion and removal).',
      registers: [registry],
      collect() {
        const c = self()?.status().config as { n?: number } | undefined;
        this.set(c?.n ?? 0);
      },
    });
    new Gauge({
      name: 'tweetdb_learner_behind_commits',
      help: 'Commits streamed to (or held for) each learner and not yet applied by it.',
      labelNames: ['worker'],
      registers: [registry],
      collect() {
        this.reset();
        const s = self()?.status();
        const ws = Array.isArray(s?.workers) ? (s.workers as { id: string; learner?: { behind: number } }[]) : [];
        for (const w of ws) if (w.learner !== undefined) this.set({ worker: w.id }, w.learner.behind);
      },
    });
    const changeSeen = new Map<string, number>();
    new Counter({
      name: 'tweetdb_membership_changes_total',
      help: 'Configuration changes since the coordinator started, by kind: eviction (a voter away past --evict-after, or stale), promotion (a learner caught up), removal (remove_worker).',
      labelNames: ['kind'],
      registers: [registry],
      collect() {
        const c = self()?.status().counters as { evictions?: number; promotions?: number; removals?: number; rejoins?: number } | undefined;
        if (c === undefined) return;
        followTotal(this, changeSeen, { kind: 'eviction' }, c.evictions ?? 0);
        followTotal(this, changeSeen, { kind: 'promotion' }, c.promotions ?? 0);
        followTotal(this, changeSeen, { kind: 'removal' }, c.removals ?? 0);
      },
    });
    const rejoinSeen = new Map<string, number>();
    new Counter({
      name: 'tweetdb_rejoins_total',
      help: 'Workers back up (serving reads, voting if voters) after they had been up before and went away, since the coordinator started.',
      registers: [registry],
      collect() {
        const c = self()?.status().counters as { rejoins?: number } | undefined;
        if (c !== undefined) followTotal(this, rejoinSeen, {}, c.rejoins ?? 0);
      },
    });
    new Gauge({
      name: 'tweetdb_client_connections',
      help: 'Open client connections (workers registering included).',
      registers: [registry],
      collect() {
        this.set(self()?.clientConnections() ?? 0);
      },
    });
    new Gauge({
      name: 'tweetdb_queued_requests',
      help: 'Requests received on client connections and not yet started (each connection runs one at a time).',
      registers: [registry],
      collect() {
        this.set(self()?.queuedRequests() ?? 0);
      },
    });
  }

  /** The coordinator to read when scraped. */
  attach(g: CoordinatorGauges): void {
    this.gauges = g;
  }

  /** A finished transaction (the core's `trace` effect). */
  traced(t: TxnTrace): void {
    if (t.outcome !== 'commit') return;
    const last = (r: Record<string, number>): number | null => {
      const v = Object.values(r);
      return v.length === 0 ? null : Math.max(...v);
    };
    const votes = last(t.votes);
    const applied = last(t.applied);
    const acked = last(t.acks);
    if (votes !== null) this.phase.observe({ phase: 'votes' }, votes / 1000);
    if (t.decision !== null) this.phase.observe({ phase: 'decision' }, t.decision / 1000);
    if (applied !== null) {
      this.phase.observe({ phase: 'applied' }, applied / 1000);
      this.duration.observe(applied / 1000);
    }
    if (acked !== null) this.phase.observe({ phase: 'acked' }, acked / 1000);
  }
}

/** What a worker's metrics read from it when scraped. */
export interface WorkerGauges {
  resolvedByPeers(): number;
  prepared(): number;
  locks(): number;
  appliedCseq(): number;
}

export class WorkerMetrics {
  readonly registry: Registry;
  readonly storage: StorageMetrics;
  private gauges: WorkerGauges | null = null;

  constructor(registry: Registry = newRegistry()) {
    this.registry = registry;
    this.storage = new StorageMetrics(registry);
    const self = (): WorkerGauges | null => this.gauges;
    const seen = new Map<string, number>();
    new Counter({
      name: 'tweetdb_outcomes_learnt_from_peers_total',
      help: 'Prepared transactions whose outcome this worker learnt from another voter (the coordinator was away).',
      registers: [registry],
      collect() {
        const g = self();
        if (g !== null) followTotal(this, seen, {}, g.resolvedByPeers());
      },
    });
    const gauge = (name: string, help: string, read: (g: WorkerGauges) => number): void => {
      new Gauge({
        name,
        help,
        registers: [registry],
        collect() {
          const g = self();
          this.set(g === null ? 0 : read(g));
        },
      });
    };
    gauge('tweetdb_prepared_transactions', 'Transactions prepared on this worker and not yet decided.', (g) => g.prepared());
    gauge('tweetdb_held_locks', 'Locks held on this worker.', (g) => g.locks());
    gauge('tweetdb_applied_cseq', 'The highest commit sequence number applied on this worker.', (g) => g.appliedCseq());
  }

  attach(g: WorkerGauges): void {
    this.gauges = g;
  }
}

/**
 * Serves GET /metrics from `registry` on host:port: production I/O, started by the command
 * line (src/cli/main.ts), never by the node classes, so the simulator has none.
 */
export function serveMetrics(registry: Registry, host: string, port: number): Promise<Server> {
  // Connections open, oldest first, and whether each is being answered now.
  const open = new Map<Socket, { answering: boolean }>();
  const server = createServer((req, res) => {
    const c = open.get(req.socket);
    if (c !== undefined) {
      c.answering = true;
      res.once('close', () => (c.answering = false));
    }
    if (req.method !== 'GET' || (req.url ?? '').split('?')[0] !== '/metrics') {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('metrics are at GET /metrics\n');
      return;
    }
    registry.metrics().then(
      (text) => res.writeHead(200, { 'content-type': registry.contentType }).end(text),
      (e: Error) => res.writeHead(500, { 'content-type': 'text/plain' }).end(`metrics failed: ${e.message}\n`),
    );
  });
  // A scraper holds few connections. At the limit a new one takes the place of the oldest that is
  // not being answered (one that never sent a request, or a keep-alive between scrapes), so
  // connections that send nothing cannot keep a real scrape out (#24); a request under way is
  // never cut. A request must come whole within METRICS_HEADERS_TIMEOUT_MS.
  server.on('connection', (socket: Socket) => {
    if (open.size >= METRICS_MAX_CONNECTIONS) {
      let idle: Socket | null = null;
      for (const [s, c] of open) {
        if (!c.answering) {
          idle = s;
          break;
        }
      }
      if (idle === null) {
        socket.destroy();
        return;
      }
      open.delete(idle);
      idle.destroy();
    }
    open.set(socket, { answering: false });
    socket.once('close', () => open.delete(socket));
  });
  server.headersTimeout = METRICS_HEADERS_TIMEOUT_MS;
  server.requestTimeout = METRICS_HEADERS_TIMEOUT_MS * 2;
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve(server);
    });
  });
}
