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

// Plain JavaScript: the thread loads better-sqlite3 by absolute path, with no TypeScript loader.
const THREAD_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.lib);
const db = new Database(workerData.file);
db.pragma('busy_timeout = 5000');
const timer = setInterval(() => {
  try { db.pragma('wal_checkpoint(PASSIVE)'); } catch (e) { parentPort.postMessage({ error: String(e && e.message || e) }); }
}, workerData.intervalMs);
parentPort.on('message', (m) => {
  if (m === 'stop') { clearInterval(timer); db.close(); parentPort.close(); }
});
`;

export class Checkpointer {
  private readonly worker: Worker | null;

  /** `file` ':memory:' has no WAL: nothing runs. `onError` hears a checkpoint that failed (it is retried). */
  constructor(file: string, onError: (message: string) => void = () => undefined) {
    if (file === ':memory:') {
      this.worker = null;
      return;
    }
    const lib = createRequire(import.meta.url).resolve('better-sqlite3');
    this.worker = new Worker(THREAD_SOURCE, { eval: true, workerData: { lib, file, intervalMs: INTERVAL_MS } });
    this.worker.unref();
    this.worker.on('message', (m: { error?: string }) => {
      if (m.error !== undefined) onError(m.error);
    });
    this.worker.on('error', (e) => onError(e.message));
  }

  stop(): void {
    this.worker?.postMessage('stop');
  }
}
