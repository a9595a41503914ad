// Replies, likes and counts through the web API (fastify inject) against a real 2-worker
// cluster: each write one transaction; at most one like per user per tweet; a burst of 100
// users liking one tweet within a second counted exactly once each.

import { test, after, before, describe } from 'node:test';
import assert from 'node:assert/strict';
import type { FastifyInstance } from 'fastify';
import { buildWebApp, type WebApp } from '../../src/web/server.ts';
import { SESSION_COOKIE } from '../../src/web/auth.ts';
import { Cluster } from '../helpers/cluster.ts';
import { json, problem, signUp, type Json } from '../helpers/web.ts';

const clusters: Cluster[] = [];
const apps: WebApp[] = [];
after(async () => {
  for (const w of apps) await w.app.close();
  await Promise.all(clusters.map((c) => c.stop()));
});

describe('replies and likes against a real 2-worker cluster', () => {
  let app: FastifyInstance;
  let ada: string;
  let bob: string;
  const as = (cookie: string) => ({ cookies: { [SESSION_COOKIE]: cookie } });
  const social = async (cookie: string, id: string): Promise<Json> => (json(await app.inject({ method: 'GET', url: `/api/social?ids=${encodeURIComponent(id)}`, ...as(cookie) })).tweets as Record<string, Json>)[id] as Json;
  const post = async (cookie: string, content: string): Promise<Json> => {
    const r = await app.inject({ method: 'POST', url: '/api/tweet', ...as(cookie), payload: { content } });
    assert.equal(r.statusCode, 201, r.body);
    return json(r);
  };

  before(async () => {
    const cluster = await Cluster.start({ workers: 2, lockTimeout: 10 });
    clusters.push(cluster);
    const w = await buildWebApp({ coordinator: cluster.address, coordinatorAccess: cluster.access, authRateLimit: { max: 1000, windowMs: 60_000 } });
    apps.push(w);
    await w.app.ready();
    app = w.app;
    ada = await signUp(app, 'ada');
    bob = await signUp(app, 'Bob');
  });

  test('a reply is a tweet with reply_to, and the parent counts it; a retried reply (same Idempotency-Key) counts once', async () => {
    const parent = await post(ada, 'what do you think?');
    const url = `/api/tweet/${String(parent.id)}/reply`;
    const headers = { 'idempotency-key': 'reply-1' };
    const a = await app.inject({ method: 'POST', url, headers, ...as(bob), payload: { content: 'I agree' } });
    const b = await app.inject({ method: 'POST', url, headers, ...as(bob), payload: { content: 'I agree' } });
    assert.equal(a.statusCode, 201, a.body);
    assert.equal(b.statusCode, 201, b.body);
    assert.deepEqual(json(a), json(b));
    assert.equal(json(a).username, 'Bob');
    assert.deepEqual(await social(ada, String(json(a).id)), { reply_to: parent.id, replies: 0, likes: 0, liked: false });
    assert.deepEqual(await social(ada, String(parent.id)), { reply_to: null, replies: 1, likes: 0, liked: false });
    problem(await app.inject({ method: 'POST', url, headers, ...as(bob), payload: { content: 'other text' } }), 422, 'IDEMPOTENCY_KEY_REUSED');
    problem(await app.inject({ method: 'POST', url: '/api/tweet/nope/reply', ...as(bob), payload: { content: 'hi' } }), 404, 'NOT_FOUND');
    problem(await app.inject({ method: 'POST', url, ...as(bob), payload: { content: '  ' } }), 400, 'INVALID');
  });

  test('a like counts once per user, however often it is sent; unlike takes it back once', async () => {
    const t = await post(ada, 'like me');
    const url = `/api/tweet/${String(t.id)}/like`;
    assert.deepEqual(json(await app.inject({ method: 'PUT', url, ...as(bob) })), { likes: 1, liked: true });
    assert.deepEqual(json(await app.inject({ method: 'PUT', url, ...as(bob) })), { likes: 1, liked: true });
    assert.deepEqual(json(await app.inject({ method: 'PUT', url, ...as(ada) })), { likes: 2, liked: true });
    assert.deepEqual(await social(bob, String(t.id)), { reply_to: null, replies: 0, likes: 2, liked: true });
    assert.deepEqual(json(await app.inject({ method: 'DELETE', url, ...as(bob) })), { likes: 1, liked: false });
    assert.deepEqual(json(await app.inject({ method: 'DELETE', url, ...as(bob) })), { likes: 1, liked: false });
    assert.deepEqual(await social(bob, String(t.id)), { reply_to: null, replies: 0, likes: 1, liked: false });
    problem(await app.inject({ method: 'PUT', url: '/api/tweet/nope/like', ...as(bob) }), 404, 'NOT_FOUND');
    problem(await app.inject({ method: 'PUT', url }), 401, 'UNAUTHENTICATED');
  });

  test('a profile counts its tweets; deleting a reply takes it off its parent and its author, deleting a liked tweet drops its counts', async () => {
    const cy = await signUp(app, 'cy');
    const first = await post(cy, 'one');
    await post(cy, 'two');
    assert.deepEqual(json(await app.inject({ method: 'GET', url: '/api/user/CY', ...as(ada) })), { username: 'cy', tweets: 2 });
    const r = json(await app.inject({ method: 'POST', url: `/api/tweet/${String(first.id)}/reply`, ...as(cy), payload: { content: 'three' } }));
    await app.inject({ method: 'PUT', url: `/api/tweet/${String(first.id)}/like`, ...as(ada) });
    assert.deepEqual(await social(cy, String(first.id)), { reply_to: null, replies: 1, likes: 1, liked: false });
    assert.equal(json(await app.inject({ method: 'GET', url: '/api/user/cy', ...as(ada) })).tweets, 3);
    assert.equal((await app.inject({ method: 'DELETE', url: `/api/tweet/${String(r.id)}`, ...as(cy) })).statusCode, 204);
    assert.equal((await social(cy, String(first.id))).replies, 0);
    assert.equal(json(await app.inject({ method: 'GET', url: '/api/user/cy', ...as(ada) })).tweets, 2);
    assert.equal((await app.inject({ method: 'DELETE', url: `/api/tweet/${String(first.id)}`, ...as(cy) })).statusCode, 204);
    assert.deepEqual(await social(cy, String(first.id)), { reply_to: null, replies: 0, likes: 0, liked: false });
    assert.equal(json(await app.inject({ method: 'GET', url: '/api/user/cy', ...as(ada) })).tweets, 1);
    assert.deepEqual(json(await app.inject({ method: 'GET', url: '/api/user/nobody', ...as(ada) })), { username: 'nobody', tweets: 0 });
    problem(await app.inject({ method: 'GET', url: `/api/social?ids=${'a,'.repeat(101)}`, ...as(ada) }), 400, 'INVALID');
  });

  test('deep links: /u/NAME and /t/ID serve the page itself, so a reload shows the same page', async () => {
    for (const url of ['/u/ada', '/t/some-id']) {
      const r = await app.inject({ method: 'GET', url });
      assert.equal(r.statusCode, 200, url);
      assert.match(String(r.headers['content-type']), /^text\/html/);
      assert.match(r.body, /<script type="module" src="\/js\/app.js"><\/script>/);
    }
    problem(await app.inject({ method: 'GET', url: '/u/a/b' }), 404, 'NOT_FOUND');
  });

  test('100 users liking one tweet within a second: every like counted, exactly once', async () => {
    const t = await post(ada, 'the popular one');
    const users: string[] = [];
    for (let i = 0; i < 100; i += 10) users.push(...(await Promise.all(Array.from({ length: 10 }, (_, j) => signUp(app, `fan${i + j}`)))));
    const url = `/api/tweet/${String(t.id)}/like`;
    const started = Date.now();
    // Every user within the same second; a fifth of them press twice.
    const likes = await Promise.all(users.flatMap((u, i) => [app.inject({ method: 'PUT', url, ...as(u) }), ...(i % 5 === 0 ? [app.inject({ method: 'PUT', url, ...as(u) })] : [])]));
    const tookMs = Date.now() - started;
    for (const r of likes) assert.equal(r.statusCode, 200, r.body);
    assert.equal((await social(ada, String(t.id))).likes, 100);
    assert.ok(users.length === 100);
    for (const u of users.slice(0, 5)) assert.equal((await social(u, String(t.id))).liked, true);
    console.log(`# 120 like requests from 100 users: all answered in ${tookMs} ms`);
  });

  const replies = async (cookie: string, id: string, q = ''): Promise<Json> => {
    const r = await app.inject({ method: 'GET', url: `/api/tweet/${encodeURIComponent(id)}/replies${q}`, ...as(cookie) });
    assert.equal(r.statusCode, 200, r.body);
    return json(r);
  };
  const replyTo = async (cookie: string, id: string, content: string): Promise<Json> => {
    const r = await app.inject({ method: 'POST', url: `/api/tweet/${encodeURIComponent(id)}/reply`, ...as(cookie), payload: { content } });
    assert.equal(r.statusCode, 201, r.body);
    return json(r);
  };
  const texts = (page: Json): string[] => (page.tweets as Json[]).map((t) => String(t.content));

  test("a post's replies are listed oldest first, paged; deleting a reply takes it off the list, deleting the post drops the list", async () => {
    const p = await post(ada, 'a thread');
    const id = String(p.id);
    assert.deepEqual(await replies(ada, id), { tweets: [], next: null });
    const made = [];
    for (const c of ['r1', 'r2', 'r3']) made.push(await replyTo(bob, id, c));
    const first = await replies(ada, id, '?limit=2');
    assert.deepEqual(texts(first), ['r1', 'r2']);
    assert.equal(typeof first.next, 'string');
    const second = await replies(ada, id, `?limit=2&after=${String(first.next)}`);
    assert.deepEqual(second, { tweets: [made[2]], next: null });
    // a deleted reply leaves the list in the same transaction; the cursor still holds
    assert.equal((await app.inject({ method: 'DELETE', url: `/api/tweet/${String(made[0]?.id)}`, ...as(bob) })).statusCode, 204);
    assert.deepEqual(texts(await replies(ada, id)), ['r2', 'r3']);
    assert.deepEqual(texts(await replies(ada, id, `?after=${String(first.next)}`)), ['r3']);
    assert.equal((await social(ada, id)).replies, 2);
    assert.equal((await app.inject({ method: 'DELETE', url: `/api/tweet/${id}`, ...as(ada) })).statusCode, 204);
    problem(await app.inject({ method: 'GET', url: `/api/tweet/${id}/replies`, ...as(ada) }), 404, 'NOT_FOUND');
    problem(await app.inject({ method: 'GET', url: `/api/tweet/x/replies?after=abc`, ...as(ada) }), 400, 'INVALID');
    problem(await app.inject({ method: 'GET', url: `/api/tweet/x/replies?limit=101`, ...as(ada) }), 400, 'INVALID');
    problem(await app.inject({ method: 'GET', url: `/api/tweet/${id}/replies` }), 401, 'UNAUTHENTICATED');
  });

  test('20 replies to one post at once: every one counted and listed exactly once', async () => {
    const p = await post(ada, 'reply all at once');
    const id = String(p.id);
    const rs = await Promise.all(Array.from({ length: 20 }, (_, i) => app.inject({ method: 'POST', url: `/api/tweet/${id}/reply`, ...as(i % 2 === 0 ? bob : ada), payload: { content: `at once ${i}` } })));
    for (const r of rs) assert.equal(r.statusCode, 201, r.body);
    assert.equal((await social(ada, id)).replies, 20);
    const listed = await replies(ada, id, '?limit=100');
    assert.deepEqual(new Set((listed.tweets as Json[]).map((t) => t.id)), new Set(rs.map((r) => json(r).id)));
    assert.equal((listed.tweets as Json[]).length, 20);
  });

  const tagged = async (cookie: string, tag: string, q = ''): Promise<Json> => {
    const r = await app.inject({ method: 'GET', url: `/api/tag/${encodeURIComponent(tag)}${q}`, ...as(cookie) });
    assert.equal(r.statusCode, 200, r.body);
    return json(r);
  };
  const edit = async (cookie: string, id: string, content: string): Promise<Json> => {
    const r = await app.inject({ method: 'PUT', url: `/api/tweet/${encodeURIComponent(id)}`, ...as(cookie), payload: { content } });
    assert.equal(r.statusCode, 200, r.body);
    return json(r);
  };

  test("a tag's posts are listed newest first, paged, whatever the case; an edit moves a post between tags, a delete takes it off", async () => {
    const a = await post(ada, 'first on #Paxos');
    const b = await post(bob, 'second on #paxos and #raft');
    const c = await post(ada, 'third: #PAXOS #paxos, twice in one post');
    const page = await tagged(bob, 'Paxos');
    assert.equal(page.tag, 'paxos');
    assert.equal(page.max, 80);
    assert.deepEqual(texts(page), [c.content, b.content, a.content]);
    assert.equal(page.next, null);
    const first = await tagged(bob, 'paxos', '?limit=2');
    assert.deepEqual(texts(first), [c.content, b.content]);
    assert.equal(typeof first.next, 'string');
    const link = (await app.inject({ method: 'GET', url: '/api/tag/paxos?limit=2', ...as(bob) })).headers.link;
    assert.equal(link, `</api/tag/paxos?limit=2&before=${encodeURIComponent(String(first.next))}>; rel="next"`);
    assert.deepEqual(await tagged(bob, 'paxos', `?limit=2&before=${encodeURIComponent(String(first.next))}`), { tag: 'paxos', tweets: [a], next: null, max: 80 });
    assert.deepEqual(texts(await tagged(ada, 'raft')), [b.content]);

    // an edit that drops #paxos and adds #zab moves the post, in one transaction
    const edited = await edit(bob, String(b.id), 'second, now on #zab and #raft');
    assert.equal(edited.content, 'second, now on #zab and #raft');
    assert.deepEqual(texts(await tagged(ada, 'paxos')), [c.content, a.content]);
    assert.deepEqual(texts(await tagged(ada, 'zab')), ['second, now on #zab and #raft']);
    assert.deepEqual(texts(await tagged(ada, 'raft')), ['second, now on #zab and #raft']);
    // the cursor of a page still holds after a post before it went
    assert.deepEqual(texts(await tagged(ada, 'paxos', `?before=${encodeURIComponent(String(first.next))}`)), [a.content]);
    // an edit that adds a tag lists the post by its own time, under the newer ones
    await edit(ada, String(a.id), 'first on #Paxos and #zab');
    assert.deepEqual(texts(await tagged(ada, 'zab')), ['second, now on #zab and #raft', 'first on #Paxos and #zab']);
    // an edit of someone else's post is refused, and changes no list
    problem(await app.inject({ method: 'PUT', url: `/api/tweet/${String(c.id)}`, ...as(bob), payload: { content: 'no tags now' } }), 403, 'FORBIDDEN');
    assert.equal(texts(await tagged(ada, 'paxos'))[0], c.content);
    // a delete takes the post off every tag it carries; an emptied tag lists nothing
    assert.equal((await app.inject({ method: 'DELETE', url: `/api/tweet/${String(b.id)}`, ...as(bob) })).statusCode, 204);
    assert.deepEqual(await tagged(ada, 'raft'), { tag: 'raft', tweets: [], next: null, max: 80 });
    assert.deepEqual(texts(await tagged(ada, 'zab')), ['first on #Paxos and #zab']);
    // a post with a tag nobody used: an empty page, not an error
    assert.deepEqual(await tagged(ada, 'nobody_uses_this'), { tag: 'nobody_uses_this', tweets: [], next: null, max: 80 });
  });

  test('tags are validated: only digits, too long or other characters are 400; past the first 10 tags of a post nothing is indexed; /tag/NAME serves the page', async () => {
    for (const bad of ['123', 'a'.repeat(65), 'no-dash', 'two words']) problem(await app.inject({ method: 'GET', url: `/api/tag/${encodeURIComponent(bad)}`, ...as(ada) }), 400, 'INVALID');
    problem(await app.inject({ method: 'GET', url: '/api/tag/ok?before=notacursor', ...as(ada) }), 400, 'INVALID');
    problem(await app.inject({ method: 'GET', url: '/api/tag/ok?limit=101', ...as(ada) }), 400, 'INVALID');
    problem(await app.inject({ method: 'GET', url: '/api/tag/ok' }), 401, 'UNAUTHENTICATED');
    assert.equal((await tagged(ada, 'a'.repeat(64))).tag, 'a'.repeat(64));
    assert.equal((await tagged(ada, 'Été_2026')).tag, 'été_2026');
    const many = Array.from({ length: 12 }, (_, i) => `#many${i}`).join(' ');
    const t = await post(ada, `issue #7 is not a tag; ${many}`);
    for (let i = 0; i < 10; i++) assert.deepEqual((await tagged(ada, `many${i}`)).tweets, [t], `#many${i}`);
    for (const i of [10, 11]) assert.deepEqual((await tagged(ada, `many${i}`)).tweets, [], `#many${i}`);
    const r = await app.inject({ method: 'GET', url: '/tag/databases' });
    assert.equal(r.statusCode, 200);
    assert.match(r.body, /<script type="module" src="\/js\/app.js"><\/script>/);
  });

  test('20 posts with one tag at once: every one listed exactly once; past 80 only the newest 80 are listed', async () => {
    const rs = await Promise.all(Array.from({ length: 20 }, (_, i) => app.inject({ method: 'POST', url: '/api/tweet', ...as(i % 2 === 0 ? bob : ada), payload: { content: `at once ${i} #burst` } })));
    for (const r of rs) assert.equal(r.statusCode, 201, r.body);
    const listed = await tagged(ada, 'burst', '?limit=100');
    assert.equal((listed.tweets as Json[]).length, 20);
    assert.deepEqual(new Set((listed.tweets as Json[]).map((t) => t.id)), new Set(rs.map((r) => json(r).id)));
    for (let i = 0; i < 61; i++) await post(ada, `one more ${i} #burst`);
    const all = await tagged(ada, 'burst', '?limit=100');
    assert.equal((all.tweets as Json[]).length, 80);
    assert.equal(texts(all)[0], 'one more 60 #burst');
    // 81 posts carry it: the 61 after the burst and the burst's newest 19 are listed, its oldest fell off the end
    assert.equal(texts(all).filter((c) => c.startsWith('at once')).length, 19);
  });
});
