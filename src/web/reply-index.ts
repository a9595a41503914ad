// The index of a post's replies (issue #15 item 2): /t/ID lists them without a scan. It is one
// `reply` item per parent, written in the same transaction as the reply it adds (or the delete
// it takes out), through the coordinator's existing items API:
//   index  key `i.` + sha256(parent): {ids, at, v}: reply ids oldest first; at[k] is the version
//          at which ids[k] came in (the paging cursor: it survives deletes before it); v the version
//   token  key `v.` + sha256(parent) + `.` + v: {n}: exists for the current version only
// The store has no compare-and-set, so each change takes the token as one (versioned-item.ts):
// a change that another got ahead of aborts, and the caller re-reads the index and tries again.
// The keys never meet a tweet's meta item (keyed by the tweet's own id, which the web makes
// `k` + base64url) nor a tag's index (`g.` and `h.`, tag-index.ts).
// Bound: REPLY_INDEX_MAX replies per post (an item's value is at most 4 KiB). A reply past it
// is posted and counted like any other (and shows "Replying to" in timelines) but is not
// listed; it takes a slot that a deleted reply frees only if posted after the delete.

import { createHash } from 'node:crypto';
import type { CoordinatorPool } from '../client/pool.ts';
import type { TweetView } from '../core/render.ts';
import { ITEM_VALUE_MAX_BYTES } from '../wire/limits.ts';
import { coordinatorCall } from './coordinator-call.ts';
import { readVersioned, replaceVersionedOps } from './versioned-item.ts';

/** Replies listed per post: each entry is at most 41 bytes of JSON (a 27-character id, a version). */
export const REPLY_INDEX_MAX = 80;
// 80 entries of a web id (`k` + 26) and a version below 10^10, and the braces: under 4 KiB.
if (REPLY_INDEX_MAX * 41 + 64 > ITEM_VALUE_MAX_BYTES) throw new Error('REPLY_INDEX_MAX entries must fit in an item value (ITEM_VALUE_MAX_BYTES)');

export interface ReplyIndex {
  ids: string[];
  at: number[];
  v: number;
}

const digest = (parent: string): string => createHash('sha256').update(parent).digest('base64url');
const indexKey = (parent: string): string => `i.${digest(parent)}`;
const tokenKey = (parent: string, v: number): string => `v.${digest(parent)}.${v}`;

function isIndex(v: unknown): v is ReplyIndex {
  const o = v as Partial<ReplyIndex> | null;
  return (
    typeof o === 'object' && o !== null && Array.isArray(o.ids) && Array.isArray(o.at) && o.ids.length === o.at.length && typeof o.v === 'number'
  );
}

/** The post's index, or null when it has none (no reply listed yet, or deleted). */
export async function readIndex(pool: CoordinatorPool, parent: string): Promise<ReplyIndex | null> {
  return readVersioned(pool, indexKey(parent), isIndex);
}

/** The ops that replace `cur` (as read) by `next`, failing if the index changed since it was read. */
function replaceOps(parent: string, cur: ReplyIndex | null, next: ReplyIndex | null): Record<string, unknown>[] {
  return replaceVersionedOps({ index: indexKey(parent), token: (v) => tokenKey(parent, v) }, cur, next);
}

/** The ops that list `id` under `parent`; none when it is listed already or the index is full. */
export function addReplyOps(parent: string, cur: ReplyIndex | null, id: string): Record<string, unknown>[] {
  const idx = cur ?? { ids: [], at: [], v: 0 };
  if (idx.ids.includes(id) || idx.ids.length >= REPLY_INDEX_MAX) return [];
  const v = idx.v + 1;
  return replaceOps(parent, cur, { ids: [...idx.ids, id], at: [...idx.at, v], v });
}

/** The ops that take `id` off its parent's index; none when it is not listed. */
export function removeReplyOps(parent: string, cur: ReplyIndex | null, id: string): Record<string, unknown>[] {
  const k = cur?.ids.indexOf(id) ?? -1;
  if (cur === null || k < 0) return [];
  return replaceOps(parent, cur, { ids: cur.ids.filter((_, i) => i !== k), at: cur.at.filter((_, i) => i !== k), v: cur.v + 1 });
}

/** The ops that delete a post's own index (the post is being deleted). */
export function dropIndexOps(parent: string, cur: ReplyIndex | null): Record<string, unknown>[] {
  return replaceOps(parent, cur, null);
}

export interface ReplyPage {
  tweets: TweetView[];
  /** the cursor for the next page (`after`), or null at the end */
  next: string | null;
}

/** A page of a post's listed replies, oldest first, after cursor `after` (0: from the first). */
export async function listReplies(pool: CoordinatorPool, parent: string, after: number, limit: number): Promise<ReplyPage> {
  const idx = await readIndex(pool, parent);
  if (idx === null) return { tweets: [], next: null };
  const from = idx.at.findIndex((v) => v > after);
  if (from < 0) return { tweets: [], next: null };
  const ids = idx.ids.slice(from, from + limit);
  const last = from + ids.length;
  return { tweets: await tweetsById(pool, ids), next: last < idx.ids.length ? String(idx.at[last - 1]) : null };
}

/** The tweets an index lists, in its order, all read at once. */
export async function tweetsById(pool: CoordinatorPool, ids: readonly string[]): Promise<TweetView[]> {
  const read = await Promise.all(
    ids.map(async (id) => {
      const r = await coordinatorCall(pool, { action: 'get_tweet', tweet: { id } }, 'read', {}, ['NOT_FOUND']);
      // NOT_FOUND: deleted by a client that skips the index (nc); the page shows what is there
      return r.status === 'OK' ? (r.tweet as TweetView) : null;
    }),
  );
  return read.filter((t): t is TweetView => t !== null);
}
