// Profiles, post pages, links and likes in a real headless Chromium at 1280x800 and 390x844,
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

    async function pageAt(viewport: { width: number; height: number }, path: string): Promise<Page> {
      const ctx = await browser.newContext({ viewport, deviceScaleFactor: 1 });
      await ctx.addCookies([{ name: SESSION_COOKIE, value: ada, url: base }]);
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
        assert.equal(await page.locator('li.tweet').count(), 1);
        await page.goBack();
        await page.locator('#timeline-heading', { hasText: '@ada · 2 posts' }).waitFor();
        await page.context().close();
      });
    }
  });
});
