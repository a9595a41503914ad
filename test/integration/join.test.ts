// Workers joining a cluster that already holds data: a brand new third worker,
// and a worker whose data directory was wiped (a new identity at an old address).

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { Cluster, sleep } from '../helpers/cluster.ts';
import { Load } from '../../src/check/load.ts';
import type { TweetdbClient, ApiReply } from '../../src/client/client.ts';

interface CheckWorker {
  id: string;
  address: string;
  state: string;
  count: number;
  digest: string;
  prepared: number;
  locks: number;
  max_cseq: number;
}

interface StatusWorker {
  id: string;
  address: string;
  state: string;
}

const clusters: Cluster[] = [];
/** Every load started: stopped before the clusters, so a test that fails midway leaves no client running (the process would never exit). */
const loads: Load[] = [];
after(async () => {
  await Promise.all(loads.map((l) => l.stop()));
  await Promise.all(clusters.map((c) => c.stop()));
});

function okAll(replies: ApiReply[], what: string): void {
  const bad = replies.filter((r) => r.status !== 'OK');
  assert.deepEqual(bad, [], `every ${what} is OK`);
}

/** Posts `n` tweets `${prefix}-0..n-1`, updates every 5th, deletes every 7th (not already updated); returns the expected live contents. */
async function writeData(c: TweetdbClient, prefix: string, n: number): Promise<Map<string, string>> {
  const expected = new Map<string, string>();
  const posts: Promise<ApiReply>[] = [];
  for (let i = 0; i < n; i++) {
    const id = `${prefix}-${i}`;
    expected.set(id, `tweet ${i} of ${prefix}`);
    posts.push(c.request({ action: 'post', tweet: { id, username: `user${i % 10}`, content: `tweet ${i} of ${prefix}` } }));
  }
  okAll(await Promise.all(posts), 'post');
  const changes: Promise<ApiReply>[] = [];
  for (let i = 0; i < n; i++) {
    const id = `${prefix}-${i}`;
    if (i % 5 === 0) {
      expected.set(id, `updated ${i} of ${prefix}`);
      changes.push(c.request({ action: 'update', tweet: { id, content: `updated ${i} of ${prefix}` } }));
    } else if (i % 7 === 0) {
      expected.delete(id);
      changes.push(c.request({ action: 'delete', tweet: { id } }));
    }
  }
  okAll(await Promise.all(changes), 'update and delete');
  return expected;
}

async function check(cluster: Cluster): Promise<CheckWorker[]> {
  const r = await cluster.request({ action: 'check' });
  assert.equal(r.status, 'OK', JSON.stringify(r));
  return r.workers as CheckWorker[];
}

function assertIdentical(ws: CheckWorker[], n: number, count: number): void {
  assert.equal(ws.length, n, JSON.stringify(ws));
  const d = ws[0]?.digest;
  assert.ok(typeof d === 'string' && d.length > 0, JSON.stringify(ws));
  for (const w of ws) {
    assert.equal(w.count, count, `worker ${w.id} (${w.address}) holds ${count} tweets: ${JSON.stringify(ws)}`);
    assert.equal(w.digest, d, `worker ${w.id} (${w.address}) has the same digest as the others: ${JSON.stringify(ws)}`);
    assert.equal(w.prepared, 0);
    assert.equal(w.locks, 0);
  }
  const cseqs = new Set(ws.map((w) => w.max_cseq));
  assert.equal(cseqs.size, 1, `every worker applied the same commits: ${JSON.stringify(ws)}`);
}

async function assertContents(cluster: Cluster, expected: Map<string, string>, sample: string[]): Promise<void> {
  for (const id of sample) {
    const r = await cluster.request({ action: 'get_tweet', tweet: { id } });
    const want = expected.get(id);
    if (want === undefined) assert.equal(r.code, 'NOT_FOUND', `${id} was deleted: ${JSON.stringify(r)}`);
    else assert.equal((r.tweet as { content?: string } | undefined)?.content, want, `${id}: ${JSON.stringify(r)}`);
  }
}

function nodeIdFromLogs(logs: string[]): string {
  for (const l of logs) {
    if (!l.includes('listening on')) continue;
    try {
      const rec = JSON.parse(l) as { node_id?: string };
      if (typeof rec.node_id === 'string') return rec.node_id;
    } catch {
      // not a log record
    }
  }
  throw new Error(`no node_id in the worker's listening line:\n${logs.join('\n')}`);
}

test('a third worker joins a 2-worker cluster holding ~300 tweets, copies them, and takes every later write', async (t) => {
  const cluster = await Cluster.start({ workers: 2 });
  clusters.push(cluster);
  const c = await cluster.client();
  const expected = await writeData(c, 'before', 300);
  const liveBefore = expected.size;
  const before = await cluster.waitConverged();
  assertIdentical(before as CheckWorker[], 2, liveBefore);
  const digestBefore = before[0]?.digest;

  // Watch status while the new worker starts, recording each state it is shown in.
  const original = new Set(cluster.workers.map((w) => w.address));
  const seen: string[] = [];
  let watching = true;
  const watcher = (async (): Promise<void> => {
    const until = Date.now() + 40_000;
    while (watching && Date.now() < until) {
      try {
        const s = await cluster.status();
        const fresh = (s.workers as StatusWorker[]).filter((w) => !original.has(w.address));
        for (const w of fresh) if (seen[seen.length - 1] !== w.state) seen.push(w.state);
        if (fresh.some((w) => w.state === 'up')) return;
      } catch {
        // try again
      }
      await sleep(10);
    }
  })();
  const third = await cluster.addWorker();
  await watcher;
  watching = false;
  t.diagnostic(`states of the joining worker seen in status: ${seen.join(' -> ')} (saw joining: ${seen.includes('joining')})`);
  assert.ok(seen.includes('up'), `the new worker became up in status; states seen: ${seen.join(', ')}`);
  // Between its registration and the coordinator's link to it, a new worker may be listed as down for an instant;
  // once linked it is joining, then up, and never down again.
  const linked = seen.findIndex((s) => s !== 'down');
  for (const s of seen.slice(linked)) assert.ok(s === 'joining' || s === 'up', `status shows a joining worker as joining or up; states seen: ${seen.join(', ')}`);

  await cluster.waitAllUp(3);
  const status = await cluster.status();
  const listed = status.workers as StatusWorker[];
  assert.equal(listed.length, 3);
  assert.ok(listed.some((w) => w.address === third.address && w.state === 'up'), JSON.stringify(listed));

  const joined = await cluster.waitConverged();
  assertIdentical(joined as CheckWorker[], 3, liveBefore);
  assert.equal(joined[0]?.digest, digestBefore, 'the copy did not change the data');
  assert.ok((joined as CheckWorker[]).some((w) => w.address === third.address));
  // The check reply as a user reads it: every worker up, equal counts and digests.
  const direct = await check(cluster);
  assertIdentical(direct, 3, liveBefore);
  assert.deepEqual(direct.map((w) => w.state), ['up', 'up', 'up']);
  assert.deepEqual(new Set(direct.map((w) => w.address)), new Set(cluster.workers.map((w) => w.address)));

  // Writes after it is up land on all three.
  const moreExpected = await writeData(c, 'after', 40);
  const total = liveBefore + moreExpected.size;
  const afterWrites = await cluster.waitConverged();
  assertIdentical(afterWrites as CheckWorker[], 3, total);
  assert.notEqual(afterWrites[0]?.digest, digestBefore, 'the later writes changed every copy');
  const all = new Map([...expected, ...moreExpected]);
  await assertContents(cluster, all, ['before-0', 'before-1', 'before-7', 'before-299', 'after-0', 'after-7', 'after-39']);
});

test('a worker whose data directory is wiped rejoins under a new identity, replaces the old one at its address, and copies the data', async () => {
  const cluster = await Cluster.start({ workers: 2 });
  clusters.push(cluster);
  const c = await cluster.client();
  const expected = await writeData(c, 'w', 120);
  const live = expected.size;
  assertIdentical((await cluster.waitConverged()) as CheckWorker[], 2, live);

  const victim = cluster.workers[1];
  assert.ok(victim !== undefined);
  const address = victim.address;
  const oldId = nodeIdFromLogs(victim.logs);
  const s0 = await cluster.status();
  assert.equal((s0.workers as StatusWorker[]).find((w) => w.address === address)?.id, oldId);

  await cluster.kill(victim);
  rmSync(join(cluster.dir, 'worker-2'), { recursive: true, force: true });
  const fresh = await cluster.restart(victim);
  assert.equal(fresh.address, address, 'restarted on the same address');
  const newId = nodeIdFromLogs(fresh.logs);
  assert.notEqual(newId, oldId, 'a wiped worker comes back under a new identity');

  await cluster.waitAllUp(2);
  const s1 = await cluster.status();
  const ws = s1.workers as StatusWorker[];
  assert.equal(ws.length, 2, `the new identity replaces the old one: ${JSON.stringify(ws)}`);
  assert.ok(!ws.some((w) => w.id === oldId), `the old identity is gone: ${JSON.stringify(ws)}`);
  assert.deepEqual(ws.filter((w) => w.address === address).map((w) => w.id), [newId]);
  assert.deepEqual(new Set(ws.map((w) => w.address)), new Set(cluster.workers.map((w) => w.address)));

  const copied = (await cluster.waitConverged()) as CheckWorker[];
  assertIdentical(copied, 2, live);
  assert.equal(copied.find((w) => w.address === address)?.id, newId);

  // And it takes part in later writes.
  const more = await writeData(c, 'later', 20);
  assertIdentical((await cluster.waitConverged()) as CheckWorker[], 2, live + more.size);
  await assertContents(cluster, new Map([...expected, ...more]), ['w-0', 'w-7', 'w-119', 'later-0', 'later-7']);
});

test('a worker that joins while 6 clients keep writing: nothing acknowledged is lost and all three copies end identical', async (t) => {
  const cluster = await Cluster.start({ workers: 2, lockTimeout: 3 });
  clusters.push(cluster);
  const c = await cluster.client();
  const expected = await writeData(c, 'pre', 100);
  const load = new Load({ address: () => cluster.address, clients: 6, hotIds: ['hot'], requestTimeoutMs: 30_000 });
  loads.push(load);
  assert.equal((await c.request({ action: 'post', tweet: { id: 'hot', username: 'shared', content: 'start' } })).status, 'OK');
  load.start();
  await sleep(500);
  const third = await cluster.addWorker();
  await cluster.waitAllUp(3);
  await sleep(500);
  await load.stop();
  t.diagnostic(`replies during the join: ${JSON.stringify(Object.fromEntries(load.codes))}`);

  assert.deepEqual(load.errors, [], 'no request was rejected as invalid');
  assert.ok(load.acked > 0, 'writes were acknowledged');
  const converged = (await cluster.waitConverged()) as CheckWorker[];
  assert.equal(converged.length, 3);
  assert.ok(converged.some((w) => w.address === third.address));
  assertIdentical(converged, 3, converged[0]?.count ?? -1);
  assert.deepEqual(await load.verify(cluster.address), []);
  await assertContents(cluster, expected, ['pre-0', 'pre-7', 'pre-99']);
  // Writes work once it is up.
  assert.equal((await c.request({ action: 'post', tweet: { id: 'after-load', username: 'u', content: 'done' } })).status, 'OK');
  await cluster.waitConverged();
});
