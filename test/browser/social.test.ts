// Profiles, post pages, links, tags, likes and replying from the page in a real headless Chromium at 1280x800 and
// 390x844, against a real cluster and a `tweetdb web` process, and the like burst of issue #15: a post's page open
// while 100 signed-in users like the post within a second. Screenshots go to docs/screenshots/.

import { test, after, before, describe } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { Cluster, spawnNode, waitExit, type NodeProc } from '../helpers/cluster.ts';
import { launchChromium, withChromium } from '../helpers/browser.ts';
import { signUpOverHttp } from '../helpers/web.ts';
import { SESSION_COOKIE } from '../../src/web/auth.ts';

const SHOTS = join(process.cwd(), 'docs', 'screenshots');
const SIZES = [
  { name: 'desktop', viewport: { width: 1280, height: 800 } },
  { name: 'phone', viewport: { width: 390, height: 844 } },
] as const;

withChromium('browser tests of profiles and likes', (exe) => {
  describe('people, links, replies and likes in headless Chromium', () => {
    let cluster: Cluster;
    let web: NodeProc;
    let base: string;
    let browser: Browser;
    let ada = '';
    let bob = '';
    let parentId = '';

    const call = (cookie: string, method: string, path: string, body?: unknown): Promise<Response> =>
      fetch(new URL(path, base), { method, headers: { cookie: `${SESSION_COOKIE}=${cookie}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) }, body: body === undefined ? undefined : JSON.stringify(body) });
    const api = async (cookie: string, method: string, path: string, body?: unknown): Promise<Record<string, unknown>> => {
      const r = await call(cookie, method, path, body);
      const text = await r.text();
      assert.ok(r.ok, `${method} ${path}: ${r.status} ${text}`);
      return JSON.parse(text) as Record<string, unknown>;
    };

    before(async () => {
      mkdirSync(SHOTS, { recursive: true });
      cluster = await Cluster.start({ workers: 2, lockTimeout: 2 });
      // Sign-ups are limited per client address (10 a minute): behind a trusted "proxy" (this test, on
      // loopback) the like burst's fans each sign up from an address of their own (192.0.2.0/24, TEST-NET-1).
      web = await spawnNode('web', ['web', '--port', '0', '--host', '127.0.0.1', '--coordinator', cluster.address, '--trust-proxy', '127.0.0.1'], cluster.keyEnv);
      base = `http://${web.address}/`;
      browser = await launchChromium(exe);
      ada = await signUpOverHttp(base, 'ada');
      bob = await signUpOverHttp(base, 'bob');
      const parent = await api(ada, 'POST', '/api/tweet', { content: 'Reading https://example.com/paper.pdf with @bob today #databases' });
      parentId = String(parent.id);
      await api(bob, 'POST', `/api/tweet/${parentId}/reply`, { content: 'Two-phase commit, nice. Send me your notes @ada' });
      await api(bob, 'PUT', `/api/tweet/${parentId}/like`);
      await api(ada, 'POST', '/api/tweet', { content: 'A second post from ada' });
    });

    after(async () => {
      await browser?.close();
      if (web !== undefined && web.proc.exitCode === null) {
        web.proc.kill('SIGTERM');
        await waitExit(web.proc);
      }
      await cluster?.stop();
    });

    async function pageAt(viewport: { width: number; height: number }, path: string, cookie = ada): Promise<Page> {
      const ctx = await browser.newContext({ viewport, deviceScaleFactor: 1 });
      await ctx.addCookies([{ name: SESSION_COOKIE, value: cookie, url: base }]);
      const page = await ctx.newPage();
      page.setDefaultTimeout(10_000);
      await page.goto(new URL(path, base).href);
      return page;
    }

    for (const { name, viewport } of SIZES) {
      test(`${name}: the timeline shows replies and likes; links are DOM links with the right rel; liking toggles`, async () => {
        const page = await pageAt(viewport, '/');
        const parent = page.locator(`li.tweet[data-id="${parentId}"]`);
        await parent.locator('.btn-like', { hasText: 'Like · 1' }).waitFor();
        await parent.locator('.tweet-replies', { hasText: '1 reply' }).waitFor();
        const out = parent.locator('a.tweet-link');
        assert.equal(await out.getAttribute('href'), 'https://example.com/paper.pdf');
        assert.equal(await out.getAttribute('rel'), 'noopener noreferrer nofollow');
        assert.equal(await parent.locator('a.tweet-mention').getAttribute('href'), '/u/bob');
        await page.locator('.tweet-reply-to', { hasText: 'Replying to' }).first().waitFor();
        await parent.locator('.btn-like').click();
        await parent.locator('.btn-like[aria-pressed="true"]', { hasText: 'Liked · 2' }).waitFor();
        await page.screenshot({ path: join(SHOTS, `social-timeline-${name}.png`) });
        await parent.locator('.btn-like').click();
        await parent.locator('.btn-like[aria-pressed="false"]', { hasText: 'Like · 1' }).waitFor();
        await page.context().close();
      });

      test(`${name}: an author name opens the profile (count, newest first); reload and back keep the page; a time opens the post`, async () => {
        const page = await pageAt(viewport, '/');
        await page.locator(`li.tweet[data-id="${parentId}"] a.tweet-author`).click();
        await page.waitForURL(/\/u\/ada$/);
        await page.locator('#timeline-heading', { hasText: '@ada · 2 posts' }).waitFor();
        const authors = await page.locator('li.tweet .tweet-author').allTextContents();
        assert.deepEqual(authors, ['ada', 'ada']);
        assert.equal(await page.locator('li.tweet .tweet-content').first().textContent(), 'A second post from ada');
        await page.screenshot({ path: join(SHOTS, `social-profile-${name}.png`) });
        await page.reload();
        await page.locator('#timeline-heading', { hasText: '@ada · 2 posts' }).waitFor();
        await page.locator(`li.tweet[data-id="${parentId}"] a.tweet-permalink`).click();
        await page.waitForURL(new RegExp(`/t/${parentId}$`));
        await page.locator('#timeline-heading', { hasText: 'Post' }).waitFor();
        // the post, then its one reply (bob's) under it
        await page.locator('li.tweet-thread-reply').first().waitFor();
        assert.deepEqual(await page.locator('li.tweet').evaluateAll((lis) => lis.map((li) => (li as HTMLElement).dataset.id === lis[0]?.getAttribute('data-id'))), [true, false]);
        assert.equal(await page.locator('li.tweet').first().getAttribute('data-id'), parentId);
        await page.goBack();
        await page.locator('#timeline-heading', { hasText: '@ada · 2 posts' }).waitFor();
        await page.context().close();
      });

    }

    // After the tests above, which read the seeded posts on the first page of the home timeline.
    for (const { name, viewport } of SIZES) {
      test(`${name}: Reply opens a composer under the tweet (focus, counter, the 280 limit); the reply shows with "Replying to", under its parent on /t/ID after a reload, paged and live, and the count follows`, async () => {
        const cy = await signUpOverHttp(base, `cy_${name}`);
        const parent = String((await api(cy, 'POST', '/api/tweet', { content: `Who has read the 2PC paper? (${name})` })).id);
        const page = await pageAt(viewport, '/', cy);
        const head = page.locator(`li.tweet[data-id="${parent}"]`);
        await head.locator('.tweet-replies', { hasText: '0 replies' }).waitFor();
        await head.locator('.btn-reply').click();
        const box = head.locator('textarea.reply-editor');
        await box.waitFor();
        assert.equal(await box.evaluate((el) => el === document.activeElement), true);
        assert.equal(await head.locator('.btn-reply').getAttribute('aria-expanded'), 'true');
        await box.fill('x'.repeat(281));
        assert.equal(await head.locator('.reply-send').isDisabled(), true);
        await head.locator('.reply-form .hint', { hasText: '1 character over the limit.' }).waitFor();
        await box.fill('Me! The part on blocking was the best.');
        await head.locator('.reply-form .count', { hasText: '38/280' }).waitFor();
        await head.locator('.reply-send').click();
        const mine = page.locator('li.tweet', { hasText: 'Me! The part on blocking was the best.' });
        await mine.locator('.tweet-reply-to', { hasText: 'Replying to' }).waitFor();
        await head.locator('.tweet-replies', { hasText: '1 reply' }).waitFor();
        assert.equal(await head.locator('.reply-form').count(), 0);
        assert.equal(await head.locator('.btn-reply').evaluate((el) => el === document.activeElement), true);
        if (name === 'desktop') await page.screenshot({ path: join(SHOTS, `social-reply-${name}.png`) });

        // its page lists it under the post, after a reload too, and takes another reply from the page itself
        await head.locator('a.tweet-permalink').click();
        await page.waitForURL(new RegExp(`/t/${parent}$`));
        await page.reload();
        await page.locator('li.tweet-thread-reply', { hasText: 'Me! The part on blocking was the best.' }).waitFor();
        assert.equal(await page.locator('li.tweet').first().getAttribute('data-id'), parent);
        const top = page.locator('li.tweet-thread-head');
        await top.locator('.tweet-replies', { hasText: '1 reply' }).waitFor();
        await top.locator('.btn-reply').click();
        await top.locator('textarea.reply-editor').fill('And the one on presumed abort.');
        await top.locator('textarea.reply-editor').press('Control+Enter');
        await top.locator('.tweet-replies', { hasText: '2 replies' }).waitFor();
        await page.locator('li.tweet').nth(2).locator('.tweet-content', { hasText: 'And the one on presumed abort.' }).waitFor();
        await page.reload();
        await page.locator('li.tweet-thread-head .tweet-replies', { hasText: '2 replies' }).waitFor();
        assert.deepEqual(await page.locator('li.tweet-thread-reply .tweet-content').allTextContents(), ['Me! The part on blocking was the best.', 'And the one on presumed abort.']);
        if (name === 'phone') await page.screenshot({ path: join(SHOTS, `social-post-${name}.png`) });

        // more replies than a page: oldest first, the rest behind Load more
        for (let i = 0; i < 20; i++) await api(cy, 'POST', `/api/tweet/${parent}/reply`, { content: `reply ${i + 3}` });
        await page.reload();
        await page.locator('li.tweet-thread-head .tweet-replies', { hasText: '22 replies' }).waitFor();
        await page.locator('#load-more').waitFor();
        assert.equal(await page.locator('li.tweet-thread-reply').count(), 20);
        await page.locator('#load-more').click();
        await page.locator('li.tweet-thread-reply', { hasText: 'reply 22' }).waitFor();
        const texts = await page.locator('li.tweet-thread-reply .tweet-content').allTextContents();
        assert.equal(texts.length, 22);
        assert.deepEqual(texts.slice(0, 3), ['Me! The part on blocking was the best.', 'And the one on presumed abort.', 'reply 3']);
        assert.equal(texts[21], 'reply 22');
        // a reply made elsewhere shows up live under the post, and the count follows
        await api(ada, 'POST', `/api/tweet/${parent}/reply`, { content: `a live reply (${name})` });
        await page.locator('li.tweet-thread-reply', { hasText: `a live reply (${name})` }).waitFor();
        await page.locator('li.tweet-thread-head .tweet-replies', { hasText: '23 replies' }).waitFor();
        await page.context().close();
      });
    }

    // Last: bob's posts here must not come before the tests above, which count ada's and read the first page.
    for (const { name, viewport } of SIZES) {
      test(`${name}: a #tag is a link to /tag/NAME, which lists the tagged posts newest first with Load more; reload and back keep it; a post edited out of the tag leaves it`, async () => {
        const written = `Sharding_${name}`;
        const tag = written.toLowerCase();
        const older = String((await api(bob, 'POST', '/api/tweet', { content: `Notes on #${written}, part 1` })).id);
        const newer = String((await api(bob, 'POST', '/api/tweet', { content: `More on #${tag}, part 2 #other_${name}` })).id);
        const page = await pageAt(viewport, '/', bob);
        const link = page.locator(`li.tweet[data-id="${older}"] a.tweet-tag`);
        assert.equal(await link.textContent(), `#${written}`);
        assert.equal(await link.getAttribute('href'), `/tag/${tag}`);
        await link.click();
        await page.waitForURL(new RegExp(`/tag/${tag}$`));
        await page.locator('#timeline-heading', { hasText: `#${tag}` }).waitFor();
        await page.locator('#timeline-about', { hasText: 'Only the newest 80 are listed.' }).waitFor();
        await page.locator(`li.tweet[data-id="${older}"]`).waitFor();
        const ids = async (): Promise<(string | null)[]> => page.locator('li.tweet').evaluateAll((lis) => lis.map((li) => li.getAttribute('data-id')));
        assert.deepEqual(await ids(), [newer, older]);
        assert.equal(await page.title(), `#${tag} · tweetdb`);
        if (name === 'desktop') await page.screenshot({ path: join(SHOTS, `social-tag-${name}.png`) });

        // a reload, and a deep link in a new page, show the same list
        await page.reload();
        await page.locator(`li.tweet[data-id="${older}"]`).waitFor();
        assert.deepEqual(await ids(), [newer, older]);
        const deep = await pageAt(viewport, `/tag/${written}`, ada);
        await deep.locator('#timeline-heading', { hasText: `#${tag}` }).waitFor();
        await deep.locator(`li.tweet[data-id="${older}"]`).waitFor();
        assert.deepEqual(await deep.locator('li.tweet').evaluateAll((lis) => lis.map((li) => li.getAttribute('data-id'))), [newer, older]);
        await deep.context().close();

        // edited out of the tag: it leaves the open page (live) and the list (after a reload)
        await api(bob, 'PUT', `/api/tweet/${older}`, { content: 'Notes, part 1 (tag removed)' });
        await page.locator(`li.tweet[data-id="${older}"]`).waitFor({ state: 'detached' });
        await page.reload();
        await page.locator(`li.tweet[data-id="${newer}"]`).waitFor();
        assert.deepEqual(await ids(), [newer]);

        // one posted elsewhere arrives live; more than a page waits behind Load more
        await api(ada, 'POST', '/api/tweet', { content: `Live on #${tag} (${name})` });
        await page.locator('li.tweet', { hasText: `Live on #${tag} (${name})` }).waitFor();
        for (let i = 0; i < 20; i++) await api(ada, 'POST', '/api/tweet', { content: `#${tag} number ${i}` });
        await page.reload();
        await page.locator('li.tweet').first().locator('.tweet-content', { hasText: `#${tag} number 19` }).waitFor();
        assert.equal(await page.locator('li.tweet').count(), 20);
        await page.locator('#load-more').click();
        await page.locator(`li.tweet[data-id="${newer}"]`).waitFor();
        assert.equal(await page.locator('li.tweet').count(), 22);
        assert.equal(await page.locator('li.tweet').last().getAttribute('data-id'), newer);
        await page.locator('#timeline-end').waitFor();

        // back to the timeline, and forward to the tag again
        await page.goBack();
        await page.locator('#timeline-heading', { hasText: 'Latest' }).waitFor();
        assert.equal(await page.locator('#timeline-about').isVisible(), false);
        await page.goForward();
        await page.locator('#timeline-heading', { hasText: `#${tag}` }).waitFor();
        await page.context().close();
      });
    }

    // The like burst, as test/integration/web-social.test.ts runs it through inject, here over HTTP with a page open.
    const FANS = 100;
    const fans: string[] = [];
    async function signUpFans(): Promise<void> {
      for (let i = fans.length; i < FANS; i += 10) {
        fans.push(...(await Promise.all(Array.from({ length: 10 }, (_, j) => signUpOverHttp(base, `fan${i + j}`, 'correct horse', { 'x-forwarded-for': `192.0.2.${i + j + 1}` })))));
      }
    }

    for (const { name, viewport } of SIZES) {
      test(`${name}: a post's page is open while 100 users like it within a second (one by pressing Like there): the API and, after a reload, the page show 100`, async () => {
        await signUpFans();
        const fan0 = fans[0];
        assert.ok(fan0 !== undefined && fans.length === FANS);
        const id = String((await api(ada, 'POST', '/api/tweet', { content: `Like this if you read the 2PC paper (${name})` })).id);
        // fan0 has the post's page open and takes part from it; ada watches her timeline
        const page = await pageAt(viewport, `/t/${id}`, fan0);
        const head = page.locator('li.tweet-thread-head');
        await head.locator('.btn-like[aria-pressed="false"]', { hasText: 'Like · 0' }).waitFor();
        const timeline = await pageAt(viewport, '/', ada);
        await timeline.locator(`li.tweet[data-id="${id}"] .btn-like`, { hasText: 'Like · 0' }).waitFor();

        // all 100 at once: 99 PUTs sent together and a press of Like on the page
        const started = Date.now();
        const [answers] = await Promise.all([Promise.all(fans.slice(1).map((fan) => call(fan, 'PUT', `/api/tweet/${id}/like`))), head.locator('.btn-like').click()]);
        const bodies = await Promise.all(answers.map(async (r) => [r.status, await r.text()] as const));
        for (const [status, body] of bodies) assert.equal(status, 200, body);
        // the page's own like is answered with the count at that moment
        await head.locator('.btn-like[aria-pressed="true"]').waitFor();
        const tookMs = Date.now() - started;
        const shown = Number(/Liked · (\d+)/.exec((await head.locator('.btn-like').textContent()) ?? '')?.[1]);
        assert.ok(shown >= 1 && shown <= FANS, `the page showed ${shown} likes right after its own`);

        const social = (await api(ada, 'GET', `/api/social?ids=${id}`)).tweets as Record<string, unknown>;
        assert.deepEqual(social[id], { reply_to: null, replies: 0, likes: FANS, liked: false });
        assert.equal(((await api(fan0, 'GET', `/api/social?ids=${id}`)).tweets as Record<string, { liked: boolean }>)[id]?.liked, true);

        // likes are not pushed to open pages (the live feed carries tweets only): a reload shows the count
        await page.reload();
        await page.locator('li.tweet-thread-head .btn-like[aria-pressed="true"]', { hasText: `Liked · ${FANS}` }).waitFor();
        assert.equal(await page.locator('li.tweet-thread-head .btn-like').getAttribute('aria-label'), `Unlike this post (${FANS} likes)`);
        await timeline.reload();
        await timeline.locator(`li.tweet[data-id="${id}"] .btn-like[aria-pressed="false"]`, { hasText: `Like · ${FANS}` }).waitFor();
        console.log(`# ${name}: ${FANS} likes (${FANS - 1} over HTTP, 1 from the page) all answered in ${tookMs} ms`);
        await page.context().close();
        await timeline.context().close();
      });
    }
  });
});
