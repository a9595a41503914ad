// #13, one transition a test (etcd raft style): implicit commit (committed exactly when every
// voter holds a durable YES; the commit goes out at the last YES, its record is written in the
// background), the cseq that goes out with the prepare (from a durable reservation), abort by
// prevention, no presumed abort, orphans learnt from a worker's state, one-phase commit for a
// single voter, a relinked member resolving until it has the outcome, voters that settle alone,
// and the node messages that carry all this. Both cores driven by hand.

import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import type { CoordinatorEffect } from '../../src/core/coordinator.ts';
import { renderTweet } from '../../src/core/render.ts';
import { probeHits, resetProbes, type ProbeName } from '../../src/core/probes.ts';
import type { FromWorker, Op, Tweet } from '../../src/core/types.ts';
import type { WorkerEffect } from '../../src/core/worker.ts';
import { parseFromWorker, parsePeerAnswer, parseToWorker } from '../../src/wire/node-messages.ts';
import { Co, T, ack, addr, field, no, ofType, only, postReq, prepareOf, preparedTxn, replies, sent, sentTo, tweetOf, yes } from '../helpers/coordinator-core.ts';
import { Harness, PAIR, SOLO, W2, del, named, persists, post, rec, sends, tw, upd, hello } from '../helpers/worker-core.ts';

/** Runs `fn` and says whether it hit the probe (the branch it marks was taken). */
function hits(name: ProbeName, fn: () => void): boolean {
  resetProbes();
  fn();
  return (probeHits().get(name) ?? 0) > 0;
}

// ---------------------------------------------------------------------------
// The coordinator

/** Up workers, and a post sent to prepare on each of them. */
function posted(ids = ['w1', 'w2'], id = 't1'): { co: Co; txid: string; tweet: Tweet; cseq: number; effects: CoordinatorEffect[] } {
  const co = new Co();
  for (const w of ids) co.addWorker(w);
  const effects = co.req(7, 1, postReq(id));
  const p = prepareOf(effects, ids[0] as string);
  return { co, txid: p.txid, tweet: tweetOf((p.ops ?? [])[0] as Op), cseq: p.cseq, effects };
}

/**
 * A post to w1 and w2: w1 said YES; w2 went down before its YES arrived (the transaction is being
 * prevented), and relinked, its state listing the transaction prepared. `relinked`: the effects of that state.
 */
function relinkedPrepared(): ReturnType<typeof posted> & { down: CoordinatorEffect[]; relinked: CoordinatorEffect[] } {
  const p = posted(['w1', 'w2']);
  p.co.from('w1', yes(p.txid, [{ tweet: p.tweet }]));
  const down = p.co.linkDown('w2');
  p.co.linkUp('w2');
  return { ...p, down, relinked: p.co.state('w2', 0, [preparedTxn(p.txid, ['w1', 'w2'], p.cseq)]) };
}

const byWorker = (effects: CoordinatorEffect[]): string[] => sent(effects).map((s) => `${s.worker}:${s.msg.type}`).sort();
const inDoubt = (co: Co): [string, string, string[]][] => co.status().in_doubt.map((d) => [d.txid, d.state, [...d.waiting_for].sort()]);

describe('coordinator: implicit commit', () => {
  test('the last YES → commit to every voter at once and log_commit emitted; OK once both applied, with no event waited for', () => {
    const { co, txid, tweet, cseq } = posted();
    assert.deepEqual(co.from('w1', yes(txid, [{ tweet }])), [], 'one YES is not every YES');
    const last = co.from('w2', yes(txid, [{ tweet }]));
    assert.deepEqual(ofType(last, 'log_commit'), [{ type: 'log_commit', txid, cseq, voters: ['w1', 'w2'], at: co.now }]);
    assert.deepEqual(byWorker(last), ['w1:commit', 'w2:commit']);
    assert.ok(sent(last).every((s) => s.msg.type === 'commit' && s.msg.cseq === cseq), 'with the cseq of its prepare');
    assert.deepEqual(replies(co.from('w1', { type: 'applied', txid })), []);
    assert.deepEqual(replies(co.from('w2', { type: 'applied', txid })), [{ conn: 7, slot: 1, reply: { status: 'OK', tweet: renderTweet(tweet) } }]);
  });

  test('the cseq goes out with the prepare, the same to every voter, and strictly grows from one prepare to the next (aborted ones included)', () => {
    const co = new Co();
    co.addWorker('w1');
    co.addWorker('w2');
    const cseqs: number[] = [];
    for (let i = 0; i < 4; i++) {
      const e = co.req(7, i, postReq(`t${i}`));
      const p1 = prepareOf(e, 'w1');
      assert.equal(prepareOf(e, 'w2').cseq, p1.cseq);
      cseqs.push(p1.cseq);
      // Every other one is refused: its cseq is never committed, and never given out again.
      if (i % 2 === 0) co.from('w1', no(p1.txid, 'LOCKED', 'x'));
    }
    assert.deepEqual(cseqs, [1, 2, 3, 4]);
    assert.equal(co.status().counters.last_cseq, 4);
  });

  test('without a durable reservation: a one-shot write is answered at once, ABORT UNAVAILABLE saying it is reserving; after cseq_reserved the next write prepares with cseq 1', () => {
    const co = new Co({}, 100, {}, { reserve: false });
    co.addWorker('w1');
    co.core.start(co.now);
    const e = co.req(7, 1, postReq('t1'));
    assert.deepEqual(sent(e), [], 'it reached no worker: no prepare, and nothing to abort');
    const r = only(replies(e));
    assert.equal(r.reply.status, 'ABORT');
    assert.equal(field(r.reply, 'code'), 'UNAVAILABLE');
    assert.match(String(field(r.reply, 'error')), /reserving commit sequence numbers/);
    co.ev({ type: 'cseq_reserved', through: 100_000 });
    assert.equal(prepareOf(co.req(7, 2, postReq('t2')), 'w1').cseq, 1);
  });

  test('without a durable reservation: an interactive transaction (it holds locks) is aborted: abort to its voters, ABORT UNAVAILABLE once acked', () => {
    const co = new Co({}, 100, {}, { reserve: false });
    co.addWorker('w1');
    co.core.start(co.now);
    const txid = String(field(only(replies(co.req(9, 0, { action: 'begin' }))).reply, 'txid'));
    co.req(9, 1, postReq('t1'));
    co.from('w1', { type: 'locked', txid, seq: 1, result: {} });
    const e = co.req(9, 2, { action: 'commit' });
    assert.deepEqual(sent(e), [{ worker: 'w1', msg: { type: 'abort', txid } }], 'no prepare: its locks are released');
    assert.deepEqual(replies(e), []);
    const r = only(replies(co.from('w1', ack(txid, 'abort'))));
    assert.deepEqual([r.slot, r.reply.status, field(r.reply, 'code')], [2, 'ABORT', 'UNAVAILABLE']);
    assert.match(String(field(r.reply, 'error')), /reserving commit sequence numbers/);
  });

  test('the reservation is renewed at half way, once, and a write waits for it only when every reserved cseq is given out', () => {
    // A worker's max_cseq raises the last cseq (none is given out twice): 50,001 of 100,000 reserved are used.
    const co = new Co();
    co.addWorker('w1', 50_001);
    const first = co.req(7, 1, postReq('t1'));
    assert.deepEqual(ofType(first, 'reserve_cseq'), [{ type: 'reserve_cseq', through: 150_001 }], 'renewed at half way: 100,000 past the last given out');
    assert.equal(prepareOf(first, 'w1').cseq, 50_002, 'while it is written, cseqs still reserved go out');
    assert.deepEqual(ofType(co.req(7, 2, postReq('t2')), 'reserve_cseq'), [], 'asked once');
    co.ev({ type: 'cseq_reserved', through: 150_001 });

    const spent = new Co();
    spent.addWorker('w1', 100_000);
    const e = spent.req(7, 1, postReq('t1'));
    assert.deepEqual(ofType(e, 'reserve_cseq'), [{ type: 'reserve_cseq', through: 200_000 }]);
    assert.deepEqual(sentTo(e, 'w1').filter((m) => m.type === 'prepare'), [], 'none is left: no prepare');
    spent.ev({ type: 'cseq_reserved', through: 200_000 });
    assert.equal(prepareOf(spent.req(7, 2, postReq('t2')), 'w1').cseq, 100_001);
  });

  test('an ack commit (with results) from a voter while preparing: its voters committed it → commit decided, client OK with those results', () => {
    const { co, txid, tweet, cseq } = posted();
    const settled = { ...tweet, content: 'as the voters computed it' };
    let e: CoordinatorEffect[] = [];
    assert.ok(hits('coord.commit_learnt_from_voter', () => (e = co.from('w1', { type: 'ack', txid, outcome: 'commit', results: [{ tweet: settled }] }))));
    assert.deepEqual(ofType(e, 'log_commit').map((l) => l.cseq), [cseq]);
    assert.deepEqual(sentTo(e, 'w2'), [{ type: 'commit', txid, cseq }], 'the other voter is told');
    assert.deepEqual(sentTo(e, 'w1'), [{ type: 'commit', txid, cseq }]);
    assert.deepEqual(replies(co.from('w2', { type: 'applied', txid })), [{ conn: 7, slot: 1, reply: { status: 'OK', tweet: renderTweet(settled) } }], 'w1 has applied it already (its ack)');
  });
});

describe('coordinator: abort by prevention', () => {
  test('a voter link down while preparing → prevent to every linked voter without a YES; status shows it preventing', () => {
    const { co, txid, tweet } = posted(['w1', 'w2', 'w3']);
    co.from('w1', yes(txid, [{ tweet }]));
    let e: CoordinatorEffect[] = [];
    assert.ok(hits('coord.prevent_started', () => (e = co.linkDown('w3'))));
    assert.deepEqual(sent(e), [{ worker: 'w2', msg: { type: 'prevent', txid } }], 'not w1 (it holds a YES), not w3 (down)');
    assert.deepEqual(replies(e), [], 'no abort before a durable refusal');
    assert.deepEqual(inDoubt(co), [[txid, 'preventing', ['w2']]]);
  });

  test('an ack abort while preventing is a durable refusal → abort decided: abort to every linked voter, client ABORT once acked', () => {
    const { co, txid, tweet } = posted(['w1', 'w2', 'w3']);
    co.from('w1', yes(txid, [{ tweet }]));
    co.linkDown('w3');
    let e: CoordinatorEffect[] = [];
    assert.ok(hits('coord.refusal_ack', () => (e = co.from('w2', ack(txid, 'abort')))));
    assert.deepEqual(byWorker(e), ['w1:abort', 'w2:abort']);
    assert.deepEqual(ofType(e, 'log_commit'), []);
    co.from('w1', ack(txid, 'abort'));
    const r = only(replies(co.from('w2', ack(txid, 'abort'))));
    assert.equal(r.reply.status, 'ABORT');
    assert.equal(field(r.reply, 'code'), 'UNAVAILABLE');
    assert.match(String(field(r.reply, 'error')), /worker w3 .*went down/);
  });

  test('a NO answering prevent is a durable refusal too → abort', () => {
    const { co, txid } = posted(['w1', 'w2']);
    co.linkDown('w2');
    assert.deepEqual(byWorker(co.from('w1', no(txid, 'TIMEOUT', 'already aborted'))), ['w1:abort']);
  });

  test('a YES answering prevent counts as a YES: with a voter still missing it stays preventing (no commit, no abort)', () => {
    const { co, txid, tweet } = posted(['w1', 'w2']);
    co.linkDown('w2');
    const e = co.from('w1', { type: 'vote', txid, yes: true, results: [{ tweet }], ops: [{ kind: 'post', tweet }] });
    assert.deepEqual(e, []);
    assert.deepEqual(inDoubt(co), [[txid, 'preventing', ['w2']]], 'waits for w2, the voter without a YES');
  });

  test('the missing voter relinks (its state) → prevent sent to it → its YES is the last → commit; the client, told IN_DOUBT when it went, hears nothing more', () => {
    const { co, txid, tweet, cseq, down, relinked } = relinkedPrepared();
    assert.deepEqual(replies(down).map((r) => field(r.reply, 'code')), ['IN_DOUBT'], 'nobody was left to ask');
    assert.deepEqual(sentTo(relinked, 'w2'), [{ type: 'prevent', txid }]);
    let e: CoordinatorEffect[] = [];
    assert.ok(hits('coord.prevent_found_every_yes', () => (e = co.from('w2', { type: 'vote', txid, yes: true, results: [{ tweet }], ops: [{ kind: 'post', tweet }] }))));
    assert.deepEqual(byWorker(e), ['w1:commit', 'w2:commit']);
    assert.deepEqual(ofType(e, 'log_commit').map((l) => l.cseq), [cseq]);
    assert.deepEqual(replies(co.from('w1', { type: 'applied', txid })), []);
    assert.deepEqual(replies(co.from('w2', { type: 'applied', txid })), [], 'answered once, when it went in doubt');
    assert.equal(co.status().counters.commits, 1);
  });

  test('nobody left to ask (w1 holds a YES, w2 went down) → at once, not at the lock timeout, the client gets ERROR IN_DOUBT naming the missing voter; status lists it; relinked, it is asked and the transaction settles', () => {
    const { co, txid, tweet } = posted(['w1', 'w2']);
    const t0 = co.now;
    co.from('w1', yes(txid, [{ tweet }]));
    let e: CoordinatorEffect[] = [];
    assert.ok(hits('coord.in_doubt_reply', () => (e = co.linkDown('w2'))));
    assert.deepEqual(sent(e), [], 'w1 holds a YES, w2 is down: no one to ask');
    const r = only(replies(e));
    assert.deepEqual([r.conn, r.slot, r.reply.status, field(r.reply, 'code')], [7, 1, 'ERROR', 'IN_DOUBT']);
    assert.match(String(field(r.reply, 'error')), new RegExp(`w2 \\(${addr('w2').replace(/\./g, '\\.')}\\) could not be asked`));
    assert.doesNotMatch(String(field(r.reply, 'error')), /w1/);
    assert.ok(ofType(e, 'log').some((l) => l.level === 'warn' && /in doubt: waiting for w2/.test(l.msg)), 'said in the log');
    assert.deepEqual(inDoubt(co), [[txid, 'preventing', ['w2']]]);
    assert.equal(replies(co.tick(t0 + T)).length + replies(co.tick(t0 + 2 * T)).length, 0, 'the client hears it once');
    // w2 comes back; it never saw the prepare (its state lists nothing): it is asked, and refuses durably.
    co.linkUp('w2');
    assert.deepEqual(sentTo(co.state('w2', 0), 'w2'), [{ type: 'prevent', txid }]);
    assert.deepEqual(byWorker(co.from('w2', ack(txid, 'abort'))), ['w1:abort', 'w2:abort']);
    co.from('w1', ack(txid, 'abort'));
    assert.deepEqual(replies(co.from('w2', ack(txid, 'abort'))), [], 'its client was answered already');
    assert.deepEqual(co.status().in_doubt, []);
    assert.equal(co.status().counters.open_transactions, 0);
  });
});

describe('coordinator: queries (no presumed abort)', () => {
  test('a query about an undecided txid gets no answer, whether in flight or unknown', () => {
    const { co, txid, tweet } = posted();
    co.from('w1', yes(txid, [{ tweet }]));
    assert.ok(hits('coord.query_not_decided', () => assert.deepEqual(co.from('w1', { type: 'query', txid }), [])));
    assert.deepEqual(co.from('w1', { type: 'query', txid: '0.42' }), []);
  });

  test('a query about a kept decision gets commit, with its cseq', () => {
    const { co, txid, tweet, cseq } = posted();
    co.from('w1', yes(txid, [{ tweet }]));
    co.from('w2', yes(txid, [{ tweet }]));
    co.from('w1', ack(txid, 'commit'));
    assert.deepEqual(sent(co.from('w2', { type: 'query', txid })), [{ worker: 'w2', msg: { type: 'commit', txid, cseq } }]);
  });
});

describe('coordinator: orphans (prepared transactions a restart lost)', () => {
  /** A restarted coordinator (epoch 2) whose voters w1 and w2 are remembered and not yet linked. */
  const restarted = (): Co => new Co({ epoch: 2, last_cseq: 4, members: [{ id: 'w1', address: addr('w1') }, { id: 'w2', address: addr('w2') }] });
  const tweet = tw('o1');
  const ops: Op[] = [post(tweet)];
  const orphan = preparedTxn('1.9', ['w1', 'w2'], 7);
  const yesWithOps = (txid: string): FromWorker => ({ type: 'vote', txid, yes: true, results: [{ tweet }], ops });

  test('a state listing an unknown prepared transaction → an orphan: prevent to its linked voters; last_cseq raised to its cseq', () => {
    const co = restarted();
    co.linkUp('w1');
    let s: CoordinatorEffect[] = [];
    assert.ok(hits('coord.orphan_adopted', () => (s = co.state('w1', 4, [orphan]))));
    assert.deepEqual(sent(s), [{ worker: 'w1', msg: { type: 'prevent', txid: '1.9' } }], 'w2 is not linked');
    assert.equal(co.status().counters.last_cseq, 7, 'a cseq a voter holds is never given out again');
    assert.deepEqual(inDoubt(co), [['1.9', 'preventing', ['w1']]]);
    co.linkUp('w2');
    assert.deepEqual(sentTo(co.state('w2', 4, [orphan]), 'w2'), [{ type: 'prevent', txid: '1.9' }]);
  });

  test('YES with the ops from every voter → committed with those ops and its own cseq', () => {
    const co = restarted();
    co.linkUp('w1');
    co.state('w1', 4, [orphan]);
    co.linkUp('w2');
    co.state('w2', 4, [orphan]);
    assert.deepEqual(co.from('w1', yesWithOps('1.9')), []);
    const e = co.from('w2', yesWithOps('1.9'));
    assert.deepEqual(ofType(e, 'log_commit'), [{ type: 'log_commit', txid: '1.9', cseq: 7, voters: ['w1', 'w2'], at: co.now }]);
    assert.deepEqual(byWorker(e), ['w1:commit', 'w2:commit']);
    // w1 has the outcome (its ack): it serves reads again (DECISIONS 65); w2 is still applying it.
    co.from('w1', ack('1.9', 'commit'));
    // #23 (simulator seed 801431): an orphan's commit may be old (a later write may have gone over its
    // rows), so it is not laid over reads: a read of what it wrote goes to a voter that applied it.
    for (let slot = 1; slot <= 3; slot++) {
      const read = only(sent(co.req(9, slot, { action: 'get_tweets', limit: 5, before: null, username: null })));
      if (read.msg.type !== 'read') return assert.fail('expected a read');
      assert.equal(read.worker, 'w1', 'never w2, which has not applied it yet');
      const r = only(replies(co.from(read.worker, { type: 'read_result', rid: read.msg.rid, result: { tweets: [renderTweet(tweet)] } }))).reply;
      assert.deepEqual(field(r, 'tweets'), [renderTweet(tweet)], 'as w1 has it');
    }
  });

  test('one durable refusal → aborted: abort to its linked voters', () => {
    const co = restarted();
    co.linkUp('w1');
    co.state('w1', 4, [orphan]);
    co.linkUp('w2');
    co.state('w2', 4, []);
    co.from('w1', yesWithOps('1.9'));
    assert.deepEqual(byWorker(co.from('w2', ack('1.9', 'abort'))), ['w1:abort', 'w2:abort']);
    co.from('w1', ack('1.9', 'abort'));
    co.from('w2', ack('1.9', 'abort'));
    assert.deepEqual(co.status().in_doubt, []);
  });

  test('a record from before implicit commit (cseq 0) listed in a state is adopted with a fresh cseq, asked to prevent, and commits with that cseq', () => {
    const co = restarted();
    co.linkUp('w1');
    let s: CoordinatorEffect[] = [];
    assert.ok(hits('coord.orphan_adopted', () => (s = co.state('w1', 4, [preparedTxn('1.8', ['w1'], 0)]))));
    assert.deepEqual(sentTo(s, 'w1'), [{ type: 'prevent', txid: '1.8' }]);
    assert.equal(co.status().counters.last_cseq, 5, 'the next cseq after the last given out');
    // Its only voter holds a YES: committed, and (an orphan: its voter is owed the outcome) told, with the fresh cseq.
    const e = co.from('w1', yesWithOps('1.8'));
    assert.deepEqual(ofType(e, 'log_commit').map((l) => [l.txid, l.cseq]), [['1.8', 5]]);
    assert.deepEqual(sentTo(e, 'w1'), [{ type: 'commit', txid: '1.8', cseq: 5 }]);
  });

  test('a copy to a joining worker waits while an orphan is unsettled or being applied, and starts once every voter has it (it is never streamed: DECISIONS 71)', () => {
    const co = restarted();
    co.linkUp('w1');
    co.state('w1', 4, [orphan]);
    co.linkUp('w2');
    co.state('w2', 4, [orphan]);
    co.register('w3');
    co.linkUp('w3');
    const joined = co.state('w3', 0);
    assert.deepEqual(sent(joined).filter((s) => s.msg.type === 'copy_read'), [], 'no copy: the orphan\'s commit could not be streamed to it');
    co.from('w1', yesWithOps('1.9'));
    const settled = co.from('w2', yesWithOps('1.9'));
    assert.deepEqual(sent(settled).filter((s) => s.msg.type === 'copy_read'), [], 'settled, and no donor yet: w1 and w2 serve nothing until the outcome reaches them (DECISIONS 65)');
    assert.deepEqual(sent(co.from('w1', ack('1.9', 'commit'))).filter((s) => s.msg.type === 'copy_read'), [], 'w2 is still applying it: a copy begun now would stream it');
    const copy = sent(co.from('w2', ack('1.9', 'commit'))).filter((s) => s.msg.type === 'copy_read');
    assert.equal(copy.length, 1, 'both have it: the copy starts');
  });
});

describe('coordinator: one-phase commit (a single voter, DECISIONS 66)', () => {
  test('the only voter\'s YES → committed and finished at once: client OK with its results; no commit sent, no log_commit, no decision kept', () => {
    const { co, txid, tweet, cseq } = posted(['w1']);
    assert.equal(cseq, 1, 'its cseq went out with the prepare, as any');
    const e = co.from('w1', yes(txid, [{ tweet }]));
    assert.deepEqual(replies(e), [{ conn: 7, slot: 1, reply: { status: 'OK', tweet: renderTweet(tweet) } }]);
    assert.deepEqual(sent(e), [], 'nothing to tell its voter: it commits at its own durable YES');
    assert.deepEqual(ofType(e, 'log_commit'), []);
    const st = co.status();
    assert.deepEqual([st.counters.commits, st.counters.open_transactions, st.in_doubt], [1, 0, []]);
    // No decision kept: a late query is not answered (its voter has the outcome).
    assert.ok(hits('coord.query_not_decided', () => assert.deepEqual(co.from('w1', { type: 'query', txid }), [])));
  });

  test('an interactive transaction of a single voter: its commit prepares (ops null, with a cseq); the YES answers the commit OK at once', () => {
    const co = new Co();
    co.addWorker('w1');
    const txid = String(field(only(replies(co.req(9, 0, { action: 'begin' }))).reply, 'txid'));
    co.req(9, 1, postReq('t1'));
    co.from('w1', { type: 'locked', txid, seq: 1, result: {} });
    const p = prepareOf(co.req(9, 2, { action: 'commit' }), 'w1');
    assert.deepEqual([p.ops, p.cseq, p.voters], [null, 1, ['w1']]);
    const e = co.from('w1', yes(txid, [{}]));
    assert.deepEqual(replies(e), [{ conn: 9, slot: 2, reply: { status: 'OK' } }]);
    assert.deepEqual(sent(e), []);
    assert.equal(co.status().counters.open_transactions, 0);
  });

  test('its YES lost with the link → the client hears IN_DOUBT at once (nobody to ask) → prevent when it relinks → ack commit with the results its outcome kept → settled (both cores)', () => {
    const co = new Co();
    co.addWorker('w1');
    const w = new Harness(); // the worker core of w1
    const p = prepareOf(co.req(7, 1, postReq('t1')), 'w1');
    const tweet = tweetOf((p.ops ?? [])[0] as Op);
    const written = w.msg(p);
    assert.deepEqual(written.map((x) => x.type), ['persist_prepared'], 'one phase on the worker: its prepared record first');
    const yesAndCommit = w.durable(written);
    assert.deepEqual(sends(yesAndCommit).map((m) => m.type), ['vote'], 'its YES, lost with the link below');
    assert.deepEqual(persists(yesAndCommit).map((x) => x.type), ['persist_commit'], 'and its commit, written at once');
    const doubt = only(replies(co.linkDown('w1')));
    assert.deepEqual([doubt.slot, field(doubt.reply, 'code')], [1, 'IN_DOUBT'], 'no abort: it may have committed');
    assert.match(String(field(doubt.reply, 'error')), /^transaction \S+: w1 \(\S+\) could not be asked whether it holds a YES/, 'its only voter, named');
    assert.deepEqual(inDoubt(co), [[p.txid, 'preventing', ['w1']]], 'it waits for its only voter');
    w.linkDown();
    assert.deepEqual(sends(w.durable(yesAndCommit)).map((m) => m.type), ['ack'], 'its ack, lost too (the link is down)');
    // Back: its state lists nothing (its commit is durable and forgotten); it is asked to prevent.
    const hello = only(sentTo(co.linkUp('w1'), 'w1'));
    if (hello.type !== 'hello') return assert.fail('expected hello');
    const state = only(sends(w.msg(hello)));
    const asked = only(sentTo(co.from('w1', state), 'w1'));
    assert.deepEqual(asked, { type: 'prevent', txid: p.txid });
    if (asked.type !== 'prevent') return;
    const answer = only(sends(w.msg(asked)));
    assert.deepEqual(answer, { type: 'ack', txid: p.txid, outcome: 'commit', results: [{ tweet }] }, 'from the outcome row (outcomes.results)');
    let e: CoordinatorEffect[] = [];
    assert.ok(hits('coord.commit_learnt_from_voter', () => (e = co.from('w1', answer))));
    assert.deepEqual(replies(e), [], 'its client was answered (IN_DOUBT) already');
    assert.deepEqual(sent(e), [], 'one phase still: nothing to tell it');
    assert.deepEqual(co.status().in_doubt, []);
    assert.equal(co.status().counters.commits, 1);
    assert.equal(co.workerState('w1'), 'up');
  });

  test(
    'its YES lost while its commit is still being written: the client hears IN_DOUBT; relinked, it lists the transaction (resolving); prevent waits for the commit; its ack commit (with the results) settles it, and it is up again',
    () => {
      const co = new Co();
      co.addWorker('w1');
      const w = new Harness();
      const p = prepareOf(co.req(7, 1, postReq('t1')), 'w1');
      const tweet = tweetOf((p.ops ?? [])[0] as Op);
      const yesAndCommit = w.durable(w.msg(p));
      assert.deepEqual(sends(yesAndCommit).map((m) => m.type), ['vote'], 'its YES, lost with the link below');
      assert.deepEqual(replies(co.linkDown('w1')).map((r) => field(r.reply, 'code')), ['IN_DOUBT']);
      w.linkDown();
      const hello = only(sentTo(co.linkUp('w1'), 'w1'));
      if (hello.type !== 'hello') return assert.fail('expected hello');
      const state = only(sends(w.msg(hello)));
      assert.deepEqual(state.type === 'state' ? state.prepared : null, [{ txid: p.txid, voters: ['w1'], cseq: p.cseq }]);
      const asked = only(sentTo(co.from('w1', state), 'w1'));
      assert.equal(co.workerState('w1'), 'joining', 'resolving: it holds a transaction undecided here');
      if (asked.type !== 'prevent') return assert.fail('expected prevent');
      assert.deepEqual(w.msg(asked), [], 'being written: answered once durable');
      const a = only(sends(w.durable(yesAndCommit)));
      assert.deepEqual(a, { type: 'ack', txid: p.txid, outcome: 'commit', results: [{ tweet }] });
      const e = co.from('w1', a);
      assert.deepEqual(replies(e), [], 'its client was answered (IN_DOUBT) already');
      assert.deepEqual(sent(e), [], 'one phase still: nothing to tell it');
      assert.deepEqual(co.status().in_doubt, []);
      assert.equal(co.workerState('w1'), 'up', 'it has the outcome: it wrote it');
      assert.equal(sentTo(co.req(7, 2, postReq('t2')), 'w1').length, 1, 'writes go on');
    },
  );

  test('its YES not yet said (its record being written) when the link goes: the client hears IN_DOUBT; prevent on relink refuses it (a durable tombstone) → aborted, its abort sent to its voter', () => {
    const co = new Co();
    co.addWorker('w1');
    const w = new Harness();
    const p = prepareOf(co.req(7, 1, postReq('t1')), 'w1');
    const written = w.msg(p);
    assert.deepEqual(replies(co.linkDown('w1')).map((r) => field(r.reply, 'code')), ['IN_DOUBT'], 'it may have said YES: no abort without a refusal');
    w.linkDown();
    const hello = only(sentTo(co.linkUp('w1'), 'w1'));
    if (hello.type !== 'hello') return assert.fail('expected hello');
    const state = only(sends(w.msg(hello)));
    assert.deepEqual(state.type === 'state' ? state.prepared : null, [], 'a record still being written is not listed');
    const asked = only(sentTo(co.from('w1', state), 'w1'));
    if (asked.type !== 'prevent') return assert.fail('expected prevent');
    const refused = w.msg(asked);
    assert.deepEqual(w.durable(written), [], 'no YES: it was refused before its record was durable');
    const a = only(sends(w.durable(refused)));
    assert.deepEqual(a, { type: 'ack', txid: p.txid, outcome: 'abort' });
    // A durable refusal: aborted, and the abort goes to its voter as to any.
    const told = only(sentTo(co.from('w1', a), 'w1'));
    assert.deepEqual(told, { type: 'abort', txid: p.txid });
    assert.deepEqual(replies(co.from('w1', only(sends(w.msg(told))))), [], 'its client was answered (IN_DOUBT) already');
    assert.deepEqual(co.status().in_doubt, []);
    assert.equal(co.status().counters.open_transactions, 0);
  });
});

describe('coordinator: a relinked member owed an undecided transaction (DECISIONS 65)', () => {
  test('its state lists a transaction being prevented here → resolving (not up, no read, no write) until the outcome reaches it (its ack)', () => {
    const { co, txid, tweet, cseq, relinked } = relinkedPrepared();
    assert.deepEqual(sentTo(relinked, 'w2'), [{ type: 'prevent', txid }]);
    assert.equal(co.workerState('w2'), 'joining', 'its voters may have committed it already: its copy may lack that commit');
    for (let i = 0; i < 3; i++) assert.deepEqual(sent(co.req(8, i, { action: 'get_tweet', id: 't1' })).map((x) => x.worker), ['w1'], 'it serves no read');
    const refused = only(replies(co.req(9, 1, postReq('t2')))).reply;
    assert.equal(field(refused, 'code'), 'UNAVAILABLE');
    assert.match(String(field(refused, 'error')), /w2 .* is rejoining/);
    // Its YES (the answer to prevent) is the last: committed, told to it; still not up while it applies it.
    const c = co.from('w2', { type: 'vote', txid, yes: true, results: [{ tweet }], ops: [{ kind: 'post', tweet }] });
    assert.deepEqual(sentTo(c, 'w2'), [{ type: 'commit', txid, cseq }]);
    assert.equal(co.workerState('w2'), 'joining');
    co.from('w2', { type: 'applied', txid });
    assert.equal(co.workerState('w2'), 'joining', 'applied is not durable: the outcome is its once acked');
    co.from('w2', ack(txid, 'commit'));
    assert.equal(co.workerState('w2'), 'up');
  });

  test('its state lists an orphan (lost in a restart) → resolving until the orphan\'s outcome reaches it: commit or abort', () => {
    const restarted = (): Co => new Co({ epoch: 2, last_cseq: 4, members: [{ id: 'w1', address: addr('w1') }, { id: 'w2', address: addr('w2') }] });
    const ops: Op[] = [post(tw('o1'))];
    const orphan = preparedTxn('1.9', ['w1', 'w2'], 7);
    const yesWithOps: FromWorker = { type: 'vote', txid: '1.9', yes: true, results: [{ tweet: tw('o1') }], ops };

    const co = restarted();
    co.linkUp('w1');
    co.state('w1', 4, [orphan]);
    assert.equal(co.workerState('w1'), 'joining');
    co.linkUp('w2');
    co.state('w2', 4, [orphan]);
    co.from('w1', yesWithOps);
    co.from('w2', yesWithOps);
    assert.deepEqual([co.workerState('w1'), co.workerState('w2')], ['joining', 'joining'], 'committed, not yet theirs');
    co.from('w1', ack('1.9', 'commit'));
    assert.deepEqual([co.workerState('w1'), co.workerState('w2')], ['up', 'joining']);
    co.from('w2', ack('1.9', 'commit'));
    assert.equal(co.workerState('w2'), 'up');

    const refused = restarted();
    refused.linkUp('w1');
    refused.state('w1', 4, [orphan]);
    refused.linkUp('w2');
    refused.state('w2', 4, []);
    assert.equal(refused.workerState('w2'), 'up', 'w2 lists nothing: it owes nothing');
    refused.from('w1', yesWithOps);
    assert.deepEqual(sentTo(refused.from('w2', ack('1.9', 'abort')), 'w1'), [{ type: 'abort', txid: '1.9' }]);
    assert.equal(refused.workerState('w1'), 'joining');
    refused.from('w1', ack('1.9', 'abort'));
    assert.equal(refused.workerState('w1'), 'up');
  });
});

// ---------------------------------------------------------------------------
// The worker

/** Every statement (YES or refusal) the worker makes, with whether its record was durable then. */
function statements(h: Harness): { txid: string; says: string; durable: boolean }[] {
  const out: { txid: string; says: string; durable: boolean }[] = [];
  h.core.statementObserver = (s) => out.push(s);
  return out;
}
const votes = (e: WorkerEffect[]): FromWorker[] => sends(e).filter((m) => m.type === 'vote');
const peerAnswer = (h: Harness, txid: string, from: string, outcome: 'commit' | 'abort' | 'prepared' | 'unknown', cseq: number, now = 0): WorkerEffect[] =>
  h.core.handle({ type: 'peer_answer', msg: { type: 'peer_answer', txid, from, outcome, cseq } }, now);
/** w1, w2 and w3 vote. */
const TRIO = [...PAIR, { id: 'w3', address: '10.0.0.3:1' }];

describe('worker: a NO only once its tombstone is durable', () => {
  test('LOCKED: the tombstone is written first, the NO said once it is durable (and it is durable when said)', () => {
    const h = new Harness();
    const said = statements(h);
    h.prepared('tx1', [post(tw('t1'))], 0, PAIR);
    const e = h.msg(h.prepare('tx2', [upd('t1', 'x')]));
    assert.deepEqual(e, [{ type: 'persist_abort', txid: 'tx2' }]);
    const v = h.refusalOf(e);
    assert.deepEqual(v, { type: 'vote', txid: 'tx2', yes: false, code: 'LOCKED', error: 'tweet t1 is locked by another transaction' });
    assert.deepEqual(said.filter((s) => s.txid === 'tx2'), [{ txid: 'tx2', says: 'refused', durable: true }]);
  });

  for (const [name, recovered, config, floor, pattern] of [
    ['not a voter', { voter: false }, 1, 0, /does not vote in configuration 1/],
    ['an older configuration', { config: 3 }, 2, 0, /comes from configuration 2; worker w1 is in configuration 3/],
    ['a floor above the replicates received', {}, 1, 1, /has not yet received every commit streamed to it/],
  ] as const) {
    test(`refusal() (${name}): a tombstone first, the NO UNAVAILABLE once it is durable`, () => {
      const h = new Harness(recovered);
      const e = h.msg({ type: 'prepare', txid: 'tx1', ops: [post(tw('t1'))], config, floor, cseq: 1 });
      assert.deepEqual(e, [{ type: 'persist_abort', txid: 'tx1' }]);
      const v = h.refusalOf(e);
      assert.deepEqual(v.type === 'vote' && !v.yes ? [v.code, pattern.test(v.error)] : null, ['UNAVAILABLE', true]);
      assert.equal(h.store.outcomeOf('tx1'), 'abort', 'it can never vote YES on it later');
    });
  }
});

describe('worker: prevent in each phase', () => {
  test('never seen → a tombstone, then ack abort once durable (no vote)', () => {
    const h = new Harness();
    const said = statements(h);
    let e: WorkerEffect[] = [];
    assert.ok(hits('worker.prevented_unseen', () => (e = h.msg({ type: 'prevent', txid: 'tx9' }))));
    assert.deepEqual(e, [{ type: 'persist_abort', txid: 'tx9' }], 'nothing said before the tombstone is durable');
    assert.deepEqual(sends(h.durable(e)), [{ type: 'ack', txid: 'tx9', outcome: 'abort' }]);
    assert.deepEqual(said, [{ txid: 'tx9', says: 'refused', durable: true }]);
    assert.equal(votes(h.msg(h.prepare('tx9', [post(tw('t1'))]))).length, 1, 'a late prepare is refused at once');
  });

  test('active (taking locks) → its locks released, a tombstone, ack abort once durable', () => {
    const h = new Harness();
    h.msg({ type: 'lock', txid: 'i1', seq: 1, op: post(tw('t1')), config: 1, floor: 0 });
    const e = h.msg({ type: 'prevent', txid: 'i1' });
    assert.deepEqual(e, [{ type: 'persist_abort', txid: 'i1' }]);
    assert.equal(h.core.lockCount, 0);
    assert.deepEqual(sends(h.durable(e)), [{ type: 'ack', txid: 'i1', outcome: 'abort' }]);
  });

  test('preparing (its record being written) → refused: no YES is ever said, ack abort once the tombstone is durable', () => {
    const h = new Harness();
    const p = h.msg(h.prepare('tx1', [post(tw('t1'))], PAIR));
    const a = h.msg({ type: 'prevent', txid: 'tx1' });
    assert.deepEqual(a, [{ type: 'persist_abort', txid: 'tx1' }]);
    const after = sends(h.durable([...p, ...a]));
    assert.deepEqual(after, [{ type: 'ack', txid: 'tx1', outcome: 'abort' }], 'no YES, though the prepared record became durable');
    assert.deepEqual(h.core.preparedTxids(), []);
  });

  test('prepared (a durable YES) → vote YES again with its results and ops; it keeps its locks and writes nothing', () => {
    const h = new Harness();
    const said = statements(h);
    h.prepared('tx1', [post(tw('t1'))], 0, PAIR);
    let e: WorkerEffect[] = [];
    assert.ok(hits('worker.prevent_met_yes', () => (e = h.msg({ type: 'prevent', txid: 'tx1' }))));
    assert.deepEqual(e, [{ type: 'send', msg: { type: 'vote', txid: 'tx1', yes: true, results: [{ tweet: tw('t1') }], ops: [post(tw('t1'))] } }]);
    assert.equal(h.core.lockCount, 1);
    assert.deepEqual(h.core.preparedTxids(), ['tx1']);
    assert.deepEqual(said.at(-1), { txid: 'tx1', says: 'yes', durable: true });
  });

  test('committing or aborting → nothing new (the ack follows its fsync)', () => {
    const h = new Harness();
    h.prepared('tx1', [post(tw('t1'))], 0, PAIR);
    h.msg({ type: 'commit', txid: 'tx1', cseq: 1 });
    assert.deepEqual(h.msg({ type: 'prevent', txid: 'tx1' }), []);
    h.prepared('tx2', [post(tw('t2'))], 0, PAIR);
    h.msg({ type: 'abort', txid: 'tx2' });
    assert.deepEqual(h.msg({ type: 'prevent', txid: 'tx2' }), []);
  });

  test('outcome known and forgotten → its ack: abort; commit, with the results kept for a commit settled without the coordinator', () => {
    const h = new Harness();
    h.prepared('tx1', [post(tw('t1'))], 0, PAIR);
    h.durable(h.msg({ type: 'abort', txid: 'tx1' }));
    assert.deepEqual(sends(h.msg({ type: 'prevent', txid: 'tx1' })), [{ type: 'ack', txid: 'tx1', outcome: 'abort' }]);
    h.prepared('tx2', [post(tw('t2'))], 0, PAIR);
    h.durable(h.msg({ type: 'commit', txid: 'tx2', cseq: 2 }));
    assert.deepEqual(sends(h.msg({ type: 'prevent', txid: 'tx2' })), [{ type: 'ack', txid: 'tx2', outcome: 'commit' }], 'told by the coordinator: no results kept');
    h.prepared('tx3', [post(tw('t3'))], 0, PAIR);
    h.durable(peerAnswer(h, 'tx3', 'w2', 'prepared', 3));
    assert.deepEqual(sends(h.msg({ type: 'prevent', txid: 'tx3' })), [{ type: 'ack', txid: 'tx3', outcome: 'commit', results: [{ tweet: tw('t3') }] }]);
  });
});

describe('worker: voters settle alone', () => {
  test('`prepared` from every other voter → commit with its record\'s cseq; the outcome keeps the results and the ack carries them', () => {
    const h = new Harness();
    h.prepared('tx1', [post(tw('t1'))], 0, TRIO);
    const cseq = 1;
    assert.deepEqual(peerAnswer(h, 'tx1', 'w2', 'prepared', cseq), [], 'one of two others is not enough');
    assert.deepEqual(peerAnswer(h, 'tx1', 'w2', 'prepared', cseq), [], 'the same one twice is still one');
    let e: WorkerEffect[] = [];
    assert.ok(hits('worker.implicit_commit_by_peers', () => (e = peerAnswer(h, 'tx1', 'w3', 'prepared', cseq))));
    const results = [{ tweet: tw('t1') }];
    assert.deepEqual(persists(e), [{ type: 'persist_commit', txid: 'tx1', cseq, ops: [post(tw('t1'))], results }]);
    assert.deepEqual(sends(h.durable(e)), [{ type: 'ack', txid: 'tx1', outcome: 'commit', results }]);
    assert.deepEqual(h.store.commitResultsOf('tx1'), results);
    assert.equal(h.core.appliedCseq, cseq);
    assert.equal(h.core.resolvedByPeers, 1);
  });

  test('`prepared` from a worker that is not a voter of it counts for nothing', () => {
    const h = new Harness();
    h.prepared('tx1', [post(tw('t1'))], 0, PAIR);
    assert.deepEqual(peerAnswer(h, 'tx1', 'w9', 'prepared', 1), []);
    assert.deepEqual(h.core.preparedTxids(), ['tx1']);
  });

  test('a record with cseq 0 (from before implicit commit) never commits implicitly: alone it asks, and every `prepared` changes nothing', () => {
    const alone = new Harness({ prepared: [rec('old', [post(tw('t1'))], [], 0)] });
    const asked = alone.tick(0);
    assert.deepEqual(persists(asked), []);
    assert.deepEqual(sends(asked), [{ type: 'query', txid: 'old' }]);
    const pair = new Harness({ prepared: [rec('old', [post(tw('t1'))], [W2], 0)] });
    assert.deepEqual(peerAnswer(pair, 'old', 'w2', 'prepared', 0), []);
    assert.deepEqual(pair.core.preparedTxids(), ['old']);
    // Told, it commits as ever.
    assert.deepEqual(persists(pair.msg({ type: 'commit', txid: 'old', cseq: 3 })).map((x) => x.type), ['persist_commit']);
  });

  test('asked by a peer while prepared: `prepared`, with its cseq (and a durable YES behind it)', () => {
    const h = new Harness();
    const said = statements(h);
    h.prepared('tx1', [post(tw('t1'))], 0, PAIR);
    const e = h.core.handle({ type: 'peer_query', route: 'r1', msg: { type: 'peer_query', txid: 'tx1', to: 'w1' } }, 0);
    assert.deepEqual(e, [{ type: 'peer_reply', route: 'r1', msg: { type: 'peer_answer', txid: 'tx1', from: 'w1', outcome: 'prepared', cseq: 1 } }]);
    assert.deepEqual(said.at(-1), { txid: 'tx1', says: 'yes', durable: true });
  });

  test('its record of the transaction (for admin resolve) says it told a peer it holds a YES (told_peer), only once it has', () => {
    const h = new Harness();
    h.prepared('tx1', [post(tw('t1'))], 0, PAIR);
    assert.deepEqual(h.core.txnKnowledge('tx1'), { state: 'prepared', voters: ['w2'] });
    h.core.handle({ type: 'peer_query', route: 'r1', msg: { type: 'peer_query', txid: 'tx1', to: 'w1' } }, 0);
    assert.deepEqual(h.core.txnKnowledge('tx1'), { state: 'prepared', voters: ['w2'], told_peer: true });
  });
});

describe('worker: one-phase commit (the only voter, DECISIONS 66)', () => {
  const noCode = (v: FromWorker): string | null => (v.type === 'vote' && !v.yes ? v.code : null);
  const t1 = tw('t1');
  const results = [{ tweet: t1 }];

  test('a one-shot prepare naming only this worker → its prepared record first (no peers, with its cseq and results), as any voter; nothing said, nothing listed yet', () => {
    const h = new Harness();
    let e: WorkerEffect[] = [];
    assert.ok(hits('worker.one_phase_commit', () => (e = h.msg(h.prepare('tx1', [post(t1)], SOLO)))));
    assert.deepEqual(e, [{ type: 'persist_prepared', txid: 'tx1', ops: [post(t1)], peers: [], cseq: 1, results }], 'no vote, no commit before the record is durable');
    assert.equal(h.core.lockCount, 1, 'its locks are held until the commit is written');
    // Still preparing: not listed in its state (as any voter's record being written).
    const st = only(sends(h.msg(hello({ lock_timeout_ms: T }))));
    assert.deepEqual(st.type === 'state' ? st.prepared : null, []);
  });

  test('its record durable → the YES (with its results) and the commit written at once (results kept); no `applied` is said; the locks go once it is written; its durable commit → ack commit with the results', () => {
    const h = new Harness();
    const said = statements(h);
    const e = h.msg(h.prepare('tx1', [post(t1)], SOLO));
    assert.equal(said.length, 0, 'nothing said before the record is durable');
    const yesAndCommit = h.durable(e);
    // #13 item 5: a new post's result is said as the tweet its op posted (the coordinator has it).
    assert.deepEqual(sends(yesAndCommit), [{ type: 'vote', txid: 'tx1', yes: true, results: [{ as_posted: true }] }]);
    assert.deepEqual(persists(yesAndCommit), [{ type: 'persist_commit', txid: 'tx1', cseq: 1, ops: [post(t1)], results }], 'in the same step, not told: its durable YES is every YES');
    assert.ok(said.length > 0 && said.every((x) => x.says === 'yes' && x.durable), JSON.stringify(said));
    assert.equal(h.core.appliedCseq, 1);
    // Committing: listed in its state (with itself as the only voter), for a coordinator that lost the YES.
    const st = only(sends(h.msg(hello({ lock_timeout_ms: T }))));
    assert.deepEqual(st.type === 'state' ? st.prepared : null, [{ txid: 'tx1', voters: ['w1'], cseq: 1 }]);
    h.store.persist(persists(yesAndCommit)[0] as WorkerEffect);
    assert.deepEqual(h.core.handle({ type: 'applied', txid: 'tx1' }, 0), [], 'no applied: the coordinator answered the client at the YES');
    assert.equal(h.core.lockCount, 0, 'written: the next transaction on the key may go ahead');
    assert.deepEqual(sends(h.core.handle({ type: 'durable', txid: 'tx1', what: 'commit' }, 0)), [{ type: 'ack', txid: 'tx1', outcome: 'commit', results }], 'for a coordinator that lost the YES');
    assert.equal(h.core.txnCount, 0);
    assert.equal(h.store.outcomeOf('tx1'), 'commit');
    assert.deepEqual(h.store.commitResultsOf('tx1'), results, 'kept with the outcome, for a coordinator that loses the YES');
    assert.deepEqual(h.store.getTweet('t1'), t1);
    assert.deepEqual(h.store.prepared.has('tx1'), false);
  });

  test('an interactive transaction of this worker alone: its prepare (ops null) writes the staged ops as its record; once durable, the YES carries every result and the commit is written', () => {
    const h = new Harness();
    h.msg({ type: 'lock', txid: 'i1', seq: 1, op: post(t1), config: 1, floor: 0 });
    h.msg({ type: 'lock', txid: 'i1', seq: 2, op: upd('t1', 'v2', null, 3_000), config: 1, floor: 0 });
    const e = h.msg(h.prepare('i1', null, SOLO));
    const ops = [post(t1), upd('t1', 'v2', null, 3_000)];
    const all = [{ tweet: t1 }, { tweet: { ...t1, content: 'v2', updated_at: 3_000 } }];
    assert.deepEqual(e, [{ type: 'persist_prepared', txid: 'i1', ops, peers: [], cseq: 1, results: all }]);
    const yesAndCommit = h.durable(e);
    assert.deepEqual(sends(yesAndCommit), [{ type: 'vote', txid: 'i1', yes: true, results: [{ as_posted: true }, all[1]] }], 'every result (#13 item 5: the post\'s as the tweet its op posted)');
    assert.deepEqual(persists(yesAndCommit), [{ type: 'persist_commit', txid: 'i1', cseq: 1, ops, results: all }]);
    assert.deepEqual(sends(h.durable(yesAndCommit)), [{ type: 'ack', txid: 'i1', outcome: 'commit', results: all }]);
    assert.deepEqual(h.store.getTweet('t1'), { ...t1, content: 'v2', updated_at: 3_000 });
  });

  test('prevent while its record is being written → refused (no YES said yet): the tombstone follows the record, ack abort once durable; no commit written', () => {
    const h = new Harness();
    const said = statements(h);
    const e = h.msg(h.prepare('tx1', [post(t1)], SOLO));
    const refused = h.msg({ type: 'prevent', txid: 'tx1' });
    assert.deepEqual(refused, [{ type: 'persist_abort', txid: 'tx1' }], 'its YES was not said: it may still refuse, and nothing is said before the tombstone is durable');
    assert.deepEqual(h.durable(e), [], 'the record durable: no YES, no commit (aborted meanwhile)');
    assert.deepEqual(sends(h.durable(refused)), [{ type: 'ack', txid: 'tx1', outcome: 'abort' }]);
    assert.equal(h.store.outcomeOf('tx1'), 'abort');
    assert.equal(h.store.getTweet('t1'), null);
    assert.equal(h.core.lockCount, 0);
    assert.ok(said.every((x) => x.says === 'refused' && x.durable), JSON.stringify(said));
  });

  test('prevent once its YES is said and the commit is being written → nothing yet; ack commit with the results once durable; after that, from the outcome kept', () => {
    const h = new Harness();
    const said = statements(h);
    const yesAndCommit = h.durable(h.msg(h.prepare('tx1', [post(t1)], SOLO)));
    assert.deepEqual(h.msg({ type: 'prevent', txid: 'tx1' }), [], 'it may not refuse (its YES is said, its commit being written)');
    assert.deepEqual(h.linkDown(), [], 'a link going down changes nothing either');
    assert.deepEqual(sends(h.durable(yesAndCommit)), [{ type: 'ack', txid: 'tx1', outcome: 'commit', results }]);
    // The YES and that ack may be lost with the link: a prevent (or a repeated prepare) after it is answered from the outcome.
    assert.deepEqual(sends(h.msg({ type: 'prevent', txid: 'tx1' })), [{ type: 'ack', txid: 'tx1', outcome: 'commit', results }]);
    assert.deepEqual(sends(h.msg(h.prepare('tx1', [post(t1)], SOLO))), [{ type: 'ack', txid: 'tx1', outcome: 'commit', results }]);
    assert.ok(said.every((x) => x.says === 'yes' && x.durable), JSON.stringify(said));
  });

  test('a repeated prepare while its record is being written is not answered and not written twice', () => {
    const h = new Harness();
    const e = h.msg(h.prepare('tx1', [post(t1)], SOLO));
    assert.deepEqual(h.msg(h.prepare('tx1', [post(t1)], SOLO)), []);
    assert.equal(votes(h.durable(e)).length, 1, 'exactly one YES');
  });

  test('restarted holding a prepared record with no other voter (cseq > 0) → commits alone at its first tick, untold; its durable commit → ack commit with the results', () => {
    const h = new Harness({ prepared: [{ ...rec('tx1', [post(t1)], [], 5), results }] });
    const said = statements(h);
    let e: WorkerEffect[] = [];
    assert.ok(hits('worker.one_phase_recovered', () => (e = h.tick(0))));
    assert.deepEqual(sends(e), [], 'no query: its durable YES is every YES');
    assert.deepEqual(persists(e), [{ type: 'persist_commit', txid: 'tx1', cseq: 5, ops: [post(t1)], results }], 'with its record\'s cseq, the results kept with the outcome');
    assert.deepEqual(sends(h.durable(e)), [{ type: 'ack', txid: 'tx1', outcome: 'commit', results }], 'for a coordinator that lost the transaction');
    assert.deepEqual(h.store.getTweet('t1'), t1);
    assert.deepEqual(h.store.commitResultsOf('tx1'), results);
    assert.equal(h.core.appliedCseq, 5);
    assert.deepEqual([h.core.txnCount, h.core.lockCount], [0, 0]);
    assert.ok(said.every((x) => x.says === 'yes' && x.durable), JSON.stringify(said));
  });

  test('restarted holding a sole voter\'s record and asked to prevent it → YES and its commit in that same turn, before anything asked after it (simulator seed 710352: a copy read between the two missed it)', () => {
    const h = new Harness({ prepared: [{ ...rec('tx1', [post(t1)], [], 5), results }] });
    const e = h.msg({ type: 'prevent', txid: 'tx1' });
    assert.deepEqual(votes(e).map((m) => m.type === 'vote' && m.yes), [true], 'its durable YES, with the ops and results');
    assert.deepEqual(persists(e), [{ type: 'persist_commit', txid: 'tx1', cseq: 5, ops: [post(t1)], results }], 'committed at once: that YES is every YES');
    h.durable(e);
    assert.deepEqual(h.store.getTweet('t1'), t1);
    assert.deepEqual(h.tick(10 * T), [], 'nothing left to settle at its tick');
  });

  test('a replicate over a key a prepared transaction holds keeps every other transaction off that key until it is written (simulator seed 709143: the next one was judged on the row as it was before)', () => {
    const h = new Harness({}, [tw('k1', 'alice', 'v1')]);
    h.prepared('mine', [upd('k1', 'mine')], 0, PAIR); // holds k1, voted YES
    const r = h.msg({ type: 'replicate', seq: 1, txid: 'r1', cseq: 9, ops: [upd('k1', 'theirs', 'alice', 3_000)] });
    assert.ok(r.some((x) => x.type === 'persist_commit'), 'the replicate is written at once');
    h.durable(h.msg({ type: 'abort', txid: 'mine' })); // its holder lets go: the replicate is still not written
    const e = h.msg(h.prepare('next', [upd('k1', 'later')], PAIR));
    assert.equal(noCode(h.refusalOf(e)), 'LOCKED', 'refused while the replicate is not visible');
    h.core.handle({ type: 'applied', txid: 'r1' }, 0);
    h.durable(r);
    assert.deepEqual(votes(h.durable(h.msg(h.prepare('after', [upd('k1', 'later')], PAIR)))).map((m) => m.type === 'vote' && m.yes), [true], 'once it is written, the key is taken as usual');
  });

  test('a refusal is still durable before it is said: a lock held, an op that fails, a prepare behind a row, not a voter: a tombstone, then the NO; no commit written', () => {
    const h = new Harness({}, [tw('mine')]);
    h.prepared('held', [post(tw('h1'))], 0, PAIR);
    const cases: [string, WorkerEffect[], string][] = [
      ['locked', h.msg(h.prepare('a', [upd('h1', 'x')], SOLO)), 'LOCKED'],
      ['fails', h.msg(h.prepare('b', [upd('ghost', 'x')], SOLO)), 'NOT_FOUND'],
    ];
    for (const [name, e, code] of cases) {
      assert.deepEqual(persists(e).map((x) => x.type), ['persist_abort'], name);
      assert.equal(noCode(h.refusalOf(e)), code, name);
    }
    // Behind a row: a commit with cseq 5 wrote tweet mine; a prepare with cseq 4 would be lost under it.
    h.durable(h.msg({ type: 'replicate', seq: 1, txid: 'r1', cseq: 5, ops: [upd('mine', 'v2', 'alice', 3_000)] }));
    const behind = h.msg({ type: 'prepare', txid: 'c', ops: [del('mine')], ...named(SOLO), config: 1, floor: 0, cseq: 4 });
    assert.deepEqual(persists(behind).map((x) => x.type), ['persist_abort']);
    assert.equal(noCode(h.refusalOf(behind)), 'LOCKED');
    const learner = new Harness({ voter: false });
    const refused = learner.msg(learner.prepare('d', [post(t1)], SOLO));
    assert.deepEqual(refused, [{ type: 'persist_abort', txid: 'd' }]);
    assert.equal(noCode(learner.refusalOf(refused)), 'UNAVAILABLE');
    assert.equal(learner.store.outcomeOf('d'), 'abort');
  });
});

describe('worker: the cseq of a prepare', () => {
  test('a prepare whose cseq is not above the cseq of a row it writes (its prepare was overtaken) → NO LOCKED, once the tombstone is durable', () => {
    const h = new Harness({}, [tw('t1')]);
    h.prepared('tx1', [upd('t1', 'v2')], 0, PAIR);
    h.durable(h.msg({ type: 'commit', txid: 'tx1', cseq: 5 }));
    let e: WorkerEffect[] = [];
    assert.ok(hits('worker.prepare_behind_row', () => (e = h.msg({ type: 'prepare', txid: 'tx2', ops: [del('t1')], ...named(PAIR), config: 1, floor: 0, cseq: 4 }))));
    const v = h.refusalOf(e);
    assert.deepEqual(v.type === 'vote' && !v.yes ? [v.code, /tweet t1 was written by a newer transaction meanwhile/.test(v.error)] : null, ['LOCKED', true]);
    const same = h.refusalOf(h.msg({ type: 'prepare', txid: 'tx3', ops: [del('t1')], ...named(PAIR), config: 1, floor: 0, cseq: 5 }));
    assert.equal(same.type === 'vote' ? same.yes : null, false, 'its own cseq is not above it either');
    assert.deepEqual(votes(h.durable(h.msg({ type: 'prepare', txid: 'tx4', ops: [del('t1')], ...named(PAIR), config: 1, floor: 0, cseq: 6 }))).map((m) => m.type === 'vote' && m.yes), [true]);
  });

  test('state lists what it holds prepared or is committing as {txid, voters (itself first), cseq}; not what is still preparing', () => {
    const h = new Harness();
    h.prepared('a', [post(tw('t1'))], 0, TRIO);
    h.prepared('b', [post(tw('t2'))], 0, PAIR);
    h.msg({ type: 'commit', txid: 'b', cseq: 2 });
    h.msg(h.prepare('c', [post(tw('t3'))], PAIR));
    const st = only(sends(h.msg(hello({ lock_timeout_ms: T }))));
    assert.deepEqual(st.type === 'state' ? st.prepared : null, [
      { txid: 'a', voters: ['w1', 'w2', 'w3'], cseq: 1 },
      { txid: 'b', voters: ['w1', 'w2'], cseq: 2 },
    ]);
  });
});

// ---------------------------------------------------------------------------
// The node messages

describe('node messages of #13', () => {
  const wire = (m: unknown): unknown => JSON.parse(JSON.stringify(m)) as unknown;
  const refusedNaming = (r: { ok: boolean; error?: string }, field: string): void => {
    assert.equal(r.ok, false);
    assert.match(r.error ?? '', new RegExp(`"${field.replace(/[[\].]/g, '\\$&')}"`), r.error);
  };

  test('a prepare needs its cseq, a whole number 1 or more', () => {
    const p = { type: 'prepare', txid: '1.1', ops: null, config: 1, floor: 0 };
    refusedNaming(parseToWorker(wire(p)), 'cseq');
    refusedNaming(parseToWorker(wire({ ...p, cseq: 0 })), 'cseq');
    refusedNaming(parseToWorker(wire({ ...p, cseq: 1.5 })), 'cseq');
    assert.ok(parseToWorker(wire({ ...p, cseq: 1 })).ok);
  });

  test('prevent parses: a txid and nothing else', () => {
    assert.deepEqual(parseToWorker(wire({ type: 'prevent', txid: '3.14' })), { ok: true, msg: { type: 'prevent', txid: '3.14' } });
    refusedNaming(parseToWorker(wire({ type: 'prevent', txid: '3.14', ops: [] })), 'ops');
    refusedNaming(parseToWorker(wire({ type: 'prevent' })), 'txid');
    assert.equal(parseFromWorker(wire({ type: 'prevent', txid: '3.14' })).ok, false, 'only to a worker');
  });

  test('state entries are validated: txid, voters (1 to 32 worker ids), cseq (0 or more), nothing else', () => {
    const st = (entry: unknown): unknown => wire({ type: 'state', node_id: 'w1', prepared: [entry], max_cseq: 0, known_config: { n: 0, voters: [], catching_up: [] }, proposed_config: null, reserved: 0 });
    assert.ok(parseFromWorker(st({ txid: '1.1', voters: ['w1', 'w2'], cseq: 0 })).ok);
    refusedNaming(parseFromWorker(st({ txid: 'x', voters: ['w1'], cseq: 1 })), 'prepared[0].txid');
    refusedNaming(parseFromWorker(st({ txid: '1.1', voters: [], cseq: 1 })), 'prepared[0].voters');
    refusedNaming(parseFromWorker(st({ txid: '1.1', voters: ['w 1'], cseq: 1 })), 'prepared[0].voters[0]');
    refusedNaming(parseFromWorker(st({ txid: '1.1', voters: [7], cseq: 1 })), 'prepared[0].voters[0]');
    refusedNaming(parseFromWorker(st({ txid: '1.1', voters: ['w1'], cseq: -1 })), 'prepared[0].cseq');
    refusedNaming(parseFromWorker(st({ txid: '1.1', voters: ['w1'] })), 'prepared[0].cseq');
    refusedNaming(parseFromWorker(st({ txid: '1.1', voters: ['w1'], cseq: 1, ops: [] })), 'prepared[0].ops');
    assert.equal(parseFromWorker(st('1.1')).ok, false, 'a bare txid (before #13) is refused');
  });

  test('a YES may carry its ops (the answer to prevent): 1 or more, each a valid op', () => {
    const v = { type: 'vote', txid: '1.1', yes: true, results: [] };
    assert.ok(parseFromWorker(wire({ ...v, ops: [post(tw('t1'))] })).ok);
    refusedNaming(parseFromWorker(wire({ ...v, ops: [] })), 'ops');
    refusedNaming(parseFromWorker(wire({ ...v, ops: [{ kind: 'post' }] })), 'ops[0].tweet');
    refusedNaming(parseFromWorker(wire({ type: 'vote', txid: '1.1', yes: false, code: 'LOCKED', error: 'x', ops: [post(tw('t1'))] })), 'ops');
  });

  test('an ack may carry results (a commit settled by its voters)', () => {
    assert.ok(parseFromWorker(wire({ type: 'ack', txid: '1.1', outcome: 'commit', results: [{ tweet: tw('t1') }, {}] })).ok);
    refusedNaming(parseFromWorker(wire({ type: 'ack', txid: '1.1', outcome: 'commit', results: [{ tweet: 5 }] })), 'results[0].tweet');
    refusedNaming(parseFromWorker(wire({ type: 'ack', txid: '1.1', outcome: 'commit', results: {} })), 'results');
  });

  test('a peer answer may say `prepared`', () => {
    assert.ok(parsePeerAnswer(wire({ type: 'peer_answer', txid: '1.1', from: 'w2', outcome: 'prepared', cseq: 9 })).ok);
    refusedNaming(parsePeerAnswer(wire({ type: 'peer_answer', txid: '1.1', from: 'w2', outcome: 'yes', cseq: 9 })), 'outcome');
  });
});
