// `--idle-timeout` (TWEETDB_IDLE_TIMEOUT): a coordinator told to closes client
// connections that sit silent with nothing in flight and no subscription; the
// rest are left alone. Off by default (bad-input.test.ts: an idle client is left alone).

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { BIN, Cluster, sleep, waitExit } from '../helpers/cluster.ts';
import { rawSession, type RawSession } from '../helpers/raw.ts';

let cluster: Cluster;
before(async () => {
  cluster = await Cluster.start({ workers: 1, nodeEnv: { coordinator: { TWEETDB_IDLE_TIMEOUT: '1' } } });
});
after(async () => {
  await cluster.stop();
});

/** Whether the server closed the session within `ms`. */
async function closedWithin(s: RawSession, ms: number): Promise<boolean> {
  return Promise.race([s.closed.then(() => true), sleep(ms).then(() => false)]);
}

test('with --idle-timeout 1, a connection that says nothing is closed after 1 s, without a line', async () => {
  const s = await rawSession(cluster.address);
  assert.equal(await closedWithin(s, 5_000), true, 'closed by the coordinator');
  assert.deepEqual(s.lines, []);
  // One that was used, then went quiet, likewise.
  const used = await rawSession(cluster.address);
  used.write('{"action":"status"}\n');
  assert.equal((await used.line(0)).status, 'OK');
  assert.equal(await closedWithin(used, 5_000), true);
  assert.ok(cluster.coordinator.logs.some((l) => l.includes('client connection closed: idle for 1 s')), 'the close is logged with its reason');
});

test('a connection that keeps talking, a subscriber, and one with a request under way are not idle', async () => {
  const talker = await rawSession(cluster.address);
  const subscriber = await rawSession(cluster.address);
  subscriber.write('{"action":"subscribe"}\n');
  assert.equal((await subscriber.line(0)).status, 'OK');
  const timer = setInterval(() => talker.write('{"action":"status"}\n'), 300);
  try {
    assert.equal(await closedWithin(talker, 3_000), false, 'a talking client stays');
    assert.equal(await closedWithin(subscriber, 100), false, 'a quiet subscriber stays');
  } finally {
    clearInterval(timer);
  }
  // The subscriber still gets the feed.
  assert.equal((await cluster.request({ action: 'post', tweet: { id: 'idle-feed', username: 'u', content: 'x' } })).status, 'OK');
  assert.equal((await subscriber.line(1)).event, 'tweet.created');
  talker.socket.destroy();
  subscriber.socket.destroy();
  // A request begun and not finished is the request timeout's business (10 s), not the idle timeout's.
  const half = await rawSession(cluster.address);
  half.write('{"action":');
  assert.equal(await closedWithin(half, 3_000), false);
  half.write('"status"}\n');
  assert.equal((await half.line(0)).status, 'OK');
  half.socket.destroy();
});

test('--idle-timeout refuses a value that is not a number of seconds from 0 to 86400', async () => {
  const p = spawn(process.execPath, [BIN, 'coordinator', '--port', '0', '--idle-timeout', '-1', '--data', `${cluster.dir}/never`], { stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  p.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
  await waitExit(p);
  assert.notEqual(p.exitCode, 0);
  assert.match(err, /idle timeout is a number of seconds from 0 \(never\) to 86400/);
});
