import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { WRONG_IDENTITY_REDIAL_MS, type CoordinatorEffect } from '../../src/core/coordinator.ts';
import { encodeCursor, renderTweet } from '../../src/core/render.ts';
import type { ClientRequest, CopyRow, Op, OpResult, Tweet } from '../../src/core/types.ts';
import { Co, DECIDED_AT, T, ack, addr, field, no, ofType, only, postReq, prepareOf, preparedTxn, replies, sent, sentTo, tweetOf, yes, TEST_CLUSTER } from '../helpers/coordinator-core.ts';

/** A cluster of up workers, and one post carried to the point where every worker has been asked to prepare. */
function clusterWithPost(ids = ['w1', 'w2'], id = 't1'): { co: Co; txid: string; tweet: Tweet; effects: CoordinatorEffect[] } {
  const co = new Co();
  for (const w of ids) co.addWorker(w);
  const effects = co.req(7, 1, postReq(id));
  const p = prepareOf(effects, ids[0] as string);
  const ops = p.ops ?? [];
  return { co, txid: p.txid, tweet: tweetOf(ops[0] as Op), effects };
}

describe('CoordinatorCore: membership', () => {
  test('register → saved and linked; link_up → hello, joining; state → the first voter once its configuration is durable → up', () => {
    const co = new Co();
    const r = co.register('w1');
    assert.deepEqual(only(replies(r)).reply, { status: 'OK', lock_timeout_s: 10, id: 'w1' });
    assert.deepEqual(ofType(r, 'save_member'), [{ type: 'save_member', id: 'w1', address: addr('w1'), leaving: false }]);
    assert.deepEqual(ofType(r, 'link'), [{ type: 'link', worker: 'w1', address: addr('w1') }]);
    assert.equal(co.workerState('w1'), 'down');
    const u = co.linkUp('w1');
    // #12: hello tells the worker the configuration as the coordinator has it, and whether it votes in it;
    // #23: the cluster, this coordinator's epoch and run (the worker obeys nothing older), the reservation in force.
    assert.deepEqual(sent(u), [{ worker: 'w1', msg: { type: 'hello', lock_timeout_ms: T, cluster: TEST_CLUSTER, epoch: 1, run: 'r-test', config: 0, voter: false, voters: [], catching_up: [], reserved: 100_000 } }]);
    assert.equal(co.workerState('w1'), 'joining');
    // #12: the first worker of an empty configuration becomes its voter by a configuration change, used once durable.
    const s = co.state('w1', 0);
    assert.deepEqual(ofType(s, 'log_config'), [{ type: 'log_config', config: 1, voters: ['w1'], catching_up: [] }]);
    assert.equal(co.workerState('w1'), 'joining');
    // #23: told to its voter first, which makes it durable and acks; then in use, and said so.
    const c = co.configDurable(1);
    assert.deepEqual(sent(c), [
      { worker: 'w1', msg: { type: 'config_propose', config: 1, voters: ['w1'], catching_up: [] } },
      { worker: 'w1', msg: { type: 'config', config: 1, voter: true, removed: false, voters: ['w1'], catching_up: [] } },
    ]);
    assert.equal(co.workerState('w1'), 'up');
  });

  test('re-registering the same id at the same address changes nothing; at a new address it relinks once the old link is gone', () => {
    const co = new Co();
    co.addWorker('w1');
    const same = co.register('w1');
    assert.equal(only(replies(same)).reply.status, 'OK');
    assert.deepEqual(same.filter((e) => e.type !== 'reply'), []);
    co.linkDown('w1');
    const moved = co.register('w1', '10.0.0.9:1234');
    assert.deepEqual(moved.filter((e) => e.type !== 'reply').map((e) => e.type), ['save_member', 'unlink', 'link']);
    assert.equal(co.status().workers[0]?.address, '10.0.0.9:1234');
  });

  test('a live member is never displaced: its id at another address, or another id at its address, is refused with EXISTS', () => {
    const co = new Co();
    co.addWorker('w1');
    const moved = co.register('w1', '10.0.0.9:1234');
    assert.equal(only(replies(moved)).reply.status, 'ERROR');
    assert.equal(field(only(replies(moved)).reply, 'code'), 'EXISTS');
    assert.deepEqual(moved.filter((e) => e.type !== 'reply'), []);
    const other = co.register('w1-new', addr('w1'));
    assert.equal(field(only(replies(other)).reply, 'code'), 'EXISTS');
    assert.deepEqual(other.filter((e) => e.type !== 'reply'), []);
    assert.deepEqual(co.status().workers.map((w) => [w.id, w.address, w.state]), [['w1', addr('w1'), 'up']]);
  });

  test('a new identity at a known address replaces the old member once that one is down (and, #12, has left the voters)', () => {
    const co = new Co();
    co.addWorker('w2');
    co.addWorker('w1');
    co.linkDown('w1');
    // #12: the old member still votes: it leaves the voters first (a configuration change), and the new one registers again.
    const first = co.register('w1-new', addr('w1'));
    assert.equal(field(only(replies(first)).reply, 'code'), 'UNAVAILABLE');
    const change = only(ofType(first, 'log_config'));
    assert.deepEqual(change.voters, ['w2']);
    co.configDurable(change.config);
    const r = co.register('w1-new', addr('w1'));
    assert.ok(ofType(r, 'remove_member').some((e) => e.id === 'w1'), 'the old member is removed');
    assert.ok(ofType(r, 'unlink').some((e) => e.worker === 'w1'), 'and unlinked');
    assert.deepEqual(co.status().workers.map((w) => w.id), ['w2', 'w1-new']);
  });

  test('start() writes the identity (this run\'s epoch) and asks for the first cseq reservation (#13: cseqs go out with prepares); every remembered worker is linked once the identity is durable', () => {
    const co = new Co({ members: [{ id: 'w1', address: 'a:1' }, { id: 'w2', address: 'b:2' }] }, 100, {}, { reserve: false });
    assert.deepEqual(co.core.start(co.now), [
      { type: 'log_identity', seq: 1, cluster: TEST_CLUSTER, epoch: 1, recovering: null },
      { type: 'reserve_cseq', through: 100_000 },
    ]);
    assert.deepEqual(co.ev({ type: 'identity_logged', seq: 1 }), [
      { type: 'link', worker: 'w1', address: 'a:1' },
      { type: 'link', worker: 'w2', address: 'b:2' },
    ]);
  });

  test('a worker answering with another identity is cut off and not up', () => {
    const co = new Co();
    co.register('w1');
    co.linkUp('w1');
    const e = co.from('w1', { type: 'state', node_id: 'impostor', prepared: [], max_cseq: 0, known_config: { n: 0, voters: [], catching_up: [] }, proposed_config: null, reserved: 0 });
    assert.deepEqual(e.filter((x) => x.type !== 'log').map((x) => x.type), ['unlink', 'link']);
    assert.equal(co.workerState('w1'), 'down');
    // Dialled again after a pause, not at once: instant redials flooded the log (1,800 warnings a second).
    assert.equal(ofType(e, 'link')[0]?.afterMs, WRONG_IDENTITY_REDIAL_MS);
  });

  test('messages from a worker that is not linked are ignored', () => {
    const co = new Co();
    co.register('w1');
    assert.deepEqual(co.state('w1'), []);
    assert.equal(co.workerState('w1'), 'down');
    assert.deepEqual(co.from('nobody', { type: 'query', txid: '1.1' }), []);
  });
});

describe('CoordinatorCore: one-shot writes', () => {
  test('all up → prepare to each (with its cseq) → all YES → commit to each at once, log_commit in the background (#13: implicit commit, no logged event) → acks → OK', () => {
    const co = new Co();
    co.addWorker('w1');
    co.addWorker('w2');
    const e = co.req(7, 3, postReq('t1'), 5_000_000);
    assert.deepEqual(replies(e), [], 'no answer before the decision');
    const p1 = prepareOf(e, 'w1');
    const p2 = prepareOf(e, 'w2');
    // #13 item 5: each is told the other's address (not its own), once per link.
    assert.deepEqual([p1.addresses, p2.addresses], [[{ id: 'w2', address: '127.0.0.1:9002' }], [{ id: 'w1', address: '127.0.0.1:9001' }]]);
    assert.deepEqual({ ...p1, addresses: [] }, { ...p2, addresses: [] }, 'every worker gets the same ops, voter ids, timestamps and cseq');
    assert.equal(p1.cseq, 1);
    assert.deepEqual(p1.ops, [{ kind: 'post', tweet: { id: 't1', username: 'alice', content: 'hello', created_at: 5_000_000, updated_at: null } }]);
    const tweet = tweetOf((p1.ops ?? [])[0] as Op);
    const txid = p1.txid;

    assert.deepEqual(co.from('w1', yes(txid, [{ tweet }])), [], 'one YES is not enough');
    // #13: every voter holds a durable YES: committed. The voters are told at once; the decision record is written in the background.
    const c = co.from('w2', yes(txid, [{ tweet }]), 5_000_010);
    assert.deepEqual(ofType(c, 'log_commit'), [{ type: 'log_commit', txid, cseq: 1, voters: ['w1', 'w2'], at: 5_000_010 }]);
    assert.deepEqual(sent(c).sort((a, b) => a.worker.localeCompare(b.worker)), [
      { worker: 'w1', msg: { type: 'commit', txid, cseq: 1 } },
      { worker: 'w2', msg: { type: 'commit', txid, cseq: 1 } },
    ]);
    assert.deepEqual(replies(c), []);
    assert.deepEqual(replies(co.from('w1', ack(txid, 'commit'))), [], 'OK waits for every voter to apply');
    const done = co.from('w2', ack(txid, 'commit'));
    assert.deepEqual(replies(done), [{ conn: 7, slot: 3, reply: { status: 'OK', tweet: renderTweet(tweet) } }]);
    assert.deepEqual(ofType(done, 'forget_decision'), [{ type: 'forget_decision', txid }]);
    const s = co.status();
    assert.equal(s.counters.commits, 1);
    assert.equal(s.counters.last_cseq, 1);
    assert.equal(s.counters.open_transactions, 0);
    assert.deepEqual(s.in_doubt, []);
  });

  test('applied from every voter answers the client; the decision is kept until every voter acks it durable', () => {
    const { co, txid, tweet } = clusterWithPost();
    co.from('w1', yes(txid, [{ tweet }]));
    co.from('w2', yes(txid, [{ tweet }]));
    assert.deepEqual(replies(co.from('w1', { type: 'applied', txid })), [], 'one voter applied is not enough');
    const answered = co.from('w2', { type: 'applied', txid });
    assert.deepEqual(replies(answered), [{ conn: 7, slot: 1, reply: { status: 'OK', tweet: renderTweet(tweet) } }]);
    assert.deepEqual(ofType(answered, 'forget_decision'), [], 'not durable on the workers yet: the decision stays');
    assert.deepEqual(replies(co.from('w1', ack(txid, 'commit'))), [], 'an ack after the answer answers nothing again');
    assert.deepEqual(ofType(co.from('w1', ack(txid, 'commit')), 'forget_decision'), [], 'a repeated ack from the same voter is not the other one');
    assert.deepEqual(ofType(co.from('w2', ack(txid, 'commit')), 'forget_decision'), [{ type: 'forget_decision', txid }]);
  });

  test('a voter that applied but never reports the commit durable is cut off after the lock timeout, and re-driven when it links', () => {
    const { co, txid, tweet } = clusterWithPost();
    co.from('w1', yes(txid, [{ tweet }]));
    co.from('w2', yes(txid, [{ tweet }]));
    co.from('w1', { type: 'applied', txid });
    co.from('w2', { type: 'applied', txid });
    co.from('w1', ack(txid, 'commit'));
    assert.deepEqual(ofType(co.tick(co.now + T - 1), 'unlink'), [], 'not before the lock timeout');
    const cut = co.tick(co.now + 1);
    assert.deepEqual(ofType(cut, 'unlink'), [{ type: 'unlink', worker: 'w2' }]);
    assert.equal(co.workerState('w2'), 'down');
    assert.equal(co.workerState('w1'), 'up');
    co.linkUp('w2');
    assert.deepEqual(sentTo(co.state('w2', 1), 'w2'), [{ type: 'commit', txid, cseq: 1 }], 'the commit is sent again');
    assert.deepEqual(ofType(co.from('w2', ack(txid, 'commit')), 'forget_decision'), [{ type: 'forget_decision', txid }]);
    assert.equal(co.workerState('w2'), 'up');
  });

  test('voters that computed different results are logged as an error; equal ones are not', () => {
    const { co, txid, tweet } = clusterWithPost();
    co.from('w1', yes(txid, [{ tweet }]));
    const differs = co.from('w2', yes(txid, [{ tweet: { ...tweet, content: 'something else' } }]));
    assert.deepEqual(ofType(differs, 'log').map((l) => [l.level, l.msg]), [['error', 'workers computed different results for one transaction']]);
    const same = clusterWithPost(['w1', 'w2'], 't2');
    same.co.from('w1', yes(same.txid, [{ tweet: same.tweet }]));
    assert.deepEqual(ofType(same.co.from('w2', yes(same.txid, [{ tweet: { ...same.tweet } }])), 'log'), []);
  });

  test('commit sequence numbers increase per commit', () => {
    const co = new Co();
    // Two voters: a single voter's commit is one phase, with no decision logged (DECISIONS 66).
    co.addWorker('w1');
    co.addWorker('w2');
    for (let i = 1; i <= 3; i++) {
      const p = prepareOf(co.req(7, i, postReq(`t${i}`)), 'w1');
      const results = [{ tweet: tweetOf((p.ops ?? [])[0] as Op) }];
      co.from('w2', yes(p.txid, results));
      const lc = only(ofType(co.from('w1', yes(p.txid, results)), 'log_commit'));
      assert.equal(lc.cseq, i);
      for (const w of ['w1', 'w2']) co.from(w, ack(p.txid, 'commit'));
    }
    assert.equal(co.status().counters.last_cseq, 3);
  });

  test('a post without id gets a time-ordered id, unique within one millisecond', () => {
    const co = new Co();
    co.addWorker('w1');
    const ids: string[] = [];
    for (const now of [2_000_000, 2_000_000, 2_000_000, 2_000_001, 3_000_000]) {
      const p = prepareOf(co.req(7, ids.length, postReq(null), now), 'w1');
      ids.push(tweetOf((p.ops ?? [])[0] as Op).id);
      co.from('w1', no(p.txid, 'LOCKED', 'x'));
      co.from('w1', ack(p.txid, 'abort'));
    }
    assert.equal(new Set(ids).size, ids.length);
    assert.deepEqual([...ids].sort(), ids, `ids sort in time order: ${ids.join(' ')}`);
  });

  test('a multi-op transaction answers with every result', () => {
    const co = new Co();
    co.addWorker('w1');
    const e = co.req(7, 1, {
      action: 'transaction',
      ops: [
        { action: 'post', tweet: { id: 'a', username: 'u', content: 'c' } },
        { action: 'delete', tweet: { id: 'b', username: null } },
      ],
    });
    const p = prepareOf(e, 'w1');
    assert.equal(p.ops?.length, 2);
    const t = tweetOf((p.ops ?? [])[0] as Op);
    // One voter: one phase, its YES (said once its prepared record is durable there) is the answer (DECISIONS 66).
    const r = only(replies(co.from('w1', yes(p.txid, [{ tweet: t }, {}]))));
    assert.deepEqual(r.reply, { status: 'OK', results: [{ tweet: renderTweet(t) }, {}] });
  });

  test('a transaction of one op answers in the transaction\'s shape, {"results":[...]}, as the README says (the fuzzer found the one-op shape)', () => {
    const co = new Co();
    co.addWorker('w1');
    const e = co.req(7, 1, { action: 'transaction', ops: [{ action: 'post', tweet: { id: 'a', username: 'u', content: 'c' } }] });
    const p = prepareOf(e, 'w1');
    const t = tweetOf((p.ops ?? [])[0] as Op);
    // One voter: one phase, answered at its YES.
    const r = only(replies(co.from('w1', yes(p.txid, [{ tweet: t }]))));
    assert.deepEqual(r.reply, { status: 'OK', results: [{ tweet: renderTweet(t) }] });
  });

  test('any NO vote → abort to every voter; ABORT with that code once the aborts are acked', () => {
    const { co, txid, tweet } = clusterWithPost(['w1', 'w2', 'w3']);
    co.from('w1', yes(txid, [{ tweet }]));
    const e = co.from('w2', no(txid, 'LOCKED', 'tweet t1 is locked by another transaction'));
    assert.deepEqual(
      sent(e).map((s) => `${s.worker}:${s.msg.type}`).sort(),
      ['w1:abort', 'w2:abort', 'w3:abort'],
    );
    assert.deepEqual(replies(e), [], 'the reply waits for the acks so a retry finds the locks free');
    assert.deepEqual(ofType(e, 'log_commit'), []);
    // A late YES from the third worker changes nothing.
    assert.deepEqual(co.from('w3', yes(txid, [{ tweet }])), []);
    co.from('w1', ack(txid, 'abort'));
    co.from('w2', ack(txid, 'abort'));
    const r = only(replies(co.from('w3', ack(txid, 'abort'))));
    assert.deepEqual(r, { conn: 7, slot: 1, reply: { status: 'ABORT', code: 'LOCKED', error: 'tweet t1 is locked by another transaction' } });
    const s = co.status();
    assert.equal(s.counters.aborts.LOCKED, 1);
    assert.equal(s.counters.commits, 0);
    assert.equal(s.counters.open_transactions, 0);
  });

  for (const code of ['NOT_FOUND', 'EXISTS', 'FORBIDDEN'] as const) {
    test(`a NO vote with ${code} is the client's answer`, () => {
      const { co, txid } = clusterWithPost(['w1']);
      co.from('w1', no(txid, code, `because ${code}`));
      const r = only(replies(co.from('w1', ack(txid, 'abort'))));
      assert.deepEqual(r.reply, { status: 'ABORT', code, error: `because ${code}` });
    });
  }

  test('a worker that is down → the write is answered ABORT UNAVAILABLE naming it, at once, with nothing sent', () => {
    const co = new Co();
    co.addWorker('w1');
    co.addWorker('w2');
    co.linkDown('w2');
    assert.equal(co.workerState('w2'), 'down');
    const e = co.req(7, 1, postReq('t1'));
    assert.deepEqual(sent(e), []);
    const r = only(replies(e)).reply;
    assert.equal(r.status, 'ABORT');
    assert.equal(field(r, 'code'), 'UNAVAILABLE');
    assert.match(String(field(r, 'error')), /worker w2 \(127\.0\.0\.1:9002\) is unreachable/);
    assert.equal(co.status().counters.open_transactions, 0);
  });

  test('no worker registered → UNAVAILABLE', () => {
    const co = new Co();
    const r = only(replies(co.req(7, 1, postReq('t1')))).reply;
    assert.equal(field(r, 'code'), 'UNAVAILABLE');
    assert.match(String(field(r, 'error')), /no worker has registered/);
  });

  test('link_down while waiting for votes → prevent to the others (#13: abort by prevention) → a durable refusal → abort → ABORT UNAVAILABLE naming the worker', () => {
    const { co, txid } = clusterWithPost();
    const e = co.linkDown('w2');
    assert.deepEqual(sent(e), [{ worker: 'w1', msg: { type: 'prevent', txid } }], 'the down worker is not sent anything');
    // w1 refused it durably (its tombstone): the outcome is abort.
    assert.deepEqual(sent(co.from('w1', ack(txid, 'abort'))), [{ worker: 'w1', msg: { type: 'abort', txid } }]);
    const r = only(replies(co.from('w1', ack(txid, 'abort'))));
    assert.equal(r.reply.status, 'ABORT');
    assert.equal(field(r.reply, 'code'), 'UNAVAILABLE');
    assert.match(String(field(r.reply, 'error')), /worker w2 .*went down/);
  });

  test('a vote after the lock timeout from the voter cut off is ignored; the transaction is prevented, not aborted (#13: w1 holds a YES), and with nobody left to ask its client hears IN_DOUBT at once, naming the silent voter', () => {
    const { co, txid, tweet } = clusterWithPost();
    const start = co.now;
    co.from('w1', yes(txid, [{ tweet }]));
    assert.deepEqual(co.tick(start + T - 1), []);
    const e = co.tick(start + T);
    // #13: only the voter without a YES is asked to refuse it; it is cut off at once (it was silent).
    assert.deepEqual(sent(e).map((s) => `${s.worker}:${s.msg.type}`).sort(), ['w2:prevent']);
    // The silent voter's link is closed and dialled again; until it answers, it is down.
    assert.deepEqual(e.filter((x) => x.type === 'unlink' || x.type === 'link').map((x) => `${x.type}:${(x as { worker: string }).worker}`), ['unlink:w2', 'link:w2']);
    assert.equal(co.status().workers.find((w) => w.id === 'w2')?.state, 'down');
    // #13: no refusal, not every YES, and nobody left to ask: the client hears IN_DOUBT in the same tick.
    const r = only(replies(e));
    assert.equal(r.reply.status, 'ERROR');
    assert.equal(field(r.reply, 'code'), 'IN_DOUBT');
    assert.match(String(field(r.reply, 'error')), /w2 \(127\.0\.0\.1:9002\) could not be asked/);
    assert.doesNotMatch(String(field(r.reply, 'error')), /w1/, 'only the silent worker is named');
    const late = co.from('w2', yes(txid, [{ tweet }]));
    assert.deepEqual(ofType(late, 'log_commit'), []);
    assert.deepEqual(late, []);
    assert.deepEqual(replies(co.tick(start + 2 * T)), [], 'IN_DOUBT is said once');
    assert.equal(co.status().counters.commits, 0);
  });

  test('an abort whose acks never come is answered anyway after another lock timeout', () => {
    const { co, txid } = clusterWithPost();
    co.from('w1', no(txid, 'LOCKED', 'locked'));
    assert.deepEqual(replies(co.tick(co.now + T - 1)), []);
    const r = only(replies(co.tick(co.now + 1)));
    assert.equal(field(r.reply, 'code'), 'LOCKED');
  });

  test('a voter that does not ack the commit in time is cut off; the client gets OK', () => {
    const { co, txid, tweet } = clusterWithPost();
    co.from('w1', yes(txid, [{ tweet }]));
    co.from('w2', yes(txid, [{ tweet }]));
    co.from('w1', ack(txid, 'commit'));
    const e = co.tick(co.now + T);
    assert.deepEqual(ofType(e, 'unlink'), [{ type: 'unlink', worker: 'w2' }]);
    assert.deepEqual(ofType(e, 'link'), [{ type: 'link', worker: 'w2', address: addr('w2') }]);
    assert.equal(only(replies(e)).reply.status, 'OK');
    assert.equal(co.workerState('w2'), 'down');
    // The decision is kept for w2.
    const d = co.status().in_doubt;
    assert.deepEqual(d.map((x) => [x.txid, x.state, x.waiting_for]), [[txid, 'committed', ['w2']]]);
  });

  test('a voter that goes down after voting YES does not block the commit (#13: decided at the last YES, told to the linked voters); it gets the decision when it rejoins', () => {
    const { co, txid, tweet } = clusterWithPost();
    co.from('w2', yes(txid, [{ tweet }]));
    co.linkDown('w2');
    const c = co.from('w1', yes(txid, [{ tweet }]));
    assert.deepEqual(sent(c), [{ worker: 'w1', msg: { type: 'commit', txid, cseq: 1 } }]);
    assert.equal(only(replies(co.from('w1', ack(txid, 'commit')))).reply.status, 'OK');
    // w2 comes back still prepared: it is re-sent the commit and is up only once it acks.
    co.linkUp('w2');
    const s = co.state('w2', 0, [preparedTxn(txid, ['w1', 'w2'], 1)]);
    assert.deepEqual(sentTo(s, 'w2'), [{ type: 'commit', txid, cseq: 1 }]);
    assert.equal(co.workerState('w2'), 'joining');
    assert.equal(field(only(replies(co.req(8, 1, postReq('t2')))).reply, 'code'), 'UNAVAILABLE');
    const a = co.from('w2', ack(txid, 'commit'));
    assert.deepEqual(ofType(a, 'forget_decision'), [{ type: 'forget_decision', txid }]);
    assert.equal(co.workerState('w2'), 'up');
    assert.deepEqual(co.status().in_doubt, []);
  });
});

describe('CoordinatorCore: interactive transactions', () => {
  function begin(co: Co, conn = 9): string {
    const r = only(replies(co.req(conn, 0, { action: 'begin' })));
    assert.equal(r.reply.status, 'OK');
    return String(field(r.reply, 'txid'));
  }

  test('begin / update / commit', () => {
    const co = new Co();
    co.addWorker('w1');
    co.addWorker('w2');
    const txid = begin(co);
    assert.match(txid, /^1\.\d+$/);
    // Every lock and prepare names the configuration its voters came from, and the last replicate sent to that worker (none).
    const config = co.configN();
    const e = co.req(9, 1, { action: 'update', tweet: { id: 't1', content: 'v2', username: 'alice' } }, 7_000_000);
    const op: Op = { kind: 'update', id: 't1', content: 'v2', username: 'alice', at: 7_000_000 };
    assert.deepEqual(sentTo(e, 'w1'), [{ type: 'lock', txid, seq: 1, op, config, floor: 0 }]);
    assert.deepEqual(sentTo(e, 'w2'), [{ type: 'lock', txid, seq: 1, op, config, floor: 0 }]);
    const updated: Tweet = { id: 't1', username: 'alice', content: 'v2', created_at: 1, updated_at: 7_000_000 };
    assert.deepEqual(co.from('w1', { type: 'locked', txid, seq: 1, result: { tweet: updated } }), [], 'waits for every worker');
    const ok1 = only(replies(co.from('w2', { type: 'locked', txid, seq: 1, result: { tweet: updated } })));
    assert.deepEqual(ok1, { conn: 9, slot: 1, reply: { status: 'OK', tweet: renderTweet(updated) } });

    // A second op gets the next seq.
    const e2 = co.req(9, 2, { action: 'delete', tweet: { id: 't2', username: null } });
    assert.deepEqual(sentTo(e2, 'w1').map((m) => (m.type === 'lock' ? m.seq : -1)), [2]);
    co.from('w1', { type: 'locked', txid, seq: 2, result: {} });
    assert.deepEqual(only(replies(co.from('w2', { type: 'locked', txid, seq: 2, result: {} }))).reply, { status: 'OK' });

    const c = co.req(9, 3, { action: 'commit' });
    const voters = ['w1', 'w2'];
    // #13: the prepare carries the cseq it commits with; item 5: and the addresses of the other voters, the first time on a link.
    assert.deepEqual(sentTo(c, 'w1'), [{ type: 'prepare', txid, ops: null, voters, config, floor: 0, cseq: 1, addresses: [{ id: 'w2', address: '127.0.0.1:9002' }] }], 'workers prepare what they staged, and learn who else votes');
    assert.deepEqual(sentTo(c, 'w2'), [{ type: 'prepare', txid, ops: null, voters, config, floor: 0, cseq: 1, addresses: [{ id: 'w1', address: '127.0.0.1:9001' }] }]);
    co.from('w1', yes(txid, [{ tweet: updated }, {}]));
    const last = co.from('w2', yes(txid, [{ tweet: updated }, {}]));
    assert.equal(ofType(last, 'log_commit').length, 1);
    assert.equal(sent(last).length, 2, '#13: the commit goes to both at the last YES');
    co.from('w1', ack(txid, 'commit'));
    assert.deepEqual(only(replies(co.from('w2', ack(txid, 'commit')))), { conn: 9, slot: 3, reply: { status: 'OK' } });
    // The connection is free for a new transaction.
    assert.notEqual(begin(co), txid);
  });

  test('a stale or duplicate lock answer is ignored', () => {
    const co = new Co();
    co.addWorker('w1');
    co.addWorker('w2');
    const txid = begin(co);
    co.req(9, 1, postReq('t1'));
    co.from('w1', { type: 'locked', txid, seq: 1, result: {} });
    assert.deepEqual(co.from('w1', { type: 'locked', txid, seq: 1, result: {} }), [], 'duplicate from w1 does not count for w2');
    assert.deepEqual(co.from('w2', { type: 'locked', txid, seq: 0, result: {} }), [], 'wrong seq');
    assert.equal(only(replies(co.from('w2', { type: 'locked', txid, seq: 1, result: {} }))).reply.status, 'OK');
  });

  test('commit with no ops is OK at once and sends nothing', () => {
    const co = new Co();
    co.addWorker('w1');
    begin(co);
    const e = co.req(9, 1, { action: 'commit' });
    assert.deepEqual(sent(e), []);
    assert.deepEqual(only(replies(e)).reply, { status: 'OK' });
  });

  test('a refused lock aborts the transaction: ABORT LOCKED, and a later commit gets the same ABORT', () => {
    const co = new Co();
    co.addWorker('w1');
    co.addWorker('w2');
    const txid = begin(co);
    co.req(9, 1, postReq('t1'));
    co.from('w1', { type: 'locked', txid, seq: 1, result: {} });
    const e = co.from('w2', { type: 'lock_refused', txid, seq: 1, code: 'LOCKED', error: 'tweet t1 is locked by another transaction' });
    assert.deepEqual(sent(e).map((s) => `${s.worker}:${s.msg.type}`).sort(), ['w1:abort', 'w2:abort']);
    co.from('w1', ack(txid, 'abort'));
    const r = only(replies(co.from('w2', ack(txid, 'abort'))));
    assert.deepEqual(r, { conn: 9, slot: 1, reply: { status: 'ABORT', code: 'LOCKED', error: 'tweet t1 is locked by another transaction' } });
    // Further ops are answered with the same abort; commit too, and it closes the transaction.
    assert.equal(field(only(replies(co.req(9, 2, postReq('t2')))).reply, 'code'), 'LOCKED');
    assert.deepEqual(sent(co.req(9, 3, postReq('t3'))), []);
    assert.equal(field(only(replies(co.req(9, 4, { action: 'commit' }))).reply, 'code'), 'LOCKED');
    const again = only(replies(co.req(9, 5, { action: 'commit' }))).reply;
    assert.equal(again.status, 'ERROR');
    assert.equal(field(again, 'code'), 'INVALID');
  });

  test('idle past the lock timeout → aborted; a later commit gets ABORT TIMEOUT', () => {
    const co = new Co();
    co.addWorker('w1');
    const txid = begin(co);
    const t0 = co.now;
    co.req(9, 1, postReq('t1'));
    co.from('w1', { type: 'locked', txid, seq: 1, result: {} });
    assert.deepEqual(co.tick(t0 + T - 1), []);
    const e = co.tick(t0 + T);
    assert.deepEqual(sent(e), [{ worker: 'w1', msg: { type: 'abort', txid } }], 'the locks are released at the timeout');
    assert.deepEqual(replies(co.from('w1', ack(txid, 'abort'))), [], 'nobody is waiting for a reply');
    const r = only(replies(co.req(9, 2, { action: 'commit' }, t0 + 3 * T)));
    assert.equal(r.reply.status, 'ABORT');
    assert.equal(field(r.reply, 'code'), 'TIMEOUT');
    assert.match(String(field(r.reply, 'error')), new RegExp(`transaction ${txid.replace('.', '\\.')} was not committed within the lock timeout \\(10 s\\)`));
    assert.equal(co.status().counters.open_transactions, 0);
  });

  test('a commit sent while the timeout abort is in flight is answered ABORT TIMEOUT once it completes', () => {
    const co = new Co();
    co.addWorker('w1');
    const txid = begin(co);
    const t0 = co.now;
    co.req(9, 1, postReq('t1'));
    co.from('w1', { type: 'locked', txid, seq: 1, result: {} });
    co.tick(t0 + T);
    assert.deepEqual(co.req(9, 2, { action: 'commit' }), []);
    const r = only(replies(co.from('w1', ack(txid, 'abort'))));
    assert.deepEqual([r.slot, field(r.reply, 'code')], [2, 'TIMEOUT']);
  });

  test('the client aborting → abort to the voters, OK once acked', () => {
    const co = new Co();
    co.addWorker('w1');
    const txid = begin(co);
    co.req(9, 1, postReq('t1'));
    co.from('w1', { type: 'locked', txid, seq: 1, result: {} });
    const e = co.req(9, 2, { action: 'abort' });
    assert.deepEqual(sent(e), [{ worker: 'w1', msg: { type: 'abort', txid } }]);
    assert.deepEqual(replies(e), []);
    assert.deepEqual(only(replies(co.from('w1', ack(txid, 'abort')))), { conn: 9, slot: 2, reply: { status: 'OK' } });
    assert.equal(co.status().counters.aborts.CLIENT, 1);
  });

  test('closing the connection aborts an open transaction', () => {
    const co = new Co();
    co.addWorker('w1');
    const txid = begin(co);
    co.req(9, 1, postReq('t1'));
    co.from('w1', { type: 'locked', txid, seq: 1, result: {} });
    const e = co.ev({ type: 'conn_closed', conn: 9 });
    assert.deepEqual(sent(e), [{ worker: 'w1', msg: { type: 'abort', txid } }]);
    co.from('w1', ack(txid, 'abort'));
    assert.equal(co.status().counters.open_transactions, 0);
  });

  test('closing the connection while the commit is deciding lets it run to its end', () => {
    const co = new Co();
    // Two voters, so that the commit is decided and logged (one voter's is one phase).
    co.addWorker('w1');
    co.addWorker('w2');
    const txid = begin(co);
    co.req(9, 1, postReq('t1'));
    for (const w of ['w1', 'w2']) co.from(w, { type: 'locked', txid, seq: 1, result: {} });
    co.req(9, 2, { action: 'commit' });
    assert.deepEqual(sent(co.ev({ type: 'conn_closed', conn: 9 })), []);
    co.from('w2', yes(txid, [{}]));
    assert.equal(ofType(co.from('w1', yes(txid, [{}])), 'log_commit').length, 1);
  });

  test('protocol misuse is INVALID: begin twice, commit/abort without begin, transaction inside begin', () => {
    const co = new Co();
    co.addWorker('w1');
    assert.equal(field(only(replies(co.req(9, 0, { action: 'commit' }))).reply, 'code'), 'INVALID');
    assert.equal(field(only(replies(co.req(9, 0, { action: 'abort' }))).reply, 'code'), 'INVALID');
    begin(co);
    const b = only(replies(co.req(9, 1, { action: 'begin' }))).reply;
    assert.deepEqual([b.status, field(b, 'code')], ['ERROR', 'INVALID']);
    const t = only(replies(co.req(9, 2, { action: 'transaction', ops: [{ action: 'delete', tweet: { id: 'x', username: null } }] }))).reply;
    assert.deepEqual([t.status, field(t, 'code')], ['ERROR', 'INVALID']);
  });

  test('an op while a voter is down aborts the transaction with UNAVAILABLE', () => {
    const co = new Co();
    co.addWorker('w1');
    co.addWorker('w2');
    const txid = begin(co);
    co.req(9, 1, postReq('t1'));
    co.from('w1', { type: 'locked', txid, seq: 1, result: {} });
    co.from('w2', { type: 'locked', txid, seq: 1, result: {} });
    co.linkDown('w2');
    const e = co.req(9, 2, postReq('t2'));
    assert.deepEqual(sent(e), [{ worker: 'w1', msg: { type: 'abort', txid } }]);
    const r = only(replies(co.from('w1', ack(txid, 'abort'))));
    assert.equal(field(r.reply, 'code'), 'UNAVAILABLE');
    assert.match(String(field(r.reply, 'error')), /w2/);
  });

  test(
    'commit while a voter is down is answered ABORT UNAVAILABLE without waiting for the lock timeout',
    () => {
      const co = new Co();
      co.addWorker('w1');
      co.addWorker('w2');
      const txid = begin(co);
      co.req(9, 1, postReq('t1'));
      co.from('w1', { type: 'locked', txid, seq: 1, result: {} });
      co.from('w2', { type: 'locked', txid, seq: 1, result: {} });
      co.linkDown('w2');
      const e = co.req(9, 2, { action: 'commit' });
      assert.deepEqual(sentTo(e, 'w2'), [], 'nothing is sent to a down worker');
      assert.deepEqual(sentTo(e, 'w1'), [{ type: 'abort', txid }]);
      const r = only(replies(co.from('w1', ack(txid, 'abort'))));
      assert.equal(field(r.reply, 'code'), 'UNAVAILABLE');
    },
  );

  test(
    'an unsolicited abort ack during the vote never counts as a YES (a worker that timed the txn out locally)',
    () => {
      const co = new Co();
      co.addWorker('w1');
      co.addWorker('w2');
      const txid = begin(co);
      const t0 = co.now;
      co.req(9, 1, postReq('t1'), t0);
      co.from('w1', { type: 'locked', txid, seq: 1, result: {} });
      co.from('w2', { type: 'locked', txid, seq: 1, result: {} });
      co.req(9, 2, { action: 'commit' }, t0 + T - 100);
      // w1 aborted the transaction at its own lock timeout, before the prepare reached it:
      // it acks its abort (WorkerCore does this after the tombstone is durable) and will vote NO.
      const fx: CoordinatorEffect[] = [];
      fx.push(...co.from('w1', ack(txid, 'abort'), t0 + T - 50));
      fx.push(...co.from('w2', yes(txid, [{}]), t0 + T - 40));
      fx.push(...co.from('w1', no(txid, 'TIMEOUT', 'expired'), t0 + T - 30));
      assert.deepEqual(ofType(fx, 'log_commit'), [], 'commit decided without a YES from w1');
      assert.ok(sentTo(fx, 'w2').some((m) => m.type === 'abort'), 'the transaction is aborted');
    },
  );
});

describe('CoordinatorCore: recovery and rejoining workers', () => {
  test('a rejoining worker with a prepared txn that has a logged decision gets the commit re-sent', () => {
    const co = new Co({
      epoch: 2,
      last_cseq: 7,
      members: [{ id: 'w1', address: 'a:1' }],
      decisions: [{ txid: '1.5', cseq: 7, voters: ['w1'], at: 1 }],
    });
    co.linkUp('w1');
    const s = co.state('w1', 6, [preparedTxn('1.5', ['w1'], 7)]);
    assert.deepEqual(sentTo(s, 'w1'), [{ type: 'commit', txid: '1.5', cseq: 7 }]);
    assert.equal(co.workerState('w1'), 'joining', 'not up before it has the outcome');
    const a = co.from('w1', ack('1.5', 'commit'));
    assert.deepEqual(ofType(a, 'forget_decision'), [{ type: 'forget_decision', txid: '1.5' }]);
    assert.equal(co.workerState('w1'), 'up');
  });

  test('a logged decision is re-sent to a worker that applied it but whose ack was lost', () => {
    const co = new Co({ last_cseq: 3, members: [{ id: 'w1', address: 'a:1' }], decisions: [{ txid: '1.3', cseq: 3, voters: ['w1'], at: 1 }] });
    co.linkUp('w1');
    const s = co.state('w1', 3, []);
    assert.deepEqual(sentTo(s, 'w1'), [{ type: 'commit', txid: '1.3', cseq: 3 }]);
    co.from('w1', ack('1.3', 'commit'));
    assert.equal(co.workerState('w1'), 'up');
  });

  test('a rejoining worker with a prepared txn and no decision is asked to prevent it (#13: no presumed abort; it was an abort)', () => {
    const co = new Co({ epoch: 2, last_cseq: 4, members: [{ id: 'w1', address: 'a:1' }] });
    co.linkUp('w1');
    const s = co.state('w1', 4, [preparedTxn('1.9', ['w1', 'w2'], 3)]);
    assert.deepEqual(sentTo(s, 'w1'), [{ type: 'prevent', txid: '1.9' }]);
    assert.deepEqual(ofType(s, 'send').filter((e) => e.msg.type === 'abort'), [], 'no abort is presumed');
  });

  test('a state older than the worker\'s own commit ack (a duplicated or overtaken line) does not make the commit wait on it again', () => {
    // Found by the simulator's weather (seed 1091): the commit waited on the worker again, its
    // decision was forgotten once the others acked, and txn.decision broke.
    const { co, txid, tweet } = clusterWithPost(['w1', 'w2', 'w3']);
    for (const w of ['w1', 'w2', 'w3']) co.from(w, yes(txid, [{ tweet }]));
    co.from('w1', { type: 'applied', txid });
    co.from('w1', ack(txid, 'commit'));
    co.linkDown('w1');
    co.linkUp('w1');
    assert.deepEqual(sentTo(co.state('w1', 0, [preparedTxn(txid, ['w1', 'w2', 'w3'], 1)]), 'w1'), [], 'nothing is owed to a worker that acknowledged the commit');
    co.from('w2', { type: 'applied', txid });
    assert.deepEqual(replies(co.from('w3', { type: 'applied', txid })), [{ conn: 7, slot: 1, reply: { status: 'OK', tweet: renderTweet(tweet) } }]);
    co.from('w2', ack(txid, 'commit'));
    assert.deepEqual(ofType(co.from('w3', ack(txid, 'commit')), 'forget_decision'), [{ type: 'forget_decision', txid }]);
  });

  test('status lists recovered, unacknowledged decisions as in doubt', () => {
    const co = new Co({ last_cseq: 2, members: [{ id: 'w1', address: 'a:1' }, { id: 'w2', address: 'b:2' }], decisions: [{ txid: '1.2', cseq: 2, voters: ['w1', 'w2'], at: DECIDED_AT }] });
    const d = only(co.status().in_doubt);
    assert.equal(d.txid, '1.2');
    assert.equal(d.state, 'committed');
    assert.deepEqual([...d.waiting_for].sort(), ['w1', 'w2']);
    assert.equal(d.age_ms, co.now - DECIDED_AT);
  });
});

describe('CoordinatorCore: queries from prepared workers', () => {
  test('query for an undecided in-flight txn gets no answer; once decided it gets commit', () => {
    const { co, txid, tweet } = clusterWithPost();
    co.from('w1', yes(txid, [{ tweet }]));
    assert.deepEqual(co.from('w1', { type: 'query', txid }), [], 'still preparing');
    co.from('w2', yes(txid, [{ tweet }]));
    // #13: decided at the last YES (its record is written in the background): a query hears commit at once.
    assert.deepEqual(sent(co.from('w1', { type: 'query', txid })), [{ worker: 'w1', msg: { type: 'commit', txid, cseq: 1 } }]);
  });

  test('query for an unknown txn gets no answer (#13: no presumed abort; the voters settle it, or it is adopted from their state)', () => {
    const co = new Co();
    co.addWorker('w1');
    assert.deepEqual(co.from('w1', { type: 'query', txid: '0.42' }), []);
  });

  test('query for a txn being aborted gets no answer (#13: only a commit is answered; the abort went to every linked voter when decided)', () => {
    const { co, txid } = clusterWithPost();
    assert.deepEqual(sentTo(co.from('w2', no(txid, 'LOCKED', 'x')), 'w1'), [{ type: 'abort', txid }]);
    assert.deepEqual(co.from('w1', { type: 'query', txid }), []);
  });
});

describe('CoordinatorCore: status', () => {
  test('lists the workers, the lock timeout and every in-doubt transaction with who it waits for', () => {
    const { co, txid, tweet } = clusterWithPost();
    const started = co.now;
    co.from('w1', yes(txid, [{ tweet }]));
    co.now = started + 1_234;
    const s = co.status();
    assert.equal(s.lock_timeout_s, 10);
    assert.deepEqual(s.workers, [
      { id: 'w1', address: addr('w1'), state: 'up', role: 'voter' },
      { id: 'w2', address: addr('w2'), state: 'up', role: 'voter' },
    ]);
    assert.deepEqual(s.in_doubt, [{ txid, state: 'preparing', age_ms: 1_234, waiting_for: ['w2'] }]);
    co.from('w2', yes(txid, [{ tweet }]));
    // #13: no logging phase: committing at the last YES, waiting for both to apply it.
    assert.deepEqual(co.status().in_doubt.map((d) => [d.state, [...d.waiting_for].sort()]), [['committing', ['w1', 'w2']]]);
  });
});

describe('CoordinatorCore: a new worker joining a cluster with data', () => {
  test('is joining (a learner), gets a full copy from a donor while writes go on (#12), is promoted, then is up', () => {
    // Rows of a copy carry the cursor after which the next page starts (the worker's business: opaque here).
    const rows = (ids: string[]): CopyRow[] => ids.map((id) => ({ c: `cursor-${id}`, s: 1, tweet: { id, username: 'u', content: id, created_at: 1, updated_at: null } }));
    const co = new Co({ last_cseq: 5, members: [{ id: 'w1', address: addr('w1') }] }, 2);
    co.linkUp('w1');
    co.state('w1', 5);
    assert.equal(co.workerState('w1'), 'up');

    co.register('w2');
    co.linkUp('w2');
    const s = co.state('w2', 0);
    assert.equal(co.workerState('w2'), 'joining');
    const read = only(sentTo(s, 'w1'));
    assert.equal(read.type, 'copy_read');
    if (read.type !== 'copy_read') return;
    assert.deepEqual({ after: read.after, limit: read.limit }, { after: null, limit: 2 });

    // #12: writes go on while it copies (they used to wait), with the voters alone; each commit is held for the learner.
    const write = co.req(7, 1, postReq('t9'));
    assert.deepEqual(sentTo(write, 'w2'), [], 'a learner does not vote');
    const p9 = prepareOf(write, 'w1');
    const t9 = tweetOf((p9.ops ?? [])[0] as Op);
    // Its only voter: one phase, answered at the YES.
    const y9 = co.from('w1', yes(p9.txid, [{ tweet: t9 }]));
    assert.deepEqual(sentTo(y9, 'w2'), [], 'held while the copy runs');
    assert.equal(only(replies(y9)).reply.status, 'OK');

    // Page 1: full page → install (reset) to the joiner, not done.
    const i1 = co.from('w1', { type: 'copy_page', rid: read.rid, rows: rows(['a', 'b']) });
    assert.deepEqual(sentTo(i1, 'w2'), [{ type: 'install', rid: read.rid, rows: rows(['a', 'b']), reset: true, done: false, max_cseq: 5, stream_seq: 0 }]);
    // Installed → the next page is read after the last id.
    const n = co.from('w2', { type: 'installed', rid: read.rid, done: false });
    const read2 = only(sentTo(n, 'w1'));
    assert.equal(read2.type, 'copy_read');
    if (read2.type !== 'copy_read') return;
    assert.deepEqual({ after: read2.after, limit: read2.limit }, { after: 'cursor-b', limit: 2 });
    assert.notEqual(read2.rid, read.rid);
    // Page 2: short page → install, done.
    const i2 = co.from('w1', { type: 'copy_page', rid: read2.rid, rows: rows(['c']) });
    assert.deepEqual(sentTo(i2, 'w2'), [{ type: 'install', rid: read2.rid, rows: rows(['c']), reset: false, done: true, max_cseq: 5, stream_seq: 0 }]);
    assert.equal(co.workerState('w2'), 'joining');
    // The copy is in: the commit held is sent, and the learner, near the stream's end, is promoted.
    const done = co.from('w2', { type: 'installed', rid: read2.rid, done: true });
    assert.deepEqual(sentTo(done, 'w2'), [{ type: 'replicate', seq: 1, txid: p9.txid, cseq: 6, ops: p9.ops ?? [] }]);
    assert.deepEqual(ofType(done, 'log_config'), [{ type: 'log_config', config: 2, voters: ['w1', 'w2'], catching_up: ['w2'] }]);
    assert.equal(co.workerState('w2'), 'joining');
    co.configDurable(2);
    assert.equal(co.workerState('w2'), 'joining', 'a voter now, and not up before it applied its stream');
    co.drive(co.from('w2', { type: 'replicated', seq: 1 }));
    assert.equal(co.workerState('w2'), 'up');
    // And writes now go to both.
    const p = co.req(7, 2, postReq('t10'));
    assert.equal(sentTo(p, 'w2').length, 1);
  });

  test('a donor that cannot read a page of the copy: said in the log; the joiner, making no progress, is cut off to start over', () => {
    const co = new Co({ last_cseq: 5, members: [{ id: 'w1', address: addr('w1') }] }, 2);
    co.linkUp('w1');
    co.state('w1', 5);
    co.register('w2');
    co.linkUp('w2');
    const read = only(sentTo(co.state('w2', 0), 'w1'));
    assert.equal(read.type, 'copy_read');
    const failed = co.from('w1', { type: 'read_failed', rid: read.type === 'copy_read' ? read.rid : 0, error: 'disk I/O error' });
    assert.ok(failed.some((e) => e.type === 'log' && e.level === 'warn' && e.msg === 'worker w1 could not read a page of the copy to w2: disk I/O error'), JSON.stringify(failed));
    assert.deepEqual(sent(failed), []);
    assert.equal(co.workerState('w2'), 'joining');
    const cut = co.tick(co.now + T + 1);
    assert.ok(cut.some((e) => e.type === 'unlink' && e.worker === 'w2'), 'the joiner is cut off');
    assert.ok(cut.some((e) => e.type === 'link' && e.worker === 'w2'), 'and dialled again');
  });

  test('a new worker joining a cluster with no data still copies (#12: it used to be up at once), then is up', () => {
    const co = new Co();
    co.addWorker('w1');
    co.register('w2');
    co.linkUp('w2');
    const s = co.state('w2', 0);
    assert.deepEqual(sent(s).map((x) => `${x.worker}:${x.msg.type}`), ['w1:copy_read']);
    assert.equal(co.workerState('w2'), 'joining');
    co.drive(s);
    assert.equal(co.workerState('w2'), 'up');
  });

  test('the copy starts while a commit is being decided (#12: it used to wait); that commit reaches the learner in its stream', () => {
    // Two voters: a commit of one voter is finished at its YES, never "being decided" (DECISIONS 66).
    const { co, txid, tweet } = clusterWithPost(['w1', 'w2']);
    for (const w of ['w1', 'w2']) co.from(w, yes(txid, [{ tweet }]));
    co.register('w3');
    co.linkUp('w3');
    const read = only(sent(co.state('w3', 0)));
    assert.equal(read.msg.type, 'copy_read');
    const donor = read.worker;
    co.from('w2', ack(txid, 'commit'));
    const e = co.from('w1', ack(txid, 'commit'));
    assert.equal(only(replies(e)).reply.status, 'OK');
    assert.deepEqual(sent(e), []);
    assert.equal(co.workerState('w3'), 'joining');
    const rid = read.msg.type === 'copy_read' ? read.msg.rid : 0;
    // Its copy may have been read before the commit was applied: every commit after 0 comes in its stream.
    assert.deepEqual(sentTo(co.from(donor, { type: 'copy_page', rid, rows: [] }), 'w3'), [{ type: 'install', rid, rows: [], reset: true, done: true, max_cseq: 0, stream_seq: 0 }]);
    const done = co.from('w3', { type: 'installed', rid, done: true });
    assert.deepEqual(sentTo(done, 'w3'), [{ type: 'replicate', seq: 1, txid, cseq: 1, ops: [{ kind: 'post', tweet }] }]);
  });

  test('if the donor goes down mid-copy the joiner starts over with another donor', () => {
    const co = new Co({ last_cseq: 5, members: [{ id: 'w1', address: addr('w1') }, { id: 'w2', address: addr('w2') }] }, 2);
    for (const w of ['w1', 'w2']) {
      co.linkUp(w);
      co.state(w, 5);
    }
    co.register('w3');
    co.linkUp('w3');
    const s = co.state('w3', 0);
    const first = only(sent(s));
    const other = first.worker === 'w1' ? 'w2' : 'w1';
    const e = co.linkDown(first.worker);
    const again = only(sent(e));
    assert.equal(again.worker, other);
    assert.deepEqual(again.msg.type === 'copy_read' ? { after: again.msg.after, limit: again.msg.limit } : null, { after: null, limit: 2 });
  });

  test(
    'a worker registering while a transaction is in flight does not become up without that transaction\'s data',
    () => {
      const { co, txid, tweet } = clusterWithPost(['w1']);
      co.register('w2');
      co.linkUp('w2');
      const fx: CoordinatorEffect[] = [...co.state('w2', 0)];
      // Its only voter: one phase, finished at this YES (no ack follows).
      fx.push(...co.from('w1', yes(txid, [{ tweet }])));
      assert.equal(co.status().counters.last_cseq, 1);
      const gotCommit = sentTo(fx, 'w2').some((m) => m.type === 'commit');
      const copyStarted = sent(fx).some((s) => s.msg.type === 'copy_read');
      assert.ok(gotCommit || copyStarted || co.workerState('w2') !== 'up', 'w2 is up without the committed post');
    },
  );

  test(
    'a voter replaced by a new identity while a commit waits for its ack does not leave the client hanging',
    () => {
      const { co, txid, tweet } = clusterWithPost();
      co.from('w1', yes(txid, [{ tweet }]));
      co.from('w2', yes(txid, [{ tweet }]));
      co.from('w1', ack(txid, 'commit'));
      // w2's process comes back with a new data directory (new identity) at the same address.
      const fx: CoordinatorEffect[] = [...co.register('w2-new', addr('w2'))];
      fx.push(...co.tick(co.now + T));
      fx.push(...co.tick(co.now + 2 * T));
      const r = replies(fx).filter((x) => x.conn === 7);
      assert.equal(r.length, 1, 'the client gets its answer');
      assert.equal(r[0]?.reply.status, 'OK');
    },
  );
});

/**
 * One worker's get_tweets line, read (slot 1) and kept: asked again (slot 2), it is answered with no
 * worker asked. Returns the asker of that same page (conn 9), for the slots that follow.
 */
function keptPage(co: Co): (slot: number) => CoordinatorEffect[] {
  const ask = (slot: number): CoordinatorEffect[] => co.req(9, slot, { action: 'get_tweets', limit: 2, before: null, username: null });
  const first = only(sentTo(ask(1), 'w1'));
  assert.ok(first.type === 'read', 'expected a read');
  co.from('w1', { type: 'read_text', rid: first.rid, text: '{"status":"OK","tweets":[],"next":null}' });
  assert.equal(ofType(ask(2), 'reply_text').length, 1, 'kept');
  return ask;
}

describe('CoordinatorCore: reads', () => {
  test('get_tweet is served by an up worker from committed data', () => {
    const co = new Co();
    co.addWorker('w1');
    const e = co.req(7, 1, { action: 'get_tweet', id: 't1' });
    const m = only(sentTo(e, 'w1'));
    assert.equal(m.type, 'read');
    if (m.type !== 'read') return;
    assert.deepEqual(m.query, { kind: 'get_tweet', id: 't1' });
    const t: Tweet = { id: 't1', username: 'a', content: 'c', created_at: 0, updated_at: null };
    assert.deepEqual(only(replies(co.from('w1', { type: 'read_result', rid: m.rid, result: { tweet: t } }))).reply, { status: 'OK', tweet: renderTweet(t) });
    const e2 = co.req(7, 2, { action: 'get_tweet', id: 'nope' });
    const m2 = only(sentTo(e2, 'w1'));
    const r2 = only(replies(co.from('w1', { type: 'read_result', rid: m2.type === 'read' ? m2.rid : -1, result: { tweet: null } }))).reply;
    assert.equal(field(r2, 'code'), 'NOT_FOUND');
  });

  test('get_tweets asks for one extra row to know whether there is a next page', () => {
    const co = new Co();
    co.addWorker('w1');
    const e = co.req(7, 1, { action: 'get_tweets', limit: 2, before: null, username: null });
    const m = only(sentTo(e, 'w1'));
    if (m.type !== 'read') return assert.fail('expected a read');
    assert.deepEqual(m.query, { kind: 'get_tweets', limit: 3, before: null, username: null });
    const rows: Tweet[] = [3, 2, 1].map((n) => ({ id: `t${n}`, username: 'a', content: 'c', created_at: n, updated_at: null }));
    const r = only(replies(co.from('w1', { type: 'read_result', rid: m.rid, result: { tweets: rows } }))).reply;
    assert.deepEqual(r, { status: 'OK', tweets: rows.slice(0, 2).map(renderTweet), next: encodeCursor({ created_at: 2, id: 't2' }) });
    const e2 = co.req(7, 2, { action: 'get_tweets', limit: 2, before: null, username: null });
    const m2 = only(sentTo(e2, 'w1'));
    const last = only(replies(co.from('w1', { type: 'read_result', rid: m2.type === 'read' ? m2.rid : -1, result: { tweets: rows.slice(0, 2) } }))).reply;
    assert.equal(field(last, 'next'), null);
  });

  test('get_tweets with no commit being applied is answered with the worker\'s reply line, passed on as it is', () => {
    const co = new Co();
    co.addWorker('w1');
    const m = only(sentTo(co.req(7, 1, { action: 'get_tweets', limit: 2, before: null, username: null }), 'w1'));
    if (m.type !== 'read') return assert.fail('expected a read');
    assert.equal(m.reply_text, true, 'the worker is asked for the line itself');
    const text = '{"status":"OK","tweets":[],"next":null}';
    const e = co.from('w1', { type: 'read_text', rid: m.rid, text });
    assert.deepEqual(ofType(e, 'reply_text'), [{ type: 'reply_text', conn: 7, slot: 1, text }]);
    assert.equal(co.status().counters.reads, 1);
    assert.deepEqual(ofType(co.from('w1', { type: 'read_text', rid: m.rid, text }), 'reply_text'), [], 'a repeated answer answers nothing');
  });

  test('the same get_tweets again, with no transaction prepared or decided since and none in flight, is answered from the last line without a worker', () => {
    const co = new Co();
    co.addWorker('w1');
    co.addWorker('w2');
    const ask = (slot: number): CoordinatorEffect[] => co.req(9, slot, { action: 'get_tweets', limit: 2, before: null, username: 'alice' });
    const first = only(sent(ask(1)));
    if (first.msg.type !== 'read') return assert.fail('expected a read');
    const text = '{"status":"OK","tweets":[],"next":null}';
    co.from(first.worker, { type: 'read_text', rid: first.msg.rid, text });
    const again = ask(2);
    assert.deepEqual(sent(again), [], 'no worker is asked');
    assert.deepEqual(ofType(again, 'reply_text'), [{ type: 'reply_text', conn: 9, slot: 2, text }]);
    assert.equal(sent(co.req(9, 3, { action: 'get_tweets', limit: 3, before: null, username: 'alice' })).length, 1, 'another page size is another query');
  });

  test('a page read while a transaction past its prepare is in flight is passed on, but not kept (its voters may commit it without this coordinator)', () => {
    const { co, txid } = clusterWithPost();
    const ask = (slot: number): CoordinatorEffect[] => co.req(9, slot, { action: 'get_tweets', limit: 2, before: null, username: null });
    const first = only(sent(ask(1)));
    if (first.msg.type !== 'read') return assert.fail('expected a read');
    assert.equal(first.msg.reply_text, true, 'nothing decided to lay over the rows: the worker\'s line is asked for');
    const text = '{"status":"OK","tweets":[],"next":null}';
    assert.deepEqual(ofType(co.from(first.worker, { type: 'read_text', rid: first.msg.rid, text }), 'reply_text'), [{ type: 'reply_text', conn: 9, slot: 1, text }]);
    assert.equal(sent(ask(2)).length, 1, 'not kept: read again from a worker');
    // Refused (aborted): nothing past its prepare in flight any more, so a line read now is kept.
    co.from('w1', no(txid, 'LOCKED', 'x'));
    const now = only(sent(ask(3)));
    if (now.msg.type !== 'read') return assert.fail('expected a read');
    co.from(now.worker, { type: 'read_text', rid: now.msg.rid, text });
    assert.deepEqual(sent(ask(4)), [], 'a line read with nothing in flight is kept');
  });

  test('a line read before a prepare went out, answered after it (even once it is refused), is passed on, but not kept', () => {
    const co = new Co();
    co.addWorker('w1');
    co.addWorker('w2');
    const ask = (slot: number): CoordinatorEffect[] => co.req(9, slot, { action: 'get_tweets', limit: 2, before: null, username: null });
    const first = only(sent(ask(1)));
    if (first.msg.type !== 'read') return assert.fail('expected a read');
    const p = prepareOf(co.req(7, 1, postReq('t9')), 'w1');
    co.from('w1', no(p.txid, 'LOCKED', 'x'));
    const text = '{"status":"OK","tweets":[],"next":null}';
    assert.equal(ofType(co.from(first.worker, { type: 'read_text', rid: first.msg.rid, text }), 'reply_text').length, 1);
    assert.equal(sent(ask(2)).length, 1, 'read again from a worker');
  });

  test('a prepare going out clears the kept pages, even before anything is decided (a sole voter commits before the coordinator hears of it)', () => {
    const co = new Co();
    co.addWorker('w1');
    const ask = keptPage(co);
    const p = prepareOf(co.req(7, 1, postReq('t9')), 'w1');
    // Refused at once, so nothing is decided or in flight by the next read: only the prepare cleared the page.
    co.from('w1', no(p.txid, 'LOCKED', 'x'));
    co.from('w1', ack(p.txid, 'abort'));
    assert.equal(co.status().counters.open_transactions, 0);
    const after = only(sentTo(ask(3), 'w1'));
    assert.equal(after.type === 'read' ? after.reply_text : null, true, 'read again from the worker');
  });

  test('with no worker up, a kept page is not served either: the read is UNAVAILABLE like any other', () => {
    const co = new Co();
    co.addWorker('w1');
    const ask = keptPage(co);
    co.linkDown('w1');
    assert.equal(field(only(replies(ask(3))).reply, 'code'), 'UNAVAILABLE');
  });

  test('a line that arrives after a commit was decided is passed on, but not kept', () => {
    const co = new Co();
    co.addWorker('w1');
    const ask = (slot: number): CoordinatorEffect[] => co.req(9, slot, { action: 'get_tweets', limit: 2, before: null, username: null });
    const first = only(sentTo(ask(1), 'w1'));
    if (first.type !== 'read') return assert.fail('expected a read');
    const p = prepareOf(co.req(7, 1, postReq('t9')), 'w1');
    co.from('w1', yes(p.txid, [{ tweet: tweetOf((p.ops ?? [])[0] as Op) }]));
    co.from('w1', { type: 'applied', txid: p.txid });
    const text = '{"status":"OK","tweets":[],"next":null}';
    assert.equal(ofType(co.from('w1', { type: 'read_text', rid: first.rid, text }), 'reply_text').length, 1);
    assert.equal(sentTo(ask(2), 'w1').length, 1, 'read again from a worker');
  });

  test('get_tweets while a commit is being applied asks for rows, to lay the commit over them', () => {
    const { co, txid, tweet } = clusterWithPost();
    co.from('w1', yes(txid, [{ tweet }]));
    co.from('w2', yes(txid, [{ tweet }]));
    const out = only(sent(co.req(8, 1, { action: 'get_tweets', limit: 2, before: null, username: null })));
    const m = out.msg;
    if (m.type !== 'read') return assert.fail('expected a read');
    assert.equal(m.reply_text, undefined);
    const r = only(replies(co.from(out.worker, { type: 'read_result', rid: m.rid, result: { tweets: [] } }))).reply;
    assert.deepEqual(field(r, 'tweets'), [renderTweet(tweet)], 'the committing post shows though the worker has not applied it yet');
  });

  test('no up worker → ERROR UNAVAILABLE; a read whose worker goes down is retried on another', () => {
    const co = new Co();
    assert.equal(field(only(replies(co.req(7, 1, { action: 'get_tweet', id: 'x' }))).reply, 'code'), 'UNAVAILABLE');
    co.addWorker('w1');
    co.addWorker('w2');
    const e = co.req(7, 2, { action: 'get_tweet', id: 'x' });
    const first = only(sent(e));
    const retry = only(sent(co.linkDown(first.worker)));
    assert.notEqual(retry.worker, first.worker);
    assert.deepEqual(retry.msg.type === 'read' ? retry.msg.query : null, { kind: 'get_tweet', id: 'x' });
    // The last one goes down too: the client hears UNAVAILABLE.
    const r = only(replies(co.linkDown(retry.worker))).reply;
    assert.equal(field(r, 'code'), 'UNAVAILABLE');
  });
});

describe('CoordinatorCore: the change feed', () => {
  const pushes = (e: CoordinatorEffect[]): { conn: number; event: string; seq: number }[] =>
    e.flatMap((x) => (x.type === 'push' ? [{ conn: x.conn, event: x.line.event, seq: x.line.seq }] : []));
  /** Runs a committed one-shot write through both workers and returns the effects of its last ack. */
  function commit(co: Co, slot: number, request: ClientRequest): CoordinatorEffect[] {
    const p = prepareOf(co.req(7, slot, request), 'w1');
    const results = (p.ops ?? []).map((op): OpResult => (op.kind === 'post' ? { tweet: op.tweet } : op.kind === 'put_item' ? { item: op.item } : {}));
    co.from('w1', yes(p.txid, results));
    co.from('w2', yes(p.txid, results));
    co.from('w1', ack(p.txid, 'commit'));
    return co.from('w2', ack(p.txid, 'commit'));
  }

  test('a subscriber gets each committed tweet change once it is applied, with its seq; items are never published', () => {
    const co = new Co();
    co.addWorker('w1');
    co.addWorker('w2');
    const sub = only(replies(co.req(50, 0, { action: 'subscribe', since: null })));
    assert.deepEqual(sub.reply, { status: 'OK', seq: 0, replayed: 0, gap: false });
    const e = commit(co, 1, postReq('t1'));
    assert.deepEqual(pushes(e), [{ conn: 50, event: 'tweet.created', seq: 1 }]);
    const item = commit(co, 2, { action: 'put_item', item: { kind: 'user', key: 'ada', value: {} }, if_absent: true });
    assert.deepEqual(pushes(item), []);
    // A second subscriber resuming after seq 0 gets seq 1 replayed; one resuming after 1 gets nothing.
    const late = co.req(51, 0, { action: 'subscribe', since: 0 });
    assert.deepEqual(only(replies(late)).reply, { status: 'OK', seq: 2, replayed: 1, gap: false });
    assert.deepEqual(pushes(late), [{ conn: 51, event: 'tweet.created', seq: 1 }]);
    assert.deepEqual(pushes(co.req(52, 0, { action: 'subscribe', since: 1 })), []);
    // A closed connection is no longer fed.
    co.ev({ type: 'conn_closed', conn: 50 });
    assert.deepEqual(
      pushes(commit(co, 3, postReq('t2'))).map((p) => p.conn).sort(),
      [51, 52],
    );
  });

  test('an aborted write publishes nothing', () => {
    const co = new Co();
    co.addWorker('w1');
    co.addWorker('w2');
    co.req(50, 0, { action: 'subscribe', since: null });
    const p = prepareOf(co.req(7, 1, postReq('t1')), 'w1');
    const e = co.from('w1', { type: 'vote', txid: p.txid, yes: false, code: 'EXISTS', error: 'x' });
    assert.deepEqual(pushes([...e, ...co.from('w2', ack(p.txid, 'abort')), ...co.from('w1', ack(p.txid, 'abort'))]), []);
  });

  test('a subscriber resuming from before the oldest kept event is told there is a gap', () => {
    const co = new Co({ last_cseq: 500 });
    co.addWorker('w1', 500);
    co.addWorker('w2', 500);
    const r = only(replies(co.req(50, 0, { action: 'subscribe', since: 10 })));
    assert.equal(field(r.reply, 'gap'), true);
  });
});
