// `tweetdb status` through real processes: a row per node and exit 0 when healthy; a killed
// worker's row says down and the exit code is 1; --json prints the raw replies; 2 when the
// coordinator cannot be reached.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { BIN, Cluster, eventually, freePort, runTweetdb, type CliRun, waitExit } from '../helpers/cluster.ts';

let cluster: Cluster;
const spawned: ChildProcess[] = [];
before(async () => {
  cluster = await Cluster.start({ workers: 2 });
});
after(async () => {
  for (const p of spawned) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
  await Promise.all(spawned.map((p) => waitExit(p)));
  await cluster.stop();
});

type Run = CliRun;

function runStatus(args: string[], timeoutMs = 30_000): Promise<Run> {
  return runTweetdb(['status', ...args], timeoutMs, spawned);
}

/** The table's rows for nodes: lines starting with `| ` whose first cell is a node id. */
function nodeRows(out: string, ids: string[]): Map<string, string> {
  const rows = new Map<string, string>();
  for (const line of out.split('\n')) {
    const first = line.split('|')[1]?.trim();
    if (first !== undefined && ids.includes(first)) rows.set(first, line);
  }
  return rows;
}

async function workerIds(): Promise<string[]> {
  const s = await cluster.status();
  return (s.workers as { id: string }[]).map((w) => w.id);
}

test('healthy: exit 0, a row for the coordinator and for each worker, the same digest everywhere', async () => {
  const r0 = await cluster.request({ action: 'post', tweet: { username: 'ada', content: 'hello' } });
  assert.equal(r0.status, 'OK');
  await cluster.waitConverged();
  const r = await runStatus(['--coordinator', cluster.address]);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  const ids = await workerIds();
  const rows = nodeRows(r.stdout, ['coordinator', ...ids]);
  assert.equal(rows.size, 3, r.stdout);
  assert.match(rows.get('coordinator') ?? '', new RegExp(`\\| coordinator +\\| up +\\| ${cluster.address.replace(/\./g, '\\.')} `));
  for (const id of ids) {
    assert.match(rows.get(id) ?? '', /\| worker +\| up +\|/);
    assert.doesNotMatch(rows.get(id) ?? '', /differs/);
  }
  assert.match(r.stdout, /in doubt: none/);
  assert.match(r.stdout, /^healthy$/m);
});

test('--json prints the raw status and check replies', async () => {
  const r = await runStatus(['--coordinator', cluster.address, '--json']);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  const o = JSON.parse(r.stdout) as { coordinator: string; status: { status: string; workers: unknown[] }; check: { status: string; workers: { digest: string }[] } };
  assert.equal(o.coordinator, cluster.address);
  assert.equal(o.status.status, 'OK');
  assert.equal(o.status.workers.length, 2);
  assert.equal(o.check.workers.length, 2);
  assert.equal(typeof o.check.workers[0]?.digest, 'string');
});

test('--watch redraws until stopped, one frame a second', async () => {
  const p = spawn(process.execPath, [BIN, 'status', '--coordinator', cluster.address, '--watch'], { stdio: ['ignore', 'pipe', 'pipe'] });
  spawned.push(p);
  let out = '';
  p.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
  await eventually(async () => out.split("\x1b[H").length >= 3, 10_000, 'two frames');
  p.kill('SIGINT');
  const code = await new Promise<number | null>((resolve) => (p.exitCode !== null ? resolve(p.exitCode) : p.once('exit', (c) => resolve(c))));
  assert.equal(code, 0, out);
  assert.match(out, /\| coordinator +\| coordinator +\| up/);
});

test('a killed worker: exit 1 and its row says down', async () => {
  const ids = await workerIds();
  const victim = cluster.workers[1];
  assert.ok(victim !== undefined);
  await cluster.kill(victim);
  let r: Run = { code: null, stdout: '', stderr: '' };
  await eventually(async () => {
    r = await runStatus(['--coordinator', cluster.address]);
    return r.code === 1;
  }, 20_000, 'status exits 1', () => r.stdout + r.stderr);
  const rows = nodeRows(r.stdout, ['coordinator', ...ids]);
  assert.equal(rows.size, 3, r.stdout);
  assert.equal([...rows.values()].filter((l) => /\| worker +\| down +\|/.test(l)).length, 1, r.stdout);
  assert.match(r.stdout, /unhealthy: 1 worker\(s\) not up/);
});

test('an unreachable coordinator: exit 2 and a sentence on standard error', async () => {
  const port = await freePort();
  const r = await runStatus(['--coordinator', `127.0.0.1:${port}`]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /unreachable/);
});
