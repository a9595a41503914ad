// incr_item: the counter op behind likes and replies (src/core/ops.ts evaluateIncr), its
// validation at the client edge (src/wire/validate.ts) and between nodes (src/wire/node-messages.ts).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { evaluateIncr, evaluateOp } from '../../src/core/ops.ts';
import { validateRequest } from '../../src/wire/validate.ts';
import { parseToWorker } from '../../src/wire/node-messages.ts';
import type { Item, Op } from '../../src/wire/protocol.ts';

const incr = (by: number, field: 'likes' | 'replies' | 'tweets' = 'likes'): Extract<Op, { kind: 'incr_item' }> => ({ kind: 'incr_item', item_kind: 'stats', key: 't1', field, by });

test('incr_item adds to the field, starting a missing item at {} and a missing field at 0', () => {
  const first = evaluateIncr(null, incr(1));
  assert.ok(first.ok);
  assert.deepEqual(first.next, { kind: 'stats', key: 't1', value: { likes: 1 } });
  const second = evaluateIncr(first.next as Item, incr(1, 'replies'));
  assert.ok(second.ok);
  assert.deepEqual((second.next as Item).value, { likes: 1, replies: 1 });
  const third = evaluateOp(second.next, incr(-1));
  assert.ok(third.ok);
  assert.deepEqual(third.result, { item: { kind: 'stats', key: 't1', value: { likes: 0, replies: 1 } } });
});

test('incr_item never fails on the data: it saturates at the safe integers', () => {
  const big: Item = { kind: 'stats', key: 't1', value: { likes: Number.MAX_SAFE_INTEGER } };
  const r = evaluateIncr(big, incr(5));
  assert.ok(r.ok);
  assert.equal((r.next as Item).value.likes, Number.MAX_SAFE_INTEGER);
});

test('a counter never goes below 0: a decrement past it stops there (#24: an unlike of a stale like took likes to -1)', () => {
  const r = evaluateIncr(null, incr(-1));
  assert.ok(r.ok);
  assert.equal((r.next as Item).value.likes, 0);
  const two: Item = { kind: 'stats', key: 't1', value: { likes: 2 } };
  for (const [by, left] of [[-5, 0], [-1, 1]] as const) {
    const o = evaluateIncr(two, incr(by));
    assert.ok(o.ok);
    assert.equal((o.next as Item).value.likes, left);
  }
});

test('the client edge: incr_item takes a counter kind, a counter field and a bounded step; put_item of a counter kind is refused', () => {
  const ok = validateRequest({ action: 'incr_item', item: { kind: 'stats', key: 't1' }, field: 'likes', by: 1 });
  assert.deepEqual(ok, { ok: true, request: { action: 'incr_item', item: { kind: 'stats', key: 't1' }, field: 'likes', by: 1 } });
  const inTxn = validateRequest({ action: 'transaction', ops: [{ action: 'incr_item', item: { kind: 'user_stats', key: 'ada' }, field: 'tweets', by: -1 }] });
  assert.ok(inTxn.ok);
  const bad: [Record<string, unknown>, RegExp][] = [
    [{ action: 'incr_item', item: { kind: 'user', key: 'ada' }, field: 'likes', by: 1 }, /item.kind" must be one of stats, user_stats/],
    [{ action: 'incr_item', item: { kind: 'stats', key: 't1' }, field: 'password', by: 1 }, /"field" must be one of likes, replies, tweets/],
    [{ action: 'incr_item', item: { kind: 'stats', key: 't1' }, field: 'likes', by: 1.5 }, /"by" must be a whole number/],
    [{ action: 'incr_item', item: { kind: 'stats', key: 't1' }, field: 'likes', by: 2_000_000 }, /"by" must be a whole number/],
    [{ action: 'incr_item', item: { kind: 'stats', key: 't1', value: {} }, field: 'likes', by: 1 }, /unknown field/i],
    [{ action: 'put_item', item: { kind: 'stats', key: 't1', value: { likes: 99 } } }, /is a counter \(stats\): only incr_item and delete_item write it/],
  ];
  for (const [req, why] of bad) {
    const r = validateRequest(req);
    assert.equal(r.ok, false, JSON.stringify(req));
    if (!r.ok) assert.match(r.error, why);
  }
  assert.ok(validateRequest({ action: 'delete_item', item: { kind: 'stats', key: 't1' } }).ok);
  assert.ok(validateRequest({ action: 'put_item', item: { kind: 'like', key: 't1 ada', value: { n: 'x' } }, if_absent: true }).ok);
});

test('between nodes: a prepare carrying incr_item passes; one naming another kind or field does not', () => {
  // (#13: a prepare carries the cseq it commits with.)
  const prepare = (op: Record<string, unknown>): unknown => ({ type: 'prepare', txid: '1.1', ops: [op], config: 1, floor: 0, cseq: 1 });
  const good = parseToWorker(prepare({ kind: 'incr_item', item_kind: 'stats', key: 't1', field: 'replies', by: 1 }));
  assert.ok(good.ok, JSON.stringify(good));
  assert.equal(parseToWorker(prepare({ kind: 'incr_item', item_kind: 'user', key: 't1', field: 'replies', by: 1 })).ok, false);
  assert.equal(parseToWorker(prepare({ kind: 'incr_item', item_kind: 'stats', key: 't1', field: 'password', by: 1 })).ok, false);
  assert.equal(parseToWorker(prepare({ kind: 'incr_item', item_kind: 'stats', key: 't1', field: 'likes', by: 1e7 })).ok, false);
});
