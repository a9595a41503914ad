// kill -9 in the middle of a stream of writes, then a restart: nothing
// acknowledged is lost, copies are identical, nothing stays in doubt.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { Cluster, eventually, sleep } from '../helpers/cluster.ts';
import { Load } from '../../src/check/load.ts';

const LOCK_TIMEOUT_S = 2;
const clusters: Cluster[] = [];
/** Every load started: stopped before the clusters, so a test that fails midway leaves no client running (the process would never exit). */
const loads: Load[] = [];
after(async () => {
  await Promise.all(loads.map((l) => l.stop()));
  await Promise.all(clusters.map((c) => c.stop()));
});

async function writesSucceed(cluster: Cluster, id: string): Promise<void> {
  await eventually(async () => (await cluster.request({ action: 'post', tweet: { id, username: 'after', content: 'works again' } })).status === 'OK', 30_000, 'a write to succeed');
}

test('kill -9 of a worker under load from 8 clients, then restart', async () => {
  const cluster = await Cluster.start({ workers: 2, lockTimeout: LOCK_TIMEOUT_S });
  clusters.push(cluster);
  const status = await cluster.status();
  const victim = cluster.workers[1];
  assert.ok(victim !== undefined);
  const victimInfo = (status.workers as { id: string; address: string }[]).find((w) => w.address === victim.address);
  assert.ok(victimInfo !== undefined);

  const load = new Load({ address: () => cluster.address, clients: 8, hotIds: ['hot'], requestTimeoutMs: 60_000 });

  loads.push(load);
  await cluster.request({ action: 'post', tweet: { id: 'hot', username: 'shared', content: 'start' } });
  load.start();
  await sleep(800);
  await cluster.kill(victim);

  // While it is down: writes fail with UNAVAILABLE naming it, reads keep working.
  const c = await cluster.client();
  let unavailable: Record<string, unknown> | null = null;
  await eventually(async () => {
    const r = await c.request({ action: 'post', tweet: { username: 'probe', content: 'while down' } });
    if (r.code === 'UNAVAILABLE') unavailable = r;
    return unavailable !== null;
  }, 10_000, 'a write refused with UNAVAILABLE');
  const refused = unavailable as unknown as { status: string; error: string };
  assert.equal(refused.status, 'ABORT');
  assert.ok(refused.error.includes(victimInfo.id) && refused.error.includes(victimInfo.address), refused.error);
  const read = await c.request({ action: 'get_tweets', limit: 10 });
  assert.equal(read.status, 'OK');
  const down = await cluster.status();
  assert.equal((down.workers as { address: string; state: string }[]).find((w) => w.address === victim.address)?.state, 'down');
  await sleep(500);

  await cluster.restart(victim);
  await cluster.waitAllUp(2);
  await sleep(500);
  await load.stop();

  assert.ok(load.maxLatencyMs < (LOCK_TIMEOUT_S + 3) * 1000, `no write hung (slowest took ${load.maxLatencyMs} ms)`);
  assert.ok(load.count('UNAVAILABLE') > 0, 'writes during the outage were refused');
  assert.ok(load.acked > 0);
  await cluster.waitConverged();
  assert.deepEqual(await load.verify(cluster.address), []);
  assert.deepEqual((await cluster.status()).in_doubt, []);
  await writesSucceed(cluster, 'after-worker-crash');
  await cluster.waitConverged();
});

test('kill -9 of the coordinator under load from 8 clients, then restart', async () => {
  const cluster = await Cluster.start({ workers: 2, lockTimeout: LOCK_TIMEOUT_S });
  clusters.push(cluster);
  const load = new Load({ address: () => cluster.address, clients: 8, hotIds: ['hot'], requestTimeoutMs: 60_000 });
  loads.push(load);
  await cluster.request({ action: 'post', tweet: { id: 'hot', username: 'shared', content: 'start' } });
  load.start();
  await sleep(800);
  const ackedBefore = load.acked;
  await cluster.kill(cluster.coordinator);
  await sleep(300);
  await cluster.restart(cluster.coordinator);
  await cluster.waitAllUp(2);
  await sleep(800);
  await load.stop();

  assert.ok(ackedBefore > 0 && load.acked > ackedBefore, `writes were acknowledged before (${ackedBefore}) and after (${load.acked}) the crash`);
  await cluster.waitConverged();
  assert.deepEqual(await load.verify(cluster.address), []);
  assert.deepEqual((await cluster.status()).in_doubt, []);
  await writesSucceed(cluster, 'after-coordinator-crash');
  await cluster.waitConverged();
});
