// Group commit, sized by what is waiting rather than by a timer: writes are
// applied to the store as soon as the event loop is free (one transaction for
// all that arrived in that turn), and fsynced off the event loop, one fsync at
// a time. Whatever is written while an fsync runs is covered by the next one.
// Each batch is handed back, in order, once an fsync that started after it was
// written has returned: only then may the protocol treat it as durable.
// A batch is also handed back as soon as it is written (visible to reads, not
// yet durable), for steps that need visibility but not durability.
// Writes nobody waits on (a forgotten decision) ride along with the next batch
// that needs an fsync, or are written on their own after a short delay.

import type { Timer, Timers } from './env.ts';

/** A write nobody waits on is written at the latest this long after it arrives. */
const LAZY_WRITE_MS = 50;

/** Test-only: a broken rule, to prove the simulator sees the shell (sim/sabotage). */
export type GroupCommitSabotage = 'durable_before_fsync' | null;

export class GroupCommit<T> {
  private pending: T[] = [];
  private pendingNeedsSync = false;
  private writeScheduled = false;
  private lazyTimer: Timer | null = null;
  /** Written, not yet covered by an fsync. */
  private unsynced: T[][] = [];
  private syncing = false;
  private stopped = false;

  constructor(
    private readonly timers: Timers,
    private readonly write: (batch: T[]) => void,
    /** Makes everything written so far durable, then calls done (null, or why it failed). */
    private readonly sync: (done: (err: unknown) => void) => void,
    private readonly onDurable: (batch: T[]) => void,
    private readonly onFail: (e: unknown) => void,
    private readonly onWritten: (batch: T[]) => void = () => undefined,
    private readonly sabotage: GroupCommitSabotage = null,
  ) {}

  /** `durable`: someone waits for this write to be fsynced (false: it may wait for the next fsync). */
  add(item: T, durable = true): void {
    if (this.stopped) return;
    this.pending.push(item);
    if (!durable) {
      this.lazyTimer ??= this.timers.setTimeout(() => this.writePending(), LAZY_WRITE_MS);
      return;
    }
    this.pendingNeedsSync = true;
    if (!this.writeScheduled) {
      this.writeScheduled = true;
      this.timers.setImmediate(() => this.writePending());
    }
  }

  /** Writes what is pending now (it is durable only after the next fsync). */
  writePending(): void {
    this.writeScheduled = false;
    this.timers.clearTimeout(this.lazyTimer);
    this.lazyTimer = null;
    if (this.stopped || this.pending.length === 0) return;
    const batch = this.pending;
    const needsSync = this.pendingNeedsSync;
    this.pending = [];
    this.pendingNeedsSync = false;
    try {
      this.write(batch);
    } catch (e) {
      this.stopped = true;
      this.onFail(e);
      return;
    }
    if (!needsSync) return; // the next fsync covers it
    if (this.sabotage === 'durable_before_fsync') {
      this.onWritten(batch);
      this.onDurable(batch);
      return;
    }
    this.unsynced.push(batch);
    this.startSync();
    this.onWritten(batch);
  }

  private startSync(): void {
    if (this.syncing || this.unsynced.length === 0 || this.stopped) return;
    this.syncing = true;
    const covered = this.unsynced;
    this.unsynced = [];
    this.sync((e) => {
      this.syncing = false;
      if (this.stopped) return;
      if (e !== null) {
        this.stopped = true;
        this.onFail(e);
        return;
      }
      for (const batch of covered) this.onDurable(batch);
      this.startSync();
    });
  }

  /** Stops: nothing more is written or reported. */
  stop(): void {
    this.stopped = true;
    this.timers.clearTimeout(this.lazyTimer);
  }
}
