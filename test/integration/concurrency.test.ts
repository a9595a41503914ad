// Many clients, three workers, deliberate conflicts: copies stay identical and
// every acknowledged write is there.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { Cluster } from '../helpers/cluster.ts';
import { Load } from '../../src/check/load.ts';

const clusters: Cluster[] = [];
after(async () => {
  await Promise.all(clusters.map((c) => c.stop()));
});

test('16 concurrent clients, a few hundred mixed writes with conflicts, 3 workers: equal digests, nothing acknowledged lost', async () => {
  const cluster = await Cluster.start({ workers: 3 });
  clusters.push(cluster);
  const hotIds = ['hot-1', 'hot-2', 'hot-3'];
  for (const id of hotIds) assert.equal((await cluster.request({ action: 'post', tweet: { id, username: 'shared', content: 'start' } })).status, 'OK');

  const load = new Load({ address: () => cluster.address, clients: 16, hotIds, opsPerClient: 30 });
  load.start();
  await load.done();

  assert.deepEqual(load.errors, [], 'no request was malformed');
  assert.equal(load.unknown, 0, 'with no faults every outcome is definite');
  assert.ok(load.acked >= 300, `at least 300 writes acknowledged (got ${load.acked})`);
  assert.ok(load.count('LOCKED') > 0, `the hot ids made lock conflicts (codes: ${JSON.stringify([...load.codes])})`);

  const check = await cluster.waitConverged();
  assert.equal(check.length, 3);
  assert.deepEqual(await load.verify(cluster.address), []);
  const status = await cluster.status();
  assert.deepEqual(status.in_doubt, []);
});
