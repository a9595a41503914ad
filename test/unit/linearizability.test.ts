import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { checkOperations, type CheckResult, type Model, type Operation } from '../../src/check/linearizability.ts';
import { checkTweetHistory, tweetModel, type TweetInput, type TweetOperation, type TweetOutput } from '../../src/check/tweet-model.ts';

// ---------------------------------------------------------------------------
// Builders

const OK: TweetOutput = { status: 'ok' };
const UNKNOWN: TweetOutput = { status: 'unknown' };
const seen = (content: string): TweetOutput => ({ status: 'ok', content });
const fail = (code: 'EXISTS' | 'NOT_FOUND' | 'LOCKED' | 'TIMEOUT' | 'UNAVAILABLE' | 'FORBIDDEN'): TweetOutput => ({ status: 'fail', code });

function op(clientId: number, call: number, ret: number, input: TweetInput, output: TweetOutput): TweetOperation {
  return { clientId, input, call, output, return: ret };
}
const post = (id: string, content: string): TweetInput => ({ kind: 'post', id, content });
const update = (id: string, content: string): TweetInput => ({ kind: 'update', id, content });
const del = (id: string): TweetInput => ({ kind: 'delete', id });
const get = (id: string): TweetInput => ({ kind: 'get', id });

function assertOk(r: CheckResult): void {
  assert.deepEqual(r, { ok: true });
}
function assertViolation(r: CheckResult): Extract<CheckResult, { ok: false }> {
  assert.equal(r.ok, false, `expected a violation, got ${JSON.stringify(r)}`);
  if (r.ok !== false) throw new Error('unreachable');
  return r;
}

// A plain integer register, to show the checker is not tied to tweets.
type RegIn = { op: 'write'; value: number } | { op: 'read' };
const register: Model<number, RegIn, number | null> = {
  init: () => 0,
  step: (s, input, output) => (input.op === 'write' ? [true, input.value] : [output === s, s]),
  equal: (a, b) => a === b,
  hash: (s) => String(s),
};

// ---------------------------------------------------------------------------

describe('linearizability checker: generic register', () => {
  test('a sequential history is linearizable', () => {
    const h: Operation<RegIn, number | null>[] = [
      { clientId: 1, input: { op: 'write', value: 1 }, call: 0, output: null, return: 1 },
      { clientId: 2, input: { op: 'read' }, call: 2, output: 1, return: 3 },
      { clientId: 1, input: { op: 'write', value: 2 }, call: 4, output: null, return: 5 },
      { clientId: 2, input: { op: 'read' }, call: 6, output: 2, return: 7 },
    ];
    assertOk(checkOperations(register, h));
  });

  test('a sequential stale read is not, and the report shows the prefix', () => {
    const h: Operation<RegIn, number | null>[] = [
      { clientId: 1, input: { op: 'write', value: 1 }, call: 0, output: null, return: 1 },
      { clientId: 1, input: { op: 'write', value: 2 }, call: 4, output: null, return: 5 },
      { clientId: 2, input: { op: 'read' }, call: 6, output: 1, return: 7 },
    ];
    const r = assertViolation(checkOperations(register, h));
    assert.equal(r.partition, 0);
    assert.equal(r.key, 'partition 0');
    assert.match(r.explanation, /Longest linearizable prefix: 2 of 3 ops/);
    assert.match(r.explanation, /State after it: 2/);
    assert.match(r.explanation, /"op":"read"\} -> 1: illegal in this state/);
  });

  test('an unknown-outcome op need not be linearized at all', () => {
    // Nothing could have made this read legal, but it may never have happened.
    const h: Operation<RegIn, number | null>[] = [
      { clientId: 1, input: { op: 'write', value: 1 }, call: 0, output: null, return: 1 },
      { clientId: 2, input: { op: 'read' }, call: 2, output: 42, return: Infinity },
      { clientId: 1, input: { op: 'read' }, call: 4, output: 1, return: 5 },
    ];
    assertOk(checkOperations(register, h));
  });

  test('an empty history is linearizable', () => {
    assertOk(checkOperations(register, []));
  });

  test('a malformed interval is refused', () => {
    assert.throws(() => checkOperations(register, [{ clientId: 1, input: { op: 'read' }, call: 5, output: 0, return: 4 }]), RangeError);
  });
});

describe('linearizability checker: tweet histories', () => {
  test('a sequential post/update/get/delete history is linearizable', () => {
    assertOk(
      checkTweetHistory([
        op(1, 0, 1, get('t'), fail('NOT_FOUND')),
        op(1, 2, 3, post('t', 'a'), OK),
        op(2, 4, 5, get('t'), seen('a')),
        op(1, 6, 7, update('t', 'b'), seen('b')),
        op(2, 8, 9, get('t'), seen('b')),
        op(1, 10, 11, del('t'), OK),
        op(2, 12, 13, update('t', 'c'), fail('NOT_FOUND')),
        op(2, 14, 15, get('t'), fail('NOT_FOUND')),
      ]),
    );
  });

  test('overlapping updates are linearizable when the reads fix one order', () => {
    // Only "c then b" explains both reads.
    assertOk(
      checkTweetHistory([
        op(1, 0, 1, post('t', 'a'), OK),
        op(2, 10, 30, update('t', 'b'), OK),
        op(3, 10, 30, update('t', 'c'), OK),
        op(4, 15, 20, get('t'), seen('c')),
        op(4, 40, 50, get('t'), seen('b')),
      ]),
    );
  });

  test('overlapping updates are not linearizable when the reads need both orders', () => {
    const r = assertViolation(
      checkTweetHistory([
        op(1, 0, 1, post('t', 'a'), OK),
        op(2, 10, 30, update('t', 'b'), OK),
        op(3, 10, 30, update('t', 'c'), OK),
        op(4, 12, 14, get('t'), seen('c')),
        op(4, 15, 20, get('t'), seen('b')),
        op(4, 40, 50, get('t'), seen('c')),
      ]),
    );
    assert.equal(r.key, 'tweet "t"');
  });

  test('a stale read after a completed update is not linearizable', () => {
    const r = assertViolation(
      checkTweetHistory([
        op(1, 0, 10, post('t', 'a'), OK),
        op(1, 20, 30, update('t', 'b'), OK),
        op(2, 40, 50, get('t'), seen('a')),
      ]),
    );
    assert.match(r.explanation, /tweet "t" \(partition 0, 3 ops\) is not linearizable/);
    assert.match(r.explanation, /Longest linearizable prefix: 2 of 3 ops/);
    assert.match(r.explanation, /1\. client 1 \[0, 10\] post "a" -> ok/);
    assert.match(r.explanation, /2\. client 1 \[20, 30\] update "b" -> ok/);
    assert.match(r.explanation, /State after it: "b"/);
    assert.match(r.explanation, /past the return of: client 2 \[40, 50\] get -> ok "a"/);
  });

  test('a read of a value before the write producing it was called is not linearizable', () => {
    assertViolation(
      checkTweetHistory([
        op(1, 0, 10, post('t', 'a'), OK),
        op(2, 20, 30, get('t'), seen('b')),
        op(1, 40, 50, update('t', 'b'), OK),
      ]),
    );
  });

  test('a read concurrent with the write may see either value', () => {
    const base = [op(1, 0, 10, post('t', 'a'), OK), op(1, 20, 40, update('t', 'b'), OK)];
    assertOk(checkTweetHistory([...base, op(2, 30, 50, get('t'), seen('a'))]));
    assertOk(checkTweetHistory([...base, op(2, 30, 50, get('t'), seen('b'))]));
  });

  test('a lost acknowledged write is not linearizable', () => {
    assertViolation(checkTweetHistory([op(1, 0, 10, post('t', 'a'), OK), op(2, 20, 30, get('t'), fail('NOT_FOUND'))]));
    assertViolation(checkTweetHistory([op(1, 0, 10, post('t', 'a'), OK), op(1, 20, 30, update('t', 'b'), OK), op(2, 40, 50, get('t'), seen('a'))]));
    assertViolation(checkTweetHistory([op(1, 0, 10, post('t', 'a'), OK), op(1, 20, 30, del('t'), OK), op(2, 40, 50, get('t'), seen('a'))]));
  });

  test('an unknown-outcome op that took effect is linearizable', () => {
    assertOk(
      checkTweetHistory([
        op(1, 0, 10, post('t', 'a'), OK),
        op(1, 20, Infinity, update('t', 'b'), UNKNOWN),
        op(2, 30, 35, get('t'), seen('a')), // not yet...
        op(2, 40, 50, get('t'), seen('b')), // ...then it did, long after its call
      ]),
    );
    assertOk(checkTweetHistory([op(1, 0, Infinity, post('t', 'a'), UNKNOWN), op(2, 20, 30, get('t'), seen('a'))]));
  });

  test('an unknown-outcome op that never took effect is linearizable', () => {
    assertOk(
      checkTweetHistory([
        op(1, 0, 10, post('t', 'a'), OK),
        op(1, 20, Infinity, update('t', 'b'), UNKNOWN),
        op(2, 40, 50, get('t'), seen('a')),
        op(2, 60, 70, get('t'), seen('a')),
      ]),
    );
    assertOk(checkTweetHistory([op(1, 0, Infinity, post('t', 'a'), UNKNOWN), op(2, 20, 30, get('t'), fail('NOT_FOUND'))]));
  });

  test('an unknown-outcome op takes effect at most once and cannot be undone', () => {
    const r = assertViolation(
      checkTweetHistory([
        op(1, 0, 10, post('t', 'a'), OK),
        op(1, 20, Infinity, update('t', 'b'), UNKNOWN),
        op(2, 30, 35, get('t'), seen('b')),
        op(2, 40, 50, get('t'), seen('a')),
      ]),
    );
    assert.match(r.explanation, /1 with unknown outcome/);
    assert.match(r.explanation, /\[20, unknown outcome\] update "b" -> \? \(unknown\)/);
  });

  test('the report prefers a prefix of known outcomes and lists what could not come next', () => {
    const r = assertViolation(
      checkTweetHistory([
        op(1, 0, 10, post('t', 'a'), OK),
        op(2, 5, 15, update('t', 'b'), seen('b')),
        op(3, 12, Infinity, del('t'), UNKNOWN),
        op(4, 20, 30, get('t'), seen('a')),
      ]),
    );
    assert.equal(
      r.explanation,
      [
        'tweet "t" (partition 0, 4 ops, 1 with unknown outcome) is not linearizable.',
        'Longest linearizable prefix: 2 of 4 ops',
        '  1. client 1 [0, 10] post "a" -> ok',
        '  2. client 2 [5, 15] update "b" -> ok "b"',
        'State after it: "b"',
        'It cannot be extended past the return of: client 4 [20, 30] get -> ok "a"',
        'Ops that could have come next, and why each fails:',
        '  - client 3 [12, unknown outcome] delete -> ? (unknown): legal here, but every continuation after it fails',
        '  - client 4 [20, 30] get -> ok "a": illegal in this state',
      ].join('\n'),
    );
  });

  test('an unknown-outcome op cannot take effect before it was called', () => {
    assertViolation(
      checkTweetHistory([
        op(1, 0, 10, post('t', 'a'), OK),
        op(2, 20, 30, get('t'), seen('b')),
        op(1, 40, Infinity, update('t', 'b'), UNKNOWN),
      ]),
    );
  });

  test('idempotent post retries are linearizable', () => {
    assertOk(
      checkTweetHistory([
        op(1, 0, Infinity, post('t', 'a'), UNKNOWN), // connection dropped...
        op(1, 20, 30, post('t', 'a'), OK), // ...so the client retried
        op(1, 40, 50, post('t', 'a'), OK),
        op(2, 60, 70, get('t'), seen('a')),
      ]),
    );
    assertOk(checkTweetHistory([op(1, 0, 10, post('t', 'a'), OK), op(2, 5, 15, post('t', 'a'), OK), op(3, 5, 15, post('t', 'b'), fail('EXISTS'))]));
  });

  test('two different posts to one id cannot both succeed', () => {
    assertViolation(checkTweetHistory([op(1, 0, 10, post('t', 'a'), OK), op(2, 0, 10, post('t', 'b'), OK)]));
    assertViolation(checkTweetHistory([op(1, 0, 10, post('t', 'b'), fail('EXISTS'))]));
  });

  test('LOCKED, TIMEOUT and UNAVAILABLE failures constrain nothing', () => {
    assertOk(
      checkTweetHistory([
        op(1, 0, 10, update('t', 'z'), fail('LOCKED')), // would be NOT_FOUND if it had run
        op(1, 20, 30, post('t', 'a'), OK),
        op(2, 25, 35, del('t'), fail('TIMEOUT')),
        op(2, 40, 50, get('t'), fail('UNAVAILABLE')),
        op(3, 60, 70, get('t'), seen('a')),
      ]),
    );
  });

  test('each tweet id is checked on its own, and a violation names its id', () => {
    const r = assertViolation(
      checkTweetHistory([
        op(1, 0, 10, post('t1', 'a'), OK),
        op(2, 0, 10, post('t2', 'x'), OK),
        op(1, 20, 30, get('t1'), seen('a')),
        op(2, 20, 30, update('t2', 'y'), OK),
        op(3, 40, 50, get('t2'), seen('x')),
      ]),
    );
    assert.equal(r.partition, 1);
    assert.equal(r.key, 'tweet "t2"');
  });
});

describe('tweet model rules', () => {
  const step = (s: string | null, i: TweetInput, o: TweetOutput): [boolean, string | null] => tweetModel.step(s, i, o);
  test('post', () => {
    assert.deepEqual(step(null, post('t', 'a'), OK), [true, 'a']);
    assert.deepEqual(step(null, post('t', 'a'), seen('a')), [true, 'a']);
    assert.deepEqual(step('a', post('t', 'a'), OK), [true, 'a']);
    assert.deepEqual(step('b', post('t', 'a'), fail('EXISTS')), [true, 'b']);
    assert.equal(step('b', post('t', 'a'), OK)[0], false);
    assert.equal(step(null, post('t', 'a'), fail('EXISTS'))[0], false);
  });
  test('update, delete and get', () => {
    assert.deepEqual(step('a', update('t', 'b'), OK), [true, 'b']);
    assert.equal(step('a', update('t', 'b'), seen('c'))[0], false);
    assert.deepEqual(step(null, update('t', 'b'), fail('NOT_FOUND')), [true, null]);
    assert.deepEqual(step('a', del('t'), OK), [true, null]);
    assert.deepEqual(step(null, del('t'), fail('NOT_FOUND')), [true, null]);
    assert.deepEqual(step('a', get('t'), seen('a')), [true, 'a']);
    assert.equal(step('a', get('t'), OK)[0], false, 'a get must say what it saw');
    assert.deepEqual(step(null, get('t'), fail('NOT_FOUND')), [true, null]);
    assert.equal(step('a', get('t'), fail('NOT_FOUND'))[0], false);
  });
  test('unknown outcomes apply whatever the op would do; FORBIDDEN implies the tweet exists', () => {
    assert.deepEqual(step(null, post('t', 'a'), UNKNOWN), [true, 'a']);
    assert.deepEqual(step('b', post('t', 'a'), UNKNOWN), [true, 'b']);
    assert.deepEqual(step(null, del('t'), UNKNOWN), [true, null]);
    assert.deepEqual(step('a', update('t', 'b'), fail('FORBIDDEN')), [true, 'a']);
    assert.equal(step(null, update('t', 'b'), fail('FORBIDDEN'))[0], false);
  });
});

describe('search bounds', () => {
  // 18 concurrent updates and a read of a value nobody wrote: with no linearization to find,
  // the search must visit every (subset, last writer) pair, about 18 * 2^17 of them.
  function pathological(): TweetOperation[] {
    const h: TweetOperation[] = [op(0, 0, 1, post('t', 'start'), OK)];
    for (let i = 0; i < 18; i++) h.push(op(i + 1, 10, 100, update('t', `v${i}`), OK));
    h.push(op(99, 10, 100, get('t'), seen('nobody wrote this')));
    return h;
  }

  test('maxSteps yields unknown rather than hanging', () => {
    const r = checkTweetHistory(pathological(), { maxSteps: 20_000 });
    assert.equal(r.ok, 'unknown');
    if (r.ok === 'unknown') assert.match(r.reason, /tweet "t" \(20 ops\): maxSteps \(20000\) reached/);
  });

  test('timeoutMs yields unknown rather than hanging', () => {
    const started = Date.now();
    const r = checkTweetHistory(pathological(), { timeoutMs: 150, maxSteps: Infinity });
    assert.equal(r.ok, 'unknown');
    if (r.ok === 'unknown') assert.match(r.reason, /timed out/);
    assert.ok(Date.now() - started < 2_000, 'returned soon after the deadline');
  });

  test('memoization keeps a violation among many concurrent writes cheap to prove', () => {
    // 10 concurrent updates: 10! orders, but only about 10 * 2^9 distinct (subset, state) pairs.
    const h = pathological().filter((o) => o.input.kind !== 'update' || Number(contentOf(o.input)?.slice(1)) < 10);
    assert.equal(h.length, 12);
    assertViolation(checkTweetHistory(h, { maxSteps: 200_000 }));
  });

  test('a violation in another partition is still found after one is cut short', () => {
    const h = [...pathological(), op(1, 0, 10, post('u', 'a'), OK), op(2, 20, 30, get('u'), fail('NOT_FOUND'))];
    const r = assertViolation(checkTweetHistory(h, { maxSteps: 20_000 }));
    assert.equal(r.key, 'tweet "u"');
  });
});

// ---------------------------------------------------------------------------
// Property tests: histories from a real sequential execution, stretched into overlapping
// intervals around each op's instant. Linearizable by construction.

type Fate = 'done' | 'unknown-applied' | 'unknown-lost' | 'locked';
interface Spec {
  kind: TweetInput['kind'];
  id: string;
  retry: boolean;
  before: number;
  after: number;
  client: number;
  fate: Fate;
}

const specArb: fc.Arbitrary<Spec> = fc.record({
  kind: fc.constantFrom<TweetInput['kind']>('post', 'post', 'update', 'delete', 'get', 'get', 'get'),
  id: fc.constantFrom('a', 'b', 'c'),
  retry: fc.boolean(),
  before: fc.integer({ min: 0, max: 60 }),
  after: fc.integer({ min: 0, max: 60 }),
  client: fc.integer({ min: 0, max: 5 }),
  fate: fc.constantFrom<Fate>('done', 'done', 'done', 'done', 'done', 'unknown-applied', 'unknown-lost', 'locked'),
});

/** A deliberately separate implementation of the rules: the store the history is drawn from. */
function execute(store: Map<string, string>, input: TweetInput): TweetOutput {
  const cur = store.get(input.id);
  switch (input.kind) {
    case 'post':
      if (cur === undefined) store.set(input.id, input.content);
      return cur === undefined || cur === input.content ? OK : fail('EXISTS');
    case 'update':
      if (cur === undefined) return fail('NOT_FOUND');
      store.set(input.id, input.content);
      return seen(input.content);
    case 'delete':
      return store.delete(input.id) ? OK : fail('NOT_FOUND');
    case 'get':
      return cur === undefined ? fail('NOT_FOUND') : seen(cur);
  }
}

function generate(specs: Spec[]): TweetOperation[] {
  const store = new Map<string, string>();
  return specs.map((s, i) => {
    const at = i * 10 + 5; // the op's instant in the sequential execution
    // A retried post repeats the current content (idempotent); other writes write unique values.
    const content = s.kind === 'post' && s.retry ? (store.get(s.id) ?? `v${i}`) : `v${i}`;
    const input: TweetInput = s.kind === 'post' || s.kind === 'update' ? { kind: s.kind, id: s.id, content } : { kind: s.kind, id: s.id };
    const call = at - s.before;
    switch (s.fate) {
      case 'done':
        return op(s.client, call, at + s.after, input, execute(store, input));
      case 'unknown-applied':
        execute(store, input);
        return op(s.client, call, Infinity, input, UNKNOWN);
      case 'unknown-lost':
        return op(s.client, call, Infinity, input, UNKNOWN);
      case 'locked':
        return op(s.client, call, at + s.after, input, fail('LOCKED'));
    }
  });
}

const historyArb = fc.array(specArb, { minLength: 1, maxLength: 60, size: 'max' }).map(generate);

function contentOf(input: TweetInput): string | undefined {
  return input.kind === 'post' || input.kind === 'update' ? input.content : undefined;
}

describe('property: generated histories', () => {
  test('histories drawn from a sequential execution are linearizable', () => {
    fc.assert(
      fc.property(historyArb, (h) => {
        const r = checkTweetHistory(h);
        assert.deepEqual(r, { ok: true }, JSON.stringify(r));
      }),
      { numRuns: 300 },
    );
  });

  test('corrupting one completed read makes the history non-linearizable', () => {
    fc.assert(
      fc.property(historyArb, fc.nat(), fc.boolean(), (h, pick, fromFuture) => {
        const reads = h.map((o, i) => ({ o, i })).filter(({ o }) => o.input.kind === 'get' && o.return !== Infinity);
        fc.pre(reads.length > 0);
        const target = reads[pick % reads.length];
        if (target === undefined) return;
        const read = target.o;
        // Either a value nobody wrote, or one written only by a single write called after this
        // read returned: both are impossible for the read to see.
        let bad = 'never written';
        if (fromFuture) {
          const future = h.find((w) => {
            const c = contentOf(w.input);
            return c !== undefined && w.input.id === read.input.id && w.call > read.return && h.filter((x) => contentOf(x.input) === c).length === 1;
          });
          const c = future === undefined ? undefined : contentOf(future.input);
          if (c !== undefined) bad = c;
        }
        const corrupted = h.map((o, i) => (i === target.i ? { ...o, output: seen(bad) } : o));
        const r = checkTweetHistory(corrupted);
        assert.equal(r.ok, false, `corrupted read ${JSON.stringify(read)} -> ${bad}: ${JSON.stringify(r)}`);
        if (r.ok === false) assert.equal(r.key, `tweet ${JSON.stringify(read.input.id)}`);
      }),
      { numRuns: 300 },
    );
  });
});
