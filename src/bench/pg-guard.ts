// Makes sure the comparison's servers and temp directory go away whatever
// happens: the normal path stops them in order; SIGINT/SIGTERM abort the run
// and then clean up (a second signal forces it at once); and a process exit
// that skips both (someone calls process.exit) gets a synchronous last resort.

import { readFileSync, rmSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import type { PgServer } from './pg-cluster.ts';
import { PgBenchError, asError } from './pg-errors.ts';

const SIGNALS: readonly NodeJS.Signals[] = ['SIGINT', 'SIGTERM'];
/** How long the synchronous last resort waits for the servers to finish their immediate shutdown. */
const SYNC_STOP_WAIT_MS = 5_000;

function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/** Whether `pid` is still a live process. On Linux a zombie (exited, not yet reaped by us) counts as gone. */
function aliveSync(pid: number): boolean {
  if (process.platform === 'linux') {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      return stat.slice(stat.lastIndexOf(') ') + 2)[0] !== 'Z';
    } catch {
      return false;
    }
  }
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

export class PairGuard {
  /** Every server spawned for the pair, registered before it is ready. */
  readonly servers: PgServer[] = [];
  private readonly controller = new AbortController();
  private signalled: NodeJS.Signals | null = null;
  private cleaned = false;

  constructor(
    readonly dir: string,
    private readonly log: (line: string) => void,
  ) {
    for (const s of SIGNALS) process.on(s, this.onSignal);
    process.on('exit', this.onExit);
  }

  /** Aborted on the first SIGINT/SIGTERM: setup and the run stop and unwind to cleanup. */
  get signal(): AbortSignal {
    return this.controller.signal;
  }

  get interruptedBy(): NodeJS.Signals | null {
    return this.signalled;
  }

  private readonly onSignal = (sig: NodeJS.Signals): void => {
    if (this.signalled === null) {
      this.signalled = sig;
      this.log(`${sig}: stopping the PostgreSQL comparison and removing ${this.dir} (${sig} again forces it)`);
      this.controller.abort(new PgBenchError('INTERRUPTED', `${sig} during the PostgreSQL comparison`));
      return;
    }
    this.log(`${sig} again: stopping PostgreSQL now`);
    this.cleanupSync();
    this.reraise();
  };

  private readonly onExit = (): void => {
    this.cleanupSync();
  };

  private uninstall(): void {
    for (const s of SIGNALS) process.off(s, this.onSignal);
    process.off('exit', this.onExit);
  }

  /**
   * The orderly cleanup: stops every server (bounded, see PgServer.stop),
   * removes the directory, uninstalls the hooks. Returns what could not be
   * cleaned, as sentences naming what to remove by hand; never throws.
   */
  async cleanup(): Promise<string[]> {
    if (this.cleaned) return [];
    const problems: string[] = [];
    const stops = await Promise.allSettled(this.servers.map((s) => s.stop()));
    for (const r of stops) if (r.status === 'rejected') problems.push(asError(r.reason).message);
    if (problems.length === 0) {
      try {
        await rm(this.dir, { recursive: true, force: true, maxRetries: 5, retryDelay: 100 });
      } catch (e) {
        problems.push(`could not remove ${this.dir} (${asError(e).message}); remove it with \`rm -rf ${this.dir}\``);
      }
    } else {
      // A server still running could be writing there: keep its files and say so.
      problems.push(`left ${this.dir} in place because a server did not stop; remove it with \`rm -rf ${this.dir}\` once it has`);
    }
    this.cleaned = true;
    this.uninstall();
    return problems;
  }

  /**
   * The synchronous last resort (process exit, or a second signal): immediate
   * shutdown of every server, a bounded wait for them to go, then the directory.
   */
  cleanupSync(): void {
    if (this.cleaned) return;
    this.cleaned = true;
    const running = this.servers.filter((s) => s.running);
    for (const s of running) s.stopNow();
    const deadline = Date.now() + SYNC_STOP_WAIT_MS;
    while (running.some((s) => aliveSync(s.pid)) && Date.now() < deadline) sleepSync(50);
    try {
      rmSync(this.dir, { recursive: true, force: true, maxRetries: 5, retryDelay: 100 });
    } catch (e) {
      process.stderr.write(`tweetdb bench: could not remove ${this.dir} (${asError(e).message}); remove it with \`rm -rf ${this.dir}\`\n`);
    }
    this.uninstall();
  }

  /**
   * After cleanup, lets a signal do what it would have done without us: if
   * nobody else listens for it, raise it again (the default action ends the
   * process with the usual status). With other listeners, they decide.
   */
  reraise(): void {
    const sig = this.signalled;
    this.uninstall();
    if (sig !== null && process.listenerCount(sig) === 0) process.kill(process.pid, sig);
  }
}
