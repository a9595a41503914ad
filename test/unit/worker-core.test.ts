import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { MAX_QUERY_BACKOFF_MS, lockedMessage, type WorkerEffect } from '../../src/core/worker.ts';
import type { Op } from '../../src/core/types.ts';
import { Harness, PAIR, T, W2, del, only, persists, post, rec, sends, tw, upd, hello } from '../helpers/worker-core.ts';

describe('WorkerCore: hello and state', () => {
  test('hello is answered with the durable identity, prepared transactions and max_cseq', () => {
    const h = new Harness({ node_id: 'node-7', max_cseq: 12 });
    assert.deepEqual(h.msg(hello({ lock_timeout_ms: 3_000 })), [
      { type: 'send', msg: { type: 'state', node_id: 'node-7', prepared: [], max_cseq: 12, known_config: { n: 1, voters: ['w1', 'w2'], catching_up: [] }, proposed_config: null, reserved: 0 } },
    ]);
    assert.equal(h.core.nodeId, 'node-7');
    assert.equal(h.core.appliedCseq, 12);
  });

  test('hello sets the lock timeout the worker enforces', () => {
    const h = new Harness();
    h.msg(hello({ lock_timeout_ms: 500 }));
    h.msg({ type: 'lock', txid: 'x', seq: 1, op: post(tw('a')), config: 1, floor: 0 }, 1_000);
    assert.deepEqual(h.tick(1_499), []);
    assert.deepEqual(persists(h.tick(1_500)), [{ type: 'persist_abort', txid: 'x' }]);
  });

  test('read and install messages are not the core\'s business', () => {
    const h = new Harness();
    // They are not even its type (ToWorkerService): the shell serves them.
    // @ts-expect-error -- a read is not a message the core takes
    assert.deepEqual(h.msg({ type: 'read', rid: 1, query: { kind: 'check' } }), []);
    // @ts-expect-error -- nor is a page of a copy
    assert.deepEqual(h.msg({ type: 'install', rid: 2, rows: [], reset: true, done: true, max_cseq: 3, stream_seq: 0 }), []);
  });
});

describe('WorkerCore: one-shot prepare', () => {
  test('prepare persists the prepared record first; the YES vote comes only after it is durable', () => {
    const h = new Harness();
    const t = tw('t1');
    const e = h.msg(h.prepare('tx1', [post(t)]));
    // #13: the record keeps the cseq it commits with, and its results.
    // (Voted with w2: a sole voter commits in one phase, at its durable record: implicit-commit.test.ts.)
    assert.deepEqual(e, [{ type: 'persist_prepared', txid: 'tx1', ops: [post(t)], peers: [W2], cseq: 1, results: [{ tweet: t }] }], 'no vote before the record is durable');
    assert.equal(h.core.lockCount, 1);
    assert.deepEqual(h.core.preparedTxids(), [], 'not prepared until durable');
    const after = h.durable(e);
    // #13 item 5: a new post's result is said as the tweet its op posted (the record keeps it whole, above).
    assert.deepEqual(sends(after), [{ type: 'vote', txid: 'tx1', yes: true, results: [{ as_posted: true }] }]);
    assert.deepEqual(h.core.preparedTxids(), ['tx1']);
  });

  test('full happy path: prepare, commit, apply, ack; locks released, cseq advanced', () => {
    const h = new Harness();
    const t = tw('t1');
    h.prepared('tx1', [post(t)]);
    const c = h.msg({ type: 'commit', txid: 'tx1', cseq: 5 });
    assert.deepEqual(c, [{ type: 'persist_commit', txid: 'tx1', cseq: 5, ops: [post(t)] }]);
    assert.equal(h.core.lockCount, 1, 'locks are held until the commit is applied');
    assert.equal(h.core.appliedCseq, 5);
    assert.deepEqual(sends(h.durable(c)), [{ type: 'ack', txid: 'tx1', outcome: 'commit' }]);
    assert.equal(h.core.lockCount, 0);
    assert.equal(h.core.txnCount, 0);
    assert.deepEqual(h.store.getTweet('t1'), t);
  });

  test('a commit written but not yet fsynced is reported applied (the client may be answered), then acked once durable', () => {
    const h = new Harness();
    const t = tw('t1');
    h.prepared('tx1', [post(t)]);
    const c = h.msg({ type: 'commit', txid: 'tx1', cseq: 5 });
    h.store.persist(c[0] as WorkerEffect);
    assert.equal(h.core.lockCount, 1, 'the locks are held until the commit is written');
    assert.deepEqual(sends(h.core.handle({ type: 'applied', txid: 'tx1' }, 0)), [{ type: 'applied', txid: 'tx1' }]);
    assert.deepEqual(h.core.handle({ type: 'applied', txid: 'tx1' }, 0), [], 'said once');
    assert.equal(h.core.lockCount, 0, 'written: the next transaction on the key may go ahead');
    assert.deepEqual(h.core.votedHoldersOf('tweet:t1'), []);
    assert.deepEqual(h.core.preparedTxids(), ['tx1'], 'still reported as owed an outcome until durable');
    const next = h.prepared('tx2', [upd('t1', 'edited', 'alice')]);
    assert.deepEqual(next, [{ type: 'vote', txid: 'tx2', yes: true, results: [{ tweet: { ...t, content: 'edited', updated_at: 2_000 } }] }], 'it sees the commit');
    assert.deepEqual(sends(h.core.handle({ type: 'durable', txid: 'tx1', what: 'commit' }, 0)), [{ type: 'ack', txid: 'tx1', outcome: 'commit' }]);
    assert.equal(h.core.lockCount, 1, 'the fsync of tx1 leaves tx2\'s lock alone');
  });

  test('"applied" for anything but a committing transaction says nothing', () => {
    const h = new Harness();
    assert.deepEqual(h.core.handle({ type: 'applied', txid: 'nobody' }, 0), []);
    const e = h.msg(h.prepare('tx1', [post(tw('t1'))]));
    assert.deepEqual(h.core.handle({ type: 'applied', txid: 'tx1' }, 0), [], 'preparing: there is no commit to report');
    h.durable(e);
    assert.deepEqual(h.core.handle({ type: 'applied', txid: 'tx1' }, 0), [], 'prepared: there is no commit to report');
  });

  test('several ops in one transaction are evaluated in order against each other', () => {
    const h = new Harness();
    const t = tw('t1');
    const votes = h.prepared('tx1', [post(t), upd('t1', 'edited', 'alice', 3_000), post(tw('t2'))]);
    const v = only(votes);
    assert.equal(v.type, 'vote');
    if (v.type !== 'vote' || !v.yes || !('results' in v)) return assert.fail('expected YES with its results (w1 is the first voter)');
    // (#13 item 5: a new post's result is said as the tweet its op posted.)
    assert.deepEqual(v.results, [{ as_posted: true }, { tweet: { ...t, content: 'edited', updated_at: 3_000 } }, { as_posted: true }]);
    assert.equal(h.core.lockCount, 2);
  });

  test('post then delete of the same id in one transaction is fine; a later op on it is NOT_FOUND', () => {
    const h = new Harness();
    const ok = only(h.prepared('tx1', [post(tw('t1')), del('t1')]));
    assert.equal(ok.type === 'vote' && ok.yes, true);
    const no = only(h.prepared('tx2', [post(tw('t9')), del('t9'), upd('t9', 'x')]));
    assert.equal(no.type === 'vote' && !no.yes ? no.code : undefined, 'NOT_FOUND');
  });

  test('duplicate prepare while the record is being written is not answered and not persisted twice', () => {
    const h = new Harness();
    const e = h.msg(h.prepare('tx1', [post(tw('t1'))]));
    assert.deepEqual(h.msg(h.prepare('tx1', [post(tw('t1'))])), []);
    const votes = sends(h.durable(e));
    assert.equal(votes.length, 1, 'exactly one vote');
  });

  test('duplicate prepare once prepared is answered YES again, with the same results, never a second persist', () => {
    const h = new Harness();
    const first = only(h.prepared('tx1', [post(tw('t1'))]));
    for (let i = 0; i < 3; i++) {
      const again = h.msg(h.prepare('tx1', [post(tw('t1'))]));
      assert.deepEqual(again, [{ type: 'send', msg: first }]);
    }
    // An interactive-style duplicate (ops null) is answered the same way.
    assert.deepEqual(h.msg(h.prepare('tx1', null)), [{ type: 'send', msg: first }]);
    assert.equal(h.core.lockCount, 1);
  });

  test('a duplicate prepare after commit does not re-prepare: it is refused and nothing is persisted', () => {
    const h = new Harness();
    h.prepared('tx1', [post(tw('t1'))]);
    h.durable(h.msg({ type: 'commit', txid: 'tx1', cseq: 1 }));
    const e = h.msg(h.prepare('tx1', [post(tw('t1'))]));
    assert.deepEqual(persists(e), []);
    const v = only(sends(e));
    assert.equal(v.type === 'vote' && v.yes, false);
    assert.equal(h.core.lockCount, 0);
  });

  test('lock conflict: vote NO LOCKED once its tombstone is durable (#13: a refusal is kept before it is said), no prepared record', () => {
    const h = new Harness();
    h.prepared('tx1', [post(tw('t1'))], 0, PAIR);
    const e = h.msg(h.prepare('tx2', [post(tw('t2')), upd('t1', 'x')]));
    assert.deepEqual(e, [{ type: 'persist_abort', txid: 'tx2' }]);
    assert.equal(h.core.lockCount, 1, 'tx2 took none of its locks (t2 stays free)');
    assert.equal(h.store.prepared.has('tx2'), false);
    assert.deepEqual(sends(h.durable(e)), [
      { type: 'vote', txid: 'tx2', yes: false, code: 'LOCKED', error: 'tweet t1 is locked by another transaction' },
      { type: 'ack', txid: 'tx2', outcome: 'abort' },
    ]);
    // The tombstone refuses a late repeat of the prepare.
    const again = only(sends(h.msg(h.prepare('tx2', [post(tw('t2'))]))));
    assert.equal(again.type === 'vote' && !again.yes ? again.code : undefined, 'TIMEOUT');
  });

  test('NOT_FOUND, EXISTS and FORBIDDEN are NO votes carrying the code (#13: once the tombstone is durable), and release the locks', () => {
    const h = new Harness({}, [tw('mine', 'alice', 'orig')]);
    const cases: [Op, string][] = [
      [upd('ghost', 'x'), 'NOT_FOUND'],
      [del('ghost'), 'NOT_FOUND'],
      [post(tw('mine', 'alice', 'different')), 'EXISTS'],
      [upd('mine', 'x', 'bob'), 'FORBIDDEN'],
      [del('mine', 'bob'), 'FORBIDDEN'],
    ];
    let i = 0;
    for (const [op, code] of cases) {
      const txid = `bad${i++}`;
      const e = h.msg(h.prepare(txid, [post(tw(`side${i}`)), op]));
      assert.deepEqual(persists(e), [{ type: 'persist_abort', txid }]);
      assert.equal(h.core.lockCount, 0, 'locks released at once');
      const v = h.refusalOf(e);
      assert.equal(v.type === 'vote' && !v.yes ? v.code : undefined, code, `${op.kind} → ${code}`);
    }
    assert.equal(h.core.txnCount, 0);
    assert.deepEqual(h.store.getTweet('mine'), tw('mine', 'alice', 'orig'));
  });

  test('idempotent post: same id, author and content is a YES with the stored tweet', () => {
    const stored = tw('t1', 'alice', 'hello', 1_000);
    const h = new Harness({}, [stored]);
    const v = only(h.prepared('tx1', [post({ ...stored, created_at: 99_000 })]));
    assert.deepEqual(v, { type: 'vote', txid: 'tx1', yes: true, results: [{ tweet: stored }] });
  });

  test('the one-shot prepare evaluates against committed data, and a committed update is visible to later transactions', () => {
    const h = new Harness({}, [tw('t1')]);
    h.prepared('tx1', [upd('t1', 'v2', null, 5_000)]);
    h.durable(h.msg({ type: 'commit', txid: 'tx1', cseq: 1 }));
    const v = only(h.prepared('tx2', [upd('t1', 'v3', null, 6_000)]));
    assert.deepEqual(v.type === 'vote' && v.yes && 'results' in v ? v.results : null, [{ tweet: { ...tw('t1'), content: 'v3', updated_at: 6_000 } }]);
  });
});

describe('WorkerCore: commit', () => {
  test('a duplicate commit while applying is ignored; a commit after it is applied is acked again', () => {
    const h = new Harness();
    h.prepared('tx1', [post(tw('t1'))]);
    const c = h.msg({ type: 'commit', txid: 'tx1', cseq: 1 });
    assert.deepEqual(h.msg({ type: 'commit', txid: 'tx1', cseq: 1 }), []);
    assert.equal(sends(h.durable(c)).length, 1);
    assert.deepEqual(h.msg({ type: 'commit', txid: 'tx1', cseq: 1 }), [{ type: 'send', msg: { type: 'ack', txid: 'tx1', outcome: 'commit' } }]);
  });

  test('a committing transaction is still reported as prepared (its outcome is not applied yet)', () => {
    const h = new Harness();
    h.prepared('tx1', [post(tw('t1'))]);
    h.msg({ type: 'commit', txid: 'tx1', cseq: 1 });
    assert.deepEqual(h.core.preparedTxids(), ['tx1']);
  });

  test('commit for an unknown txid is an invariant violation (throws)', () => {
    const h = new Harness();
    assert.throws(() => h.msg({ type: 'commit', txid: 'never', cseq: 1 }), /never prepared/);
  });

  test('commit after the worker aborted (tombstone on disk) throws', () => {
    const h = new Harness();
    h.durable(h.msg({ type: 'abort', txid: 'tx1' }));
    assert.equal(h.store.outcomeOf('tx1'), 'abort');
    assert.throws(() => h.msg({ type: 'commit', txid: 'tx1', cseq: 1 }), /aborted/);
  });

  test('commit while the abort is still being written throws', () => {
    const h = new Harness();
    h.prepared('tx1', [post(tw('t1'))]);
    h.msg({ type: 'abort', txid: 'tx1' });
    assert.throws(() => h.msg({ type: 'commit', txid: 'tx1', cseq: 1 }), /never voted YES|aborting/);
  });

  test('commit of a transaction that only got as far as preparing (no YES yet) throws', () => {
    const h = new Harness();
    h.msg(h.prepare('tx1', [post(tw('t1'))]));
    assert.throws(() => h.msg({ type: 'commit', txid: 'tx1', cseq: 1 }), /never voted YES/);
  });

  test('commit of an interactive transaction that never prepared throws', () => {
    const h = new Harness();
    h.msg({ type: 'lock', txid: 'i1', seq: 1, op: post(tw('t1')), config: 1, floor: 0 });
    assert.throws(() => h.msg({ type: 'commit', txid: 'i1', cseq: 1 }), /never voted YES/);
  });

  test('a durable event for an unknown transaction throws', () => {
    const h = new Harness();
    assert.throws(() => h.core.handle({ type: 'durable', txid: 'zzz', what: 'commit' }, 0));
  });
});

describe('WorkerCore: abort', () => {
  test('abort of a prepared transaction: locks released, tombstone, then ack', () => {
    const h = new Harness();
    h.prepared('tx1', [post(tw('t1'))]);
    const e = h.msg({ type: 'abort', txid: 'tx1' });
    assert.deepEqual(e, [{ type: 'persist_abort', txid: 'tx1' }]);
    assert.equal(h.core.lockCount, 0);
    assert.deepEqual(h.core.preparedTxids(), []);
    assert.deepEqual(sends(h.durable(e)), [{ type: 'ack', txid: 'tx1', outcome: 'abort' }]);
    assert.equal(h.core.txnCount, 0);
    assert.equal(h.store.getTweet('t1'), null);
  });

  test('abort for a never-seen txid writes a tombstone, then acks (empty rollback)', () => {
    const h = new Harness();
    const e = h.msg({ type: 'abort', txid: 'ghost' });
    assert.deepEqual(e, [{ type: 'persist_abort', txid: 'ghost' }], 'no ack before the tombstone is durable');
    assert.deepEqual(sends(h.durable(e)), [{ type: 'ack', txid: 'ghost', outcome: 'abort' }]);
    assert.equal(h.core.txnCount, 0);
    assert.equal(h.core.lockCount, 0);
  });

  test('prepare after abort is refused (the "hanging" case): vote NO, no locks, nothing persisted', () => {
    const h = new Harness();
    h.durable(h.msg({ type: 'abort', txid: 'late' }));
    const e = h.msg(h.prepare('late', [post(tw('t1'))]));
    const v = only(sends(e));
    assert.equal(v.type, 'vote');
    if (v.type !== 'vote' || v.yes) return assert.fail('expected NO');
    assert.equal(v.code, 'TIMEOUT');
    assert.match(v.error, /late/);
    assert.deepEqual(persists(e), []);
    assert.equal(h.core.lockCount, 0);
    assert.equal(h.core.txnCount, 0);
    // A lock for it is refused too.
    const l = only(sends(h.msg({ type: 'lock', txid: 'late', seq: 1, op: post(tw('t1')), config: 1, floor: 0 })));
    assert.equal(l.type === 'lock_refused' ? l.code : undefined, 'TIMEOUT');
    assert.equal(h.core.lockCount, 0);
  });

  test('prepare arriving while the empty-rollback tombstone is being written is never voted YES', () => {
    const h = new Harness();
    const a = h.msg({ type: 'abort', txid: 'x' });
    const p = h.msg(h.prepare('x', [post(tw('t1'))]));
    assert.deepEqual(persists(p), []);
    assert.equal(h.core.lockCount, 0);
    const all = sends([...p, ...h.durable(a)]);
    assert.ok(!all.some((m) => m.type === 'vote' && m.yes), JSON.stringify(all));
  });

  test('abort arriving while the prepared record is being written: no YES vote is ever sent (#13: the repeated prepare gets a NO, once the tombstone is durable)', () => {
    const h = new Harness();
    const p = h.msg(h.prepare('tx1', [post(tw('t1'))]));
    const a = h.msg({ type: 'abort', txid: 'tx1' });
    assert.deepEqual(a, [{ type: 'persist_abort', txid: 'tx1' }]);
    assert.equal(h.core.lockCount, 0);
    // Repeated prepare while both records are in flight: still no YES.
    const dup = h.msg(h.prepare('tx1', [post(tw('t1'))]));
    const after = h.durable([...p, ...a]);
    const all = sends([...dup, ...after]);
    assert.ok(!all.some((m) => m.type === 'vote' && m.yes), `no YES vote: ${JSON.stringify(all)}`);
    assert.deepEqual(all, [
      { type: 'vote', txid: 'tx1', yes: false, code: 'TIMEOUT', error: 'transaction tx1 was already aborted on worker w1' },
      { type: 'ack', txid: 'tx1', outcome: 'abort' },
    ]);
    assert.equal(h.core.txnCount, 0);
    assert.deepEqual(h.core.preparedTxids(), []);
    // And after all that, a prepare is refused.
    const late = only(sends(h.msg(h.prepare('tx1', [post(tw('t1'))]))));
    assert.equal(late.type === 'vote' && late.yes, false);
  });

  test('a duplicate abort while the tombstone is written is not acked twice; one after is acked from the tombstone', () => {
    const h = new Harness();
    h.prepared('tx1', [post(tw('t1'))]);
    const a = h.msg({ type: 'abort', txid: 'tx1' });
    assert.deepEqual(h.msg({ type: 'abort', txid: 'tx1' }), []);
    assert.equal(sends(h.durable(a)).length, 1);
    assert.deepEqual(h.msg({ type: 'abort', txid: 'tx1' }), [{ type: 'send', msg: { type: 'ack', txid: 'tx1', outcome: 'abort' } }]);
  });

  test('abort after the commit arrived throws (copies would diverge), and so does one after it was applied (#13: no presumed abort, so no stale abort)', () => {
    const h = new Harness();
    h.prepared('tx1', [post(tw('t1'))]);
    const c = h.msg({ type: 'commit', txid: 'tx1', cseq: 1 });
    assert.throws(() => h.msg({ type: 'abort', txid: 'tx1' }), /after its commit/);
    h.durable(c);
    // An abort is decided only after a voter's durable refusal, and a refused transaction never
    // gathers every YES: an abort of one committed here is a broken rule, not a late answer.
    assert.throws(() => h.msg({ type: 'abort', txid: 'tx1' }), /which this worker committed/);
    assert.equal(h.core.txnCount, 0);
  });

  test('abort of an active interactive transaction releases its locks', () => {
    const h = new Harness();
    h.msg({ type: 'lock', txid: 'i1', seq: 1, op: post(tw('t1')), config: 1, floor: 0 });
    assert.equal(h.core.lockCount, 1);
    const e = h.msg({ type: 'abort', txid: 'i1' });
    assert.deepEqual(e, [{ type: 'persist_abort', txid: 'i1' }]);
    assert.equal(h.core.lockCount, 0);
    assert.deepEqual(sends(h.durable(e)), [{ type: 'ack', txid: 'i1', outcome: 'abort' }]);
  });
});

describe('WorkerCore: interactive (lock) transactions', () => {
  test('lock takes the lock at once and answers with the op result', () => {
    const h = new Harness();
    const t = tw('t1');
    assert.deepEqual(h.msg({ type: 'lock', txid: 'i1', seq: 1, op: post(t), config: 1, floor: 0 }), [
      { type: 'send', msg: { type: 'locked', txid: 'i1', seq: 1, result: { tweet: t } } },
    ]);
    assert.equal(h.core.lockCount, 1);
  });

  test('a lock conflict gives LOCKED at once, naming the item; the holder is unaffected', () => {
    const h = new Harness({}, [tw('t1')]);
    h.msg({ type: 'lock', txid: 'i1', seq: 1, op: upd('t1', 'a'), config: 1, floor: 0 });
    const e = h.msg({ type: 'lock', txid: 'i2', seq: 1, op: del('t1'), config: 1, floor: 0 });
    assert.deepEqual(e, [
      { type: 'send', msg: { type: 'lock_refused', txid: 'i2', seq: 1, code: 'LOCKED', error: 'tweet t1 is locked by another transaction' } },
    ]);
    // A one-shot prepare on the same item conflicts as well (#13: its NO once the tombstone is durable).
    const v = h.refusalOf(h.msg(h.prepare('o1', [upd('t1', 'b')])));
    assert.equal(v.type === 'vote' && !v.yes ? v.code : undefined, 'LOCKED');
    // And a lock conflicting with a prepared one-shot is refused.
    h.prepared('o2', [post(tw('t2'))]);
    const r = only(sends(h.msg({ type: 'lock', txid: 'i3', seq: 1, op: upd('t2', 'c'), config: 1, floor: 0 })));
    assert.equal(r.type === 'lock_refused' ? r.code : undefined, 'LOCKED');
  });

  test('NOT_FOUND, EXISTS, FORBIDDEN are refusals with those codes', () => {
    const h = new Harness({}, [tw('t1', 'alice', 'orig')]);
    const code = (txid: string, op: Op): string | undefined => {
      const m = only(sends(h.msg({ type: 'lock', txid, seq: 1, op, config: 1, floor: 0 })));
      // The refused op's lock stays with its transaction until the coordinator aborts it.
      assert.equal(h.core.lockCount, 1);
      h.durable(h.msg({ type: 'abort', txid }));
      assert.equal(h.core.lockCount, 0);
      return m.type === 'lock_refused' ? m.code : undefined;
    };
    assert.equal(code('a', upd('nope', 'x')), 'NOT_FOUND');
    assert.equal(code('b', post(tw('t1', 'alice', 'other'))), 'EXISTS');
    assert.equal(code('c', upd('t1', 'x', 'mallory')), 'FORBIDDEN');
    assert.equal(code('d', del('t1', 'mallory')), 'FORBIDDEN');
    assert.equal(code('e', del('nope')), 'NOT_FOUND');
  });

  test('an interactive transaction sees its own staged writes; others and the store do not', () => {
    const h = new Harness();
    const t = tw('t1');
    const r1 = only(sends(h.msg({ type: 'lock', txid: 'i1', seq: 1, op: post(t), config: 1, floor: 0 })));
    assert.equal(r1.type, 'locked');
    const r2 = only(sends(h.msg({ type: 'lock', txid: 'i1', seq: 2, op: upd('t1', 'edited', 'alice', 3_000), config: 1, floor: 0 })));
    assert.deepEqual(r2, { type: 'locked', txid: 'i1', seq: 2, result: { tweet: { ...t, content: 'edited', updated_at: 3_000 } } });
    const r3 = only(sends(h.msg({ type: 'lock', txid: 'i1', seq: 3, op: del('t1'), config: 1, floor: 0 })));
    assert.deepEqual(r3, { type: 'locked', txid: 'i1', seq: 3, result: {} });
    const r4 = only(sends(h.msg({ type: 'lock', txid: 'i1', seq: 4, op: upd('t1', 'again'), config: 1, floor: 0 })));
    assert.equal(r4.type === 'lock_refused' ? r4.code : undefined, 'NOT_FOUND');
    assert.equal(h.store.getTweet('t1'), null, 'nothing is written before commit');
  });

  test('prepare (ops null) persists the staged ops; the YES vote carries every result', () => {
    const h = new Harness();
    const t = tw('t1');
    h.msg({ type: 'lock', txid: 'i1', seq: 1, op: post(t), config: 1, floor: 0 });
    h.msg({ type: 'lock', txid: 'i1', seq: 2, op: upd('t1', 'v2', null, 3_000), config: 1, floor: 0 });
    const e = h.msg(h.prepare('i1', null));
    const results = [{ tweet: t }, { tweet: { ...t, content: 'v2', updated_at: 3_000 } }];
    assert.deepEqual(e, [{ type: 'persist_prepared', txid: 'i1', ops: [post(t), upd('t1', 'v2', null, 3_000)], peers: [W2], cseq: 1, results }], '#13: with its cseq and results');
    assert.deepEqual(sends(h.durable(e)), [
      // (#13 item 5: the post's result as the tweet its op posted.)
      { type: 'vote', txid: 'i1', yes: true, results: [{ as_posted: true }, { tweet: { ...t, content: 'v2', updated_at: 3_000 } }] },
    ]);
    h.durable(h.msg({ type: 'commit', txid: 'i1', cseq: 1 }));
    assert.deepEqual(h.store.getTweet('t1'), { ...t, content: 'v2', updated_at: 3_000 });
  });

  test('refused ops are not staged: prepare persists only the accepted ones', () => {
    const h = new Harness();
    h.msg({ type: 'lock', txid: 'i1', seq: 1, op: post(tw('t1')), config: 1, floor: 0 });
    h.msg({ type: 'lock', txid: 'i1', seq: 2, op: upd('missing', 'x'), config: 1, floor: 0 });
    const e = h.msg(h.prepare('i1', null));
    assert.deepEqual(e, [{ type: 'persist_prepared', txid: 'i1', ops: [post(tw('t1'))], peers: [W2], cseq: 1, results: [{ tweet: tw('t1') }] }], '#13: with its cseq and results');
  });

  test('a duplicate lock message (seq already seen) is not answered again and not staged twice', () => {
    const h = new Harness();
    h.msg({ type: 'lock', txid: 'i1', seq: 1, op: post(tw('t1')), config: 1, floor: 0 });
    assert.deepEqual(h.msg({ type: 'lock', txid: 'i1', seq: 1, op: post(tw('t1')), config: 1, floor: 0 }), []);
    h.msg({ type: 'lock', txid: 'i1', seq: 2, op: post(tw('t2')), config: 1, floor: 0 });
    assert.deepEqual(h.msg({ type: 'lock', txid: 'i1', seq: 1, op: post(tw('t1')), config: 1, floor: 0 }), []);
    const e = h.msg(h.prepare('i1', null));
    assert.deepEqual(e, [{ type: 'persist_prepared', txid: 'i1', ops: [post(tw('t1')), post(tw('t2'))], peers: [W2], cseq: 1, results: [{ tweet: tw('t1') }, { tweet: tw('t2') }] }], '#13: with its cseq and results');
  });

  test('a lock after the transaction started preparing is refused', () => {
    const h = new Harness();
    h.msg({ type: 'lock', txid: 'i1', seq: 1, op: post(tw('t1')), config: 1, floor: 0 });
    h.msg(h.prepare('i1', null));
    const r = only(sends(h.msg({ type: 'lock', txid: 'i1', seq: 2, op: post(tw('t2')), config: 1, floor: 0 })));
    assert.equal(r.type, 'lock_refused');
    assert.equal(h.core.lockCount, 1, 't2 was not locked');
  });

  test('a lock for a committed transaction is refused INVALID', () => {
    const h = new Harness();
    h.prepared('tx1', [post(tw('t1'))]);
    h.durable(h.msg({ type: 'commit', txid: 'tx1', cseq: 1 }));
    const r = only(sends(h.msg({ type: 'lock', txid: 'tx1', seq: 2, op: post(tw('t2')), config: 1, floor: 0 })));
    assert.equal(r.type === 'lock_refused' ? r.code : undefined, 'INVALID');
  });

  test('prepare (ops null) of an interactive transaction the worker no longer holds is a NO vote TIMEOUT (#13: once its tombstone is durable)', () => {
    const h = new Harness();
    const v = h.refusalOf(h.msg(h.prepare('gone', null)));
    assert.equal(v.type, 'vote');
    if (v.type !== 'vote' || v.yes) return assert.fail('expected NO');
    assert.equal(v.code, 'TIMEOUT');
    assert.match(v.error, /gone/);
    assert.match(v.error, /w1/);
    assert.equal(h.core.txnCount, 0);
  });

  test('an unprepared interactive transaction is aborted locally at the lock timeout (not before)', () => {
    const h = new Harness();
    h.msg({ type: 'lock', txid: 'i1', seq: 1, op: post(tw('t1')), config: 1, floor: 0 }, 1_000);
    h.msg({ type: 'lock', txid: 'i1', seq: 2, op: post(tw('t2')), config: 1, floor: 0 }, 5_000);
    assert.deepEqual(h.tick(1_000 + T - 1), [], 'the timeout runs from the first lock');
    const e = h.tick(1_000 + T);
    assert.deepEqual(e, [{ type: 'persist_abort', txid: 'i1' }]);
    assert.equal(h.core.lockCount, 0);
    assert.deepEqual(sends(h.durable(e)), [{ type: 'ack', txid: 'i1', outcome: 'abort' }]);
    // The coordinator's late prepare is refused.
    const v = only(sends(h.msg(h.prepare('i1', null), 1_000 + T + 1)));
    assert.equal(v.type === 'vote' && v.yes, false);
    // Another transaction can now take the items.
    assert.equal(only(sends(h.msg({ type: 'lock', txid: 'i2', seq: 1, op: post(tw('t1')), config: 1, floor: 0 }, 1_000 + T + 2))).type, 'locked');
  });

  test(
    'a lock that races with the local timeout abort is refused TIMEOUT, not "already committing"',
    () => {
      const h = new Harness();
      h.msg({ type: 'lock', txid: 'i1', seq: 1, op: post(tw('t1')), config: 1, floor: 0 }, 0);
      h.tick(T);
      const r = only(sends(h.msg({ type: 'lock', txid: 'i1', seq: 2, op: post(tw('t2')), config: 1, floor: 0 }, T)));
      assert.equal(r.type === 'lock_refused' ? r.code : undefined, 'TIMEOUT');
    },
  );

  test('link_down aborts unprepared interactive transactions locally', () => {
    const h = new Harness();
    h.msg({ type: 'lock', txid: 'i1', seq: 1, op: post(tw('t1')), config: 1, floor: 0 });
    h.msg({ type: 'lock', txid: 'i2', seq: 1, op: post(tw('t2')), config: 1, floor: 0 });
    const e = h.linkDown();
    assert.deepEqual(e.map((x) => x.type), ['persist_abort', 'persist_abort']);
    assert.deepEqual(e.map((x) => (x.type === 'persist_abort' ? x.txid : '')).sort(), ['i1', 'i2']);
    assert.equal(h.core.lockCount, 0);
    h.durable(e);
    assert.equal(h.core.txnCount, 0);
  });

  test('a lock refused as LOCKED still starts the lock-timeout clock and is cleaned up by it', () => {
    const h = new Harness();
    h.prepared('o1', [post(tw('t1'))], 0, PAIR);
    h.msg({ type: 'lock', txid: 'i1', seq: 1, op: upd('t1', 'x'), config: 1, floor: 0 }, 0);
    assert.equal(h.core.txnCount, 2);
    const e = h.tick(T);
    assert.deepEqual(persists(e), [{ type: 'persist_abort', txid: 'i1' }]);
    assert.equal(h.core.lockCount, 1, 'o1 keeps its lock');
  });
});

describe('WorkerCore: a prepared transaction waits for its outcome', () => {
  test('keeps its locks across link_down and past the lock timeout (#13: while another voter has not said it holds a YES)', () => {
    const h = new Harness();
    h.prepared('tx1', [post(tw('t1'))], 0, PAIR);
    assert.deepEqual(h.linkDown(), []);
    assert.deepEqual(persists(h.tick(10 * T)), [], 'a YES voter never decides alone (with another voter not heard from)');
    assert.equal(h.core.lockCount, 1);
    assert.deepEqual(h.core.preparedTxids(), ['tx1']);
    const r = only(sends(h.msg({ type: 'lock', txid: 'i9', seq: 1, op: del('t1'), config: 1, floor: 0 }, 10 * T)));
    assert.equal(r.type === 'lock_refused' ? r.code : undefined, 'LOCKED');
  });

  test('a transaction being prepared survives link_down too, and votes when durable', () => {
    const h = new Harness();
    h.msg({ type: 'lock', txid: 'i1', seq: 1, op: post(tw('t1')), config: 1, floor: 0 });
    const p = h.msg(h.prepare('i1', null));
    assert.deepEqual(h.linkDown(), []);
    assert.equal(only(sends(h.durable(p))).type, 'vote');
    assert.equal(h.core.lockCount, 1);
  });

  test('sends query on tick, first after the lock timeout, then with doubling backoff capped at 5 s (#13: a voter among two; a sole voter commits in one phase)', () => {
    const h = new Harness();
    const t0 = 100_000;
    h.prepared('tx1', [post(tw('t1'))], t0, PAIR);
    const q = [{ type: 'query', txid: 'tx1' }];
    assert.deepEqual(h.tick(t0 + T - 1), []);
    assert.deepEqual(sends(h.tick(t0 + T)), q);
    assert.deepEqual(h.tick(t0 + T + 1), [], 'not on every tick');
    // Backoff: 1 s, 2 s, 4 s, then 5 s (the cap) for ever.
    let at = t0 + T;
    for (const gap of [1_000, 2_000, 4_000, MAX_QUERY_BACKOFF_MS, MAX_QUERY_BACKOFF_MS, MAX_QUERY_BACKOFF_MS]) {
      assert.deepEqual(h.tick(at + gap - 1), [], `no query ${gap - 1} ms after the last`);
      at += gap;
      assert.deepEqual(sends(h.tick(at)), q, `query ${gap} ms after the last`);
    }
    assert.equal(MAX_QUERY_BACKOFF_MS, 5_000);
    assert.equal(h.core.lockCount, 1);
  });

  test('queries stop once the outcome arrives', () => {
    const h = new Harness();
    h.prepared('tx1', [post(tw('t1'))], 0, PAIR);
    assert.equal(sends(h.tick(T)).length, 1);
    h.durable(h.msg({ type: 'commit', txid: 'tx1', cseq: 1 }, T + 1));
    for (let now = T + 2; now < 20 * T; now += 1_000) assert.deepEqual(h.tick(now), []);
  });

  test('a transaction whose commit is being applied does not query', () => {
    const h = new Harness();
    h.prepared('tx1', [post(tw('t1'))], 0);
    h.msg({ type: 'commit', txid: 'tx1', cseq: 1 });
    assert.deepEqual(h.tick(5 * T), []);
  });

  test('hello lists prepared (and committing) transactions, not those still preparing (#13: each with its voters and cseq)', () => {
    const h = new Harness({ max_cseq: 3 });
    h.prepared('a', [post(tw('t1'))]);
    h.prepared('b', [post(tw('t2'))]);
    h.msg(h.prepare('c', [post(tw('t3'))])); // not yet durable: not prepared
    const m = only(sends(h.msg(hello({ lock_timeout_ms: T }))));
    assert.equal(m.type, 'state');
    if (m.type !== 'state') return;
    assert.deepEqual(
      [...m.prepared].sort((x, y) => x.txid.localeCompare(y.txid)),
      [
        { txid: 'a', voters: ['w1', 'w2'], cseq: 4 },
        { txid: 'b', voters: ['w1', 'w2'], cseq: 5 },
      ],
    );
  });
});

describe('WorkerCore: recovery', () => {
  test('prepared transactions come back prepared, with their locks, and ask for their outcome at once', () => {
    const ops = [post(tw('t1')), upd('t0', 'x')];
    const h = new Harness({ node_id: 'w1', max_cseq: 4, prepared: [rec('old', ops)] }, [tw('t0')], 50_000);
    assert.deepEqual(h.core.preparedTxids(), ['old']);
    assert.equal(h.core.lockCount, 2);
    const st = only(sends(h.msg(hello({ lock_timeout_ms: T }), 50_000)));
    // #13: each entry names its voters (itself among them) and its cseq.
    assert.deepEqual(st, { type: 'state', node_id: 'w1', prepared: [{ txid: 'old', voters: ['w1', 'w2'], cseq: 5 }], max_cseq: 4, known_config: { n: 1, voters: ['w1', 'w2'], catching_up: [] }, proposed_config: null, reserved: 0 });
    assert.deepEqual(sends(h.tick(50_000)), [{ type: 'query', txid: 'old' }]);
    // Its items are locked against new work.
    const r = h.refusalOf(h.msg(h.prepare('new', [del('t0')]), 50_001), 50_001);
    assert.equal(r.type === 'vote' && !r.yes ? r.code : undefined, 'LOCKED');
    // It is never aborted by the lock timeout.
    assert.deepEqual(persists(h.tick(50_000 + 5 * T)), []);
  });

  test('a recovered prepared transaction can be committed and applies its ops', () => {
    const ops = [post(tw('t1'))];
    const h = new Harness({ prepared: [rec('old', ops)] });
    const c = h.msg({ type: 'commit', txid: 'old', cseq: 9 });
    assert.deepEqual(c, [{ type: 'persist_commit', txid: 'old', cseq: 9, ops }]);
    assert.deepEqual(sends(h.durable(c)), [{ type: 'ack', txid: 'old', outcome: 'commit' }]);
    assert.deepEqual(h.store.getTweet('t1'), tw('t1'));
    assert.equal(h.core.appliedCseq, 9);
    assert.equal(h.core.lockCount, 0);
  });

  test('a recovered prepared transaction can be aborted (#13: an abort decided because some voter refused it)', () => {
    const h = new Harness({ prepared: [rec('old', [post(tw('t1'))])] });
    const a = h.msg({ type: 'abort', txid: 'old' });
    assert.deepEqual(a, [{ type: 'persist_abort', txid: 'old' }]);
    assert.equal(h.core.lockCount, 0);
    assert.deepEqual(sends(h.durable(a)), [{ type: 'ack', txid: 'old', outcome: 'abort' }]);
  });

  test('two recovered prepared transactions on the same item are an invariant violation', () => {
    assert.throws(
      () => new Harness({ prepared: [rec('a', [post(tw('t1'))]), rec('b', [del('t1')])] }),
      /overlap on tweet:t1/,
    );
  });
});

describe('WorkerCore: installed', () => {
  test('sets the applied cseq when idle', () => {
    const h = new Harness();
    h.core.installed(42);
    assert.equal(h.core.appliedCseq, 42);
    assert.deepEqual(only(sends(h.msg(hello({ lock_timeout_ms: T })))), { type: 'state', node_id: 'w1', prepared: [], max_cseq: 42, known_config: { n: 1, voters: ['w1', 'w2'], catching_up: [] }, proposed_config: null, reserved: 0 });
  });

  test('refuses while transactions are open', () => {
    const h = new Harness();
    h.msg({ type: 'lock', txid: 'i1', seq: 1, op: post(tw('t1')), config: 1, floor: 0 });
    assert.throws(() => h.core.installed(1));
  });
});

describe('lockedMessage', () => {
  test('names the kind and the id, colons and all', () => {
    assert.equal(lockedMessage('tweet:t1'), 'tweet t1 is locked by another transaction');
    assert.equal(lockedMessage('tweet:a:b'), 'tweet a:b is locked by another transaction');
  });
});

describe('WorkerCore: cooperative termination (asking the other voters)', () => {
  const voters = [
    { id: 'w1', address: '10.0.0.1:1' },
    { id: 'w2', address: '10.0.0.2:1' },
    { id: 'w3', address: '10.0.0.3:1' },
  ];
  const peerAsks = (e: WorkerEffect[]): { to: string; address: string; txid: string }[] =>
    e.flatMap((x) => (x.type === 'peer_ask' ? [{ to: x.msg.to, address: x.peer.address, txid: x.msg.txid }] : []));
  const answers = (e: WorkerEffect[]): { route: string; outcome: string; cseq: number; from: string }[] =>
    e.flatMap((x) => (x.type === 'peer_reply' ? [{ route: x.route, outcome: x.msg.outcome, cseq: x.msg.cseq, from: x.msg.from }] : []));
  const query = (h: Harness, txid: string, route = 'r1', to = 'w1', now = 0): WorkerEffect[] =>
    h.core.handle({ type: 'peer_query', route, msg: { type: 'peer_query', txid, to } }, now);
  const answer = (h: Harness, txid: string, from: string, outcome: 'commit' | 'abort' | 'unknown', cseq = 0): WorkerEffect[] =>
    h.core.handle({ type: 'peer_answer', msg: { type: 'peer_answer', txid, from, outcome, cseq } }, 0);
  /** w1 prepared tx1 with w2 and w3 as the other voters. */
  function preparedWithPeers(): Harness {
    const h = new Harness();
    const e = h.msg(h.prepare('tx1', [post(tw('t1'))], voters));
    assert.deepEqual(persists(e), [{ type: 'persist_prepared', txid: 'tx1', ops: [post(tw('t1'))], peers: voters.slice(1), cseq: 1, results: [{ tweet: tw('t1') }] }], 'the other voters are persisted with the record (#13: and its cseq and results)');
    h.durable(e);
    return h;
  }

  test('a prepared worker asks the coordinator and every other voter (not itself), with backoff', () => {
    const h = preparedWithPeers();
    assert.deepEqual(peerAsks(h.tick(T - 1)), []);
    const e = h.tick(T);
    assert.deepEqual(sends(e), [{ type: 'query', txid: 'tx1' }]);
    assert.deepEqual(peerAsks(e), [
      { to: 'w2', address: '10.0.0.2:1', txid: 'tx1' },
      { to: 'w3', address: '10.0.0.3:1', txid: 'tx1' },
    ]);
    assert.deepEqual(peerAsks(h.tick(T + 1)), [], 'not again before the backoff');
  });

  test('a recovered prepared transaction asks the voters it persisted', () => {
    const h = new Harness({ prepared: [rec('old', [post(tw('t1'))], [voters[1]!])] });
    assert.deepEqual(peerAsks(h.tick(0)), [{ to: 'w2', address: '10.0.0.2:1', txid: 'old' }]);
  });

  test('a peer that says commit: the worker commits with that cseq and acks the coordinator (#13: untold, so the outcome keeps its results and the ack carries them)', () => {
    const h = preparedWithPeers();
    const e = answer(h, 'tx1', 'w3', 'commit', 7);
    const results = [{ tweet: tw('t1') }];
    assert.deepEqual(persists(e), [{ type: 'persist_commit', txid: 'tx1', cseq: 7, ops: [post(tw('t1'))], results }]);
    assert.deepEqual(sends(h.durable(e)), [{ type: 'ack', txid: 'tx1', outcome: 'commit', results }]);
    assert.equal(h.core.appliedCseq, 7);
    assert.equal(h.core.lockCount, 0);
    assert.equal(h.core.resolvedByPeers, 1);
    assert.deepEqual(answer(h, 'tx1', 'w2', 'commit', 7), [], 'a second answer changes nothing');
  });

  test('a peer that says abort: the worker aborts, releases its locks and writes a tombstone', () => {
    const h = preparedWithPeers();
    const e = answer(h, 'tx1', 'w2', 'abort');
    assert.deepEqual(persists(e).filter((x) => x.type !== 'log'), [{ type: 'persist_abort', txid: 'tx1' }]);
    assert.equal(h.core.lockCount, 0);
    h.durable(e);
    assert.equal(h.store.outcomeOf('tx1'), 'abort');
  });

  test('"unknown", an answer from a worker that is not a voter, or for a transaction not prepared, change nothing', () => {
    const h = preparedWithPeers();
    assert.deepEqual(answer(h, 'tx1', 'w2', 'unknown'), []);
    assert.deepEqual(answer(h, 'tx1', 'w9', 'abort'), []);
    assert.deepEqual(answer(h, 'nope', 'w2', 'abort'), []);
    assert.deepEqual(h.core.preparedTxids(), ['tx1']);
  });

  test('asked about a transaction it committed: commit, with the cseq', () => {
    const h = new Harness();
    h.prepared('tx1', [post(tw('t1'))]);
    h.durable(h.msg({ type: 'commit', txid: 'tx1', cseq: 5 }));
    assert.deepEqual(answers(query(h, 'tx1')), [{ route: 'r1', outcome: 'commit', cseq: 5, from: 'w1' }]);
  });

  test('asked while the commit is being applied: commit', () => {
    const h = new Harness();
    h.prepared('tx1', [post(tw('t1'))]);
    h.msg({ type: 'commit', txid: 'tx1', cseq: 5 });
    assert.deepEqual(answers(query(h, 'tx1')), [{ route: 'r1', outcome: 'commit', cseq: 5, from: 'w1' }]);
  });

  test('asked about a transaction it aborted: abort', () => {
    const h = new Harness();
    h.prepared('tx1', [post(tw('t1'))]);
    h.durable(h.msg({ type: 'abort', txid: 'tx1' }));
    assert.deepEqual(answers(query(h, 'tx1')), [{ route: 'r1', outcome: 'abort', cseq: 0, from: 'w1' }]);
  });

  test('asked about a transaction it never saw: the tombstone is made durable first, then abort; a late prepare is refused', () => {
    const h = new Harness();
    const e = query(h, 'tx9', 'r7');
    assert.deepEqual(answers(e), [], 'no answer before the promise is durable');
    assert.deepEqual(persists(e), [{ type: 'persist_abort', txid: 'tx9' }]);
    assert.deepEqual(answers(h.durable(e)), [{ route: 'r7', outcome: 'abort', cseq: 0, from: 'w1' }]);
    const late = only(sends(h.msg(h.prepare('tx9', [post(tw('t1'))]))));
    assert.equal(late.type === 'vote' ? late.yes : undefined, false);
  });

  test('asked while its own vote is not given (an interactive transaction still taking locks): it aborts, then answers abort', () => {
    const h = new Harness();
    h.msg({ type: 'lock', txid: 'i1', seq: 1, op: post(tw('t1')), config: 1, floor: 0 });
    const e = query(h, 'i1');
    assert.equal(h.core.lockCount, 0);
    assert.deepEqual(answers(e), []);
    assert.deepEqual(answers(h.durable(e)), [{ route: 'r1', outcome: 'abort', cseq: 0, from: 'w1' }]);
    const v = only(sends(h.msg(h.prepare('i1', null))));
    assert.equal(v.type === 'vote' ? v.yes : undefined, false, 'it never votes YES after saying abort');
  });

  test('asked while its abort is being written: abort once it is durable', () => {
    const h = new Harness();
    h.prepared('tx1', [post(tw('t1'))]);
    const a = h.msg({ type: 'abort', txid: 'tx1' });
    assert.deepEqual(answers(query(h, 'tx1')), []);
    assert.deepEqual(answers(h.durable(a)), [{ route: 'r1', outcome: 'abort', cseq: 0, from: 'w1' }]);
  });

  test('asked while writing its YES: unknown; once it holds a durable YES and knows no outcome: prepared, with its cseq (#13)', () => {
    const h = new Harness();
    const e = h.msg(h.prepare('tx1', [post(tw('t1'))], voters));
    assert.deepEqual(answers(query(h, 'tx1')), [{ route: 'r1', outcome: 'unknown', cseq: 0, from: 'w1' }], 'while preparing');
    h.durable(e);
    assert.deepEqual(answers(query(h, 'tx1')), [{ route: 'r1', outcome: 'prepared', cseq: 1, from: 'w1' }], 'prepared');
    assert.deepEqual(h.core.preparedTxids(), ['tx1']);
  });

  test('a question meant for another identity (a wiped worker at that address) is answered unknown and changes nothing', () => {
    const h = new Harness();
    const e = query(h, 'tx9', 'r1', 'w-old');
    assert.deepEqual(answers(e), [{ route: 'r1', outcome: 'unknown', cseq: 0, from: 'w1' }]);
    assert.deepEqual(persists(e).filter((x) => x.type !== 'peer_reply'), []);
    assert.equal(h.core.txnCount, 0);
  });
});

describe('WorkerCore: votes are numbered per link (#23, simulator seed 827057)', () => {
  test('from 1 after the hello, on in order; a repeated hello changes nothing; a new link starts again at 1; with no link, none is numbered', () => {
    const h = new Harness();
    const unnumbered = sends(h.durable(h.msg(h.prepare('t0', [post(tw('a'))]))));
    assert.deepEqual(unnumbered.map((m) => (m.type === 'vote' ? m.n : 'x')), [undefined], 'no link yet: the shell drops it, and it leaves no gap');
    h.msg(hello());
    const n = (txid: string, ops: Op[]): unknown[] => sends(h.durable(h.msg(h.prepare(txid, ops)))).map((m) => (m.type === 'vote' ? m.n : 'x'));
    assert.deepEqual(n('t1', [post(tw('b'))]), [1]);
    h.msg(hello());
    assert.deepEqual(n('t2', [post(tw('c'))]), [2], 'a repeated hello (duplicated on the way) does not start again');
    h.linkDown();
    h.msg(hello());
    assert.deepEqual(n('t3', [post(tw('d'))]), [1], 'a new link: from 1');
  });
});
