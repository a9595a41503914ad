// Group commit: batches are written as they come, fsynced one fsync at a time,
// and reported durable in order, never before an fsync that began after them.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GroupCommit, SOON_SYNC_MS } from '../../src/node/group-commit.ts';
import { productionTimers } from '../../src/node/env.ts';

const turn = (): Promise<void> => new Promise((r) => setImmediate(r));

class Harness {
  readonly written: string[][] = [];
  readonly durable: string[][] = [];
  /** Batches reported written (visible), in the order they were. */
  readonly reported: string[][] = [];
  readonly syncs: (() => void)[] = [];
  failed: unknown = null;
  readonly gc = new GroupCommit<string>(
    productionTimers,
    (b) => {
      this.written.push([...b]);
    },
    (done) => this.syncs.push(() => done(null)),
    (b) => this.durable.push([...b]),
    (e) => {
      this.failed = e;
    },
    (b) => this.reported.push([...b]),
  );
}

test('what arrives in one turn is one write; it is durable only once the fsync after it returns', async () => {
  const h = new Harness();
  h.gc.add('a');
  h.gc.add('b');
  assert.deepEqual(h.written, [], 'nothing is written in the same turn');
  await turn();
  assert.deepEqual(h.written, [['a', 'b']]);
  assert.deepEqual(h.reported, [['a', 'b']], 'reported written as soon as it is, before its fsync returns');
  assert.equal(h.syncs.length, 1);
  assert.deepEqual(h.durable, []);
  h.syncs[0]?.();
  await turn();
  assert.deepEqual(h.durable, [['a', 'b']]);
});

test('one fsync at a time: what is written while it runs waits for the next one, and order is kept', async () => {
  const h = new Harness();
  h.gc.add('a');
  await turn();
  h.gc.add('b');
  await turn();
  h.gc.add('c');
  await turn();
  assert.deepEqual(h.written, [['a'], ['b'], ['c']], 'writes are not held back by the fsync');
  assert.equal(h.syncs.length, 1, 'but only one fsync runs');
  h.syncs[0]?.();
  await turn();
  assert.deepEqual(h.durable, [['a']], 'b and c were written after that fsync began');
  assert.equal(h.syncs.length, 2, 'the next fsync covers both');
  h.syncs[1]?.();
  await turn();
  assert.deepEqual(h.durable, [['a'], ['b'], ['c']]);
});

test('a write nobody waits on does not cause an fsync: it rides with the next one, or is written on its own later', async () => {
  const h = new Harness();
  h.gc.add('lazy', 'lazy');
  await turn();
  assert.deepEqual(h.written, []);
  h.gc.add('x');
  await turn();
  assert.deepEqual(h.written, [['lazy', 'x']]);
  h.syncs[0]?.();
  await turn();
  h.gc.add('later', 'lazy');
  await new Promise((r) => setTimeout(r, 80));
  assert.deepEqual(h.written, [['lazy', 'x'], ['later']]);
  assert.equal(h.syncs.length, 1, 'no fsync for it alone');
  assert.deepEqual(h.reported, [['lazy', 'x']], 'a write nobody waits on is not reported');
});

test('a soon write is written and reported at once, and rides the next fsync someone waits on: one fsync, not two', async () => {
  const h = new Harness();
  h.gc.add('commit', 'soon');
  await turn();
  assert.deepEqual(h.written, [['commit']]);
  assert.deepEqual(h.reported, [['commit']], 'reported written: the client may be answered');
  assert.equal(h.syncs.length, 0, 'no fsync of its own yet');
  h.gc.add('prepare');
  await turn();
  assert.equal(h.syncs.length, 1, 'the write waited on starts one');
  h.syncs[0]?.();
  await turn();
  assert.deepEqual(h.durable, [['commit'], ['prepare']], 'both durable with it, in order');
  await new Promise((r) => setTimeout(r, SOON_SYNC_MS + 20));
  assert.equal(h.syncs.length, 1, 'and no timer left to start another');
});

test('a soon write with nothing else to ride gets its own fsync SOON_SYNC_MS later; one written during an fsync waits for its timer, not for that fsync to end', async () => {
  const h = new Harness();
  h.gc.add('a', 'soon');
  await turn();
  assert.equal(h.syncs.length, 0);
  await new Promise((r) => setTimeout(r, SOON_SYNC_MS + 20));
  assert.equal(h.syncs.length, 1, 'its own fsync, after the delay');
  h.gc.add('b', 'soon');
  await turn();
  h.syncs[0]?.();
  await turn();
  assert.deepEqual(h.durable, [['a']]);
  assert.equal(h.syncs.length, 1, 'b does not start an fsync the moment the last one ends');
  h.gc.add('c');
  await turn();
  assert.equal(h.syncs.length, 2, 'a write waited on does, and b rides it');
  h.syncs[1]?.();
  await turn();
  assert.deepEqual(h.durable, [['a'], ['b'], ['c']]);
});

test('a failed write or fsync stops everything and is reported', async () => {
  const h = new Harness();
  h.gc.add('a');
  await turn();
  (h.syncs[0] as unknown as (v?: unknown) => void)();
  const bad = new GroupCommit<string>(
    productionTimers,
    () => {
      throw new Error('disk full');
    },
    (done) => done(null),
    () => assert.fail('nothing is durable'),
    (e) => {
      h.failed = e;
    },
  );
  bad.add('x');
  await turn();
  assert.match(String(h.failed), /disk full/);
  bad.add('y');
  await turn();
  const syncFails = new GroupCommit<string>(
    productionTimers,
    () => undefined,
    (done) => setImmediate(() => done(new Error('EIO'))),
    () => assert.fail('nothing is durable'),
    (e) => {
      h.failed = e;
    },
  );
  syncFails.add('z');
  await turn();
  await turn();
  assert.match(String(h.failed), /EIO/);
});
