// `tweetdb bench`: starts a fresh durable cluster in a temporary directory (or
// targets a running one), drives it with persistent closed-loop clients at each
// concurrency, and reports commits/s, reads/s, aborts by code, latency
// percentiles, fsyncs per commit and peak memory of each node; optionally the
// same post workload against PostgreSQL's own two-phase commit.

import { tmpdir } from 'node:os';
import { BenchCluster, fsyncCounts, type FsyncCounts } from './cluster.ts';
import { preload, runLevel, setUpHot, type Workload } from './load.ts';
import { describeMachine } from './machine.ts';
import { markdownTable, ratios, writeReport, type BenchReport, type PostgresRow, type TweetdbRow } from './report.ts';
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
  compare: 'postgres' | null;
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

export async function runBench(o: BenchOptions, log: (line: string) => void): Promise<BenchReport> {
  const machine = describeMachine(tmpdir());
  log(`machine: ${machine.cpu}, ${machine.cores} cores, Node ${machine.node}; disk: ${machine.fsyncsPerSec.toLocaleString('en-US')} fsyncs/s one at a time`);
  const cluster = o.coordinator === null ? await BenchCluster.start(o.workers, o.lockTimeoutS) : null;
  const address = cluster?.address ?? (o.coordinator as string);
  const report: BenchReport = {
    when: new Date().toISOString(),
    machine,
    workload: o.workload,
    workers: o.workers,
    preload: o.preload,
    target: cluster === null ? address : 'fresh cluster',
    rows: [],
    postgres: [],
  };
  const progress = new Progress();
  try {
    log(cluster === null ? `target: the running cluster at ${address}` : `cluster: a coordinator and ${o.workers} workers at ${address}, data in ${cluster.dir}`);
    if (o.preload > 0) {
      const t0 = Date.now();
      await preload(address, o.preload, (done) => progress.update(done / o.preload, `preloading ${done.toLocaleString('en-US')} / ${o.preload.toLocaleString('en-US')} tweets`));
      progress.done(`preloaded ${o.preload.toLocaleString('en-US')} tweets in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    }
    if (o.workload === 'hot') await setUpHot(address);
    for (const c of o.concurrency) {
      const before = await fsyncCounts(address);
      const row = await runLevel(address, o.workload, c, o.seconds, o.warmup, (commits, reads, t) =>
        progress.update(t / o.seconds, `${o.workload} at ${c} clients: ${t.toFixed(1)} s, ${Math.round(commits / Math.max(t, 0.001)).toLocaleString('en-US')} commits/s, ${Math.round(reads / Math.max(t, 0.001)).toLocaleString('en-US')} reads/s`),
      );
      const after = await fsyncCounts(address);
      const full: TweetdbRow = { ...row, system: 'tweetdb', workers: after.workers.length, fsyncsPerCommit: perCommit(before, after, row.commits), fsyncMeanMs: meanFsync(before, after), memory: cluster?.memory() ?? [] };
      report.rows.push(full);
      progress.done(`${o.workload} at ${c} clients: ${row.commitsPerSec.toLocaleString('en-US')} commits/s, ${row.readsPerSec.toLocaleString('en-US')} reads/s, p50 ${row.p50Ms} ms, p99 ${row.p99Ms} ms`);
    }
  } finally {
    progress.stop();
    await cluster?.stop();
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
  log(markdownTable(report));
  for (const r of ratios(report)) log(`tweetdb / PostgreSQL 2PC at ${r.concurrency} clients: ${r.ratio}x commits/s`);
  const files = writeReport(o.out, o.name, report);
  log('');
  log(`written: ${files.join(', ')}`);
  return report;
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
