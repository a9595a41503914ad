// npm run sim -- --seeds 20000 [--from N]   run that many seeds
// npm run sim -- --seed N                   replay one seed exactly, with its details
// Exits non-zero on any violation and prints the command that replays it.

import { parseArgs } from 'node:util';
import { simulate } from './simulator.ts';

const { values } = parseArgs({
  options: {
    seeds: { type: 'string', default: '1000' },
    from: { type: 'string', default: '1' },
    seed: { type: 'string' },
    'no-faults': { type: 'boolean', default: false },
  },
});

const faults = !values['no-faults'];
if (values.seed !== undefined) {
  const r = simulate({ seed: Number(values.seed), faults });
  console.log(JSON.stringify(r.stats));
  for (const v of r.violations) console.log(`VIOLATION: ${v}`);
  process.exit(r.violations.length > 0 ? 1 : 0);
}
const from = Number(values.from);
const n = Number(values.seeds);
const t0 = Date.now();
let largest = { events: 0, seed: 0 };
let failed = 0;
for (let seed = from; seed < from + n; seed++) {
  const r = simulate({ seed, faults });
  if (r.stats.events > largest.events) largest = { events: r.stats.events, seed };
  if (r.violations.length > 0) {
    failed++;
    console.log(`seed ${seed}: ${r.violations.length} violation(s): ${r.violations[0]}`);
    console.log(`  replay: npm run sim -- --seed ${seed}`);
    if (failed >= 5) break;
  }
  if ((seed - from + 1) % 500 === 0) console.log(`${seed - from + 1} seeds, ${((seed - from + 1) / ((Date.now() - t0) / 1000)).toFixed(0)}/s`);
}
const secs = (Date.now() - t0) / 1000;
console.log(`${n} seeds from ${from} in ${secs.toFixed(1)} s (${(n / secs).toFixed(0)} seeds/s); largest run: seed ${largest.seed}, ${largest.events} events; ${failed} failed`);
process.exit(failed > 0 ? 1 : 0);
