// The web app (DESIGN section 4): a Fastify server that is a client of the
// coordinator. Accounts, sessions and tweets live in the cluster; this process
// keeps nothing but a pool of coordinator connections and the open event
// streams, so any number of web servers can run side by side.

import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyError, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import cookie from '@fastify/cookie';
import rateLimit from '@fastify/rate-limit';
import fastifyStatic from '@fastify/static';
import type { Logger } from 'pino';
import { CoordinatorPool } from '../node/pool.ts';
import { Accounts, SESSION_COOKIE, SESSION_TTL_MS } from './auth.ts';
import { EventHub } from './events.ts';
import { ProblemError, sendProblem, type WebErrorCode } from './problems.ts';
import { tweetRoutes } from './tweets.ts';

export const UI_DIR = fileURLToPath(new URL('../../ui/public/', import.meta.url));

export interface WebOptions {
  /** The coordinator, HOST:PORT. */
  coordinator: string;
  /** Set the Secure flag on the session cookie (behind HTTPS). */
  secureCookies?: boolean;
  sessionTtlMs?: number;
  /** Sign-in and sign-up attempts per client address (default 10 a minute). */
  authRateLimit?: { max: number; windowMs: number };
  /** Coordinator connections (default 16). */
  poolSize?: number;
  logger?: Logger;
  uiDir?: string;
}

/** Largest request body accepted: a tweet is 280 characters, an account two short strings. */
export const BODY_LIMIT_BYTES = 16 * 1024;

const CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "font-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

export const SECURITY_HEADERS: Record<string, string> = {
  'content-security-policy': CSP,
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
  'permissions-policy': 'camera=(), microphone=(), geolocation=(), payment=()',
};

const credentialsSchema = {
  type: 'object',
  required: ['username', 'password'],
  additionalProperties: false,
  properties: {
    username: { type: 'string', pattern: '^[A-Za-z0-9_]{1,32}$' },
    password: { type: 'string', minLength: 8, maxLength: 200 },
  },
} as const;

/** What a schema failure means, in words a person can act on. */
function validationMessage(e: FastifyError): string {
  const v = e.validation?.[0];
  if (v === undefined) return e.message;
  const field = String(v.instancePath || (v.params as { missingProperty?: string }).missingProperty || '').replace(/^\//, '');
  if (v.keyword === 'additionalProperties') return `unknown field "${String((v.params as { additionalProperty?: string }).additionalProperty)}"`;
  if (field.endsWith('username') || (v.params as { missingProperty?: string }).missingProperty === 'username') return 'username must be 1 to 32 letters, digits or underscores';
  if (field.endsWith('password') || (v.params as { missingProperty?: string }).missingProperty === 'password') return 'password must be 8 to 200 characters';
  if (field.endsWith('content') || (v.params as { missingProperty?: string }).missingProperty === 'content') return 'content must be a string: the text of the tweet';
  return `${e.validationContext ?? 'request'}${field ? ` ${field}` : ''} ${v.message ?? 'is invalid'}`;
}

declare module 'fastify' {
  interface FastifyRequest {
    /** The signed-in user (set by the session check on protected routes). */
    username: string | null;
    sessionToken: string | null;
  }
}

export interface WebApp {
  app: FastifyInstance;
  pool: CoordinatorPool;
  hub: EventHub;
}

export async function buildWebApp(opts: WebOptions): Promise<WebApp> {
  const app: FastifyInstance = Fastify({
    ...(opts.logger !== undefined ? { loggerInstance: opts.logger as FastifyBaseLogger } : { logger: false }),
    bodyLimit: BODY_LIMIT_BYTES,
    // One line per request would drown the protocol's own logs; errors are logged where they happen.
    logController: new LogController({ disableRequestLogging: true }),
  });
  const pool = new CoordinatorPool(opts.coordinator, { size: opts.poolSize ?? 16 });
  const accounts = new Accounts(pool, opts.sessionTtlMs ?? SESSION_TTL_MS);
  const hub = new EventHub(opts.coordinator, (live, why) => app.log[live ? 'info' : 'warn']({ why }, live ? 'following the change feed' : 'lost the change feed; reconnecting'));
  app.addHook('onClose', () => {
    hub.close();
    pool.close();
  });
  app.decorateRequest('username', null);
  app.decorateRequest('sessionToken', null);

  await app.register(cookie);
  await app.register(rateLimit, {
    global: false,
    errorResponseBuilder: (_req, ctx) => new ProblemError('RATE_LIMITED', `too many sign-in attempts from this address; try again in ${ctx.after}`, Math.ceil(ctx.ttl / 1000)),
  });

  // Security headers on every response, a strict CSP among them.
  app.addHook('onSend', async (req, reply, payload) => {
    for (const [k, v] of Object.entries(SECURITY_HEADERS)) reply.header(k, v);
    if (req.url.startsWith('/api/')) reply.header('cache-control', 'no-store');
    return payload;
  });

  // A mutating request from another origin is refused (cookies are SameSite=Strict as well).
  app.addHook('onRequest', async (req, reply) => {
    if (req.method === 'GET' || req.method === 'HEAD' || req.method === 'OPTIONS') return;
    const origin = req.headers.origin;
    const site = req.headers['sec-fetch-site'];
    const host = req.headers.host;
    let sameOrigin = true;
    if (typeof origin === 'string') {
      try {
        sameOrigin = origin !== 'null' && new URL(origin).host === host;
      } catch {
        sameOrigin = false;
      }
    } else if (site === 'cross-site' || site === 'same-site') sameOrigin = false;
    if (!sameOrigin) return sendProblem(reply, 'CROSS_ORIGIN', `a ${req.method} from another origin (${origin ?? site}) is refused`);
  });

  app.setErrorHandler((err: FastifyError | ProblemError, req, reply) => {
    if (err instanceof ProblemError) return sendProblem(reply, err.code, err.detail, err.retryAfterS);
    if (err.validation !== undefined) return sendProblem(reply, 'INVALID', validationMessage(err));
    const status = err.statusCode ?? 500;
    const byStatus: Record<number, WebErrorCode> = { 400: 'INVALID', 413: 'TOO_LARGE', 415: 'INVALID', 404: 'NOT_FOUND', 429: 'RATE_LIMITED' };
    const code = byStatus[status];
    if (code !== undefined) {
      const detail = status === 413 ? `the request body is larger than ${BODY_LIMIT_BYTES} bytes` : status === 415 ? 'send JSON (Content-Type: application/json)' : err.message;
      return sendProblem(reply, code, detail);
    }
    req.log.error({ err }, 'unexpected error');
    return sendProblem(reply, 'INTERNAL', `an unexpected error happened (request ${req.id}); it was logged`);
  });
  app.setNotFoundHandler((req, reply) => sendProblem(reply, 'NOT_FOUND', `no such route: ${req.method} ${req.url.split('?')[0] ?? ''}`));

  const cookieOptions = { path: '/', httpOnly: true, sameSite: 'strict' as const, secure: opts.secureCookies === true };
  const setSession = (reply: FastifyReply, token: string): void => {
    reply.setCookie(SESSION_COOKIE, token, { ...cookieOptions, maxAge: Math.floor((opts.sessionTtlMs ?? SESSION_TTL_MS) / 1000) });
  };

  /** The session check for protected routes: 401 when there is no live session. */
  const requireUser = async (req: FastifyRequest): Promise<void> => {
    const token = req.cookies[SESSION_COOKIE];
    if (token === undefined || token.length === 0 || token.length > 100) throw new ProblemError('UNAUTHENTICATED', 'sign in first');
    const username = await accounts.sessionUser(token, Date.now());
    if (username === null) throw new ProblemError('UNAUTHENTICATED', 'your session ended; sign in again');
    req.username = username;
    req.sessionToken = token;
  };
  const user = (req: FastifyRequest): string => {
    if (req.username === null) throw new ProblemError('UNAUTHENTICATED', 'sign in first');
    return req.username;
  };
  const limit = opts.authRateLimit ?? { max: 10, windowMs: 60_000 };
  const authConfig = { rateLimit: { max: limit.max, timeWindow: limit.windowMs, groupId: 'auth' } };
  const userReply = { 200: { type: 'object', required: ['username'], properties: { username: { type: 'string' } } } } as const;

  app.post<{ Body: { username: string; password: string } }>(
    '/api/register',
    { config: authConfig, schema: { body: credentialsSchema, response: { 201: userReply[200] } } },
    async (req, reply) => {
      const { username, password } = req.body;
      const now = Date.now();
      await accounts.register(username, password, now);
      setSession(reply, await accounts.createSession(username, now));
      return reply.code(201).send({ username });
    },
  );

  app.post<{ Body: { username: string; password: string } }>('/api/login', { config: authConfig, schema: { body: credentialsSchema, response: userReply } }, async (req, reply) => {
    const { username, password } = req.body;
    await accounts.checkPassword(username, password);
    setSession(reply, await accounts.createSession(username, Date.now()));
    return { username };
  });

  app.delete('/api/login', async (req, reply) => {
    const token = req.cookies[SESSION_COOKIE];
    if (token !== undefined && token.length > 0 && token.length <= 100) await accounts.endSession(token);
    reply.clearCookie(SESSION_COOKIE, cookieOptions);
    return reply.code(204).send();
  });

  // Everything below needs a live session.
  await app.register(async (authed) => {
    authed.addHook('preHandler', requireUser);
    authed.get('/api/me', { schema: { response: userReply } }, async (req) => ({ username: user(req) }));
    tweetRoutes(authed, pool, user);
    authed.get('/api/events', async (req, reply) => {
      if (hub.full) throw new ProblemError('UNAVAILABLE', 'too many live pages are open on this server; try again later');
      const last = req.headers['last-event-id'];
      const lastId = typeof last === 'string' && /^[0-9]{1,15}$/.test(last) ? Number(last) : null;
      reply.hijack();
      reply.raw.writeHead(200, {
        ...SECURITY_HEADERS,
        'content-type': 'text/event-stream; charset=utf-8',
        'cache-control': 'no-store',
        connection: 'keep-alive',
        'x-accel-buffering': 'no',
      });
      hub.add(reply.raw, lastId);
    });
  });

  const uiDir = opts.uiDir ?? UI_DIR;
  if (existsSync(uiDir)) {
    if (!existsSync(new URL('js/app.js', `file://${uiDir.endsWith('/') ? uiDir : `${uiDir}/`}`))) {
      app.log.warn({ uiDir }, 'the page is not built (ui/public/js/app.js is missing): run `npm run build`');
    }
    await app.register(fastifyStatic, { root: uiDir, prefix: '/', index: ['index.html'], cacheControl: false, setHeaders: (res) => res.setHeader('cache-control', 'no-cache') });
  }
  return { app, pool, hub };
}
