// `tweetdb admin resolve` through real processes: the table of what each worker knows, a txid a
// voter already committed refused (exit 1), one nobody holds prepared is nothing to do (exit 0),
// a bad outcome or an unreachable coordinator is exit 2; and the case automatic resolution
// cannot settle: a write in doubt because its other voter froze after its YES was durable and was
// then lost for good (evicted, killed, never restarted), aborted by hand, its locks freed.
// (A worker left prepared on a txid the coordinator does not know at all lasts only until a
// restarted coordinator hears its state; the core's unit tests, test/unit/coord-resolve.test.ts,
// cover that path.)

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { Cluster, eventually, freePort, runTweetdb, waitExit, type CliRun } from '../helpers/cluster.ts';

let cluster: Cluster;
const spawned: ChildProcess[] = [];
const others: Cluster[] = [];
before(async () => {
  cluster = await Cluster.start({ workers: 2 });
});
after(async () => {
  for (const p of spawned) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
  await Promise.all(spawned.map((p) => waitExit(p)));
  await Promise.all([cluster, ...others].map((c) => c.stop()));
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
  const r = await runResolve([txid, 'abort', '--yes', '--coordinator', cluster.address, '--admin-token-file', cluster.adminTokenFile]);
  assert.equal(r.code, 1, r.stdout + r.stderr);
  assert.match(r.stdout, /WORKER/);
  assert.match(r.stdout, /commit/);
  assert.match(r.stderr, /refused: worker .* committed/);
  // Nothing changed: the tweet is still there.
  assert.equal((await cluster.request({ action: 'get_tweet', tweet: { id: 'r1' } })).status, 'OK');
});

test('a txid no worker holds prepared is nothing to do, exit 0, even without --yes on a non-terminal', async () => {
  const r = await runResolve(['999.1', 'abort', '--coordinator', cluster.address, '--admin-token-file', cluster.adminTokenFile]);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /nothing to resolve/);
});

test('a bad outcome or an unreachable coordinator is exit 2', async () => {
  assert.equal((await runResolve(['1.1', 'maybe', '--coordinator', cluster.address, '--admin-token-file', cluster.adminTokenFile])).code, 2);
  const port = await freePort();
  assert.equal((await runResolve(['1.1', 'abort', '--coordinator', `127.0.0.1:${port}`, '--admin-token-file', cluster.adminTokenFile])).code, 2);
});

test('a write in doubt on a voter lost for good: refused while that voter still votes; once it is evicted, aborted by hand (exit 0): nothing in doubt, the write is not there, its id can be posted again', { timeout: 120_000 }, async () => {
  // worker-2 freezes right after its prepared record is durable: its YES is never said.
  const c = await Cluster.start({ workers: 2, lockTimeout: 2, evictAfter: 3, nodeEnv: { 'worker-2': { TWEETDB_FAILPOINTS: 'worker.after_prepare_persist=hang' } } });
  others.push(c);
  const frozen = c.workers.find((w) => w.name === 'worker-2');
  assert.ok(frozen !== undefined);
  const told = await c.request({ action: 'post', tweet: { id: 'lost-1', username: 'ada', content: 'in doubt' } });
  assert.equal(told.code, 'IN_DOUBT', JSON.stringify(told));
  const txid = /^transaction (\S+):/.exec(String(told.error))?.[1];
  assert.ok(txid !== undefined, String(told.error));

  // At once, before --evict-after: worker-2 still votes, so automatic resolution waits for it.
  const early = await c.request({ action: 'resolve', txid, outcome: 'abort', confirm: true });
  assert.equal(early.verdict, 'refused', JSON.stringify(early));
  assert.match(String(early.reason), /still a voter/);

  // Its disk is lost: it is evicted, and killed, never to come back.
  await eventually(async () => ((await c.status()).workers as { address: string; role?: string }[]).some((w) => w.address === frozen.address && w.role === 'evicted'), 30_000, 'worker-2 evicted');
  await c.kill(frozen);
  assert.equal(((await c.status()).in_doubt as { txid: string }[]).map((d) => d.txid).join(), txid, 'still in doubt: nobody can settle it');

  const r = await runResolve([txid, 'abort', '--yes', '--coordinator', c.address, '--admin-token-file', c.adminTokenFile]);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /WORKER/);
  assert.match(r.stdout, /prepared/, 'worker-1 holds it prepared');
  assert.match(r.stdout, /resolved: aborted .* waiting for .*taken out of the cluster/);
  assert.ok(c.coordinator.logs.some((l) => l.includes(`${txid} resolved BY HAND as abort`)), 'logged by the coordinator');

  await eventually(async () => ((await c.status()).in_doubt as unknown[]).length === 0, 10_000, 'nothing in doubt');
  const check = await c.request({ action: 'check' });
  const w1 = (check.workers as { state: string; prepared: number; locks: number }[]).filter((w) => w.state === 'up');
  assert.deepEqual(w1.map((w) => [w.prepared, w.locks]), [[0, 0]], 'worker-1 holds nothing: no prepared record, no lock');
  assert.equal((await c.request({ action: 'get_tweet', tweet: { id: 'lost-1' } })).code, 'NOT_FOUND', 'aborted: the write is not there');
  assert.equal((await c.request({ action: 'post', tweet: { id: 'lost-1', username: 'ada', content: 'again' } })).status, 'OK', 'its id is free again');
});
