// The worker's store as the reads see it: the reply line of get_tweets is
// rendered exactly as the coordinator would render it, and never outlives a
// change of the data. Each row carries the cseq of its last commit, and a
// commit writes only over older rows (a replay over a fuzzy copy, #12); old
// data directories gain that column; the configuration last heard is kept.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { WorkerStore } from '../../src/storage/worker-store.ts';
import { tweetsPage } from '../../src/core/render.ts';
import type { Op, Tweet } from '../../src/core/types.ts';

const tw = (n: number, username = 'alice'): Tweet => ({ id: `t${n}`, username, content: `c${n}`, created_at: 1_000 + n, updated_at: null });

function commit(store: WorkerStore, txid: string, tweet: Tweet): void {
  store.persist([{ type: 'persist_prepared', txid, ops: [{ kind: 'post', tweet }], peers: [], cseq: 1, results: [{ tweet }] }], 0);
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

function withDir(fn: (dir: string) => void): void {
  const dir = mkdtempSync(join(tmpdir(), 'tweetdb-store-'));
  try {
    fn(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function withStore(fn: (store: WorkerStore) => void): void {
  const store = new WorkerStore(':memory:');
  try {
    fn(store);
  } finally {
    store.close();
  }
}

let txn = 0;
function apply(store: WorkerStore, cseq: number, ops: Op[]): void {
  store.persist([{ type: 'persist_commit', txid: `x.${++txn}`, cseq, ops }], 0);
}

/** Every row with its cseq, as a copy would carry it. */
function rows(store: WorkerStore): { c: string; s: number; row: unknown }[] {
  return store.snapshot(null, 1_000).map((r) => ({ c: r.c, s: r.s, row: 'tweet' in r ? r.tweet : r.item.value }));
}

const post = (t: Tweet): Op => ({ kind: 'post', tweet: t });
const update = (id: string, content: string, at: number): Op => ({ kind: 'update', id, content, username: null, at });
const del = (id: string): Op => ({ kind: 'delete', id, username: null });
const put = (key: string, v: number): Op => ({ kind: 'put_item', item: { kind: 'like', key, value: { v } }, mode: 'replace' });
const delItem = (key: string, kind: 'like' | 'stats' = 'like'): Op => ({ kind: 'delete_item', item_kind: kind, key });
const incr = (key: string, by: number): Op => ({ kind: 'incr_item', item_kind: 'stats', key, field: 'likes', by });

test('a data directory from before row cseqs opens with every row at cseq 0, and commits write over them', () => {
  withDir((dir) => {
    // The schema as it was before #12, written by hand.
    const old = new Database(join(dir, 'worker.db'));
    old.exec(`
      CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) STRICT;
      CREATE TABLE tweets (id TEXT PRIMARY KEY, username TEXT NOT NULL, content TEXT NOT NULL, created_at INTEGER NOT NULL, updated_at INTEGER) STRICT;
      CREATE INDEX tweets_newest ON tweets (created_at DESC, id DESC);
      CREATE INDEX tweets_by_user ON tweets (username, created_at DESC, id DESC);
      CREATE TABLE items (kind TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL, PRIMARY KEY (kind, key)) STRICT;
      CREATE TABLE prepared (txid TEXT PRIMARY KEY, ops TEXT NOT NULL, at INTEGER NOT NULL, peers TEXT NOT NULL DEFAULT '[]') STRICT;
      CREATE TABLE outcomes (txid TEXT PRIMARY KEY, outcome TEXT NOT NULL, cseq INTEGER, at INTEGER NOT NULL) STRICT;
      INSERT INTO meta VALUES ('node_id', 'w-old'), ('max_cseq', '7');
      INSERT INTO tweets VALUES ('t1', 'ada', 'hello', 1000, NULL), ('t2', 'bob', 'hi', 1001, 1500);
      INSERT INTO items VALUES ('stats', 't1', '{"likes":2}');
      INSERT INTO prepared VALUES ('3.1', '[]', 0, '[]');
    `);
    old.close();

    const store = new WorkerStore(dir);
    try {
      assert.deepEqual(store.getTweet('t2'), { id: 't2', username: 'bob', content: 'hi', created_at: 1001, updated_at: 1500 }, 'reads show no cseq');
      assert.deepEqual(store.getItem('stats', 't1'), { kind: 'stats', key: 't1', value: { likes: 2 } });
      const r = store.recover();
      assert.equal(r.node_id, 'w-old');
      assert.equal(r.max_cseq, 7);
      assert.deepEqual(r.prepared.map((p) => p.txid), ['3.1']);
      assert.deepEqual({ config: r.config, voter: r.voter, removed: r.removed }, { config: 0, voter: false, removed: false }, 'no configuration heard yet');
      assert.deepEqual(rows(store).map((x) => [x.c, x.s]), [['i\u0000stats\u0000t1', 0], ['t\u0000t1', 0], ['t\u0000t2', 0]]);
      apply(store, 8, [update('t1', 'edited', 2000), incr('t1', 1)]);
      assert.equal(store.getTweet('t1')?.content, 'edited');
      assert.deepEqual(store.getItem('stats', 't1')?.value, { likes: 3 });
    } finally {
      store.close();
    }

    const db = new Database(join(dir, 'worker.db'), { readonly: true });
    try {
      for (const table of ['tweets', 'items']) {
        const col = db.prepare<[], { name: string; type: string; notnull: number; dflt_value: string }>(`PRAGMA table_info(${table})`).all().find((c) => c.name === 'cseq');
        assert.deepEqual(col && { type: col.type, notnull: col.notnull, dflt: col.dflt_value }, { type: 'INTEGER', notnull: 1, dflt: '0' }, `${table}.cseq`);
      }
      assert.deepEqual(db.prepare('SELECT id, cseq FROM tweets ORDER BY id').all(), [{ id: 't1', cseq: 8 }, { id: 't2', cseq: 0 }]);
    } finally {
      db.close();
    }
    // Opened again, there is nothing left to migrate; the rows written before the migration read as before.
    const again = new WorkerStore(dir);
    try {
      assert.equal(again.getTweet('t1')?.content, 'edited');
      assert.deepEqual(again.getItem('stats', 't1')?.value, { likes: 3 });
      assert.deepEqual(rows(again).map((x) => x.s), [8, 8, 0]);
    } finally {
      again.close();
    }
  });
});

test('the digest does not include cseq: equal rows written by different commits have equal digests', () => {
  withStore((a) =>
    withStore((b) => {
      apply(a, 1, [post(tw(1)), put('k', 1)]);
      apply(b, 5, [post(tw(1))]);
      apply(b, 6, [put('k', 1)]);
      assert.deepEqual(a.check(), b.check());
      assert.notDeepEqual(rows(a), rows(b));
    }),
  );
});

test('post: inserts where no row is; over an older row keeps its content and takes the cseq; over a newer row does nothing', () => {
  withStore((store) => {
    apply(store, 5, [post(tw(1))]);
    assert.deepEqual(rows(store), [{ c: 't\u0000t1', s: 5, row: tw(1) }]);
    apply(store, 4, [post({ ...tw(1), content: 'older' })]);
    assert.deepEqual(rows(store), [{ c: 't\u0000t1', s: 5, row: tw(1) }], 'a newer row is left alone');
    apply(store, 5, [post(tw(1))]);
    assert.deepEqual(rows(store), [{ c: 't\u0000t1', s: 5, row: tw(1) }], 'the same commit again changes nothing');
    apply(store, 7, [post({ ...tw(1), created_at: 9_999 })]);
    assert.deepEqual(rows(store), [{ c: 't\u0000t1', s: 7, row: tw(1) }], 'a retried post keeps what is stored');
  });
});

test('update: only a present row with a lower cseq; a missing tweet is no error', () => {
  withStore((store) => {
    apply(store, 3, [update('t1', 'nowhere', 30)]);
    assert.deepEqual(rows(store), [], 'an update of a missing tweet changes nothing');
    apply(store, 5, [post(tw(1))]);
    apply(store, 5, [update('t1', 'same commit', 50)]);
    apply(store, 4, [update('t1', 'older', 40)]);
    assert.equal(store.getTweet('t1')?.content, 'c1');
    apply(store, 6, [update('t1', 'newer', 60)]);
    assert.deepEqual(rows(store), [{ c: 't\u0000t1', s: 6, row: { ...tw(1), content: 'newer', updated_at: 60 } }]);
  });
});

test('delete and delete_item: only a row with a lower cseq; a missing row is no error', () => {
  withStore((store) => {
    apply(store, 1, [del('t1'), delItem('k')]);
    apply(store, 5, [post(tw(1)), put('k', 1)]);
    apply(store, 5, [del('t1'), delItem('k')]);
    apply(store, 3, [del('t1'), delItem('k')]);
    assert.equal(rows(store).length, 2, 'the same or an older commit deletes nothing');
    apply(store, 6, [del('t1'), delItem('k')]);
    assert.deepEqual(rows(store), []);
  });
});

test('put_item: inserts, or overwrites only a row with a lower cseq', () => {
  withStore((store) => {
    apply(store, 5, [put('k', 1)]);
    apply(store, 4, [put('k', 2)]);
    apply(store, 5, [put('k', 3)]);
    assert.deepEqual(rows(store), [{ c: 'i\u0000like\u0000k', s: 5, row: { v: 1 } }]);
    apply(store, 6, [put('k', 4)]);
    assert.deepEqual(rows(store), [{ c: 'i\u0000like\u0000k', s: 6, row: { v: 4 } }]);
  });
});

test('incr_item: over no row or a row with a lower cseq, never twice for one commit', () => {
  withStore((store) => {
    apply(store, 5, [incr('s', 2)]);
    assert.deepEqual(rows(store), [{ c: 'i\u0000stats\u0000s', s: 5, row: { likes: 2 } }]);
    apply(store, 5, [incr('s', 2)]);
    apply(store, 4, [incr('s', 10)]);
    assert.deepEqual(rows(store), [{ c: 'i\u0000stats\u0000s', s: 5, row: { likes: 2 } }], 'a replayed or older incr adds nothing');
    apply(store, 6, [incr('s', -1)]);
    assert.deepEqual(rows(store), [{ c: 'i\u0000stats\u0000s', s: 6, row: { likes: 1 } }]);
  });
});

test('a commit that writes one key several times applies each write once, and not at all when replayed', () => {
  withStore((store) => {
    const ops = [post(tw(1)), update('t1', 'then edited', 70), incr('s', 1), incr('s', 1), put('k', 1), delItem('k'), put('k', 2)];
    apply(store, 7, ops);
    const once = rows(store);
    assert.deepEqual(once, [
      { c: 'i\u0000like\u0000k', s: 7, row: { v: 2 } },
      { c: 'i\u0000stats\u0000s', s: 7, row: { likes: 2 } },
      { c: 't\u0000t1', s: 7, row: { ...tw(1), content: 'then edited', updated_at: 70 } },
    ]);
    apply(store, 7, ops);
    assert.deepEqual(rows(store), once);
    apply(store, 8, [del('t1'), post({ ...tw(1), content: 'posted again' }), incr('s', 1), delItem('s', 'stats'), incr('s', 5)]);
    assert.deepEqual(rows(store), [
      { c: 'i\u0000like\u0000k', s: 7, row: { v: 2 } },
      { c: 'i\u0000stats\u0000s', s: 8, row: { likes: 5 } },
      { c: 't\u0000t1', s: 8, row: { ...tw(1), content: 'posted again' } },
    ]);
  });
});

test('a copy carries each row\'s cseq, and install writes it', () => {
  withStore((donor) =>
    withStore((learner) => {
      apply(donor, 3, [post(tw(1)), incr('s', 1)]);
      apply(donor, 4, [post(tw(2)), put('k', 1)]);
      const page = donor.snapshot(null, 10);
      assert.deepEqual(page.map((r) => r.s), [4, 3, 3, 4]);
      learner.install(page, true, true, 4);
      assert.deepEqual(rows(learner), rows(donor));
      assert.deepEqual(learner.check(), donor.check());
    }),
  );
});

test('the configuration last heard survives a restart', () => {
  withDir((dir) => {
    const a = new WorkerStore(dir);
    try {
      a.saveConfig({ n: 3, voters: ['w1'], catching_up: [] }, true, false);
    } finally {
      a.close();
    }
    const b = new WorkerStore(dir);
    try {
      const r = b.recover();
      assert.deepEqual({ config: r.config, voter: r.voter, removed: r.removed }, { config: 3, voter: true, removed: false });
      b.saveConfig({ n: 4, voters: [], catching_up: [] }, false, true);
      const r2 = b.recover();
      assert.deepEqual({ config: r2.config, voter: r2.voter, removed: r2.removed }, { config: 4, voter: false, removed: true });
    } finally {
      b.close();
    }
  });
});
