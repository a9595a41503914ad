// Opening a SQLite database the way every tweetdb store needs it, and making
// its writes durable without blocking the event loop.
//
// SQLite runs in WAL mode with synchronous=NORMAL: a transaction's COMMIT
// writes its frames to the WAL file but does not fsync. The store then fsyncs
// the WAL itself, on libuv's thread pool (WalSync.sync), and only when that
// fsync has returned does the runtime tell the protocol "durable". This is the
// fsync synchronous=FULL would have done inside COMMIT, moved off the thread
// that runs the protocol, so that one fsync in flight does not stop every
// other request: whatever is written while it runs shares the next one
// (group commit). SQLite's WAL recovery keeps a prefix of the committed
// transactions (each frame's checksum chains to the one before), so a later
// transaction is never durable without the earlier ones; and in this mode
// SQLite syncs the WAL itself before any checkpoint copies it into the
// database file.

import Database from 'better-sqlite3';
import { mkdirSync, openSync, closeSync, fsyncSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';

export type Db = Database.Database;

export function openDatabase(file: string): Db {
  if (file !== ':memory:') mkdirSync(dirname(file), { recursive: true });
  const db = new Database(file);
  db.pragma('journal_mode = WAL');
  // Durability comes from WalSync below; see the comment at the top.
  db.pragma('synchronous = NORMAL');
  db.pragma('foreign_keys = ON');
  db.pragma('busy_timeout = 5000');
  if (file !== ':memory:') {
    // Checkpoints run on their own thread (src/storage/checkpointer.ts), never inside a COMMIT here.
    db.pragma('wal_autocheckpoint = 0');
    // The WAL file and the database file must survive a power loss as directory entries too.
    db.exec('BEGIN IMMEDIATE; COMMIT');
    syncDirectory(dirname(file));
  }
  return db;
}

/** An in-memory database made from another's bytes (Database#serialize), as openDatabase sets one up. */
export function openImage(image: Buffer): Db {
  const db = new Database(image);
  db.pragma('foreign_keys = ON');
  return db;
}

function syncDirectory(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** fsyncs a database's WAL file off the event loop; counts the fsyncs, and the time they took, for status and the bench. */
/** A store written by an older version lacks a column a newer one added: added with its default (names are the code's own). */
export function addColumnIfMissing(db: Db, table: string, column: string, definition: string): void {
  const cols = db.prepare<[], { name: string }>(`PRAGMA table_info(${table})`).all();
  if (!cols.some((c) => c.name === column)) db.exec(`ALTER TABLE ${table} ADD COLUMN ${column} ${definition}`);
}

export class WalSync {
  private handle: FileHandle | null = null;
  private opening: Promise<FileHandle> | null = null;
  count = 0;
  /** Milliseconds spent waiting for fsyncs to return, in total. */
  totalMs = 0;

  /** `dbFile` ':memory:' needs no sync (the simulator's stores). */
  constructor(private readonly dbFile: string) {}

  /** Resolves once everything written to the database so far is on disk. */
  async sync(): Promise<void> {
    if (this.dbFile === ':memory:') {
      this.count++;
      return;
    }
    // The WAL file lives as long as the connection; one handle serves every sync.
    this.opening ??= open(`${this.dbFile}-wal`, 'r');
    this.handle ??= await this.opening;
    const started = performance.now();
    await this.handle.datasync();
    this.totalMs += performance.now() - started;
    this.count++;
  }

  async close(): Promise<void> {
    const h = this.handle ?? (this.opening !== null ? await this.opening.catch(() => null) : null);
    this.handle = null;
    this.opening = null;
    await h?.close();
  }
}
