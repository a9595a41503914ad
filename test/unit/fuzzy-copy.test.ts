// The claim a learner's catch-up rests on (#12): a copy read page by page while commits go on
// (a "fuzzy" copy: each page as of a different moment), followed by a replay of every commit
// since the copy began, ends in exactly the donor's state, because each row carries the cseq of
// its last commit and a commit writes only over older rows. And replaying commits again changes
// nothing, nor does a replay that starts earlier than the copy (commits still being applied
// when it began are streamed too). Random histories: posts, edits, deletes, re-posts, item puts and deletes, counters,
// several ops on one key in one commit; only what a worker would have voted YES on.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { WorkerStore } from '../../src/storage/worker-store.ts';
import { evaluateOp } from '../../src/core/ops.ts';
import { lockKeyOf, type Op, type Row } from '../../src/core/types.ts';
import type { CopyRow } from '../../src/wire/protocol.ts';

interface Commit {
  txid: string;
  cseq: number;
  ops: Op[];
}

/** One op a client might ask for; whether it is written depends on the donor's state (evaluateOp). */
interface Intent {
  kind: number;
  key: number;
  x: number;
}

interface Run {
  /** Each step: a commit's intents, then how many copy pages are read after it (once the copy has begun). */
  steps: { intents: Intent[]; pages: number }[];
  /** The copy begins after this many steps (taken modulo their number plus one). */
  start: number;
  /** The learner's replay starts this many commits before the copy began. */
  earlier: number;
  pageSize: number;
}

function opOf(i: Intent, cseq: number): Op {
  const t = `t${i.key}`;
  switch (i.kind) {
    case 0:
      return { kind: 'post', tweet: { id: t, username: `u${i.x % 2}`, content: `c${i.x % 3}`, created_at: cseq * 10 + i.x, updated_at: null } };
    case 1:
      return { kind: 'update', id: t, content: `e${cseq}.${i.x}`, username: null, at: cseq * 10 + i.x };
    case 2:
      return { kind: 'delete', id: t, username: null };
    case 3:
      return { kind: 'put_item', item: { kind: 'like', key: `k${i.key}`, value: { v: i.x % 3 } }, mode: i.x % 2 === 0 ? 'create' : 'replace' };
    case 4:
      return { kind: 'delete_item', item_kind: 'like', key: `k${i.key}` };
    case 5:
      return { kind: 'incr_item', item_kind: 'stats', key: `s${i.key}`, field: i.x % 2 === 0 ? 'likes' : 'replies', by: i.x - 1 };
    default:
      return { kind: 'delete_item', item_kind: 'stats', key: `s${i.key}` };
  }
}

/** What the op's key holds in the store, as the worker core reads it. */
function committed(store: WorkerStore, op: Op): Row | null {
  switch (op.kind) {
    case 'post':
      return store.getTweet(op.tweet.id);
    case 'update':
    case 'delete':
      return store.getTweet(op.id);
    case 'put_item':
      return store.getItem(op.item.kind, op.item.key);
    case 'delete_item':
    case 'incr_item':
      return store.getItem(op.item_kind, op.key);
  }
}

/**
 * The ops of a commit a worker would vote YES on, each seeing the ones before it (staged, as the
 * core does); `staged` is left holding what the commit leaves in each key it writes.
 */
function voted(store: WorkerStore, intents: readonly Intent[], cseq: number, staged: Map<string, Row | null>): Op[] {
  const ops: Op[] = [];
  for (const intent of intents) {
    const op = opOf(intent, cseq);
    const key = lockKeyOf(op);
    const outcome = evaluateOp(staged.has(key) ? (staged.get(key) ?? null) : committed(store, op), op);
    if (!outcome.ok) continue;
    staged.set(key, outcome.next);
    ops.push(op);
  }
  return ops;
}

function apply(store: WorkerStore, c: Commit): void {
  store.persist([{ type: 'persist_commit', txid: c.txid, cseq: c.cseq, ops: c.ops }], 0);
}

/** The rows as the ops' own rules (evaluateOp) leave them, by lock key: what the donor must hold. */
function rowsByKey(store: WorkerStore): Map<string, Row> {
  return new Map(
    store.snapshot(null, 10_000).map((r): [string, Row] => ('tweet' in r ? [`tweet:${r.tweet.id}`, r.tweet] : [`${r.item.kind}:${r.item.key}`, r.item])),
  );
}

/** Everything a copy would carry, cseqs included. */
function state(store: WorkerStore): CopyRow[] {
  return store.snapshot(null, 10_000);
}

const intentArb: fc.Arbitrary<Intent> = fc.record({
  // Writes that create rows come more often than deletes, so keys live long enough to be edited.
  kind: fc.constantFrom(0, 0, 1, 1, 2, 3, 3, 4, 5, 5, 5, 6),
  key: fc.integer({ min: 0, max: 2 }),
  x: fc.integer({ min: 0, max: 4 }),
});

const runArb: fc.Arbitrary<Run> = fc.record({
  steps: fc.array(fc.record({ intents: fc.array(intentArb, { minLength: 1, maxLength: 3 }), pages: fc.constantFrom(0, 0, 1, 1, 2) }), {
    minLength: 1,
    maxLength: 40,
  }),
  start: fc.nat(),
  earlier: fc.integer({ min: 0, max: 3 }),
  pageSize: fc.integer({ min: 1, max: 4 }),
});

test('a fuzzy copy and a replay of every commit since it began end in the donor\'s state; replaying twice changes nothing', () => {
  fc.assert(
    fc.property(runArb, (run) => {
      const donor = new WorkerStore(':memory:');
      const learner = new WorkerStore(':memory:');
      const twice = new WorkerStore(':memory:');
      try {
        const commits: Commit[] = [];
        const model = new Map<string, Row>();
        const start = run.start % (run.steps.length + 1);
        let startCseq = 0;
        // The copy: a cursor into the donor, pages installed as read; `undefined` until it begins.
        let cursor: string | null | undefined;
        let copyDone = false;
        const readPage = (): void => {
          if (copyDone || cursor === undefined) return;
          const page = donor.snapshot(cursor, run.pageSize);
          copyDone = page.length < run.pageSize;
          learner.install(page, cursor === null, copyDone, startCseq);
          cursor = page.at(-1)?.c ?? cursor;
        };
        for (const [n, step] of run.steps.entries()) {
          if (n === start) {
            startCseq = commits.length;
            cursor = null;
          }
          const cseq = commits.length + 1;
          const staged = new Map<string, Row | null>();
          const ops = voted(donor, step.intents, cseq, staged);
          if (ops.length > 0) {
            const c = { txid: `1.${cseq}`, cseq, ops };
            commits.push(c);
            apply(donor, c);
            for (const [key, row] of staged) {
              if (row === null) model.delete(key);
              else model.set(key, row);
            }
          }
          for (let p = 0; p < step.pages; p++) readPage();
        }
        if (cursor === undefined) {
          startCseq = commits.length;
          cursor = null;
        }
        while (!copyDone) readPage();

        assert.deepEqual(rowsByKey(donor), model, 'the donor applied each commit as it was voted');

        const replayFrom = Math.max(0, startCseq - run.earlier);
        for (const c of commits) if (c.cseq > replayFrom) apply(learner, c);
        assert.deepEqual(learner.check(), donor.check(), 'the learner holds what the donor holds');
        assert.deepEqual(state(learner), state(donor), 'with the same cseqs (it can be a donor in turn)');
        for (const c of commits) if (c.cseq > replayFrom) apply(learner, c);
        assert.deepEqual(state(learner), state(donor), 'a second replay changes nothing');

        for (const c of commits) apply(twice, c);
        for (const c of commits) apply(twice, c);
        assert.deepEqual(state(twice), state(donor), 'the whole history applied twice is the history applied once');
      } finally {
        donor.close();
        learner.close();
        twice.close();
      }
    }),
    { numRuns: 300 },
  );
});
