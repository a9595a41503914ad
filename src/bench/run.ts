// `tweetdb bench`: starts a fresh durable cluster in a temporary directory (or
// targets a running one), drives it with persistent closed-loop clients at each
// concurrency, and reports commits/s, reads/s, aborts by code, latency
// percentiles, fsyncs per commit and peak memory of each node; optionally the
// same post workload against PostgreSQL's own two-phase commit, or against
// three fresh clusters secured in turn (open, key, key+tls) for the cost of
// authentication and of TLS, or against two fresh clusters with metrics off and
// on for the cost of Prometheus metrics and tracing, or with persistent clients
// and with one connection per request, level by level. After each measured
// window the load is held a little longer while the coordinator's trace feed is
// followed, for the per-phase times of a commit (phases.ts).

import { spawnSync } from 'node:child_process';
import { loadavg, tmpdir } from 'node:os';
import { BenchCluster, fsyncCounts, SECURITY_MODES, type ClusterVariant, type FsyncCounts, type NodeMemory } from './cluster.ts';
import type { TlsConfig } from '../node/transport.ts';
import { preload, runLevel, setUpHot, type AfterWindow, type Workload } from './load.ts';
import { PhaseFollower, type PhaseResult } from './phases.ts';
import { describeMachine } from './machine.ts';
import { markdownTable, phaseTable, ratios, variantCosts, variantTable, writeReport, type BenchReport, type PostgresRow, type TweetdbRow } from './report.ts';
import { Progress } from './progress.ts';

export interface BenchOptions {
  workload: Workload;
  concurrency: number[];
  seconds: number;
  warmup: number;
  workers: number;
  preload: number;
  /** A running cluster's coordinator; null starts a fresh one. */
  coordinator: string | null;
  /** The running cluster's admin token, for the trace feed's phase times (null: none, they are not measured). */
  adminToken: string | null;
  /**
   * postgres: PostgreSQL's 2PC too; security: three fresh clusters, open, key and key+tls, one after another;
   * metrics: two fresh clusters, metrics off and on, one after another; connect: at each concurrency,
   * the post workload with persistent clients, then with one connection per request (post-connect).
   */
  compare: 'postgres' | 'security' | 'metrics' | 'connect' | null;
  /** Seconds the trace feed is followed after each measured window, for the phase times; 0: not at all. */
  phaseSeconds: number;
  out: string;
  name: string;
  lockTimeoutS: number;
}

function perCommit(before: FsyncCounts, after: FsyncCounts, commits: number): TweetdbRow['fsyncsPerCommit'] {
  if (commits === 0) return null;
  const r = (a: number, b: number): number => Math.round(((a - b) / commits) * 1000) / 1000;
  return { coordinator: r(after.coordinator, before.coordinator), workers: after.workers.map((w, i) => r(w, before.workers[i] ?? 0)) };
}

/** How long one fsync took on each node during the level, on average (null: none ran). */
function meanFsync(before: FsyncCounts, after: FsyncCounts): TweetdbRow['fsyncMeanMs'] {
  const mean = (ms: number, msBefore: number, n: number, nBefore: number): number => (n > nBefore ? Math.round(((ms - msBefore) / (n - nBefore)) * 100) / 100 : NaN);
  const coordinator = mean(after.coordinatorMs, before.coordinatorMs, after.coordinator, before.coordinator);
  const workers = after.workers.map((n, i) => mean(after.workersMs[i] ?? NaN, before.workersMs[i] ?? 0, n, before.workers[i] ?? 0));
  return Number.isNaN(coordinator) && workers.every(Number.isNaN) ? null : { coordinator, workers };
}

/** Seconds the disk is left to settle between the clusters of `--compare security` or `metrics` (the previous one's data written back and removed). */
export const SECURITY_SETTLE_S = 3;

/** The fresh clusters a run measures, one after another: one keyed cluster (as `tweetdb start` runs), unless `--compare` varies them. */
export function clusterVariants(compare: BenchOptions['compare']): ClusterVariant[] {
  if (compare === 'security') return SECURITY_MODES.map((mode) => ({ label: mode, security: mode, metrics: false }));
  if (compare === 'metrics') {
    return [
      { label: 'off', security: 'key', metrics: false },
      { label: 'on', security: 'key', metrics: true },
    ];
  }
  return [{ label: 'key', security: 'key', metrics: false }];
}

export async function runBench(o: BenchOptions, log: (line: string) => void): Promise<BenchReport> {
  const machine = describeMachine(tmpdir());
  log(`machine: ${machine.cpu}, ${machine.cores} cores, Node ${machine.node}; disk: ${machine.fsyncsPerSec.toLocaleString('en-US')} fsyncs/s one at a time`);
  if ((o.compare === 'security' || o.compare === 'metrics') && o.coordinator !== null) throw new Error(`--compare ${o.compare} starts its own clusters: leave out --coordinator`);
  if (o.compare === 'connect' && o.workload !== 'post') throw new Error(`--compare connect runs the post workload both ways: leave out --workload ${o.workload}`);
  const report: BenchReport = {
    when: new Date().toISOString(),
    machine,
    workload: o.workload,
    workers: o.workers,
    preload: o.preload,
    target: o.coordinator ?? 'fresh cluster',
    rows: [],
    postgres: [],
    ...(o.compare === 'security' || o.compare === 'metrics' || o.compare === 'connect' ? { compare: o.compare } : {}),
  };
  const progress = new Progress();
  try {
    if (o.coordinator !== null) {
      log(`target: the running cluster at ${o.coordinator}`);
      report.rows.push(...(await measure(o, o.coordinator, null, null, progress, '')));
    } else {
      const variants = clusterVariants(o.compare);
      const compared = variants.length > 1;
      for (const [i, v] of variants.entries()) {
        if (i > 0) await settle();
        const cluster = await BenchCluster.start(o.workers, o.lockTimeoutS, {}, null, v.security, v.metrics);
        try {
          log(`cluster (${compared && o.compare === 'metrics' ? `metrics ${v.label}` : v.label}): a coordinator and ${o.workers} workers at ${cluster.address}, data in ${cluster.dir}`);
          const rows = await measure(o, cluster.address, cluster.clientTls, cluster, progress, compared ? `${v.label}: ` : '');
          report.rows.push(...(compared ? rows.map((row) => ({ ...row, variant: v.label })) : rows));
        } finally {
          await cluster.stop();
        }
      }
    }
  } finally {
    progress.stop();
  }
  if (o.compare === 'postgres') {
    try {
      await comparePostgres(o, progress, log, report.postgres);
    } catch (e) {
      // tweetdb's rows are measured already: report them, and say why the comparison stopped.
      log(`the PostgreSQL comparison stopped: ${(e as Error).message}`);
    }
  }
  log('');
  if (report.compare !== undefined) {
    report.costs = variantCosts(report);
    log(variantTable(report));
    log('');
  }
  log(markdownTable(report));
  if (report.rows.some((row) => row.phases !== undefined)) {
    log('');
    log(phaseTable(report));
  }
  for (const r of ratios(report)) log(`tweetdb / PostgreSQL 2PC at ${r.concurrency} clients: ${r.ratio}x commits/s`);
  const files = writeReport(o.out, o.name, report);
  log('');
  log(`written: ${files.join(', ')}`);
  return report;
}

/** Writes back what the last cluster left and waits, so that it does not slow the next one down. */
async function settle(): Promise<void> {
  spawnSync('sync', { stdio: 'ignore' });
  await new Promise((r) => setTimeout(r, SECURITY_SETTLE_S * 1000));
}

/** Said when per-request connections failed for want of a local port. */
export const PORTS_RAN_OUT =
  'connections failed with EADDRNOTAVAIL: this machine ran out of local ports, held in TIME_WAIT by the connections this bench closed; Linux reuses them for new connections on loopback (net.ipv4.tcp_tw_reuse=2, the default) but to another host only with net.ipv4.tcp_tw_reuse=1';

/** What `--compare connect` labels its rows with: the baseline first. */
export const CONNECT_VARIANTS = [
  { label: 'persistent', workload: 'post' },
  { label: 'per-request', workload: 'post-connect' },
] as const satisfies readonly { label: string; workload: Workload }[];

/** The time after each measured window in which the trace feed is followed; `onResult` gets what it gave. */
function phaseWindow(o: BenchOptions, address: string, tls: TlsConfig | null, adminToken: string | null, onResult: (r: PhaseResult) => void): AfterWindow | null {
  if (o.phaseSeconds <= 0) return null;
  return {
    seconds: o.phaseSeconds,
    start: async () => {
      const f = await PhaseFollower.follow(address, tls, adminToken);
      if (!(f instanceof PhaseFollower)) {
        onResult(f);
        return null;
      }
      return (commitsPerSec) => onResult(f.stop(o.phaseSeconds, commitsPerSec));
    },
  };
}

/** One line for the terminal: a level's phase times, or why there are none. */
export function phaseLine(label: string, p: PhaseResult): string {
  if (!p.available) return `${label}phase times not available: ${p.why}`;
  const pp = (x: { p50Ms: number; p99Ms: number }): string => `${x.p50Ms} / ${x.p99Ms} ms`;
  return `${label}from prepare, p50 / p99: last vote ${pp(p.votes)}, applied ${pp(p.applied)}, acked ${pp(p.acks)} (${p.traced.toLocaleString('en-US')} commits traced in ${p.seconds} s, 1 in ${p.sampled1In}, at ${p.commitsPerSec.toLocaleString('en-US')} commits/s)`;
}

/** Preloads, then runs every concurrency against one cluster; `cluster` (a fresh one) gives its memory and security mode. */
async function measure(o: BenchOptions, address: string, tls: TlsConfig | null, cluster: BenchCluster | null, progress: Progress, label: string): Promise<TweetdbRow[]> {
  const rows: TweetdbRow[] = [];
  if (o.preload > 0) {
    const t0 = Date.now();
    await preload(address, o.preload, (done) => progress.update(done / o.preload, `${label}preloading ${done.toLocaleString('en-US')} / ${o.preload.toLocaleString('en-US')} tweets`), tls);
    progress.done(`${label}preloaded ${o.preload.toLocaleString('en-US')} tweets in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  }
  if (o.workload === 'hot') await setUpHot(address, tls);
  // Under --compare connect, each level runs both ways, one right after the other, so that both meet the same machine.
  const runs: readonly { label: string | null; workload: Workload }[] = o.compare === 'connect' ? CONNECT_VARIANTS : [{ label: null, workload: o.workload }];
  const levels = o.concurrency.flatMap((c) => runs.map((run) => ({ c, run })));
  for (const { c, run } of levels) {
    const tag = `${label}${run.label !== null ? `${run.label}: ` : ''}`;
    // CPU over exactly the measured window: the cluster's nodes (when it is ours) and this process, the load generator.
    const cpu = { nodes: NaN, client: NaN };
    // fsyncs over the measured window too (the warm-up's and the phase window's are not its commits'); memory and load as it ends.
    const atStart: { fsyncs: FsyncCounts | null } = { fsyncs: null };
    const atEnd: { fsyncs: FsyncCounts | null; memory: NodeMemory[]; loadAvg1: number } = { fsyncs: null, memory: [], loadAvg1: NaN };
    const cpuNow = (): { nodes: number; client: number } => {
      const u = process.cpuUsage();
      return { nodes: cluster?.cpuSeconds() ?? NaN, client: (u.user + u.system) / 1e6 };
    };
    // The fsync counters are read just outside the window (before it starts, after it ends), the CPU times just inside.
    const onWindow = async (phase: 'start' | 'end'): Promise<void> => {
      if (phase === 'start') {
        atStart.fsyncs = await fsyncCounts(address, tls);
        Object.assign(cpu, cpuNow());
        return;
      }
      const now = cpuNow();
      Object.assign(cpu, { nodes: now.nodes - cpu.nodes, client: now.client - cpu.client });
      atEnd.memory = cluster?.memory() ?? [];
      atEnd.loadAvg1 = Math.round((loadavg()[0] ?? NaN) * 100) / 100;
      atEnd.fsyncs = await fsyncCounts(address, tls);
    };
    let phases: PhaseResult | undefined;
    const row = await runLevel(
      address,
      run.workload,
      c,
      o.seconds,
      o.warmup,
      (commits, reads, t) =>
        progress.update(t / o.seconds, `${tag}${run.workload} at ${c} clients: ${t.toFixed(1)} s, ${Math.round(commits / Math.max(t, 0.001)).toLocaleString('en-US')} commits/s, ${Math.round(reads / Math.max(t, 0.001)).toLocaleString('en-US')} reads/s`),
      tls,
      onWindow,
      phaseWindow(o, address, tls, cluster?.adminToken ?? o.adminToken, (p) => (phases = p)),
    );
    const before = atStart.fsyncs;
    const after = atEnd.fsyncs;
    if (before === null || after === null) throw new Error('the measured window was never opened and closed (a bug in the bench)');
    const perCommitMs = (s: number): number => (row.commits > 0 && Number.isFinite(s) ? Math.round(((s * 1000) / row.commits) * 1000) / 1000 : NaN);
    rows.push({
      ...row,
      system: 'tweetdb',
      workers: after.workers.length,
      fsyncsPerCommit: perCommit(before, after, row.commits),
      fsyncMeanMs: meanFsync(before, after),
      memory: atEnd.memory,
      loadAvg1: atEnd.loadAvg1,
      cpuMsPerCommit: row.commits > 0 ? { nodes: perCommitMs(cpu.nodes), client: perCommitMs(cpu.client) } : null,
      ...(cluster !== null ? { security: cluster.security, metrics: cluster.metrics } : {}),
      ...(run.label !== null ? { variant: run.label } : {}),
      ...(phases !== undefined ? { phases } : {}),
    });
    progress.done(`${tag}${run.workload} at ${c} clients: ${row.commitsPerSec.toLocaleString('en-US')} commits/s, ${row.readsPerSec.toLocaleString('en-US')} reads/s, p50 ${row.p50Ms} ms, p99 ${row.p99Ms} ms`);
    if (phases !== undefined) progress.done(phaseLine(`${tag}  `, phases));
    if (row.aborts.CONNECT_EADDRNOTAVAIL !== undefined) progress.done(`${tag}  ${PORTS_RAN_OUT}`);
  }
  return rows;
}

/** Runs PostgreSQL's 2PC at each concurrency into `rows`; a level that fails is reported and skipped. */
async function comparePostgres(o: BenchOptions, progress: Progress, log: (line: string) => void, rows: PostgresRow[]): Promise<void> {
  // Loaded only when asked for: the rest of the bench needs neither PostgreSQL nor its client.
  const pg = await import('./postgres.ts');
  pg.findPostgres();
  await pg.withPostgresPair(
    Math.max(...o.concurrency),
    async (pair) => {
      for (const c of o.concurrency) {
        try {
          const r = await pg.runPgPost(pair, c, o.seconds, o.warmup, (commits) => progress.update(0, `PostgreSQL 2PC at ${c} clients: ${commits.toLocaleString('en-US')} commits`));
          rows.push(r);
          progress.done(`PostgreSQL 2PC at ${c} clients: ${r.commitsPerSec.toLocaleString('en-US')} commits/s, p50 ${r.p50Ms} ms, p99 ${r.p99Ms} ms`);
        } catch (e) {
          progress.done(`PostgreSQL 2PC at ${c} clients: not measured: ${(e as Error).message}`);
        }
      }
    },
    log,
  );
}
