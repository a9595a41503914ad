// Prometheus metrics through real processes: the coordinator's and a worker's --metrics-port
// (TWEETDB_METRICS_PORT), and the web server's /metrics; they move when they should.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { Cluster, eventually, freePort } from '../helpers/cluster.ts';
import { WebNode } from '../../src/web/web-node.ts';
import { createLogger } from '../../src/node/log.ts';

let cluster: Cluster;
let coordPort: number;
let workerPort: number;
before(async () => {
  coordPort = await freePort();
  workerPort = await freePort();
  cluster = await Cluster.start({
    workers: 2,
    nodeEnv: { coordinator: { TWEETDB_METRICS_PORT: String(coordPort) }, 'worker-1': { TWEETDB_METRICS_PORT: String(workerPort) } },
  });
});
after(async () => {
  await cluster.stop();
});

async function scrape(port: number, path = '/metrics'): Promise<string> {
  const r = await fetch(`http://127.0.0.1:${port}${path}`);
  assert.equal(r.status, 200);
  return r.text();
}

/** The value of one sample (`name{labels} value`), or 0 when it is absent. */
function sample(text: string, name: string): number {
  for (const line of text.split('\n')) {
    if (line.startsWith(name + ' ')) return Number(line.slice(name.length + 1));
  }
  return 0;
}

test('the coordinator: commits, aborts by code, commit durations, fsyncs, members, connections move', async () => {
  const before = await scrape(coordPort);
  assert.match(before, /^nodejs_eventloop_lag_seconds /m);
  assert.equal(sample(before, 'tweetdb_members{role="voter",state="up"}'), 2);
  const commits0 = sample(before, 'tweetdb_commits_total');
  const durations0 = sample(before, 'tweetdb_commit_duration_seconds_count');
  const fsyncs0 = sample(before, 'tweetdb_fsync_duration_seconds_count');
  const c = await cluster.client();
  for (let i = 0; i < 3; i++) assert.equal((await c.request({ action: 'post', tweet: { username: 'ada', content: `m${i}` } })).status, 'OK');
  assert.equal((await c.request({ action: 'update', tweet: { id: 'missing', content: 'x' } })).status, 'ABORT');
  let after = '';
  await eventually(async () => {
    after = await scrape(coordPort);
    return sample(after, 'tweetdb_commit_phase_seconds_count{phase="acked"}') >= 3;
  }, 10_000, 'three commits acked', () => after);
  assert.equal(sample(after, 'tweetdb_commits_total') - commits0, 3);
  assert.ok(sample(after, 'tweetdb_aborts_total{code="NOT_FOUND"}') >= 1, after);
  assert.equal(sample(after, 'tweetdb_commit_duration_seconds_count') - durations0, 3);
  for (const phase of ['votes', 'decision', 'applied']) assert.ok(sample(after, `tweetdb_commit_phase_seconds_count{phase="${phase}"}`) >= 3, phase);
  // Implicit commit: the coordinator fsyncs no decision, so three commits cost it fewer than three fsyncs.
  assert.ok(sample(after, 'tweetdb_fsync_duration_seconds_count') - fsyncs0 < 3, after);
  assert.ok(sample(after, 'tweetdb_group_commit_batch_size_count') > 0);
  assert.ok(sample(after, 'tweetdb_client_connections') >= 1);
  assert.equal(sample(after, 'tweetdb_in_doubt_transactions'), 0);
  assert.match(after, /^tweetdb_queued_requests 0$/m);
});

test('a worker: fsyncs, applied cseq, prepared and locks; outcomes learnt from peers is exported', async () => {
  const before = await scrape(workerPort);
  const applied0 = sample(before, 'tweetdb_applied_cseq');
  assert.equal((await cluster.request({ action: 'post', tweet: { username: 'bob', content: 'w' } })).status, 'OK');
  let after = '';
  // Applied is visible before the commit's fsync returns; the prepared record and the locks go
  // with the ack, a moment later, so wait for the commit to settle before reading them.
  await eventually(async () => {
    after = await scrape(workerPort);
    return sample(after, 'tweetdb_applied_cseq') > applied0 && sample(after, 'tweetdb_prepared_transactions') === 0;
  }, 10_000, 'the worker applied the commit and settled it', () => after);
  assert.ok(sample(after, 'tweetdb_fsync_duration_seconds_count') > 0);
  assert.equal(sample(after, 'tweetdb_prepared_transactions'), 0);
  assert.equal(sample(after, 'tweetdb_held_locks'), 0);
  assert.match(after, /^tweetdb_outcomes_learnt_from_peers_total 0$/m);
  assert.match(after, /^nodejs_eventloop_lag_seconds /m);
});

test('a killed worker shows as down in tweetdb_members', async () => {
  const victim = cluster.workers[1];
  assert.ok(victim !== undefined);
  await cluster.kill(victim);
  let text = '';
  await eventually(async () => {
    text = await scrape(coordPort);
    return sample(text, 'tweetdb_members{role="voter",state="down"}') === 1;
  }, 20_000, 'one worker down', () => text);
  assert.equal(sample(text, 'tweetdb_members{role="voter",state="up"}'), 1);
  // Past --evict-after (10 s by default) it leaves the voters: an eviction, counted.
  await eventually(async () => {
    text = await scrape(coordPort);
    return sample(text, 'tweetdb_members{role="evicted",state="down"}') === 1;
  }, 30_000, 'the dead worker evicted', () => text);
  assert.equal(sample(text, 'tweetdb_membership_changes_total{kind="eviction"}'), 1);
  assert.equal(sample(text, 'tweetdb_members{role="voter",state="up"}'), 1);
  assert.ok(sample(text, 'tweetdb_configuration') >= 2, 'a configuration change for the eviction');
  assert.equal(sample(text, 'tweetdb_rejoins_total'), 0, 'nobody has come back yet');
});

test('#24: 200 connections that never send a request do not keep the scraper out of the metrics port', async () => {
  const junk: Socket[] = [];
  try {
    for (let i = 0; i < 200; i++) {
      const s = connect({ host: '127.0.0.1', port: workerPort });
      s.on('error', () => undefined);
      junk.push(s);
      await new Promise<void>((r) => (s.connecting ? s.once('connect', () => r()).once('close', () => r()) : r()));
    }
    // The scraper's connection comes after all of them: the oldest idle one makes room for it.
    for (let i = 0; i < 3; i++) {
      const r = await fetch(`http://127.0.0.1:${workerPort}/metrics`, { signal: AbortSignal.timeout(5_000) });
      assert.equal(r.status, 200);
      assert.match(await r.text(), /^tweetdb_applied_cseq /m);
    }
  } finally {
    for (const s of junk) s.destroy();
  }
});

test('anything but GET /metrics is 404 on the metrics port', async () => {
  const r = await fetch(`http://127.0.0.1:${coordPort}/`);
  assert.equal(r.status, 404);
});

test('the web server serves /metrics', async () => {
  const web = new WebNode({ host: '127.0.0.1', port: 0, coordinator: cluster.address, coordinatorAccess: { tls: null, token: null }, secureCookies: false, logger: createLogger('web', 'silent') });
  await web.start();
  try {
    const r = await fetch(new URL('/metrics', web.url));
    assert.equal(r.status, 200);
    assert.match(await r.text(), /^nodejs_eventloop_lag_seconds /m);
  } finally {
    await web.stop();
  }
});
