// A process dies (or freezes) at exactly one step of the protocol, by a named
// failpoint (TWEETDB_FAILPOINTS=name=crash|hang), in real processes. After a
// restart the public API must show: the write either happened everywhere or
// nowhere (as its reply said, when there was one), copies identical, nothing in
// doubt, no locks or prepared records left, and the cluster taking writes.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { Cluster, eventually, sleep, waitExit, type NodeProc } from '../helpers/cluster.ts';
import { ConnectionLost, type ApiReply } from '../../src/client/client.ts';
import { FAILPOINTS, type FailpointName } from '../../src/node/failpoints.ts';

const LOCK_TIMEOUT_S = 2;
const clusters: Cluster[] = [];
after(async () => {
  await Promise.all(clusters.map((c) => c.stop()));
});

type Outcome = 'committed' | 'aborted';

interface Case {
  point: FailpointName;
  /** The node that stops there. */
  node: 'coordinator' | 'worker-1';
  /** What the write must come to: fixed by the step, or 'as replied' when either is correct. */
  expect: Outcome | 'as replied';
  /** For worker.after_abort_persist: the write that makes the worker write a tombstone. */
  setup?: 'conflicting post';
}

const CASES: Case[] = [
  { point: 'coordinator.after_first_prepare_send', node: 'coordinator', expect: 'aborted' },
  { point: 'coordinator.after_votes_before_log', node: 'coordinator', expect: 'aborted' },
  { point: 'coordinator.after_log_before_commit_send', node: 'coordinator', expect: 'committed' },
  { point: 'coordinator.after_first_commit_send', node: 'coordinator', expect: 'committed' },
  { point: 'worker.before_prepare_persist', node: 'worker-1', expect: 'aborted' },
  { point: 'worker.after_prepare_persist', node: 'worker-1', expect: 'aborted' },
  { point: 'worker.after_vote_send', node: 'worker-1', expect: 'as replied' },
  { point: 'worker.before_commit_apply', node: 'worker-1', expect: 'committed' },
  { point: 'worker.after_commit_apply_before_ack', node: 'worker-1', expect: 'committed' },
  { point: 'worker.after_abort_persist', node: 'worker-1', expect: 'aborted', setup: 'conflicting post' },
];

test('every failpoint has a test', () => {
  assert.deepEqual(CASES.map((c) => c.point).sort(), Object.keys(FAILPOINTS).sort());
});

function nodeByName(cluster: Cluster, name: string): NodeProc {
  const n = name === 'coordinator' ? cluster.coordinator : cluster.workers.find((w) => w.name === name);
  assert.ok(n !== undefined, `no node ${name}`);
  return n;
}

async function post(cluster: Cluster, id: string, content: string): Promise<ApiReply | 'unknown'> {
  const c = await cluster.client();
  try {
    return await c.request({ action: 'post', tweet: { id, username: 'fp', content } }, 30_000);
  } catch (e) {
    if (e instanceof ConnectionLost) return 'unknown';
    throw e;
  }
}

/** A definite reply (never "unknown"), as OK. */
function assertOk(r: ApiReply | 'unknown'): void {
  assert.notEqual(r, 'unknown', 'a reply');
  assert.equal((r as ApiReply).status, 'OK', JSON.stringify(r));
}

async function contentOf(cluster: Cluster, id: string): Promise<string | null> {
  const r = await cluster.request({ action: 'get_tweet', tweet: { id } });
  if (r.status === 'OK') return (r.tweet as { content: string }).content;
  assert.equal(r.code, 'NOT_FOUND', JSON.stringify(r));
  return null;
}

/** The public checks after recovery: all up, nothing in doubt, identical copies, no locks or prepared records. */
async function assertHealthy(cluster: Cluster): Promise<void> {
  const parts = await cluster.waitConverged(30_000);
  assert.equal(parts.length, 2);
  assert.deepEqual((await cluster.status()).in_doubt, []);
}

for (const c of CASES) {
  test(`failpoint ${c.point}=crash: ${FAILPOINTS[c.point]}; after a restart the write is ${c.expect === 'as replied' ? 'as its reply said' : c.expect} everywhere`, async () => {
    const cluster = await Cluster.start({ workers: 2, lockTimeout: LOCK_TIMEOUT_S, nodeEnv: { [c.node]: { TWEETDB_FAILPOINTS: `${c.point}=crash` } } });
    clusters.push(cluster);
    const id = `fp-${c.point}`;
    let before: string | null = null;
    if (c.setup === 'conflicting post') {
      // A first post commits (no abort is written); the second, with other content, is refused: the worker writes a tombstone.
      assertOk(await post(cluster, id, 'first'));
      before = 'first';
    }
    const victim = nodeByName(cluster, c.node);
    const reply = await post(cluster, id, 'second');
    await waitExit(victim.proc);
    assert.equal(victim.proc.signalCode, 'SIGKILL', `${c.node} died by the failpoint`);
    assert.ok(victim.logs.some((l) => l.includes(`failpoint ${c.point}: crash`)), `${c.node} said where it stopped`);

    // What the client was told is never wrong: OK means committed, ABORT means not, no reply is unknown.
    if (c.node === 'coordinator') assert.equal(reply, 'unknown', 'the coordinator died before answering');
    else {
      assert.notEqual(reply, 'unknown');
      const r = reply as ApiReply;
      if (c.expect === 'committed') assert.equal(r.status, 'OK', JSON.stringify(r));
      if (c.expect === 'aborted') assert.equal(r.status, 'ABORT', JSON.stringify(r));
    }

    await cluster.restart(victim, {});
    await cluster.waitAllUp(2);
    await assertHealthy(cluster);

    const expected: Outcome = c.expect !== 'as replied' ? c.expect : reply !== 'unknown' && reply.status === 'OK' ? 'committed' : 'aborted';
    assert.equal(await contentOf(cluster, id), expected === 'committed' ? 'second' : before);

    // The cluster takes writes again, and a retry gets a definite answer.
    assertOk(await post(cluster, id, before ?? 'second'));
    assertOk(await post(cluster, `${id}-after`, 'works'));
    await assertHealthy(cluster);
  });
}

async function resolvedByPeers(cluster: Cluster): Promise<number> {
  const c = await cluster.request({ action: 'check' });
  return (c.workers as { resolved_by_peers: number }[]).reduce((n, w) => n + w.resolved_by_peers, 0);
}

/** Prepared records in a worker's database, read directly (the coordinator may be down). */
function preparedOn(cluster: Cluster, worker: number): number {
  const db = new Database(join(cluster.dir, `worker-${worker}`, 'worker.db'), { readonly: true, fileMustExist: true });
  try {
    return (db.prepare('SELECT count(*) AS n FROM prepared').get() as { n: number }).n;
  } finally {
    db.close();
  }
}

test('failpoint worker.after_prepare_persist=hang: the frozen voter makes the write fail UNAVAILABLE within the lock timeout; resumed, it learns the abort', async () => {
  const cluster = await Cluster.start({ workers: 2, lockTimeout: LOCK_TIMEOUT_S, nodeEnv: { 'worker-1': { TWEETDB_FAILPOINTS: 'worker.after_prepare_persist=hang' } } });
  clusters.push(cluster);
  const frozen = nodeByName(cluster, 'worker-1');
  const t0 = Date.now();
  const reply = await post(cluster, 'hang-1', 'x');
  const took = Date.now() - t0;
  assert.notEqual(reply, 'unknown');
  const r = reply as ApiReply;
  assert.equal(r.status, 'ABORT');
  assert.equal(r.code, 'UNAVAILABLE');
  assert.match(String(r.error), new RegExp(frozen.address.replace(/\./g, '\\.')));
  assert.ok(took < (LOCK_TIMEOUT_S + 2) * 1000, `answered in ${took} ms`);
  // While it is frozen, writes are refused at once rather than each waiting out the timeout.
  const t1 = Date.now();
  const refused = (await post(cluster, 'hang-2', 'y')) as ApiReply;
  assert.equal(refused.code, 'UNAVAILABLE');
  assert.ok(Date.now() - t1 < 1_000, `refused in ${Date.now() - t1} ms`);

  frozen.proc.kill('SIGCONT');
  await assertHealthy(cluster);
  assert.equal(await contentOf(cluster, 'hang-1'), null);
  assertOk(await post(cluster, 'hang-1', 'again'));
  await assertHealthy(cluster);
});

test('failpoint coordinator.after_log_before_commit_send=hang: the voters hold their locks in doubt (2PC blocks) until the coordinator resumes, then commit', async () => {
  const cluster = await Cluster.start({ workers: 2, lockTimeout: LOCK_TIMEOUT_S, nodeEnv: { coordinator: { TWEETDB_FAILPOINTS: 'coordinator.after_log_before_commit_send=hang' } } });
  clusters.push(cluster);
  const pending = post(cluster, 'blocked', 'x');
  await eventually(async () => cluster.coordinator.logs.some((l) => l.includes('failpoint coordinator.after_log_before_commit_send: hang')), 10_000, 'the coordinator to freeze');
  // Both voted YES and neither knows the outcome: asking each other cannot help. They wait, past the lock timeout.
  await sleep((LOCK_TIMEOUT_S + 2) * 1000);
  assert.equal(preparedOn(cluster, 1), 1);
  assert.equal(preparedOn(cluster, 2), 1);
  cluster.coordinator.proc.kill('SIGCONT');
  assertOk(await pending);
  await assertHealthy(cluster);
  assert.equal(await contentOf(cluster, 'blocked'), 'x');
});

test('cooperative termination: the coordinator dies after telling one voter to commit; the other learns it from that voter while the coordinator stays down', async () => {
  const cluster = await Cluster.start({ workers: 2, lockTimeout: LOCK_TIMEOUT_S, nodeEnv: { coordinator: { TWEETDB_FAILPOINTS: 'coordinator.after_first_commit_send=crash' } } });
  clusters.push(cluster);
  assert.equal(await post(cluster, 'ctp-commit', 'x'), 'unknown');
  await waitExit(cluster.coordinator.proc);
  await eventually(async () => preparedOn(cluster, 1) === 0 && preparedOn(cluster, 2) === 0, 20_000, 'both workers to resolve without the coordinator');
  // The log line may trail the database write a little: wait for it rather than race it.
  await eventually(
    async () => cluster.workers.some((w) => w.logs.some((l) => /resolved by asking worker .*: commit/.test(l))),
    10_000,
    'a worker to say it learnt the commit from its peer',
  );
  await cluster.restart(cluster.coordinator, {});
  await cluster.waitAllUp(2);
  await assertHealthy(cluster);
  assert.equal(await contentOf(cluster, 'ctp-commit'), 'x');
  assert.ok(await resolvedByPeers(cluster) >= 1, 'check counts the outcome learnt from a peer');
});

test('cooperative termination: the coordinator dies after one prepare; the prepared voter learns from the other, which never voted, that it is aborted', async () => {
  const cluster = await Cluster.start({ workers: 2, lockTimeout: LOCK_TIMEOUT_S, nodeEnv: { coordinator: { TWEETDB_FAILPOINTS: 'coordinator.after_first_prepare_send=crash' } } });
  clusters.push(cluster);
  assert.equal(await post(cluster, 'ctp-abort', 'x'), 'unknown');
  await waitExit(cluster.coordinator.proc);
  await eventually(async () => preparedOn(cluster, 1) + preparedOn(cluster, 2) === 0, 20_000, 'the prepared worker to resolve without the coordinator');
  // The log line may trail the database write a little: wait for it rather than race it.
  await eventually(
    async () => cluster.workers.some((w) => w.logs.some((l) => /resolved by asking worker .*: abort/.test(l))),
    10_000,
    'a worker to say it learnt the abort from its peer',
  );
  await cluster.restart(cluster.coordinator, {});
  await cluster.waitAllUp(2);
  await assertHealthy(cluster);
  assert.equal(await contentOf(cluster, 'ctp-abort'), null);
  assert.ok(await resolvedByPeers(cluster) >= 1, 'check counts the outcome learnt from a peer');
});

test('a misspelt failpoint stops the process at start with a message naming it', async () => {
  const cluster = await Cluster.start({ workers: 1, lockTimeout: LOCK_TIMEOUT_S });
  clusters.push(cluster);
  const { spawnSync } = await import('node:child_process');
  const { BIN } = await import('../helpers/cluster.ts');
  const r = spawnSync(process.execPath, [BIN, 'worker', '0', '--coordinator', cluster.address, '--data', join(cluster.dir, 'bad')], {
    env: { ...process.env, TWEETDB_FAILPOINTS: 'worker.after_prepare_persit=crash' },
    encoding: 'utf8',
    timeout: 20_000,
  });
  assert.equal(r.status, 2);
  assert.match(r.stderr, /unknown failpoint "worker\.after_prepare_persit"/);
});
