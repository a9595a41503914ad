// Membership through real processes (issue #12 item 6): a worker killed under load is evicted and
// writes go on; restarted, it rejoins as a learner and is promoted with no write refused; a third
// worker joins a cluster holding data under load with no write refused; `tweetdb admin
// remove-worker` under load. Every acknowledged write is read back at the end (src/check/load.ts)
// and the copies end identical.
// TWEETDB_JOIN_TWEETS sets how many tweets the cluster holds when the third worker joins (default
// 20,000, to stay fast in CI; the figure in the README was measured with 100,000);
// TWEETDB_MEMBERSHIP_CLIENTS how many clients write throughout (default 8, as issue #23 asks).
// Issue #23 item 5: the join and the rejoin were run 20 times in a row (see the README).

import { test, after, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { Cluster, eventually, runTweetdb, type CliRun, sleep, waitExit, type NodeProc } from '../helpers/cluster.ts';
import { Load } from '../../src/check/load.ts';
import { preload } from '../../src/bench/load.ts';
import type { StatusWorker } from '../../src/wire/protocol.ts';

const CLIENTS = Number(process.env.TWEETDB_MEMBERSHIP_CLIENTS ?? 8);
const EVICT_AFTER_S = 2;
const JOIN_TWEETS = Number(process.env.TWEETDB_JOIN_TWEETS ?? 20_000);
/**
 * The bound on a catch-up (issue #23 item 5): a learner that is not a voter and up within it has
 * stalled. Not a timing claim (those are in the README, measured): 30 s, plus 1 ms per tweet to
 * copy, is more than ten times what any run took here, even with two test files at once.
 */
const REJOIN_BOUND_MS = 30_000;
const JOIN_BOUND_MS = 30_000 + JOIN_TWEETS;

const clusters: Cluster[] = [];
/** Every load started: stopped before the clusters, so a test that fails midway leaves no client running (the process would never exit). */
const loads: Load[] = [];
after(async () => {
  await Promise.all(loads.map((l) => l.stop()));
  await Promise.all(clusters.map((c) => c.stop()));
});

async function start(workers: number): Promise<Cluster> {
  const c = await Cluster.start({ workers, evictAfter: EVICT_AFTER_S });
  clusters.push(c);
  return c;
}

/** One write's outcome, with when it was sent and when its reply came. */
interface Outcome {
  outcome: string;
  at: number;
  sentAt: number;
}

/** The load of CLIENTS clients writing their own tweets, keeping every outcome with its times (a few per ms at most: bounded by the test's length). */
function loadOn(cluster: Cluster): { load: Load; outcomes: Outcome[] } {
  const outcomes: Outcome[] = [];
  const load = new Load({ address: () => cluster.address, clients: CLIENTS, requestTimeoutMs: 30_000, onReply: (outcome, at, sentAt) => outcomes.push({ outcome, at, sentAt }) });
  loads.push(load);
  return { load, outcomes };
}

/** What a join or a rejoin must never cause (LOCKED and NOT_FOUND are the load's own contention on shared tweets). */
const REFUSED = new Set(['UNAVAILABLE', 'IN_DOUBT', 'UNKNOWN', 'TIMEOUT']);

function codes(outcomes: Outcome[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const o of outcomes) out[o.outcome] = (out[o.outcome] ?? 0) + 1;
  return out;
}

async function members(cluster: Cluster): Promise<StatusWorker[]> {
  const s = await cluster.status();
  return s.workers as StatusWorker[];
}

async function memberAt(cluster: Cluster, address: string): Promise<StatusWorker | undefined> {
  return (await members(cluster)).find((w) => w.address === address);
}

/**
 * Polls status every 10 ms until the worker at `address` is a voter and up; returns every role and
 * state it was shown in, in order (each change once), and how long that took.
 */
async function watchUntilVoter(cluster: Cluster, address: string, timeoutMs: number): Promise<{ seen: string[]; ms: number; last: StatusWorker | undefined }> {
  const t0 = Date.now();
  const seen: string[] = [];
  let last: StatusWorker | undefined;
  while (Date.now() - t0 < timeoutMs) {
    try {
      last = await memberAt(cluster, address);
      const shown = last === undefined ? 'not listed' : `${last.role ?? '?'}/${last.state}${last.learner !== undefined ? ` (${last.learner.phase})` : ''}`;
      if (seen[seen.length - 1] !== shown) seen.push(shown);
      if (last?.role === 'voter' && last.state === 'up') return { seen, ms: Date.now() - t0, last };
    } catch {
      // the coordinator is busy or restarting: ask again
    }
    await sleep(10);
  }
  throw new Error(`the worker at ${address} was not a voter and up within ${timeoutMs / 1000} s; shown as: ${seen.join(' -> ')}`);
}

function nodeIdOf(node: NodeProc): string {
  for (const l of node.logs) {
    if (!l.includes('listening on')) continue;
    try {
      const rec = JSON.parse(l) as { node_id?: string };
      if (typeof rec.node_id === 'string') return rec.node_id;
    } catch {
      // not a log record
    }
  }
  throw new Error(`no node_id in ${node.name}'s listening line:\n${node.logs.join('\n')}`);
}

async function endChecks(t: TestContext, cluster: Cluster, load: Load, workers: number): Promise<void> {
  assert.deepEqual(load.errors, [], 'no write was refused as invalid');
  const copies = await cluster.waitConverged(60_000);
  assert.equal(copies.length, workers, JSON.stringify(copies));
  const digest = copies[0]?.digest;
  for (const w of copies) assert.equal(w.digest, digest, `every copy has the same digest: ${JSON.stringify(copies)}`);
  assert.deepEqual(await load.verify(cluster.address), [], 'every acknowledged write is readable');
  t.diagnostic(`end: ${workers} copies with digest ${digest?.slice(0, 12)}, ${copies[0]?.count} tweets; ${load.acked} writes acknowledged`);
}

test(`kill -9 of one of two workers under ${CLIENTS} clients: writes go on once it is evicted (--evict-after ${EVICT_AFTER_S}); restarted, it rejoins as a learner and is promoted with no write refused`, { timeout: 180_000 }, async (t) => {
  const cluster = await start(2);
  const { load, outcomes } = loadOn(cluster);
  load.start();
  await eventually(async () => load.acked >= 200, 30_000, '200 writes acknowledged before the kill');

  const victim = cluster.workers[1] as NodeProc;
  const address = victim.address;
  const killedAt = Date.now();
  await cluster.kill(victim);
  // The first write sent after the kill that commits: writes answered OK later were decided before it.
  const firstOk = (): Outcome | undefined => outcomes.find((o) => o.outcome === 'OK' && o.sentAt >= killedAt);
  await eventually(async () => firstOk() !== undefined, 30_000, 'a write sent after the kill commits', () => JSON.stringify(codes(outcomes.filter((o) => o.sentAt >= killedAt))));
  const recoveredMs = (firstOk() as Outcome).at - killedAt;
  const duringOutage = codes(outcomes.filter((o) => o.sentAt >= killedAt && o.at <= killedAt + recoveredMs));
  t.diagnostic(`from kill -9 to the first write that committed: ${recoveredMs} ms (evict-after ${EVICT_AFTER_S} s); replies meanwhile: ${JSON.stringify(duringOutage)}`);
  assert.ok(recoveredMs <= (EVICT_AFTER_S + 5) * 1000, `writes succeed again within evict-after + 5 s (took ${recoveredMs} ms)`);
  const evicted = await memberAt(cluster, address);
  assert.equal(evicted?.role, 'evicted', `the killed worker is shown evicted: ${JSON.stringify(evicted)}`);

  // Some writes without it, then it comes back on its data.
  const ackedWithout = load.acked;
  await eventually(async () => load.acked >= ackedWithout + 200, 30_000, '200 more writes acknowledged with one worker');
  const restartedAt = Date.now();
  await cluster.restart(victim);
  const { seen, ms } = await watchUntilVoter(cluster, address, REJOIN_BOUND_MS);
  t.diagnostic(`after the restart, status showed it as: ${seen.join(' -> ')}; promoted and up ${ms} ms after it was started again`);
  assert.ok(seen.some((s) => s.startsWith('learner/')), `it rejoined as a learner before it was promoted: ${seen.join(' -> ')}`);
  const counted = (await cluster.status()).counters as { evictions: number; promotions: number; rejoins: number };
  assert.deepEqual({ evictions: counted.evictions, promotions: counted.promotions, rejoins: counted.rejoins }, { evictions: 1, promotions: 2, rejoins: 1 }, 'status counts the eviction, the promotions (the second worker at start, then this one) and the rejoin');
  await sleep(500);
  await load.stop();

  const sinceRestart = outcomes.filter((o) => o.sentAt >= restartedAt);
  t.diagnostic(`replies to writes sent after the restart: ${JSON.stringify(codes(sinceRestart))}`);
  assert.ok(sinceRestart.some((o) => o.outcome === 'OK'), 'writes committed while it caught up');
  assert.deepEqual(sinceRestart.filter((o) => REFUSED.has(o.outcome)), [], 'no write sent after the restart was refused (UNAVAILABLE), left in doubt or timed out');
  await endChecks(t, cluster, load, 2);
});

test(`a third worker joins a cluster holding ${JOIN_TWEETS} tweets under ${CLIENTS} clients: no write refused; catch-up time logged`, { timeout: 600_000 }, async (t) => {
  const cluster = await start(2);
  const preloadStarted = Date.now();
  await preload(cluster.address, JOIN_TWEETS, () => undefined);
  t.diagnostic(`preloaded ${JOIN_TWEETS} tweets in ${((Date.now() - preloadStarted) / 1000).toFixed(1)} s`);
  const { load, outcomes } = loadOn(cluster);
  load.start();
  await eventually(async () => load.acked >= 200, 30_000, '200 writes acknowledged before the join');

  const joinedAt = Date.now();
  const third = await cluster.addWorker();
  // Its largest progress as shown, for the log.
  let copied: StatusWorker['learner'];
  const watched = watchUntilVoter(cluster, third.address, JOIN_BOUND_MS);
  const progress = setInterval(() => {
    void memberAt(cluster, third.address).then(
      (w) => {
        if (w?.learner !== undefined) copied = w.learner;
      },
      () => undefined,
    );
  }, 200);
  let result: Awaited<typeof watched>;
  try {
    result = await watched;
  } finally {
    clearInterval(progress);
  }
  const catchUpMs = Date.now() - joinedAt;
  const commitsDuring = outcomes.filter((o) => o.outcome === 'OK' && o.at >= joinedAt).length;
  t.diagnostic(
    `catch-up of ${JOIN_TWEETS} tweets: ${(catchUpMs / 1000).toFixed(1)} s from the worker's start to voter and up (${(JOIN_TWEETS / (catchUpMs / 1000)).toFixed(0)} tweets/s), ` +
      `${commitsDuring} writes committed meanwhile; shown as: ${result.seen.join(' -> ')}; last progress seen: ${JSON.stringify(copied ?? null)}`,
  );
  await sleep(500);
  await load.stop();
  t.diagnostic(`replies during the test: ${JSON.stringify(codes(outcomes))}`);
  assert.ok(commitsDuring > 0, 'writes committed while it caught up');
  assert.deepEqual(outcomes.filter((o) => REFUSED.has(o.outcome)), [], 'no write was refused (UNAVAILABLE), left in doubt or timed out');
  await endChecks(t, cluster, load, 3);
});

type Run = CliRun;

function runCli(args: string[], timeoutMs = 60_000): Promise<Run> {
  return runTweetdb(args, timeoutMs);
}

test(`tweetdb admin remove-worker under ${CLIENTS} clients: exit 0, the worker exits 0 with its data directory kept, writes go on, status no longer lists it`, { timeout: 180_000 }, async (t) => {
  const cluster = await start(3);
  const { load, outcomes } = loadOn(cluster);
  load.start();
  await eventually(async () => load.acked >= 200, 30_000, '200 writes acknowledged before the removal');

  const leaving = cluster.workers[2] as NodeProc;
  const id = nodeIdOf(leaving);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    if (leaving.proc.exitCode !== null || leaving.proc.signalCode !== null) resolve({ code: leaving.proc.exitCode, signal: leaving.proc.signalCode });
    else leaving.proc.once('exit', (code, signal) => resolve({ code, signal }));
  });
  const removedAt = Date.now();
  const r = await runCli(['admin', 'remove-worker', id, '--coordinator', cluster.address, '--admin-token-file', cluster.adminTokenFile]);
  t.diagnostic(`tweetdb admin remove-worker ${id}: exit ${r.code}; ${r.stdout.trim()}${r.stderr.trim()}`);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.match(r.stdout, new RegExp(`^removed worker ${id}; the voting set is now configuration \\d+`, 'm'));

  const exit = await Promise.race([exited, sleep(20_000).then(() => null)]);
  assert.notEqual(exit, null, `the removed worker exits by itself within 20 s:\n${leaving.logs.slice(-10).join('\n')}`);
  assert.deepEqual(exit, { code: 0, signal: null }, 'the removed worker exits with code 0');
  await waitExit(leaving.proc);

  const listed = await members(cluster);
  assert.ok(!listed.some((w) => w.id === id || w.address === leaving.address), `status no longer lists it: ${JSON.stringify(listed)}`);
  assert.equal(listed.length, 2, JSON.stringify(listed));
  const dataDir = join(cluster.dir, 'worker-3');
  assert.ok(existsSync(dataDir) && readdirSync(dataDir).length > 0, `its data directory ${dataDir} is still there`);

  const ackedAfterRemoval = load.acked;
  await eventually(async () => load.acked >= ackedAfterRemoval + 200, 30_000, '200 more writes acknowledged after the removal');
  await load.stop();
  t.diagnostic(`replies to writes sent from the removal on: ${JSON.stringify(codes(outcomes.filter((o) => o.sentAt >= removedAt)))}`);
  // The remaining two are the whole cluster now: their copies end identical.
  await endChecks(t, cluster, load, 2);

  // Asked again, the worker is no longer known: refused, exit 1.
  const again = await runCli(['admin', 'remove-worker', id, '--coordinator', cluster.address, '--admin-token-file', cluster.adminTokenFile]);
  assert.equal(again.code, 1, again.stdout + again.stderr);
  assert.match(again.stderr, /refused: NOT_FOUND/);
});
