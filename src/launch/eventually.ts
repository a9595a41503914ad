// Waiting for a condition on real processes, which can only be polled: the cluster coming up,
// copies converging, a first commit under load.

import { setTimeout as sleep } from 'node:timers/promises';

/** How often a condition is asked again. */
const POLL_MS = 100;

/**
 * Resolves once `check` answers true; throws, naming `what` (and `detail()` and the last error
 * `check` threw, if any), when `timeoutMs` passes first. A `check` that throws counts as false.
 */
export async function eventually(check: () => Promise<boolean>, timeoutMs: number, what: string, detail?: () => string): Promise<void> {
  const until = Date.now() + timeoutMs;
  let lastErr: unknown = null;
  while (Date.now() < until) {
    try {
      if (await check()) return;
    } catch (e) {
      lastErr = e;
    }
    await sleep(POLL_MS);
  }
  throw new Error(`timed out waiting for: ${what}${detail ? `\nlast: ${detail()}` : ''}${lastErr ? `\nlast error: ${String(lastErr)}` : ''}`);
}
