// Two sessions and a lock: no waiting, and the lock timeout.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { Cluster } from '../helpers/cluster.ts';
import { rawSession } from '../helpers/raw.ts';

const clusters: Cluster[] = [];
after(async () => {
  await Promise.all(clusters.map((c) => c.stop()));
});

test('session 2 gets ABORT LOCKED at once while session 1 holds the item; after commit its retry succeeds', async () => {
  const cluster = await Cluster.start({ workers: 2, lockTimeout: 10 });
  clusters.push(cluster);
  assert.equal((await cluster.request({ action: 'post', tweet: { id: 'X', username: 'u', content: 'v0' } })).status, 'OK');

  const s1 = await rawSession(cluster.address);
  const s2 = await rawSession(cluster.address);
  s1.write('{"action":"begin"}\n');
  const begun = await s1.line(0);
  assert.equal(begun.status, 'OK');
  assert.equal(typeof begun.txid, 'string');
  s1.write('{"action":"update","tweet":{"id":"X","content":"from session 1"}}\n');
  assert.equal((await s1.line(1)).status, 'OK');

  const t0 = Date.now();
  s2.write('{"action":"update","tweet":{"id":"X","content":"from session 2"}}\n');
  const refused = await s2.line(0);
  const waited = Date.now() - t0;
  assert.deepEqual(refused, { status: 'ABORT', code: 'LOCKED', error: 'tweet X is locked by another transaction' });
  assert.ok(waited < 5_000, `LOCKED must come at once, well before the 10 s lock timeout (took ${waited} ms)`);

  // Reads never block and never see uncommitted data.
  s2.write('{"action":"get_tweet","tweet":{"id":"X"}}\n');
  assert.equal(((await s2.line(1)).tweet as { content: string }).content, 'v0');

  s1.write('{"action":"commit"}\n');
  assert.deepEqual(await s1.line(2), { status: 'OK' });

  s2.write('{"action":"update","tweet":{"id":"X","content":"from session 2"}}\n');
  const retried = await s2.line(2);
  assert.equal(retried.status, 'OK');
  assert.equal((retried.tweet as { content: string }).content, 'from session 2');
  s1.end();
  s2.end();
  await cluster.waitConverged();
});

test('with --lock-timeout 1 an idle transaction loses its lock: session 2 succeeds and session 1 commit gets ABORT TIMEOUT', async () => {
  const cluster = await Cluster.start({ workers: 2, lockTimeout: 1 });
  clusters.push(cluster);
  const status = await cluster.status();
  assert.equal(status.lock_timeout_s, 1);
  assert.equal((await cluster.request({ action: 'post', tweet: { id: 'Y', username: 'u', content: 'v0' } })).status, 'OK');

  const s1 = await rawSession(cluster.address);
  const s2 = await rawSession(cluster.address);
  s1.write('{"action":"begin"}\n{"action":"update","tweet":{"id":"Y","content":"slow"}}\n');
  assert.equal((await s1.line(1)).status, 'OK');
  s2.write('{"action":"update","tweet":{"id":"Y","content":"early"}}\n');
  assert.equal((await s2.line(0)).code, 'LOCKED');

  await new Promise((r) => setTimeout(r, 1_600));
  s2.write('{"action":"update","tweet":{"id":"Y","content":"after timeout"}}\n');
  assert.equal((await s2.line(1)).status, 'OK');

  s1.write('{"action":"commit"}\n');
  const late = await s1.line(2);
  assert.equal(late.status, 'ABORT');
  assert.equal(late.code, 'TIMEOUT');
  const final = await cluster.request({ action: 'get_tweet', tweet: { id: 'Y' } });
  assert.equal((final.tweet as { content: string }).content, 'after timeout');
  s1.end();
  s2.end();
  await cluster.waitConverged();
});

test('closing the connection aborts its open transaction and frees its locks', async () => {
  const cluster = await Cluster.start({ workers: 1, lockTimeout: 10 });
  clusters.push(cluster);
  await cluster.request({ action: 'post', tweet: { id: 'Z', username: 'u', content: 'v0' } });
  const s1 = await rawSession(cluster.address);
  s1.write('{"action":"begin"}\n{"action":"delete","tweet":{"id":"Z"}}\n');
  assert.equal((await s1.line(1)).status, 'OK');
  s1.socket.destroy();
  await s1.closed;
  const c = await cluster.client();
  let r = await c.request({ action: 'update', tweet: { id: 'Z', content: 'free' } });
  for (let i = 0; i < 20 && r.code === 'LOCKED'; i++) {
    await new Promise((res) => setTimeout(res, 50));
    r = await c.request({ action: 'update', tweet: { id: 'Z', content: 'free' } });
  }
  assert.equal(r.status, 'OK');
});

test('an op that fails inside begin/commit aborts the transaction; commit then reports why', async () => {
  const cluster = await Cluster.start({ workers: 2, lockTimeout: 10 });
  clusters.push(cluster);
  const s = await rawSession(cluster.address);
  s.write('{"action":"begin"}\n{"action":"post","tweet":{"id":"in-tx","username":"u","content":"a"}}\n{"action":"update","tweet":{"id":"nope","content":"b"}}\n{"action":"commit"}\n');
  assert.equal((await s.line(1)).status, 'OK');
  const failed = await s.line(2);
  assert.equal(failed.status, 'ABORT');
  assert.equal(failed.code, 'NOT_FOUND');
  const commit = await s.line(3);
  assert.equal(commit.status, 'ABORT');
  assert.equal(commit.code, 'NOT_FOUND');
  const get = await cluster.request({ action: 'get_tweet', tweet: { id: 'in-tx' } });
  assert.equal(get.code, 'NOT_FOUND', 'the post of an aborted transaction must not be visible');
  s.end();
});
