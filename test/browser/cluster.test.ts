// The cluster page (/cluster) in a real headless Chromium, against a real cluster and a
// `tweetdb web` process: a killed worker is shown down within 2 seconds and up again when it is
// back; a posted tweet's transaction appears in the timeline with every phase; signed out, the
// page says so. Screenshots (1280x800 and 390x844) go to docs/screenshots/.

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

withChromium('browser tests of the cluster page', (exe) => {
  describe('the cluster page in headless Chromium', () => {
    let cluster: Cluster;
    let web: NodeProc;
    let base: string;
    let browser: Browser;
    let ada = '';

    const post = async (content: string): Promise<void> => {
      const r = await fetch(new URL('/api/tweet', base), { method: 'POST', headers: { cookie: `${SESSION_COOKIE}=${ada}`, 'content-type': 'application/json' }, body: JSON.stringify({ content }) });
      assert.equal(r.status, 201, await r.text());
    };

    before(async () => {
      mkdirSync(SHOTS, { recursive: true });
      cluster = await Cluster.start({ workers: 2, lockTimeout: 2 });
      web = await spawnNode('web', ['web', '--port', '0', '--host', '127.0.0.1', '--coordinator', cluster.address], cluster.keyEnv);
      base = `http://${web.address}/`;
      browser = await launchChromium(exe);
      ada = await signUpOverHttp(base, 'ada');
    });

    after(async () => {
      await browser?.close();
      if (web !== undefined && web.proc.exitCode === null) {
        web.proc.kill('SIGTERM');
        await waitExit(web.proc);
      }
      await cluster?.stop();
    });

    async function clusterPage(viewport: { width: number; height: number }, signedIn = true): Promise<Page> {
      const ctx = await browser.newContext({ viewport, deviceScaleFactor: 1 });
      if (signedIn) await ctx.addCookies([{ name: SESSION_COOKIE, value: ada, url: base }]);
      const page = await ctx.newPage();
      page.setDefaultTimeout(10_000);
      await page.goto(new URL('/cluster', base).href);
      return page;
    }

    test('signed out: the page says to sign in and shows nothing of the cluster', async () => {
      const page = await clusterPage({ width: 1280, height: 800 }, false);
      await page.locator('#cl-signin', { hasText: 'Sign in to see the cluster' }).waitFor();
      assert.equal(await page.locator('#cl-body').isHidden(), true);
      await page.context().close();
    });

    test('the timeline link in the app header leads here; the nodes show as cards with role, state and lag', async () => {
      const ctx = await browser.newContext({ viewport: { width: 1280, height: 800 } });
      await ctx.addCookies([{ name: SESSION_COOKIE, value: ada, url: base }]);
      const page = await ctx.newPage();
      page.setDefaultTimeout(10_000);
      await page.goto(base);
      await page.locator('a[href="/cluster"]').click();
      await page.waitForURL(/\/cluster$/);
      await page.locator('.cl-node[data-role="coordinator"][data-state="up"]').waitFor();
      await page.locator('.cl-node[data-role="worker"][data-state="up"]').nth(1).waitFor();
      // Applied and lag come from check, read once a second as well.
      await page.locator('.cl-node[data-role="worker"]', { hasText: /lag\s*0\s*prepared/ }).nth(1).waitFor();
      await page.locator('#cl-live[data-state="live"]').waitFor();
      await ctx.close();
    });

    test('a posted tweet\'s transaction appears in the timeline with every phase; Pause stops new rows', async () => {
      const page = await clusterPage({ width: 1280, height: 800 });
      await page.locator('#cl-live[data-state="live"]').waitFor();
      // Following the trace feed is said in the live marker's title once it is so.
      await page.waitForFunction(() => document.getElementById('cl-live')?.title.includes('transactions as they finish') === true);
      const before = await page.locator('li.cl-txn').count();
      await post('watch this commit');
      const row = page.locator('li.cl-txn[data-outcome="commit"]').first();
      await page.waitForFunction((n) => document.querySelectorAll('li.cl-txn').length > n, before);
      for (const phase of ['votes', 'decision', 'applied', 'acked']) assert.equal(await row.locator(`.cl-seg[data-phase="${phase}"]`).count(), 1, `the ${phase} phase`);
      assert.match(await row.locator('.cl-phases').innerText(), /votes \+\d+ · decision \+\d+ · applied \+\d+ · acked \+\d+ ms/);
      assert.equal(await row.locator('.cl-voters li').count(), 2);

      await page.locator('#cl-pause').click();
      assert.equal(await page.locator('#cl-pause').getAttribute('aria-pressed'), 'true');
      const paused = await page.locator('li.cl-txn').count();
      await post('not shown while paused');
      await new Promise((r) => setTimeout(r, 1_500));
      assert.equal(await page.locator('li.cl-txn').count(), paused);
      await page.locator('#cl-pause').click();
      await post('shown again');
      await page.waitForFunction((n) => document.querySelectorAll('li.cl-txn').length > n, paused);
      await page.context().close();
    });

    test('a killed worker shows down within 2 seconds, and up again when it is back', async () => {
      const page = await clusterPage({ width: 1280, height: 800 });
      await page.locator('.cl-node[data-role="worker"][data-state="up"]').nth(1).waitFor();
      const worker = cluster.workers[0];
      assert.ok(worker !== undefined);
      const killed = Date.now();
      await cluster.kill(worker);
      await page.locator('.cl-node[data-role="worker"][data-state="down"]').waitFor({ timeout: 2_000 });
      const shownAfter = Date.now() - killed;
      assert.ok(shownAfter < 2_000, `shown down after ${shownAfter} ms`);
      await page.screenshot({ path: join(SHOTS, 'cluster-worker-down-desktop.png') });
      await cluster.restart(worker);
      await page.locator('.cl-node[data-role="worker"][data-state="up"]').nth(1).waitFor({ timeout: 30_000 });
      assert.equal(await page.locator('.cl-node[data-state="down"]').count(), 0);
      await page.context().close();
    });

    for (const { name, viewport } of [
      { name: 'desktop', viewport: { width: 1280, height: 800 } },
      { name: 'phone', viewport: { width: 390, height: 844 } },
    ]) {
      test(`${name}: readable with transactions flowing (screenshot), nothing wider than the screen`, async () => {
        const page = await clusterPage(viewport);
        await page.waitForFunction(() => document.getElementById('cl-live')?.title.includes('transactions as they finish') === true);
        for (let i = 0; i < 6; i++) await post(`busy ${name} ${i}`);
        await page.locator('li.cl-txn').nth(3).waitFor();
        const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
        assert.ok(overflow <= 0, `the page is ${overflow} px wider than the screen`);
        await page.screenshot({ path: join(SHOTS, `cluster-${name}.png`), fullPage: name === 'phone' });
        await page.context().close();
      });
    }
  });
});
