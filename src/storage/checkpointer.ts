// Copies a database's WAL back into the database file from a separate thread.
//
// SQLite's automatic checkpoint runs inside whichever COMMIT crosses the
// threshold, on the thread that runs the protocol: it writes megabytes and
// fsyncs twice while every request waits. Here the protocol's connection has
// automatic checkpoints off, and a second connection on a worker thread runs
// PASSIVE checkpoints (which never block a writer) a few times a second. In
// synchronous=NORMAL mode SQLite fsyncs the WAL before copying from it, so a
// checkpoint never moves a frame that is not durable into the database file.

import { Worker } from 'node:worker_threads';
import { createRequire } from 'node:module';

/** How often the thread checkpoints; an idle WAL makes it a no-op. */
const INTERVAL_MS = 250;
/**
 * The longest stop() waits for the thread to close its connection: it may still be starting
 * (tens of milliseconds) or inside one PASSIVE checkpoint. A thread that does not answer in
 * this time has died; its connection went with it.
 */
const STOP_WAIT_MS = 5_000;

// Plain JavaScript: the thread loads better-sqlite3 by absolute path, with no TypeScript loader.
const THREAD_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
// stop() is blocked on this flag: the connection is closed before the store's close returns.
const said = () => { Atomics.store(workerData.closed, 0, 1); Atomics.notify(workerData.closed, 0); };
let db = null;
try {
  const Database = require(workerData.lib);
  // The store's own connection made the file: never create one here.
  db = new Database(workerData.file, { fileMustExist: true });
  db.pragma('busy_timeout = 5000');
} catch (e) {
  parentPort.postMessage({ error: String(e && e.message || e) });
  db = null;
  said();
}
const timer = db === null ? null : setInterval(() => {
  try { db.pragma('wal_checkpoint(PASSIVE)'); } catch (e) { parentPort.postMessage({ error: String(e && e.message || e) }); }
}, workerData.intervalMs);
parentPort.on('message', (m) => {
  if (m !== 'stop') return;
  if (timer !== null) clearInterval(timer);
  try { if (db !== null) db.close(); } finally { said(); parentPort.close(); }
});
`;

export class Checkpointer {
  private readonly worker: Worker | null;
  /** Set to 1 by the thread once its connection is closed. */
  private readonly closed = new Int32Array(new SharedArrayBuffer(4));

  /** `file` ':memory:' has no WAL: nothing runs. `onError` hears a checkpoint that failed (it is retried). */
  constructor(file: string, onError: (message: string) => void = () => undefined) {
    if (file === ':memory:') {
      this.worker = null;
      return;
    }
    const lib = createRequire(import.meta.url).resolve('better-sqlite3');
    this.worker = new Worker(THREAD_SOURCE, { eval: true, workerData: { lib, file, intervalMs: INTERVAL_MS, closed: this.closed } });
    this.worker.unref();
    this.worker.on('message', (m: { error?: string }) => {
      if (m.error !== undefined) onError(m.error);
    });
    this.worker.on('error', (e) => onError(e.message));
  }

  /**
   * Returns once the thread's connection is closed, so that nothing touches the data directory
   * after the store is closed: not a checkpoint, and not the thread's first open, which would
   * create the database file again in a directory an operator or a test is removing.
   */
  stop(): void {
    if (this.worker === null) return;
    this.worker.postMessage('stop');
    // Blocking the event loop here is bounded and happens once, when a node stops.
    Atomics.wait(this.closed, 0, 0, STOP_WAIT_MS);
  }
}
