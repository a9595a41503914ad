import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { LockTable } from '../../src/core/locks.ts';

describe('LockTable', () => {
  test('a free key is granted and recorded under its holder', () => {
    const l = new LockTable();
    assert.deepEqual(l.acquireAll('tx1', ['tweet:a']), { ok: true });
    assert.equal(l.holderOf('tweet:a'), 'tx1');
    assert.deepEqual(l.keysOf('tx1'), ['tweet:a']);
    assert.equal(l.size, 1);
  });

  test('a key held by another transaction is refused at once and names the key', () => {
    const l = new LockTable();
    l.acquireAll('tx1', ['tweet:a']);
    assert.deepEqual(l.acquireAll('tx2', ['tweet:a']), { ok: false, key: 'tweet:a' });
    assert.equal(l.holderOf('tweet:a'), 'tx1');
    assert.deepEqual(l.keysOf('tx2'), []);
  });

  test('acquireAll is all-or-nothing: a conflict on a later key takes none of the earlier ones', () => {
    const l = new LockTable();
    l.acquireAll('tx1', ['tweet:c']);
    assert.deepEqual(l.acquireAll('tx2', ['tweet:a', 'tweet:b', 'tweet:c']), { ok: false, key: 'tweet:c' });
    assert.equal(l.holderOf('tweet:a'), undefined);
    assert.equal(l.holderOf('tweet:b'), undefined);
    assert.equal(l.size, 1);
    assert.deepEqual(l.keysOf('tx2'), []);
  });

  test('the first conflicting key in request order is reported', () => {
    const l = new LockTable();
    l.acquireAll('tx1', ['tweet:b', 'tweet:d']);
    assert.deepEqual(l.acquireAll('tx2', ['tweet:a', 'tweet:d', 'tweet:b']), { ok: false, key: 'tweet:d' });
  });

  test('re-acquiring keys already held by the same transaction is fine and does not duplicate them', () => {
    const l = new LockTable();
    l.acquireAll('tx1', ['tweet:a']);
    assert.deepEqual(l.acquireAll('tx1', ['tweet:a', 'tweet:b']), { ok: true });
    assert.deepEqual(l.acquireAll('tx1', ['tweet:b', 'tweet:b']), { ok: true });
    assert.deepEqual(l.keysOf('tx1').sort(), ['tweet:a', 'tweet:b']);
    assert.equal(l.size, 2);
  });

  test('releaseAll frees every key of the transaction and only those', () => {
    const l = new LockTable();
    l.acquireAll('tx1', ['tweet:a', 'tweet:b']);
    l.acquireAll('tx2', ['tweet:c']);
    l.releaseAll('tx1');
    assert.equal(l.holderOf('tweet:a'), undefined);
    assert.equal(l.holderOf('tweet:b'), undefined);
    assert.equal(l.holderOf('tweet:c'), 'tx2');
    assert.deepEqual(l.keysOf('tx1'), []);
    assert.equal(l.size, 1);
    assert.deepEqual(l.acquireAll('tx3', ['tweet:a', 'tweet:b']), { ok: true });
  });

  test('releaseAll of an unknown transaction, or twice, is a no-op', () => {
    const l = new LockTable();
    l.acquireAll('tx1', ['tweet:a']);
    l.releaseAll('nobody');
    l.releaseAll('tx1');
    l.releaseAll('tx1');
    assert.equal(l.size, 0);
  });

  test('an empty key list succeeds and holds nothing', () => {
    const l = new LockTable();
    assert.deepEqual(l.acquireAll('tx1', []), { ok: true });
    assert.equal(l.size, 0);
    assert.deepEqual(l.keysOf('tx1'), []);
    l.releaseAll('tx1');
    assert.equal(l.size, 0);
  });

  test('keys are compared exactly (namespaces do not collide)', () => {
    const l = new LockTable();
    l.acquireAll('tx1', ['tweet:a']);
    assert.deepEqual(l.acquireAll('tx2', ['user:a', 'tweet:A', 'tweet:a ']), { ok: true });
    assert.equal(l.size, 4);
  });

  test('keysOf returns a copy that callers cannot use to corrupt the table', () => {
    const l = new LockTable();
    l.acquireAll('tx1', ['tweet:a']);
    const keys = l.keysOf('tx1');
    keys.push('tweet:z');
    assert.deepEqual(l.keysOf('tx1'), ['tweet:a']);
  });

  test('a released key can be taken by another transaction, and released again', () => {
    const l = new LockTable();
    for (let i = 0; i < 5; i++) {
      const tx = `tx${i}`;
      assert.deepEqual(l.acquireAll(tx, ['tweet:hot']), { ok: true });
      assert.deepEqual(l.acquireAll(`other${i}`, ['tweet:hot']), { ok: false, key: 'tweet:hot' });
      l.releaseAll(tx);
    }
    assert.equal(l.size, 0);
  });

  test('the two indexes agree through grants, refusals and releases', () => {
    const l = new LockTable();
    l.acquireAll('tx1', ['tweet:a', 'tweet:b']);
    l.invariants();
    l.acquireAll('tx2', ['tweet:b', 'tweet:c']);
    l.invariants();
    l.acquireAll('tx2', ['tweet:c']);
    l.invariants();
    l.releaseAll('tx1');
    l.invariants();
    assert.deepEqual([...l.entries()], [['tweet:c', 'tx2']]);
  });
});
