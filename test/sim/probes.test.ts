// The CI seeds reach every code probe (src/core/probes.ts), as FoundationDB holds its CODE_PROBEs:
// a rare branch no seed takes is a branch the simulator does not test, however many seeds pass.
// The seeds are those test/sim/simulator.test.ts runs (1..TWEETDB_SIM_SEEDS, and the first
// quarter of them again with power losses), in that order interleaved; the search stops as soon
// as every probe has been hit, so it costs a fraction of the CI seeds while they all reach them.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { simulate } from '../../sim/simulator.ts';
import { PROBES, probe, probeHits, probeNames, resetProbes, type ProbeName } from '../../src/core/probes.ts';

const SEEDS = Number(process.env.TWEETDB_SIM_SEEDS ?? 2_000);
const LOSE_UNSYNCED_SEEDS = Math.max(1, Math.round(SEEDS / 4));

test('the probe registry counts hits of declared names, and a reset forgets them', () => {
  resetProbes();
  probe('coord.read_retried');
  probe('coord.read_retried');
  probe('worker.empty_rollback');
  assert.deepEqual(Object.fromEntries(probeHits()), { 'coord.read_retried': 2, 'worker.empty_rollback': 1 });
  resetProbes();
  assert.equal(probeHits().size, 0);
  for (const name of probeNames()) assert.ok(PROBES[name].length > 20, `probe ${name} says what branch it marks`);
});

test(`the CI seeds (${SEEDS}, and ${LOSE_UNSYNCED_SEEDS} with power losses) reach every code probe`, () => {
  const first = new Map<ProbeName, string>();
  const all = probeNames();
  let runs = 0;
  for (let seed = 1; seed <= SEEDS && first.size < all.length; seed++) {
    const modes = seed <= LOSE_UNSYNCED_SEEDS ? [false, true] : [false];
    for (const loseUnsynced of modes) {
      const r = simulate({ seed, loseUnsynced });
      runs++;
      // Probes count only in passing runs: a branch taken on the way to a violation is not tested.
      assert.deepEqual(r.violations, [], `seed ${seed}${loseUnsynced ? ' --lose-unsynced' : ''}`);
      for (const p of Object.keys(r.probes) as ProbeName[]) if (!first.has(p)) first.set(p, `npm run sim -- --seed ${seed}${loseUnsynced ? ' --lose-unsynced' : ''}`);
    }
  }
  const missed = all.filter((p) => !first.has(p));
  assert.deepEqual(
    missed.map((p) => `${p}: ${PROBES[p]}`),
    [],
    `no CI seed reaches these branches: make the weather (sim/weather.ts) or the workload reach them, rather than dropping the probe`,
  );
  console.log(`every probe reached within ${runs} runs; the last first reached: ${[...first].at(-1)?.join(' by ')}`);
});
