// The coordinator's store keeps the voting configuration (#12): a logged configuration comes
// back at recovery; a store from before configurations recovers every member as a voter.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CoordinatorStore } from '../../src/storage/coordinator-store.ts';

function withDir(fn: (dir: string) => void): void {
  const dir = mkdtempSync(join(tmpdir(), 'tweetdb-coord-store-'));
  try {
    fn(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function reopen(dir: string, fn: (store: CoordinatorStore) => void): void {
  const store = new CoordinatorStore(dir);
  try {
    fn(store);
  } finally {
    store.close();
  }
}

test('a logged configuration is what recovery returns, the latest one winning', () => {
  withDir((dir) => {
    reopen(dir, (s) => {
      s.persist([
        { type: 'save_member', id: 'w1', address: '127.0.0.1:10001' },
        { type: 'save_member', id: 'w2', address: '127.0.0.1:10002' },
        { type: 'log_config', config: 2, voters: ['w1', 'w2'], catching_up: [] },
      ]);
      s.persist([{ type: 'log_config', config: 3, voters: ['w2'], catching_up: [] }]);
    });
    reopen(dir, (s) => {
      const r = s.recover();
      assert.deepEqual(r.config, { n: 3, voters: ['w2'], catching_up: [] }, 'a member need not vote');
      assert.deepEqual(r.members.map((m) => m.id), ['w1', 'w2']);
    });
  });
});

test('with no configuration logged, every member votes as configuration 1; with no member, configuration 0', () => {
  withDir((dir) => {
    reopen(dir, (s) => assert.deepEqual(s.recover().config, { n: 0, voters: [] }));
    reopen(dir, (s) => {
      s.persist([
        { type: 'save_member', id: 'w2', address: '127.0.0.1:10002' },
        { type: 'save_member', id: 'w1', address: '127.0.0.1:10001' },
      ]);
    });
    reopen(dir, (s) => assert.deepEqual(s.recover().config, { n: 1, voters: ['w1', 'w2'] }));
  });
});
