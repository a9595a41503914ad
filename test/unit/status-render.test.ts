// What `tweetdb status` draws from the coordinator's replies: the voting set and each worker's
// role and learner progress when the coordinator sends them (issue #12), and the table as it was
// when an older coordinator does not.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ApiReply } from '../../src/client/client.ts';
import { exitCodeOf, formatBytes, problemsOf, render, type StatusSnapshot } from '../../src/cli/status.ts';

const check: ApiReply = {
  status: 'OK',
  workers: [
    { id: 'w-a', address: '127.0.0.1:10001', state: 'up', digest: 'aaaaaaaaaaaaaaaa', prepared: 0, locks: 0, max_cseq: 40, fsyncs: 4, fsync_ms: 8 },
    { id: 'w-b', address: '127.0.0.1:10002', state: 'joining', digest: 'bbbbbbbbbbbbbbbb', prepared: 0, locks: 0, max_cseq: 12, fsyncs: 1, fsync_ms: 1 },
    { id: 'w-c', address: '127.0.0.1:10003', state: 'down', error: 'down' },
  ],
};

function snapshot(status: Record<string, unknown>): StatusSnapshot {
  return { coordinator: '127.0.0.1:8571', status: { status: 'OK', in_doubt: [], counters: { last_cseq: 40 }, ...status }, check };
}

/** The table's row whose first cell is `id`. */
function row(text: string, id: string): string {
  return text.split('\n').find((l) => l.split('|')[1]?.trim() === id) ?? '';
}

test('the configuration, evict-after and min-voters on one line; a MEMBER column; the learners with their progress', () => {
  const text = render(
    snapshot({
      config: { n: 7, voters: ['w-a'] },
      evict_after_s: 2.5,
      min_voters: 1,
      workers: [
        { id: 'w-a', address: '127.0.0.1:10001', state: 'up', role: 'voter' },
        { id: 'w-b', address: '127.0.0.1:10002', state: 'joining', role: 'learner', learner: { phase: 'copying', behind: 28, copied_rows: 12_000, copied_bytes: 3 * 1024 * 1024 } },
        { id: 'w-c', address: '127.0.0.1:10003', state: 'down', role: 'evicted' },
      ],
    }),
  );
  assert.match(text, /^configuration 7 \(1 voter\); evict after 2\.5 s; min voters 1$/m);
  assert.match(text, /\| NODE +\| ROLE +\| STATE +\| ADDRESS +\| MEMBER +\| APPLIED /);
  assert.match(row(text, 'coordinator'), /^\| coordinator +\| coordinator +\| up +\| 127\.0\.0\.1:8571 +\| - +\| 40 /);
  assert.match(row(text, 'w-a'), /\| worker +\| up +\| 127\.0\.0\.1:10001 +\| voter +\| 40 +\| 0 /);
  assert.match(row(text, 'w-b'), /\| worker +\| joining +\| 127\.0\.0\.1:10002 +\| learner +\| 12 +\| 28 /);
  assert.match(row(text, 'w-c'), /\| worker +\| down +\| 127\.0\.0\.1:10003 +\| evicted +\| - /);
  assert.match(text, /^catching up: 1$/m);
  assert.match(text, /\| WORKER +\| PHASE +\| BEHIND +\| ROWS COPIED +\| BYTES COPIED +\|/);
  assert.match(text, /\| w-b +\| copying +\| 28 +\| 12000 +\| 3\.0 MiB +\|/);
  assert.match(text, /unhealthy: 2 worker\(s\) not up/);
});

test('a coordinator older than configurations: no configuration line, no MEMBER column, no learners', () => {
  const text = render(
    snapshot({
      workers: [
        { id: 'w-a', address: '127.0.0.1:10001', state: 'up' },
        { id: 'w-b', address: '127.0.0.1:10002', state: 'joining' },
        { id: 'w-c', address: '127.0.0.1:10003', state: 'down' },
      ],
    }),
  );
  assert.equal(text.split('\n')[0]?.startsWith('+'), true, text);
  assert.doesNotMatch(text, /MEMBER|configuration|catching up/);
  assert.match(text, /\| NODE +\| ROLE +\| STATE +\| ADDRESS +\| APPLIED +\| LAG /);
  assert.match(row(text, 'w-b'), /\| worker +\| joining +\| 127\.0\.0\.1:10002 +\| 12 +\| 28 /);
});

test('a worker the status reply gives no role shows -, and a learner missing some progress fields shows - for them', () => {
  const text = render(
    snapshot({
      config: { n: 2, voters: ['w-a', 'w-c'] },
      workers: [
        { id: 'w-a', address: '127.0.0.1:10001', state: 'up', role: 'voter' },
        { id: 'w-b', address: '127.0.0.1:10002', state: 'joining', role: 'learner', learner: { phase: 'resolving' } },
      ],
    }),
  );
  assert.match(text, /^configuration 2 \(2 voters\)$/m);
  assert.match(row(text, 'w-c'), /\| down +\| 127\.0\.0\.1:10003 +\| - +\|/);
  assert.match(text, /\| w-b +\| resolving +\| - +\| - +\| - +\|/);
});

test('formatBytes', () => {
  assert.equal(formatBytes(0), '0 B');
  assert.equal(formatBytes(1023), '1023 B');
  assert.equal(formatBytes(1536), '1.5 KiB');
  assert.equal(formatBytes(5 * 1024 ** 3), '5.0 GiB');
});

test('copies are compared only at the same commit with nothing prepared: a copy behind, or with a commit in flight, does not differ; one at the same commit with another digest does, and status exits 1', () => {
  const workers = (ws: Record<string, unknown>[]): ApiReply => ({ status: 'OK', workers: ws });
  const up = (id: string, digest: string, max: number, prepared = 0): Record<string, unknown> => ({ id, address: `127.0.0.1:1000${id.slice(-1)}`, state: 'up', digest, prepared, locks: 0, max_cseq: max });
  const status: ApiReply = { status: 'OK', in_doubt: [], counters: { last_cseq: 40 }, identity: { id: 'c-1', epoch: 3, state: 'serving' }, workers: [] };
  const at = (ws: Record<string, unknown>[]): StatusSnapshot => ({ coordinator: '127.0.0.1:8571', status, check: workers(ws) });

  const behind = at([up('w-1', 'aaaa', 40), up('w-2', 'aaaa', 40), up('w-3', 'bbbb', 39)]);
  assert.deepEqual(problemsOf(behind), []);
  assert.equal(exitCodeOf(behind), 0);
  assert.doesNotMatch(render(behind), /differs/);

  const inFlight = at([up('w-1', 'aaaa', 40), up('w-2', 'bbbb', 40, 1)]);
  assert.deepEqual(problemsOf(inFlight), []);

  const forked = at([up('w-1', 'aaaa', 40), up('w-2', 'aaaa', 40), up('w-3', 'bbbb', 40)]);
  assert.equal(exitCodeOf(forked), 1);
  assert.match(problemsOf(forked).join(';'), /the copies of w-3 differ/);
  assert.match(row(render(forked), 'w-3'), /bbbb \(differs\)/);
  assert.doesNotMatch(row(render(forked), 'w-1'), /differs/);

  // Two copies at one commit that disagree: neither can be told right, both are marked.
  const split = at([up('w-1', 'aaaa', 40), up('w-2', 'bbbb', 40)]);
  assert.match(problemsOf(split).join(';'), /the copies of w-1, w-2 differ/);
});

test('a coordinator that does not serve is unhealthy, with its state and what it waits for', () => {
  const recovering: StatusSnapshot = {
    coordinator: '127.0.0.1:8571',
    status: { status: 'OK', in_doubt: [], counters: { last_cseq: 0 }, workers: [], identity: { id: 'c-1', epoch: 4, state: 'recovering', reason: 'its data directory was empty', waiting_for: ['w-2'] } },
    check: { status: 'OK', workers: [] },
  };
  assert.equal(exitCodeOf(recovering), 1);
  assert.match(problemsOf(recovering)[0] ?? '', /^the coordinator is recovering \(its data directory was empty\)/);
  assert.match(render(recovering), /^cluster c-1; epoch 4; recovering \(waiting for w-2\)$/m);
});
