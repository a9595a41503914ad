// The coordinator's durable state: its epoch (so transaction ids never repeat
// across restarts), its reservation of commit sequence numbers, the commit
// decisions not yet acknowledged by every voter (written in the background: the
// voters' prepared records carry every commit), the worker membership and the
// voting configuration. Aborts are never logged.

import { join } from 'node:path';
import type { RecoveredCoordinator } from '../core/coordinator.ts';
import { addColumnIfMissing, openDatabase, openImage, WalSync, type Db } from './sqlite.ts';
import { Checkpointer } from './checkpointer.ts';

export type CoordinatorWrite =
  | { type: 'log_commit'; txid: string; cseq: number; voters: string[]; at: number }
  | { type: 'forget_decision'; txid: string }
  | { type: 'save_member'; id: string; address: string; leaving: boolean }
  | { type: 'remove_member'; id: string }
  /** A voting set proposed, numbered, with the voters promoted and still catching up; kept as meta row 'config_proposed' (JSON). */
  | { type: 'log_config'; config: number; voters: string[]; catching_up: string[] }
  /** The proposed voting set of that number is the one in use (meta row 'config'). */
  | { type: 'commit_config'; config: number }
  /** Commit sequence numbers up to `through` may be given out: durable before any is (meta row 'cseq_reserved'). */
  | { type: 'reserve_cseq'; through: number }
  /** The cluster served and the epoch in use (meta rows 'cluster_id' and 'epoch'): durable before any worker is linked. */
  | { type: 'log_identity'; seq: number; cluster: string | null; epoch: number; recovering: 'empty' | 'behind' | null };

export class CoordinatorStore {
  private readonly db: Db;
  /** fsyncs the WAL off the event loop: a write is durable once wal.sync() resolves after it; counts and times them. */
  readonly wal: WalSync;
  private readonly checkpointer: Checkpointer;
  private readonly q;

  /** `image`: an in-memory store made from a copy of another (image()): the simulator's coordinator restored from an old copy. */
  constructor(dataDir: string, image?: Buffer) {
    const file = dataDir === ':memory:' ? ':memory:' : join(dataDir, 'coordinator.db');
    this.db = image === undefined ? openDatabase(file) : openImage(image);
    this.wal = new WalSync(file);
    this.checkpointer = new Checkpointer(file);
    this.db.exec(`
      CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) STRICT;
      CREATE TABLE IF NOT EXISTS members (id TEXT PRIMARY KEY, address TEXT NOT NULL) STRICT;
      CREATE TABLE IF NOT EXISTS decisions (txid TEXT PRIMARY KEY, cseq INTEGER NOT NULL, voters TEXT NOT NULL, at INTEGER NOT NULL) STRICT;
    `);
    // A store from before removals were kept across restarts: nobody is leaving.
    addColumnIfMissing(this.db, 'members', 'leaving', 'INTEGER NOT NULL DEFAULT 0');
    this.q = {
      getMeta: this.db.prepare<[string], { value: string }>('SELECT value FROM meta WHERE key = ?'),
      setMeta: this.db.prepare<[string, string]>('INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value'),
      delMeta: this.db.prepare<[string]>('DELETE FROM meta WHERE key = ?'),
      putDecision: this.db.prepare<[string, number, string, number]>('INSERT OR REPLACE INTO decisions (txid, cseq, voters, at) VALUES (?, ?, ?, ?)'),
      delDecision: this.db.prepare<[string]>('DELETE FROM decisions WHERE txid = ?'),
      putMember: this.db.prepare<[string, string, number]>('INSERT OR REPLACE INTO members (id, address, leaving) VALUES (?, ?, ?)'),
      delMember: this.db.prepare<[string]>('DELETE FROM members WHERE id = ?'),
    };
  }

  /**
   * Loads the state, and the epoch of this run: one above the last (the core writes it again as
   * its identity, durably, before it links any worker). `empty`: nothing at all was ever written
   * here (a new data directory, or a lost one).
   */
  recover(): RecoveredCoordinator {
    const epoch = Number(this.q.getMeta.get('epoch')?.value ?? '0') + 1;
    const cluster = this.q.getMeta.get('cluster_id')?.value ?? null;
    // No cluster yet: a new (or lost) data directory, or one that was still forming one (meta
    // 'forming'), is empty; one with members or a configuration is from before cluster ids.
    const memberCount = (this.db.prepare<[], { n: number }>('SELECT count(*) AS n FROM members').get() as { n: number }).n;
    const empty = cluster === null && (this.q.getMeta.get('forming') !== undefined || (memberCount === 0 && this.q.getMeta.get('config') === undefined));
    this.q.setMeta.run('epoch', String(epoch));
    const members = this.db
      .prepare<[], { id: string; address: string; leaving: number }>('SELECT id, address, leaving FROM members ORDER BY id')
      .all()
      .map((m) => ({ id: m.id, address: m.address, leaving: m.leaving === 1 }));
    const logged = this.q.getMeta.get('config')?.value;
    // A store that began with configurations says so (meta 'configurations'): one whose first
    // configuration was lost to a crash before its fsync has no voter, not every member as one.
    if (members.length === 0 && logged === undefined) this.q.setMeta.run('configurations', '1');
    const legacy = logged === undefined && this.q.getMeta.get('configurations') === undefined;
    const decisions = this.db
      .prepare<[], { txid: string; cseq: number; voters: string; at: number }>('SELECT * FROM decisions ORDER BY cseq')
      .all()
      .map((d) => ({ ...d, voters: JSON.parse(d.voters) as string[] }));
    // Commits are decided out of cseq order (a cseq goes out with the prepare), so a batch's last
    // is not always the highest: the kept decisions may name a higher one.
    const lastCseq = Math.max(Number(this.q.getMeta.get('last_cseq')?.value ?? '0'), ...decisions.map((d) => d.cseq));
    const proposed = this.q.getMeta.get('config_proposed')?.value;
    const recovering = this.q.getMeta.get('recovering')?.value;
    return {
      epoch,
      cluster,
      empty,
      recovering: recovering === 'empty' || recovering === 'behind' ? recovering : null,
      config_proposed: proposed === undefined ? null : (JSON.parse(proposed) as { n: number; voters: string[]; catching_up: string[] }),
      last_cseq: lastCseq,
      cseq_reserved: Number(this.q.getMeta.get('cseq_reserved')?.value ?? '0'),
      members,
      // A store from before configurations: every member votes, as configuration 1 (0 with no member).
      config: logged !== undefined ? (JSON.parse(logged) as { n: number; voters: string[]; catching_up?: string[] }) : legacy ? { n: members.length > 0 ? 1 : 0, voters: members.map((m) => m.id) } : { n: 0, voters: [] },
      decisions,
    };
  }

  /** Writes a batch in one transaction; durable once sync() resolves after it (group commit). */
  persist(writes: readonly CoordinatorWrite[]): void {
    if (writes.length === 0) return;
    this.db.transaction(() => {
      let maxCseq = -1;
      for (const w of writes) {
        switch (w.type) {
          case 'log_commit':
            this.q.putDecision.run(w.txid, w.cseq, JSON.stringify(w.voters), w.at);
            maxCseq = Math.max(maxCseq, w.cseq);
            break;
          case 'forget_decision':
            this.q.delDecision.run(w.txid);
            break;
          case 'save_member':
            this.q.putMember.run(w.id, w.address, w.leaving ? 1 : 0);
            break;
          case 'remove_member':
            this.q.delMember.run(w.id);
            break;
          case 'log_config':
            this.q.setMeta.run('config_proposed', JSON.stringify({ n: w.config, voters: w.voters, catching_up: w.catching_up }));
            break;
          case 'commit_config': {
            const proposed = this.q.getMeta.get('config_proposed')?.value;
            const p = proposed === undefined ? null : (JSON.parse(proposed) as { n: number });
            if (p !== null && p.n === w.config) this.q.setMeta.run('config', proposed as string);
            break;
          }
          case 'reserve_cseq':
            this.q.setMeta.run('cseq_reserved', String(w.through));
            break;
          case 'log_identity':
            if (w.cluster !== null) {
              this.q.setMeta.run('cluster_id', w.cluster);
              this.q.delMeta.run('forming');
            } else this.q.setMeta.run('forming', '1');
            this.q.setMeta.run('epoch', String(w.epoch));
            // Kept until the takeover is durable: a restart midway recovers again (simulator seed 802279).
            if (w.recovering !== null) this.q.setMeta.run('recovering', w.recovering);
            else this.q.delMeta.run('recovering');
            break;
        }
      }
      if (maxCseq > Number(this.q.getMeta.get('last_cseq')?.value ?? '0')) this.q.setMeta.run('last_cseq', String(maxCseq));
    })();
  }

  /** A copy of everything kept (an in-memory store's bytes): the simulator's old copies of a coordinator's data directory. */
  image(): Buffer {
    return this.db.serialize();
  }

  /**
   * For the simulator's power cuts (as WorkerStore.holdWrites): writes from here on stay in one
   * open SQLite transaction until settleWrites() keeps them (the fsync returned, or only the
   * process died) or drops them (the power went).
   */
  holdWrites(): void {
    if (!this.db.inTransaction) this.db.exec('BEGIN');
  }

  settleWrites(keep: boolean): void {
    if (this.db.inTransaction) this.db.exec(keep ? 'COMMIT' : 'ROLLBACK');
  }

  close(): void {
    this.checkpointer.stop();
    void this.wal.close();
    this.db.close();
  }
}
