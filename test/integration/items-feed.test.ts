// Items (the web app's accounts and sessions) and the change feed, through the
// coordinator's TCP API with real processes: items commit, lock and replicate
// like tweets; subscribe streams every committed change to tweets.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { Cluster, eventually } from '../helpers/cluster.ts';
import type { ApiReply, TweetdbClient } from '../../src/client/client.ts';

const clusters: Cluster[] = [];
after(async () => {
  await Promise.all(clusters.map((c) => c.stop()));
});

const user = (key: string, value: Record<string, unknown>, if_absent = true): Record<string, unknown> => ({ action: 'put_item', item: { kind: 'user', key, value }, if_absent });

test('items: create if absent, retry is the same write, other value is EXISTS, read, replace, delete, NOT_FOUND', async () => {
  const cluster = await Cluster.start({ workers: 2 });
  clusters.push(cluster);
  const c = await cluster.client();
  const ada = { password: 'scrypt$x', created_at: 1 };
  const created = await c.request(user('ada', ada));
  assert.deepEqual(created, { status: 'OK', item: { kind: 'user', key: 'ada', value: ada } });
  assert.equal((await c.request(user('ada', ada))).status, 'OK', 'a retried create is the same write');
  const taken = await c.request(user('ada', { password: 'other' }));
  assert.equal(taken.status, 'ABORT');
  assert.equal(taken.code, 'EXISTS');
  assert.match(String(taken.error), /user ada already exists/);
  assert.deepEqual((await c.request({ action: 'get_item', item: { kind: 'user', key: 'ada' } })).item, { kind: 'user', key: 'ada', value: ada });
  assert.equal((await c.request(user('ada', { password: 'new' }, false))).status, 'OK', 'without if_absent it replaces');
  assert.deepEqual((await c.request({ action: 'get_item', item: { kind: 'user', key: 'ada' } })).item, { kind: 'user', key: 'ada', value: { password: 'new' } });
  assert.deepEqual(await c.request({ action: 'delete_item', item: { kind: 'user', key: 'ada' } }), { status: 'OK' });
  const gone = await c.request({ action: 'get_item', item: { kind: 'user', key: 'ada' } });
  assert.equal(gone.code, 'NOT_FOUND');
  assert.equal((await c.request({ action: 'delete_item', item: { kind: 'user', key: 'ada' } })).code, 'NOT_FOUND');
  // Kinds are separate namespaces, and separate from tweets.
  assert.equal((await c.request({ action: 'put_item', item: { kind: 'session', key: 'ada', value: { username: 'ada' } } })).status, 'OK');
  assert.equal((await c.request({ action: 'post', tweet: { id: 'ada', username: 'ada', content: 'hi' } })).status, 'OK');
  const check = await cluster.request({ action: 'check' });
  const parts = check.workers as { digest: string; items: number; count: number }[];
  assert.equal(parts[0]?.items, 1);
  assert.equal(parts[0]?.digest, parts[1]?.digest);
});

test('items: bad input is refused with INVALID and changes nothing', async () => {
  const cluster = await Cluster.start({ workers: 1 });
  clusters.push(cluster);
  const c = await cluster.client();
  const bad = async (body: Record<string, unknown>, re: RegExp): Promise<void> => {
    const r = await c.request(body);
    assert.equal(r.status, 'ERROR', JSON.stringify(r));
    assert.equal(r.code, 'INVALID');
    assert.match(String(r.error), re);
  };
  await bad({ action: 'put_item', item: { kind: 'secret', key: 'k', value: {} } }, /item.kind" must be one of user, session/);
  await bad({ action: 'put_item', item: { kind: 'user', key: 'k', value: 'text' } }, /item.value" must be an object/);
  await bad({ action: 'put_item', item: { kind: 'user', key: 'k', value: { big: 'x'.repeat(5000) } } }, /at most 4096/);
  await bad({ action: 'put_item', item: { kind: 'user', key: 'k', value: {} }, if_absent: 'yes' }, /if_absent" must be true or false/);
  await bad({ action: 'get_item', item: { kind: 'user' } }, /item.key/);
  await bad({ action: 'subscribe', since: -1 }, /since/);
  const check = await cluster.request({ action: 'check' });
  assert.equal((check.workers as { items: number }[])[0]?.items, 0);
});

test('items lock like tweets: a second session gets LOCKED at once; a transaction writes an item and a tweet atomically', async () => {
  const cluster = await Cluster.start({ workers: 2 });
  clusters.push(cluster);
  const s1 = await cluster.client();
  const s2 = await cluster.client();
  assert.equal((await s1.request({ action: 'begin' })).status, 'OK');
  assert.equal((await s1.request(user('bob', { v: 1 }))).status, 'OK');
  const locked = await s2.request(user('bob', { v: 2 }));
  assert.equal(locked.status, 'ABORT');
  assert.equal(locked.code, 'LOCKED');
  assert.match(String(locked.error), /user bob is locked by another transaction/);
  assert.equal((await s1.request({ action: 'commit' })).status, 'OK');

  const tx = await s2.request({
    action: 'transaction',
    ops: [
      { action: 'put_item', item: { kind: 'user', key: 'cy', value: { v: 1 } }, if_absent: true },
      { action: 'post', tweet: { id: 'cy-1', username: 'cy', content: 'first' } },
    ],
  });
  assert.deepEqual(tx.results, [{ item: { kind: 'user', key: 'cy', value: { v: 1 } } }, { tweet: (tx.results as { tweet?: unknown }[])[1]?.tweet }]);
  // One op failing (EXISTS) undoes the other.
  const failed = await s2.request({
    action: 'transaction',
    ops: [
      { action: 'post', tweet: { id: 'cy-2', username: 'cy', content: 'second' } },
      { action: 'put_item', item: { kind: 'user', key: 'cy', value: { v: 2 } }, if_absent: true },
    ],
  });
  assert.equal(failed.code, 'EXISTS');
  assert.equal((await s2.request({ action: 'get_tweet', tweet: { id: 'cy-2' } })).code, 'NOT_FOUND');
});

test('a worker joining a cluster copies the items as well as the tweets', async () => {
  const cluster = await Cluster.start({ workers: 1 });
  clusters.push(cluster);
  const c = await cluster.client();
  for (let i = 0; i < 30; i++) {
    assert.equal((await c.request(user(`u${i}`, { n: i }))).status, 'OK');
    assert.equal((await c.request({ action: 'post', tweet: { id: `t${i}`, username: `u${i}`, content: `c${i}` } })).status, 'OK');
  }
  await cluster.addWorker();
  await cluster.waitAllUp(2);
  const parts = await cluster.waitConverged();
  const full = (await cluster.request({ action: 'check' })).workers as { items: number; count: number }[];
  assert.deepEqual(
    full.map((p) => [p.items, p.count]),
    [
      [30, 30],
      [30, 30],
    ],
  );
  assert.equal(parts.length, 2);
});

/** Collects the change events a client receives. */
function feed(c: TweetdbClient): ApiReply[] {
  const events: ApiReply[] = [];
  c.onEvent = (e) => events.push(e);
  return events;
}

test('subscribe: every committed change to a tweet arrives as an event, in commit order, between replies; since replays what was missed', async () => {
  const cluster = await Cluster.start({ workers: 2 });
  clusters.push(cluster);
  const sub = await cluster.client();
  const events = feed(sub);
  const ok = await sub.request({ action: 'subscribe' });
  assert.equal(ok.status, 'OK');
  assert.equal(typeof ok.seq, 'number');
  const w = await cluster.client();
  assert.equal((await w.request({ action: 'post', tweet: { id: 'e1', username: 'eve', content: 'one' } })).status, 'OK');
  assert.equal((await w.request({ action: 'update', tweet: { id: 'e1', content: 'two' } })).status, 'OK');
  assert.equal((await w.request(user('eve', { private: true }))).status, 'OK');
  assert.equal((await w.request({ action: 'delete', tweet: { id: 'e1' } })).status, 'OK');
  assert.equal((await w.request({ action: 'post', tweet: { id: 'e1', username: 'eve', content: 'x' } })).status, 'OK');
  assert.equal((await w.request({ action: 'update', tweet: { id: 'nope', content: 'y' } })).code, 'NOT_FOUND');
  await eventually(async () => events.length >= 4, 10_000, 'four events');
  assert.deepEqual(
    events.map((e) => [e.event, (e.tweet as { id: string }).id, (e.tweet as { content?: string }).content]),
    [
      ['tweet.created', 'e1', 'one'],
      ['tweet.updated', 'e1', 'two'],
      ['tweet.deleted', 'e1', undefined],
      ['tweet.created', 'e1', 'x'],
    ],
    'items are never published, failed writes are not events',
  );
  const seqs = events.map((e) => e.seq as number);
  assert.deepEqual([...seqs].sort((a, b) => a - b), seqs);
  assert.ok(new Set(seqs).size === seqs.length);
  // A request on the subscribed connection still gets its reply in order.
  assert.equal((await sub.request({ action: 'get_tweet', tweet: { id: 'e1' } })).status, 'OK');

  // A second subscriber resuming after the first event gets the rest replayed.
  const late = await cluster.client();
  const replayed = feed(late);
  const r = await late.request({ action: 'subscribe', since: seqs[0] });
  assert.equal(r.replayed, 3);
  assert.equal(r.gap, false);
  await eventually(async () => replayed.length === 3, 5_000, 'three replayed events');
  assert.deepEqual(
    replayed.map((e) => e.seq),
    seqs.slice(1),
  );
});
