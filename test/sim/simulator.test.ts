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
  let partitions = 0;
  let resolvedByPeers = 0;
  for (let seed = 1; seed <= SEEDS && failures.length < 3; seed++) {
    const r = simulate({ seed });
    commits += r.stats.commits;
    crashes += r.stats.crashes;
    partitions += r.stats.partitions;
    resolvedByPeers += r.stats.resolvedByPeers;
    if (r.violations.length > 0) failures.push(`seed ${seed}: ${r.violations[0]} (replay: npm run sim -- --seed ${seed})`);
  }
  assert.deepEqual(failures, []);
  assert.ok(commits > SEEDS, `the runs did real work (${commits} commits)`);
  assert.ok(crashes > SEEDS / 2, `the runs crashed nodes (${crashes} crashes)`);
  assert.ok(partitions > SEEDS / 2, `the runs partitioned the network (${partitions} partitions)`);
  assert.ok(resolvedByPeers > SEEDS / 10, `prepared workers learnt outcomes from their peers (${resolvedByPeers} times)`);
});

const LOSE_UNSYNCED_SEEDS = Math.max(1, Math.round(SEEDS / 4));

test(`${LOSE_UNSYNCED_SEEDS} simulated runs where crashes are power losses (unsynced writes lost) break no promise`, () => {
  const failures: string[] = [];
  let inFsync = 0;
  for (let seed = 1; seed <= LOSE_UNSYNCED_SEEDS && failures.length < 3; seed++) {
    const r = simulate({ seed, loseUnsynced: true });
    inFsync += r.stats.crashesInFsync;
    if (r.violations.length > 0) failures.push(`seed ${seed}: ${r.violations[0]} (replay: npm run sim -- --seed ${seed} --lose-unsynced)`);
  }
  assert.deepEqual(failures, []);
  assert.ok(inFsync > LOSE_UNSYNCED_SEEDS / 10, `crashes landed in the middle of an fsync (${inFsync})`);
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

/**
 * Seeds that once broke a promise (found by the 20,000- and 5,000-seed runs; from 1126 and 230 on,
 * by the runs of #12's membership changes; from 709143 on, #23's: from 412 in the first list and 438
 * in the second, with the faults #23 added, a coordinator's disk lost or restored from an old copy,
 * and an old copy running beside it), kept as regressions.
 */
const ONCE_FAILED = [992, 1091, 11829, 18536, 19467, 1126, 1179, 1625, 20995, 2, 19, 63, 448, 1172, 5439, 12609, 13097, 709143, 710352, 412, 542, 553, 652, 1401, 1714, 173, 1207, 146, 1295, 1391, 1452, 1790, 801431, 802279, 803452, 803596, 804176, 827057, 830058, 941326, 942037, 963342, 978126];
const ONCE_FAILED_LOSE_UNSYNCED = [1157, 1595, 4300, 4312, 230, 343, 487, 523, 1220, 8232, 9346, 412, 781, 320, 741626, 771355, 438, 281, 90, 53, 105, 157, 284, 313, 852814, 855828, 855860, 986605];

test(`the seeds that once failed (${ONCE_FAILED.join(', ')}; ${ONCE_FAILED_LOSE_UNSYNCED.join(', ')} with power losses) break no promise`, () => {
  const failures: string[] = [];
  const runs = [...ONCE_FAILED.map((seed) => ({ seed, loseUnsynced: false })), ...ONCE_FAILED_LOSE_UNSYNCED.map((seed) => ({ seed, loseUnsynced: true }))];
  for (const { seed, loseUnsynced } of runs) {
    const r = simulate({ seed, loseUnsynced });
    if (r.violations.length > 0) failures.push(`seed ${seed}: ${r.violations[0]} (replay: npm run sim -- --seed ${seed}${loseUnsynced ? ' --lose-unsynced' : ''})`);
  }
  assert.deepEqual(failures, []);
});
