// The trace feed ({"action":"trace"}) through real sockets: each finished transaction's txid,
// outcome, voters and the time of every step; the request is validated; subscribers are bounded.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Cluster, eventually } from '../helpers/cluster.ts';
import type { ApiReply } from '../../src/client/client.ts';
import { CORE_LIMITS } from '../../src/wire/limits.ts';

let cluster: Cluster;
before(async () => {
  cluster = await Cluster.start({ workers: 2 });
});
after(async () => {
  await cluster.stop();
});

interface Trace {
  txid: string;
  outcome: string;
  code?: string;
  voters: string[];
  at: number;
  votes: Record<string, number>;
  decision: number | null;
  applied: Record<string, number>;
  acks: Record<string, number>;
}

test('a committed write: its trace has every voter\'s vote, applied and ack, after the decision', async () => {
  const follower = await cluster.client();
  const lines: ApiReply[] = [];
  follower.onEvent = (e) => lines.push(e);
  const r = await follower.request({ action: 'trace' });
  assert.equal(r.status, 'OK');
  assert.equal(r.max_lines_per_s, CORE_LIMITS.traceLinesPerSecond);
  const writer = await cluster.client();
  assert.equal((await writer.request({ action: 'post', tweet: { id: 'traced-1', username: 'ada', content: 'hi' } })).status, 'OK');
  await eventually(async () => lines.length >= 1, 10_000, 'a trace line');
  const line = lines[0] as unknown as { event: string; trace: Trace; sampled_1_in: number };
  assert.equal(line.event, 'txn.finished');
  assert.equal(line.sampled_1_in, 1);
  const t = line.trace;
  assert.equal(t.outcome, 'commit');
  assert.equal(t.voters.length, 2);
  assert.ok(t.at > 0);
  assert.ok(t.decision !== null && t.decision >= 0);
  for (const w of t.voters) {
    const vote = t.votes[w];
    const applied = t.applied[w];
    const ack = t.acks[w];
    assert.ok(vote !== undefined && applied !== undefined && ack !== undefined, JSON.stringify(t));
    assert.ok(vote <= t.decision && t.decision <= applied, JSON.stringify(t));
  }
});

test('an aborted transaction: outcome abort with its code', async () => {
  const follower = await cluster.client();
  const lines: { trace: Trace }[] = [];
  follower.onEvent = (e) => lines.push(e as unknown as { trace: Trace });
  assert.equal((await follower.request({ action: 'trace' })).status, 'OK');
  const writer = await cluster.client();
  // Updating a tweet that does not exist: every voter votes no.
  const r = await writer.request({ action: 'update', tweet: { id: 'no-such-tweet', content: 'x' } });
  assert.equal(r.status, 'ABORT');
  await eventually(async () => lines.some((l) => l.trace.outcome === 'abort'), 10_000, 'an abort trace');
  const t = lines.find((l) => l.trace.outcome === 'abort')?.trace as Trace;
  assert.equal(t.code, r.code);
  assert.ok(Object.keys(t.votes).length >= 1);
});

test('trace takes no fields', async () => {
  const r = await cluster.request({ action: 'trace', since: 3 });
  assert.equal(r.status, 'ERROR');
  assert.equal(r.code, 'INVALID');
});
