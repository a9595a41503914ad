// The 30-second chaos run of `npm run chaos`: kill -9 of a random node every few
// seconds under load from 16 clients, then heal and check. Nothing acknowledged
// is lost, the copies converge, nothing stays in doubt.
// TWEETDB_CHAOS_SEED replays a schedule; otherwise each run draws a new one and prints it.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatSummary, runChaos } from '../../scripts/chaos-run.ts';

test('chaos: 30 s of kill -9 of random nodes under load from 16 clients, then heal and check', { timeout: 180_000 }, async (t) => {
  const seed = process.env.TWEETDB_CHAOS_SEED !== undefined ? Number(process.env.TWEETDB_CHAOS_SEED) : Math.floor(Math.random() * 2 ** 31);
  t.diagnostic(`seed ${seed} (replay: TWEETDB_CHAOS_SEED=${seed}, or npm run chaos -- --seconds 30 --seed ${seed})`);
  const progress: string[] = [];
  const s = await runChaos({ seconds: 30, workers: 2, clients: 16, lockTimeoutS: 2, seed, log: (line) => progress.push(line) });
  const report = `${progress.join('\n')}\n${formatSummary(s)}`;
  for (const line of report.split('\n')) t.diagnostic(line);

  assert.deepEqual(s.lostWrites, [], `no acknowledged write lost\n${report}`);
  assert.ok(s.converged, `the copies converged\n${report}`);
  assert.deepEqual(s.inDoubt, [], `nothing in doubt\n${report}`);
  const workerKills = s.kills.filter((k) => k.node.startsWith('worker')).length;
  const coordinatorKills = s.kills.filter((k) => k.node === 'coordinator').length;
  assert.ok(workerKills >= 1 && coordinatorKills >= 1, `a worker and the coordinator were each killed (workers ${workerKills}, coordinator ${coordinatorKills})`);
  assert.ok(s.commitsBeforeFirstKill > 0, `commits before the first kill (${s.commitsBeforeFirstKill})`);
  assert.ok(s.commitsAfterLastRestart > 0, `commits after the last restart (${s.commitsAfterLastRestart})`);
  assert.deepEqual(s.problems, [], `no problems\n${report}`);
});
