import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { Deadlines } from '../../src/core/deadlines.ts';

describe('Deadlines', () => {
  test('due lists what is at or before now, in the order first set; nothing is removed by asking', () => {
    const d = new Deadlines<string>();
    d.set('b', 20);
    d.set('a', 10);
    d.set('c', Number.POSITIVE_INFINITY);
    assert.deepEqual(d.due(9), []);
    assert.deepEqual(d.due(10), ['a']);
    assert.deepEqual(d.due(25), ['b', 'a']);
    assert.deepEqual(d.due(25), ['b', 'a'], 'still due until set again or cleared');
    assert.equal(d.size, 3);
  });

  test('re-setting a key moves its time and keeps its place; clear forgets it', () => {
    const d = new Deadlines<string>();
    d.set('a', 10);
    d.set('b', 20);
    d.set('a', 30);
    assert.equal(d.next(), 20);
    assert.deepEqual(d.due(30), ['a', 'b']);
    d.clear('b');
    assert.equal(d.next(), 30);
    assert.equal(d.has('b'), false);
    assert.equal(d.get('a'), 30);
    d.clear('a');
    assert.equal(d.next(), Number.POSITIVE_INFINITY);
    assert.deepEqual(d.due(1e12), []);
  });

  test('the earliest is found again after it moves later', () => {
    const d = new Deadlines<number>();
    d.set(1, 5);
    d.set(2, 7);
    d.set(1, 50);
    assert.equal(d.next(), 7);
    assert.deepEqual(d.due(8), [2]);
  });
});
