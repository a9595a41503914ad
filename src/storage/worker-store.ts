// A worker's durable copy: the tweets, its prepared transactions, and the
// outcome of every transaction it took part in (abort tombstones included),
// each outcome written in the same SQLite transaction as its effect.

import { createHash, randomBytes } from 'node:crypto';
import { join } from 'node:path';
import type { PersistEffect, WorkerReadView, RecoveredWorker } from '../core/worker.ts';
import type { CopyRow, Cursor, Item, ItemKind, Op, Peer, Tweet } from '../wire/protocol.ts';
import { MAX_RENDERED_PAGES } from '../wire/limits.ts';
import { pageKey, tweetsPage } from '../core/render.ts';
import { evaluateIncr } from '../core/ops.ts';
import { openDatabase, WalSync, type Db } from './sqlite.ts';
import { Checkpointer } from './checkpointer.ts';

interface TweetRow {
  id: string;
  username: string;
  content: string;
  created_at: number;
  updated_at: number | null;
}


/** Outcome records older than this are pruned; a coordinator never re-sends a decision that old. */
export const OUTCOME_RETENTION_MS = 7 * 24 * 3600 * 1000;

export class WorkerStore implements WorkerReadView {
  private readonly db: Db;
  readonly file: string;
  /** fsyncs the WAL off the event loop: a write is durable once wal.sync() resolves after it; counts and times them. */
  readonly wal: WalSync;
  private readonly checkpointer: Checkpointer;
  private readonly q;
  /**
   * Reply lines of get_tweets, by query, valid until the data next changes: every write that
   * changes what a read sees (a commit applied, a copy installed, a write dropped) clears it.
   */
  private readonly rendered = new Map<string, string>();

  /** `dataDir` ':memory:' keeps everything in memory (the simulator). */
  constructor(dataDir: string, newNodeId: () => string = () => `w-${randomBytes(4).toString('hex')}`) {
    this.file = dataDir === ':memory:' ? ':memory:' : join(dataDir, 'worker.db');
    this.db = openDatabase(this.file);
    this.wal = new WalSync(this.file);
    this.checkpointer = new Checkpointer(this.file);
    this.db.exec(`
      CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) STRICT;
      CREATE TABLE IF NOT EXISTS tweets (
        id TEXT PRIMARY KEY, username TEXT NOT NULL, content TEXT NOT NULL,
        created_at INTEGER NOT NULL, updated_at INTEGER
      ) STRICT;
      CREATE INDEX IF NOT EXISTS tweets_newest ON tweets (created_at DESC, id DESC);
      CREATE INDEX IF NOT EXISTS tweets_by_user ON tweets (username, created_at DESC, id DESC);
      CREATE TABLE IF NOT EXISTS items (kind TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL, PRIMARY KEY (kind, key)) STRICT;
      CREATE TABLE IF NOT EXISTS prepared (txid TEXT PRIMARY KEY, ops TEXT NOT NULL, at INTEGER NOT NULL, peers TEXT NOT NULL DEFAULT '[]') STRICT;
      CREATE TABLE IF NOT EXISTS outcomes (txid TEXT PRIMARY KEY, outcome TEXT NOT NULL, cseq INTEGER, at INTEGER NOT NULL) STRICT;
    `);
    // Data directories from before cooperative termination lack the voters of a prepared transaction.
    const cols = this.db.prepare<[], { name: string }>('PRAGMA table_info(prepared)').all();
    if (!cols.some((c) => c.name === 'peers')) this.db.exec(`ALTER TABLE prepared ADD COLUMN peers TEXT NOT NULL DEFAULT '[]'`);
    this.q = {
      getMeta: this.db.prepare<[string], { value: string }>('SELECT value FROM meta WHERE key = ?'),
      setMeta: this.db.prepare<[string, string]>('INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value'),
      getTweet: this.db.prepare<[string], TweetRow>('SELECT * FROM tweets WHERE id = ?'),
      putTweet: this.db.prepare<[string, string, string, number, number | null]>(
        'INSERT INTO tweets (id, username, content, created_at, updated_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT(id) DO UPDATE SET username = excluded.username, content = excluded.content, created_at = excluded.created_at, updated_at = excluded.updated_at',
      ),
      /** A retried post of an existing tweet leaves the stored row as it is. */
      postTweet: this.db.prepare<[string, string, string, number, number | null]>(
        'INSERT INTO tweets (id, username, content, created_at, updated_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT(id) DO NOTHING',
      ),
      updateTweet: this.db.prepare<[string, number, string]>('UPDATE tweets SET content = ?, updated_at = ? WHERE id = ?'),
      deleteTweet: this.db.prepare<[string]>('DELETE FROM tweets WHERE id = ?'),
      outcome: this.db.prepare<[string], { outcome: string; cseq: number | null }>('SELECT outcome, cseq FROM outcomes WHERE txid = ?'),
      putOutcome: this.db.prepare<[string, string, number | null, number]>('INSERT OR REPLACE INTO outcomes (txid, outcome, cseq, at) VALUES (?, ?, ?, ?)'),
      putPrepared: this.db.prepare<[string, string, number, string]>('INSERT OR REPLACE INTO prepared (txid, ops, at, peers) VALUES (?, ?, ?, ?)'),
      delPrepared: this.db.prepare<[string]>('DELETE FROM prepared WHERE txid = ?'),
      allPrepared: this.db.prepare<[], { txid: string; ops: string; peers: string }>('SELECT txid, ops, peers FROM prepared'),
      newest: this.db.prepare<[number], TweetRow>('SELECT * FROM tweets ORDER BY created_at DESC, id DESC LIMIT ?'),
      newestBefore: this.db.prepare<[number, number, string, number], TweetRow>(
        'SELECT * FROM tweets WHERE created_at < ? OR (created_at = ? AND id < ?) ORDER BY created_at DESC, id DESC LIMIT ?',
      ),
      newestOf: this.db.prepare<[string, number], TweetRow>('SELECT * FROM tweets WHERE username = ? ORDER BY created_at DESC, id DESC LIMIT ?'),
      newestOfBefore: this.db.prepare<[string, number, number, string, number], TweetRow>(
        'SELECT * FROM tweets WHERE username = ? AND (created_at < ? OR (created_at = ? AND id < ?)) ORDER BY created_at DESC, id DESC LIMIT ?',
      ),
      all: this.db.prepare<[], TweetRow>('SELECT * FROM tweets ORDER BY id'),
      page: this.db.prepare<[string, number], TweetRow>('SELECT * FROM tweets WHERE id > ? ORDER BY id LIMIT ?'),
      firstPage: this.db.prepare<[number], TweetRow>('SELECT * FROM tweets ORDER BY id LIMIT ?'),
      prune: this.db.prepare<[number]>('DELETE FROM outcomes WHERE at < ?'),
      getItem: this.db.prepare<[string, string], { value: string }>('SELECT value FROM items WHERE kind = ? AND key = ?'),
      putItem: this.db.prepare<[string, string, string]>('INSERT INTO items (kind, key, value) VALUES (?, ?, ?) ON CONFLICT(kind, key) DO UPDATE SET value = excluded.value'),
      deleteItem: this.db.prepare<[string, string]>('DELETE FROM items WHERE kind = ? AND key = ?'),
      allItems: this.db.prepare<[], { kind: string; key: string; value: string }>('SELECT kind, key, value FROM items ORDER BY kind, key'),
      itemPage: this.db.prepare<[string, string, string, number], { kind: string; key: string; value: string }>(
        'SELECT kind, key, value FROM items WHERE kind > ? OR (kind = ? AND key > ?) ORDER BY kind, key LIMIT ?',
      ),
      firstItemPage: this.db.prepare<[number], { kind: string; key: string; value: string }>('SELECT kind, key, value FROM items ORDER BY kind, key LIMIT ?'),
    };
    if (this.q.getMeta.get('node_id') === undefined) {
      this.q.setMeta.run('node_id', newNodeId());
      this.q.setMeta.run('max_cseq', '0');
    }
  }

  /**
   * The highest commit sequence number applied: the outcome records carry it, so commits do not
   * rewrite a meta row each time (one page less per group commit); meta keeps it across pruning
   * and full copies.
   */
  private maxCseq(): number {
    const fromMeta = Number(this.q.getMeta.get('max_cseq')?.value ?? '0');
    const fromOutcomes = (this.db.prepare<[], { m: number | null }>('SELECT max(cseq) AS m FROM outcomes').get() as { m: number | null }).m ?? 0;
    return Math.max(fromMeta, fromOutcomes);
  }

  recover(): RecoveredWorker {
    return {
      node_id: (this.q.getMeta.get('node_id') as { value: string }).value,
      max_cseq: this.maxCseq(),
      prepared: this.q.allPrepared.all().map((r) => ({ txid: r.txid, ops: JSON.parse(r.ops) as Op[], peers: JSON.parse(r.peers) as Peer[] })),
    };
  }

  getTweet(id: string): Tweet | null {
    return this.q.getTweet.get(id) ?? null;
  }

  getItem(kind: ItemKind, key: string): Item | null {
    const r = this.q.getItem.get(kind, key);
    return r === undefined ? null : { kind, key, value: JSON.parse(r.value) as Record<string, unknown> };
  }

  outcomeOf(txid: string): 'commit' | 'abort' | null {
    const r = this.q.outcome.get(txid);
    return r === undefined ? null : (r.outcome as 'commit' | 'abort');
  }

  commitSeqOf(txid: string): number | null {
    const r = this.q.outcome.get(txid);
    return r === undefined || r.outcome !== 'commit' ? null : r.cseq;
  }

  /** Writes a batch of protocol steps in one transaction; they are durable once sync() resolves after it (group commit). */
  persist(effects: readonly PersistEffect[], now: number): void {
    if (effects.length === 0) return;
    if (effects.some((e) => e.type === 'persist_commit')) this.rendered.clear();
    this.db.transaction(() => {
      for (const e of effects) {
        switch (e.type) {
          case 'persist_prepared':
            this.q.putPrepared.run(e.txid, JSON.stringify(e.ops), now, JSON.stringify(e.peers));
            break;
          case 'persist_commit':
            for (const op of e.ops) this.applyOp(op);
            this.q.delPrepared.run(e.txid);
            this.q.putOutcome.run(e.txid, 'commit', e.cseq, now);
            break;
          case 'persist_abort':
            this.q.delPrepared.run(e.txid);
            this.q.putOutcome.run(e.txid, 'abort', null, now);
            break;
        }
      }
    })();
  }

  private applyOp(op: Op): void {
    switch (op.kind) {
      case 'post': {
        const t = op.tweet;
        this.q.postTweet.run(t.id, t.username, t.content, t.created_at, t.updated_at);
        break;
      }
      case 'update':
        this.q.updateTweet.run(op.content, op.at, op.id);
        break;
      case 'delete':
        this.q.deleteTweet.run(op.id);
        break;
      case 'put_item':
        this.q.putItem.run(op.item.kind, op.item.key, JSON.stringify(op.item.value));
        break;
      case 'delete_item':
        this.q.deleteItem.run(op.item_kind, op.key);
        break;
      case 'incr_item': {
        // The same rule the worker core voted with (under the lock held since), so the same sum.
        const outcome = evaluateIncr(this.getItem(op.item_kind, op.key), op);
        if (!outcome.ok || outcome.next === null) throw new Error(`incr_item of ${op.item_kind} ${op.key} cannot fail, yet did`);
        const item = outcome.next as Item;
        this.q.putItem.run(item.kind, item.key, JSON.stringify(item.value));
        break;
      }
    }
  }

  getTweets(limit: number, before: Cursor | null, username: string | null): Tweet[] {
    if (username === null) {
      return before === null ? this.q.newest.all(limit) : this.q.newestBefore.all(before.created_at, before.created_at, before.id, limit);
    }
    return before === null
      ? this.q.newestOf.all(username, limit)
      : this.q.newestOfBefore.all(username, before.created_at, before.created_at, before.id, limit);
  }

  /**
   * get_tweets as the client's reply line: `limit` is one more than the page (that row only says
   * whether a next page exists). Rendered once until the data changes.
   */
  tweetsReplyText(limit: number, before: Cursor | null, username: string | null): string {
    const key = pageKey({ limit, before, username });
    let text = this.rendered.get(key);
    if (text === undefined) {
      text = JSON.stringify(tweetsPage(this.getTweets(limit, before, username), limit - 1));
      if (this.rendered.size >= MAX_RENDERED_PAGES) this.rendered.clear();
      this.rendered.set(key, text);
    }
    return text;
  }

  /** Tweet count and a digest of all committed data (tweets and items): equal digests mean identical copies. */
  check(): { count: number; items: number; digest: string } {
    const h = createHash('sha256');
    let count = 0;
    for (const r of this.q.all.iterate()) {
      h.update(`${r.id}\u0000${r.username}\u0000${r.content}\u0000${r.created_at}\u0000${r.updated_at ?? ''}\n`);
      count++;
    }
    let items = 0;
    for (const r of this.q.allItems.iterate()) {
      h.update(`item\u0000${r.kind}\u0000${r.key}\u0000${r.value}\n`);
      items++;
    }
    return { count, items, digest: h.digest('hex') };
  }

  /**
   * A page of a full copy: items first (by kind and key), then tweets (by id). Each row carries
   * the cursor after which the next page starts.
   */
  snapshot(after: string | null, limit: number): CopyRow[] {
    const rows: CopyRow[] = [];
    if (after === null || after.startsWith('i\u0000')) {
      let page;
      if (after === null) page = this.q.firstItemPage.all(limit);
      else {
        const [, kind = '', key = ''] = after.split('\u0000');
        page = this.q.itemPage.all(kind, kind, key, limit);
      }
      for (const r of page) {
        rows.push({ c: `i\u0000${r.kind}\u0000${r.key}`, item: { kind: r.kind as ItemKind, key: r.key, value: JSON.parse(r.value) as Record<string, unknown> } });
      }
      if (rows.length === limit) return rows;
      after = null;
    } else {
      after = after.slice(2);
    }
    const tweets = after === null ? this.q.firstPage.all(limit - rows.length) : this.q.page.all(after, limit - rows.length);
    for (const t of tweets) rows.push({ c: `t\u0000${t.id}`, tweet: t });
    return rows;
  }

  /** A page of a full copy from another worker. The first page replaces everything held. */
  install(rows: readonly CopyRow[], reset: boolean, done: boolean, maxCseq: number): void {
    this.rendered.clear();
    this.db.transaction(() => {
      if (reset) this.db.exec('DELETE FROM tweets; DELETE FROM items');
      for (const r of rows) {
        if ('tweet' in r) {
          const t = r.tweet;
          this.q.putTweet.run(t.id, t.username, t.content, t.created_at, t.updated_at);
        } else this.q.putItem.run(r.item.kind, r.item.key, JSON.stringify(r.item.value));
      }
      if (done) this.q.setMeta.run('max_cseq', String(maxCseq));
    })();
  }

  /** Every recorded outcome (for the simulator's agreement check). */
  allOutcomes(): Map<string, 'commit' | 'abort'> {
    const rows = this.db.prepare<[], { txid: string; outcome: 'commit' | 'abort' }>('SELECT txid, outcome FROM outcomes').all();
    return new Map(rows.map((r) => [r.txid, r.outcome]));
  }

  preparedCount(): number {
    return (this.db.prepare<[], { n: number }>('SELECT count(*) AS n FROM prepared').get() as { n: number }).n;
  }

  pruneOutcomes(now: number): number {
    return this.db.transaction(() => {
      // The outcomes about to go may hold the highest commit sequence number: keep it in meta first.
      this.q.setMeta.run('max_cseq', String(this.maxCseq()));
      return this.q.prune.run(now - OUTCOME_RETENTION_MS).changes;
    })();
  }

  /**
   * For the simulator's power cuts: writes from here on stay in one open SQLite transaction (reads
   * on this connection see them, as they would see the OS's page cache) until settleWrites()
   * keeps them (the fsync returned, or only the process died) or drops them (the power went).
   */
  holdWrites(): void {
    if (!this.db.inTransaction) this.db.exec('BEGIN');
  }

  settleWrites(keep: boolean): void {
    if (!this.db.inTransaction) return;
    if (!keep) this.rendered.clear();
    this.db.exec(keep ? 'COMMIT' : 'ROLLBACK');
  }

  close(): void {
    this.checkpointer.stop();
    void this.wal.close();
    this.db.close();
  }
}
