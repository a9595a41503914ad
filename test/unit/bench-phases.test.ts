// The bench's phase times from trace lines (src/bench/phases.ts): each commit's phases are its last
// voter's step, percentiles over the commits; aborts and traces missing a voter's step are left out.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PhaseSamples } from '../../src/bench/phases.ts';
import type { ApiReply } from '../../src/client/client.ts';

function line(trace: Record<string, unknown>, sampled = 1): ApiReply {
  // A trace line has no status: it is an event, typed as a reply only because the client passes events on as one.
  return { event: 'txn.finished', trace, sampled_1_in: sampled } as unknown as ApiReply;
}

const voters = ['w-1', 'w-2'];

test('each commit counts its last voter at each step; the percentiles are over commits', () => {
  const s = new PhaseSamples();
  for (let i = 0; i < 100; i++) {
    s.add(line({ txid: `1.${i}`, outcome: 'commit', voters, at: 0, votes: { 'w-1': 1, 'w-2': 2 + (i % 2) }, decision: 3, applied: { 'w-1': 5, 'w-2': 4 }, acks: { 'w-1': 7, 'w-2': 6 + i } }, i < 50 ? 1 : 4));
  }
  const p = s.summary(2, 123);
  assert.equal(p.traced, 100);
  assert.equal(p.sampled1In, 4, 'the coarsest sampling seen');
  assert.deepEqual(p.votes, { p50Ms: 3, p99Ms: 3 });
  assert.deepEqual(p.applied, { p50Ms: 5, p99Ms: 5 });
  assert.deepEqual(p.acks, { p50Ms: 56, p99Ms: 105 });
  assert.equal(p.commitsPerSec, 123);
  assert.equal(p.seconds, 2);
});

test('aborts, other events and commits whose trace misses a voter\'s step are left out', () => {
  const s = new PhaseSamples();
  s.add(line({ outcome: 'abort', code: 'LOCKED', voters, votes: { 'w-1': 1 }, decision: 2, applied: {}, acks: {} }));
  s.add(line({ outcome: 'commit', voters, votes: { 'w-1': 1, 'w-2': 1 }, applied: { 'w-1': 2 }, acks: { 'w-1': 3, 'w-2': 3 } }));
  s.add(line({ outcome: 'commit', voters: [], votes: {}, applied: {}, acks: {} }));
  s.add({ event: 'change', status: 'OK' } as unknown as ApiReply);
  assert.equal(s.traced, 0);
  s.add(line({ outcome: 'commit', voters: ['w-1'], votes: { 'w-1': 1 }, applied: { 'w-1': 2 }, acks: { 'w-1': 3 } }));
  assert.equal(s.traced, 1, 'a single voter\'s commit counts');
});
