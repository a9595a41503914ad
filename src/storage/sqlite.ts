// Opening a SQLite database the way every tweetdb store needs it: WAL, and
// synchronous=FULL so a committed transaction has been fsynced. Many protocol
// steps share one transaction (group commit) rather than weakening this.

import Database from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';

export type Db = Database.Database;

export function openDatabase(file: string): Db {
  if (file !== ':memory:') mkdirSync(dirname(file), { recursive: true });
  const db = new Database(file);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = FULL');
  db.pragma('foreign_keys = ON');
  db.pragma('busy_timeout = 5000');
  return db;
}

/** Counts fsync-bearing commits so the bench and the status can report fsyncs per commit. */
export class SyncCounter {
  count = 0;
}
