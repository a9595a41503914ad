// The worker's store as the reads see it: the reply line of get_tweets is
// rendered exactly as the coordinator would render it, and never outlives a
// change of the data.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { WorkerStore } from '../../src/storage/worker-store.ts';
import { tweetsPage } from '../../src/core/render.ts';
import type { Tweet } from '../../src/core/types.ts';

const tw = (n: number, username = 'alice'): Tweet => ({ id: `t${n}`, username, content: `c${n}`, created_at: 1_000 + n, updated_at: null });

function commit(store: WorkerStore, txid: string, tweet: Tweet): void {
  store.persist([{ type: 'persist_prepared', txid, ops: [{ kind: 'post', tweet }], peers: [] }], 0);
  store.persist([{ type: 'persist_commit', txid, cseq: 1, ops: [{ kind: 'post', tweet }] }], 0);
}

test('get_tweets as a reply line is the coordinator\'s rendering of the same rows, and follows every commit', () => {
  const store = new WorkerStore(':memory:');
  try {
    for (let n = 1; n <= 3; n++) commit(store, `1.${n}`, tw(n, n === 2 ? 'bob' : 'alice'));
    const expect = (limit: number, username: string | null): string => JSON.stringify(tweetsPage(store.getTweets(limit, null, username), limit - 1));
    assert.equal(store.tweetsReplyText(3, null, null), expect(3, null));
    assert.deepEqual((JSON.parse(store.tweetsReplyText(3, null, null)) as { tweets: { id: string }[] }).tweets.map((t) => t.id), ['t3', 't2']);
    assert.equal(store.tweetsReplyText(3, null, 'alice'), expect(3, 'alice'), 'each query has its own line');
    const before = store.tweetsReplyText(3, null, null);
    commit(store, '1.4', tw(4));
    assert.notEqual(store.tweetsReplyText(3, null, null), before, 'a commit is seen by the next read');
    assert.equal(store.tweetsReplyText(3, null, null), expect(3, null));
  } finally {
    store.close();
  }
});

test('a write dropped by a simulated power cut is not seen by the next read', () => {
  const store = new WorkerStore(':memory:');
  try {
    commit(store, '1.1', tw(1));
    const kept = store.tweetsReplyText(5, null, null);
    store.holdWrites();
    commit(store, '1.2', tw(2));
    assert.match(store.tweetsReplyText(5, null, null), /"t2"/, 'written, not yet fsynced: visible');
    store.settleWrites(false);
    assert.equal(store.tweetsReplyText(5, null, null), kept);
  } finally {
    store.close();
  }
});
