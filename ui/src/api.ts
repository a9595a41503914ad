// The REST client. Every call goes through request(): JSON in and out, errors
// turned into ApiError (the server's problem+json) or NetworkError (no answer).
// A 401 anywhere except the sign-in calls means the session ended; the app
// registers one handler for that with onSessionEnded().

import { asTweet, isTweetPage, isUser, type Tweet, type TweetPage, type User } from './types.js';

export type ErrorCode =
  | 'INVALID'
  | 'UNAUTHENTICATED'
  | 'FORBIDDEN'
  | 'NOT_FOUND'
  | 'EXISTS'
  | 'LOCKED'
  | 'RATE_LIMITED'
  | 'UNAVAILABLE'
  | 'UNKNOWN_OUTCOME'
  | 'TIMEOUT'
  | 'TOO_LARGE'
  | 'CROSS_ORIGIN'
  | 'INTERNAL';

/** The server answered with an error (RFC 9457 problem details). */
export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  readonly detail: string;
  /** seconds, from Retry-After, when the server sent one */
  readonly retryAfter: number | null;

  constructor(status: number, code: string, detail: string, retryAfter: number | null) {
    super(detail || `HTTP ${status}`);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
    this.detail = detail;
    this.retryAfter = retryAfter;
  }
}

/** The request never got an answer: the server is unreachable. */
export class NetworkError extends Error {
  constructor(cause: unknown) {
    super('The server is unreachable.', { cause });
    this.name = 'NetworkError';
  }
}

let sessionEndedHandler: (() => void) | null = null;
let unreachableHandler: (() => void) | null = null;

/** Called on any 401 from a call that needed a session. */
export function onSessionEnded(handler: () => void): void {
  sessionEndedHandler = handler;
}

/** Called when a call gets no answer at all (the live indicator should not keep saying "Live"). */
export function onUnreachable(handler: () => void): void {
  unreachableHandler = handler;
}

interface RequestOptions {
  method?: string;
  body?: unknown;
  headers?: Record<string, string>;
  /** a 401 here is an answer, not the end of the session (sign-in, /api/me) */
  expect401?: boolean;
}

function parseRetryAfter(value: string | null): number | null {
  if (value === null || value.trim() === '') return null;
  const secs = Number(value);
  if (Number.isFinite(secs)) return Math.max(0, Math.ceil(secs));
  const when = Date.parse(value);
  if (Number.isNaN(when)) return null;
  return Math.max(0, Math.ceil((when - Date.now()) / 1000));
}

const DEFAULT_CODES: Record<number, ErrorCode> = {
  400: 'INVALID',
  401: 'UNAUTHENTICATED',
  403: 'FORBIDDEN',
  404: 'NOT_FOUND',
  409: 'EXISTS',
  413: 'TOO_LARGE',
  429: 'RATE_LIMITED',
  503: 'UNAVAILABLE',
  504: 'TIMEOUT',
};

async function toApiError(res: Response): Promise<ApiError> {
  let code: string = DEFAULT_CODES[res.status] ?? 'INTERNAL';
  let detail = '';
  try {
    const ct = res.headers.get('content-type') ?? '';
    if (ct.includes('json')) {
      const body: unknown = await res.json();
      if (typeof body === 'object' && body !== null) {
        const p = body as { code?: unknown; detail?: unknown; title?: unknown };
        if (typeof p.code === 'string' && p.code !== '') code = p.code;
        if (typeof p.detail === 'string') detail = p.detail;
        else if (typeof p.title === 'string') detail = p.title;
      }
    }
  } catch {
    // an unreadable error body: keep the defaults
  }
  return new ApiError(res.status, code, detail, parseRetryAfter(res.headers.get('retry-after')));
}

async function request(path: string, opts: RequestOptions = {}): Promise<Response> {
  const headers: Record<string, string> = { accept: 'application/json', ...opts.headers };
  const init: RequestInit = { method: opts.method ?? 'GET', headers, credentials: 'same-origin', cache: 'no-store' };
  if (opts.body !== undefined) {
    headers['content-type'] = 'application/json';
    init.body = JSON.stringify(opts.body);
  }
  let res: Response;
  try {
    res = await fetch(path, init);
  } catch (err) {
    unreachableHandler?.();
    throw new NetworkError(err);
  }
  if (res.ok) return res;
  const err = await toApiError(res);
  if (res.status === 401 && !opts.expect401) sessionEndedHandler?.();
  throw err;
}

async function json(res: Response): Promise<unknown> {
  try {
    return await res.json();
  } catch {
    throw new ApiError(res.status, 'INTERNAL', 'The server sent an answer we could not read.', null);
  }
}

function bad(what: string): ApiError {
  return new ApiError(200, 'INTERNAL', `The server sent an unexpected ${what}.`, null);
}

async function readUser(res: Response): Promise<User> {
  const body = await json(res);
  if (!isUser(body)) throw bad('answer');
  return { username: body.username };
}

async function readTweet(res: Response): Promise<Tweet> {
  const t = asTweet(await json(res));
  if (t === null) throw bad('tweet');
  return t;
}

/** The signed-in user, or null when signed out. */
export async function me(): Promise<User | null> {
  try {
    return await readUser(await request('/api/me', { expect401: true }));
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) return null;
    throw err;
  }
}

export async function register(username: string, password: string): Promise<User> {
  return readUser(await request('/api/register', { method: 'POST', body: { username, password }, expect401: true }));
}

export async function login(username: string, password: string): Promise<User> {
  return readUser(await request('/api/login', { method: 'POST', body: { username, password }, expect401: true }));
}

export async function logout(): Promise<void> {
  await request('/api/login', { method: 'DELETE', expect401: true });
}

export const PAGE_SIZE = 20;

export async function listTweets(opts: { before?: string | null; username?: string; limit?: number } = {}): Promise<TweetPage> {
  const q = new URLSearchParams({ limit: String(opts.limit ?? PAGE_SIZE) });
  if (opts.before) q.set('before', opts.before);
  if (opts.username) q.set('username', opts.username);
  const body = await json(await request(`/api/tweet?${q.toString()}`));
  if (!isTweetPage(body)) throw bad('list of tweets');
  return {
    tweets: body.tweets.map((t) => ({ ...t, edited_at: t.edited_at ?? null })),
    next: body.next ?? null,
  };
}

export async function getTweet(id: string): Promise<Tweet> {
  return readTweet(await request(`/api/tweet/${encodeURIComponent(id)}`));
}

export async function postTweet(content: string, idempotencyKey: string): Promise<Tweet> {
  return readTweet(
    await request('/api/tweet', { method: 'POST', body: { content }, headers: { 'idempotency-key': idempotencyKey } }),
  );
}

export async function editTweet(id: string, content: string): Promise<Tweet> {
  return readTweet(await request(`/api/tweet/${encodeURIComponent(id)}`, { method: 'PUT', body: { content } }));
}

export async function deleteTweet(id: string): Promise<void> {
  await request(`/api/tweet/${encodeURIComponent(id)}`, { method: 'DELETE' });
}

/** What the page shows beside a tweet (GET /api/social). */
export interface Social {
  reply_to: string | null;
  replies: number;
  likes: number;
  liked: boolean;
}

export async function socialOf(ids: readonly string[]): Promise<Record<string, Social>> {
  if (ids.length === 0) return {};
  const body = (await json(await request(`/api/social?ids=${ids.map(encodeURIComponent).join(',')}`))) as { tweets?: Record<string, Social> };
  return body.tweets ?? {};
}

export async function setLike(id: string, like: boolean): Promise<{ likes: number; liked: boolean }> {
  return (await json(await request(`/api/tweet/${encodeURIComponent(id)}/like`, { method: like ? 'PUT' : 'DELETE' }))) as { likes: number; liked: boolean };
}

export async function replyTo(id: string, content: string, idempotencyKey: string): Promise<Tweet> {
  return readTweet(await request(`/api/tweet/${encodeURIComponent(id)}/reply`, { method: 'POST', body: { content }, headers: { 'idempotency-key': idempotencyKey } }));
}

/** A page of a post's replies, oldest first; `next` is the cursor (`after`) of the page after it. */
export async function listReplies(id: string, after: string | null = null, limit = PAGE_SIZE): Promise<TweetPage> {
  const q = new URLSearchParams({ limit: String(limit) });
  if (after) q.set('after', after);
  const body = await json(await request(`/api/tweet/${encodeURIComponent(id)}/replies?${q.toString()}`));
  if (!isTweetPage(body)) throw bad('list of replies');
  return { tweets: body.tweets.map((t) => ({ ...t, edited_at: t.edited_at ?? null })), next: body.next ?? null };
}

/** A page of the posts tagged `tag`, newest first; `max`: only the newest this many are listed. */
export async function listTagged(tag: string, before: string | null = null, limit = PAGE_SIZE): Promise<TweetPage & { tag: string; max: number }> {
  const q = new URLSearchParams({ limit: String(limit) });
  if (before) q.set('before', before);
  const body = await json(await request(`/api/tag/${encodeURIComponent(tag)}?${q.toString()}`));
  if (!isTweetPage(body)) throw bad('list of tagged posts');
  const { tag: name, max } = body as unknown as { tag?: unknown; max?: unknown };
  return {
    tweets: body.tweets.map((t) => ({ ...t, edited_at: t.edited_at ?? null })),
    next: body.next ?? null,
    tag: typeof name === 'string' ? name : tag,
    max: typeof max === 'number' ? max : 0,
  };
}

export async function profile(name: string): Promise<{ username: string; tweets: number }> {
  return (await json(await request(`/api/user/${encodeURIComponent(name)}`))) as { username: string; tweets: number };
}

/** Changes the password; every other session of the account ends (a wrong `current` is 403 FORBIDDEN). */
export async function changePassword(current: string, password: string): Promise<void> {
  await request('/api/account/password', { method: 'PUT', body: { current, password } });
}

/** Closes the account: its sessions end, its name stays taken, its tweets stay. */
export async function closeAccount(password: string): Promise<void> {
  await request('/api/account', { method: 'DELETE', body: { password } });
}
