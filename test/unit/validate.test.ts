import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import {
  parseAddress,
  validateRequest,
} from '../../src/wire/validate.ts';
import { encodeCursor } from '../../src/core/render.ts';
import { CORE_LIMITS as LIMITS } from '../../src/wire/limits.ts';
import type { ClientRequest } from '../../src/core/types.ts';
import { CONTENT_MAX_CODE_POINTS, GET_TWEETS_DEFAULT_LIMIT, GET_TWEETS_MAX_LIMIT, ID_MAX_CHARS, USERNAME_MAX_CHARS } from '../../src/wire/limits.ts';

function ok(body: Record<string, unknown>): ClientRequest {
  const v = validateRequest(body);
  assert.equal(v.ok, true, `expected ${JSON.stringify(body).slice(0, 200)} to be valid, got ${v.ok ? '' : v.error}`);
  if (!v.ok) throw new Error('unreachable');
  return v.request;
}

function bad(body: Record<string, unknown>, pattern?: RegExp): string {
  const v = validateRequest(body);
  assert.equal(v.ok, false, `expected ${JSON.stringify(body).slice(0, 200)} to be refused`);
  if (v.ok) throw new Error('unreachable');
  if (pattern !== undefined) assert.match(v.error, pattern);
  return v.error;
}

describe('validateRequest: action', () => {
  test('missing or non-string action names the field and the choices', () => {
    bad({}, /field "action" is missing.*post.*get_tweets/);
    bad({ action: 5 }, /"action"/);
    bad({ action: null }, /"action"/);
  });

  test('unknown action is refused and quoted', () => {
    bad({ action: 'drop_table' }, /unknown action "drop_table"/);
  });

  test('a very long unknown action is truncated in the message', () => {
    const e = bad({ action: 'x'.repeat(10_000) });
    assert.ok(e.length < 400, `message is ${e.length} characters`);
  });

  test('simple actions accept only action and req', () => {
    for (const action of ['begin', 'commit', 'abort', 'status', 'check'] as const) {
      assert.deepEqual(ok({ action }), { action });
      assert.deepEqual(ok({ action, req: 7 }), { action });
      bad({ action, extra: 1 }, /unknown field "extra"/);
    }
  });
});

describe('validateRequest: post', () => {
  test("the seed's post, without id", () => {
    assert.deepEqual(ok({ action: 'post', tweet: { username: 'alice', content: 'Hello, world!' } }), {
      action: 'post',
      tweet: { id: null, username: 'alice', content: 'Hello, world!' },
    });
  });

  test('with a string id, a numeric id (made a string), or id null', () => {
    assert.deepEqual(ok({ action: 'post', req: 'r1', tweet: { id: 'abc', username: 'a', content: 'c' } }), {
      action: 'post',
      tweet: { id: 'abc', username: 'a', content: 'c' },
    });
    const r = ok({ action: 'post', tweet: { id: 42, username: 'a', content: 'c' } });
    assert.equal(r.action === 'post' ? r.tweet.id : undefined, '42');
    const z = ok({ action: 'post', tweet: { id: null, username: 'a', content: 'c' } });
    assert.equal(z.action === 'post' ? z.tweet.id : undefined, null);
  });

  test('tweet must be an object', () => {
    for (const tweet of [undefined, null, 'x', 3, ['a']]) bad({ action: 'post', tweet }, /field "tweet" must be an object/);
  });

  test('unknown fields are refused, at top level and inside tweet (a misspelt username must not pass)', () => {
    bad({ action: 'post', tweet: { username: 'a', content: 'c' }, extra: true }, /unknown field "extra"/);
    bad({ action: 'post', tweet: { usrname: 'a', username: 'a', content: 'c' } }, /unknown field "tweet.usrname"/);
  });

  test('username is required, 1..64 characters, no control characters, no surrounding spaces', () => {
    const base = { content: 'c' };
    bad({ action: 'post', tweet: { ...base } }, /tweet.username/);
    bad({ action: 'post', tweet: { ...base, username: '' } }, /tweet.username/);
    bad({ action: 'post', tweet: { ...base, username: 5 } }, /tweet.username/);
    bad({ action: 'post', tweet: { ...base, username: ' alice' } }, /tweet.username/);
    bad({ action: 'post', tweet: { ...base, username: 'alice ' } }, /tweet.username/);
    bad({ action: 'post', tweet: { ...base, username: 'al\nice' } }, /tweet.username/);
    bad({ action: 'post', tweet: { ...base, username: 'al\u007fice' } }, /tweet.username/);
    bad({ action: 'post', tweet: { ...base, username: 'x'.repeat(USERNAME_MAX_CHARS + 1) } }, /tweet.username/);
    ok({ action: 'post', tweet: { ...base, username: 'x'.repeat(USERNAME_MAX_CHARS) } });
    ok({ action: 'post', tweet: { ...base, username: 'al ice' } });
  });

  test('content: 1..280 code points, not blank; emoji count as one', () => {
    const base = { username: 'a' };
    bad({ action: 'post', tweet: { ...base } }, /tweet.content/);
    bad({ action: 'post', tweet: { ...base, content: 7 } }, /tweet.content/);
    bad({ action: 'post', tweet: { ...base, content: '' } }, /tweet.content/);
    bad({ action: 'post', tweet: { ...base, content: ' \n\t ' } }, /not blank/);
    bad({ action: 'post', tweet: { ...base, content: 'x'.repeat(CONTENT_MAX_CODE_POINTS + 1) } }, /it has 281/);
    ok({ action: 'post', tweet: { ...base, content: 'x'.repeat(CONTENT_MAX_CODE_POINTS) } });
    const birds = '🐦'.repeat(CONTENT_MAX_CODE_POINTS);
    assert.equal(birds.length, 2 * CONTENT_MAX_CODE_POINTS);
    ok({ action: 'post', tweet: { ...base, content: birds } });
    bad({ action: 'post', tweet: { ...base, content: `${birds}🐦` } });
    ok({ action: 'post', tweet: { ...base, content: 'line one\nline two' } });
  });

  test('id: 1..128 characters, no control characters; numbers only when whole and non-negative', () => {
    const base = { username: 'a', content: 'c' };
    bad({ action: 'post', tweet: { ...base, id: '' } }, /tweet.id/);
    bad({ action: 'post', tweet: { ...base, id: 'x'.repeat(ID_MAX_CHARS + 1) } }, /tweet.id/);
    bad({ action: 'post', tweet: { ...base, id: 'a\u0000b' } }, /tweet.id/);
    bad({ action: 'post', tweet: { ...base, id: -1 } }, /tweet.id/);
    bad({ action: 'post', tweet: { ...base, id: 1.5 } }, /tweet.id/);
    bad({ action: 'post', tweet: { ...base, id: true } }, /tweet.id/);
    bad({ action: 'post', tweet: { ...base, id: {} } }, /tweet.id/);
    ok({ action: 'post', tweet: { ...base, id: 'x'.repeat(ID_MAX_CHARS) } });
    ok({ action: 'post', tweet: { ...base, id: 0 } });
  });
});

describe('validateRequest: update and delete', () => {
  test('update needs id and content; username optional (null when absent)', () => {
    assert.deepEqual(ok({ action: 'update', tweet: { id: 't1', content: 'new' } }), {
      action: 'update',
      tweet: { id: 't1', content: 'new', username: null },
    });
    assert.deepEqual(ok({ action: 'update', tweet: { id: 't1', content: 'new', username: 'bob' } }), {
      action: 'update',
      tweet: { id: 't1', content: 'new', username: 'bob' },
    });
    bad({ action: 'update', tweet: { content: 'new' } }, /tweet.id/);
    bad({ action: 'update', tweet: { id: 't1' } }, /tweet.content/);
    bad({ action: 'update', tweet: { id: 't1', content: 'x', username: ' bob' } }, /tweet.username/);
    bad({ action: 'update', tweet: { id: 't1', content: 'x', created_at: 1 } }, /unknown field "tweet.created_at"/);
  });

  test('delete needs id, takes an optional username, and nothing else', () => {
    assert.deepEqual(ok({ action: 'delete', tweet: { id: 't1' } }), { action: 'delete', tweet: { id: 't1', username: null } });
    assert.deepEqual(ok({ action: 'delete', tweet: { id: 't1', username: 'a' } }), { action: 'delete', tweet: { id: 't1', username: 'a' } });
    bad({ action: 'delete', tweet: {} }, /tweet.id/);
    bad({ action: 'delete', tweet: { id: 't1', content: 'x' } }, /unknown field "tweet.content"/);
  });
});

describe('validateRequest: reads', () => {
  test('get_tweets defaults', () => {
    assert.deepEqual(ok({ action: 'get_tweets' }), { action: 'get_tweets', limit: GET_TWEETS_DEFAULT_LIMIT, before: null, username: null });
    assert.equal(GET_TWEETS_DEFAULT_LIMIT, 100);
  });

  test('get_tweets limit 1..1000, whole numbers', () => {
    ok({ action: 'get_tweets', limit: 1 });
    ok({ action: 'get_tweets', limit: GET_TWEETS_MAX_LIMIT });
    assert.equal(GET_TWEETS_MAX_LIMIT, 1000);
    for (const limit of [0, -1, 1001, 1.5, '10', null, Number.NaN]) bad({ action: 'get_tweets', limit }, /field "limit"/);
  });

  test('get_tweets before: a cursor from an earlier reply, or null', () => {
    const c = encodeCursor({ created_at: 123, id: 'abc' });
    assert.deepEqual(ok({ action: 'get_tweets', before: c }), {
      action: 'get_tweets',
      limit: 100,
      before: { created_at: 123, id: 'abc' },
      username: null,
    });
    const n = ok({ action: 'get_tweets', before: null });
    assert.equal(n.action === 'get_tweets' ? n.before : undefined, null);
    for (const before of ['', 'garbage!', 5, {}]) bad({ action: 'get_tweets', before }, /field "before"/);
  });

  test('get_tweets username filter is validated like a username', () => {
    const r = ok({ action: 'get_tweets', username: 'alice' });
    assert.equal(r.action === 'get_tweets' ? r.username : undefined, 'alice');
    bad({ action: 'get_tweets', username: '' }, /username/);
    bad({ action: 'get_tweets', usernam: 'alice' }, /unknown field "usernam"/);
  });

  test('get_tweet needs tweet.id and nothing else', () => {
    assert.deepEqual(ok({ action: 'get_tweet', tweet: { id: 't1' } }), { action: 'get_tweet', id: 't1' });
    assert.deepEqual(ok({ action: 'get_tweet', tweet: { id: 9 } }), { action: 'get_tweet', id: '9' });
    bad({ action: 'get_tweet' }, /field "tweet" must be an object/);
    bad({ action: 'get_tweet', tweet: {} }, /tweet.id/);
    bad({ action: 'get_tweet', tweet: { id: 't1', username: 'a' } }, /unknown field "tweet.username"/);
  });
});

describe('validateRequest: transaction', () => {
  test('a list of writes, each parsed like the single action', () => {
    assert.deepEqual(
      ok({
        action: 'transaction',
        ops: [
          { action: 'post', tweet: { id: 'a', username: 'u', content: 'c' } },
          { action: 'update', tweet: { id: 'b', content: 'd' } },
          { action: 'delete', tweet: { id: 'c' } },
        ],
      }),
      {
        action: 'transaction',
        ops: [
          { action: 'post', tweet: { id: 'a', username: 'u', content: 'c' } },
          { action: 'update', tweet: { id: 'b', content: 'd', username: null } },
          { action: 'delete', tweet: { id: 'c', username: null } },
        ],
      },
    );
  });

  test('ops must be a non-empty list within the limit', () => {
    const op = { action: 'delete', tweet: { id: 'x' } };
    bad({ action: 'transaction' }, /field "ops"/);
    bad({ action: 'transaction', ops: [] }, /field "ops"/);
    bad({ action: 'transaction', ops: op }, /field "ops"/);
    bad({ action: 'transaction', ops: Array.from({ length: LIMITS.opsPerTransaction + 1 }, () => op) }, /field "ops"/);
    ok({ action: 'transaction', ops: Array.from({ length: LIMITS.opsPerTransaction }, () => op) });
  });

  test('errors inside ops name the index', () => {
    bad({ action: 'transaction', ops: [{ action: 'delete', tweet: { id: 'x' } }, 'nope'] }, /ops\[1\]/);
    bad({ action: 'transaction', ops: [{ action: 'get_tweets' }] }, /ops\[0\].action/);
    bad({ action: 'transaction', ops: [{ action: 'begin' }] }, /ops\[0\].action/);
    bad({ action: 'transaction', ops: [{ action: 'post', tweet: { username: 'u' } }] }, /ops\[0\].tweet.content/);
    bad({ action: 'transaction', ops: [{ action: 'delete', tweet: { id: 'x' }, req: 1 }] }, /unknown field "ops\[0\].req"/);
  });
});

describe('validateRequest: register', () => {
  const known = { cluster: null, epoch: 0, config: { n: 0, voters: [], catching_up: [] }, proposed: null, max_cseq: 0, reserved: 0, fresh: true };
  test('a worker id and HOST:PORT address, and what it holds of a cluster (#23)', () => {
    assert.deepEqual(ok({ action: 'register', worker: { id: 'w-1_a.b', address: '127.0.0.1:8572' }, known }), {
      action: 'register',
      worker: { id: 'w-1_a.b', address: '127.0.0.1:8572' },
      known,
    });
    ok({ action: 'register', worker: { id: 'w1', address: '[::1]:8572' }, known });
    const member = { cluster: 'c-9a', epoch: 7, config: { n: 4, voters: ['w1', 'w2'], catching_up: ['w2'] }, proposed: { n: 5, voters: ['w1', 'w2', 'w3'], catching_up: ['w2', 'w3'] }, max_cseq: 120, reserved: 100_000, fresh: false };
    assert.deepEqual(ok({ action: 'register', worker: { id: 'w1', address: 'h:1' }, known: member }), { action: 'register', worker: { id: 'w1', address: 'h:1' }, known: member });
  });

  test('bad ids and addresses are refused', () => {
    for (const id of ['', 'has space', 'a/b', 'x'.repeat(65), 5]) bad({ action: 'register', worker: { id, address: 'h:1' }, known }, /worker.id/);
    for (const address of ['nohost', ':80', 'h:0', 'h:65536', 'h:', 'h:abc', 'h:1.5', 7]) {
      bad({ action: 'register', worker: { id: 'w', address }, known }, /worker.address/);
    }
    bad({ action: 'register', worker: { id: 'w', address: 'h:1', extra: 1 }, known }, /unknown field "worker.extra"/);
    bad({ action: 'register' }, /field "worker" must be an object/);
  });

  test('what it holds of a cluster must be said, and well formed (#23)', () => {
    const w = { id: 'w', address: 'h:1' };
    bad({ action: 'register', worker: w }, /field "known" is missing/);
    bad({ action: 'register', worker: w, known: { ...known, cluster: 'has space' } }, /known.cluster/);
    bad({ action: 'register', worker: w, known: { ...known, epoch: -1 } }, /known.epoch/);
    bad({ action: 'register', worker: w, known: { ...known, fresh: 'yes' } }, /known.fresh/);
    bad({ action: 'register', worker: w, known: { ...known, config: { n: 1, voters: ['a'], catching_up: ['b'] } } }, /catching_up/);
    bad({ action: 'register', worker: w, known: { ...known, extra: 1 } }, /unknown field "known.extra"/);
  });
});

describe('parseAddress', () => {
  test('host and port, IPv6 in brackets', () => {
    assert.deepEqual(parseAddress('localhost:8571'), { host: 'localhost', port: 8571 });
    assert.deepEqual(parseAddress('[::1]:1'), { host: '::1', port: 1 });
    assert.deepEqual(parseAddress('h:65535'), { host: 'h', port: 65535 });
    assert.equal(parseAddress('h:65536'), null);
    assert.equal(parseAddress('h'), null);
    assert.equal(parseAddress('[]:80'), null);
  });

  test(
    'the port must be written in decimal digits',
    () => {
      for (const a of ['h:0x50', 'h:1e3', 'h: 80', 'h:80.0', 'h:+80']) assert.equal(parseAddress(a), null, a);
    },
  );
});

describe('validateRequest: well-formed Unicode and nesting depth (attacks)', () => {
  const LONE = ['\ud800', '\udbff', '\udc00', 'a\ud800b', '\udfff\ud800'];

  test('attack: lone surrogates as tweet ids ("\\ud800", "\\udbff") are INVALID, naming the field', () => {
    // Today's main accepts both; SQLite stores them as the same replacement bytes, and a copy diverges.
    for (const id of LONE) {
      bad({ action: 'post', tweet: { id, username: 'u', content: 'c' } }, /field "tweet\.id" holds a lone surrogate/);
      bad({ action: 'update', tweet: { id, content: 'c' } }, /"tweet\.id" holds a lone surrogate/);
      bad({ action: 'delete', tweet: { id } }, /"tweet\.id" holds a lone surrogate/);
      bad({ action: 'get_tweet', tweet: { id } }, /"tweet\.id" holds a lone surrogate/);
    }
  });

  test('attack: lone surrogates in usernames and content are INVALID', () => {
    for (const s of LONE) {
      bad({ action: 'post', tweet: { username: s, content: 'c' } }, /"tweet\.username" holds a lone surrogate/);
      bad({ action: 'post', tweet: { username: 'u', content: s } }, /"tweet\.content" holds a lone surrogate/);
      bad({ action: 'get_tweets', username: s }, /"username" holds a lone surrogate/);
      bad({ action: 'transaction', ops: [{ action: 'post', tweet: { username: 'u', content: s } }] }, /"ops\[0\]\.tweet\.content" holds a lone surrogate/);
    }
  });

  test('attack: lone surrogates in item keys, item values (strings and field names at any depth) and req are INVALID', () => {
    bad({ action: 'put_item', item: { kind: 'user', key: '\ud800', value: {} } }, /"item\.key" holds a lone surrogate/);
    bad({ action: 'get_item', item: { kind: 'user', key: '\udbff' } }, /"item\.key" holds a lone surrogate/);
    bad({ action: 'put_item', item: { kind: 'user', key: 'k', value: { a: { b: ['x', '\ud800'] } } } }, /"item\.value\.a\.b\[1\]" holds a lone surrogate/);
    bad({ action: 'put_item', item: { kind: 'user', key: 'k', value: { ['\udc00']: 1 } } }, /a field name in "item\.value" holds a lone surrogate/);
    bad({ action: 'status', req: '\ud800' }, /"req" holds a lone surrogate/);
    bad({ action: 'status', req: [{ x: ['\udbff'] }] }, /"req\[0\]\.x\[0\]" holds a lone surrogate/);
    bad({ action: 'status', req: { ['\ud800']: 1 } }, /a field name in "req" holds a lone surrogate/);
    bad({ action: 'status', ['\ud800']: 1 }, /a field name in "\(request\)" holds a lone surrogate/);
  });

  test('the message shows the lone unit escaped and says what well-formed means', () => {
    const e = bad({ action: 'post', tweet: { id: 'ab\udbff', username: 'u', content: 'c' } });
    assert.match(e, /\\udbff at character 2/);
    assert.match(e, /well-formed Unicode/);
  });

  test('surrogate pairs (emoji, CJK extension B) are fine everywhere', () => {
    ok({ action: 'post', req: ['😀'], tweet: { id: '😀', username: '𠀀', content: '🐦 hi' } });
    ok({ action: 'put_item', item: { kind: 'user', key: '😀', value: { '😀': ['𠀀'] } } });
  });

  test('req and item values may nest 30 levels; past 32 levels in all they are INVALID', () => {
    const deep = (n: number): unknown => (n === 0 ? 1 : [deep(n - 1)]);
    ok({ action: 'status', req: deep(30) });
    bad({ action: 'status', req: deep(40) }, /"req(\[0\])+" nests objects and arrays more than 32 levels deep/);
    ok({ action: 'put_item', item: { kind: 'user', key: 'k', value: { v: deep(28) } } });
    bad({ action: 'put_item', item: { kind: 'user', key: 'k', value: { v: deep(40) } } }, /nests objects and arrays more than 32 levels deep/);
  });
});
