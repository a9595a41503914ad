// The committed benchmark run: every run bench/run-matrix.sh makes is in
// bench/results (JSON, Markdown, SVG), with the machine it ran on; the
// PostgreSQL comparison has both systems at every concurrency; and what the
// README shows of it exists.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import type { BenchReport } from '../../src/bench/report.ts';

const root = new URL('../../', import.meta.url);
const read = (path: string): string => readFileSync(new URL(path, root), 'utf8');

/** The --name of every run of the script, with its `for x in ...; do` loops expanded. */
function matrixNames(script: string): string[] {
  const names: string[] = [];
  for (const line of script.split('\n')) {
    const name = /--name ([\w$-]+)/.exec(line)?.[1];
    if (name === undefined) continue;
    const loop = /^for (\w+) in ([^;]+);/.exec(line);
    if (loop === null) names.push(name);
    else for (const v of (loop[2] as string).trim().split(/\s+/)) names.push(name.replace(`$${loop[1] as string}`, v));
  }
  return names;
}

test('every run of bench/run-matrix.sh is committed in bench/results, with the machine it ran on', () => {
  const names = matrixNames(read('bench/run-matrix.sh'));
  assert.ok(names.length >= 10, `the matrix names its runs: ${names.join(', ')}`);
  for (const name of names) {
    for (const ext of ['json', 'md', 'svg']) assert.ok(existsSync(new URL(`bench/results/${name}.${ext}`, root)), `bench/results/${name}.${ext}`);
    const r = JSON.parse(read(`bench/results/${name}.json`)) as BenchReport;
    assert.ok(r.machine.cores > 0 && r.machine.cpu.length > 0 && r.machine.fsyncsPerSec > 0, `${name}: the machine and its disk`);
    assert.ok(r.rows.length > 0 && r.rows.every((row) => row.commits + row.reads > 0), `${name}: measured rows`);
  }
});

test('the committed PostgreSQL comparison has both systems at 1, 16, 64 and 256 clients', () => {
  const r = JSON.parse(read('bench/results/post-vs-postgres.json')) as BenchReport;
  assert.deepEqual(r.rows.map((x) => x.concurrency), [1, 16, 64, 256]);
  assert.deepEqual(r.postgres.map((x) => x.concurrency), [1, 16, 64, 256]);
  assert.ok(r.postgres.every((p) => p.commits > 0));
});

test('the chart and the result files the README names exist', () => {
  const readme = read('README.md');
  const refs = [...readme.matchAll(/bench\/results\/([\w.-]+\.(?:svg|md|json))/g)].map((m) => m[1] as string);
  assert.ok(refs.some((f) => f.endsWith('.svg')), 'the README shows a chart');
  for (const f of refs) assert.ok(existsSync(new URL(`bench/results/${f}`, root)), `README names bench/results/${f}`);
});
