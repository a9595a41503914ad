// Reading as a person does, polish and accounts (issue #15 items 3, 5, 6) in a
// real headless Chromium at 1280x800 and 390x844, against a real cluster and a
// `tweetdb web` process: the first visit, drafts across a reload, the "N new
// posts" pill, focus after "Load more" and after a delete, errors cleared as the
// text changes, one Post/Retry button, "still trying" after 2 s, a post whose own
// earlier attempt is still settling, WCAG AA contrast (light and dark), and
// changing the password and deleting the account.

import { test, after, before, describe } from 'node:test';
import assert from 'node:assert/strict';
import type { Browser, Page } from 'playwright-core';
import { Cluster, spawnNode, waitExit, type NodeProc } from '../helpers/cluster.ts';
import { launchChromium, withChromium } from '../helpers/browser.ts';
import { signUpOverHttp } from '../helpers/web.ts';
import { SESSION_COOKIE } from '../../src/web/auth.ts';

const SIZES = [
  { name: 'desktop', viewport: { width: 1280, height: 800 } },
  { name: 'phone', viewport: { width: 390, height: 844 } },
] as const;
const PASSWORD = 'correct horse';

/**
 * Runs in the page: every visible element with text of its own, and every placeholder, whose
 * contrast with the background behind it is under WCAG AA (4.5:1; 3:1 for large text). The
 * background is the first opaque one up the tree, with translucent ones blended over it.
 */
function lowContrast(): string[] {
  const parse = (c: string): [number, number, number, number] => {
    const m = /rgba?\(([^)]+)\)/.exec(c);
    if (m === null) return [0, 0, 0, 0];
    const p = (m[1] ?? '').split(/[ ,/]+/).filter(Boolean).map(Number);
    return [p[0] ?? 0, p[1] ?? 0, p[2] ?? 0, p[3] ?? 1];
  };
  const lum = ([r, g, b]: number[]): number => {
    const f = (v: number): number => {
      const s = v / 255;
      return s <= 0.03928 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4;
    };
    return 0.2126 * f(r ?? 0) + 0.7152 * f(g ?? 0) + 0.0722 * f(b ?? 0);
  };
  const over = (top: number[], under: number[]): number[] => {
    const a = top[3] ?? 1;
    return [0, 1, 2].map((i) => (top[i] ?? 0) * a + (under[i] ?? 0) * (1 - a));
  };
  const background = (el: Element): number[] => {
    const layers: number[][] = [];
    for (let e: Element | null = el; e !== null; e = e.parentElement) {
      const c = parse(getComputedStyle(e).backgroundColor);
      if (c[3] > 0) layers.push(c);
      if (c[3] >= 1) break;
    }
    let base = [255, 255, 255, 1];
    for (const l of layers.reverse()) base = [...over(l, base), 1];
    return base;
  };
  const ratio = (fg: number[], bg: number[]): number => {
    const a = lum(over(fg, bg));
    const b = lum(bg);
    return (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
  };
  const bad: string[] = [];
  const check = (el: Element, color: string, what: string): void => {
    const s = getComputedStyle(el);
    const size = parseFloat(s.fontSize);
    const large = size >= 24 || (size >= 18.66 && Number(s.fontWeight) >= 700);
    const r = ratio(parse(color).concat(), background(el));
    const need = large ? 3 : 4.5;
    if (r < need) bad.push(`${what} "${(el.textContent ?? '').trim().slice(0, 40)}" ${el.tagName.toLowerCase()}${el.id ? `#${el.id}` : ''}.${[...el.classList].join('.')}: ${r.toFixed(2)}:1 < ${need}:1`);
  };
  for (const el of document.querySelectorAll('body *')) {
    if (!(el instanceof HTMLElement) || el.closest('[hidden], .visually-hidden, svg') !== null) continue;
    const rect = el.getBoundingClientRect();
    if (rect.width === 0 || rect.height === 0 || getComputedStyle(el).visibility === 'hidden' || Number(getComputedStyle(el).opacity) === 0) continue;
    const ownText = [...el.childNodes].some((n) => n.nodeType === Node.TEXT_NODE && (n.textContent ?? '').trim() !== '');
    if (ownText) check(el, getComputedStyle(el).color, 'text');
    if ((el instanceof HTMLTextAreaElement || el instanceof HTMLInputElement) && el.placeholder !== '' && el.value === '') check(el, getComputedStyle(el, '::placeholder').color, 'placeholder');
  }
  return bad;
}

/** lowContrast as a script: tsx names its inner functions with a `__name` helper the page does not have. */
const LOW_CONTRAST = `(() => { const __name = (f) => f; return (${lowContrast.toString()})(); })()`;

withChromium('browser tests of reading, polish and accounts', (exe) => {
  describe('reading as a person does, polish and accounts in headless Chromium', () => {
    let cluster: Cluster;
    let web: NodeProc;
    let base: string;
    let browser: Browser;
    let reader = '';
    const problems: string[] = [];

    const api = async (cookie: string, method: string, path: string, body?: unknown): Promise<Record<string, unknown>> => {
      const r = await fetch(new URL(path, base), { method, headers: { cookie: `${SESSION_COOKIE}=${cookie}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) }, body: body === undefined ? undefined : JSON.stringify(body) });
      const text = await r.text();
      assert.ok(r.ok, `${method} ${path}: ${r.status} ${text}`);
      return text === '' ? {} : (JSON.parse(text) as Record<string, unknown>);
    };

    before(async () => {
      cluster = await Cluster.start({ workers: 2, lockTimeout: 2 });
      web = await spawnNode('web', ['web', '--port', '0', '--host', '127.0.0.1', '--coordinator', cluster.address], cluster.keyEnv);
      base = `http://${web.address}/`;
      browser = await launchChromium(exe);
      reader = await signUpOverHttp(base, 'reader', PASSWORD);
      const writer = await signUpOverHttp(base, 'writer', PASSWORD);
      // More than a page (20) of tweets, so the list scrolls and has "Load more".
      for (let i = 1; i <= 26; i++) await api(writer, 'POST', '/api/tweet', { content: `Older post number ${i}, long enough to take some room in the timeline.` });
    });

    after(async () => {
      await browser?.close();
      if (web !== undefined && web.proc.exitCode === null) {
        web.proc.kill('SIGTERM');
        await waitExit(web.proc);
      }
      await cluster?.stop();
    });

    async function fresh(viewport: { width: number; height: number }, colorScheme: 'light' | 'dark' = 'light'): Promise<Page> {
      const ctx = await browser.newContext({ viewport, deviceScaleFactor: 1, colorScheme });
      const page = await ctx.newPage();
      page.setDefaultTimeout(10_000);
      page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
      return page;
    }

    async function signedIn(viewport: { width: number; height: number }, cookie: string, colorScheme: 'light' | 'dark' = 'light'): Promise<Page> {
      const page = await fresh(viewport, colorScheme);
      await page.context().addCookies([{ name: SESSION_COOKIE, value: cookie, url: base }]);
      await page.goto(base);
      await page.locator('#app').waitFor({ state: 'visible' });
      await page.locator('#timeline li.tweet').first().waitFor();
      return page;
    }

    for (const size of SIZES) {
      test(`${size.name}: a first visit invites to create an account (not "Welcome back"); once signed in, the page opens on "Sign in"`, async () => {
        const page = await fresh(size.viewport);
        await page.goto(base);
        await page.locator('#signin').waitFor({ state: 'visible' });
        assert.equal((await page.locator('#auth-title').textContent())?.trim(), 'Join tweetdb');
        assert.equal((await page.locator('#auth-submit').textContent())?.trim(), 'Create account');
        assert.doesNotMatch((await page.locator('#signin').textContent()) ?? '', /welcome back/i);
        await page.click('#auth-switch');
        await page.fill('#username', 'reader');
        await page.fill('#password', PASSWORD);
        await page.click('#auth-submit');
        await page.locator('#app').waitFor({ state: 'visible' });
        await page.click('#logout');
        await page.locator('#signin').waitFor({ state: 'visible' });
        assert.equal((await page.locator('#auth-submit').textContent())?.trim(), 'Sign in');
        await page.context().close();
      });

      test(`${size.name}: a draft survives a reload; an error goes when the text changes`, async () => {
        const page = await signedIn(size.viewport, reader);
        await page.focus('#compose');
        await page.keyboard.press('Control+Enter');
        await page.locator('#compose-message', { hasText: 'Write something first.' }).waitFor();
        await page.fill('#compose', `a half-written thought (${size.name})`);
        assert.equal(await page.locator('#compose-message').isVisible(), false, 'the error went as the text changed');
        await page.reload();
        await page.locator('#app').waitFor({ state: 'visible' });
        assert.equal(await page.inputValue('#compose'), `a half-written thought (${size.name})`);
        await page.fill('#compose', '');
        await page.context().close();
      });

      test(`${size.name}: new posts wait behind a "N new posts" pill while you read further down; the pill shows them and takes focus there`, async () => {
        const page = await signedIn(size.viewport, reader);
        await page.locator('#live[data-state="live"]').waitFor();
        await page.locator('#timeline li.tweet').nth(12).scrollIntoViewIfNeeded();
        const top = await page.evaluate(() => window.scrollY);
        assert.ok(top > 200, 'scrolled down');
        const a = String((await api(reader, 'POST', '/api/tweet', { content: `first new one (${size.name})` })).id);
        const b = String((await api(reader, 'POST', '/api/tweet', { content: `second new one (${size.name})` })).id);
        await page.locator('#new-posts', { hasText: '2 new posts' }).waitFor({ state: 'visible' });
        assert.equal(await page.locator(`#timeline li[data-id="${a}"]`).count(), 0, 'not slipped in above what is being read');
        assert.equal(await page.evaluate(() => window.scrollY), top, 'nothing moved');
        await page.click('#new-posts');
        await page.locator(`#timeline li[data-id="${b}"]`).waitFor();
        assert.equal(await page.locator('#new-posts').isVisible(), false);
        assert.equal(await page.evaluate(() => (document.activeElement as HTMLElement | null)?.dataset.id), b, 'focus on the newest');
        // At the top, a new post goes straight in.
        await page.evaluate(() => window.scrollTo(0, 0));
        const c = String((await api(reader, 'POST', '/api/tweet', { content: `third new one (${size.name})` })).id);
        await page.locator(`#timeline li[data-id="${c}"]`).waitFor();
        assert.equal(await page.locator('#new-posts').isVisible(), false);
        await page.context().close();
      });

      test(`${size.name}: "Load more" by keyboard puts focus on the first older tweet; after a delete focus goes to the neighbouring tweet`, async () => {
        const page = await signedIn(size.viewport, reader);
        const before = await page.locator('#timeline li.tweet').count();
        await page.locator('#load-more').focus();
        await page.keyboard.press('Enter');
        await page.waitForFunction((n) => document.querySelectorAll('#timeline li.tweet').length > n, before);
        const focused = await page.evaluate(() => (document.activeElement as HTMLElement | null)?.dataset.id);
        assert.equal(focused, await page.locator('#timeline li.tweet').nth(before).getAttribute('data-id'));

        await page.evaluate(() => window.scrollTo(0, 0));
        const mine = page.locator('#timeline li.tweet-own').first();
        const id = await mine.getAttribute('data-id');
        const next = await page.locator(`#timeline li[data-id="${id}"] + li`).getAttribute('data-id');
        await mine.locator('button.tweet-delete').focus();
        await page.keyboard.press('Enter');
        await page.click('#confirm-delete-yes');
        await page.locator(`#timeline li[data-id="${id}"]`).waitFor({ state: 'detached' });
        await page.waitForFunction((n) => (document.activeElement as HTMLElement | null)?.dataset.id === n, next);
        await page.context().close();
      });

      test(`${size.name}: one button posts and retries; "still trying" after 2 s of "Posting…"; a post meeting its own earlier attempt says so and retries by itself`, async () => {
        const page = await signedIn(size.viewport, reader);
        assert.equal(await page.locator('#compose-form button').count(), 1, 'one button: Post (or Retry), never both');
        // The answer is held back 3 s, as by a frozen worker.
        await page.route('**/api/tweet', async (route) => {
          await new Promise((r) => setTimeout(r, 3_000));
          await route.continue();
        });
        await page.fill('#compose', `a slow one (${size.name})`);
        const started = Date.now();
        await page.click('#compose-submit');
        assert.equal((await page.locator('#compose-submit').textContent())?.trim(), 'Posting…');
        await page.locator('#compose-message', { hasText: 'Still trying: a storage node is slow to answer.' }).waitFor();
        assert.ok(Date.now() - started >= 1_900, 'not before 2 s');
        await page.locator('#timeline li.tweet .tweet-content', { hasText: `a slow one (${size.name})` }).waitFor();
        assert.equal(await page.locator('#compose-message').isVisible(), false);
        await page.unroute('**/api/tweet');

        // The first answer is the server's LOCKED for this post's own earlier attempt; the page retries with the same key.
        const keys: string[] = [];
        let refused = false;
        await page.route('**/api/tweet', async (route) => {
          keys.push(route.request().headers()['idempotency-key'] ?? '');
          if (refused) return route.continue();
          refused = true;
          return route.fulfill({ status: 409, contentType: 'application/problem+json', body: JSON.stringify({ type: 'about:blank', title: 'Conflict', status: 409, code: 'LOCKED', detail: 'your earlier attempt at this post is still being settled; it was retried until the lock timeout, try again' }) });
        });
        await page.fill('#compose', `settling (${size.name})`);
        await page.click('#compose-submit');
        await page.locator('#compose-message', { hasText: 'still being settled' }).waitFor();
        assert.doesNotMatch((await page.locator('#compose-message').textContent()) ?? '', /someone is editing/i);
        await page.locator('#timeline li.tweet .tweet-content', { hasText: `settling (${size.name})` }).waitFor();
        assert.equal(keys.length, 2);
        assert.equal(keys[0], keys[1], 'the retry is the same attempt (same Idempotency-Key)');
        await page.context().close();
      });

      for (const scheme of ['light', 'dark'] as const) {
        test(`${size.name}, ${scheme}: every text on the sign-in page and the timeline is at WCAG AA contrast or better`, async () => {
          const out = await fresh(size.viewport, scheme);
          await out.goto(base);
          await out.locator('#signin').waitFor({ state: 'visible' });
          assert.deepEqual((await out.evaluate(LOW_CONTRAST)) as string[], [], 'sign-in page');
          await out.context().close();
          const page = await signedIn(size.viewport, reader, scheme);
          await page.fill('#compose', 'x'.repeat(270)); // the counter's warning colour
          await page.locator('#load-more').waitFor({ state: 'visible' });
          assert.deepEqual((await page.evaluate(LOW_CONTRAST)) as string[], [], 'timeline');
          await page.fill('#compose', '');
          assert.deepEqual((await page.evaluate(LOW_CONTRAST)) as string[], [], 'timeline with the placeholder');
          await page.evaluate(() => window.scrollTo(0, document.body.scrollHeight));
          await page.click('#load-more');
          await page.locator('#timeline-end').waitFor({ state: 'visible' });
          assert.deepEqual((await page.evaluate(LOW_CONTRAST)) as string[], [], '"You\'re all caught up"');
          await page.context().close();
        });
      }
    }

    test('changing the password in one browser signs the other out; deleting the account signs out everywhere and keeps the posts', async () => {
      const cookie = await signUpOverHttp(base, 'mover', PASSWORD);
      await api(cookie, 'POST', '/api/tweet', { content: 'a post that outlives its account' });
      const desk = await signedIn(SIZES[0].viewport, cookie);
      const phoneCookie = await signUpOverHttp(base, 'mover_b', PASSWORD).then(async () => {
        const r = await fetch(new URL('/api/login', base), { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: 'mover', password: PASSWORD }) });
        return new RegExp(`${SESSION_COOKIE}=([^;]+)`).exec(r.headers.get('set-cookie') ?? '')?.[1] ?? '';
      });
      const phone = await signedIn(SIZES[1].viewport, phoneCookie);

      await desk.click('#account-open');
      await desk.locator('#account').waitFor({ state: 'visible' });
      await desk.fill('#current-password', 'not my password');
      await desk.fill('#new-password', 'a brand new password');
      await desk.click('#password-submit');
      await desk.locator('#password-message', { hasText: 'not your current password' }).waitFor();
      await desk.fill('#current-password', PASSWORD);
      assert.equal(await desk.locator('#password-message').isVisible(), false, 'cleared as the text changed');
      await desk.click('#password-submit');
      await desk.locator('#account').waitFor({ state: 'hidden' });
      await desk.locator('#status', { hasText: 'Password changed' }).waitFor();
      // The other browser's session ended with that transaction: its next step finds it so.
      await phone.locator('#signin').waitFor({ state: 'visible', timeout: 20_000 });
      assert.equal(await desk.locator('#app').isVisible(), true, 'the browser that changed it stays signed in');

      await desk.click('#account-open');
      await desk.fill('#close-password', 'a brand new password');
      await desk.click('#close-submit');
      await desk.locator('#signin').waitFor({ state: 'visible' });
      await desk.fill('#username', 'mover');
      await desk.fill('#password', 'a brand new password');
      await desk.click('#auth-submit');
      await desk.locator('#auth-message', { hasText: 'Wrong username or password.' }).waitFor();
      const posts = await api(reader, 'GET', '/api/tweet?username=mover');
      assert.equal((posts.tweets as unknown[]).length, 1, 'its posts stay');
      await desk.context().close();
      await phone.context().close();
    });

    test('no page had an uncaught error', () => {
      assert.deepEqual(problems, []);
    });
  });
});
