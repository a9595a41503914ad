// What `tweetdb status` draws from the coordinator's replies: the voting set and each worker's
// role and learner progress when the coordinator sends them (issue #12), and the table as it was
// when an older coordinator does not.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ApiReply } from '../../src/client/client.ts';
import { formatBytes, render, type StatusSnapshot } from '../../src/cli/status.ts';

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
