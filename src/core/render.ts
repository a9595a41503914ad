// How stored values look to a client: times as ISO 8601, cursors as opaque strings.

import type { Cursor, Tweet } from './types.ts';

export interface TweetView {
  id: string;
  username: string;
  content: string;
  created_at: string;
  updated_at: string | null;
}

export function renderTweet(t: Tweet): TweetView {
  return {
    id: t.id,
    username: t.username,
    content: t.content,
    created_at: new Date(t.created_at).toISOString(),
    updated_at: t.updated_at === null ? null : new Date(t.updated_at).toISOString(),
  };
}

/**
 * A page of the newest tweets as the client gets it: `rows` holds up to one more than the page
 * (that one says whether a next page exists), newest first.
 */
export function tweetsPage(rows: readonly Tweet[], pageSize: number): { status: 'OK'; tweets: TweetView[]; next: string | null } {
  const page = rows.slice(0, pageSize);
  const last = page[page.length - 1];
  const next = rows.length > page.length && last !== undefined ? encodeCursor({ created_at: last.created_at, id: last.id }) : null;
  return { status: 'OK', tweets: page.map(renderTweet), next };
}

/** What names one page of get_tweets, for the copies of rendered pages kept by a worker and by the coordinator. */
export function pageKey(q: { limit: number; before: Cursor | null; username: string | null }): string {
  return `${q.limit}\u0000${q.before === null ? '' : `${q.before.created_at}\u0000${q.before.id}`}\u0000${q.username ?? '\u0001'}`;
}

/** A cursor names the last tweet of a page: the next page starts just after it (older). */
export function encodeCursor(c: Cursor): string {
  return Buffer.from(`${c.created_at}:${c.id}`, 'utf8').toString('base64url');
}

export function decodeCursor(s: string): Cursor | null {
  const text = Buffer.from(s, 'base64url').toString('utf8');
  const colon = text.indexOf(':');
  if (colon <= 0) return null;
  const created = Number(text.slice(0, colon));
  const id = text.slice(colon + 1);
  if (!Number.isSafeInteger(created) || created < 0 || id.length === 0) return null;
  if (encodeCursor({ created_at: created, id }) !== s) return null;
  return { created_at: created, id };
}
