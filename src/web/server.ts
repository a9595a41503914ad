// The web app (docs/ARCHITECTURE.md section 9): a Fastify server that is a client of the
// coordinator. Accounts, sessions and tweets live in the cluster; this process
// keeps nothing but a pool of coordinator connections and the open event
// streams, so any number of web servers can run side by side.

import { registerMetrics } from './metrics.ts';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyError, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import cookie from '@fastify/cookie';
import rateLimit from '@fastify/rate-limit';
import fastifyStatic from '@fastify/static';
import type { Logger } from 'pino';
import { CoordinatorPool } from '../client/pool.ts';
import type { CoordinatorAccess } from '../client/client.ts';
import { accountKey, Accounts, SESSION_COOKIE, SESSION_TTL_MS } from './auth.ts';
import { EventHub, type EventLimits } from './events.ts';
import { ID_MAX_CHARS, AUTH_LIMITER_KEYS, AUTH_PER_ACCOUNT, AUTH_PER_ADDRESS, BODY_LIMIT_BYTES, PASSWORD_MAX_CHARS, PASSWORD_MIN_CHARS, WEB_COORDINATOR_CONNECTIONS, WEB_USERNAME_MAX_CHARS } from '../wire/limits.ts';
import { ProblemError, sendProblem, type WebErrorCode } from './problems.ts';
import { tweetRoutes } from './tweets.ts';
import { socialRoutes } from './social.ts';
import { clusterRoutes } from './cluster.ts';
import { ClusterWatch, type ClusterPageLimits } from './cluster-watch.ts';

export const UI_DIR = fileURLToPath(new URL('../../ui/public/', import.meta.url));

export interface WebOptions {
  /** The coordinator, HOST:PORT. */
  coordinator: string;
  /** TLS and a client token, when the coordinator wants them (--tls-ca, --client-token-file). */
  coordinatorAccess?: CoordinatorAccess;
  /** Set the Secure flag on the session cookie (behind HTTPS). */
  secureCookies?: boolean;
  sessionTtlMs?: number;
  /** Sign-in and sign-up attempts per client address (default AUTH_PER_ADDRESS: 10 a minute). */
  authRateLimit?: { max: number; windowMs: number };
  /** Sign-in and sign-up attempts per account, from any address (default AUTH_PER_ACCOUNT: 10 a minute). */
  accountRateLimit?: { max: number; windowMs: number };
  /**
   * The proxies (addresses, CIDR ranges, or loopback/linklocal/uniquelocal; see parseTrustProxy)
   * whose X-Forwarded-For names the client. Without it the socket's address is the client's.
   */
  trustProxy?: string[];
  /** Event stream limits other than the defaults (EVENT_LIMITS). */
  eventLimits?: Partial<EventLimits>;
  /** Cluster page limits other than the defaults (CLUSTER_PAGE_LIMITS). */
  clusterLimits?: Partial<ClusterPageLimits>;
  /** How long a like, reply or post refused with LOCKED is retried (default WEB_LOCKED_RETRY_MS: the default lock timeout). */
  lockedRetryMs?: number;
  /** Coordinator connections (default 16). */
  poolSize?: number;
  logger?: Logger;
  uiDir?: string;
}

/** Seconds a page refused for having too many streams waits before it tries again (Retry-After). */
export const STREAM_RETRY_AFTER_S = 30;

/** A URL that does not decode, as a log or a problem shows it: its path, at most 200 characters. */
function badUrlPath(url: string | undefined): string {
  const path = (url ?? '').split('?')[0] ?? '';
  return path.length > 200 ? `${path.slice(0, 200)}...` : path;
}

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
    username: { type: 'string', pattern: `^[A-Za-z0-9_]{1,${WEB_USERNAME_MAX_CHARS}}$` },
    password: { type: 'string', minLength: PASSWORD_MIN_CHARS, maxLength: PASSWORD_MAX_CHARS },
  },
} as const;

const passwordField = { type: 'string', minLength: PASSWORD_MIN_CHARS, maxLength: PASSWORD_MAX_CHARS } as const;
/** The current password (any length: an old one may predate the rules) and the new one. */
const passwordChangeSchema = {
  type: 'object',
  required: ['current', 'password'],
  additionalProperties: false,
  properties: { current: { type: 'string', minLength: 1, maxLength: PASSWORD_MAX_CHARS }, password: passwordField },
} as const;
const passwordCheckSchema = { type: 'object', required: ['password'], additionalProperties: false, properties: { password: { type: 'string', minLength: 1, maxLength: PASSWORD_MAX_CHARS } } } as const;

/** A wrong password typed by someone signed in is 403, not 401: their session stands. */
function wrongPassword(e: unknown): never {
  if (e instanceof ProblemError && e.code === 'UNAUTHENTICATED') throw new ProblemError('FORBIDDEN', 'that is not your current password; type it again');
  throw e;
}

/** What a schema failure means, in words a person can act on. */
function validationMessage(e: FastifyError): string {
  const v = e.validation?.[0];
  if (v === undefined) return e.message;
  const field = String(v.instancePath || (v.params as { missingProperty?: string }).missingProperty || '').replace(/^\//, '');
  if (v.keyword === 'additionalProperties') return `unknown field "${String((v.params as { additionalProperty?: string }).additionalProperty)}"`;
  if (field.endsWith('username') || (v.params as { missingProperty?: string }).missingProperty === 'username') return `username must be 1 to ${WEB_USERNAME_MAX_CHARS} letters, digits or underscores`;
  if (field.endsWith('password') || (v.params as { missingProperty?: string }).missingProperty === 'password') return `password must be ${PASSWORD_MIN_CHARS} to ${PASSWORD_MAX_CHARS} characters`;
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
  cluster: ClusterWatch;
}

export async function buildWebApp(opts: WebOptions): Promise<WebApp> {
  const app: FastifyInstance = Fastify({
    ...(opts.logger !== undefined ? { loggerInstance: opts.logger as FastifyBaseLogger } : { logger: false }),
    bodyLimit: BODY_LIMIT_BYTES,
    // One line per request would drown the protocol's own logs; errors are logged where they happen.
    logController: new LogController({ disableRequestLogging: true }),
    // Believe X-Forwarded-For only from the proxies named (the per-address limit keys on req.ip).
    trustProxy: opts.trustProxy !== undefined && opts.trustProxy.length > 0 ? opts.trustProxy : false,
    // A URL that does not decode (`/%c0%ae`) names nothing here: 404, like any unknown path.
    frameworkErrors: (err, req, reply) => {
      // Sent before the routing and its hooks: the security headers are set here.
      reply.headers({ ...SECURITY_HEADERS, 'cache-control': 'no-store' });
      if (err.code === 'FST_ERR_BAD_URL') return sendProblem(reply, 'NOT_FOUND', `no such route: ${req.method} ${badUrlPath(req.raw.url)}`);
      req.log.error({ err }, 'unexpected error');
      return sendProblem(reply, 'INTERNAL', `an unexpected error happened (request ${req.id}); it was logged`);
    },
  });
  const pool = new CoordinatorPool(opts.coordinator, { size: opts.poolSize ?? WEB_COORDINATOR_CONNECTIONS, access: opts.coordinatorAccess });
  const accounts = new Accounts(pool, opts.sessionTtlMs ?? SESSION_TTL_MS);
  const hub = new EventHub(
    opts.coordinator,
    (live, why) => app.log[live ? 'info' : 'warn']({ why }, live ? 'following the change feed' : 'lost the change feed; reconnecting'),
    async (token) => (await accounts.sessionUser(token, Date.now())) !== null,
    opts.eventLimits,
    opts.coordinatorAccess,
  );
  const cluster = new ClusterWatch(pool, opts.coordinatorAccess, async (token) => (await accounts.sessionUser(token, Date.now())) !== null, (level, why, msg) => app.log[level]({ why }, msg), opts.clusterLimits);
  // Before the server waits for its connections to end: the event streams never end by themselves.
  app.addHook('preClose', async () => hub.close());
  app.addHook('preClose', async () => cluster.close());
  app.addHook('onClose', () => pool.close());
  app.decorateRequest('username', null);
  app.decorateRequest('sessionToken', null);

  await app.register(cookie);
  await app.register(rateLimit, {
    global: false,
    cache: AUTH_LIMITER_KEYS,
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
  registerMetrics(app);
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
  const limit = opts.authRateLimit ?? AUTH_PER_ADDRESS;
  const authConfig = { rateLimit: { max: limit.max, timeWindow: limit.windowMs, groupId: 'auth' } };
  // Per account as well, whatever the address: five addresses guessing one password get ten guesses, not fifty.
  const perAccount = opts.accountRateLimit ?? AUTH_PER_ACCOUNT;
  const accountLimiter = app.createRateLimit({
    max: perAccount.max,
    timeWindow: perAccount.windowMs,
    // The name typed at sign-in, or the signed-in user's when the password is checked again.
    keyGenerator: (req) => `account:${accountKey((req.body as { username?: string }).username ?? req.username ?? '')}`,
    ...{ cache: AUTH_LIMITER_KEYS }, // passed on to the store; not in the type of createRateLimit's options
  });
  const limitAccount = async (req: FastifyRequest): Promise<void> => {
    const r = await accountLimiter(req);
    if (!r.isAllowed && r.isExceeded) {
      const name = (req.body as { username?: string }).username ?? req.username ?? '';
      throw new ProblemError('RATE_LIMITED', `too many sign-in attempts for the account ${name}; try again in ${r.ttlInSeconds} s`, r.ttlInSeconds);
    }
  };
  const userReply = { 200: { type: 'object', required: ['username'], properties: { username: { type: 'string' } } } } as const;

  app.post<{ Body: { username: string; password: string } }>(
    '/api/register',
    { config: authConfig, preHandler: limitAccount, schema: { body: credentialsSchema, response: { 201: userReply[200] } } },
    async (req, reply) => {
      const { username, password } = req.body;
      const now = Date.now();
      await accounts.register(username, password, now);
      setSession(reply, await accounts.createSession(username, now));
      return reply.code(201).send({ username });
    },
  );

  app.post<{ Body: { username: string; password: string } }>('/api/login', { config: authConfig, preHandler: limitAccount, schema: { body: credentialsSchema, response: userReply } }, async (req, reply) => {
    const { username: typed, password } = req.body;
    // Any case signs in; the name is the one chosen at sign-up.
    const username = await accounts.checkPassword(typed, password);
    setSession(reply, await accounts.createSession(username, Date.now()));
    return { username };
  });

  app.delete('/api/login', async (req, reply) => {
    const token = req.cookies[SESSION_COOKIE];
    if (token !== undefined && token.length > 0 && token.length <= 100) {
      await accounts.endSession(token);
      hub.endSession(token); // its live pages here end now; elsewhere within EVENT_LIMITS.sessionRecheckMs
      cluster.endSession(token);
    }
    reply.clearCookie(SESSION_COOKIE, cookieOptions);
    return reply.code(204).send();
  });

  // Everything below needs a live session.
  await app.register(async (authed) => {
    authed.addHook('preHandler', requireUser);
    authed.get('/api/me', { schema: { response: userReply } }, async (req) => ({ username: user(req) }));
    // Changing the password and closing the account check the password: limited as sign-ins are.
    authed.put<{ Body: { current: string; password: string } }>(
      '/api/account/password',
      { config: authConfig, preHandler: limitAccount, schema: { body: passwordChangeSchema } },
      async (req, reply) => {
        const username = user(req);
        const token = req.sessionToken ?? '';
        await accounts.changePassword(username, req.body.current, req.body.password, token, Date.now()).catch(wrongPassword);
        hub.endUserSessions(accountKey(username), token); // its other pages here end now; elsewhere within sessionRecheckMs
        return reply.code(204).send();
      },
    );
    authed.delete<{ Body: { password: string } }>(
      '/api/account',
      { config: authConfig, preHandler: limitAccount, schema: { body: passwordCheckSchema } },
      async (req, reply) => {
        const username = user(req);
        await accounts.closeAccount(username, req.body.password, req.sessionToken ?? '', Date.now()).catch(wrongPassword);
        hub.endUserSessions(accountKey(username), null);
        reply.clearCookie(SESSION_COOKIE, cookieOptions);
        return reply.code(204).send();
      },
    );
    tweetRoutes(authed, pool, user, opts.lockedRetryMs);
    socialRoutes(authed, pool, user, opts.lockedRetryMs);
    clusterRoutes(authed, cluster, user, { securityHeaders: SECURITY_HEADERS, retryAfterS: STREAM_RETRY_AFTER_S });
    authed.get('/api/events', async (req, reply) => {
      if (hub.full) throw new ProblemError('UNAVAILABLE', 'too many live pages are open on this server; try again later');
      const account = accountKey(user(req));
      if (hub.userFull(account)) {
        throw new ProblemError('TOO_MANY_STREAMS', `this account already has ${hub.limits.perUser} live pages open; close one (or reload it later)`, STREAM_RETRY_AFTER_S);
      }
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
      hub.add(reply.raw, lastId, account, req.sessionToken ?? '');
    });
  });

  const uiDir = opts.uiDir ?? UI_DIR;
  if (existsSync(uiDir)) {
    if (!existsSync(new URL('js/app.js', `file://${uiDir.endsWith('/') ? uiDir : `${uiDir}/`}`))) {
      app.log.warn({ uiDir }, 'the page is not built (ui/public/js/app.js is missing): run `npm run build`');
    }
    await app.register(async (files) => {
      // send refuses odd paths (`..` after decoding, a NUL byte) with 400 or 403: for a file server they name nothing, so 404.
      files.setErrorHandler((err: FastifyError, req, reply) => {
        const status = err.statusCode ?? 500;
        if (status >= 400 && status < 500) return sendProblem(reply, 'NOT_FOUND', `no such route: ${req.method} ${req.url.split('?')[0] ?? ''}`);
        throw err;
      });
      await files.register(fastifyStatic, { root: uiDir, prefix: '/', index: ['index.html'], cacheControl: false, setHeaders: (res) => res.setHeader('cache-control', 'no-cache') });
      // The page's own addresses (a profile, a post, a tag): the page itself, so a deep link or a reload shows it.
      const page = async (_req: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> => reply.header('cache-control', 'no-cache').sendFile('index.html');
      const pageParams = { type: 'object', required: ['name'], properties: { name: { type: 'string', minLength: 1, maxLength: ID_MAX_CHARS } } } as const;
      files.get('/u/:name', { schema: { params: pageParams } }, page);
      files.get('/t/:name', { schema: { params: pageParams } }, page);
      files.get('/tag/:name', { schema: { params: pageParams } }, page);
      files.get('/cluster', async (_req, reply) => reply.header('cache-control', 'no-cache').sendFile('cluster.html'));
    });
  }
  return { app, pool, hub, cluster };
}
