// The index of a tag's posts (issue #15 item 1): /tag/NAME lists them without a scan. It is one
// `reply` item per tag, in the same transaction as the post that carries the tag, the edit that
// adds or removes it, and the delete of a post that carries it, through the coordinator's items API:
//   index  key `g.` + sha256(tag): {ids, ms, v}: post ids newest first, ms[k] the time of ids[k]
//          (its order and the paging cursor), v the version
//   token  key `h.` + sha256(tag) + `.` + v: {n}: exists for the current version only
// Changed like the replies index (versioned-item.ts): a change another got ahead of aborts, and
// the caller reads again and retries within the lock timeout. A tag's index is never deleted
// (a tag stays usable): one whose last post goes keeps an empty list and its version.
// What a tag is: ui/src/tokens.ts, the rule the page links tags by (case-folded, 1 to 64
// letters, marks, digits or _, not only digits; the first 10 tags of a post).
// Bound: TAG_INDEX_MAX posts per tag, the newest by time: a post's time is when its web server
// took it (the coordinator stamps created_at in the same transaction, so the two differ by the
// time a commit takes), and for an edit that adds the tag, the post's created_at. An older post
// falls off the end when a newer one comes in and does not come back when a newer one goes.
// Only posts with the ids the web makes are indexed (`k` + 26 base64url: the size bound needs
// it); posts and edits made over TCP (nc) skip the index, and the page shows a listed post only
// while its text still carries the tag.

import { createHash } from 'node:crypto';
import type { CoordinatorPool } from '../client/pool.ts';
import type { TweetView } from '../core/render.ts';
import { ITEM_VALUE_MAX_BYTES } from '../wire/limits.ts';
import { tagsOf } from '../../ui/src/tokens.ts';
import { tweetsById } from './reply-index.ts';
import { readVersioned, replaceVersionedOps, type VersionedKeys } from './versioned-item.ts';

/** Posts listed per tag: each entry is at most 44 bytes of JSON (a 27-character id, a 13-digit time). */
export const TAG_INDEX_MAX = 80;
if (TAG_INDEX_MAX * 44 + 64 > ITEM_VALUE_MAX_BYTES) throw new Error('TAG_INDEX_MAX entries must fit in an item value (ITEM_VALUE_MAX_BYTES)');

/** The ids the web gives its posts (tweets.ts idFor): the only ones indexed. */
const WEB_ID = /^k[A-Za-z0-9_-]{26}$/;
/** A page cursor: the time and id of the last post of the page before. */
export const TAG_CURSOR_PATTERN = '^[0-9]{1,15}\\.k[A-Za-z0-9_-]{26}$';

export interface TagIndex {
  ids: string[];
  ms: number[];
  v: number;
}

const digest = (tag: string): string => createHash('sha256').update(tag).digest('base64url');
const keys = (tag: string): VersionedKeys => ({ index: `g.${digest(tag)}`, token: (v) => `h.${digest(tag)}.${v}` });

function isTagIndex(v: unknown): v is TagIndex {
  const o = v as Partial<TagIndex> | null;
  return typeof o === 'object' && o !== null && Array.isArray(o.ids) && Array.isArray(o.ms) && o.ids.length === o.ms.length && typeof o.v === 'number';
}

export async function readTagIndex(pool: CoordinatorPool, tag: string): Promise<TagIndex | null> {
  return readVersioned(pool, keys(tag).index, isTagIndex);
}

/** Newest first: (ms, id) a comes before (ms, id) b. */
const ahead = (aMs: number, aId: string, bMs: number, bId: string): boolean => aMs > bMs || (aMs === bMs && aId > bId);

/** The ops that list `id` (at time `ms`) under `tag`; none when listed already, or older than all of a full list. */
export function addTagOps(tag: string, cur: TagIndex | null, id: string, ms: number): Record<string, unknown>[] {
  const idx = cur ?? { ids: [], ms: [], v: 0 };
  if (idx.ids.includes(id)) return [];
  let k = 0;
  while (k < idx.ids.length && ahead(idx.ms[k] ?? 0, idx.ids[k] ?? '', ms, id)) k++;
  if (k >= TAG_INDEX_MAX) return [];
  const ids = [...idx.ids.slice(0, k), id, ...idx.ids.slice(k)].slice(0, TAG_INDEX_MAX);
  const times = [...idx.ms.slice(0, k), ms, ...idx.ms.slice(k)].slice(0, TAG_INDEX_MAX);
  return replaceVersionedOps(keys(tag), cur, { ids, ms: times, v: idx.v + 1 });
}

/** The ops that take `id` off `tag`'s list; none when it is not listed. The index stays, empty or not. */
export function removeTagOps(tag: string, cur: TagIndex | null, id: string): Record<string, unknown>[] {
  const k = cur?.ids.indexOf(id) ?? -1;
  if (cur === null || k < 0) return [];
  return replaceVersionedOps(keys(tag), cur, { ids: cur.ids.filter((_, i) => i !== k), ms: cur.ms.filter((_, i) => i !== k), v: cur.v + 1 });
}

/**
 * The ops that move post `id` (time `ms`) from the tags of its text `was` to those of `now`
 * (either may be '' for a new or a deleted post), each changed index read just before. None for
 * a post the web did not make.
 */
export async function retagOps(pool: CoordinatorPool, id: string, ms: number, was: string, now: string): Promise<Record<string, unknown>[]> {
  if (!WEB_ID.test(id)) return [];
  const before = tagsOf(was);
  const after = tagsOf(now);
  const gone = before.filter((t) => !after.includes(t));
  const added = after.filter((t) => !before.includes(t));
  const [goneIdx, addedIdx] = await Promise.all([Promise.all(gone.map((t) => readTagIndex(pool, t))), Promise.all(added.map((t) => readTagIndex(pool, t)))]);
  return [...gone.flatMap((t, i) => removeTagOps(t, goneIdx[i] ?? null, id)), ...added.flatMap((t, i) => addTagOps(t, addedIdx[i] ?? null, id, ms))];
}

export interface TagPage {
  tweets: TweetView[];
  /** the cursor for the next page (`before`), or null at the end */
  next: string | null;
}

/** A page of the posts listed under `tag`, newest first, after cursor `before` (null: from the first). */
export async function listTagged(pool: CoordinatorPool, tag: string, before: string | null, limit: number): Promise<TagPage> {
  const idx = await readTagIndex(pool, tag);
  if (idx === null) return { tweets: [], next: null };
  let from = 0;
  if (before !== null) {
    const dot = before.indexOf('.');
    const ms = Number(before.slice(0, dot));
    const id = before.slice(dot + 1);
    from = idx.ids.findIndex((x, k) => ahead(ms, id, idx.ms[k] ?? 0, x));
    if (from < 0) return { tweets: [], next: null };
  }
  const ids = idx.ids.slice(from, from + limit);
  const last = from + ids.length - 1;
  // a post edited over TCP (which skips the index) may no longer carry the tag: not shown
  const tweets = (await tweetsById(pool, ids)).filter((t) => tagsOf(t.content).includes(tag));
  return { tweets, next: last + 1 < idx.ids.length ? `${idx.ms[last] ?? 0}.${idx.ids[last] ?? ''}` : null };
}
