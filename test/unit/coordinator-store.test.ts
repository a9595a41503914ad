// The coordinator's store keeps the voting configuration (#12): a logged configuration comes
// back at recovery; a store from before configurations recovers every member as a voter, and one
// that began with configurations but lost its first (#13, DECISIONS 67) recovers no voter; a
// member the operator removed stays removed across a restart.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
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
        { type: 'save_member', id: 'w1', address: '127.0.0.1:10001', leaving: false },
        { type: 'save_member', id: 'w2', address: '127.0.0.1:10002', leaving: false },
        { type: 'log_config', config: 2, voters: ['w1', 'w2'], catching_up: [] },
        { type: 'commit_config', config: 2 },
      ]);
      s.persist([{ type: 'log_config', config: 3, voters: ['w2'], catching_up: [] }]);
      s.persist([{ type: 'commit_config', config: 3 }]);
    });
    reopen(dir, (s) => {
      const r = s.recover();
      assert.deepEqual(r.config, { n: 3, voters: ['w2'], catching_up: [] }, 'a member need not vote');
      assert.deepEqual(r.members.map((m) => m.id), ['w1', 'w2']);
    });
  });
});

test('#23: a configuration proposed and never put in use is not the one in use; its number is kept, so the next is above it', () => {
  withDir((dir) => {
    reopen(dir, (s) => {
      s.persist([{ type: 'log_config', config: 1, voters: ['w1'], catching_up: [] }, { type: 'commit_config', config: 1 }]);
      s.persist([{ type: 'log_config', config: 2, voters: ['w1', 'w2'], catching_up: ['w2'] }]);
    });
    reopen(dir, (s) => {
      const r = s.recover();
      assert.deepEqual([r.config, r.config_proposed], [{ n: 1, voters: ['w1'], catching_up: [] }, { n: 2, voters: ['w1', 'w2'], catching_up: ['w2'] }]);
    });
  });
});

test('with no configuration logged, every member votes as configuration 1 in a store from before configurations; with no member, configuration 0', () => {
  withDir((dir) => {
    // Written as a version from before configurations wrote it: members, and never a recover() that marks the store new.
    reopen(dir, (s) => {
      s.persist([
        { type: 'save_member', id: 'w2', address: '127.0.0.1:10002', leaving: false },
        { type: 'save_member', id: 'w1', address: '127.0.0.1:10001', leaving: false },
      ]);
    });
    reopen(dir, (s) => assert.deepEqual(s.recover().config, { n: 1, voters: ['w1', 'w2'] }));
  });
  withDir((dir) => reopen(dir, (s) => assert.deepEqual(s.recover().config, { n: 0, voters: [] })));
});

test('a store that began with configurations and lost its first one to a crash has no voter, not every member as one (DECISIONS 67)', () => {
  withDir((dir) => {
    // Recovered empty: marked as a store with configurations.
    reopen(dir, (s) => assert.deepEqual(s.recover().config, { n: 0, voters: [] }));
    // Members saved; the first configuration never written (a crash before its fsync).
    reopen(dir, (s) => {
      s.persist([
        { type: 'save_member', id: 'w2', address: '127.0.0.1:10002', leaving: false },
        { type: 'save_member', id: 'w1', address: '127.0.0.1:10001', leaving: false },
      ]);
    });
    reopen(dir, (s) => assert.deepEqual(s.recover().config, { n: 0, voters: [] }, 'a brand-new worker is no voter without a copy'));
    // And a later configuration is used as logged.
    reopen(dir, (s) => s.persist([{ type: 'log_config', config: 1, voters: ['w1'], catching_up: [] }, { type: 'commit_config', config: 1 }]));
    reopen(dir, (s) => assert.deepEqual(s.recover().config, { n: 1, voters: ['w1'], catching_up: [] }));
  });
});

test('a member the operator removed is recovered as leaving; a store from before that column reads nobody as leaving', () => {
  withDir((dir) => {
    reopen(dir, (s) => {
      s.persist([
        { type: 'save_member', id: 'w1', address: '127.0.0.1:10001', leaving: false },
        { type: 'save_member', id: 'w2', address: '127.0.0.1:10002', leaving: false },
      ]);
      s.persist([{ type: 'save_member', id: 'w2', address: '127.0.0.1:10002', leaving: true }]);
    });
    reopen(dir, (s) => assert.deepEqual(s.recover().members, [
      { id: 'w1', address: '127.0.0.1:10001', leaving: false },
      { id: 'w2', address: '127.0.0.1:10002', leaving: true },
    ]));
  });
  withDir((dir) => {
    // A members table as an older version made it: no leaving column.
    const db = new Database(join(dir, 'coordinator.db'));
    db.exec("CREATE TABLE members (id TEXT PRIMARY KEY, address TEXT NOT NULL) STRICT; INSERT INTO members VALUES ('w1', '127.0.0.1:10001')");
    db.close();
    reopen(dir, (s) => assert.deepEqual(s.recover().members, [{ id: 'w1', address: '127.0.0.1:10001', leaving: false }]));
  });
});

test('a coordinator that was recovering its cluster when it stopped says so at its next start, until a write says it is done (#23, simulator seed 802279)', () => {
  withDir((dir) => {
    reopen(dir, (s) => {
      s.recover();
      s.persist([{ type: 'log_identity', seq: 1, cluster: 'c-1', epoch: 4, recovering: 'empty' }]);
    });
    reopen(dir, (s) => assert.deepEqual([s.recover().cluster, s.recover().recovering], ['c-1', 'empty']));
    reopen(dir, (s) => s.persist([{ type: 'log_identity', seq: 1, cluster: 'c-1', epoch: 6, recovering: null }]));
    reopen(dir, (s) => assert.equal(s.recover().recovering, null));
  });
});
