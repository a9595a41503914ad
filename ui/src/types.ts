// The shapes the REST API sends (the README's REST API table; docs/ARCHITECTURE.md section 9).

export interface Tweet {
  id: string;
  username: string;
  content: string;
  /** ISO 8601 */
  created_at: string;
  /** ISO 8601, or null when never edited */
  edited_at: string | null;
}

export interface TweetPage {
  tweets: Tweet[];
  /** cursor for the next (older) page, or null at the end */
  next: string | null;
}

export interface User {
  username: string;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function isTweet(v: unknown): v is Tweet {
  return (
    isRecord(v) &&
    typeof v.id === 'string' &&
    typeof v.username === 'string' &&
    typeof v.content === 'string' &&
    typeof v.created_at === 'string' &&
    (v.edited_at === null || v.edited_at === undefined || typeof v.edited_at === 'string')
  );
}

/** Normalises a tweet from the wire (edited_at may be absent on old servers). */
export function asTweet(v: unknown): Tweet | null {
  if (!isTweet(v)) return null;
  return { ...v, edited_at: v.edited_at ?? null };
}

export function isTweetPage(v: unknown): v is TweetPage {
  return (
    isRecord(v) &&
    Array.isArray(v.tweets) &&
    v.tweets.every(isTweet) &&
    (v.next === null || v.next === undefined || typeof v.next === 'string')
  );
}

export function isUser(v: unknown): v is User {
  return isRecord(v) && typeof v.username === 'string';
}

export function hasId(v: unknown): v is { id: string } {
  return isRecord(v) && (typeof v.id === 'string' || typeof v.id === 'number');
}
