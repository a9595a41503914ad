// Replies, likes and counts (issue #15 item 2), each write one atomic transaction through the
// coordinator's public API. The data model, in items beside the tweets:
//   tweet_meta  `reply` item, key the tweet's id: {to: parent id or null, n}; written with the tweet
//               by the web app, so a retried post (same id) finds it taken and cannot count twice
//   stats       counter item, key a tweet's id: {likes, replies} (incr_item only)
//   user_stats  counter item, key an account's key: {tweets} (incr_item only)
//   like        key sha256(tweet id, account key): {tweet, user, n}; at most one per user and tweet
// `n` is a random nonce per attempt: the same write retried after it committed meets a taken
// key (EXISTS) instead of counting again. Deleting a tweet deletes its meta and stats and
// takes it off its parent's and its author's counts and its parent's index of replies
// (src/web/reply-index.ts) and its tags' indexes (src/web/tag-index.ts), and deletes its own
// index, in one transaction; its replies stay
// (they show "replying to a deleted post"), and its like records stay as unread orphans: no
// index lists them, and nothing reads a like without its tweet.

import { createHash, randomBytes } from 'node:crypto';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { CoordinatorPool } from '../client/pool.ts';
import type { ApiReply } from '../client/client.ts';
import type { TweetView } from '../core/render.ts';
import type { ErrorCode } from '../wire/protocol.ts';
import { ID_MAX_CHARS, USERNAME_MAX_CHARS, WEB_LOCKED_RETRY_MS, WEB_PAGE } from '../wire/limits.ts';
import { accountKey } from './auth.ts';
import { coordinatorCall } from './coordinator-call.ts';
import { addReplyOps, dropIndexOps, readIndex, removeReplyOps } from './reply-index.ts';
import { retagOps } from './tag-index.ts';
import { ProblemError } from './problems.ts';

/** What the page shows beside a tweet: what it answers, its counts, and whether the reader likes it. */
export interface Social {
  reply_to: string | null;
  replies: number;
  likes: number;
  liked: boolean;
}

const nonce = (): string => randomBytes(9).toString('base64url');
const likeKey = (id: string, username: string): string => createHash('sha256').update(`${id}\u0000${accountKey(username)}`).digest('base64url');

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * The wait before the next try of a write that met another (LOCKED, or a reply index that moved
 * between its read and the write): jittered, so a burst spreads out instead of retrying in step,
 * doubling to 200 ms, within `budgetMs` (the lock timeout). Resolves false once it is spent.
 */
function retryBackoff(budgetMs: number): () => Promise<boolean> {
  const deadline = Date.now() + budgetMs;
  let wait = 5;
  return async () => {
    if (Date.now() + wait > deadline) return false;
    await sleep(wait / 2 + Math.random() * wait);
    wait = Math.min(200, wait * 2);
    return true;
  };
}

/**
 * Sends a transaction, retrying it while another transaction holds one of its items (LOCKED),
 * for at most `budgetMs` (the lock timeout: a holder is decided or aborted by then), with
 * retryBackoff. Safe to repeat: a LOCKED transaction wrote nothing.
 */
export async function transactionRetryingLocked(
  pool: CoordinatorPool,
  ops: Record<string, unknown>[],
  budgetMs: number,
  messages: Partial<Record<ErrorCode, string>>,
  allow: readonly ErrorCode[] = [],
): Promise<ApiReply> {
  const backoff = retryBackoff(budgetMs);
  for (;;) {
    const r = await coordinatorCall(pool, { action: 'transaction', ops }, 'write', messages, ['LOCKED', ...allow]);
    if (r.code !== 'LOCKED') return r;
    if (!(await backoff())) throw new ProblemError('LOCKED', messages.LOCKED ?? 'this post is busy right now; try again in a moment');
  }
}

async function getItem(pool: CoordinatorPool, kind: string, key: string): Promise<Record<string, unknown> | null> {
  const r = await coordinatorCall(pool, { action: 'get_item', item: { kind, key } }, 'read', {}, ['NOT_FOUND']);
  return r.status === 'OK' ? (r.item as { value: Record<string, unknown> }).value : null;
}

async function tweetExists(pool: CoordinatorPool, id: string): Promise<TweetView> {
  const r = await coordinatorCall(pool, { action: 'get_tweet', tweet: { id } }, 'read', { NOT_FOUND: `there is no post ${id} (it may have been deleted)` });
  return r.tweet as TweetView;
}

const count = (v: Record<string, unknown> | null, field: string): number => (typeof v?.[field] === 'number' ? (v[field] as number) : 0);

/** The social side of some tweets for one reader: three reads per tweet, all at once. */
export async function socialOf(pool: CoordinatorPool, ids: readonly string[], reader: string): Promise<Record<string, Social>> {
  const out: Record<string, Social> = {};
  await Promise.all(
    ids.map(async (id) => {
      const [meta, stats, like] = await Promise.all([getItem(pool, 'reply', id), getItem(pool, 'stats', id), getItem(pool, 'like', likeKey(id, reader))]);
      out[id] = { reply_to: typeof meta?.to === 'string' ? meta.to : null, replies: count(stats, 'replies'), likes: count(stats, 'likes'), liked: like !== null };
    }),
  );
  return out;
}

/**
 * Posts a tweet (a reply when `replyTo` is set) with its meta, its author's count, its place in
 * the index of each of its tags (src/web/tag-index.ts), and for a reply its parent's count and
 * its place in the parent's index (src/web/reply-index.ts), in one transaction. A retry of the
 * same id meets its meta (EXISTS): the tweet stored under it is the answer if it is the same
 * text, else the key was reused. A post whose indexes changed since they were read (NOT_FOUND
 * or EXISTS with nothing stored) reads them again and retries.
 */
export async function postTweet(pool: CoordinatorPool, id: string, username: string, content: string, replyTo: string | null, budgetMs: number): Promise<TweetView> {
  const backoff = retryBackoff(budgetMs);
  const at = Date.now();
  for (;;) {
    const ops: Record<string, unknown>[] = [
      { action: 'post', tweet: { id, username, content } },
      { action: 'put_item', item: { kind: 'reply', key: id, value: { to: replyTo, n: nonce() } }, if_absent: true },
      { action: 'incr_item', item: { kind: 'user_stats', key: accountKey(username) }, field: 'tweets', by: 1 },
    ];
    const tagged = await retagOps(pool, id, at, '', content);
    let indexed = tagged.length > 0;
    ops.push(...tagged);
    if (replyTo !== null) {
      ops.push({ action: 'incr_item', item: { kind: 'stats', key: replyTo }, field: 'replies', by: 1 });
      const listed = addReplyOps(replyTo, await readIndex(pool, replyTo), id);
      indexed ||= listed.length > 0;
      ops.push(...listed);
    }
    const r = await transactionRetryingLocked(pool, ops, budgetMs, { LOCKED: 'your earlier attempt at this post is still being settled; it was retried until the lock timeout, try again' }, ['EXISTS', 'NOT_FOUND']);
    if (r.status === 'OK') return (r.results as { tweet: TweetView }[])[0]?.tweet as TweetView;
    const stored = await coordinatorCall(pool, { action: 'get_tweet', tweet: { id } }, 'read', {}, ['NOT_FOUND']);
    const t = stored.tweet as TweetView | undefined;
    if (stored.status === 'OK' && t !== undefined && t.username === username && t.content === content) return t;
    if (stored.status !== 'OK' && indexed && (await backoff())) continue; // the index moved: read it again
    if (r.code === 'NOT_FOUND' || (stored.status !== 'OK' && indexed)) throw new ProblemError('LOCKED', 'many posts with the same tag or replies to the same post arrived at once; try again in a moment');
    throw new ProblemError('IDEMPOTENCY_KEY_REUSED', 'this Idempotency-Key was already used for a tweet with other content; use a new key for a new tweet');
  }
}

/** The ops that delete a tweet with what hangs on it (see the top of this file), read just before. */
export async function deleteOps(pool: CoordinatorPool, id: string, username: string): Promise<Record<string, unknown>[]> {
  const [meta, stats, own, tweet] = await Promise.all([
    getItem(pool, 'reply', id),
    getItem(pool, 'stats', id),
    readIndex(pool, id),
    coordinatorCall(pool, { action: 'get_tweet', tweet: { id } }, 'read', {}, ['NOT_FOUND']),
  ]);
  const ops: Record<string, unknown>[] = [{ action: 'delete', tweet: { id, username } }];
  // off its tags' lists (none when it is gone already: the delete then answers NOT_FOUND)
  if (tweet.status === 'OK') ops.push(...(await retagOps(pool, id, 0, (tweet.tweet as TweetView).content, '')));
  if (meta !== null) {
    // Only tweets posted with their meta were counted: take exactly those off the counts.
    ops.push({ action: 'delete_item', item: { kind: 'reply', key: id } });
    ops.push({ action: 'incr_item', item: { kind: 'user_stats', key: accountKey(username) }, field: 'tweets', by: -1 });
    if (typeof meta.to === 'string') {
      ops.push({ action: 'incr_item', item: { kind: 'stats', key: meta.to }, field: 'replies', by: -1 });
      ops.push(...removeReplyOps(meta.to, await readIndex(pool, meta.to), id));
    }
  }
  if (stats !== null) ops.push({ action: 'delete_item', item: { kind: 'stats', key: id } });
  ops.push(...dropIndexOps(id, own));
  return ops;
}

/**
 * Deletes a tweet with what hangs on it, in one transaction. NOT_FOUND while the tweet is still
 * there means an index it touches changed since it was read (a reply came or went): read again.
 */
export async function deleteTweet(pool: CoordinatorPool, id: string, username: string, messages: Partial<Record<ErrorCode, string>>, budgetMs: number): Promise<void> {
  const backoff = retryBackoff(budgetMs);
  for (;;) {
    const r = await coordinatorCall(pool, { action: 'transaction', ops: await deleteOps(pool, id, username) }, 'write', messages, ['NOT_FOUND', 'EXISTS']);
    if (r.status === 'OK') return;
    const still = await coordinatorCall(pool, { action: 'get_tweet', tweet: { id } }, 'read', {}, ['NOT_FOUND']);
    if (still.status !== 'OK') throw new ProblemError('NOT_FOUND', messages.NOT_FOUND ?? `there is no tweet ${id}`);
    if (!(await backoff())) throw new ProblemError('LOCKED', messages.LOCKED ?? 'this post is busy right now; try again in a moment');
  }
}

/**
 * Edits a tweet and, when its tags change, moves it between their indexes (src/web/tag-index.ts)
 * in the same transaction. An edit that keeps its tags is the one `update` it always was. An
 * index that changed between its read and the write (NOT_FOUND or EXISTS) is read again, with
 * the tweet, and the edit retried within `budgetMs`; LOCKED (someone is editing it) answers at once.
 */
export async function editTweet(pool: CoordinatorPool, id: string, username: string, content: string, messages: Partial<Record<ErrorCode, string>>, budgetMs: number): Promise<TweetView> {
  const backoff = retryBackoff(budgetMs);
  const update = { action: 'update', tweet: { id, content, username } };
  for (;;) {
    const was = (await coordinatorCall(pool, { action: 'get_tweet', tweet: { id } }, 'read', messages)).tweet as TweetView;
    const created = Date.parse(was.created_at);
    const tagged = await retagOps(pool, id, Number.isNaN(created) ? Date.now() : created, was.content, content);
    if (tagged.length === 0) return (await coordinatorCall(pool, update, 'write', messages)).tweet as TweetView;
    const r = await coordinatorCall(pool, { action: 'transaction', ops: [update, ...tagged] }, 'write', messages, ['NOT_FOUND', 'EXISTS']);
    if (r.status === 'OK') return (r.results as { tweet: TweetView }[])[0]?.tweet as TweetView;
    // the tweet is gone (the next read says so) or a tag's index moved: read both again
    if (!(await backoff())) throw new ProblemError('LOCKED', 'many posts with the same tag are being written right now; try again in a moment');
  }
}

const idParams = { type: 'object', required: ['id'], properties: { id: { type: 'string', minLength: 1, maxLength: ID_MAX_CHARS } } } as const;
const socialSchema = {
  type: 'object',
  required: ['reply_to', 'replies', 'likes', 'liked'],
  properties: { reply_to: { type: ['string', 'null'] }, replies: { type: 'integer' }, likes: { type: 'integer' }, liked: { type: 'boolean' } },
} as const;

export function socialRoutes(app: FastifyInstance, pool: CoordinatorPool, user: (req: FastifyRequest) => string, budgetMs = WEB_LOCKED_RETRY_MS): void {
  app.get<{ Querystring: { ids: string } }>(
    '/api/social',
    {
      schema: {
        querystring: { type: 'object', required: ['ids'], additionalProperties: false, properties: { ids: { type: 'string', minLength: 1, maxLength: WEB_PAGE.max * (ID_MAX_CHARS + 1) } } },
        response: { 200: { type: 'object', required: ['tweets'], properties: { tweets: { type: 'object', additionalProperties: socialSchema } } } },
      },
    },
    async (req) => {
      const ids = [...new Set(req.query.ids.split(','))];
      if (ids.length > WEB_PAGE.max || ids.some((id) => id.length === 0 || id.length > ID_MAX_CHARS)) {
        throw new ProblemError('INVALID', `ids must be 1 to ${WEB_PAGE.max} post ids, separated by commas`);
      }
      return { tweets: await socialOf(pool, ids, user(req)) };
    },
  );

  app.get<{ Params: { name: string } }>(
    '/api/user/:name',
    {
      schema: {
        params: { type: 'object', required: ['name'], properties: { name: { type: 'string', minLength: 1, maxLength: USERNAME_MAX_CHARS } } },
        response: { 200: { type: 'object', required: ['username', 'tweets'], properties: { username: { type: 'string' }, tweets: { type: 'integer' } } } },
      },
    },
    async (req) => {
      const account = await getItem(pool, 'user', accountKey(req.params.name));
      const username = typeof account?.username === 'string' ? account.username : req.params.name;
      return { username, tweets: count(await getItem(pool, 'user_stats', accountKey(username)), 'tweets') };
    },
  );

  const likeReply = { 200: { type: 'object', required: ['likes', 'liked'], properties: { likes: { type: 'integer' }, liked: { type: 'boolean' } } } } as const;
  const busy = { LOCKED: 'many people are liking this post right now; try again in a moment' };

  app.put<{ Params: { id: string } }>('/api/tweet/:id/like', { schema: { params: idParams, response: likeReply } }, async (req) => {
    const id = req.params.id;
    const username = user(req);
    await tweetExists(pool, id);
    const ops = [
      { action: 'put_item', item: { kind: 'like', key: likeKey(id, username), value: { tweet: id, user: accountKey(username), n: nonce() } }, if_absent: true },
      { action: 'incr_item', item: { kind: 'stats', key: id }, field: 'likes', by: 1 },
    ];
    // EXISTS: liked already (this attempt's earlier try, or another page): nothing counted twice.
    await transactionRetryingLocked(pool, ops, budgetMs, busy, ['EXISTS']);
    return { likes: count(await getItem(pool, 'stats', id), 'likes'), liked: true };
  });

  app.delete<{ Params: { id: string } }>('/api/tweet/:id/like', { schema: { params: idParams, response: likeReply } }, async (req) => {
    const id = req.params.id;
    await tweetExists(pool, id);
    const ops = [
      { action: 'delete_item', item: { kind: 'like', key: likeKey(id, user(req)) } },
      { action: 'incr_item', item: { kind: 'stats', key: id }, field: 'likes', by: -1 },
    ];
    // NOT_FOUND: not liked (any more): nothing to take back.
    await transactionRetryingLocked(pool, ops, budgetMs, busy, ['NOT_FOUND']);
    return { likes: count(await getItem(pool, 'stats', id), 'likes'), liked: false };
  });
}
