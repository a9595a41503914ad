// The web app's REST API, in process (fastify inject), against a real cluster
// started by the test: every route, and every error status a user can meet.

import { test, after, before, describe } from 'node:test';
import assert from 'node:assert/strict';
import type { FastifyInstance } from 'fastify';
import { buildWebApp, SECURITY_HEADERS, type WebApp } from '../../src/web/server.ts';
import { SESSION_COOKIE } from '../../src/web/auth.ts';
import { Cluster, eventually, sleep, waitExit } from '../helpers/cluster.ts';
import { json, problem, readEvents, sessionCookie, signUp, type Json } from '../helpers/web.ts';
import { TweetdbClient } from '../../src/client/client.ts';

const clusters: Cluster[] = [];
const apps: WebApp[] = [];
after(async () => {
  for (const w of apps) await w.app.close();
  await Promise.all(clusters.map((c) => c.stop()));
});

async function webFor(cluster: Cluster, opts: { authRateLimit?: { max: number; windowMs: number } } = {}): Promise<FastifyInstance> {
  const w = await buildWebApp({ coordinator: cluster.address, coordinatorAccess: cluster.access, ...opts });
  apps.push(w);
  await w.app.ready();
  return w.app;
}

describe('web API against a real 2-worker cluster', () => {
  let cluster: Cluster;
  let app: FastifyInstance;
  let ada: string;
  let bob: string;
  const as = (cookie: string) => ({ cookies: { [SESSION_COOKIE]: cookie } });

  before(async () => {
    cluster = await Cluster.start({ workers: 2, lockTimeout: 2 });
    clusters.push(cluster);
    app = await webFor(cluster);
    ada = await signUp(app, 'ada');
    bob = await signUp(app, 'bob');
  });

  test('register: 201 and an HttpOnly SameSite=Strict session cookie; a taken name is 409; bad names and passwords are 400', async () => {
    const r = await app.inject({ method: 'POST', url: '/api/register', payload: { username: 'cy', password: 'long enough' } });
    assert.equal(r.statusCode, 201);
    assert.deepEqual(json(r), { username: 'cy' });
    const c = r.cookies.find((x) => x.name === SESSION_COOKIE);
    assert.ok(c !== undefined);
    assert.equal(c.httpOnly, true);
    assert.equal(c.sameSite, 'Strict');
    assert.equal(c.path, '/');
    const taken = problem(await app.inject({ method: 'POST', url: '/api/register', payload: { username: 'cy', password: 'another one' } }), 409, 'EXISTS');
    assert.match(String(taken.detail), /username cy is taken/);
    problem(await app.inject({ method: 'POST', url: '/api/register', payload: { username: 'no spaces', password: 'long enough' } }), 400, 'INVALID');
    const short = problem(await app.inject({ method: 'POST', url: '/api/register', payload: { username: 'dee', password: 'short' } }), 400, 'INVALID');
    assert.match(String(short.detail), /password must be 8 to 200 characters/);
    problem(await app.inject({ method: 'POST', url: '/api/register', payload: { username: 'dee' } }), 400, 'INVALID');
    problem(await app.inject({ method: 'POST', url: '/api/register', headers: { 'content-type': 'text/plain' }, payload: 'dee' }), 400, 'INVALID');
  });

  test('login: a fresh session each time; wrong password and unknown user get the same 401', async () => {
    const r1 = await app.inject({ method: 'POST', url: '/api/login', payload: { username: 'ada', password: 'correct horse' } });
    assert.equal(r1.statusCode, 200);
    assert.deepEqual(json(r1), { username: 'ada' });
    const r2 = await app.inject({ method: 'POST', url: '/api/login', payload: { username: 'ada', password: 'correct horse' } });
    assert.notEqual(sessionCookie(r1), sessionCookie(r2));
    assert.notEqual(sessionCookie(r1), ada);
    const wrong = problem(await app.inject({ method: 'POST', url: '/api/login', payload: { username: 'ada', password: 'wrong horse' } }), 401, 'UNAUTHENTICATED');
    const nobody = problem(await app.inject({ method: 'POST', url: '/api/login', payload: { username: 'nobody', password: 'wrong horse' } }), 401, 'UNAUTHENTICATED');
    assert.equal(wrong.detail, nobody.detail);
  });

  test('GET /api/me: 401 without a session, or with a made-up one; the user with one', async () => {
    problem(await app.inject({ method: 'GET', url: '/api/me' }), 401, 'UNAUTHENTICATED');
    problem(await app.inject({ method: 'GET', url: '/api/me', ...as('made-up-token') }), 401, 'UNAUTHENTICATED');
    const r = await app.inject({ method: 'GET', url: '/api/me', ...as(ada) });
    assert.deepEqual(json(r), { username: 'ada' });
  });

  test('POST /api/tweet: 201 with Location; the author is the signed-in user whatever the body says; content rules in code points', async () => {
    const r = await app.inject({ method: 'POST', url: '/api/tweet', ...as(ada), payload: { content: 'hello web', username: 'bob' } });
    assert.equal(r.statusCode, 201, r.body);
    const t = json(r);
    assert.equal(t.username, 'ada');
    assert.equal(t.content, 'hello web');
    assert.equal(t.edited_at, null);
    assert.equal(typeof t.id, 'string');
    assert.ok(!Number.isNaN(Date.parse(String(t.created_at))));
    assert.equal(r.headers.location, `/api/tweet/${String(t.id)}`);
    const emoji = '🙂'.repeat(280);
    assert.equal((await app.inject({ method: 'POST', url: '/api/tweet', ...as(ada), payload: { content: emoji } })).statusCode, 201, '280 code points (560 UTF-16 units) fit');
    const long = problem(await app.inject({ method: 'POST', url: '/api/tweet', ...as(ada), payload: { content: `${emoji}!` } }), 400, 'INVALID');
    assert.match(String(long.detail), /at most 280 characters; this one has 281/);
    problem(await app.inject({ method: 'POST', url: '/api/tweet', ...as(ada), payload: { content: '   ' } }), 400, 'INVALID');
    problem(await app.inject({ method: 'POST', url: '/api/tweet', ...as(ada), payload: {} }), 400, 'INVALID');
    problem(await app.inject({ method: 'POST', url: '/api/tweet', payload: { content: 'no session' } }), 401, 'UNAUTHENTICATED');
  });

  test('POST /api/tweet with Idempotency-Key: a retry gives the same tweet, not a second one; the key with other text is 422', async () => {
    const headers = { 'idempotency-key': 'retry-me-1' };
    const a = await app.inject({ method: 'POST', url: '/api/tweet', headers, ...as(bob), payload: { content: 'only once' } });
    const b = await app.inject({ method: 'POST', url: '/api/tweet', headers, ...as(bob), payload: { content: 'only once' } });
    assert.equal(a.statusCode, 201);
    assert.equal(b.statusCode, 201);
    assert.deepEqual(json(a), json(b));
    const list = json(await app.inject({ method: 'GET', url: '/api/tweet?username=bob&limit=100', ...as(bob) }));
    assert.equal((list.tweets as Json[]).filter((t) => t.content === 'only once').length, 1);
    problem(await app.inject({ method: 'POST', url: '/api/tweet', headers, ...as(bob), payload: { content: 'something else' } }), 422, 'IDEMPOTENCY_KEY_REUSED');
    // The same key from another user is another tweet.
    const c = await app.inject({ method: 'POST', url: '/api/tweet', headers, ...as(ada), payload: { content: 'only once' } });
    assert.notEqual(json(c).id, json(a).id);
  });

  test('a body over the limit is 413', async () => {
    problem(await app.inject({ method: 'POST', url: '/api/tweet', ...as(ada), payload: { content: 'x'.repeat(20_000) } }), 413, 'TOO_LARGE');
  });

  test('GET /api/tweet: newest first, 20 by default, a Link rel=next to the next page, by user, limits checked', async () => {
    for (let i = 0; i < 25; i++) assert.equal((await app.inject({ method: 'POST', url: '/api/tweet', ...as(bob), payload: { content: `page ${i}` } })).statusCode, 201);
    const first = await app.inject({ method: 'GET', url: '/api/tweet?username=bob', ...as(ada) });
    assert.equal(first.statusCode, 200);
    const p1 = json(first);
    const tweets = p1.tweets as Json[];
    assert.equal(tweets.length, 20);
    assert.equal(tweets[0]?.content, 'page 24');
    const times = tweets.map((t) => Date.parse(String(t.created_at)));
    assert.deepEqual([...times].sort((x, y) => y - x), times);
    assert.equal(typeof p1.next, 'string');
    const link = String(first.headers.link);
    assert.match(link, /^<\/api\/tweet\?limit=20&before=[^>]+&username=bob>; rel="next"$/);
    const nextUrl = /^<([^>]+)>/.exec(link)?.[1] as string;
    const p2 = json(await app.inject({ method: 'GET', url: nextUrl, ...as(ada) }));
    const ids = new Set(tweets.map((t) => t.id));
    assert.ok((p2.tweets as Json[]).every((t) => !ids.has(t.id) && t.username === 'bob'));
    problem(await app.inject({ method: 'GET', url: '/api/tweet?limit=101', ...as(ada) }), 400, 'INVALID');
    problem(await app.inject({ method: 'GET', url: '/api/tweet?before=not-a-cursor', ...as(ada) }), 400, 'INVALID');
    problem(await app.inject({ method: 'GET', url: '/api/tweet' }), 401, 'UNAUTHENTICATED');
  });

  test('GET /api/tweet/:id: the tweet, or 404', async () => {
    const t = json(await app.inject({ method: 'POST', url: '/api/tweet', ...as(ada), payload: { content: 'find me' } }));
    assert.deepEqual(json(await app.inject({ method: 'GET', url: `/api/tweet/${String(t.id)}`, ...as(bob) })), t);
    problem(await app.inject({ method: 'GET', url: '/api/tweet/nope', ...as(bob) }), 404, 'NOT_FOUND');
  });

  test('PUT /api/tweet/:id: the author edits (edited_at set); another user is 403; a missing id 404; a locked tweet 409 with Retry-After', async () => {
    const t = json(await app.inject({ method: 'POST', url: '/api/tweet', ...as(ada), payload: { content: 'v1' } }));
    const url = `/api/tweet/${String(t.id)}`;
    const e = await app.inject({ method: 'PUT', url, ...as(ada), payload: { content: 'v2' } });
    assert.equal(e.statusCode, 200, e.body);
    assert.equal(json(e).content, 'v2');
    assert.equal(typeof json(e).edited_at, 'string');
    const forged = problem(await app.inject({ method: 'PUT', url, ...as(bob), payload: { content: 'mine now' } }), 403, 'FORBIDDEN');
    assert.match(String(forged.detail), /only the author/);
    assert.equal(json(await app.inject({ method: 'GET', url, ...as(bob) })).content, 'v2', 'nothing changed');
    problem(await app.inject({ method: 'PUT', url: '/api/tweet/nope', ...as(ada), payload: { content: 'x' } }), 404, 'NOT_FOUND');

    // Another session holds the tweet's lock (an open transaction on the TCP API).
    const holder = await TweetdbClient.connect(cluster.address, 5_000, null, cluster.adminToken);
    try {
      assert.equal((await holder.request({ action: 'begin' })).status, 'OK');
      assert.equal((await holder.request({ action: 'update', tweet: { id: t.id, content: 'held' } })).status, 'OK');
      const locked = await app.inject({ method: 'PUT', url, ...as(ada), payload: { content: 'v3' } });
      const p = problem(locked, 409, 'LOCKED');
      assert.equal(locked.headers['retry-after'], '1');
      assert.match(String(p.detail), /someone is editing this tweet/);
      problem(await app.inject({ method: 'DELETE', url, ...as(ada) }), 409, 'LOCKED');
      assert.equal((await holder.request({ action: 'abort' })).status, 'OK');
    } finally {
      holder.close();
    }
    assert.equal((await app.inject({ method: 'PUT', url, ...as(ada), payload: { content: 'v3' } })).statusCode, 200);
  });

  test('DELETE /api/tweet/:id: another user is 403; the author 204; then 404', async () => {
    const t = json(await app.inject({ method: 'POST', url: '/api/tweet', ...as(ada), payload: { content: 'short-lived' } }));
    const url = `/api/tweet/${String(t.id)}`;
    problem(await app.inject({ method: 'DELETE', url, ...as(bob) }), 403, 'FORBIDDEN');
    const d = await app.inject({ method: 'DELETE', url, ...as(ada) });
    assert.equal(d.statusCode, 204);
    assert.equal(d.body, '');
    problem(await app.inject({ method: 'GET', url, ...as(ada) }), 404, 'NOT_FOUND');
    problem(await app.inject({ method: 'DELETE', url, ...as(ada) }), 404, 'NOT_FOUND');
  });

  test('log out: 204, the cookie is cleared, and the session is dead on the server (a copy of the cookie is refused)', async () => {
    const login = await app.inject({ method: 'POST', url: '/api/login', payload: { username: 'bob', password: 'correct horse' } });
    const token = sessionCookie(login);
    assert.equal((await app.inject({ method: 'GET', url: '/api/me', ...as(token) })).statusCode, 200);
    const out = await app.inject({ method: 'DELETE', url: '/api/login', ...as(token) });
    assert.equal(out.statusCode, 204);
    const cleared = out.cookies.find((c) => c.name === SESSION_COOKIE);
    assert.ok(cleared !== undefined && cleared.value === '', 'the cookie is cleared');
    const p = problem(await app.inject({ method: 'GET', url: '/api/me', ...as(token) }), 401, 'UNAUTHENTICATED');
    assert.match(String(p.detail), /session ended/);
    // A second web server (sharing nothing but the cluster) agrees.
    const other = await webFor(cluster);
    problem(await other.inject({ method: 'GET', url: '/api/me', ...as(token) }), 401, 'UNAUTHENTICATED');
    assert.equal((await other.inject({ method: 'GET', url: '/api/me', ...as(ada) })).statusCode, 200, 'sessions live in the cluster, not in one web server');
  });

  test('a mutating request from another origin is 403; the same origin, or none (curl), passes', async () => {
    const headers = { origin: 'http://evil.example', host: 'localhost:8570' };
    problem(await app.inject({ method: 'POST', url: '/api/tweet', headers, ...as(ada), payload: { content: 'csrf' } }), 403, 'CROSS_ORIGIN');
    problem(await app.inject({ method: 'DELETE', url: '/api/login', headers, ...as(ada) }), 403, 'CROSS_ORIGIN');
    problem(await app.inject({ method: 'POST', url: '/api/login', headers: { 'sec-fetch-site': 'cross-site' }, payload: { username: 'ada', password: 'correct horse' } }), 403, 'CROSS_ORIGIN');
    const same = await app.inject({ method: 'POST', url: '/api/tweet', headers: { origin: 'http://localhost:8570', host: 'localhost:8570' }, ...as(ada), payload: { content: 'same origin' } });
    assert.equal(same.statusCode, 201);
  });

  test('security headers on every response, a strict CSP among them; unknown routes are problem 404', async () => {
    for (const url of ['/api/me', '/', '/nope']) {
      const r = await app.inject({ method: 'GET', url });
      for (const [k, v] of Object.entries(SECURITY_HEADERS)) assert.equal(r.headers[k], v, `${k} on ${url}`);
    }
    assert.match(SECURITY_HEADERS['content-security-policy'] ?? '', /script-src 'self'; style-src 'self'/);
    problem(await app.inject({ method: 'GET', url: '/api/nope' }), 404, 'NOT_FOUND');
  });
});

test('sign-in attempts are rate limited per address: 429 with Retry-After', async () => {
  const cluster = await Cluster.start({ workers: 1 });
  clusters.push(cluster);
  const app = await webFor(cluster, { authRateLimit: { max: 3, windowMs: 60_000 } });
  for (let i = 0; i < 3; i++) problem(await app.inject({ method: 'POST', url: '/api/login', payload: { username: 'ada', password: 'wrong horse' } }), 401, 'UNAUTHENTICATED');
  const r = await app.inject({ method: 'POST', url: '/api/login', payload: { username: 'ada', password: 'wrong horse' } });
  problem(r, 429, 'RATE_LIMITED');
  assert.ok(Number(r.headers['retry-after']) > 0, String(r.headers['retry-after']));
});

test('a worker down: writes are 503 UNAVAILABLE with Retry-After, reads go on', async () => {
  const cluster = await Cluster.start({ workers: 2, lockTimeout: 2 });
  clusters.push(cluster);
  const app = await webFor(cluster);
  const ada = await signUp(app, 'ada');
  const cookies = { [SESSION_COOKIE]: ada };
  assert.equal((await app.inject({ method: 'POST', url: '/api/tweet', cookies, payload: { content: 'before' } })).statusCode, 201);
  await cluster.kill(cluster.workers[1] as (typeof cluster.workers)[number]);
  await eventually(async () => (await app.inject({ method: 'POST', url: '/api/tweet', cookies, payload: { content: 'probe' } })).statusCode === 503, 10_000, 'a 503');
  const r = await app.inject({ method: 'POST', url: '/api/tweet', cookies, payload: { content: 'while down' } });
  const p = problem(r, 503, 'UNAVAILABLE');
  assert.equal(r.headers['retry-after'], '2');
  assert.match(String(p.detail), /worker .* is unreachable/);
  assert.equal((await app.inject({ method: 'GET', url: '/api/tweet', cookies })).statusCode, 200, 'reads still work');
});

test('the coordinator dies in the middle of a write: 503 UNKNOWN_OUTCOME (never OK, never a plain failure); while it is down, reads are 503 UNAVAILABLE', async () => {
  const cluster = await Cluster.start({ workers: 2, lockTimeout: 2 });
  clusters.push(cluster);
  const app = await webFor(cluster);
  const ada = await signUp(app, 'ada');
  const cookies = { [SESSION_COOKIE]: ada };
  // Restart the coordinator with a failpoint: it dies once every vote is in, before telling anyone.
  await cluster.kill(cluster.coordinator);
  await cluster.restart(cluster.coordinator, { TWEETDB_FAILPOINTS: 'coordinator.after_last_yes=crash' });
  await cluster.waitAllUp(2);
  const r = await app.inject({ method: 'POST', url: '/api/tweet', cookies, payload: { content: 'in flight' } });
  const p = problem(r, 503, 'UNKNOWN_OUTCOME');
  assert.match(String(p.detail), /may or may not have been made/);
  await waitExit(cluster.coordinator.proc);
  problem(await app.inject({ method: 'GET', url: '/api/tweet', cookies }), 503, 'UNAVAILABLE');
  await cluster.restart(cluster.coordinator, {});
  await cluster.waitAllUp(2);
  await sleep(100);
  assert.equal((await app.inject({ method: 'GET', url: '/api/tweet', cookies })).statusCode, 200, 'the pool reconnects by itself');
});

test('GET /api/events: server-sent events for changes made anywhere (this server, the TCP API); Last-Event-ID resumes; 401 without a session', async () => {
  const cluster = await Cluster.start({ workers: 2 });
  clusters.push(cluster);
  const app = await webFor(cluster);
  await app.listen({ host: '127.0.0.1', port: 0 });
  const a = app.server.address();
  const base = `http://127.0.0.1:${a !== null && typeof a === 'object' ? a.port : 0}`;
  const ada = await signUp(app, 'ada');
  const headers = { cookie: `${SESSION_COOKIE}=${ada}` };
  assert.equal((await fetch(`${base}/api/events`)).status, 401);

  const res = await fetch(`${base}/api/events`, { headers });
  assert.equal(res.status, 200);
  assert.equal(res.headers.get('content-type'), 'text/event-stream; charset=utf-8');
  assert.equal(res.headers.get('content-security-policy'), SECURITY_HEADERS['content-security-policy']);
  const posted = json(await app.inject({ method: 'POST', url: '/api/tweet', cookies: { [SESSION_COOKIE]: ada }, payload: { content: 'from the web' } }));
  const tcp = await TweetdbClient.connect(cluster.address, 5_000, null, cluster.adminToken);
  assert.equal((await tcp.request({ action: 'post', tweet: { id: 'from-nc', username: 'nc', content: '<img src=x onerror=alert(1)>' } })).status, 'OK');
  assert.equal((await tcp.request({ action: 'update', tweet: { id: 'from-nc', content: 'edited' } })).status, 'OK');
  assert.equal((await tcp.request({ action: 'delete', tweet: { id: 'from-nc' } })).status, 'OK');
  tcp.close();
  const events = await readEvents(res, (e) => e.length >= 4);
  assert.deepEqual(
    events.map((e) => e.event),
    ['tweet.created', 'tweet.created', 'tweet.updated', 'tweet.deleted'],
  );
  assert.deepEqual(JSON.parse(events[0]?.data ?? '{}'), posted);
  const fromNc = JSON.parse(events[1]?.data ?? '{}') as Json;
  assert.deepEqual(Object.keys(fromNc).sort(), ['content', 'created_at', 'edited_at', 'id', 'username']);
  assert.equal(fromNc.content, '<img src=x onerror=alert(1)>', 'sent as data, untouched: the page renders it as text');
  assert.deepEqual(JSON.parse(events[3]?.data ?? '{}'), { id: 'from-nc' });

  // A page that reconnects with the id of the first event gets the three after it.
  const again = await fetch(`${base}/api/events`, { headers: { ...headers, 'last-event-id': String(events[0]?.id) } });
  const replayed = await readEvents(again, (e) => e.length >= 3);
  assert.deepEqual(
    replayed.map((e) => e.id),
    events.slice(1).map((e) => e.id),
  );
  // A page that reconnects to another web server, which started following the feed after those events,
  // cannot be told what it missed: it is told to re-read.
  const other = await webFor(cluster);
  await other.listen({ host: '127.0.0.1', port: 0 });
  const oa = other.server.address();
  await sleep(300); // let it subscribe
  const stale = await fetch(`http://127.0.0.1:${oa !== null && typeof oa === 'object' ? oa.port : 0}/api/events`, { headers: { ...headers, 'last-event-id': String(events[0]?.id) } });
  assert.deepEqual((await readEvents(stale, (e) => e.length >= 1)).map((e) => e.event), ['resync']);
});
