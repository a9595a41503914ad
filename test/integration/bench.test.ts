// `tweetdb bench` as the README runs it: a fresh durable cluster, a short run at
// two concurrencies, the table printed and the JSON, Markdown and SVG written;
// `--compare security` (open, key and key+tls clusters in one run); `--compare
// metrics` (metrics off, then on, in one run); and, where
// PostgreSQL's server binaries are installed, `--compare postgres`.
// Nothing here asserts a speed: only that each figure was measured and reported.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runTweetdb, type CliRun, waitExit } from '../helpers/cluster.ts';
import { findPostgres } from '../../src/bench/pg-cluster.ts';
import type { BenchReport } from '../../src/bench/report.ts';

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
    assert.ok(row.fsyncsPerCommit !== null && row.fsyncsPerCommit.coordinator > 0 && row.fsyncsPerCommit.workers.length === 2 && row.fsyncsPerCommit.workers.every((f) => f > 0), 'fsyncs per commit on each node');
    assert.ok(row.fsyncMeanMs !== null && row.fsyncMeanMs.coordinator > 0 && row.fsyncMeanMs.workers.every((f) => f > 0), 'the mean fsync time of each node');
    assert.deepEqual(row.memory.map((m) => m.node), ['coordinator', 'worker-1', 'worker-2']);
    assert.ok(row.memory.every((m) => m.peakRssMiB > 0), 'peak RSS of each node');
    assert.equal(row.security, 'key', 'a fresh cluster has a cluster key, as `tweetdb start` runs');
  }
  assert.match(md, /\| tweetdb \(2 workers\) \| 4 \|/);
  assert.match(md, /!\[throughput and p99 against concurrency\]\(post\.svg\)/);
  assert.match(svg, /^<svg[^>]*>/);
  assert.match(r.stdout, /\| tweetdb \(2 workers\) \| 1 \|/, 'the table is printed too');
});

test('bench read: the newest 50 of a preloaded store are read; no commits', async () => {
  const r = await bench(['--workload', 'read', '--preload', '300', '--concurrency', '2', '--name', 'read']);
  assert.equal(r.code, 0, r.stderr);
  const { report } = results('read');
  assert.equal(report.preload, 300);
  const row = report.rows[0];
  assert.ok(row !== undefined && row.reads > 0 && row.commits === 0, JSON.stringify(row));
  assert.deepEqual(row.aborts, {});
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
