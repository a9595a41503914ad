// Issue #10's attacks on the web app, each as it was found, against a real
// cluster: sign-in guessed from many addresses or behind a proxy, event streams
// that outlive their session or fill the server, usernames that differ only in
// case, and odd static paths. (Stopping with streams open: web-stop.test.ts.)

import { test, after, before, describe } from 'node:test';
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { connect } from 'node:net';
import { Writable } from 'node:stream';
import pino from 'pino';
import type { FastifyInstance } from 'fastify';
import { buildWebApp, SECURITY_HEADERS, type WebApp, type WebOptions } from '../../src/web/server.ts';
import { hashPassword, SESSION_COOKIE } from '../../src/web/auth.ts';
import { AUTH_PER_ACCOUNT, EVENT_LIMITS } from '../../src/wire/limits.ts';
import { Cluster, spawnNode, waitExit } from '../helpers/cluster.ts';
import { json, problem, sessionCookie, signUp, signUpOverHttp, streamEnds } from '../helpers/web.ts';
import { TweetdbClient } from '../../src/client/client.ts';

const clusters: Cluster[] = [];
const apps: WebApp[] = [];
const procs: ChildProcess[] = [];
after(async () => {
  for (const p of procs) if (p.exitCode === null && p.signalCode === null) p.kill('SIGTERM');
  await Promise.all(procs.map((p) => waitExit(p)));
  for (const w of apps) await w.app.close();
  await Promise.all(clusters.map((c) => c.stop()));
});

let cluster: Cluster;
before(async () => {
  cluster = await Cluster.start({ workers: 2, lockTimeout: 2 });
  clusters.push(cluster);
});

async function webFor(opts: Partial<WebOptions> = {}): Promise<FastifyInstance> {
  const w = await buildWebApp({ coordinator: cluster.address, coordinatorAccess: cluster.access, ...opts });
  apps.push(w);
  await w.app.ready();
  return w.app;
}

/** Listens on loopback; returns the base URL. */
async function listen(app: FastifyInstance): Promise<string> {
  await app.listen({ host: '127.0.0.1', port: 0 });
  const a = app.server.address();
  return `http://127.0.0.1:${a !== null && typeof a === 'object' ? a.port : 0}`;
}

const login = (app: FastifyInstance, username: string, password: string, remoteAddress = '127.0.0.1', headers: Record<string, string> = {}) =>
  app.inject({ method: 'POST', url: '/api/login', payload: { username, password }, remoteAddress, headers });

const stream = (base: string, cookie: string): Promise<Response> => fetch(`${base}/api/events`, { headers: { cookie: `${SESSION_COOKIE}=${cookie}` } });

describe('sign-in limits', () => {
  test('attack: five addresses kept guessing one account: after 10 attempts at one account in a minute, from any address, it is 429 (the right password too) while other accounts sign in', async () => {
    const signup = await webFor();
    await signUp(signup, 'victim', 'the real password');
    await signUp(signup, 'bystander', 'the real password');
    const app = await webFor();
    assert.equal(AUTH_PER_ACCOUNT.max, 10);
    // Two guesses from each of five addresses: every address stays under its own limit of 10.
    for (let i = 0; i < 10; i++) problem(await login(app, 'victim', `guess number ${i}`, `10.0.0.${(i % 5) + 1}`), 401, 'UNAUTHENTICATED');
    const sixth = await login(app, 'victim', 'guess number 10', '10.0.0.6');
    const p = problem(sixth, 429, 'RATE_LIMITED');
    assert.match(String(p.detail), /too many sign-in attempts for the account victim/);
    assert.ok(Number(sixth.headers['retry-after']) > 0, String(sixth.headers['retry-after']));
    problem(await login(app, 'VICTIM', 'the real password', '10.0.0.7'), 429, 'RATE_LIMITED');
    // Sign-up attempts at the name count too (any case).
    problem(await app.inject({ method: 'POST', url: '/api/register', payload: { username: 'Victim', password: 'long enough' }, remoteAddress: '10.0.0.8' }), 429, 'RATE_LIMITED');
    const other = await login(app, 'bystander', 'the real password', '10.0.0.1');
    assert.equal(other.statusCode, 200, other.body);
  });

  test('attack: behind the HTTPS proxy every user shared one sign-in bucket: with trustProxy each forwarded client has its own; without it X-Forwarded-For is ignored', async () => {
    const limit = { authRateLimit: { max: 3, windowMs: 60_000 } };
    // Behind a proxy at 127.0.0.1 that forwards the client's address.
    const proxied = await webFor({ ...limit, trustProxy: ['127.0.0.1'] });
    const via = (client: string) => ({ 'x-forwarded-for': client });
    for (let i = 0; i < 3; i++) problem(await login(proxied, `nobody${i}`, 'wrong horse', '127.0.0.1', via('203.0.113.1')), 401, 'UNAUTHENTICATED');
    problem(await login(proxied, 'nobody3', 'wrong horse', '127.0.0.1', via('203.0.113.1')), 429, 'RATE_LIMITED');
    problem(await login(proxied, 'nobody4', 'wrong horse', '127.0.0.1', via('203.0.113.2')), 401, 'UNAUTHENTICATED');
    // A client that reaches the server directly cannot choose its address with the header.
    for (let i = 0; i < 3; i++) problem(await login(proxied, `direct${i}`, 'wrong horse', '198.51.100.7', via(`192.0.2.${i}`)), 401, 'UNAUTHENTICATED');
    problem(await login(proxied, 'direct3', 'wrong horse', '198.51.100.7', via('192.0.2.99')), 429, 'RATE_LIMITED');

    // Without trustProxy, the header is ignored: a new X-Forwarded-For is not a new bucket.
    const plain = await webFor(limit);
    for (let i = 0; i < 3; i++) problem(await login(plain, `plain${i}`, 'wrong horse', '127.0.0.1', via(`192.0.2.${i}`)), 401, 'UNAUTHENTICATED');
    problem(await login(plain, 'plain3', 'wrong horse', '127.0.0.1', via('192.0.2.50')), 429, 'RATE_LIMITED');
  });
});

describe('event streams', () => {
  test('attack: an event stream stayed open after logout: logging out on this server ends that session\'s streams at once, not other sessions\'', async () => {
    const app = await webFor();
    const base = await listen(app);
    const token = await signUp(app, 'leaver');
    const other = sessionCookie(await login(app, 'leaver', 'correct horse'));
    const mine = [await stream(base, token), await stream(base, token)];
    const theirs = await stream(base, other);
    for (const r of [...mine, theirs]) assert.equal(r.status, 200);
    assert.equal((await app.inject({ method: 'DELETE', url: '/api/login', cookies: { [SESSION_COOKIE]: token } })).statusCode, 204);
    for (const r of mine) assert.ok(await streamEnds(r, 10_000), 'the logged-out session\'s stream ends');
    assert.equal(await streamEnds(theirs, 500), false, 'another session of the same user keeps its stream');
    assert.equal((await stream(base, token)).status, 401, 'and cannot open a new one');
  });

  test('attack: a stream outlived a session ended elsewhere (logout on another web server): it is closed at the next session re-check', async () => {
    const app = await webFor({ eventLimits: { sessionRecheckMs: 200 } });
    const base = await listen(app);
    const elsewhere = await webFor();
    const token = await signUp(app, 'roamer');
    const r = await stream(base, token);
    assert.equal(r.status, 200);
    assert.equal((await elsewhere.inject({ method: 'DELETE', url: '/api/login', cookies: { [SESSION_COOKIE]: token } })).statusCode, 204);
    assert.ok(await streamEnds(r, 10_000), 'the stream ends once its session is gone from the cluster');
  });

  test('attack: one free account opened event streams until every other user\'s slot was taken: a 9th stream of one account is 429, others still get theirs', async () => {
    // A server with room for 12 streams: without a per-account cap, one account takes all 12.
    const app = await webFor({ eventLimits: { clients: 12 } });
    const base = await listen(app);
    const hog = await signUp(app, 'hog');
    const open: Response[] = [];
    for (let i = 0; i < EVENT_LIMITS.perUser; i++) {
      const r = await stream(base, hog);
      assert.equal(r.status, 200, `stream ${i + 1}`);
      open.push(r);
    }
    // Another session of the same account counts too.
    const hog2 = sessionCookie(await login(app, 'HOG', 'correct horse'));
    const refused = await stream(base, hog2);
    assert.equal(refused.status, 429);
    assert.equal(refused.headers.get('content-type'), 'application/problem+json; charset=utf-8');
    const p = (await refused.json()) as Record<string, unknown>;
    assert.equal(p.code, 'TOO_MANY_STREAMS');
    assert.match(String(p.detail), /already has 8 live pages open/);
    assert.ok(Number(refused.headers.get('retry-after')) > 0);
    assert.equal(EVENT_LIMITS.perUser, 8);
    for (const name of ['alice1', 'bob1', 'cy1', 'dee1']) {
      const r = await stream(base, await signUp(app, name));
      assert.equal(r.status, 200, `${name} gets a stream`);
      open.push(r);
    }
    // Closing one of its pages frees a slot for the account.
    const first = open.shift() as Response;
    await first.body?.cancel();
    let again: Response | null = null;
    for (let i = 0; i < 50 && again?.status !== 200; i++) {
      await again?.body?.cancel();
      again = await stream(base, hog);
      if (again.status !== 200) await new Promise((r) => setTimeout(r, 100));
    }
    assert.equal(again?.status, 200);
    await again?.body?.cancel();
    for (const r of open) await r.body?.cancel();
  });
});

test('attack: a page that never reads its event stream made the server keep every event for it: past 1 MiB unread its stream is dropped, while a page that reads keeps its stream', async () => {
  const web = await spawnNode('web', ['web', '--port', '0', '--host', '127.0.0.1', '--coordinator', cluster.address], cluster.keyEnv);
  procs.push(web.proc);
  const base = `http://${web.address}`;
  const token = await signUpOverHttp(base, 'sleeper');
  const abort = new AbortController();
  const reader = await fetch(`${base}/api/events`, { headers: { cookie: `${SESSION_COOKIE}=${token}` }, signal: abort.signal });
  // The page that never reads: a raw socket that sends its request, then reads nothing until the end.
  const stuck = connect(Number(new URL(base).port), '127.0.0.1');
  stuck.pause();
  let ended = false;
  stuck.on('end', () => (ended = true));
  stuck.on('close', () => (ended = true));
  stuck.write(`GET /api/events HTTP/1.1\r\nHost: x\r\nCookie: ${SESSION_COOKIE}=${token}\r\n\r\n`);
  await new Promise((r) => setTimeout(r, 300));
  // About 8 MB of events, posted one by one from 8 connections (the posts of one transaction share
  // one seq); loopback's kernel buffers hold a few MB before the server's own queue grows.
  const content = '🙂'.repeat(280);
  const total = 7_000;
  let n = 0;
  let seen = 0;
  const counting = countEvents(reader, () => seen++);
  await Promise.all(
    Array.from({ length: 8 }, async () => {
      const c = await TweetdbClient.connect(cluster.address, 5_000, null, cluster.adminToken);
      try {
        while (n < total) {
          const r = await c.request({ action: 'post', tweet: { id: `fat-${n++}`, username: 'sleeper', content } });
          assert.equal(r.status, 'OK', JSON.stringify(r));
        }
      } finally {
        c.close();
      }
    }),
  );
  // Now read what the stuck page was sent: the server ended it long before the last event.
  stuck.resume();
  let bytes = 0;
  stuck.on('data', (d: Buffer) => (bytes += d.length));
  const until = Date.now() + 20_000;
  while (!ended && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
  assert.ok(ended, `the server dropped the stream of the page that read nothing (${bytes} bytes read of about ${n * 1200})`);
  assert.ok(bytes < n * 1100, `it was dropped before the end: ${bytes} bytes of about ${n * 1200}`);
  // The page that reads got everything.
  while (seen < n && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
  assert.equal(seen, n, 'the page that reads got every event');
  abort.abort();
  await counting;
  assert.equal(EVENT_LIMITS.maxBufferedBytes, 1024 * 1024);
});

/** Counts the tweet.created events of a stream until it ends or is cancelled. */
async function countEvents(res: Response, onEvent: () => void): Promise<void> {
  const r = res.body?.getReader();
  const decoder = new TextDecoder();
  let buf = '';
  try {
    for (;;) {
      const chunk = await r?.read();
      if (chunk === undefined || chunk.done) return;
      buf += decoder.decode(chunk.value, { stream: true });
      let i: number;
      while ((i = buf.indexOf('event: tweet.created\n')) >= 0) {
        onEvent();
        buf = buf.slice(i + 1);
      }
      if (buf.length > 64) buf = buf.slice(-64);
    }
  } catch {
    // cancelled
  }
}

describe('usernames regardless of case', () => {
  test('attack: `Alice` and `alice` were two accounts with one avatar: registering `alice` when `Alice` exists is 409; any case signs in to Alice, shown as typed at sign-up', async () => {
    const app = await webFor();
    const r = await app.inject({ method: 'POST', url: '/api/register', payload: { username: 'Alice', password: 'alice password' } });
    assert.equal(r.statusCode, 201, r.body);
    for (const name of ['alice', 'ALICE', 'aLiCe']) {
      const p = problem(await app.inject({ method: 'POST', url: '/api/register', payload: { username: name, password: 'another password' } }), 409, 'EXISTS');
      assert.match(String(p.detail), new RegExp(`username ${name} is taken`));
    }
    for (const name of ['alice', 'ALICE', 'Alice']) {
      const l = await login(app, name, 'alice password');
      assert.equal(l.statusCode, 200, l.body);
      assert.deepEqual(json(l), { username: 'Alice' });
      const cookies = { [SESSION_COOKIE]: sessionCookie(l) };
      assert.deepEqual(json(await app.inject({ method: 'GET', url: '/api/me', cookies })), { username: 'Alice' });
    }
    problem(await login(app, 'alice', 'another password'), 401, 'UNAUTHENTICATED');
    const cookies = { [SESSION_COOKIE]: sessionCookie(await login(app, 'aLICE', 'alice password')) };
    const t = await app.inject({ method: 'POST', url: '/api/tweet', cookies, payload: { content: 'one Alice' } });
    assert.equal(json(t).username, 'Alice', 'the author is the name as chosen, whatever case was typed to sign in');
  });

  test('an account made by the previous version (stored under the name as typed) still signs in; its first sign-in moves it, and then its name is taken in every case', async () => {
    const app = await webFor();
    const c = await TweetdbClient.connect(cluster.address, 5_000, null, cluster.adminToken);
    try {
      for (const key of ['Old_Timer', 'oldlower']) {
        const put = await c.request({ action: 'put_item', item: { kind: 'user', key, value: { password: await hashPassword('old password'), created_at: '2025-01-01T00:00:00.000Z' } } });
        assert.equal(put.status, 'OK', JSON.stringify(put));
      }
    } finally {
      c.close();
    }
    // All lower case: found in any case, and taken in any case.
    assert.deepEqual(json(await login(app, 'OldLower', 'old password')), { username: 'oldlower' });
    problem(await app.inject({ method: 'POST', url: '/api/register', payload: { username: 'OLDLOWER', password: 'long enough' } }), 409, 'EXISTS');
    // With capitals: its exact name is taken, and it signs in with it.
    problem(await app.inject({ method: 'POST', url: '/api/register', payload: { username: 'Old_Timer', password: 'long enough' } }), 409, 'EXISTS');
    const first = await login(app, 'Old_Timer', 'old password');
    assert.equal(first.statusCode, 200, first.body);
    assert.deepEqual(json(first), { username: 'Old_Timer' });
    // Moved: now any case finds it and no case can be registered.
    assert.deepEqual(json(await login(app, 'old_timer', 'old password')), { username: 'Old_Timer' });
    problem(await app.inject({ method: 'POST', url: '/api/register', payload: { username: 'old_timer', password: 'long enough' } }), 409, 'EXISTS');
    problem(await login(app, 'old_timer', 'wrong password'), 401, 'UNAUTHENTICATED');
  });
});

describe('static paths', () => {
  const ODD = ['/%c0%ae%c0%ae/%c0%ae', '/%c0', '/js/%c0%ae', '/a%ff', '/%5c..%5cindex.html', '/..%5c..%5cetc/passwd', '/%00', '/index.html%00', '/api/%c0'];

  test('attack: odd static paths (/%c0%ae%c0%ae/%c0%ae, /%5c..%5c...) answered 500 and logged a stack trace each time: now 404 problem+json, nothing logged as an error', async () => {
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        lines.push(...chunk.toString('utf8').split('\n').filter((l) => l.length > 0));
        done();
      },
    });
    const app = await webFor({ logger: pino({ level: 'info' }, sink) });
    for (const url of ODD) {
      const r = await app.inject({ method: 'GET', url });
      const p = problem(r, 404, 'NOT_FOUND');
      assert.match(String(p.detail), /^no such route: GET \//, url);
      for (const [k, v] of Object.entries(SECURITY_HEADERS)) assert.equal(r.headers[k], v, `${k} on ${url}`);
    }
    // The same through a real socket, as the attacker sent it.
    const base = await listen(app);
    const port = Number(new URL(base).port);
    const raw = await new Promise<string>((resolve, reject) => {
      const s = connect(port, '127.0.0.1');
      let buf = '';
      s.on('data', (d: Buffer) => (buf += d.toString('latin1')));
      s.on('error', reject);
      s.on('close', () => resolve(buf));
      s.write('GET /%c0%ae%c0%ae/%c0%ae HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    });
    assert.match(raw, /^HTTP\/1\.1 404 /);
    assert.match(raw, /content-type: application\/problem\+json/i);
    const errors = lines.filter((l) => (JSON.parse(l) as { level: number }).level >= 50);
    assert.deepEqual(errors, [], 'no error (and no stack trace) logged');
    assert.ok(!lines.some((l) => l.includes('"stack"')), lines.join('\n'));
    // The page itself is still served.
    assert.equal((await app.inject({ method: 'GET', url: '/' })).statusCode, 200);
  });
});
