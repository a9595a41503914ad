// Profiles, post pages, links, likes and replying from the page in a real headless Chromium at 1280x800 and 390x844,
// against a real cluster and a `tweetdb web` process. Screenshots go to docs/screenshots/.

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
    let parentId = '';

    const api = async (cookie: string, method: string, path: string, body?: unknown): Promise<Record<string, unknown>> => {
      const r = await fetch(new URL(path, base), { method, headers: { cookie: `${SESSION_COOKIE}=${cookie}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) }, body: body === undefined ? undefined : JSON.stringify(body) });
      const text = await r.text();
      assert.ok(r.ok, `${method} ${path}: ${r.status} ${text}`);
      return JSON.parse(text) as Record<string, unknown>;
    };

    before(async () => {
      mkdirSync(SHOTS, { recursive: true });
      cluster = await Cluster.start({ workers: 2, lockTimeout: 2 });
      web = await spawnNode('web', ['web', '--port', '0', '--host', '127.0.0.1', '--coordinator', cluster.address]);
      base = `http://${web.address}/`;
      browser = await launchChromium(exe);
      ada = await signUpOverHttp(base, 'ada');
      const bob = await signUpOverHttp(base, 'bob');
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
  });
});
