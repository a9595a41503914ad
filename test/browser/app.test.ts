// The web app in a real headless Chromium (playwright-core driving Debian's
// chromium), against a real cluster and a real `tweetdb web` process started
// here. Writes screenshots of the sign-in page and the timeline, at desktop
// and phone widths, to test-results/screenshots/.

import { test, after, before, describe } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { Cluster, spawnNode, waitExit, type NodeProc } from '../helpers/cluster.ts';
import { launchChromium, withChromium } from '../helpers/browser.ts';
import { TweetdbClient } from '../../src/client/client.ts';

const SHOTS = join(process.cwd(), 'test-results', 'screenshots');
const DESKTOP = { width: 1280, height: 800 };
const PHONE = { width: 375, height: 812 };
const PASSWORD = 'correct horse battery';

withChromium('browser tests', (exe) => {
  describe('the web app in headless Chromium', () => {
    let cluster: Cluster;
    let web: NodeProc;
    let base: string;
    let browser: Browser;
    const contexts: BrowserContext[] = [];
    /** Problems seen on any page: uncaught errors, console errors (CSP violations among them), dialogs. */
    const problems: string[] = [];
    const dialogs: string[] = [];

    before(async () => {
      mkdirSync(SHOTS, { recursive: true });
      cluster = await Cluster.start({ workers: 2, lockTimeout: 2 });
      web = await spawnNode('web', ['web', '--port', '0', '--host', '127.0.0.1', '--coordinator', cluster.address], cluster.keyEnv);
      base = `http://${web.address}/`;
      browser = await launchChromium(exe);
    });

    after(async () => {
      for (const c of contexts) await c.close().catch(() => undefined);
      await browser?.close();
      if (web !== undefined && web.proc.exitCode === null) {
        web.proc.kill('SIGTERM');
        await waitExit(web.proc);
      }
      await cluster?.stop();
    });

    async function newPage(viewport = DESKTOP): Promise<Page> {
      const ctx = await browser.newContext({ viewport, deviceScaleFactor: 1 });
      contexts.push(ctx);
      const page = await ctx.newPage();
      page.setDefaultTimeout(10_000);
      page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
      page.on('console', (m) => {
        // The browser logs every 4xx it is given (401 when signed out, the forged PUT's 403): those are the point.
        if (m.type() === 'error' && !/^Failed to load resource: the server responded with a status of 4\d\d/.test(m.text())) problems.push(`console error: ${m.text()}`);
      });
      page.on('dialog', (d) => {
        dialogs.push(`${d.type()}: ${d.message()}`);
        void d.dismiss();
      });
      return page;
    }

    /** Creates an account from the sign-in page (switching the form to "Create account" if need be). */
    async function signUp(page: Page, username: string): Promise<void> {
      await page.goto(base);
      await page.locator('#signin').waitFor({ state: 'visible' });
      if (!/create/i.test((await page.locator('#auth-submit').textContent()) ?? '')) await page.click('#auth-switch');
      await page.fill('#username', username);
      await page.fill('#password', PASSWORD);
      await page.click('#auth-submit');
      await page.locator('#app').waitFor({ state: 'visible' });
      assert.equal((await page.locator('#me').textContent())?.trim(), username);
    }

    async function signIn(page: Page, username: string): Promise<void> {
      await page.goto(base);
      await page.locator('#signin').waitFor({ state: 'visible' });
      if (/create/i.test((await page.locator('#auth-submit').textContent()) ?? '')) await page.click('#auth-switch');
      await page.fill('#username', username);
      await page.fill('#password', PASSWORD);
      await page.click('#auth-submit');
      await page.locator('#app').waitFor({ state: 'visible' });
    }

    async function post(page: Page, text: string): Promise<string> {
      await page.fill('#compose', text);
      await page.click('#compose-submit');
      const item = tweetWithText(page, text);
      await item.waitFor({ state: 'visible' });
      return (await item.getAttribute('data-id')) as string;
    }

    const tweetWithText = (page: Page, text: string) => page.locator('#timeline li.tweet').filter({ has: page.locator('.tweet-content', { hasText: text }) }).first();
    const tweetById = (page: Page, id: string) => page.locator(`#timeline li.tweet[data-id="${id}"]`);

    let adaPage: Page;
    let bobPage: Page;

    test('create an account, sign in, post, see it, edit it in place, delete it with a confirmation', async () => {
      adaPage = await newPage();
      await adaPage.goto(base);
      await adaPage.locator('#signin').waitFor({ state: 'visible' });
      assert.equal(await adaPage.locator('#app').isVisible(), false);
      await adaPage.screenshot({ path: join(SHOTS, 'signin-desktop.png'), animations: 'disabled' });
      await signUp(adaPage, 'ada');

      // The counter counts code points as one types.
      await adaPage.fill('#compose', 'hello 🙂');
      assert.match((await adaPage.locator('#compose-count').textContent()) ?? '', /(7|273)/);
      const id = await post(adaPage, 'hello from a real browser');
      assert.equal((await tweetById(adaPage, id).locator('.tweet-author').textContent())?.includes('ada'), true);
      assert.equal(await tweetById(adaPage, id).locator('.tweet-edited').count(), 0);

      await tweetById(adaPage, id).locator('button.tweet-edit').click();
      const editor = tweetById(adaPage, id).locator('textarea.tweet-editor');
      await editor.waitFor({ state: 'visible' });
      await editor.fill('edited in place');
      await tweetById(adaPage, id).locator('button.tweet-save').click();
      await tweetById(adaPage, id).locator('.tweet-content', { hasText: 'edited in place' }).waitFor();
      await tweetById(adaPage, id).locator('.tweet-edited').waitFor({ state: 'visible' });

      await tweetById(adaPage, id).locator('button.tweet-delete').click();
      await adaPage.locator('#confirm-delete').waitFor({ state: 'visible' });
      await adaPage.click('#confirm-delete-no');
      assert.equal(await tweetById(adaPage, id).count(), 1, 'cancel keeps it');
      await tweetById(adaPage, id).locator('button.tweet-delete').click();
      await adaPage.click('#confirm-delete-yes');
      await tweetById(adaPage, id).waitFor({ state: 'detached' });
      const status = await adaPage.evaluate(async (tid) => (await fetch(`/api/tweet/${encodeURIComponent(tid)}`)).status, id);
      assert.equal(status, 404, 'the API agrees it is gone');
    });

    test('a second browser sees a new tweet appear without reloading; another user\'s tweets have no edit or delete controls, and a forged PUT is 403', async () => {
      bobPage = await newPage();
      await signUp(bobPage, 'bob');
      const id = await post(adaPage, 'live to bob');
      await tweetById(bobPage, id).waitFor({ state: 'visible' });
      assert.equal(await tweetById(bobPage, id).locator('button.tweet-edit, button.tweet-delete').count(), 0);
      const status = await bobPage.evaluate(async (tid) => {
        const r = await fetch(`/api/tweet/${encodeURIComponent(tid)}`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ content: 'bob was here' }) });
        return r.status;
      }, id);
      assert.equal(status, 403);
      assert.equal((await tweetById(adaPage, id).locator('.tweet-content').textContent())?.trim(), 'live to bob');
      // Bob's own tweet does have them.
      const mine = await post(bobPage, 'bob writes');
      assert.equal(await tweetById(bobPage, mine).locator('button.tweet-edit').count(), 1);
      assert.equal(await tweetById(bobPage, mine).locator('button.tweet-delete').count(), 1);
    });

    test('a tweet posted through the TCP API appears live in every open page', async () => {
      const c = await TweetdbClient.connect(cluster.address);
      try {
        assert.equal((await c.request({ action: 'post', tweet: { id: 'from-nc', username: 'nc', content: 'straight from nc' } })).status, 'OK');
      } finally {
        c.close();
      }
      await tweetById(adaPage, 'from-nc').waitFor({ state: 'visible' });
      await tweetById(bobPage, 'from-nc').waitFor({ state: 'visible' });
    });

    test('a tweet whose text is HTML shows as text: no dialog, no image element', async () => {
      const evil = '<img src=x onerror=alert(1)>';
      const id = await post(bobPage, evil);
      await tweetById(adaPage, id).waitFor({ state: 'visible' });
      for (const page of [adaPage, bobPage]) {
        assert.equal((await tweetById(page, id).locator('.tweet-content').textContent())?.trim(), evil);
        assert.equal(await tweetById(page, id).locator('img').count(), 0);
      }
      await adaPage.reload();
      await tweetById(adaPage, id).waitFor({ state: 'visible' });
      assert.equal(await tweetById(adaPage, id).locator('img').count(), 0);
      assert.deepEqual(dialogs, []);
    });

    test('timeline screenshots (desktop and phone)', async () => {
      const long = 'A longer tweet, to see how the text wraps in the timeline: two-phase commit keeps every copy identical, even when a node dies in the middle.';
      await post(adaPage, long);
      // A fresh load: no toast, nothing half way through its animation.
      await adaPage.reload();
      await tweetWithText(adaPage, long).waitFor({ state: 'visible' });
      await adaPage.screenshot({ path: join(SHOTS, 'timeline-desktop.png'), animations: 'disabled' });
      const phone = await newPage(PHONE);
      await phone.goto(base);
      await phone.locator('#signin').waitFor({ state: 'visible' });
      await phone.screenshot({ path: join(SHOTS, 'signin-phone.png'), animations: 'disabled' });
      await signIn(phone, 'ada');
      await phone.locator('#timeline li.tweet').first().waitFor();
      await phone.screenshot({ path: join(SHOTS, 'timeline-phone.png'), animations: 'disabled' });
    });

    test('log out lands on the sign-in page, and a cookie copied before logging out is refused after it', async () => {
      const copied = (await adaPage.context().cookies()).find((c) => c.name === 'tweetdb_session');
      assert.ok(copied !== undefined);
      assert.equal(copied.httpOnly, true);
      await adaPage.click('#logout');
      await adaPage.locator('#signin').waitFor({ state: 'visible' });
      assert.equal(await adaPage.locator('#app').isVisible(), false);
      const thief = await browser.newContext();
      contexts.push(thief);
      await thief.addCookies([copied]);
      const r = await thief.request.get(new URL('api/me', base).toString());
      assert.equal(r.status(), 401);
      const tp = await thief.newPage();
      await tp.goto(base);
      await tp.locator('#signin').waitFor({ state: 'visible' });
    });

    test('no page had an uncaught error, a console error (CSP violations included) or a dialog', () => {
      assert.deepEqual(problems, []);
      assert.deepEqual(dialogs, []);
    });
  });
});
