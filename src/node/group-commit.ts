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
// Writes that must be durable but that nothing urgent waits on (a worker's
// commit: its prepared record already makes it certain) are written at once,
// and ride the next fsync someone waits on, or get their own after a short
// delay: one client's next prepare then pays one fsync, not two in a row.

import type { Timer, Timers } from './env.ts';

/**
 * How soon a write must reach the disk:
 * - `now`: written at the end of this turn and fsynced at once (someone waits on it);
 * - `soon`: written at the end of this turn (reported written), durable with the next fsync,
 *   which starts at the latest SOON_SYNC_MS later;
 * - `lazy`: nobody waits on it: written with the next write, at the latest LAZY_WRITE_MS later,
 *   and never reported.
 */
export type Durability = 'now' | 'soon' | 'lazy';

/** A write nobody waits on is written at the latest this long after it arrives. */
const LAZY_WRITE_MS = 50;
/** A `soon` write waits at most this long for an fsync someone waits on before it gets its own. */
export const SOON_SYNC_MS = 5;

/** Test-only: a broken rule, to prove the simulator sees the shell (sim/sabotage). */
export type GroupCommitSabotage = 'durable_before_fsync' | null;

export class GroupCommit<T> {
  private pending: T[] = [];
  private pendingNeedsSync = false;
  private pendingSoon = false;
  private writeScheduled = false;
  private lazyTimer: Timer | null = null;
  /** Written, not yet covered by an fsync. */
  private unsynced: T[][] = [];
  /** Some batch in `unsynced` is waited on now (else they are all `soon`, and wait for soonTimer). */
  private unsyncedUrgent = false;
  private soonTimer: Timer | null = null;
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

  /** `when`: how soon it must be durable (see Durability). */
  add(item: T, when: Durability = 'now'): void {
    if (this.stopped) return;
    this.pending.push(item);
    if (when === 'lazy') {
      this.lazyTimer ??= this.timers.setTimeout(() => this.writePending(), LAZY_WRITE_MS);
      return;
    }
    if (when === 'now') this.pendingNeedsSync = true;
    else this.pendingSoon = true;
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
    const soon = this.pendingSoon;
    this.pending = [];
    this.pendingNeedsSync = false;
    this.pendingSoon = false;
    try {
      this.write(batch);
    } catch (e) {
      this.stopped = true;
      this.onFail(e);
      return;
    }
    if (!needsSync && !soon) return; // the next fsync covers it
    if (this.sabotage === 'durable_before_fsync') {
      this.onWritten(batch);
      this.onDurable(batch);
      return;
    }
    this.unsynced.push(batch);
    if (needsSync) {
      this.unsyncedUrgent = true;
      this.startSync();
    } else {
      this.soonTimer ??= this.timers.setTimeout(() => {
        this.soonTimer = null;
        this.unsyncedUrgent = true;
        this.startSync();
      }, SOON_SYNC_MS);
    }
    this.onWritten(batch);
  }

  /** Starts an fsync when none runs and something written is waited on. */
  private startSync(): void {
    if (this.syncing || this.unsynced.length === 0 || !this.unsyncedUrgent || this.stopped) return;
    this.syncing = true;
    const covered = this.unsynced;
    this.unsynced = [];
    this.unsyncedUrgent = false;
    // Every `soon` batch written so far rides this fsync: its timer is not needed any more.
    this.timers.clearTimeout(this.soonTimer);
    this.soonTimer = null;
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
    this.timers.clearTimeout(this.soonTimer);
  }
}
