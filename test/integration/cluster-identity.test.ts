// #23, through real processes on loopback: a coordinator that lost its data directory takes its
// workers' cluster over and loses nothing acknowledged; a worker holding another cluster's data is
// refused both ways and nothing changes; a coordinator started on a stale copy of its data directory
// takes over above the epoch its workers obey; an old copy running beside the real coordinator is
// refused by every worker and changes nothing.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { Cluster, eventually, freePort, runTweetdb, spawnNode, type NodeProc } from '../helpers/cluster.ts';
import { WorkerStore } from '../../src/storage/worker-store.ts';
import type { ApiReply } from '../../src/client/client.ts';

const clusters: Cluster[] = [];
const extra: NodeProc[] = [];
after(async () => {
  for (const n of extra) n.proc.kill('SIGKILL');
  await Promise.all(clusters.map((c) => c.stop()));
});

async function start(workers = 2, opts: { evictAfter?: number } = {}): Promise<Cluster> {
  const c = await Cluster.start({ workers, lockTimeout: 2, ...opts });
  clusters.push(c);
  return c;
}

interface Identity {
  id: string;
  epoch: number;
  run: string;
  state: string;
  reason?: string;
  foreign_workers?: Record<string, string>;
}

async function identityOf(c: Cluster, address = c.address): Promise<Identity> {
  const s = await requestAt(c, address, { action: 'status' });
  return s.identity as Identity;
}

async function requestAt(c: Cluster, address: string, body: Record<string, unknown>): Promise<ApiReply> {
  const { TweetdbClient } = await import('../../src/client/client.ts');
  const client = await TweetdbClient.connect(address, 5_000);
  try {
    return await client.request(body);
  } finally {
    client.close();
  }
}

/** The tweet reply shape the README documents for a post. */
function assertPostReply(r: ApiReply, id: string, content: string): void {
  assert.equal(r.status, 'OK', JSON.stringify(r));
  const t = r.tweet as Record<string, unknown> | undefined;
  assert.ok(t !== undefined, `the reply carries the tweet: ${JSON.stringify(r)}`);
  assert.deepEqual(Object.keys(t).sort(), ['content', 'created_at', 'id', 'updated_at', 'username']);
  assert.deepEqual([t.id, t.content, t.updated_at], [id, content, null]);
}

/** Stops a node cleanly (SIGTERM), so its data directory can be copied whole. */
async function stopNode(c: Cluster, n: NodeProc): Promise<void> {
  n.proc.kill('SIGTERM');
  await eventually(async () => n.proc.exitCode !== null || n.proc.signalCode !== null, 10_000, `${n.name} to stop`);
  void c;
}

test('a coordinator whose data directory was lost takes its workers\' cluster over: writes wait (UNAVAILABLE, with the reason), then every write answered OK is stored', async (t) => {
  const c = await start();
  for (let i = 0; i < 20; i++) assertPostReply(await c.request({ action: 'post', tweet: { id: `before-${i}`, username: 'ada', content: `before ${i}` } }), `before-${i}`, `before ${i}`);
  assert.equal((await c.request({ action: 'update', tweet: { id: 'before-0', content: 'edited' } })).status, 'OK');
  const was = await identityOf(c);
  assert.equal(was.state, 'serving');

  await c.kill(c.coordinator);
  rmSync(join(c.dir, 'coordinator'), { recursive: true, force: true });
  const restartedAt = Date.now();
  await c.restart(c.coordinator);

  // While it waits for its workers: every write is refused with UNAVAILABLE and the reason.
  const refusals: ApiReply[] = [];
  const ok: string[] = [];
  let n = 0;
  await eventually(
    async () => {
      const id = `after-${n}`;
      const r = await c.request({ action: 'post', tweet: { id, username: 'ada', content: `after ${n}` } });
      if (r.status === 'OK') {
        assertPostReply(r, id, `after ${n}`);
        ok.push(id);
        n++;
        return true;
      }
      refusals.push(r);
      return false;
    },
    60_000,
    'writes taken again',
  );
  assert.ok(refusals.length > 0, 'writes waited for the recovery');
  t.diagnostic(`from the restart on an empty data directory to the first write taken: ${Date.now() - restartedAt} ms (${refusals.length} refused meanwhile)`);
  for (const r of refusals) {
    assert.deepEqual([r.status, r.code], ['ABORT', 'UNAVAILABLE'], JSON.stringify(r));
    // Forming (no cluster yet), recovering (waiting for the voters), then its first cseq reservation.
    assert.match(String(r.error), /has no data: it takes over the cluster|recovering cluster|reserving commit sequence numbers/);
  }
  for (; ok.length < 40; n++) {
    const id = `after-${n}`;
    const r = await c.request({ action: 'post', tweet: { id, username: 'ada', content: `after ${n}` } });
    assertPostReply(r, id, `after ${n}`);
    ok.push(id);
  }
  const now = await identityOf(c);
  assert.equal(now.id, was.id, 'the same cluster');
  assert.ok(now.epoch > was.epoch, `an epoch above the old one (${now.epoch} > ${was.epoch})`);
  assert.equal(now.state, 'serving');
  // Everything acknowledged, before and after, is there.
  for (const id of ok) assert.equal((await c.request({ action: 'get_tweet', tweet: { id } })).status, 'OK', id);
  for (let i = 0; i < 20; i++) assert.equal(((await c.request({ action: 'get_tweet', tweet: { id: `before-${i}` } })).tweet as { content: string }).content, i === 0 ? 'edited' : `before ${i}`);
  await c.waitConverged();
  assert.ok(c.coordinator.logs.some((l) => l.includes('takes over cluster') && l.includes(was.id)), 'the takeover is logged');
});

test('a worker holding another cluster\'s data is refused when it registers, and refuses that cluster\'s coordinator: nothing changes on either side', async () => {
  const a = await start();
  for (let i = 0; i < 30; i++) assert.equal((await a.request({ action: 'post', tweet: { id: `a-${i}`, username: 'ada', content: `a ${i}` } })).status, 'OK');
  const aId = (await identityOf(a)).id;
  const aWorker = a.workers[0]!;
  await stopNode(a, aWorker);
  const foreignDir = join(a.dir, 'foreign-copy');
  cpSync(aWorker.args[aWorker.args.indexOf('--data') + 1]!, foreignDir, { recursive: true });

  const b = await start(2, { evictAfter: 2 });
  const bId = (await identityOf(b)).id;
  assert.notEqual(aId, bId);
  // 1. It registers with B (B's key): refused, naming both clusters.
  const foreign = await spawnNode('foreign', ['worker', '0', '--coordinator', b.address, '--data', foreignDir], b.keyEnv);
  extra.push(foreign);
  await eventually(async () => foreign.logs.some((l) => l.includes('WRONG_CLUSTER') && l.includes(aId) && l.includes(bId)), 15_000, 'the refusal, naming both clusters');
  const s = await b.status();
  assert.equal((s.workers as unknown[]).length, 2, 'not a member of B');
  assert.equal((await b.request({ action: 'post', tweet: { id: 'b-1', username: 'bo', content: 'b' } })).status, 'OK');
  assert.ok(b.workers.every((w) => w.proc.exitCode === null), 'B\'s workers keep running');
  await b.waitConverged();
  foreign.proc.kill('SIGTERM');
  await eventually(async () => foreign.proc.exitCode !== null || foreign.proc.signalCode !== null, 10_000, 'the foreign worker to stop');

  // 2. B's coordinator dials it where B's second worker was: it refuses B's coordinator.
  const victim = b.workers[1]!;
  const port = victim.address.slice(victim.address.lastIndexOf(':') + 1);
  const victimId = ((await b.status()).workers as { id: string; address: string }[]).find((w) => w.address === victim.address)!.id;
  await b.kill(victim);
  const impostor = await spawnNode('foreign-at-b', ['worker', port, '--coordinator', b.address, '--data', foreignDir], b.keyEnv);
  extra.push(impostor);
  await eventually(async () => (await identityOf(b)).foreign_workers?.[victimId] === aId, 15_000, 'B\'s coordinator says its member answers as cluster ' + aId);
  assert.ok(impostor.logs.some((l) => l.includes('a coordinator was refused') && l.includes(bId)), 'the worker logs why');
  // B goes on without it (evicted after 2 s), and its other copy is untouched.
  await eventually(async () => (await b.request({ action: 'post', tweet: { id: 'b-2', username: 'bo', content: 'b' } })).status === 'OK', 20_000, 'B writes again');
  impostor.proc.kill('SIGTERM');
  await eventually(async () => impostor.proc.exitCode !== null || impostor.proc.signalCode !== null, 10_000, 'the impostor to stop');
  // The foreign copy is as it was: A's 30 tweets, A's cluster, nothing of B.
  const store = new WorkerStore(foreignDir);
  try {
    assert.equal(store.recover().cluster, aId);
    assert.equal(store.check().count, 30);
    assert.equal(store.getTweet('b-1'), null);
  } finally {
    store.close();
  }
  // B's own worker, back on its data, rejoins.
  await b.restart(victim);
  await b.waitConverged();
});

test('a coordinator started on a stale copy of its data directory takes over above the epoch its workers obey, and loses nothing', async () => {
  const c = await start(2);
  for (let i = 0; i < 10; i++) assert.equal((await c.request({ action: 'post', tweet: { id: `old-${i}`, username: 'ada', content: 'x' } })).status, 'OK');
  const dir = join(c.dir, 'coordinator');
  const copy = join(c.dir, 'coordinator-copy');
  await stopNode(c, c.coordinator);
  cpSync(dir, copy, { recursive: true });
  await c.restart(c.coordinator);
  // Newer than the copy: a new epoch, more writes, a third worker (configurations move on).
  await c.waitAllUp(2);
  await c.addWorker();
  await c.waitAllUp(3);
  for (let i = 0; i < 10; i++) assert.equal((await c.request({ action: 'post', tweet: { id: `new-${i}`, username: 'ada', content: 'y' } })).status, 'OK');
  const before = await identityOf(c);
  await stopNode(c, c.coordinator);
  rmSync(dir, { recursive: true, force: true });
  cpSync(copy, dir, { recursive: true });
  await c.restart(c.coordinator);
  await eventually(async () => (await c.request({ action: 'post', tweet: { id: 'after-restore', username: 'ada', content: 'z' } })).status === 'OK', 60_000, 'writes again');
  const after = await identityOf(c);
  assert.equal(after.id, before.id);
  assert.ok(after.epoch > before.epoch, `${after.epoch} > ${before.epoch}`);
  for (let i = 0; i < 10; i++) {
    assert.equal((await c.request({ action: 'get_tweet', tweet: { id: `old-${i}` } })).status, 'OK');
    assert.equal((await c.request({ action: 'get_tweet', tweet: { id: `new-${i}` } })).status, 'OK');
  }
  await c.waitAllUp(3);
  await c.waitConverged();
});

test('an old copy of the coordinator started beside the live one (a lower epoch) is refused by every worker: it takes nothing, and nothing changes', async () => {
  const c = await start(2);
  assert.equal((await c.request({ action: 'post', tweet: { id: 'x-1', username: 'ada', content: 'x' } })).status, 'OK');
  const dir = join(c.dir, 'coordinator');
  const copy = join(c.dir, 'coordinator-old');
  await stopNode(c, c.coordinator);
  cpSync(dir, copy, { recursive: true });
  await c.restart(c.coordinator);
  await c.waitAllUp(2);
  const real = await identityOf(c);
  const port = await freePort();
  const old = await spawnNode('old-coordinator', ['coordinator', '--port', String(port), '--data', copy, '--lock-timeout', '2'], c.keyEnv);
  extra.push(old);
  const oldAddress = `127.0.0.1:${port}`;
  await eventually(async () => (await identityOf(c, oldAddress)).state === 'fenced', 20_000, 'the old copy is fenced');
  const w = await requestAt(c, oldAddress, { action: 'post', tweet: { id: 'through-old', username: 'ada', content: 'must not happen' } });
  assert.deepEqual([w.status, w.code], ['ABORT', 'UNAVAILABLE']);
  assert.match(String(w.error), /fenced: worker .* obeys a newer coordinator/);
  // Its status exits 1 and says why; the real cluster is as it was.
  const r = await runTweetdb(['status', '--coordinator', oldAddress], 20_000);
  assert.equal(r.code, 1, r.stdout + r.stderr);
  assert.match(r.stdout, /fenced/);
  assert.deepEqual(await identityOf(c), real);
  assert.equal((await c.request({ action: 'post', tweet: { id: 'x-2', username: 'ada', content: 'y' } })).status, 'OK');
  assert.equal((await c.request({ action: 'get_tweet', tweet: { id: 'through-old' } })).code, 'NOT_FOUND');
  await c.waitConverged();
  old.proc.kill('SIGTERM');
});
