// `tweetdb bench` as the README runs it: a fresh durable cluster, a short run at
// two concurrencies, the table printed and the JSON, Markdown and SVG written,
// with the per-phase times of a commit at each level; `--compare security`
// (open, key and key+tls clusters in one run); `--compare metrics` (metrics
// off, then on, in one run); `--compare connect` (persistent clients, then one
// connection per request); a running cluster (`--coordinator`), with its trace
// feed and without it; and, where PostgreSQL's server binaries are installed,
// `--compare postgres`.
// Nothing here asserts a speed: only that each figure was measured and reported.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Cluster, runTweetdb, type CliRun, waitExit } from '../helpers/cluster.ts';
import { findPostgres } from '../../src/bench/pg-cluster.ts';
import type { BenchReport, TweetdbRow } from '../../src/bench/report.ts';
import { PHASES } from '../../src/bench/phases.ts';
import { TweetdbClient } from '../../src/client/client.ts';
import { CORE_LIMITS } from '../../src/wire/limits.ts';

const out = mkdtempSync(join(tmpdir(), 'tweetdb-bench-test-'));
const spawned: ChildProcess[] = [];
after(async () => {
  for (const p of spawned) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
  await Promise.all(spawned.map((p) => waitExit(p)));
  rmSync(out, { recursive: true, force: true });
});

type Run = CliRun;

function bench(args: string[], timeoutMs = 120_000): Promise<Run> {
  return runTweetdb(['bench', '--seconds', '1', '--warmup', '0', '--out', out, ...args], timeoutMs, spawned);
}

/** A row's phase times were measured, and are in order: each p50 <= its p99, and last vote <= applied <= acked. */
function assertPhases(row: TweetdbRow): void {
  const p = row.phases;
  const where = `${row.variant ?? row.workload} at ${row.concurrency} clients: ${JSON.stringify(p)}`;
  assert.ok(p !== undefined && p.available, `phase times measured, ${where}`);
  assert.ok(p.traced > 0 && p.sampled1In >= 1 && p.commitsPerSec > 0 && p.seconds > 0, `commits traced, ${where}`);
  for (const ph of PHASES) assert.ok(p[ph].p50Ms >= 0 && p[ph].p50Ms <= p[ph].p99Ms, `${ph}: p50 <= p99, ${where}`);
  // Per commit, the last vote comes before the commit is applied, and applied before acknowledged: so do their percentiles.
  assert.ok(p.votes.p50Ms <= p.applied.p50Ms && p.applied.p50Ms <= p.acks.p50Ms, `p50: last vote <= applied <= acked, ${where}`);
  assert.ok(p.votes.p99Ms <= p.applied.p99Ms && p.applied.p99Ms <= p.acks.p99Ms, `p99: last vote <= applied <= acked, ${where}`);
}

/** A row of the phase table, in the Markdown and printed: six times, then the traced count, the sampling and two rates. */
function phaseRow(name: string, clients: number): RegExp {
  return new RegExp(`^\\| ${name} \\| ${clients} \\|( [\\d.]+ \\|){6} [\\d,]+ \\| [\\d,]+ \\| [\\d,]+ \\| [\\d,]+ \\|$`, 'm');
}

function results(name: string): { report: BenchReport; md: string; svg: string } {
  return {
    report: JSON.parse(readFileSync(join(out, `${name}.json`), 'utf8')) as BenchReport,
    md: readFileSync(join(out, `${name}.md`), 'utf8'),
    svg: readFileSync(join(out, `${name}.svg`), 'utf8'),
  };
}

test('bench post: a fresh cluster at 1 and 4 clients; every figure of each level measured, printed and written as JSON, Markdown and SVG', async () => {
  const r = await bench(['--workload', 'post', '--concurrency', '1,4', '--name', 'post']);
  assert.equal(r.code, 0, r.stderr);
  const { report, md, svg } = results('post');
  assert.ok(report.machine.cores > 0 && report.machine.fsyncsPerSec > 0, `the machine and its disk are described: ${JSON.stringify(report.machine)}`);
  assert.deepEqual(report.rows.map((x) => x.concurrency), [1, 4]);
  for (const row of report.rows) {
    assert.ok(row.commits > 0 && row.commitsPerSec > 0, `commits were measured at ${row.concurrency} clients`);
    assert.ok(row.p50Ms > 0 && row.p99Ms >= row.p50Ms && row.p999Ms >= row.p99Ms, 'latency percentiles in order');
    assert.equal(row.workers, 2);
    // Implicit commit (#13): the coordinator fsyncs no decision (well under one fsync a commit); each worker its prepared records.
    assert.ok(row.fsyncsPerCommit !== null && row.fsyncsPerCommit.coordinator >= 0 && row.fsyncsPerCommit.coordinator < 0.5 && row.fsyncsPerCommit.workers.length === 2 && row.fsyncsPerCommit.workers.every((f) => f > 0), 'fsyncs per commit on each node');
    // (Implicit commit: the coordinator may fsync nothing in a level; its mean is then absent: null in JSON.)
    const coordMean = row.fsyncMeanMs?.coordinator ?? null;
    assert.ok(row.fsyncMeanMs !== null && (coordMean === null || Number.isNaN(coordMean) || coordMean > 0) && row.fsyncMeanMs.workers.every((f) => f > 0), 'the mean fsync time of each node');
    assert.deepEqual(row.memory.map((m) => m.node), ['coordinator', 'worker-1', 'worker-2']);
    assert.ok(row.memory.every((m) => m.peakRssMiB > 0), 'peak RSS of each node');
    assert.equal(row.security, 'key', 'a fresh cluster has a cluster key, as `tweetdb start` runs');
  }
  assert.match(md, /\| tweetdb \(2 workers\) \| 4 \|/);
  assert.match(md, /!\[throughput and p99 against concurrency\]\(post\.svg\)/);
  assert.match(svg, /^<svg[^>]*>/);
  assert.match(r.stdout, /\| tweetdb \(2 workers\) \| 1 \|/, 'the table is printed too');
  for (const row of report.rows) assertPhases(row);
  for (const clients of [1, 4]) {
    assert.match(md, phaseRow('tweetdb', clients), `the phase times at ${clients} clients, in the Markdown`);
    assert.match(r.stdout, phaseRow('tweetdb', clients), 'and printed');
  }
  assert.match(md, /\| post, 2 workers, from prepare sent \| clients \| last vote p50 ms \| last vote p99 ms \| applied p50 ms \| applied p99 ms \| acked p50 ms \| acked p99 ms \|/);
});

test('bench read: the newest 50 of a preloaded store are read; no commits', async () => {
  const r = await bench(['--workload', 'read', '--preload', '300', '--concurrency', '2', '--name', 'read']);
  assert.equal(r.code, 0, r.stderr);
  const { report } = results('read');
  assert.equal(report.preload, 300);
  const row = report.rows[0];
  assert.ok(row !== undefined && row.reads > 0 && row.commits === 0, JSON.stringify(row));
  assert.deepEqual(row.aborts, {});
  assert.ok(row.phases !== undefined && !row.phases.available && /no commit finished/.test(row.phases.why), `no commit to time: ${JSON.stringify(row.phases)}`);
});

test('bench --compare connect: the post workload with persistent clients, then with one connection per request, at each level on one cluster; both measured, with phase times, and per-request against persistent printed and written', async () => {
  const r = await bench(['--concurrency', '1,4', '--compare', 'connect', '--name', 'connect']);
  assert.equal(r.code, 0, r.stderr);
  const { report, md, svg } = results('connect');
  assert.equal(report.compare, 'connect');
  assert.deepEqual(
    report.rows.map((x) => [x.variant, x.workload, x.concurrency]),
    [
      ['persistent', 'post', 1],
      ['per-request', 'post-connect', 1],
      ['persistent', 'post', 4],
      ['per-request', 'post-connect', 4],
    ],
  );
  for (const row of report.rows) {
    assert.ok(row.commits > 0 && row.p50Ms > 0 && row.p99Ms >= row.p50Ms, `${row.variant ?? '?'} measured: ${JSON.stringify(row)}`);
    assert.deepEqual(row.aborts, {}, `${row.variant ?? '?'} at ${row.concurrency}: every request answered, every connection made`);
    assertPhases(row);
  }
  assert.deepEqual(
    report.costs?.map((c) => [c.variant, c.concurrency, c.baseline, c.vsBaseline !== null && c.vsBaseline.commitsPerSec > 0]),
    [
      ['persistent', 1, 'persistent', true],
      ['per-request', 1, 'persistent', true],
      ['persistent', 4, 'persistent', true],
      ['per-request', 4, 'persistent', true],
    ],
  );
  for (const variant of ['persistent', 'per-request']) {
    for (const clients of [1, 4]) {
      const line = new RegExp(`^\\| ${variant} \\| ${clients} \\| [\\d,]+ \\| [\\d.]+x \\|`, 'm');
      assert.match(md, line, `${variant} at ${clients} clients against persistent, in the Markdown`);
      assert.match(r.stdout, line, 'and printed');
      assert.match(md, phaseRow(variant, clients), `its phase times at ${clients} clients`);
    }
    assert.match(svg, new RegExp(`tweetdb, ${variant}<`), `the chart has a ${variant} line`);
  }
  assert.match(md, /\| post, 2 workers, connections \| clients \| commits\/s \| vs persistent \|/);
  assert.match(md, /One connection per request against persistent clients/);
});

test('bench --compare connect with another workload is refused: it runs post both ways', async () => {
  const r = await bench(['--compare', 'connect', '--workload', 'hot', '--name', 'refused-connect']);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /--compare connect runs the post workload with persistent clients and with one connection per request; leave out --workload hot/);
  assert.equal(existsSync(join(out, 'refused-connect.json')), false, 'nothing written');
});

test('bench --coordinator: a running cluster\'s phase times come from its trace feed; with the feed full, the run goes on and says phase times are not available', async () => {
  const cluster = await Cluster.start({ workers: 2 });
  const followers: TweetdbClient[] = [];
  try {
    // Every trace slot taken: the bench's follower is refused.
    for (let i = 0; i < CORE_LIMITS.traceSubscribers; i++) {
      const c = await TweetdbClient.connect(cluster.address, 5_000, null, cluster.adminToken);
      followers.push(c);
      assert.equal((await c.request({ action: 'trace' })).status, 'OK');
    }
    const full = await bench(['--coordinator', cluster.address, '--admin-token-file', cluster.adminTokenFile, '--concurrency', '1', '--name', 'running-full']);
    assert.equal(full.code, 0, full.stderr);
    const row = results('running-full').report.rows[0];
    assert.ok(row !== undefined && row.commits > 0, 'the load was measured all the same');
    assert.ok(row.phases !== undefined && !row.phases.available && /UNAVAILABLE/.test(row.phases.why), JSON.stringify(row.phases));
    assert.match(full.stderr, /phase times not available: the coordinator refused the trace feed: UNAVAILABLE/);
    assert.match(results('running-full').md, /\| tweetdb \| 1 \| phase times not available: /);

    for (const c of followers.splice(0)) c.close();
    const free = await bench(['--coordinator', cluster.address, '--admin-token-file', cluster.adminTokenFile, '--concurrency', '1', '--name', 'running']);
    assert.equal(free.code, 0, free.stderr);
    const { report, md } = results('running');
    for (const x of report.rows) assertPhases(x);
    assert.match(md, phaseRow('tweetdb', 1));
  } finally {
    for (const c of followers) c.close();
    await cluster.stop();
  }
});

test('bench --compare security: the post workload against an open, a keyed and a keyed TLS cluster in one run; every row measured, with its cost against open, printed and written', async () => {
  const r = await bench(['--workload', 'post', '--concurrency', '1', '--compare', 'security', '--name', 'security'], 180_000);
  assert.equal(r.code, 0, r.stderr);
  const { report, md, svg } = results('security');
  assert.deepEqual(
    report.rows.map((x) => [x.security, x.concurrency]),
    [
      ['open', 1],
      ['key', 1],
      ['key+tls', 1],
    ],
  );
  // The key+tls coordinator refuses plain TCP: its commits were made over TLS by every bench connection.
  for (const row of report.rows) {
    assert.ok(row.commits > 0 && row.p50Ms > 0 && row.p99Ms >= row.p50Ms, `${row.security ?? '?'} measured: ${JSON.stringify(row)}`);
    assert.ok(row.cpuMsPerCommit !== undefined && row.cpuMsPerCommit !== null && row.cpuMsPerCommit.nodes > 0 && row.cpuMsPerCommit.client > 0, `${row.security ?? '?'}: CPU per commit of the nodes and of the bench's clients`);
  }
  for (const mode of ['open', 'key', 'key+tls']) {
    const line = new RegExp(`^\\| ${mode.replace('+', '\\+')} \\| 1 \\| [\\d,]+ \\| [\\d.]+x \\| [\\d.]+ \\| [\\d.]+x \\| [\\d.]+ \\| [\\d.]+x \\| [\\d.]+ \\| [\\d.]+x \\| [\\d.]+ \\| [\\d.]+ \\|$`, 'm');
    assert.match(md, line, `the ${mode} row with its ratios against open, in the Markdown`);
    assert.match(r.stdout, line, `and printed`);
    assert.match(svg, new RegExp(`tweetdb, ${mode.replace('+', '\\+')}<`), `the chart has a ${mode} line`);
  }
  assert.match(md, /\| open \| 1 \| [\d,]+ \| 1\.00x \|/, 'open against itself');
});

test('bench --compare security with --coordinator is refused: it starts its own clusters', async () => {
  const r = await bench(['--compare', 'security', '--coordinator', '127.0.0.1:9', '--name', 'refused']);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /--compare security starts its own three clusters; leave out --coordinator/);
  assert.equal(existsSync(join(out, 'refused.json')), false, 'nothing written');
});

test('bench --compare metrics: the post workload against a cluster with metrics off, then one with metrics and tracing on, in one run; every row measured, with the cost of on against off, printed and written', async () => {
  const r = await bench(['--workload', 'post', '--concurrency', '1,4', '--compare', 'metrics', '--name', 'metrics'], 180_000);
  assert.equal(r.code, 0, r.stderr);
  const { report, md, svg } = results('metrics');
  assert.equal(report.compare, 'metrics');
  assert.deepEqual(
    report.rows.map((x) => [x.variant, x.metrics, x.concurrency]),
    [
      ['off', false, 1],
      ['off', false, 4],
      ['on', true, 1],
      ['on', true, 4],
    ],
  );
  for (const row of report.rows) {
    assert.equal(row.security, 'key', 'both clusters keyed, as `tweetdb start` runs');
    assert.ok(row.commits > 0 && row.p50Ms > 0 && row.p99Ms >= row.p50Ms, `${row.variant ?? '?'} measured: ${JSON.stringify(row)}`);
    assert.ok(row.cpuMsPerCommit !== undefined && row.cpuMsPerCommit !== null && row.cpuMsPerCommit.nodes > 0 && row.cpuMsPerCommit.client > 0, `${row.variant ?? '?'}: CPU per commit of the nodes and of the bench's clients`);
  }
  assert.deepEqual(
    report.costs?.map((c) => [c.variant, c.concurrency, c.baseline, c.vsBaseline !== null && c.vsBaseline.commitsPerSec > 0 && c.vsBaseline.p99Ms > 0 && c.vsBaseline.nodesCpuMsPerCommit > 0]),
    [
      ['off', 1, 'off', true],
      ['off', 4, 'off', true],
      ['on', 1, 'off', true],
      ['on', 4, 'off', true],
    ],
    'the cost table is in the JSON',
  );
  for (const variant of ['off', 'on']) {
    for (const clients of [1, 4]) {
      const line = new RegExp(`^\\| ${variant} \\| ${clients} \\| [\\d,]+ \\| [\\d.]+x \\| [\\d.]+ \\| [\\d.]+x \\| [\\d.]+ \\| [\\d.]+x \\| [\\d.]+ \\| [\\d.]+x \\| [\\d.]+ \\| [\\d.]+ \\|$`, 'm');
      assert.match(md, line, `metrics ${variant} at ${clients} clients with its ratios against off, in the Markdown`);
      assert.match(r.stdout, line, 'and printed');
    }
    assert.match(md, new RegExp(`\\| tweetdb \\(2 workers, metrics ${variant}\\) \\| 4 \\|`), `the full table labels the ${variant} rows`);
    assert.match(svg, new RegExp(`tweetdb, metrics ${variant}<`), `the chart has a metrics ${variant} line`);
  }
  assert.match(md, /\| post, 2 workers, metrics \| clients \| commits\/s \| vs off \|/);
  assert.match(md, /\| off \| 1 \| [\d,]+ \| 1\.00x \|/, 'off against itself');
});

test('bench --compare metrics with --coordinator is refused: it starts its own clusters', async () => {
  const r = await bench(['--compare', 'metrics', '--coordinator', '127.0.0.1:9', '--name', 'refused-metrics']);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /--compare metrics starts its own two clusters; leave out --coordinator/);
  assert.equal(existsSync(join(out, 'refused-metrics.json')), false, 'nothing written');
});

let postgres: string | null = null;
try {
  findPostgres();
} catch (e) {
  postgres = (e as Error).message;
}

if (postgres !== null && process.env.TWEETDB_REQUIRE_POSTGRES === '1') {
  test('PostgreSQL is required here (TWEETDB_REQUIRE_POSTGRES=1) and was not found', () => {
    assert.fail(postgres ?? '');
  });
}

// Without PostgreSQL (and not required) the comparison is skipped, saying why and how to install it.
test('bench --compare postgres: the same post workload against PostgreSQL\'s two-phase commit, both rows and the ratio, and everything cleaned up', { skip: postgres ?? false }, async () => {
  const r = await bench(['--workload', 'post', '--concurrency', '2', '--compare', 'postgres', '--name', 'pg'], 240_000);
  assert.equal(r.code, 0, r.stderr);
  const { report, md } = results('pg');
  assert.equal(report.rows.length, 1);
  assert.equal(report.postgres.length, 1, `the PostgreSQL row is there: ${r.stdout.slice(-2_000)}`);
  const pg = report.postgres[0];
  assert.ok(pg !== undefined && pg.concurrency === 2 && pg.commitsPerSec > 0 && pg.errors === 0, JSON.stringify(pg));
  assert.match(md, /\| PostgreSQL 2PC \(2 clusters\) \| 2 \|/);
  assert.match(md, /tweetdb \/ PostgreSQL 2PC, commits\/s: [\d.]+x at 2 clients/);
  const removed = /PostgreSQL 2PC: both servers stopped, (\S+) removed/.exec(r.stdout);
  assert.ok(removed !== null, 'it says it cleaned up');
  assert.equal(existsSync(removed[1] as string), false, 'the temporary clusters are gone');
});
