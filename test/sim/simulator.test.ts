// The deterministic simulator over the real cores and stores: thousands of
// seeded schedules of crashes, partitions and message faults, each checked.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { simulate } from '../../sim/simulator.ts';

const SEEDS = Number(process.env.TWEETDB_SIM_SEEDS ?? 2_000);

test(`${SEEDS} simulated runs with faults break no promise`, () => {
  const failures: string[] = [];
  let commits = 0;
  let crashes = 0;
  for (let seed = 1; seed <= SEEDS && failures.length < 3; seed++) {
    const r = simulate({ seed });
    commits += r.stats.commits;
    crashes += r.stats.crashes;
    if (r.violations.length > 0) failures.push(`seed ${seed}: ${r.violations[0]} (replay: npm run sim -- --seed ${seed})`);
  }
  assert.deepEqual(failures, []);
  assert.ok(commits > SEEDS, `the runs did real work (${commits} commits)`);
  assert.ok(crashes > SEEDS / 2, `the runs crashed nodes (${crashes} crashes)`);
});

test('a run is deterministic: the same seed gives the same history', () => {
  const a = simulate({ seed: 4242 });
  const b = simulate({ seed: 4242 });
  assert.deepEqual(a.stats, b.stats);
  assert.deepEqual(a.history, b.history);
});

test('without faults every client write gets a definite answer and the copies agree', () => {
  for (let seed = 1; seed <= 50; seed++) {
    const r = simulate({ seed, faults: false });
    assert.deepEqual(r.violations, [], `seed ${seed}`);
    assert.equal(r.stats.unknown, 0, `seed ${seed}`);
  }
});
