// Exclusive, no-wait, per-item locks. A request for a held lock is refused at
// once (the caller answers LOCKED); nobody ever waits, so there are no deadlocks.

import { assert } from './assert.ts';

/**
 * Invariants:
 * - lock.index: the two indexes agree: a key is held by a transaction exactly when it is among
 *   that transaction's keys;
 * - lock.holder (checked by WorkerCore.invariants): every holder is a transaction the worker
 *   still has, neither aborting nor applied.
 */
export class LockTable {
  private readonly holders = new Map<string, string>();
  private readonly byTxn = new Map<string, Set<string>>();
  /** Told of every lock granted (the simulator checks that no prepared lock was given away). */
  observer: ((key: string, txid: string) => void) | null = null;

  /** Takes every key for txid, or none of them. Returns the first key held by another transaction. */
  acquireAll(txid: string, keys: readonly string[]): { ok: true } | { ok: false; key: string } {
    for (const key of keys) {
      const holder = this.holders.get(key);
      if (holder !== undefined && holder !== txid) return { ok: false, key };
    }
    let held = this.byTxn.get(txid);
    if (held === undefined) {
      held = new Set();
      this.byTxn.set(txid, held);
    }
    for (const key of keys) {
      if (this.observer !== null && this.holders.get(key) !== txid) this.observer(key, txid);
      this.holders.set(key, txid);
      held.add(key);
    }
    return { ok: true };
  }

  releaseAll(txid: string): void {
    const held = this.byTxn.get(txid);
    if (held === undefined) return;
    for (const key of held) {
      assert(this.holders.get(key) === txid, () => `lock ${key} is not held by ${txid}`);
      this.holders.delete(key);
    }
    this.byTxn.delete(txid);
  }

  holderOf(key: string): string | undefined {
    return this.holders.get(key);
  }

  keysOf(txid: string): string[] {
    return [...(this.byTxn.get(txid) ?? [])];
  }

  get size(): number {
    return this.holders.size;
  }

  /** Every held lock, as [key, holder]. */
  entries(): IterableIterator<[string, string]> {
    return this.holders.entries();
  }

  invariants(): void {
    let listed = 0;
    for (const [txid, keys] of this.byTxn) {
      for (const key of keys) {
        const holder = this.holders.get(key);
        assert(holder === txid, () => `lock.index: ${txid} lists ${key}, which is held by ${holder ?? 'nobody'}`);
      }
      listed += keys.size;
    }
    // Every listed key is held by its lister, so equal counts mean no key is held unlisted.
    assert(listed === this.holders.size, () => `lock.index: ${this.holders.size} locks held, ${listed} listed by their holders`);
  }
}
