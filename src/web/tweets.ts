// The tweet routes of the REST API: list, read, post, edit, delete. The author
// of a new tweet is the signed-in user, whatever the body says (the schema
// refuses any field but `content`); edits and deletes name the signed-in user,
// so the workers refuse them (FORBIDDEN) unless it is the author.

import { createHash, randomUUID } from 'node:crypto';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { CoordinatorPool } from '../client/pool.ts';
import type { TweetView } from '../core/render.ts';
import { coordinatorCall } from './coordinator-call.ts';
import { ProblemError } from './problems.ts';
import { deleteTweet, editTweet, postTweet } from './social.ts';
import { listReplies } from './reply-index.ts';
import { listTagged, TAG_CURSOR_PATTERN, TAG_INDEX_MAX } from './tag-index.ts';
import { TAG_MAX_CHARS, tagName } from '../../ui/src/tokens.ts';
import { CONTENT_MAX_CODE_POINTS, ID_MAX_CHARS, IDEMPOTENCY_KEY_MAX_CHARS, USERNAME_MAX_CHARS, WEB_CURSOR_MAX_CHARS, WEB_LOCKED_RETRY_MS, WEB_PAGE } from '../wire/limits.ts';

/** A tweet as the web API shows it. */
export interface WebTweet {
  id: string;
  username: string;
  content: string;
  created_at: string;
  edited_at: string | null;
}

export function webTweet(t: TweetView): WebTweet {
  return { id: String(t.id), username: t.username, content: t.content, created_at: t.created_at, edited_at: t.updated_at };
}


const contentSchema = {
  type: 'object',
  required: ['content'],
  additionalProperties: false,
  properties: { content: { type: 'string' } },
} as const;

const tweetSchema = {
  type: 'object',
  required: ['id', 'username', 'content', 'created_at', 'edited_at'],
  properties: {
    id: { type: 'string' },
    username: { type: 'string' },
    content: { type: 'string' },
    created_at: { type: 'string' },
    edited_at: { type: ['string', 'null'] },
  },
} as const;

const keyHeaders = { type: 'object', properties: { 'idempotency-key': { type: 'string', minLength: 1, maxLength: IDEMPOTENCY_KEY_MAX_CHARS, pattern: '^[\\x21-\\x7e]+$' } } } as const;

const idParams = { type: 'object', required: ['id'], properties: { id: { type: 'string', minLength: 1, maxLength: ID_MAX_CHARS } } } as const;

/** The same rule as the coordinator's, checked here so the message names the web field. */
function content(body: { content: string }): string {
  const n = [...body.content].length;
  if (body.content.trim().length === 0) throw new ProblemError('INVALID', 'a tweet needs some text: content is blank');
  if (n > CONTENT_MAX_CODE_POINTS) throw new ProblemError('INVALID', `a tweet is at most ${CONTENT_MAX_CODE_POINTS} characters; this one has ${n}`);
  return body.content;
}

/** Idempotency-Key: the same key (from the same user) always names the same tweet id, so a retry cannot post twice. */
function idFor(username: string, key: string): string {
  return `k${createHash('sha256').update(`${username}\u0000${key}`).digest('base64url').slice(0, 26)}`;
}

export function tweetRoutes(app: FastifyInstance, pool: CoordinatorPool, user: (req: FastifyRequest) => string, budgetMs = WEB_LOCKED_RETRY_MS): void {
  app.get<{ Querystring: { limit: number; before?: string; username?: string } }>(
    '/api/tweet',
    {
      schema: {
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            limit: { type: 'integer', minimum: 1, maximum: WEB_PAGE.max, default: WEB_PAGE.default },
            before: { type: 'string', minLength: 1, maxLength: WEB_CURSOR_MAX_CHARS },
            username: { type: 'string', minLength: 1, maxLength: USERNAME_MAX_CHARS },
          },
        },
        response: { 200: { type: 'object', required: ['tweets', 'next'], properties: { tweets: { type: 'array', items: tweetSchema }, next: { type: ['string', 'null'] } } } },
      },
    },
    async (req, reply) => {
      const q = req.query;
      const r = await coordinatorCall(pool, { action: 'get_tweets', limit: q.limit, before: q.before ?? null, username: q.username ?? null }, 'read', {
        INVALID: 'before must be the next cursor of an earlier page',
      });
      const next = r.next as string | null;
      if (next !== null) {
        const params = new URLSearchParams({ limit: String(q.limit), before: next });
        if (q.username !== undefined) params.set('username', q.username);
        reply.header('link', `</api/tweet?${params.toString()}>; rel="next"`);
      }
      return { tweets: (r.tweets as TweetView[]).map(webTweet), next };
    },
  );

  app.get<{ Params: { id: string } }>('/api/tweet/:id', { schema: { params: idParams, response: { 200: tweetSchema } } }, async (req) => {
    const r = await coordinatorCall(pool, { action: 'get_tweet', tweet: { id: req.params.id } }, 'read', { NOT_FOUND: `there is no tweet ${req.params.id}` });
    return webTweet(r.tweet as TweetView);
  });

  app.get<{ Params: { id: string }; Querystring: { limit: number; after?: string } }>(
    '/api/tweet/:id/replies',
    {
      schema: {
        params: idParams,
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            limit: { type: 'integer', minimum: 1, maximum: WEB_PAGE.max, default: WEB_PAGE.default },
            after: { type: 'string', pattern: '^[0-9]{1,15}$' },
          },
        },
        response: { 200: { type: 'object', required: ['tweets', 'next'], properties: { tweets: { type: 'array', items: tweetSchema }, next: { type: ['string', 'null'] } } } },
      },
    },
    async (req, reply) => {
      const { id } = req.params;
      await coordinatorCall(pool, { action: 'get_tweet', tweet: { id } }, 'read', { NOT_FOUND: `there is no tweet ${id}` });
      const page = await listReplies(pool, id, Number(req.query.after ?? '0'), req.query.limit);
      if (page.next !== null) {
        const params = new URLSearchParams({ limit: String(req.query.limit), after: page.next });
        reply.header('link', `</api/tweet/${encodeURIComponent(id)}/replies?${params.toString()}>; rel="next"`);
      }
      return { tweets: page.tweets.map(webTweet), next: page.next };
    },
  );

  app.get<{ Params: { name: string }; Querystring: { limit: number; before?: string } }>(
    '/api/tag/:name',
    {
      schema: {
        // a tag of TAG_MAX_CHARS code points, each up to 2 UTF-16 units; the rule itself is tagName's
        params: { type: 'object', required: ['name'], properties: { name: { type: 'string', minLength: 1, maxLength: 2 * TAG_MAX_CHARS } } },
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            limit: { type: 'integer', minimum: 1, maximum: WEB_PAGE.max, default: WEB_PAGE.default },
            before: { type: 'string', pattern: TAG_CURSOR_PATTERN },
          },
        },
        response: {
          200: { type: 'object', required: ['tag', 'tweets', 'next', 'max'], properties: { tag: { type: 'string' }, tweets: { type: 'array', items: tweetSchema }, next: { type: ['string', 'null'] }, max: { type: 'integer' } } },
        },
      },
    },
    async (req, reply) => {
      const tag = tagName(req.params.name);
      if (tag === null) throw new ProblemError('INVALID', `#${req.params.name} is not a tag: a tag is 1 to ${TAG_MAX_CHARS} letters, digits or _, and not only digits`);
      const page = await listTagged(pool, tag, req.query.before ?? null, req.query.limit);
      if (page.next !== null) {
        const params = new URLSearchParams({ limit: String(req.query.limit), before: page.next });
        reply.header('link', `</api/tag/${encodeURIComponent(tag)}?${params.toString()}>; rel="next"`);
      }
      // max: the page says that only the newest this many posts of a tag are listed
      return { tag, tweets: page.tweets.map(webTweet), next: page.next, max: TAG_INDEX_MAX };
    },
  );

  app.post<{ Body: { content: string } }>(
    '/api/tweet',
    {
      schema: {
        body: contentSchema,
        headers: keyHeaders,
        response: { 201: tweetSchema },
      },
    },
    async (req, reply) => {
      const username = user(req);
      const key = req.headers['idempotency-key'];
      // The web names every tweet itself (its meta item is keyed by the id, in the same transaction).
      const id = idFor(username, typeof key === 'string' ? key : `\u0000${randomUUID()}`);
      const t = webTweet(await postTweet(pool, id, username, content(req.body), null, budgetMs));
      return reply.code(201).header('location', `/api/tweet/${encodeURIComponent(t.id)}`).send(t);
    },
  );

  app.post<{ Params: { id: string }; Body: { content: string } }>(
    '/api/tweet/:id/reply',
    {
      schema: {
        params: idParams,
        body: contentSchema,
        headers: keyHeaders,
        response: { 201: tweetSchema },
      },
    },
    async (req, reply) => {
      const username = user(req);
      const parent = req.params.id;
      const text = content(req.body);
      await coordinatorCall(pool, { action: 'get_tweet', tweet: { id: parent } }, 'read', { NOT_FOUND: `there is no post ${parent} to reply to (it may have been deleted)` });
      const key = req.headers['idempotency-key'];
      const id = idFor(username, typeof key === 'string' ? key : `\u0000${randomUUID()}`);
      const t = webTweet(await postTweet(pool, id, username, text, parent, budgetMs));
      return reply.code(201).header('location', `/api/tweet/${encodeURIComponent(t.id)}`).send(t);
    },
  );

  app.put<{ Params: { id: string }; Body: { content: string } }>(
    '/api/tweet/:id',
    { schema: { params: idParams, body: contentSchema, response: { 200: tweetSchema } } },
    async (req) => {
      const id = req.params.id;
      const t = await editTweet(pool, id, user(req), content(req.body), {
        NOT_FOUND: `there is no tweet ${id} (it may have been deleted)`,
        FORBIDDEN: 'only the author of a tweet can edit it',
        LOCKED: 'someone is editing this tweet right now; try again in a moment',
      }, budgetMs);
      return webTweet(t);
    },
  );

  app.delete<{ Params: { id: string } }>('/api/tweet/:id', { schema: { params: idParams } }, async (req, reply) => {
    const id = req.params.id;
    await deleteTweet(pool, id, user(req), {
      NOT_FOUND: `there is no tweet ${id} (it may have been deleted already)`,
      FORBIDDEN: 'only the author of a tweet can delete it',
      LOCKED: 'someone is editing this tweet right now; try again in a moment',
    }, budgetMs);
    return reply.code(204).send();
  });
}
