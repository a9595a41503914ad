// npm run sim -- --seeds 20000 [--from N]   run that many seeds
// npm run sim -- --seed N                   replay one seed exactly, with its details
//   --lose-unsynced      crashes are power losses: writes whose fsync had not returned are lost
//   --no-faults          no crashes, partitions or message faults
//   --sabotage NAME      break one protocol rule on purpose (to see the checkers catch it)
// Exits non-zero on any violation and prints the command that replays it.

import { parseArgs } from 'node:util';
import { simulate, type SimOptions } from './simulator.ts';
import type { Sabotage } from '../src/core/types.ts';
import { SHELL_SABOTAGES, type ShellSabotage } from '../src/node/sabotage.ts';

const SABOTAGES: readonly (Sabotage | ShellSabotage)[] = ['vote_before_persist', 'release_prepared_lock_on_timeout', 'commit_before_log', 'apply_commit_twice', ...SHELL_SABOTAGES];

const { values } = parseArgs({
  options: {
    seeds: { type: 'string', default: '1000' },
    from: { type: 'string', default: '1' },
    seed: { type: 'string' },
    'no-faults': { type: 'boolean', default: false },
    'lose-unsynced': { type: 'boolean', default: false },
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
  ...(sabotage !== undefined ? { sabotage } : {}),
};
/** The flags that make a replay command reproduce this run exactly. */
const flags = [values['no-faults'] ? ' --no-faults' : '', values['lose-unsynced'] ? ' --lose-unsynced' : '', sabotage !== undefined ? ` --sabotage ${sabotage}` : ''].join('');

if (values.seed !== undefined) {
  const r = simulate({ ...base, seed: wholeNumber('seed', values.seed) });
  console.log(JSON.stringify(r.stats));
  for (const v of r.violations) console.log(`VIOLATION: ${v}`);
  process.exit(r.violations.length > 0 ? 1 : 0);
}
const from = wholeNumber('from', values.from);
const n = wholeNumber('seeds', values.seeds);
const t0 = Date.now();
let largest = { events: 0, simMs: 0, seed: 0 };
let failed = 0;
const totals = { commits: 0, acked: 0, unknown: 0, crashes: 0, crashesInFsync: 0, partitions: 0, resolvedByPeers: 0 };
for (let seed = from; seed < from + n; seed++) {
  const r = simulate({ ...base, seed });
  for (const k of Object.keys(totals) as (keyof typeof totals)[]) totals[k] += r.stats[k];
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
process.exit(failed > 0 ? 1 : 0);
