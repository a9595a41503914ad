// #13 item 5, the fewest bytes per commit: what a commit says on the wire and no more, with the
// protocol's guarantees unchanged. Both cores driven by hand.
// - voter addresses are said once per link: a prepare names voters by id, with the addresses its
//   link was not told yet; the worker keeps them in a book for the link's life.

import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { probeHits, resetProbes } from '../../src/core/probes.ts';
import type { WorkerEffect } from '../../src/core/worker.ts';
import { parseToWorker } from '../../src/wire/node-messages.ts';
import { Co, addr, prepareOf, postReq } from '../helpers/coordinator-core.ts';
import { Harness, PAIR, W1, W2, named, persists, post, sends, tw } from '../helpers/worker-core.ts';

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

  test('a voter is never told its own address: it needs none', () => {
    const h = new Harness();
    const e = h.msg({ type: 'prepare', txid: 'a', ops: [post(tw('a'))], voters: [W1.id], config: 1, floor: 0, cseq: 1 });
    assert.deepEqual(persists(e).map((x) => x.type), ['persist_prepared'], 'a sole voter, named by id: one phase');
  });
});
