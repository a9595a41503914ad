// A process dies (or freezes) at exactly one step of the protocol, by a named
// failpoint (TWEETDB_FAILPOINTS=name=crash|hang), in real processes. What the
// client was told is never wrong (OK: committed, ABORT: not; IN_DOUBT or no reply
// say nothing). With the coordinator down, the voters settle the write among
// themselves (no coordinator in the way). After a restart the public API must
// show: the write either happened everywhere or nowhere, copies identical,
// nothing in doubt, no locks or prepared records left, and the cluster taking writes.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { Cluster, eventually, waitExit, type NodeProc } from '../helpers/cluster.ts';
import { ConnectionLost, type ApiReply } from '../../src/client/client.ts';
import { FAILPOINTS, type FailpointName } from '../../src/node/failpoints.ts';

const LOCK_TIMEOUT_S = 2;
const clusters: Cluster[] = [];
after(async () => {
  await Promise.all(clusters.map((c) => c.stop()));
});

type Outcome = 'committed' | 'aborted';
/** What the client was told: OK, ABORT, IN_DOUBT, or nothing (its connection was lost). */
type Told = 'OK' | 'ABORT' | 'IN_DOUBT' | 'no reply';

interface Case {
  point: FailpointName;
  /** The node that stops there. */
  node: 'coordinator' | 'worker-1' | 'worker-2';
  /** What the write must come to: fixed by the step, or 'either' (then what the client was told, or the data, says which). */
  expect: Outcome | 'either';
  /** What the client may be told. Never wrong: OK means committed, ABORT means not; IN_DOUBT and no reply say nothing. */
  told: Told[];
  /** For worker.after_abort_persist: the write that makes the worker vote NO (a tombstone first). */
  setup?: 'conflicting post';
  /**
   * A voter the test freezes (SIGSTOP) before the write and resumes once the lock timeout has
   * passed and the coordinator has asked it to prevent the write: it then finds the prepare and
   * the prevent together, and refuses.
   */
  freeze?: 'worker-2';
}

// Reasons, step by step (2 voters, worker-1 is the one stopped; see the design of implicit commit
// and abort by prevention in src/core/coord-commit.ts):
// - after_first_prepare_send: the one prepared voter asks the other, which never saw the prepare:
//   it refuses durably, so aborted.
// - after_last_yes, after_first_commit_send: every voter holds a durable YES: committed; the
//   voters find it out from each other while the coordinator is down.
// - after_first_prevent_send: worker-2 gets the prepare and the prevent together and refuses.
// - before_prepare_persist: worker-1 never holds a YES (it refuses when asked again): aborted;
//   the client hears ABORT, or IN_DOUBT when worker-2's YES came in before worker-1 went down.
// - after_prepare_persist: worker-1 holds a durable YES nobody heard. If worker-2 voted YES
//   before the prevent reached it, the transaction is committed (the client heard IN_DOUBT);
//   if the prevent found it still writing its record, it refused: aborted (ABORT).
// - after_vote_send: both hold a YES: committed (IN_DOUBT only if the YES was lost on the way).
// - after_refusal_persist: worker-2's tombstone is durable and its refusal unsaid: with no
//   refusal heard and worker-1's YES, the coordinator may not abort: IN_DOUBT; aborted once
//   worker-2 is back and says it.
const CASES: Case[] = [
  { point: 'coordinator.after_first_prepare_send', node: 'coordinator', expect: 'aborted', told: ['no reply'] },
  { point: 'coordinator.after_last_yes', node: 'coordinator', expect: 'committed', told: ['no reply'] },
  { point: 'coordinator.after_first_commit_send', node: 'coordinator', expect: 'committed', told: ['no reply'] },
  { point: 'coordinator.after_first_prevent_send', node: 'coordinator', expect: 'aborted', told: ['no reply'], freeze: 'worker-2' },
  { point: 'worker.before_prepare_persist', node: 'worker-1', expect: 'aborted', told: ['ABORT', 'IN_DOUBT'] },
  { point: 'worker.after_prepare_persist', node: 'worker-1', expect: 'either', told: ['ABORT', 'IN_DOUBT'] },
  { point: 'worker.after_vote_send', node: 'worker-1', expect: 'committed', told: ['OK', 'IN_DOUBT'] },
  { point: 'worker.before_commit_apply', node: 'worker-1', expect: 'committed', told: ['OK'] },
  { point: 'worker.after_commit_apply_before_ack', node: 'worker-1', expect: 'committed', told: ['OK'] },
  { point: 'worker.after_abort_persist', node: 'worker-1', expect: 'aborted', told: ['ABORT'], setup: 'conflicting post' },
  { point: 'worker.after_refusal_persist', node: 'worker-2', expect: 'aborted', told: ['IN_DOUBT'], freeze: 'worker-2' },
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

function toldOf(r: ApiReply | 'unknown'): Told | string {
  if (r === 'unknown') return 'no reply';
  if (r.status === 'OK' || r.status === 'ABORT') return r.status;
  return r.code === 'IN_DOUBT' ? 'IN_DOUBT' : JSON.stringify(r);
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

/** Runs `fn` on one node's database, read directly (the coordinator may be down). */
function readDb<T>(cluster: Cluster, node: string, fn: (db: Database.Database) => T): T {
  const file = node === 'coordinator' ? join(cluster.dir, 'coordinator', 'coordinator.db') : join(cluster.dir, node, 'worker.db');
  const db = new Database(file, { readonly: true, fileMustExist: true });
  try {
    return fn(db);
  } finally {
    db.close();
  }
}

/** Prepared records in a worker's database. */
function preparedOn(cluster: Cluster, worker: number): number {
  return readDb(cluster, `worker-${worker}`, (db) => (db.prepare('SELECT count(*) AS n FROM prepared').get() as { n: number }).n);
}

/** A tweet's content in a worker's database, or null. */
function tweetOn(cluster: Cluster, worker: number, id: string): string | null {
  return readDb(cluster, `worker-${worker}`, (db) => (db.prepare('SELECT content FROM tweets WHERE id = ?').get(id) as { content: string } | undefined)?.content ?? null);
}

/** Both workers have settled the write alone, to `content` (null: not written): no prepared record left, and the tweet as said on both. */
async function settledOnBoth(cluster: Cluster, id: string, content: string | null, why: string): Promise<void> {
  await eventually(
    async () => [1, 2].every((w) => preparedOn(cluster, w) === 0 && tweetOn(cluster, w, id) === content),
    6 * LOCK_TIMEOUT_S * 1000,
    why,
    () => JSON.stringify([1, 2].map((w) => ({ worker: w, prepared: preparedOn(cluster, w), content: tweetOn(cluster, w, id) }))),
  );
}

/** Waits for some worker to log a line matching `pattern` (a log line may trail the database write a little). */
async function aWorkerSays(cluster: Cluster, pattern: RegExp, what: string): Promise<void> {
  await eventually(async () => cluster.workers.some((w) => w.logs.some((l) => pattern.test(l))), 10_000, what);
}

for (const c of CASES) {
  test(`failpoint ${c.point}=crash: ${FAILPOINTS[c.point]}; the client hears ${c.told.join(' or ')}; the write is ${c.expect === 'either' ? 'as told, or as the data says' : c.expect} everywhere${c.node === 'coordinator' ? ', settled by the voters while the coordinator is down' : ' after a restart'}`, async () => {
    const cluster = await Cluster.start({
      workers: 2,
      lockTimeout: LOCK_TIMEOUT_S,
      // A frozen voter must not be evicted before it is back (default 10 s).
      ...(c.freeze !== undefined ? { evictAfter: 60 } : {}),
      nodeEnv: { [c.node]: { TWEETDB_FAILPOINTS: `${c.point}=crash` } },
    });
    clusters.push(cluster);
    const id = `fp-${c.point}`;
    let before: string | null = null;
    if (c.setup === 'conflicting post') {
      // A first post commits (no abort is written); the second, with other content, is refused: the worker writes a tombstone.
      assertOk(await post(cluster, id, 'first'));
      before = 'first';
    }
    const victim = nodeByName(cluster, c.node);
    const frozen = c.freeze === undefined ? null : nodeByName(cluster, c.freeze);
    frozen?.proc.kill('SIGSTOP');
    const pending = post(cluster, id, 'second');
    if (frozen !== null) {
      // The lock timeout passes; the coordinator asks the frozen voter to prevent the write, then cuts it off (or dies there).
      await eventually(
        async () => cluster.coordinator.logs.some((l) => l.includes(`cut off: did not answer transaction`) || l.includes('failpoint coordinator.after_first_prevent_send')),
        5 * LOCK_TIMEOUT_S * 1000,
        'the coordinator to ask the frozen voter to prevent the write',
      );
      frozen.proc.kill('SIGCONT');
    }
    const reply = await pending;
    await waitExit(victim.proc);
    assert.equal(victim.proc.signalCode, 'SIGKILL', `${c.node} died by the failpoint`);
    assert.ok(victim.logs.some((l) => l.includes(`failpoint ${c.point}: crash`)), `${c.node} said where it stopped`);

    const told = toldOf(reply);
    assert.ok((c.told as string[]).includes(told), `the client was told ${told}; expected ${c.told.join(' or ')}`);
    // What the client was told is never wrong: OK means committed, ABORT means not.
    const byReply: Outcome | null = told === 'OK' ? 'committed' : told === 'ABORT' ? 'aborted' : null;
    if (c.expect !== 'either' && byReply !== null) assert.equal(byReply, c.expect, `told ${told}`);

    if (c.node === 'coordinator') {
      // No coordinator in the way: the voters settle it among themselves while it stays down.
      assert.notEqual(c.expect, 'either');
      await settledOnBoth(cluster, id, c.expect === 'committed' ? 'second' : before, 'both workers to settle the write without the coordinator');
    }

    await cluster.restart(victim, {});
    await cluster.waitAllUp(2);
    await assertHealthy(cluster);

    const content = await contentOf(cluster, id);
    const expected = c.expect !== 'either' ? c.expect : byReply;
    if (expected !== null) assert.equal(content, expected === 'committed' ? 'second' : before);
    else assert.ok(content === 'second' || content === before, `the write happened or not, as one: ${content}`);

    // The cluster takes writes again, and a retry gets a definite answer.
    assertOk(await post(cluster, id, content ?? 'second'));
    assertOk(await post(cluster, `${id}-after`, 'works'));
    await assertHealthy(cluster);
  });
}

async function resolvedByPeers(cluster: Cluster): Promise<number> {
  const c = await cluster.request({ action: 'check' });
  return (c.workers as { resolved_by_peers: number }[]).reduce((n, w) => n + w.resolved_by_peers, 0);
}

test('failpoint worker.after_prepare_persist=hang: the frozen voter holds a YES nobody heard, so the write is IN_DOUBT (never ABORT) once it is cut off at the lock timeout, naming it; resumed, its YES commits the write', async () => {
  const cluster = await Cluster.start({ workers: 2, lockTimeout: LOCK_TIMEOUT_S, evictAfter: 60, nodeEnv: { 'worker-1': { TWEETDB_FAILPOINTS: 'worker.after_prepare_persist=hang' } } });
  clusters.push(cluster);
  const frozen = nodeByName(cluster, 'worker-1');
  const t0 = Date.now();
  const reply = await post(cluster, 'hang-1', 'x');
  const took = Date.now() - t0;
  assert.notEqual(reply, 'unknown');
  const r = reply as ApiReply;
  // Its record is durable: it cannot be aborted without its refusal, and it will never refuse.
  // At the lock timeout it is cut off as silent: nobody is left to ask, so the client hears IN_DOUBT then.
  assert.equal(r.code, 'IN_DOUBT', JSON.stringify(r));
  assert.match(String(r.error), new RegExp(frozen.address.replace(/\./g, '\\.')));
  assert.ok(took < (2 * LOCK_TIMEOUT_S + 2) * 1000, `answered in ${took} ms`);
  assert.equal(((await cluster.status()).in_doubt as unknown[]).length, 1, 'status lists it in doubt');
  // While it is frozen, writes are refused at once rather than each waiting out the timeout.
  const t1 = Date.now();
  const refused = (await post(cluster, 'hang-2', 'y')) as ApiReply;
  assert.equal(refused.code, 'UNAVAILABLE');
  assert.ok(Date.now() - t1 < 1_000, `refused in ${Date.now() - t1} ms`);

  frozen.proc.kill('SIGCONT');
  await assertHealthy(cluster);
  assert.equal(await contentOf(cluster, 'hang-1'), 'x');
  assertOk(await post(cluster, 'hang-1', 'x'));
  assertOk(await post(cluster, 'hang-2', 'y'));
  await assertHealthy(cluster);
});

test('coordinator killed after the last YES, no decision written: the voters commit on their own while it stays down (issue #13)', async () => {
  const cluster = await Cluster.start({ workers: 2, lockTimeout: LOCK_TIMEOUT_S, nodeEnv: { coordinator: { TWEETDB_FAILPOINTS: 'coordinator.after_last_yes=crash' } } });
  clusters.push(cluster);
  assert.equal(await post(cluster, 'last-yes', 'x'), 'unknown');
  await waitExit(cluster.coordinator.proc);
  assert.equal(cluster.coordinator.proc.signalCode, 'SIGKILL');
  assert.ok(cluster.coordinator.logs.some((l) => l.includes('failpoint coordinator.after_last_yes: crash')));
  // Nothing of the decision reached the coordinator's disk: the commit is implicit in the voters' YES records.
  assert.equal(readDb(cluster, 'coordinator', (db) => (db.prepare('SELECT count(*) AS n FROM decisions').get() as { n: number }).n), 0, 'no decision written');

  // Each asks the other at its first query deadline; both hold a durable YES: committed, with the cseq of their records.
  await settledOnBoth(cluster, 'last-yes', 'x', 'both workers to commit without the coordinator');
  for (const w of [1, 2]) {
    const commits = readDb(cluster, `worker-${w}`, (db) => db.prepare(`SELECT results FROM outcomes WHERE outcome = 'commit'`).all() as { results: string | null }[]);
    assert.equal(commits.length, 1, `worker-${w} has one commit: ${JSON.stringify(commits)}`);
    // Settled without the coordinator: the results are kept for the coordinator's client, should it ask.
    assert.notEqual(commits[0]?.results ?? null, null, `worker-${w} keeps the commit's results`);
  }
  await aWorkerSays(cluster, /committed by its voters: every one of them holds a durable YES/, 'a worker to say its voters committed it');

  await cluster.restart(cluster.coordinator, {});
  await cluster.waitAllUp(2);
  await assertHealthy(cluster);
  assert.equal(await contentOf(cluster, 'last-yes'), 'x');
  assert.ok(await resolvedByPeers(cluster) >= 1, 'check counts the commits settled by the voters');
  assertOk(await post(cluster, 'last-yes-after', 'works'));
  await assertHealthy(cluster);
});

test('failpoint coordinator.after_last_yes=hang: the voters do not wait for the frozen coordinator: they commit on their own; resumed, it answers OK', async () => {
  const cluster = await Cluster.start({ workers: 2, lockTimeout: LOCK_TIMEOUT_S, nodeEnv: { coordinator: { TWEETDB_FAILPOINTS: 'coordinator.after_last_yes=hang' } } });
  clusters.push(cluster);
  const pending = post(cluster, 'not-blocked', 'x');
  await eventually(async () => cluster.coordinator.logs.some((l) => l.includes('failpoint coordinator.after_last_yes: hang')), 10_000, 'the coordinator to freeze');
  // Every voter holds a YES: the transaction is committed, and they find it out from each other.
  await settledOnBoth(cluster, 'not-blocked', 'x', 'both workers to commit while the coordinator is frozen');
  cluster.coordinator.proc.kill('SIGCONT');
  assertOk(await pending);
  await assertHealthy(cluster);
  assert.equal(await contentOf(cluster, 'not-blocked'), 'x');
});

test('cooperative termination: the coordinator dies after telling one voter to commit; the other learns it from that voter while the coordinator stays down', async () => {
  const cluster = await Cluster.start({ workers: 2, lockTimeout: LOCK_TIMEOUT_S, nodeEnv: { coordinator: { TWEETDB_FAILPOINTS: 'coordinator.after_first_commit_send=crash' } } });
  clusters.push(cluster);
  assert.equal(await post(cluster, 'ctp-commit', 'x'), 'unknown');
  await waitExit(cluster.coordinator.proc);
  await eventually(async () => preparedOn(cluster, 1) === 0 && preparedOn(cluster, 2) === 0, 20_000, 'both workers to resolve without the coordinator');
  await aWorkerSays(cluster, /resolved by asking worker .*: commit/, 'a worker to say it learnt the commit from its peer');
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
  await aWorkerSays(cluster, /resolved by asking worker .*: abort/, 'a worker to say it learnt the abort from its peer');
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
