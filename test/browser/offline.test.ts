// Issue #10: when the web server stopped, the pages kept showing "Live". In a
// real headless Chromium against a real cluster and a real `tweetdb web`: stop
// the web server (SIGINT, as Ctrl-C) with the page open, see "Offline"; start it
// again on the same port, see "Live" again and what was posted meanwhile.

import { test, after, before, describe } from 'node:test';
import assert from 'node:assert/strict';
import type { Browser, Page } from 'playwright-core';
import { Cluster, freePort, sleep, spawnNode, waitExit, type NodeProc } from '../helpers/cluster.ts';
import { launchChromium, withChromium } from '../helpers/browser.ts';
import { TweetdbClient } from '../../src/client/client.ts';

withChromium('browser tests (offline indicator)', (exe) => {
  describe('the page when its web server stops and comes back', () => {
    let cluster: Cluster;
    let web: NodeProc;
    let port: number;
    let browser: Browser;
    const problems: string[] = [];

    const startWeb = (): Promise<NodeProc> => spawnNode('web', ['web', '--port', String(port), '--host', '127.0.0.1', '--coordinator', cluster.address]);

    before(async () => {
      cluster = await Cluster.start({ workers: 1 });
      port = await freePort();
      web = await startWeb();
      browser = await launchChromium(exe);
    });

    after(async () => {
      await browser?.close();
      if (web !== undefined && web.proc.exitCode === null && web.proc.signalCode === null) {
        web.proc.kill('SIGTERM');
        await Promise.race([waitExit(web.proc), sleep(5_000)]);
        if (web.proc.exitCode === null && web.proc.signalCode === null) web.proc.kill('SIGKILL');
        await waitExit(web.proc);
      }
      await cluster?.stop();
    });

    const liveState = (page: Page) => page.locator('#live').getAttribute('data-state');

    test('attack: the page kept showing "Live" after the web server stopped: it shows "Offline", then "Live" again and what was missed once the server is back', async () => {
      const ctx = await browser.newContext();
      const page = await ctx.newPage();
      page.setDefaultTimeout(15_000);
      page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
      await page.goto(`http://127.0.0.1:${port}/`);
      await page.locator('#signin').waitFor({ state: 'visible' });
      await page.click('#auth-switch');
      await page.fill('#username', 'watcher');
      await page.fill('#password', 'correct horse battery');
      await page.click('#auth-submit');
      await page.locator('#app').waitFor({ state: 'visible' });
      await page.locator('#live[data-state="live"]').waitFor();
      assert.equal((await page.locator('#live-text').textContent())?.trim(), 'Live');

      // Ctrl-C the web server with the page's stream open: it exits, and the page says so.
      web.proc.kill('SIGINT');
      // 10 s is the bound for a hang, not a timing claim (it used to wait for the page for ever).
      await Promise.race([waitExit(web.proc), sleep(10_000)]);
      assert.equal(web.proc.exitCode, 0, `tweetdb web exits on SIGINT with the page open:\n${web.logs.join('\n')}`);
      await page.locator('#live[data-state="offline"]').waitFor();
      assert.equal((await page.locator('#live-text').textContent())?.trim(), 'Offline');

      // Meanwhile a tweet is posted elsewhere.
      const c = await TweetdbClient.connect(cluster.address);
      try {
        assert.equal((await c.request({ action: 'post', tweet: { id: 'while-away', username: 'nc', content: 'posted while the web server was down' } })).status, 'OK');
      } finally {
        c.close();
      }
      assert.equal(await liveState(page), 'offline', 'still offline while the server is down');

      // Back on the same port: the page reconnects by itself, shows Live, and re-reads what it missed.
      web = await startWeb();
      await page.locator('#live[data-state="live"]').waitFor();
      assert.equal((await page.locator('#live-text').textContent())?.trim(), 'Live');
      await page.locator('#timeline li.tweet[data-id="while-away"]').waitFor({ state: 'visible' });
      assert.deepEqual(problems, []);
      await ctx.close();
    });
  });
});
