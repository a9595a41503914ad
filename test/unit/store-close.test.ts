// A closed store touches its data directory no more: its checkpoint thread has closed its
// connection before close() returns. CI saw the thread open the database after a test had
// closed the store and was removing the directory (ENOTEMPTY), and an operator who moves or
// deletes a stopped node's files must not find a fresh empty database put back.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { WorkerStore } from '../../src/storage/worker-store.ts';
import { CoordinatorStore } from '../../src/storage/coordinator-store.ts';

const stores: [string, (dir: string) => { close(): void }][] = [
  ['worker', (dir) => new WorkerStore(dir)],
  ['coordinator', (dir) => new CoordinatorStore(dir)],
];

for (const [name, open] of stores) {
  test(`a ${name} store, once closed, writes nothing more into its directory`, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tweetdb-close-'));
    try {
      for (let i = 0; i < 3; i++) {
        open(dir).close();
        for (const f of readdirSync(dir)) rmSync(join(dir, f), { recursive: true, force: true });
        // Longer than the checkpoint thread takes to start and tick (250 ms).
        await sleep(600);
        assert.deepEqual(readdirSync(dir), [], `files reappeared after close #${i + 1}`);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
}
