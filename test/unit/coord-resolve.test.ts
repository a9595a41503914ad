// The coordinator's `resolve` action (tweetdb admin resolve), driven by hand: it asks every
// member what its record says (a `txn` read), refuses where a record decides the transaction,
// a member is silent, a prepared record names a voter that is not a member, or commit is asked,
// and otherwise (confirmed) sends abort to the workers that hold it prepared, loudly and counted.
// Then a transaction in doubt whose missing voter is out of the cluster: aborted by hand.

import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { CoordinatorCore, type CoordinatorEffect, type CoordinatorEvent } from '../../src/core/coordinator.ts';
import type { ClientRequest, Op, Reply, ToWorker, TxnKnowledge } from '../../src/core/types.ts';
import { Co as HCo, FRESH, TEST_CLUSTER, TEST_IDENTITY, field, ofType, only, postReq, prepareOf, replies, sentTo, tweetOf, yes } from '../helpers/coordinator-core.ts';

const T = 10_000;
const TXID = '1.7';

class Co {
  readonly core = new CoordinatorCore({ ...TEST_IDENTITY, lockTimeoutMs: T, copyPageRows: 100, evictAfterMs: 10_000, minVoters: 1 }, { epoch: 2, cluster: TEST_CLUSTER, last_cseq: 0, members: [], decisions: [], config: { n: 0, voters: [] } });
  now = 1_000_000;
  private conn = 100;
  ev(e: CoordinatorEvent): CoordinatorEffect[] {
    const out = this.core.handle(e, this.now);
    this.core.invariants();
    return out;
  }
  req(request: ClientRequest): CoordinatorEffect[] {
    return this.ev({ type: 'request', conn: this.conn++, slot: 0, request });
  }
  addWorker(id: string): void {
    this.req({ action: 'register', worker: { id, address: `127.0.0.1:${9000 + Number(id.slice(1))}` }, known: FRESH });
    this.ev({ type: 'link_up', worker: id });
    this.ev({ type: 'worker_message', worker: id, msg: { type: 'state', node_id: id, prepared: [], max_cseq: 0, known_config: { n: 0, voters: [], catching_up: [] }, proposed_config: null, reserved: 0 } });
  }
  /** Sends resolve, answers each txn read with what `records` says, and returns every effect. */
  resolve(outcome: 'commit' | 'abort', confirm: boolean, records: Record<string, TxnKnowledge>): CoordinatorEffect[] {
    const all: CoordinatorEffect[] = [];
    const asked = this.req({ action: 'resolve', txid: TXID, outcome, confirm });
    all.push(...asked);
    for (const e of asked) {
      if (e.type !== 'send' || e.msg.type !== 'read') continue;
      assert.deepEqual(e.msg.query, { kind: 'txn', txid: TXID });
      const record = records[e.worker];
      if (record === undefined) continue;
      all.push(...this.ev({ type: 'worker_message', worker: e.worker, msg: { type: 'read_result', rid: e.msg.rid, result: { txn: record } } }));
    }
    return all;
  }
}

function reply(effects: CoordinatorEffect[]): Reply & Record<string, unknown> {
  const r = effects.filter((e) => e.type === 'reply');
  assert.equal(r.length, 1, JSON.stringify(effects));
  return (r[0] as { reply: Reply }).reply as Reply & Record<string, unknown>;
}
function aborts(effects: CoordinatorEffect[]): string[] {
  return effects.flatMap((e) => (e.type === 'send' && (e.msg as ToWorker).type === 'abort' ? [e.worker] : []));
}

function twoWorkers(): Co {
  const co = new Co();
  co.addWorker('w1');
  co.addWorker('w2');
  return co;
}

const PREPARED: TxnKnowledge = { state: 'prepared', voters: ['w1', 'w2'] };

test('without confirm it only shows what each worker knows', () => {
  const co = twoWorkers();
  const out = co.resolve('abort', false, { w1: PREPARED, w2: { state: 'unknown' } });
  const r = reply(out);
  assert.equal(r.status, 'OK');
  assert.equal(r.verdict, 'dry_run');
  assert.deepEqual((r.workers as { id: string; txn: TxnKnowledge }[]).map((w) => [w.id, w.txn.state]), [['w1', 'prepared'], ['w2', 'unknown']]);
  assert.deepEqual(aborts(out), []);
  assert.equal(co.core.counters.manualResolutions.abort, 0);
});

test('confirmed, abort goes to the workers holding it prepared, logged at error level and counted', () => {
  const co = twoWorkers();
  const out = co.resolve('abort', true, { w1: PREPARED, w2: { state: 'prepared', voters: ['w1', 'w2'] } });
  assert.equal(reply(out).verdict, 'resolved');
  assert.deepEqual(aborts(out).sort(), ['w1', 'w2']);
  assert.ok(out.some((e) => e.type === 'log' && e.level === 'error' && e.msg.includes(TXID)));
  assert.equal(co.core.counters.manualResolutions.abort, 1);
});

test('refused where a voter already committed it', () => {
  const co = twoWorkers();
  const out = co.resolve('abort', true, { w1: PREPARED, w2: { state: 'commit' } });
  const r = reply(out);
  assert.equal(r.verdict, 'refused');
  assert.match(String(r.reason), /w2 has 1\.7 committed/);
  assert.deepEqual(aborts(out), []);
  assert.equal(co.core.counters.manualResolutions.abort, 0);
});

test('refused while a worker cannot say what it knows (its record might decide it)', () => {
  const co = twoWorkers();
  co.ev({ type: 'link_down', worker: 'w2' });
  const out = co.resolve('abort', true, { w1: PREPARED });
  assert.equal(reply(out).verdict, 'refused');
  assert.deepEqual(aborts(out), []);
});

test('refused when a prepared record names a voter that is not a member', () => {
  const co = twoWorkers();
  const out = co.resolve('abort', true, { w1: { state: 'prepared', voters: ['w1', 'w9'] }, w2: { state: 'unknown' } });
  const r = reply(out);
  assert.equal(r.verdict, 'refused');
  assert.match(String(r.reason), /w9/);
});

test('commit by hand is refused with the reason', () => {
  const co = twoWorkers();
  const r = reply(co.resolve('commit', true, { w1: PREPARED, w2: PREPARED }));
  assert.equal(r.verdict, 'refused');
  assert.match(String(r.reason), /commit by hand is not supported/);
});

test('nothing to do when no worker holds it prepared', () => {
  const co = twoWorkers();
  const r = reply(co.resolve('abort', true, { w1: { state: 'abort' }, w2: { state: 'unknown' } }));
  assert.equal(r.verdict, 'nothing_to_do');
  assert.equal(co.core.counters.manualResolutions.abort, 0);
});

test('a transaction the coordinator still tracks belongs to automatic resolution', () => {
  const co = twoWorkers();
  const begun = reply(co.req({ action: 'begin' }));
  const r = reply(co.req({ action: 'resolve', txid: String(begun.txid), outcome: 'abort', confirm: true }));
  assert.equal(r.status, 'ERROR');
  assert.equal(r.code, 'INVALID');
  assert.match(String(r.error), /automatic resolution/);
});

// ---------------------------------------------------------------------------
// A transaction in doubt whose missing voter is out of the cluster (DECISIONS 64, 69): automatic
// resolution waits for it for ever; the operator, vouching that its disk is lost, aborts it.

describe('resolve of a transaction in doubt', () => {
  /** w1 said YES to a post, w2 went down before its YES arrived: in doubt (the client heard IN_DOUBT). */
  function inDoubt(): { co: HCo; txid: string } {
    const co = new HCo();
    co.addWorker('w1');
    co.addWorker('w2');
    const p = prepareOf(co.req(7, 1, postReq('t1')), 'w1');
    co.from('w1', yes(p.txid, [{ tweet: tweetOf((p.ops ?? [])[0] as Op) }]));
    assert.equal(field(only(replies(co.linkDown('w2'))).reply, 'code'), 'IN_DOUBT');
    return { co, txid: p.txid };
  }
  /** w2 not back within evictAfterMs: taken out of the voters, durably. */
  function evictW2(co: HCo): void {
    const e = co.tick(co.now + 10_000);
    assert.deepEqual(ofType(e, 'log_config').map((c) => c.voters), [['w1']]);
    co.configDurable(ofType(e, 'log_config')[0]?.config ?? 0);
  }
  /** Sends resolve; answers w1's txn read with `w1`; returns the reply and every effect. */
  function resolve(co: HCo, txid: string, confirm: boolean, w1: TxnKnowledge): { r: Reply & Record<string, unknown>; effects: CoordinatorEffect[] } {
    const asked = co.req(50, 0, { action: 'resolve', txid, outcome: 'abort', confirm });
    const effects = [...asked];
    const read = sentTo(asked, 'w1').find((m) => m.type === 'read');
    assert.ok(read !== undefined && read.type === 'read', 'w1 is asked what it knows');
    assert.deepEqual(sentTo(asked, 'w2'), [], 'w2 is down: not asked');
    effects.push(...co.from('w1', { type: 'read_result', rid: read.rid, result: { txn: w1 } }));
    return { r: reply(effects), effects };
  }
  const W1_YES: TxnKnowledge = { state: 'prepared', voters: ['w2'] };

  test('its missing voter still a voter (down, not evicted): refused, automatic resolution waits for it; nothing changes', () => {
    const { co, txid } = inDoubt();
    const { r, effects } = resolve(co, txid, true, W1_YES);
    assert.equal(r.verdict, 'refused');
    assert.match(String(r.reason), /waits for w2, which is still a voter: .*take it out first/);
    assert.deepEqual(aborts(effects), []);
    assert.deepEqual(co.status().in_doubt.map((d) => d.txid), [txid]);
  });

  test('its missing voter evicted: the dry run says it would abort; confirmed, the abort is decided here and sent to w1, logged at error level and counted; w1 acks and it is gone from status', () => {
    const { co, txid } = inDoubt();
    evictW2(co);
    const dry = resolve(co, txid, false, W1_YES);
    assert.equal(dry.r.verdict, 'dry_run');
    assert.match(String(dry.r.reason), /would abort .* waiting for w2, taken out of the cluster: only if their disks are lost/);
    assert.deepEqual(aborts(dry.effects), []);
    const done = resolve(co, txid, true, W1_YES);
    assert.equal(done.r.verdict, 'resolved');
    assert.deepEqual(aborts(done.effects), ['w1']);
    assert.ok(done.effects.some((e) => e.type === 'log' && e.level === 'error' && e.msg.includes(`${txid} resolved BY HAND`)));
    assert.equal(co.core.counters.manualResolutions.abort, 1);
    assert.deepEqual(replies(co.from('w1', { type: 'ack', txid, outcome: 'abort' })), [], 'its client was answered (IN_DOUBT) already');
    assert.deepEqual(co.status().in_doubt, []);
    assert.equal(co.status().counters.open_transactions, 0);
  });

  test('refused when w1 told a peer it holds a YES (that peer may have committed on its own)', () => {
    const { co, txid } = inDoubt();
    evictW2(co);
    const { r, effects } = resolve(co, txid, true, { state: 'prepared', voters: ['w2'], told_peer: true });
    assert.equal(r.verdict, 'refused');
    assert.match(String(r.reason), /told another voter it holds a YES .* w2 may have committed it on its own/);
    assert.deepEqual(aborts(effects), []);
  });

  test('a transaction still preparing (someone is left to ask) belongs to automatic resolution: ERROR INVALID', () => {
    const co = new HCo();
    co.addWorker('w1');
    co.addWorker('w2');
    const p = prepareOf(co.req(7, 1, postReq('t1')), 'w1');
    const r = only(replies(co.req(50, 0, { action: 'resolve', txid: p.txid, outcome: 'abort', confirm: true }))).reply;
    assert.deepEqual([r.status, field(r, 'code')], ['ERROR', 'INVALID']);
  });
});
