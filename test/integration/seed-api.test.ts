// The seed's examples, byte for byte as SEED.txt prints them, through a raw socket.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Cluster } from '../helpers/cluster.ts';
import { rawSession, sendAndClose } from '../helpers/raw.ts';

const POST = `{
"action": "post",
"tweet": {
"id": "<unique_tweet_id>",
"username": "<user>",
"content": "<message content>"
}
}
`;
const UPDATE = `{
"action": "update",
"tweet": {
"id": "<unique_tweet_id>",
"content": "<new message content>"
}
}
`;
const DELETE = `{
"action": "delete",
"tweet": {
"id": "<unique_tweet_id>"
}
}
`;
const GET = `{
"action": "get_tweets"
}
`;

let cluster: Cluster;
before(async () => {
  cluster = await Cluster.start({ workers: 2 });
});
after(async () => {
  await cluster.stop();
});

test("each of the seed's four examples, pretty-printed, gets its documented reply and the connection closes", async () => {
  const [post] = await sendAndClose(cluster.address, POST);
  assert.equal(post?.status, 'OK');
  const t = post?.tweet as Record<string, unknown>;
  assert.equal(t.id, '<unique_tweet_id>');
  assert.equal(t.username, '<user>');
  assert.equal(t.content, '<message content>');
  assert.match(String(t.created_at), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  assert.equal(t.updated_at, null);

  const [update] = await sendAndClose(cluster.address, UPDATE);
  assert.equal(update?.status, 'OK');
  assert.equal((update?.tweet as Record<string, unknown>).content, '<new message content>');
  assert.notEqual((update?.tweet as Record<string, unknown>).updated_at, null);

  const [list] = await sendAndClose(cluster.address, GET);
  assert.equal(list?.status, 'OK');
  assert.deepEqual((list?.tweets as { id: string }[]).map((x) => x.id), ['<unique_tweet_id>']);
  assert.equal(list?.next, null);

  const [del] = await sendAndClose(cluster.address, DELETE);
  assert.deepEqual(del, { status: 'OK' });

  const [empty] = await sendAndClose(cluster.address, GET);
  assert.deepEqual(empty, { status: 'OK', tweets: [], next: null });
});

test('the four examples pasted in one burst on one connection are answered in order, each seeing the one before', async () => {
  const replies = await sendAndClose(cluster.address, POST + UPDATE + GET + DELETE + GET);
  assert.deepEqual(replies.map((r) => r.status), ['OK', 'OK', 'OK', 'OK', 'OK']);
  assert.equal(((replies[1]?.tweet) as Record<string, unknown>).content, '<new message content>');
  assert.equal((replies[2]?.tweets as unknown[]).length, 1);
  assert.deepEqual(replies[4]?.tweets, []);
});

test('many requests in one write get replies in request order with req echoed', async () => {
  let burst = '';
  for (let i = 0; i < 50; i++) burst += JSON.stringify({ action: 'post', req: i, tweet: { id: `burst-${i}`, username: 'b', content: `n${i}` } }) + ' ';
  burst += '{"action":"get_tweets","username":"b","limit":1000,"req":"last"}';
  const replies = await sendAndClose(cluster.address, burst);
  assert.equal(replies.length, 51);
  replies.slice(0, 50).forEach((r, i) => {
    assert.equal(r.req, i);
    assert.equal(r.status, 'OK');
    assert.equal((r.tweet as { id: string }).id, `burst-${i}`);
  });
  assert.equal(replies[50]?.req, 'last');
  assert.equal((replies[50]?.tweets as unknown[]).length, 50);
});

test('the connection stays open between requests until the client half-closes', async () => {
  const s = await rawSession(cluster.address);
  s.write('{"action":"get_tweet","tweet":{"id":"burst-3"}}');
  assert.equal((await s.line(0)).status, 'OK');
  s.write('{"action":"get_tweet","tweet":{"id":"no-such"}}\n');
  const nf = await s.line(1);
  assert.equal(nf.code, 'NOT_FOUND');
  assert.match(String(nf.error), /no-such/);
  assert.equal(s.socket.destroyed, false);
  s.end();
  await s.closed;
});

test('get_tweets pages newest first with a next cursor', async () => {
  const c = await cluster.client();
  for (let i = 0; i < 5; i++) assert.equal((await c.request({ action: 'post', tweet: { id: `page-${i}`, username: 'pager', content: `p${i}` } })).status, 'OK');
  const p1 = await c.request({ action: 'get_tweets', username: 'pager', limit: 2 });
  assert.deepEqual((p1.tweets as { id: string }[]).map((t) => t.id), ['page-4', 'page-3']);
  assert.equal(typeof p1.next, 'string');
  const p2 = await c.request({ action: 'get_tweets', username: 'pager', limit: 2, before: p1.next });
  assert.deepEqual((p2.tweets as { id: string }[]).map((t) => t.id), ['page-2', 'page-1']);
  const p3 = await c.request({ action: 'get_tweets', username: 'pager', limit: 2, before: p2.next });
  assert.deepEqual((p3.tweets as { id: string }[]).map((t) => t.id), ['page-0']);
  assert.equal(p3.next, null);
});

test('post without id gets a time-ordered id; a retried post is idempotent; other content is EXISTS', async () => {
  const c = await cluster.client();
  const a = await c.request({ action: 'post', tweet: { username: 'ids', content: 'first' } });
  const b = await c.request({ action: 'post', tweet: { username: 'ids', content: 'second' } });
  const ida = (a.tweet as { id: string }).id;
  const idb = (b.tweet as { id: string }).id;
  assert.ok(ida < idb, `${ida} < ${idb}`);
  const again = await c.request({ action: 'post', tweet: { id: ida, username: 'ids', content: 'first' } });
  assert.deepEqual(again, a);
  const clash = await c.request({ action: 'post', tweet: { id: ida, username: 'ids', content: 'other' } });
  assert.equal(clash.status, 'ABORT');
  assert.equal(clash.code, 'EXISTS');
});

test('username given and not the author is FORBIDDEN; unknown id is NOT_FOUND; nothing changes', async () => {
  const c = await cluster.client();
  await c.request({ action: 'post', tweet: { id: 'owned', username: 'alice', content: 'mine' } });
  const u = await c.request({ action: 'update', tweet: { id: 'owned', username: 'mallory', content: 'hijack' } });
  assert.equal(u.code, 'FORBIDDEN');
  const d = await c.request({ action: 'delete', tweet: { id: 'owned', username: 'mallory' } });
  assert.equal(d.code, 'FORBIDDEN');
  const n = await c.request({ action: 'update', tweet: { id: 'missing', content: 'x' } });
  assert.equal(n.code, 'NOT_FOUND');
  const g = await c.request({ action: 'get_tweet', tweet: { id: 'owned' } });
  assert.equal((g.tweet as { content: string }).content, 'mine');
});

test('a transaction commits all its ops atomically, or none', async () => {
  const c = await cluster.client();
  const ok = await c.request({
    action: 'transaction',
    ops: [
      { action: 'post', tweet: { id: 'tx-a', username: 't', content: 'a' } },
      { action: 'post', tweet: { id: 'tx-b', username: 't', content: 'b' } },
      { action: 'update', tweet: { id: 'tx-a', content: 'a2' } },
    ],
  });
  assert.equal(ok.status, 'OK');
  assert.equal((ok.results as unknown[]).length, 3);
  const bad = await c.request({
    action: 'transaction',
    ops: [
      { action: 'delete', tweet: { id: 'tx-a' } },
      { action: 'update', tweet: { id: 'tx-missing', content: 'x' } },
    ],
  });
  assert.equal(bad.status, 'ABORT');
  assert.equal(bad.code, 'NOT_FOUND');
  const still = await c.request({ action: 'get_tweet', tweet: { id: 'tx-a' } });
  assert.equal((still.tweet as { content: string }).content, 'a2');
  await cluster.waitConverged();
});
