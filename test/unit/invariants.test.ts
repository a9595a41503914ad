// Each invariant the cores state fires: a state that breaks it, built by reaching into the core
// (test-only), or by a test-only path (a sabotage), makes invariants() throw naming it.

import { TEST_CLUSTER, TEST_IDENTITY, startCore } from '../helpers/coordinator-core.ts';
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { CoordinatorCore, type CoordinatorEffect, type CoordinatorEvent } from '../../src/core/coordinator.ts';
import type { CoordinatorContext } from '../../src/core/coord-context.ts';
import type { Deadlines } from '../../src/core/deadlines.ts';
import { LockTable } from '../../src/core/locks.ts';
import { WorkerCore, type WorkerReadView } from '../../src/core/worker.ts';
import type { Op, ToWorkerCore, Tweet } from '../../src/core/types.ts';

const T = 10_000;

/** Reaches a private part of a core: only these tests do, to build states the rules make impossible. */
function peek<V>(o: object): V {
  return o as unknown as V;
}

function throwsInvariant(fn: () => void, name: string): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof Error, 'an Error');
    assert.equal(e.name, 'InvariantError');
    assert.equal(e.message.split(':')[0], name, `expected ${name}, got: ${e.message}`);
    return true;
  });
}

// ---------------------------------------------------------------------------
// The coordinator

const addressOf = (id: string): string => `127.0.0.1:${id.length}${id.charCodeAt(id.length - 1)}`;

class Co {
  readonly core: CoordinatorCore;
  now = 1_000_000;
  /** `voters`: members recovered as the voters of configuration 1 (their way to voter is membership.test.ts's). */
  constructor(voters: string[] = []) {
    const members = voters.map((id) => ({ id, address: addressOf(id) }));
    this.core = new CoordinatorCore({ ...TEST_IDENTITY, lockTimeoutMs: T, copyPageRows: 2, evictAfterMs: 10_000, minVoters: 1 }, { epoch: 1, cluster: TEST_CLUSTER, last_cseq: 0, members, decisions: [], config: { n: voters.length > 0 ? 1 : 0, voters } });
    // #13: cseqs go out with prepares, from a durable reservation: made durable at once, as the runtime does at start.
    startCore(this.core, this.now);
    this.core.invariants();
  }
  ev(e: CoordinatorEvent): CoordinatorEffect[] {
    const out = this.core.handle(e, this.now);
    this.core.invariants();
    return out;
  }
  /** A recovered voter links and answers: it is up. */
  up(id: string, maxCseq = 0): void {
    this.ev({ type: 'link_up', worker: id });
    this.ev({ type: 'worker_message', worker: id, msg: { type: 'state', node_id: id, prepared: [], max_cseq: maxCseq, known_config: { n: 0, voters: [], catching_up: [] }, proposed_config: null, reserved: 0 } });
  }
  get ctx(): CoordinatorContext {
    return peek<{ ctx: CoordinatorContext }>(this.core).ctx;
  }
  get commit(): { txns: Map<string, Txn>; connTxn: Map<number, string>; txnDeadlines: Deadlines<string> } {
    return peek(this.ctx.commit);
  }
  get decisions(): { byTxid: Map<string, { cseq: number; unacked: Set<string> }>; deadlines: Deadlines<string> } {
    return peek(this.ctx.commit.decisions);
  }
  get members(): { members: Map<string, { id: string; address: string; maxCseq: number; status: unknown; stream: { sent: number; applied: number; held: unknown[] | null } | null }>; progress: Deadlines<string>; config: { n: number; voters: string[]; catchingUp: string[] } } {
    return peek(this.ctx.members);
  }
  get reads(): { reads: Map<number, { worker: string; check: { outstanding: number } | null }>; deadlines: Deadlines<number>; decidedTweets: Map<string, { cseq: number; value: Tweet | null }>; pages: Map<string, string> } {
    return peek(this.ctx.reads);
  }
  /** A one-shot post sent to prepare on every worker: its txid. */
  post(id = 't1'): string {
    const out = this.ev({ type: 'request', conn: 7, slot: 1, request: { action: 'post', tweet: { id, username: 'ada', content: 'hi' } } });
    const p = out.find((e) => e.type === 'send' && e.msg.type === 'prepare');
    assert.ok(p !== undefined && p.type === 'send' && p.msg.type === 'prepare');
    return p.msg.txid;
  }
  /** A post carried to committing, w2 not yet applied (the decision kept): its txid. */
  committing(): string {
    const txid = this.post();
    const results = [{ tweet: { id: 't1', username: 'ada', content: 'hi', created_at: this.now, updated_at: null } }];
    // #13: committing at the last YES (no logged event).
    for (const w of ['w1', 'w2']) this.ev({ type: 'worker_message', worker: w, msg: { type: 'vote', txid, yes: true, results } });
    this.ev({ type: 'worker_message', worker: 'w1', msg: { type: 'applied', txid } });
    return txid;
  }
}

interface Txn {
  phase: string;
  waiting: Set<string>;
  cseq: number;
  queue: unknown[];
  ops: Op[];
}

function cluster(): Co {
  const co = new Co(['w1', 'w2']);
  co.up('w1');
  co.up('w2');
  return co;
}

describe('CoordinatorCore.invariants: each one fires', () => {
  test('a healthy cluster through a whole commit passes them all', () => {
    const co = cluster();
    const txid = co.committing();
    co.ev({ type: 'worker_message', worker: 'w2', msg: { type: 'applied', txid } });
    for (const w of ['w1', 'w2']) co.ev({ type: 'worker_message', worker: w, msg: { type: 'ack', txid, outcome: 'commit' } });
    co.ev({ type: 'tick' });
  });

  test('txn.waiting: waits on a worker that is not a voter', () => {
    const co = cluster();
    const txid = co.post();
    co.commit.txns.get(txid)?.waiting.add('w9');
    throwsInvariant(() => co.core.invariants(), 'txn.waiting');
  });

  test('txn.waiting: waits on a worker whose link is down', () => {
    const co = cluster();
    co.post();
    const w1 = co.members.members.get('w1');
    assert.ok(w1 !== undefined);
    w1.status = { kind: 'down' }; // as if its link went down unnoticed by the transaction
    throwsInvariant(() => co.core.invariants(), 'txn.waiting');
  });

  test('txn.phase: a one-shot transaction left open; a vote that waits on no one', () => {
    const co = cluster();
    const txid = co.post();
    const t = co.commit.txns.get(txid) as Txn;
    t.phase = 'open';
    throwsInvariant(() => co.core.invariants(), 'txn.phase');
    t.phase = 'preparing';
    t.waiting.clear();
    throwsInvariant(() => co.core.invariants(), 'txn.phase');
  });

  test('txn.cseq: preparing without a commit sequence number, or with one never given out (#13: it goes out with the prepare)', () => {
    const co = cluster();
    const t = co.commit.txns.get(co.post()) as Txn;
    t.cseq = 0;
    throwsInvariant(() => co.core.invariants(), 'txn.cseq');
    t.cseq = co.ctx.lastCseq + 1;
    throwsInvariant(() => co.core.invariants(), 'txn.cseq');
  });

  test('txn.yes: a YES from a worker that is not a voter; every voter said YES and it is still preparing (#13: that is a commit)', () => {
    const co = cluster();
    const t = co.commit.txns.get(co.post()) as Txn & { yes: Set<string> };
    t.yes.add('w9');
    throwsInvariant(() => co.core.invariants(), 'txn.yes');
    t.yes.clear();
    t.yes.add('w1');
    t.yes.add('w2');
    throwsInvariant(() => co.core.invariants(), 'txn.yes');
  });

  test('txn.decision: committing, its decision gone', () => {
    const co = cluster();
    const txid = co.committing();
    co.decisions.byTxid.delete(txid);
    co.decisions.deadlines.clear(txid);
    throwsInvariant(() => co.core.invariants(), 'txn.decision');
  });

  test('txn.conn: a connection naming a transaction that is gone', () => {
    const co = cluster();
    co.commit.connTxn.set(5, '1.99');
    throwsInvariant(() => co.core.invariants(), 'txn.conn');
  });

  test('txn.queue: requests queued in a one-shot transaction', () => {
    const co = cluster();
    (co.commit.txns.get(co.post()) as Txn).queue.push({ slot: 2, kind: 'commit' });
    throwsInvariant(() => co.core.invariants(), 'txn.queue');
  });

  test('txn.ops: more writes than a transaction holds', () => {
    const co = cluster();
    const t = co.commit.txns.get(co.post()) as Txn;
    while (t.ops.length <= 100) t.ops.push(t.ops[0] as Op);
    throwsInvariant(() => co.core.invariants(), 'txn.ops');
  });

  test('txn.deadline: a transaction without one', () => {
    const co = cluster();
    co.commit.txnDeadlines.clear(co.post());
    throwsInvariant(() => co.core.invariants(), 'txn.deadline');
  });

  test('decision.unacked: waits for an ack from a worker that is not a member', () => {
    const co = cluster();
    const txid = co.committing();
    co.decisions.byTxid.get(txid)?.unacked.add('w9');
    throwsInvariant(() => co.core.invariants(), 'decision.unacked');
  });

  test('decision.cseq: past the last decided cseq', () => {
    const co = cluster();
    const d = co.decisions.byTxid.get(co.committing());
    assert.ok(d !== undefined);
    d.cseq = 99;
    // The transaction's own cseq is checked first; it is forgotten here so that only the decision is wrong.
    co.commit.txns.clear();
    co.commit.txnDeadlines.clear([...co.decisions.byTxid.keys()][0] as string);
    throwsInvariant(() => co.core.invariants(), 'decision.cseq');
  });

  test('decision.txn: kept while its transaction is not committing', () => {
    const co = cluster();
    const t = co.commit.txns.get(co.committing()) as Txn;
    t.phase = 'aborting'; // (#13: there is no logging phase any more)
    t.waiting.clear();
    throwsInvariant(() => co.core.invariants(), 'decision.txn');
  });

  test('decision.deadline: a decision without one', () => {
    const co = cluster();
    co.decisions.deadlines.clear(co.committing());
    throwsInvariant(() => co.core.invariants(), 'decision.deadline');
  });

  test('member.owed: resolving and owing nothing', () => {
    const co = cluster();
    const w1 = co.members.members.get('w1');
    assert.ok(w1 !== undefined);
    w1.status = { kind: 'resolving', owed: new Set() };
    throwsInvariant(() => co.core.invariants(), 'member.owed');
  });

  test('member.donor: copying from a worker that is not up', () => {
    const co = cluster();
    const w1 = co.members.members.get('w1');
    assert.ok(w1 !== undefined);
    w1.status = { kind: 'copying', rid: 1, donor: 'w9', page: null };
    throwsInvariant(() => co.core.invariants(), 'member.donor');
  });

  test('member.role: a voter copying as a learner; a member down with a stream', () => {
    const co = cluster();
    const w1 = co.members.members.get('w1');
    assert.ok(w1 !== undefined);
    w1.status = { kind: 'copying', rid: 1, donor: 'w2', page: null };
    throwsInvariant(() => co.core.invariants(), 'member.role');
    w1.status = { kind: 'down' };
    w1.stream = { sent: 0, applied: 0, held: [] };
    throwsInvariant(() => co.core.invariants(), 'member.role');
  });

  test('config.voters: a voter that is not a member', () => {
    const co = cluster();
    co.members.config.voters.push('w9');
    throwsInvariant(() => co.core.invariants(), 'config.voters');
  });

  test('member.deadline: a member without a progress deadline', () => {
    const co = cluster();
    co.members.progress.clear('w2');
    throwsInvariant(() => co.core.invariants(), 'member.deadline');
  });

  test('member.count: more members than a cluster takes', () => {
    const co = cluster();
    for (let i = 0; i < 40; i++) {
      co.members.members.set(`x${i}`, { id: `x${i}`, address: `a${i}`, maxCseq: 0, status: { kind: 'down' }, stream: null });
      co.members.progress.set(`x${i}`, Number.POSITIVE_INFINITY);
    }
    throwsInvariant(() => co.core.invariants(), 'member.count');
  });

  test('read.worker: a read waiting on a worker whose link is down', () => {
    const co = cluster();
    co.ev({ type: 'request', conn: 3, slot: 0, request: { action: 'get_tweet', id: 'x' } });
    const [r] = [...co.reads.reads.values()];
    assert.ok(r !== undefined);
    const w = co.members.members.get(r.worker);
    assert.ok(w !== undefined);
    w.status = { kind: 'down' };
    throwsInvariant(() => co.core.invariants(), 'read.worker');
  });

  test('read.check: a part of a check that its aggregate no longer counts', () => {
    const co = cluster();
    co.ev({ type: 'request', conn: 3, slot: 0, request: { action: 'check' } });
    const [r] = [...co.reads.reads.values()];
    assert.ok(r?.check);
    r.check.outstanding = 0;
    throwsInvariant(() => co.core.invariants(), 'read.check');
  });

  test('read.deadline: a pending read without one', () => {
    const co = cluster();
    co.ev({ type: 'request', conn: 3, slot: 0, request: { action: 'get_tweet', id: 'x' } });
    const [rid] = [...co.reads.reads.keys()];
    co.reads.deadlines.clear(rid as number);
    throwsInvariant(() => co.core.invariants(), 'read.deadline');
  });

  test('reads.overlay: a decided value whose commit is no longer being applied', () => {
    const co = cluster();
    co.reads.decidedTweets.set('t5', { cseq: 7, value: null });
    throwsInvariant(() => co.core.invariants(), 'reads.overlay');
  });

  test('reads.pages: a page kept while a commit is being applied', () => {
    const co = cluster();
    co.committing();
    co.reads.pages.set('k', '{"status":"OK"}');
    throwsInvariant(() => co.core.invariants(), 'reads.pages');
  });

  test('feed.recent: an event past the last decided cseq', () => {
    const co = cluster();
    peek<{ recent: { seq: number }[] }>(co.ctx.feed).recent.push({ seq: 3 });
    throwsInvariant(() => co.core.invariants(), 'feed.recent');
  });

  test('feed.subscribers: more subscribers than it feeds', () => {
    const co = cluster();
    const subs = peek<{ subscribers: Set<number> }>(co.ctx.feed).subscribers;
    for (let i = 0; i <= 1_000; i++) subs.add(i);
    throwsInvariant(() => co.core.invariants(), 'feed.subscribers');
  });
});

// ---------------------------------------------------------------------------
// The worker

const view: WorkerReadView = { getTweet: () => null, getItem: () => null, outcomeOf: () => null, commitSeqOf: () => null, commitResultsOf: () => null, rowCseqOf: () => 0 };
const post = (id: string): Op => ({ kind: 'post', tweet: { id, username: 'ada', content: 'hi', created_at: 1, updated_at: null } });

interface WTxn {
  phase: string;
  cseq: number;
  abortRequested: boolean;
  staged: Map<string, unknown>;
}

class Wk {
  readonly core: WorkerCore;
  constructor(sabotage: 'release_prepared_lock_on_timeout' | null = null) {
    this.core = new WorkerCore(view, { node_id: 'w1', max_cseq: 0, prepared: [], config: 1, voter: true, removed: false }, T, 0, sabotage);
  }
  msg(m: ToWorkerCore, now = 0): void {
    this.core.handle({ type: 'message', msg: m }, now);
    this.core.invariants();
  }
  private cseq = 0;
  /** A one-shot prepare of a post of `id`, voted with w2 (#13: a sole voter would commit in one phase), made durable: prepared, YES voted. */
  prepared(txid: string, id = 't1'): void {
    const voters = [{ id: 'w1', address: 'a:1' }, { id: 'w2', address: 'b:2' }];
    this.msg({ type: 'prepare', txid, ops: [post(id)], voters: voters.map((v) => v.id), addresses: voters, config: 1, floor: 0, cseq: ++this.cseq });
    this.core.handle({ type: 'durable', txid, what: 'prepared' }, 0);
    this.core.invariants();
  }
  get locks(): LockTable {
    return peek<{ locks: LockTable }>(this.core).locks;
  }
  txn(txid: string): WTxn {
    const t = peek<{ txns: Map<string, WTxn> }>(this.core).txns.get(txid);
    assert.ok(t !== undefined);
    return t;
  }
}

describe('WorkerCore.invariants: each one fires', () => {
  test('prepared.locks: a prepared transaction that gave its lock away (the release_prepared_lock_on_timeout sabotage)', () => {
    const w = new Wk('release_prepared_lock_on_timeout');
    w.prepared('tx1');
    w.core.handle({ type: 'tick' }, T); // the sabotage releases the lock at the lock timeout
    throwsInvariant(() => w.core.invariants(), 'prepared.locks');
  });

  test('prepared.locks: an aborting transaction still holding a lock', () => {
    const w = new Wk();
    w.msg({ type: 'lock', txid: 'i1', seq: 1, op: post('t1'), config: 1, floor: 0 });
    w.msg({ type: 'abort', txid: 'i1' });
    w.locks.acquireAll('i1', ['tweet:t1']);
    throwsInvariant(() => w.core.invariants(), 'prepared.locks');
  });

  test('prepared.staged: a staged row without its lock', () => {
    const w = new Wk();
    w.msg({ type: 'lock', txid: 'i1', seq: 1, op: post('t1'), config: 1, floor: 0 });
    w.txn('i1').staged.set('tweet:t2', null);
    throwsInvariant(() => w.core.invariants(), 'prepared.staged');
  });

  test('prepared.cseq: committing without its commit sequence number', () => {
    const w = new Wk();
    w.prepared('tx1');
    w.msg({ type: 'commit', txid: 'tx1', cseq: 4 });
    w.txn('tx1').cseq = 0;
    throwsInvariant(() => w.core.invariants(), 'prepared.cseq');
  });

  test('prepared.abort: asked to abort and still prepared', () => {
    const w = new Wk();
    w.prepared('tx1');
    w.txn('tx1').abortRequested = true;
    throwsInvariant(() => w.core.invariants(), 'prepared.abort');
  });

  test('prepared.deadline: a prepared transaction that will never ask for its outcome', () => {
    const w = new Wk();
    w.prepared('tx1');
    peek<{ deadlines: Deadlines<string> }>(w.core).deadlines.set('tx1', Number.POSITIVE_INFINITY);
    throwsInvariant(() => w.core.invariants(), 'prepared.deadline');
  });

  test('lock.holder: a lock held by a transaction the worker does not have', () => {
    const w = new Wk();
    w.locks.acquireAll('ghost', ['tweet:t9']);
    throwsInvariant(() => w.core.invariants(), 'lock.holder');
  });

  test('lock.index: a lock held but not listed under its holder', () => {
    const l = new LockTable();
    l.acquireAll('tx1', ['tweet:a']);
    peek<{ holders: Map<string, string> }>(l).holders.set('tweet:b', 'tx1');
    throwsInvariant(() => l.invariants(), 'lock.index');
  });
});
