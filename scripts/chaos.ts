// npm run chaos -- [--seconds 30] [--workers 2] [--clients 16] [--lock-timeout 2] [--evict-after S] [--seed N]
// Kills -9 a random node every few seconds under load, then heals and checks (scripts/chaos-run.ts),
// and reports write availability (the share of its whole seconds in which a write committed).
// --evict-after goes to the coordinator (its default otherwise): below the kills' down times
// (0.3 to 2 s) a killed worker is evicted and the others go on writing.
// Exits 0 only when no acknowledged write was lost, the copies converged and nothing is in doubt.

import { parseArgs } from 'node:util';
import { formatSummary, runChaos } from './chaos-run.ts';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '30' },
    workers: { type: 'string', default: '2' },
    clients: { type: 'string', default: '16' },
    'lock-timeout': { type: 'string', default: '2' },
    'evict-after': { type: 'string' },
    seed: { type: 'string' },
  },
});

function intOption(name: string, raw: string, lo: number, hi: number): number {
  const n = Number(raw);
  if (!Number.isInteger(n) || n < lo || n > hi) {
    console.error(`--${name} must be a whole number from ${lo} to ${hi} (got ${JSON.stringify(raw)})`);
    process.exit(2);
  }
  return n;
}

const seconds = intOption('seconds', values.seconds, 1, 86_400);
const workers = intOption('workers', values.workers, 1, 5);
const clients = intOption('clients', values.clients, 1, 1_000);
const lockTimeoutS = intOption('lock-timeout', values['lock-timeout'], 1, 3_600);
function secondsOption(name: string, raw: string, hi: number): number {
  const n = Number(raw);
  if (!Number.isFinite(n) || n <= 0 || n > hi) {
    console.error(`--${name} must be a number of seconds above 0 and at most ${hi} (got ${JSON.stringify(raw)})`);
    process.exit(2);
  }
  return n;
}

const evictAfterS = values['evict-after'] === undefined ? undefined : secondsOption('evict-after', values['evict-after'], 86_400);
// A fresh seed unless one is given; it is printed so the schedule can be replayed.
const seed = values.seed === undefined ? Math.floor(Math.random() * 2 ** 31) : intOption('seed', values.seed, 0, 2 ** 32 - 1);

const evictFlag = evictAfterS === undefined ? '' : ` --evict-after ${evictAfterS}`;
console.log(`chaos: ${seconds} s, ${workers} workers, ${clients} clients, lock timeout ${lockTimeoutS} s, ${evictAfterS === undefined ? 'the coordinator\'s default evict-after' : `evict after ${evictAfterS} s`}, seed ${seed}`);
console.log(`replay this schedule: npm run chaos -- --seconds ${seconds} --workers ${workers} --clients ${clients} --lock-timeout ${lockTimeoutS}${evictFlag} --seed ${seed}`);
// Ctrl-C ends the run early; runChaos still stops every process it started, by PID.
const interrupt = new AbortController();
for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => interrupt.abort());
const summary = await runChaos({ seconds, workers, clients, lockTimeoutS, ...(evictAfterS !== undefined ? { evictAfterS } : {}), seed, signal: interrupt.signal });
console.log('\nsummary');
console.log(formatSummary(summary));
process.exit(summary.ok ? 0 : 1);
