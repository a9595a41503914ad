// The 30-second chaos run of `npm run chaos`: kill -9 of a random node every few
// seconds under load from 16 clients, then heal and check. Nothing acknowledged
// is lost, the copies converge, nothing stays in doubt. Then a shorter run with
// eviction below the kills' down times (--evict-after 1): a killed worker is
// evicted and rejoins as a learner, with the same checks. Each reports its write
// availability (the share of its seconds in which a write committed); no figure
// is asserted, timing on a shared machine being what it is.
// TWEETDB_CHAOS_SEED replays a schedule; otherwise each run draws a new one and prints it.

import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { formatSummary, runChaos, type ChaosOptions, type ChaosSummary } from '../../scripts/chaos-run.ts';

async function chaos(t: TestContext, opts: Omit<ChaosOptions, 'seed' | 'log'>): Promise<{ s: ChaosSummary; report: string }> {
  const seed = process.env.TWEETDB_CHAOS_SEED !== undefined ? Number(process.env.TWEETDB_CHAOS_SEED) : Math.floor(Math.random() * 2 ** 31);
  const evict = opts.evictAfterS !== undefined ? ` --evict-after ${opts.evictAfterS}` : '';
  t.diagnostic(`seed ${seed} (replay: TWEETDB_CHAOS_SEED=${seed}, or npm run chaos -- --seconds ${opts.seconds}${evict} --seed ${seed})`);
  const progress: string[] = [];
  const s = await runChaos({ ...opts, seed, log: (line) => progress.push(line) });
  const report = `${progress.join('\n')}\n${formatSummary(s)}`;
  for (const line of report.split('\n')) t.diagnostic(line);
  return { s, report };
}

/** The write availability is reported, a share from 0 to 1 of whole seconds each counted. */
function assertAvailabilityReported(s: ChaosSummary, report: string): void {
  assert.equal(typeof s.writeAvailability, 'number', `write availability reported\n${report}`);
  const a = s.writeAvailability as number;
  assert.ok(a >= 0 && a <= 1, `write availability ${a} is a share from 0 to 1`);
  assert.ok(s.okPerSecond.length >= 1 && s.okPerSecond.length <= Math.ceil(s.durationMs / 1000), `one count per whole second of the run (${s.okPerSecond.length} for ${s.durationMs} ms)`);
  assert.equal(a, s.okPerSecond.filter((n) => n > 0).length / s.okPerSecond.length);
  assert.match(report, /write availability +\d+\.\d% \(\d+ of \d+ whole seconds/);
}

test('chaos: 30 s of kill -9 of random nodes under load from 16 clients, then heal and check', { timeout: 180_000 }, async (t) => {
  const { s, report } = await chaos(t, { seconds: 30, workers: 2, clients: 16, lockTimeoutS: 2 });

  assert.deepEqual(s.lostWrites, [], `no acknowledged write lost\n${report}`);
  assert.ok(s.converged, `the copies converged\n${report}`);
  assert.deepEqual(s.inDoubt, [], `nothing in doubt\n${report}`);
  const workerKills = s.kills.filter((k) => k.node.startsWith('worker')).length;
  const coordinatorKills = s.kills.filter((k) => k.node === 'coordinator').length;
  assert.ok(workerKills >= 1 && coordinatorKills >= 1, `a worker and the coordinator were each killed (workers ${workerKills}, coordinator ${coordinatorKills})`);
  assert.ok(s.commitsBeforeFirstKill > 0, `commits before the first kill (${s.commitsBeforeFirstKill})`);
  assert.ok(s.commitsAfterLastRestart > 0, `commits after the last restart (${s.commitsAfterLastRestart})`);
  assert.deepEqual(s.problems, [], `no problems\n${report}`);
  assertAvailabilityReported(s, report);
});

test('chaos with --evict-after 1: killed workers are evicted and rejoin; nothing lost, copies converge, availability reported', { timeout: 180_000 }, async (t) => {
  const { s, report } = await chaos(t, { seconds: 20, workers: 2, clients: 16, lockTimeoutS: 2, evictAfterS: 1 });

  assert.equal(s.evictAfterS, 1);
  assert.deepEqual(s.lostWrites, [], `no acknowledged write lost\n${report}`);
  assert.ok(s.converged, `the copies converged\n${report}`);
  assert.deepEqual(s.inDoubt, [], `nothing in doubt\n${report}`);
  assert.ok(s.commitsAfterLastRestart > 0, `commits after the last restart (${s.commitsAfterLastRestart})`);
  assert.deepEqual(s.problems, [], `no problems\n${report}`);
  assertAvailabilityReported(s, report);
});
