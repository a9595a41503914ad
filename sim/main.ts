// npm run sim -- --seeds 20000 [--from N]   run that many seeds
// npm run sim -- --seed N                   replay one seed exactly, with its details
//   --lose-unsynced      crashes are power losses: writes whose fsync had not returned are lost
//   --no-faults          no crashes, partitions or message faults
//   --fixed-weather      every seed gets the fault rates all seeds had before weather was drawn per seed
//   --sabotage NAME      break one protocol rule on purpose (to see the checkers catch it)
// Debugging one seed: SIMLOG=info prints the nodes' logs (each line's `t` is the simulated ms);
// SIMDBG=1 every decision, every YES and refusal a worker says, every crash, and the rows at the
// end; SIMDBG=k3 also every client op on tweet k3.
// Exits non-zero on any violation and prints the command that replays it. Each seed draws its
// own weather (sim/weather.ts); after many seeds it prints how many were calm, fair and stormy,
// and which code probes (src/core/probes.ts) the seeds reached and which they never did.

import { parseArgs } from 'node:util';
import { simulate, type SimOptions } from './simulator.ts';
import { FIXED_WEATHER } from './weather.ts';
import type { Sabotage } from '../src/core/types.ts';
import { SHELL_SABOTAGES, type ShellSabotage } from '../src/node/sabotage.ts';
import { PROBES, probeNames, type ProbeName } from '../src/core/probes.ts';

const SABOTAGES: readonly (Sabotage | ShellSabotage)[] = ['vote_before_persist', 'release_prepared_lock_on_timeout', 'abort_without_preventing', 'refuse_without_tombstone', 'commit_one_yes_missing', 'apply_commit_twice', 'promote_learner_early', 'evicted_counted_as_voter', 'accept_stale_prepare', 'obey_lower_epoch', 'wiped_coordinator_starts_at_epoch_1', ...SHELL_SABOTAGES];

const { values } = parseArgs({
  options: {
    seeds: { type: 'string', default: '1000' },
    from: { type: 'string', default: '1' },
    seed: { type: 'string' },
    'no-faults': { type: 'boolean', default: false },
    'lose-unsynced': { type: 'boolean', default: false },
    'fixed-weather': { type: 'boolean', default: false },
    sabotage: { type: 'string' },
  },
});

function wholeNumber(name: string, v: string): number {
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n < 0) {
    console.error(`sim: --${name} takes a whole number, got "${v}"`);
    process.exit(2);
  }
  return n;
}

const sabotage = values.sabotage as Sabotage | ShellSabotage | undefined;
if (sabotage !== undefined && !SABOTAGES.includes(sabotage)) {
  console.error(`sim: unknown --sabotage "${values.sabotage}"; one of ${SABOTAGES.join(', ')}`);
  process.exit(2);
}
const base: Omit<SimOptions, 'seed'> = {
  faults: !values['no-faults'],
  loseUnsynced: values['lose-unsynced'],
  ...(values['fixed-weather'] ? { weather: FIXED_WEATHER } : {}),
  ...(sabotage !== undefined ? { sabotage } : {}),
};
/** The flags that make a replay command reproduce this run exactly. */
const flags = [values['no-faults'] ? ' --no-faults' : '', values['lose-unsynced'] ? ' --lose-unsynced' : '', values['fixed-weather'] ? ' --fixed-weather' : '', sabotage !== undefined ? ` --sabotage ${sabotage}` : ''].join('');

if (values.seed !== undefined) {
  const r = simulate({ ...base, seed: wholeNumber('seed', values.seed) });
  console.log(JSON.stringify(r.stats));
  console.log(`probes reached: ${JSON.stringify(r.probes)}`);
  for (const v of r.violations) console.log(`VIOLATION: ${v}`);
  process.exit(r.violations.length > 0 ? 1 : 0);
}
const from = wholeNumber('from', values.from);
const n = wholeNumber('seeds', values.seeds);
const t0 = Date.now();
let largest = { events: 0, simMs: 0, seed: 0 };
let failed = 0;
const totals = { commits: 0, acked: 0, unknown: 0, crashes: 0, crashesInFsync: 0, partitions: 0, resolvedByPeers: 0, wipes: 0, removals: 0 };
const weathers = { calm: 0, fair: 0, stormy: 0 };
/** By probe: how many seeds reached it, and the first that did (to replay it). */
const reached = new Map<ProbeName, { seeds: number; first: number }>();
for (let seed = from; seed < from + n; seed++) {
  const r = simulate({ ...base, seed });
  for (const k of Object.keys(totals) as (keyof typeof totals)[]) totals[k] += r.stats[k];
  if (r.stats.weather !== null) weathers[r.stats.weather.label]++;
  for (const p of Object.keys(r.probes) as ProbeName[]) {
    const seen = reached.get(p);
    if (seen === undefined) reached.set(p, { seeds: 1, first: seed });
    else seen.seeds++;
  }
  if (r.stats.events > largest.events) largest = { events: r.stats.events, simMs: r.stats.simMs, seed };
  if (r.violations.length > 0) {
    failed++;
    console.log(`seed ${seed}: ${r.violations.length} violation(s): ${r.violations[0]}`);
    console.log(`  replay: npm run sim -- --seed ${seed}${flags}`);
    if (failed >= 5) break;
  }
  if ((seed - from + 1) % 500 === 0) console.log(`${seed - from + 1} seeds, ${((seed - from + 1) / ((Date.now() - t0) / 1000)).toFixed(0)}/s`);
}
const secs = (Date.now() - t0) / 1000;
console.log(`${n} seeds from ${from} in ${secs.toFixed(1)} s (${(n / secs).toFixed(0)} seeds/s); largest run: seed ${largest.seed}, ${largest.events} events over ${(largest.simMs / 1000).toFixed(0)} simulated s; ${failed} failed`);
console.log(`totals: ${JSON.stringify(totals)}`);
if (!values['no-faults']) console.log(`weather: ${weathers.calm} calm, ${weathers.fair} fair, ${weathers.stormy} stormy`);
const names = probeNames();
console.log(`probes: ${reached.size} of ${names.length} reached`);
for (const p of names) {
  const seen = reached.get(p);
  if (seen !== undefined) console.log(`  reached ${p}: ${seen.seeds} seed(s), first ${seen.first}`);
}
for (const p of names) if (!reached.has(p)) console.log(`  NEVER   ${p}: ${PROBES[p]}`);
process.exit(failed > 0 ? 1 : 0);
