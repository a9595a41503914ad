// #13 item 5, the fewest bytes per commit: what a commit says on the wire and no more, with the
// protocol's guarantees unchanged. Both cores driven by hand.
// - voter addresses are said once per link: a prepare names voters by id, with the addresses its
//   link was not told yet; the worker keeps them in a book for the link's life;
// - results from one voter: the first of the prepare's voters sends its results with its YES, the
//   others a digest of theirs, which the coordinator compares;
// - a new post's result is said as {as_posted: true}: the coordinator has the tweet its op posted.

import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { probeHits, resetProbes } from '../../src/core/probes.ts';
import { renderTweet } from '../../src/core/render.ts';
import { resultsDigest } from '../../src/core/results-digest.ts';
import type { FromWorker, Op, OpResult, Tweet } from '../../src/core/types.ts';
import type { WorkerEffect } from '../../src/core/worker.ts';
import { CORE_LIMITS } from '../../src/wire/limits.ts';
import { parseFromWorker, parseToWorker } from '../../src/wire/node-messages.ts';
import { Co, addr, ofType, prepareOf, postReq, replies, tweetOf, yes } from '../helpers/coordinator-core.ts';
import { Harness, PAIR, SOLO, W1, W2, named, persists, post, rec, sends, tw } from '../helpers/worker-core.ts';

// ---------------------------------------------------------------------------
// Voter addresses: once per link

describe('coordinator: voter addresses are said once per link', () => {
  test('the first prepare on a link carries the other voters\' addresses (not the worker\'s own); the next carries ids only', () => {
    const co = new Co();
    for (const w of ['w1', 'w2', 'w3']) co.addWorker(w);
    const first = co.req(7, 1, postReq('t1'));
    assert.deepEqual(prepareOf(first, 'w1').voters, ['w1', 'w2', 'w3']);
    assert.deepEqual(prepareOf(first, 'w1').addresses, [{ id: 'w2', address: addr('w2') }, { id: 'w3', address: addr('w3') }]);
    assert.deepEqual(prepareOf(first, 'w3').addresses, [{ id: 'w1', address: addr('w1') }, { id: 'w2', address: addr('w2') }]);
    const second = co.req(7, 2, postReq('t2'));
    for (const w of ['w1', 'w2', 'w3']) {
      const p = prepareOf(second, w);
      assert.deepEqual([p.voters, 'addresses' in p], [['w1', 'w2', 'w3'], false], `${w}: ids only`);
      assert.ok(parseToWorker(JSON.parse(JSON.stringify(p))).ok, 'a prepare with ids only passes its schema');
    }
  });

  test('after a relink the link is told every address again; the other links are not', () => {
    const co = new Co();
    for (const w of ['w1', 'w2']) co.addWorker(w);
    co.req(7, 1, postReq('t1'));
    co.linkDown('w2');
    co.linkUp('w2');
    co.drive(co.state('w2'));
    assert.equal(co.workerState('w2'), 'up');
    const again = co.req(7, 2, postReq('t2'));
    assert.deepEqual(prepareOf(again, 'w2').addresses, [{ id: 'w1', address: addr('w1') }], 'a new link starts with an empty book');
    assert.equal(prepareOf(again, 'w1').addresses, undefined, 'w1\'s link was told already');
  });

  test('a voter that moved (same id, new address) is told again on every link', () => {
    const co = new Co();
    for (const w of ['w1', 'w2']) co.addWorker(w);
    co.req(7, 1, postReq('t1'));
    // w2 comes back from another address: the member takes it once the old link is quiet.
    co.linkDown('w2');
    co.register('w2', '127.0.0.1:7777');
    co.linkUp('w2');
    co.drive(co.state('w2'));
    const again = co.req(7, 2, postReq('t2'));
    assert.deepEqual(prepareOf(again, 'w1').addresses, [{ id: 'w2', address: '127.0.0.1:7777' }]);
  });
});

describe('worker: the per-link address book', () => {
  const ids = PAIR.map((p) => p.id);
  const prepare = (txid: string, cseq: number, told: boolean): Parameters<Harness['msg']>[0] => ({ type: 'prepare', txid, ops: [post(tw(txid))], ...(told ? named([W2]) : {}), voters: ids, config: 1, floor: 0, cseq });
  const recordOf = (e: WorkerEffect[]): unknown => e.flatMap((x) => (x.type === 'persist_prepared' ? [x.peers] : []));

  test('a prepare with ids only takes the addresses its link was told: the prepared record has full peers', () => {
    const h = new Harness();
    assert.deepEqual(recordOf(h.msg(prepare('a', 1, true))), [[W2]]);
    assert.deepEqual(recordOf(h.msg(prepare('b', 2, false))), [[W2]], 'the record names the peer with its address, from the book');
  });

  test('a prepare naming a voter whose address the link was never told changes nothing: the shell is asked to close the link', () => {
    const h = new Harness();
    resetProbes();
    const e = h.msg(prepare('a', 1, false));
    assert.deepEqual(e.map((x) => x.type), ['bad_message']);
    assert.match(e[0]?.type === 'bad_message' ? e[0].why : '', /prepare a names voter w2, whose address this link was never told/);
    assert.equal(probeHits().get('worker.prepare_unknown_voter'), 1);
    assert.equal(h.core.txnCount, 0, 'no transaction');
    assert.equal(h.core.lockCount, 0, 'no lock');
    assert.equal(h.store.outcomeOf('a'), null, 'no tombstone: it may be prepared again on the next link');
    // The next link is told again, and the same transaction prepares.
    h.linkDown();
    const e2 = h.msg(prepare('a', 1, true));
    assert.deepEqual(persists(e2).map((x) => x.type), ['persist_prepared']);
  });

  test('a prepare naming one unknown voter does not keep the addresses it did carry', () => {
    const h = new Harness();
    const three = { type: 'prepare' as const, txid: 'a', ops: [post(tw('a'))], voters: ['w1', 'w2', 'w3'], addresses: [W2], config: 1, floor: 0, cseq: 1 };
    assert.deepEqual(h.msg(three).map((x) => x.type), ['bad_message']);
    assert.deepEqual(h.msg(prepare('b', 2, false)).map((x) => x.type), ['bad_message'], 'w2 was not kept either');
  });

  test('the book is emptied when the link goes down: the next link must be told again', () => {
    const h = new Harness();
    h.msg(prepare('a', 1, true));
    h.linkDown();
    const e = h.msg(prepare('b', 2, false));
    assert.deepEqual(e.map((x) => x.type), ['bad_message']);
    assert.deepEqual(sends(e), [], 'no vote: nothing was decided');
  });

  test('the book keeps at most the member limit of addresses: one past it is used for its prepare, not kept (the coordinator says it every time)', () => {
    const h = new Harness();
    const at = (i: number): { id: string; address: string } => ({ id: `w${i}`, address: `10.0.1.${i}:1` });
    const others = Array.from({ length: CORE_LIMITS.maxWorkers - 1 }, (_, i) => at(i + 2));
    const prep = (txid: string, cseq: number, voters: string[], addresses: { id: string; address: string }[]): Parameters<Harness['msg']>[0] => ({ type: 'prepare', txid, ops: [post(tw(txid))], voters: ['w1', ...voters], ...(addresses.length > 0 ? { addresses } : {}), config: 1, floor: 0, cseq });
    h.msg(prep('a', 1, others.map((p) => p.id), others)); // 31 kept
    h.msg(prep('b', 2, ['w40'], [at(40)])); // the 32nd: kept
    const full = h.msg(prep('c', 3, ['w41'], [at(41)]));
    assert.deepEqual(recordOf(full), [[at(41)]], 'past the limit: used for its own prepare');
    assert.deepEqual(h.msg(prep('d', 4, ['w41'], [])).map((x) => x.type), ['bad_message'], 'and not kept');
    assert.deepEqual(recordOf(h.msg(prep('e', 5, ['w40', 'w2'], []))), [[at(40), at(2)]], 'what was kept still serves');
  });

  test('a voter is never told its own address: it needs none', () => {
    const h = new Harness();
    const e = h.msg({ type: 'prepare', txid: 'a', ops: [post(tw('a'))], voters: [W1.id], config: 1, floor: 0, cseq: 1 });
    assert.deepEqual(persists(e).map((x) => x.type), ['persist_prepared'], 'a sole voter, named by id: one phase');
  });
});

// ---------------------------------------------------------------------------
// Results from one voter

describe('the results digest', () => {
  test('is FNV-1a 64 of the results\' JSON, 16 hex digits', () => {
    // The reference vectors of FNV-1a 64: "" and "a" (the results' JSON is hashed as it is sent).
    const fnv = (text: string): string => {
      let h = 0xcbf29ce484222325n;
      for (let i = 0; i < text.length; i++) h = ((h ^ BigInt(text.charCodeAt(i))) * 0x100000001b3n) & 0xffffffffffffffffn;
      return h.toString(16).padStart(16, '0');
    };
    assert.equal(fnv(''), 'cbf29ce484222325');
    assert.equal(fnv('a'), 'af63dc4c8601ec8c');
    for (const r of [[], [{}], [{ tweet: tw('t1') }], [{ tweet: { ...tw('t2'), content: 'héllo 👋 #tag' } }, {}, { item: { kind: 'user', key: 'ada', value: { a: [1, null] } } }]] as OpResult[][]) {
      assert.equal(resultsDigest(r), fnv(JSON.stringify(r)));
    }
    assert.notEqual(resultsDigest([{ tweet: tw('t1') }]), resultsDigest([{ tweet: tw('t1', 'alice', 'hellp') }]));
  });
});

describe('worker: only the first voter sends the results', () => {
  const w1Second = [W2, W1];
  const voteOf = (h: Harness, txid: string, voters: typeof PAIR): FromWorker => {
    const votes = h.prepared(txid, [post(tw(txid))], 0, voters);
    assert.equal(votes.length, 1);
    return votes[0] as FromWorker;
  };

  test('the first voter\'s YES carries its results; another\'s carries their digest and no results', () => {
    assert.deepEqual(voteOf(new Harness(), 'a', PAIR), { type: 'vote', txid: 'a', yes: true, results: [{ as_posted: true }] });
    const other = voteOf(new Harness(), 'b', w1Second);
    assert.deepEqual(other, { type: 'vote', txid: 'b', yes: true, digest: resultsDigest([{ tweet: tw('b') }]) });
    assert.ok(parseFromWorker({ ...other, txid: '1.1' }).ok, 'a YES with a digest passes its schema');
    assert.ok(JSON.stringify(other).length < 80, `a YES with a digest is short: ${JSON.stringify(other)}`);
  });

  test('a sole voter always sends its results (one phase)', () => {
    const h = new Harness();
    const e = h.msg(h.prepare('a', [post(tw('a'))], SOLO));
    assert.deepEqual(sends(h.durable(e)).filter((m) => m.type === 'vote'), [{ type: 'vote', txid: 'a', yes: true, results: [{ as_posted: true }] }]);
  });

  test('a repeated prepare is answered as the first: a digest from a voter that is not first', () => {
    const h = new Harness();
    voteOf(h, 'a', w1Second);
    const again = sends(h.msg(h.prepare('a', [post(tw('a'))], w1Second)));
    assert.deepEqual(again, [{ type: 'vote', txid: 'a', yes: true, digest: resultsDigest([{ tweet: tw('a') }]) }]);
  });

  test('the answer to prevent carries the results and the ops, whatever the voter\'s place', () => {
    const h = new Harness();
    voteOf(h, 'a', w1Second);
    assert.deepEqual(sends(h.msg({ type: 'prevent', txid: 'a' })), [{ type: 'vote', txid: 'a', yes: true, results: [{ tweet: tw('a') }], ops: [post(tw('a'))] }]);
  });

  test('a prepared record recovered after a restart does not know its place: its YES carries the results', () => {
    const results: OpResult[] = [{ tweet: tw('a') }];
    const h = new Harness({ prepared: [{ ...rec('a', [post(tw('a'))], [W2], 1), results }] });
    assert.deepEqual(sends(h.msg(h.prepare('a', [post(tw('a'))], w1Second))), [{ type: 'vote', txid: 'a', yes: true, results }]);
  });
});

describe('coordinator: results from the first voter, digests from the others', () => {
  function posted(ids: string[]): { co: Co; txid: string; tweet: Tweet } {
    const co = new Co();
    for (const w of ids) co.addWorker(w);
    const p = prepareOf(co.req(7, 1, postReq('t1')), ids[0] as string);
    return { co, txid: p.txid, tweet: tweetOf((p.ops ?? [])[0] as Op) };
  }
  const digestYes = (txid: string, results: OpResult[]): FromWorker => ({ type: 'vote', txid, yes: true, digest: resultsDigest(results) });
  const commitAndReply = (co: Co, txid: string, ids: string[]): unknown => {
    let reply: unknown = null;
    for (const w of ids) for (const r of replies(co.from(w, { type: 'ack', txid, outcome: 'commit' }))) reply = r.reply;
    return reply;
  };

  for (const order of [['w1', 'w2'], ['w2', 'w1']]) {
    test(`the client gets the same results with the digest's YES ${order[0] === 'w2' ? 'first' : 'last'}`, () => {
      const { co, txid, tweet } = posted(['w1', 'w2']);
      const results: OpResult[] = [{ tweet }];
      const logs: unknown[] = [];
      for (const w of order) logs.push(...ofType(co.from(w, w === 'w1' ? yes(txid, results) : digestYes(txid, results)), 'log').filter((l) => l.level === 'error'));
      assert.deepEqual(logs, [], 'equal results: nothing logged');
      assert.deepEqual(commitAndReply(co, txid, ['w1', 'w2']), { status: 'OK', tweet: renderTweet(tweet) });
    });
  }

  test('a digest that differs from the results, or from another digest, is logged as an error; the client still gets the first voter\'s results', () => {
    const { co, txid, tweet } = posted(['w1', 'w2', 'w3']);
    const results: OpResult[] = [{ tweet }];
    const otherTweet: Tweet = { ...tweet, content: 'something else' };
    const other: OpResult[] = [{ tweet: otherTweet }];
    const errors = (e: ReturnType<Co['from']>): string[] => ofType(e, 'log').filter((l) => l.level === 'error').map((l) => l.msg);
    assert.deepEqual(errors(co.from('w2', digestYes(txid, results))), []);
    assert.deepEqual(errors(co.from('w3', digestYes(txid, other))), ['workers computed different results for one transaction'], 'two digests differ');
    assert.deepEqual(errors(co.from('w1', yes(txid, other))), ['workers computed different results for one transaction'], 'the results differ from the first digest');
    assert.deepEqual(commitAndReply(co, txid, ['w1', 'w2', 'w3']), { status: 'OK', tweet: renderTweet(otherTweet) });
  });

  test('the results arriving after a differing digest are logged too', () => {
    const { co, txid, tweet } = posted(['w1', 'w2']);
    const errors = (e: ReturnType<Co['from']>): string[] => ofType(e, 'log').filter((l) => l.level === 'error').map((l) => l.msg);
    assert.deepEqual(errors(co.from('w2', digestYes(txid, [{ tweet: { ...tweet, content: 'x' } }]))), []);
    assert.deepEqual(errors(co.from('w1', yes(txid, [{ tweet }]))), ['workers computed different results for one transaction']);
  });

  test('a restarted voter\'s YES with no results is not compared, and does not replace the results', () => {
    const { co, txid, tweet } = posted(['w1', 'w2']);
    const errors = (e: ReturnType<Co['from']>): string[] => ofType(e, 'log').filter((l) => l.level === 'error').map((l) => l.msg);
    assert.deepEqual(errors(co.from('w2', yes(txid, []))), []);
    assert.deepEqual(errors(co.from('w1', yes(txid, [{ tweet }]))), []);
    assert.deepEqual(commitAndReply(co, txid, ['w1', 'w2']), { status: 'OK', tweet: renderTweet(tweet) });
  });
});

// ---------------------------------------------------------------------------
// A post's result: the tweet its op posted, which the coordinator has

describe('a new post\'s result is said as the tweet its op posted', () => {
  test('worker: a new post\'s result is {as_posted: true}; a retried post\'s (the stored tweet) and an update\'s are sent whole', () => {
    const stored = tw('t1', 'alice', 'hello', 500);
    const h = new Harness({}, [stored]);
    const retried = { ...stored, created_at: 900 }; // the same post again: the answer is what is stored
    const votes = h.prepared('1.1', [post(tw('t2')), post(retried), { kind: 'update', id: 't1', content: 'v2', username: null, at: 3_000 }]);
    assert.deepEqual(votes, [{ type: 'vote', txid: '1.1', yes: true, results: [{ as_posted: true }, { tweet: stored }, { tweet: { ...stored, content: 'v2', updated_at: 3_000 } }] }]);
    assert.ok(parseFromWorker(JSON.parse(JSON.stringify(votes[0]))).ok, 'it passes its schema');
  });

  test('coordinator: the client gets the tweet the op posted; a digest of the whole results matches', () => {
    const co = new Co();
    for (const w of ['w1', 'w2']) co.addWorker(w);
    const p = prepareOf(co.req(7, 1, postReq('t1')), 'w1');
    const tweet = tweetOf((p.ops ?? [])[0] as Op);
    const errors = (e: ReturnType<Co['from']>): string[] => ofType(e, 'log').filter((l) => l.level === 'error').map((l) => l.msg);
    assert.deepEqual(errors(co.from('w2', { type: 'vote', txid: p.txid, yes: true, digest: resultsDigest([{ tweet }]) })), []);
    assert.deepEqual(errors(co.from('w1', { type: 'vote', txid: p.txid, yes: true, results: [{ as_posted: true }] })), [], 'the tweet put back is the one the digest was made of');
    let reply: unknown = null;
    for (const w of ['w1', 'w2']) for (const r of replies(co.from(w, { type: 'ack', txid: p.txid, outcome: 'commit' }))) reply = r.reply;
    assert.deepEqual(reply, { status: 'OK', tweet: renderTweet(tweet) });
  });

  test('coordinator: {as_posted: true} for an op that is not a post is logged, and its results are not used', () => {
    const co = new Co();
    co.addWorker('w1');
    const p = prepareOf(co.req(7, 1, { action: 'delete', tweet: { id: 't1', username: null } }), 'w1');
    const e = co.from('w1', { type: 'vote', txid: p.txid, yes: true, results: [{ as_posted: true }] });
    assert.deepEqual(ofType(e, 'log').filter((l) => l.level === 'error').map((l) => l.msg), ['a worker answered a post by its op, and the op is not known here']);
  });
});
