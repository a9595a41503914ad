import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { evaluateOp } from '../../src/core/ops.ts';
import type { Tweet } from '../../src/core/types.ts';

const stored: Tweet = { id: 't1', username: 'alice', content: 'hello', created_at: 1_000, updated_at: null };

describe('evaluateOp: post', () => {
  test('post of a new id stores the tweet and returns it', () => {
    const tweet: Tweet = { id: 't2', username: 'bob', content: 'hi', created_at: 5, updated_at: null };
    assert.deepEqual(evaluateOp(null, { kind: 'post', tweet }), { ok: true, result: { tweet }, next: tweet });
  });

  test('a retried post (same id, author and content) is OK and answers with what is stored', () => {
    const retry: Tweet = { ...stored, created_at: 99_999 };
    const r = evaluateOp(stored, { kind: 'post', tweet: retry });
    assert.equal(r.ok, true);
    if (!r.ok) return;
    assert.deepEqual(r.result, { tweet: stored });
    assert.deepEqual(r.next, stored);
    assert.equal(r.next?.created_at, 1_000, 'the original timestamp is kept');
  });

  test('post of an existing id with other content is EXISTS', () => {
    const r = evaluateOp(stored, { kind: 'post', tweet: { ...stored, content: 'other' } });
    assert.equal(r.ok, false);
    if (r.ok) return;
    assert.equal(r.code, 'EXISTS');
    assert.match(r.error, /tweet t1 already exists/);
  });

  test('post of an existing id by another author (same content) is EXISTS', () => {
    const r = evaluateOp(stored, { kind: 'post', tweet: { ...stored, username: 'mallory' } });
    assert.equal(r.ok, false);
    if (!r.ok) assert.equal(r.code, 'EXISTS');
  });
});

describe('evaluateOp: update', () => {
  test('update of a missing tweet is NOT_FOUND naming it', () => {
    const r = evaluateOp(null, { kind: 'update', id: 'nope', content: 'x', username: null, at: 7 });
    assert.deepEqual(r, { ok: false, code: 'NOT_FOUND', error: 'tweet nope does not exist' });
  });

  test('update without username changes content and sets updated_at', () => {
    const r = evaluateOp(stored, { kind: 'update', id: 't1', content: 'edited', username: null, at: 2_000 });
    const next: Tweet = { ...stored, content: 'edited', updated_at: 2_000 };
    assert.deepEqual(r, { ok: true, result: { tweet: next }, next });
  });

  test('update by the author is allowed', () => {
    const r = evaluateOp(stored, { kind: 'update', id: 't1', content: 'edited', username: 'alice', at: 2_000 });
    assert.equal(r.ok, true);
  });

  test('update by someone else is FORBIDDEN naming both users, and the row is untouched', () => {
    const before = { ...stored };
    const r = evaluateOp(stored, { kind: 'update', id: 't1', content: 'pwned', username: 'bob', at: 2_000 });
    assert.equal(r.ok, false);
    if (r.ok) return;
    assert.equal(r.code, 'FORBIDDEN');
    assert.match(r.error, /t1/);
    assert.match(r.error, /alice/);
    assert.match(r.error, /bob/);
    assert.deepEqual(stored, before);
  });

  test('update does not mutate the current row object', () => {
    const current = { ...stored };
    evaluateOp(current, { kind: 'update', id: 't1', content: 'edited', username: null, at: 2_000 });
    assert.deepEqual(current, stored);
  });
});

describe('evaluateOp: delete', () => {
  test('delete of a missing tweet is NOT_FOUND', () => {
    const r = evaluateOp(null, { kind: 'delete', id: 'nope', username: null });
    assert.equal(r.ok, false);
    if (!r.ok) assert.equal(r.code, 'NOT_FOUND');
  });

  test('delete returns an empty result and no next row', () => {
    assert.deepEqual(evaluateOp(stored, { kind: 'delete', id: 't1', username: null }), { ok: true, result: {}, next: null });
    assert.deepEqual(evaluateOp(stored, { kind: 'delete', id: 't1', username: 'alice' }), { ok: true, result: {}, next: null });
  });

  test('delete by someone else is FORBIDDEN', () => {
    const r = evaluateOp(stored, { kind: 'delete', id: 't1', username: 'bob' });
    assert.equal(r.ok, false);
    if (!r.ok) assert.equal(r.code, 'FORBIDDEN');
  });
});

describe('evaluateOp: items (accounts and sessions)', () => {
  const ada = { kind: 'user' as const, key: 'ada', value: { password: 'h1' } };
  test('create of a free key stores it', () => {
    assert.deepEqual(evaluateOp(null, { kind: 'put_item', item: ada, mode: 'create' }), { ok: true, result: { item: ada }, next: ada });
  });
  test('create of a taken key is EXISTS naming the kind and key; the same value again is the same write', () => {
    const other = { ...ada, value: { password: 'h2' } };
    const r = evaluateOp(ada, { kind: 'put_item', item: other, mode: 'create' });
    assert.deepEqual(r, { ok: false, code: 'EXISTS', error: 'user ada already exists' });
    assert.deepEqual(evaluateOp(ada, { kind: 'put_item', item: { ...ada, value: { password: 'h1' } }, mode: 'create' }), { ok: true, result: { item: ada }, next: ada });
  });
  test('replace writes whatever is there', () => {
    const other = { ...ada, value: { password: 'h2' } };
    assert.deepEqual(evaluateOp(ada, { kind: 'put_item', item: other, mode: 'replace' }), { ok: true, result: { item: other }, next: other });
  });
  test('delete of a missing item is NOT_FOUND; of a present one leaves nothing', () => {
    assert.deepEqual(evaluateOp(null, { kind: 'delete_item', item_kind: 'session', key: 's1' }), { ok: false, code: 'NOT_FOUND', error: 'session s1 does not exist' });
    assert.deepEqual(evaluateOp(ada, { kind: 'delete_item', item_kind: 'user', key: 'ada' }), { ok: true, result: {}, next: null });
  });
});
