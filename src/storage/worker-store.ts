// A worker's durable copy: the tweets, its prepared transactions, and the
// outcome of every transaction it took part in (abort tombstones included),
// each outcome written in the same SQLite transaction as its effect.
//
// Every tweet and item row carries `cseq`: the commit sequence number of the
// last commit that wrote it. A commit writes a row only where the row's cseq is
// lower than its own (or there is no row), so a learner that installed a fuzzy
// copy (pages read at different moments while writes went on) and then replays
// every commit since the copy began ends in exactly its donor's state, and
// replaying a commit twice changes nothing.

import { createHash, randomBytes } from 'node:crypto';
import { join } from 'node:path';
import type { PersistEffect, WorkerReadView, RecoveredWorker } from '../core/worker.ts';
import type { CopyRow, Cursor, Item, ItemKind, KnownConfig, Op, OpResult, Peer, Tweet } from '../wire/protocol.ts';
import { MAX_RENDERED_PAGES } from '../wire/limits.ts';
import { pageKey, tweetsPage } from '../core/render.ts';
import { evaluateIncr } from '../core/ops.ts';
import { lockKeyOf } from '../core/types.ts';
import { addColumnIfMissing, openDatabase, WalSync, type Db } from './sqlite.ts';
import { Checkpointer } from './checkpointer.ts';

/** The columns of a tweet as reads return it (cseq is the store's own, never shown). */
const TWEET = 'id, username, content, created_at, updated_at';

interface CseqRow {
  cseq: number;
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
        created_at INTEGER NOT NULL, updated_at INTEGER, cseq INTEGER NOT NULL DEFAULT 0
      ) STRICT;
      CREATE INDEX IF NOT EXISTS tweets_newest ON tweets (created_at DESC, id DESC);
      CREATE INDEX IF NOT EXISTS tweets_by_user ON tweets (username, created_at DESC, id DESC);
      CREATE TABLE IF NOT EXISTS items (kind TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL, cseq INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (kind, key)) STRICT;
      CREATE TABLE IF NOT EXISTS prepared (txid TEXT PRIMARY KEY, ops TEXT NOT NULL, at INTEGER NOT NULL, peers TEXT NOT NULL DEFAULT '[]', cseq INTEGER NOT NULL DEFAULT 0, results TEXT NOT NULL DEFAULT '[]') STRICT;
      CREATE TABLE IF NOT EXISTS outcomes (txid TEXT PRIMARY KEY, outcome TEXT NOT NULL, cseq INTEGER, at INTEGER NOT NULL, results TEXT) STRICT;
    `);
    // Data directories from before cooperative termination lack the voters of a prepared transaction.
    addColumnIfMissing(this.db, 'prepared', 'peers', `TEXT NOT NULL DEFAULT '[]'`);
    // ... and from before implicit commit, the cseq it commits with: 0, it commits only when told.
    addColumnIfMissing(this.db, 'prepared', 'cseq', 'INTEGER NOT NULL DEFAULT 0');
    addColumnIfMissing(this.db, 'prepared', 'results', `TEXT NOT NULL DEFAULT '[]'`);
    addColumnIfMissing(this.db, 'outcomes', 'results', 'TEXT');
    // Data directories from before learners lack each row's last commit: 0, older than every commit.
    addColumnIfMissing(this.db, 'tweets', 'cseq', 'INTEGER NOT NULL DEFAULT 0');
    addColumnIfMissing(this.db, 'items', 'cseq', 'INTEGER NOT NULL DEFAULT 0');
    this.q = {
      getMeta: this.db.prepare<[string], { value: string }>('SELECT value FROM meta WHERE key = ?'),
      setMeta: this.db.prepare<[string, string]>('INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value'),
      getTweet: this.db.prepare<[string], Tweet>(`SELECT ${TWEET} FROM tweets WHERE id = ?`),
      tweetCseq: this.db.prepare<[string], CseqRow>('SELECT cseq FROM tweets WHERE id = ?'),
      /** A row of a copy, as the donor held it. */
      installTweet: this.db.prepare<[string, string, string, number, number | null, number]>(
        'INSERT OR REPLACE INTO tweets (id, username, content, created_at, updated_at, cseq) VALUES (?, ?, ?, ?, ?, ?)',
      ),
      // The commit's writes, each guarded: the last parameter is the bound the row's cseq must be below.
      /** A retried post of an existing tweet leaves the stored row's content as it is; the row takes the commit's cseq. */
      postTweet: this.db.prepare<[string, string, string, number, number | null, number, number]>(
        'INSERT INTO tweets (id, username, content, created_at, updated_at, cseq) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(id) DO UPDATE SET cseq = excluded.cseq WHERE tweets.cseq < ?',
      ),
      updateTweet: this.db.prepare<[string, number, number, string, number]>('UPDATE tweets SET content = ?, updated_at = ?, cseq = ? WHERE id = ? AND cseq < ?'),
      deleteTweet: this.db.prepare<[string, number]>('DELETE FROM tweets WHERE id = ? AND cseq < ?'),
      outcome: this.db.prepare<[string], { outcome: string; cseq: number | null }>('SELECT outcome, cseq FROM outcomes WHERE txid = ?'),
      putOutcome: this.db.prepare<[string, string, number | null, number, string | null]>('INSERT OR REPLACE INTO outcomes (txid, outcome, cseq, at, results) VALUES (?, ?, ?, ?, ?)'),
      outcomeResults: this.db.prepare<[string], { results: string | null }>('SELECT results FROM outcomes WHERE txid = ?'),
      putPrepared: this.db.prepare<[string, string, number, string, number, string]>('INSERT OR REPLACE INTO prepared (txid, ops, at, peers, cseq, results) VALUES (?, ?, ?, ?, ?, ?)'),
      delPrepared: this.db.prepare<[string]>('DELETE FROM prepared WHERE txid = ?'),
      allPrepared: this.db.prepare<[], { txid: string; ops: string; peers: string; cseq: number; results: string }>('SELECT txid, ops, peers, cseq, results FROM prepared'),
      newest: this.db.prepare<[number], Tweet>(`SELECT ${TWEET} FROM tweets ORDER BY created_at DESC, id DESC LIMIT ?`),
      newestBefore: this.db.prepare<[number, number, string, number], Tweet>(
        `SELECT ${TWEET} FROM tweets WHERE created_at < ? OR (created_at = ? AND id < ?) ORDER BY created_at DESC, id DESC LIMIT ?`,
      ),
      newestOf: this.db.prepare<[string, number], Tweet>(`SELECT ${TWEET} FROM tweets WHERE username = ? ORDER BY created_at DESC, id DESC LIMIT ?`),
      newestOfBefore: this.db.prepare<[string, number, number, string, number], Tweet>(
        `SELECT ${TWEET} FROM tweets WHERE username = ? AND (created_at < ? OR (created_at = ? AND id < ?)) ORDER BY created_at DESC, id DESC LIMIT ?`,
      ),
      all: this.db.prepare<[], Tweet>(`SELECT ${TWEET} FROM tweets ORDER BY id`),
      page: this.db.prepare<[string, number], Tweet & CseqRow>(`SELECT ${TWEET}, cseq FROM tweets WHERE id > ? ORDER BY id LIMIT ?`),
      firstPage: this.db.prepare<[number], Tweet & CseqRow>(`SELECT ${TWEET}, cseq FROM tweets ORDER BY id LIMIT ?`),
      prune: this.db.prepare<[number]>('DELETE FROM outcomes WHERE at < ?'),
      getItem: this.db.prepare<[string, string], { value: string; cseq: number }>('SELECT value, cseq FROM items WHERE kind = ? AND key = ?'),
      itemCseq: this.db.prepare<[string, string], CseqRow>('SELECT cseq FROM items WHERE kind = ? AND key = ?'),
      installItem: this.db.prepare<[string, string, string, number]>('INSERT OR REPLACE INTO items (kind, key, value, cseq) VALUES (?, ?, ?, ?)'),
      putItem: this.db.prepare<[string, string, string, number, number]>(
        'INSERT INTO items (kind, key, value, cseq) VALUES (?, ?, ?, ?) ON CONFLICT(kind, key) DO UPDATE SET value = excluded.value, cseq = excluded.cseq WHERE items.cseq < ?',
      ),
      deleteItem: this.db.prepare<[string, string, number]>('DELETE FROM items WHERE kind = ? AND key = ? AND cseq < ?'),
      allItems: this.db.prepare<[], { kind: string; key: string; value: string }>('SELECT kind, key, value FROM items ORDER BY kind, key'),
      itemPage: this.db.prepare<[string, string, string, number], { kind: string; key: string; value: string; cseq: number }>(
        'SELECT kind, key, value, cseq FROM items WHERE kind > ? OR (kind = ? AND key > ?) ORDER BY kind, key LIMIT ?',
      ),
      firstItemPage: this.db.prepare<[number], { kind: string; key: string; value: string; cseq: number }>(
        'SELECT kind, key, value, cseq FROM items ORDER BY kind, key LIMIT ?',
      ),
      /** The configuration last heard of, in one statement (config, voter, removed, its voters and those catching up as JSON). */
      saveConfig: this.db.prepare<[string, string, string, string, string]>(
        `INSERT INTO meta (key, value) VALUES ('config', ?), ('voter', ?), ('removed', ?), ('config_voters', ?), ('config_catching_up', ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value`,
      ),
      /** The cluster and the coordinator obeyed, in one statement. */
      saveFence: this.db.prepare<[string, string, string]>(
        `INSERT INTO meta (key, value) VALUES ('cluster', ?), ('fence_epoch', ?), ('fence_run', ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value`,
      ),
      anyTweet: this.db.prepare<[], { one: number }>('SELECT 1 AS one FROM tweets LIMIT 1'),
      anyItem: this.db.prepare<[], { one: number }>('SELECT 1 AS one FROM items LIMIT 1'),
      anyOutcome: this.db.prepare<[], { one: number }>('SELECT 1 AS one FROM outcomes LIMIT 1'),
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
    const meta = (key: string): string | undefined => this.q.getMeta.get(key)?.value;
    const ids = (key: string): string[] => JSON.parse(meta(key) ?? '[]') as string[];
    return {
      node_id: meta('node_id') as string,
      max_cseq: this.maxCseq(),
      config: Number(meta('config') ?? '0'),
      voter: meta('voter') === '1',
      removed: meta('removed') === '1',
      // Stores from before cluster ids have none of these: no cluster, no coordinator obeyed.
      config_voters: ids('config_voters'),
      config_catching_up: ids('config_catching_up'),
      cluster: meta('cluster') ?? null,
      fence: { epoch: Number(meta('fence_epoch') ?? '0'), run: meta('fence_run') ?? '' },
      reserved: Number(meta('reserved') ?? '0'),
      proposed: meta('config_proposed') === undefined ? null : (JSON.parse(meta('config_proposed') as string) as KnownConfig),
      prepared: this.q.allPrepared.all().map((r) => ({ txid: r.txid, ops: JSON.parse(r.ops) as Op[], peers: JSON.parse(r.peers) as Peer[], cseq: r.cseq, results: JSON.parse(r.results) as OpResult[] })),
    };
  }

  /**
   * The configuration as this worker last heard it (the save_config effect). Not synced here: it
   * becomes durable with the next fsync, and the coordinator says it again in its next hello.
   */
  saveConfig(config: KnownConfig, voter: boolean, removed: boolean): void {
    this.q.saveConfig.run(String(config.n), voter ? '1' : '0', removed ? '1' : '0', JSON.stringify(config.voters), JSON.stringify(config.catching_up));
  }

  /** The newest cseq reservation a coordinator told of: not synced here (as saveConfig). */
  saveReserved(through: number): void {
    this.q.setMeta.run('reserved', String(through));
  }

  /** No tweet, item or outcome of any transaction: a store that never took part in a cluster's data. */
  isEmpty(): boolean {
    return this.q.anyTweet.get() === undefined && this.q.anyItem.get() === undefined && this.q.anyOutcome.get() === undefined && this.preparedCount() === 0;
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
            this.q.putPrepared.run(e.txid, JSON.stringify(e.ops), now, JSON.stringify(e.peers), e.cseq, JSON.stringify(e.results));
            break;
          case 'persist_commit':
            this.applyCommit(e.ops, e.cseq);
            this.q.delPrepared.run(e.txid);
            this.q.putOutcome.run(e.txid, 'commit', e.cseq, now, e.results === undefined ? null : JSON.stringify(e.results));
            break;
          case 'persist_abort':
            this.q.delPrepared.run(e.txid);
            this.q.putOutcome.run(e.txid, 'abort', null, now, null);
            break;
          case 'persist_fence':
            this.q.saveFence.run(e.cluster, String(e.epoch), e.run);
            break;
          case 'persist_proposal':
            this.q.setMeta.run('config_proposed', JSON.stringify(e.config));
            break;
        }
      }
    })();
  }

  /**
   * A commit's ops, each written only over a row whose cseq is below the commit's (or no row).
   * An op that cannot apply over the row as it is (an update or delete of a missing row) changes
   * nothing: on a voter that never happens (it voted YES on this very row), but a learner replaying
   * commits over a fuzzy copy meets it, and the commit that removed the row follows.
   */
  private applyCommit(ops: readonly Op[], cseq: number): void {
    // A transaction may write one key more than once (interactive transactions see their own
    // writes): whether the commit applies to such a key is decided once, before its first write
    // (one read), and its later writes then pass over the commit's own cseq.
    const repeated = ops.length > 1 ? repeatedKeys(ops) : null;
    for (const op of ops) {
      let bound = cseq;
      if (repeated !== null) {
        const key = lockKeyOf(op);
        let applies = repeated.get(key);
        if (applies !== undefined) {
          if (applies === null) {
            const row = this.rowCseq(op);
            applies = row === null || row < cseq;
            repeated.set(key, applies);
          }
          if (!applies) continue;
          bound = cseq + 1;
        }
      }
      this.applyOp(op, cseq, bound);
    }
  }

  commitResultsOf(txid: string): OpResult[] | null {
    const r = this.q.outcomeResults.get(txid)?.results;
    return r === undefined || r === null ? null : (JSON.parse(r) as OpResult[]);
  }

  rowCseqOf(op: Op): number {
    return this.rowCseq(op) ?? 0;
  }

  /** The cseq of the row an op writes, null when there is none. */
  private rowCseq(op: Op): number | null {
    switch (op.kind) {
      case 'post':
        return this.q.tweetCseq.get(op.tweet.id)?.cseq ?? null;
      case 'update':
      case 'delete':
        return this.q.tweetCseq.get(op.id)?.cseq ?? null;
      case 'put_item':
        return this.q.itemCseq.get(op.item.kind, op.item.key)?.cseq ?? null;
      case 'delete_item':
      case 'incr_item':
        return this.q.itemCseq.get(op.item_kind, op.key)?.cseq ?? null;
    }
  }

  /** One op of commit `cseq`, over a row whose cseq is below `bound` (or no row). */
  private applyOp(op: Op, cseq: number, bound: number): void {
    switch (op.kind) {
      case 'post': {
        const t = op.tweet;
        this.q.postTweet.run(t.id, t.username, t.content, t.created_at, t.updated_at, cseq, bound);
        break;
      }
      case 'update':
        this.q.updateTweet.run(op.content, op.at, cseq, op.id, bound);
        break;
      case 'delete':
        this.q.deleteTweet.run(op.id, bound);
        break;
      case 'put_item':
        this.q.putItem.run(op.item.kind, op.item.key, JSON.stringify(op.item.value), cseq, bound);
        break;
      case 'delete_item':
        this.q.deleteItem.run(op.item_kind, op.key, bound);
        break;
      case 'incr_item': {
        const r = this.q.getItem.get(op.item_kind, op.key);
        if (r !== undefined && r.cseq >= bound) break;
        // The same rule the worker core voted with (under the lock held since), so the same sum.
        // An incr it refuses changes nothing: a replay over a fuzzy copy can meet one (the item
        // is not what the voter saw), and a later commit of the replay brings the row right.
        const current = r === undefined ? null : { kind: op.item_kind, key: op.key, value: JSON.parse(r.value) as Record<string, unknown> };
        const outcome = evaluateIncr(current, op);
        if (!outcome.ok || outcome.next === null) break;
        const item = outcome.next as Item;
        this.q.putItem.run(item.kind, item.key, JSON.stringify(item.value), cseq, bound);
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
        rows.push({ c: `i\u0000${r.kind}\u0000${r.key}`, s: r.cseq, item: { kind: r.kind as ItemKind, key: r.key, value: JSON.parse(r.value) as Record<string, unknown> } });
      }
      if (rows.length === limit) return rows;
      after = null;
    } else {
      after = after.slice(2);
    }
    const tweets = after === null ? this.q.firstPage.all(limit - rows.length) : this.q.page.all(after, limit - rows.length);
    for (const { cseq, ...tweet } of tweets) rows.push({ c: `t\u0000${tweet.id}`, s: cseq, tweet });
    return rows;
  }

  /** A page of a full copy from another worker, each row with its cseq. The first page replaces everything held. */
  install(rows: readonly CopyRow[], reset: boolean, done: boolean, maxCseq: number): void {
    this.rendered.clear();
    this.db.transaction(() => {
      if (reset) this.db.exec('DELETE FROM tweets; DELETE FROM items');
      for (const r of rows) {
        if ('tweet' in r) {
          const t = r.tweet;
          this.q.installTweet.run(t.id, t.username, t.content, t.created_at, t.updated_at, r.s);
        } else this.q.installItem.run(r.item.kind, r.item.key, JSON.stringify(r.item.value), r.s);
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

/** The keys an op list writes more than once, each mapped to null (not yet decided). */
function repeatedKeys(ops: readonly Op[]): Map<string, boolean | null> | null {
  const seen = new Set<string>();
  let repeated: Map<string, boolean | null> | null = null;
  for (const op of ops) {
    const key = lockKeyOf(op);
    if (seen.has(key)) (repeated ??= new Map()).set(key, null);
    else seen.add(key);
  }
  return repeated;
}
