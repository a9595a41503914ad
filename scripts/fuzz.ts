// The fuzzer, run by hand: npm run fuzz -- [--target client-api|node-messages] [--cases N] [--seed S] [--only K] [--include all|FAMILY,...] [--check-every N] [--phase links|fake-worker|both]
// Starts a real cluster (a coordinator and 2 workers on loopback), runs the cases, checks, prints the rate.
// A failure prints the seed, the case and its exact bytes (and writes them to a file), and exits 1.

import { parseArgs } from 'node:util';
import { LocalCluster } from '../src/launch/cluster.ts';
import { runFuzz, pickSeed, FuzzFinding } from '../src/fuzz/harness.ts';
import { ClientApiTarget, INCLUDE_ENV, KNOWN_CRASHERS_PENDING_FIX, includedFamilies } from '../src/fuzz/client-api.ts';
import { NodeMessagesTarget } from '../src/fuzz/node-messages.ts';

const TARGETS = ['client-api', 'node-messages'];
const PHASES = ['links', 'fake-worker', 'both'];

const { values } = parseArgs({
  options: {
    cases: { type: 'string', default: '20000' },
    seed: { type: 'string' },
    only: { type: 'string' },
    include: { type: 'string' },
    'check-every': { type: 'string', default: '2000' },
    target: { type: 'string', default: 'client-api' },
    phase: { type: 'string', default: 'both' },
    help: { type: 'boolean', default: false },
  },
});

if (values.help) {
  console.log(`npm run fuzz -- [--cases 20000] [--seed S] [--only K] [--include all|none|${Object.keys(KNOWN_CRASHERS_PENDING_FIX).join(',')}] [--check-every 2000]
  --cases N        how many cases [TWEETDB_FUZZ_CASES]
  --seed S         the run's seed, 0 to 4294967295 (default: a fresh one, printed) [TWEETDB_FUZZ_SEED]
  --only K         replay case K of that seed alone, on a fresh cluster
  --include LIST   which of the families that crashed main before #10 run (by default all but read-storm; all; none; or a list) (${INCLUDE_ENV}):
${Object.entries(KNOWN_CRASHERS_PENDING_FIX).map(([k, v]) => `                     ${k}: ${v}`).join('\n')}
  --check-every N  compare the stored data with the model and the copies' digests every N cases
  --target NAME    client-api, or node-messages (every node message type over authenticated links, pre-auth bytes)
  --phase NAME     node-messages only: links (as the coordinator and as a peer to real workers, pre-auth bytes),
                   fake-worker (a registered worker the coordinator dials; writes are refused from then on, so it
                   runs last), or both (default; the fake-worker phase runs a tenth as many cases)`);
  process.exit(0);
}

if (!TARGETS.includes(values.target)) {
  console.error(`unknown --target ${values.target}; the targets are: ${TARGETS.join(', ')}`);
  process.exit(2);
}
if (!PHASES.includes(values.phase)) {
  console.error(`unknown --phase ${values.phase}; the phases are: ${PHASES.join(', ')}`);
  process.exit(2);
}
const seed = pickSeed(values.seed ?? process.env.TWEETDB_FUZZ_SEED);
const cases = Number(process.env.TWEETDB_FUZZ_CASES ?? values.cases);
const checkEvery = Number(values['check-every']);
if (!Number.isSafeInteger(cases) || cases < 1 || !Number.isSafeInteger(checkEvery) || checkEvery < 1) {
  console.error('--cases and --check-every are whole numbers of at least 1');
  process.exit(2);
}
const include = includedFamilies(values.include ?? process.env[INCLUDE_ENV]);
const only = values.only === undefined ? undefined : Number(values.only);

console.log(`fuzz ${values.target}: seed ${seed}, ${only !== undefined ? `case ${only} only` : `${cases} cases`}, pending families: ${include.size > 0 ? [...include].join(', ') : 'none'}`);
const cluster = await LocalCluster.start({ workers: 2 });
let code = 0;
try {
  if (values.target === 'client-api') {
    const target = new ClientApiTarget(cluster, include, 'the script prints the bytes of every failing case');
    const stats = await runFuzz(target, { seed, cases, checkEvery, only, log: (l) => console.log(l) });
    console.log(`ok: ${stats.cases} cases in ${(stats.ms / 1000).toFixed(1)} s, ${stats.casesPerSecond} cases a second, seed ${seed}`);
    console.log(`families: ${JSON.stringify(stats.families)}; stored at the end: ${JSON.stringify(target.stats)}`);
  } else {
    const ids = await NodeMessagesTarget.workerIds(cluster);
    const phases = values.phase === 'both' ? (['links', 'fake-worker'] as const) : ([values.phase as 'links' | 'fake-worker'] as const);
    for (const phase of phases) {
      const n = phase === 'fake-worker' && values.phase === 'both' ? Math.max(1, Math.ceil(cases / 10)) : cases;
      const target = new NodeMessagesTarget(cluster, ids, phase, 'the script prints the bytes of every failing case');
      try {
        const stats = await runFuzz(target, { seed, cases: n, checkEvery: Math.min(checkEvery, n), only, log: (l) => console.log(l) });
        console.log(`ok (${phase}): ${stats.cases} cases in ${(stats.ms / 1000).toFixed(1)} s, ${stats.casesPerSecond} cases a second, seed ${seed}`);
        console.log(`families: ${JSON.stringify(stats.families)}; ${JSON.stringify(target.stats)}`);
      } finally {
        await target.close();
      }
    }
  }
} catch (e) {
  code = 1;
  if (e instanceof FuzzFinding) console.error(`\nFUZZ FAILURE (seed ${seed}): ${e.message}\n${e.detail}`);
  else console.error(e);
  const tail = (n: { name: string; logs: string[] }): string => `--- ${n.name} (last log lines)\n${n.logs.slice(-15).join('\n')}`;
  console.error([cluster.coordinator, ...cluster.workers].map(tail).join('\n'));
} finally {
  await cluster.stop();
}
process.exit(code);
