// `tweetdb admin resolve` through real processes: the table of what each worker knows, a txid a
// voter already committed refused (exit 1), one nobody holds prepared is nothing to do (exit 0),
// a bad outcome or an unreachable coordinator is exit 2. (A worker left prepared on a txid the
// coordinator does not know cannot be made with real processes today: a coordinator that lost
// its data directory presumes abort for it as soon as the worker links; the core's unit tests,
// test/unit/coord-resolve.test.ts, cover the abort, the confirmation and the counter.)

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { Cluster, freePort, runTweetdb, waitExit, type CliRun } from '../helpers/cluster.ts';

let cluster: Cluster;
const spawned: ChildProcess[] = [];
before(async () => {
  cluster = await Cluster.start({ workers: 2 });
});
after(async () => {
  for (const p of spawned) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
  await Promise.all(spawned.map((p) => waitExit(p)));
  await cluster.stop();
});

function runResolve(args: string[], timeoutMs = 30_000): Promise<CliRun> {
  return runTweetdb(['admin', 'resolve', ...args], timeoutMs, spawned);
}

/** The txid of a transaction that committed: the dry run of each early txid until a worker says commit. */
async function committedTxid(): Promise<string> {
  // A fresh coordinator is in its first epoch: its txids are 1.N.
  for (let n = 0; n < 50; n++) {
    const txid = `1.${n}`;
    let r = await cluster.request({ action: 'resolve', txid, outcome: 'abort' });
    // The coordinator keeps a decision until every voter has acknowledged it durable, a moment
    // after the client's OK; until then automatic resolution owns it.
    for (let i = 0; i < 50 && r.status === 'ERROR' && /durable decision/.test(String(r.error)); i++) {
      await new Promise((res) => setTimeout(res, 100));
      r = await cluster.request({ action: 'resolve', txid, outcome: 'abort' });
    }
    assert.equal(r.status, 'OK', JSON.stringify(r));
    if ((r.workers as { txn?: { state: string } }[]).some((w) => w.txn?.state === 'commit')) return txid;
  }
  throw new Error('no committed transaction among the first 50 txids');
}

test('a txid a voter already committed is refused, with the table, exit 1', async () => {
  const posted = await cluster.request({ action: 'post', tweet: { id: 'r1', username: 'ada', content: 'hello' } });
  assert.equal(posted.status, 'OK');
  const txid = await committedTxid();
  const r = await runResolve([txid, 'abort', '--yes', '--coordinator', cluster.address]);
  assert.equal(r.code, 1, r.stdout + r.stderr);
  assert.match(r.stdout, /WORKER/);
  assert.match(r.stdout, /commit/);
  assert.match(r.stderr, /refused: worker .* committed/);
  // Nothing changed: the tweet is still there.
  assert.equal((await cluster.request({ action: 'get_tweet', tweet: { id: 'r1' } })).status, 'OK');
});

test('a txid no worker holds prepared is nothing to do, exit 0, even without --yes on a non-terminal', async () => {
  const r = await runResolve(['999.1', 'abort', '--coordinator', cluster.address]);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /nothing to resolve/);
});

test('a bad outcome or an unreachable coordinator is exit 2', async () => {
  assert.equal((await runResolve(['1.1', 'maybe', '--coordinator', cluster.address])).code, 2);
  const port = await freePort();
  assert.equal((await runResolve(['1.1', 'abort', '--coordinator', `127.0.0.1:${port}`])).code, 2);
});
