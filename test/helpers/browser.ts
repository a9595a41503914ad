// Finding and launching a real headless Chromium for the browser tests.
// TWEETDB_CHROMIUM names a binary; otherwise Debian's /usr/bin/chromium (or
// chromium-browser) is used. With TWEETDB_REQUIRE_BROWSER=1 (set by .ci/run) a
// missing browser fails the run instead of skipping the tests.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { chromium, type Browser } from 'playwright-core';

const CANDIDATES = ['/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/lib/chromium/chromium'];

export function findChromium(): string | null {
  const named = process.env.TWEETDB_CHROMIUM;
  if (named !== undefined && named !== '') return existsSync(named) ? named : null;
  return CANDIDATES.find((p) => existsSync(p)) ?? null;
}

export const browserRequired = process.env.TWEETDB_REQUIRE_BROWSER === '1';

/** Says loudly, on stderr, that the browser tests did not run. */
export function announceSkip(): void {
  const bar = '!'.repeat(78);
  process.stderr.write(
    `\n${bar}\n!! BROWSER TESTS SKIPPED: no Chromium found (tried ${process.env.TWEETDB_CHROMIUM ?? CANDIDATES.join(', ')}).\n` +
      `!! Install Debian's (apt-get install -y chromium) or set TWEETDB_CHROMIUM=/path/to/chromium.\n` +
      `!! Set TWEETDB_REQUIRE_BROWSER=1 to make a missing browser fail the run (CI does).\n${bar}\n\n`,
  );
}

/**
 * Declares browser tests: `body` gets the Chromium to drive. Without one, a test that fails under
 * TWEETDB_REQUIRE_BROWSER=1 (CI), or else a loud skip named `what`.
 */
export function withChromium(what: string, body: (exe: string) => void): void {
  const exe = findChromium();
  if (exe !== null) {
    body(exe);
    return;
  }
  if (browserRequired) {
    test('a Chromium is required here (TWEETDB_REQUIRE_BROWSER=1) and none was found', () => {
      assert.fail('install Debian\'s chromium (apt-get install -y chromium) or set TWEETDB_CHROMIUM');
    });
    return;
  }
  announceSkip();
  test(what, { skip: 'no Chromium found: see the message above' }, () => undefined);
}

export async function launchChromium(executablePath: string): Promise<Browser> {
  return chromium.launch({
    executablePath,
    headless: true,
    // Root in a container needs --no-sandbox; the rest keeps Chromium off a network it cannot reach.
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}
