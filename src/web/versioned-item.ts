// A `reply` item that many transactions change at once (an index: a post's replies, a tag's
// posts), changed safely without compare-and-set, which the store does not have. Beside the
// item lives a version token item that exists for its current version only:
//   index  {..., v}: the value, v its version
//   token  keyed per version: {n}: a random nonce
// A change takes the token as one: it deletes token v (ABORT NOT_FOUND if another change got
// in since v was read) and puts token v+1; the first change puts the index `if_absent` (ABORT
// EXISTS if another first change got in). The caller reads the index again and retries (within
// the lock timeout). Delete an index only once nothing changes it any more (its post is gone):
// a new one would start again at v 1, and a change read at an old v could take its token.

import { randomBytes } from 'node:crypto';
import type { CoordinatorPool } from '../client/pool.ts';
import { coordinatorCall } from './coordinator-call.ts';

export interface Versioned {
  v: number;
}

/** Where an index and its tokens live (their keys in the `reply` kind). */
export interface VersionedKeys {
  index: string;
  token: (v: number) => string;
}

/** The index at `key`, or null when there is none (or what is there is not one: `valid` says). */
export async function readVersioned<T extends Versioned>(pool: CoordinatorPool, key: string, valid: (v: unknown) => v is T): Promise<T | null> {
  const r = await coordinatorCall(pool, { action: 'get_item', item: { kind: 'reply', key } }, 'read', {}, ['NOT_FOUND']);
  const value = r.status === 'OK' ? (r.item as { value: unknown }).value : null;
  return valid(value) ? value : null;
}

/** The ops that replace `cur` (as read) by `next` (null: delete it), failing if it changed since it was read. */
export function replaceVersionedOps<T extends Versioned>(keys: VersionedKeys, cur: T | null, next: T | null): Record<string, unknown>[] {
  const ops: Record<string, unknown>[] = [];
  if (cur !== null) ops.push({ action: 'delete_item', item: { kind: 'reply', key: keys.token(cur.v) } });
  if (next === null) {
    if (cur !== null) ops.push({ action: 'delete_item', item: { kind: 'reply', key: keys.index } });
    return ops;
  }
  ops.push({ action: 'put_item', item: { kind: 'reply', key: keys.index, value: next }, ...(cur === null ? { if_absent: true } : {}) });
  ops.push({ action: 'put_item', item: { kind: 'reply', key: keys.token(next.v), value: { n: randomBytes(9).toString('base64url') } }, if_absent: true });
  return ops;
}
