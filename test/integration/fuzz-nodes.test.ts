// The links between nodes under a seeded fuzzer (issue #10, item 8): every node message type mutated field by field
// into messages the schema refuses, sent over links that hold the cluster key (to a worker as its coordinator and as
// another worker, to the coordinator as a registered worker it dials); schema-valid reads and peer queries, which must
// be answered; and hostile bytes before authentication on worker ports and on the coordinator's node handshake.
// Checked: no process exits, every hostile link is closed by the other side, every refusal is logged, valid questions
// are answered, the real workers' copies stay identical and a normal post still commits after each batch.
//
// Each run takes a fresh seed, printed; a failure prints its seed, case and bytes. Replay:
//   TWEETDB_FUZZ_SEED=S node --import tsx --test test/integration/fuzz-nodes.test.ts
//   npm run fuzz -- --target node-messages --seed S --only K          (case K alone; --phase fake-worker for those)
// More cases: TWEETDB_FUZZ_CASES=N (the link phase; the fake-worker phase runs a tenth as many), or `npm run fuzz`.

import { test, before, after } from 'node:test';
import { Cluster } from '../helpers/cluster.ts';
import { runFuzz, pickSeed, FuzzFinding } from '../../src/fuzz/harness.ts';
import { NodeMessagesTarget } from '../../src/fuzz/node-messages.ts';

/** Link-phase cases in each `npm test` run (the fake-worker phase runs FAKE_WORKER_CASES_IN_NPM_TEST more). */
export const FUZZ_NODE_CASES_IN_NPM_TEST = 2_000;
/** Fake-worker cases in each `npm test` run: each waits for the coordinator to dial, so they are slower. */
export const FAKE_WORKER_CASES_IN_NPM_TEST = 200;

const seed = pickSeed(process.env.TWEETDB_FUZZ_SEED);
const cases = Number(process.env.TWEETDB_FUZZ_CASES ?? FUZZ_NODE_CASES_IN_NPM_TEST);
const fakeCases = process.env.TWEETDB_FUZZ_CASES !== undefined ? Math.max(1, Math.ceil(cases / 10)) : FAKE_WORKER_CASES_IN_NPM_TEST;
const replay = `or TWEETDB_FUZZ_SEED=${seed} TWEETDB_FUZZ_CASES=${cases} node --import tsx --test test/integration/fuzz-nodes.test.ts`;

let cluster: Cluster;
let ids: string[];
before(async () => {
  cluster = await Cluster.start({ workers: 2 });
  ids = await NodeMessagesTarget.workerIds(cluster);
});
after(async () => {
  await cluster.stop();
});

async function fuzz(t: { diagnostic: (s: string) => void }, phase: 'links' | 'fake-worker', n: number): Promise<void> {
  const target = new NodeMessagesTarget(cluster, ids, phase, replay);
  try {
    const stats = await runFuzz(target, { seed, cases: n, checkEvery: Math.ceil(n / 2) });
    t.diagnostic(`${phase}: ${stats.cases} cases in ${(stats.ms / 1000).toFixed(1)} s: ${stats.casesPerSecond} a second; ${JSON.stringify(stats.families)}; ${JSON.stringify(target.stats)}; ms by family: ${JSON.stringify(target.msByFamily)}`);
  } catch (e) {
    if (e instanceof FuzzFinding) throw new Error(`fuzz seed ${seed}: ${e.message}\n${e.detail}`);
    throw e;
  } finally {
    await target.close();
  }
}

test(`fuzz node links (${cases} cases): refused messages close the link and are logged, valid reads and peer queries answered, no process exits, copies equal, writes commit`, async (t) => {
  t.diagnostic(`fuzz seed ${seed} (replay: TWEETDB_FUZZ_SEED=${seed})`);
  await fuzz(t, 'links', cases);
});

// Last: a registered fake worker is a voter, and the cluster refuses writes while it is down.
test(`fuzz the coordinator as a registered worker (${fakeCases} cases): every refused answer cuts the link, the coordinator lives, the real copies stay equal`, async (t) => {
  await fuzz(t, 'fake-worker', fakeCases);
});
