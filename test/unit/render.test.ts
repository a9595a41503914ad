import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { decodeCursor, encodeCursor, renderTweet } from '../../src/core/render.ts';

describe('renderTweet', () => {
  test('times become ISO 8601, a never-edited tweet has updated_at null', () => {
    assert.deepEqual(renderTweet({ id: 'a', username: 'u', content: 'c', created_at: 0, updated_at: null }), {
      id: 'a',
      username: 'u',
      content: 'c',
      created_at: '1970-01-01T00:00:00.000Z',
      updated_at: null,
    });
  });

  test('an edited tweet renders updated_at', () => {
    const v = renderTweet({ id: 'a', username: 'u', content: 'c', created_at: 1_700_000_000_000, updated_at: 1_700_000_000_123 });
    assert.equal(v.created_at, '2023-11-14T22:13:20.000Z');
    assert.equal(v.updated_at, '2023-11-14T22:13:20.123Z');
  });
});

describe('cursors', () => {
  test('encode/decode round-trips, including ids with colons and non-ASCII', () => {
    for (const c of [
      { created_at: 0, id: 'x' },
      { created_at: 1_700_000_000_000, id: 'abc' },
      { created_at: 42, id: 'a:b:c' },
      { created_at: 7, id: 'héllo ✓ 🐦' },
    ]) {
      const s = encodeCursor(c);
      assert.match(s, /^[A-Za-z0-9_-]+$/, 'a cursor is base64url, safe in JSON and URLs');
      assert.deepEqual(decodeCursor(s), c);
    }
  });

  test('the cursor is opaque: not the plain text', () => {
    assert.notEqual(encodeCursor({ created_at: 1, id: 'a' }), '1:a');
  });

  const enc = (s: string): string => Buffer.from(s, 'utf8').toString('base64url');

  test('garbage and malformed cursors decode to null', () => {
    for (const s of [
      '',
      '!!!!',
      enc('no colon'),
      enc(':id'),
      enc('12:'),
      enc('-1:id'),
      enc('1.5:id'),
      enc('abc:id'),
      enc('1e3:id'),
      enc('0x10:id'),
      enc(' 12:id'),
      enc('012:id'),
      enc('99999999999999999999:id'),
    ]) {
      assert.equal(decodeCursor(s), null, `cursor ${JSON.stringify(s)} (${Buffer.from(s, 'base64url').toString('utf8')})`);
    }
  });

  test('a non-canonical encoding of a valid cursor is refused', () => {
    const good = encodeCursor({ created_at: 5, id: 'a' });
    assert.deepEqual(decodeCursor(good), { created_at: 5, id: 'a' });
    assert.equal(decodeCursor(`${good}=`), null);
    assert.equal(decodeCursor(`${good}!`), null);
    // "+/" are standard base64, not base64url: the same bytes written the other way are refused.
    const slashy = encodeCursor({ created_at: 1, id: '\u00ff\u00ff' });
    const std = Buffer.from(slashy, 'base64url').toString('base64');
    assert.notEqual(std, slashy);
    assert.equal(decodeCursor(std), null);
  });
});
