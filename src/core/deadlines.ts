// Named deadlines: what is due at which time, asked for by the tick instead of scanning every
// state for an ad-hoc deadline field. Pure: it never reads a clock, the caller passes `now`.

/**
 * At most one deadline per key. Keys are kept in the order they were first set (re-setting a key
 * keeps its place), so what falls due together is handled in the order the things were created.
 */
export class Deadlines<K> {
  private readonly at = new Map<K, number>();
  /** The earliest deadline, or null when it must be found again (after the earliest was moved or cleared). */
  private earliest: number | null = Number.POSITIVE_INFINITY;

  /** Sets (or moves) `key`'s deadline; Infinity names a deadline not running yet. */
  set(key: K, when: number): void {
    const old = this.at.get(key);
    this.at.set(key, when);
    if (this.earliest !== null && when < this.earliest) this.earliest = when;
    else if (old !== undefined && old === this.earliest && when > old) this.earliest = null;
  }

  clear(key: K): void {
    const old = this.at.get(key);
    if (old === undefined) return;
    this.at.delete(key);
    if (old === this.earliest) this.earliest = null;
  }

  get(key: K): number | undefined {
    return this.at.get(key);
  }

  has(key: K): boolean {
    return this.at.has(key);
  }

  /** The keys whose deadline is at or before `now`, in the order they were first set. They stay until set again or cleared. */
  due(now: number): K[] {
    if (now < this.next()) return [];
    const out: K[] = [];
    for (const [key, when] of this.at) if (when <= now) out.push(key);
    return out;
  }

  /** The earliest deadline (Infinity when none runs). */
  next(): number {
    if (this.earliest === null) {
      let min = Number.POSITIVE_INFINITY;
      for (const when of this.at.values()) if (when < min) min = when;
      this.earliest = min;
    }
    return this.earliest;
  }

  keys(): IterableIterator<K> {
    return this.at.keys();
  }

  get size(): number {
    return this.at.size;
  }
}
