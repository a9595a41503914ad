// #12's membership, one transition or rule a test (etcd raft style): configurations, learners and
// their streams, promotion, eviction, --min-voters, remove_worker, on the coordinator core; the
// worker core's refusals and its replicate stream. Both cores driven by hand.

import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { LIMITS, type CoordinatorConfig, type CoordinatorEffect } from '../../src/core/coordinator.ts';
import { WorkerCore, type WorkerEffect, type WorkerReadView } from '../../src/core/worker.ts';
import type { CopyRow, FromWorker, Op, ToWorker, ToWorkerCore } from '../../src/core/types.ts';
import { Co, T, ack, addr, field, ofType, only, postReq, prepareOf, preparedTxn, replies, sent, sentTo, tweetOf, yes } from '../helpers/coordinator-core.ts';
import { post, tw } from '../helpers/worker-core.ts';
import { probeHits, resetProbes } from '../../src/core/probes.ts';

const EVICT = 10_000;

/** Rows of a copy; the cursor is opaque to the coordinator. */
const rows = (ids: string[]): CopyRow[] => ids.map((id) => ({ c: `cursor-${id}`, s: 1, tweet: { id, username: 'u', content: id, created_at: 1, updated_at: null } }));

/** Recovered voters of configuration 1, each linked and up with every commit up to `lastCseq`. */
function voters(ids: string[], opts: { lastCseq?: number; pageRows?: number; cfg?: Partial<CoordinatorConfig> } = {}): Co {
  const lastCseq = opts.lastCseq ?? 5;
  const co = new Co({ last_cseq: lastCseq, members: ids.map((id) => ({ id, address: addr(id) })) }, opts.pageRows ?? 2, opts.cfg);
  for (const id of ids) {
    co.linkUp(id);
    co.state(id, lastCseq);
    assert.equal(co.workerState(id), 'up');
  }
  return co;
}

/** A new worker registers, links and answers: it is a learner and its copy starts (the copy_read to its donor). */
function join(co: Co, id: string): { donor: string; rid: number; after: string | null } {
  co.register(id);
  co.linkUp(id);
  const read = only(sent(co.state(id, 0)).filter((s) => s.msg.type === 'copy_read'));
  assert.equal(read.msg.type, 'copy_read');
  return read.msg.type === 'copy_read' ? { donor: read.worker, rid: read.msg.rid, after: read.msg.after } : { donor: '', rid: 0, after: null };
}

/**
 * A post committed by `by` (every voter YES, acked): its txid and ops, and the effects of it being
 * decided (#13: the last YES). A sole voter commits in one phase: its YES is said once its prepared
 * record is durable there, and answers the client; its later ack is not waited for (DECISIONS 66).
 */
function commit(co: Co, by: string[], id: string, slot = 1): { txid: string; ops: Op[]; decided: CoordinatorEffect[] } {
  const p = prepareOf(co.req(7, slot, postReq(id)), by[0] as string);
  const ops = p.ops ?? [];
  let decided: CoordinatorEffect[] = [];
  for (const w of by) decided = co.from(w, yes(p.txid, [{ tweet: tweetOf(ops[0] as Op) }]));
  let answered = replies(decided).length > 0;
  if (by.length > 1) for (const w of by) answered = replies(co.from(w, ack(p.txid, 'commit'))).length > 0 || answered;
  assert.ok(answered, `commit of ${id} answered`);
  return { txid: p.txid, ops, decided };
}

/** A vote as a worker numbers it on its link (VoteNumber). */
function numbered(v: FromWorker, n: number): FromWorker {
  return v.type === 'vote' ? { ...v, n } : v;
}

function replicates(effects: CoordinatorEffect[], worker: string): Extract<ToWorker, { type: 'replicate' }>[] {
  return sentTo(effects, worker).filter((m): m is Extract<ToWorker, { type: 'replicate' }> => m.type === 'replicate');
}

function learnerOf(co: Co, id: string): { phase: string; behind: number; copied_rows: number; copied_bytes: number } | undefined {
  return co.status().workers.find((w) => w.id === id)?.learner;
}

/** w1 votes; w2 joined, copied (nothing) while one commit was decided, and is promoted (configuration 2): a draining voter sent replicate 1, not applied yet. */
function promotedWithOneReplicate(): Co {
  const co = voters(['w1']);
  const read = join(co, 'w2');
  commit(co, ['w1'], 'a1');
  co.from('w1', { type: 'copy_page', rid: read.rid, rows: [] });
  co.from('w2', { type: 'installed', rid: read.rid, done: true });
  co.configDurable(2);
  return co;
}

function roleOf(co: Co, id: string): string | undefined {
  return co.status().workers.find((w) => w.id === id)?.role;
}

// ---------------------------------------------------------------------------
// The coordinator

describe('membership: the first voter', () => {
  test('the first worker of an empty configuration votes once its configuration is durable, not before', () => {
    const co = new Co();
    co.register('w1');
    co.linkUp('w1');
    const s = co.state('w1', 0);
    assert.deepEqual(ofType(s, 'log_config'), [{ type: 'log_config', config: 1, voters: ['w1'], catching_up: [] }]);
    assert.deepEqual(co.status().config, { n: 0, voters: [] });
    const w = only(replies(co.req(7, 1, postReq('t1')))).reply;
    assert.equal(field(w, 'code'), 'UNAVAILABLE');
    assert.match(String(field(w, 'error')), /no worker has joined the voters yet/);
    assert.deepEqual(co.configDurable(7), [], 'the durable write of another configuration changes nothing');
    co.configDurable(1);
    assert.deepEqual(co.status().config, { n: 1, voters: ['w1'] });
    assert.equal(co.workerState('w1'), 'up');
    assert.equal(roleOf(co, 'w1'), 'voter');
    const p = prepareOf(co.req(7, 2, postReq('t2')), 'w1');
    assert.equal(p.config, 1);
  });
});

describe('membership: a learner joins while writes go on', () => {
  test('copy → streaming → promoted (log_config) → draining → up; commits held during the copy come after the last install, in order; floor is the replicates sent', () => {
    const co = voters(['w1']);
    const read = join(co, 'w2');
    assert.deepEqual(read, { donor: 'w1', rid: read.rid, after: null });
    assert.equal(roleOf(co, 'w2'), 'learner');
    assert.equal(learnerOf(co, 'w2')?.phase, 'copying');

    // Two commits while it copies: decided by the voters alone, held for it.
    const c1 = commit(co, ['w1'], 'a1', 1);
    const c2 = commit(co, ['w1'], 'a2', 2);
    assert.deepEqual(sentTo(c1.decided, 'w2'), []);
    assert.deepEqual(sentTo(c2.decided, 'w2'), []);
    assert.equal(learnerOf(co, 'w2')?.behind, 2, 'held commits count as behind');

    // Page 1, full; page 2, short: the copy's end.
    co.from('w1', { type: 'copy_page', rid: read.rid, rows: rows(['a', 'b']) });
    const next = only(sentTo(co.from('w2', { type: 'installed', rid: read.rid, done: false }), 'w1'));
    assert.equal(next.type, 'copy_read');
    if (next.type !== 'copy_read') return;
    assert.deepEqual(replicates(co.from('w1', { type: 'copy_page', rid: next.rid, rows: [] }), 'w2'), [], 'nothing streamed before the last page is installed');
    assert.equal(learnerOf(co, 'w2')?.copied_rows, 2);
    const done = co.from('w2', { type: 'installed', rid: next.rid, done: true });
    assert.deepEqual(replicates(done, 'w2'), [
      { type: 'replicate', seq: 1, txid: c1.txid, cseq: 6, ops: c1.ops },
      { type: 'replicate', seq: 2, txid: c2.txid, cseq: 7, ops: c2.ops },
    ]);
    // Within LIMITS.promoteWithinCommits of the stream's end: promoted, as configuration 2 (with it catching up).
    assert.deepEqual(ofType(done, 'log_config'), [{ type: 'log_config', config: 2, voters: ['w1', 'w2'], catching_up: ['w2'] }]);
    assert.deepEqual(learnerOf(co, 'w2'), { phase: 'streaming', behind: 2, copied_rows: 2, copied_bytes: learnerOf(co, 'w2')?.copied_bytes });
    assert.ok((learnerOf(co, 'w2')?.copied_bytes ?? 0) > 0);
    // Until the new configuration is durable, a write has the old voters.
    const before = co.req(7, 3, postReq('b1'));
    assert.deepEqual(sentTo(before, 'w2'), []);
    const pb = prepareOf(before, 'w1');
    co.from('w1', { type: 'vote', txid: pb.txid, yes: false, code: 'LOCKED', error: 'x' });
    co.from('w1', ack(pb.txid, 'abort'));

    // Durable: it votes (told so), drains its stream, and serves no read yet.
    const promoted = co.configDurable(2);
    assert.deepEqual(sentTo(promoted, 'w2').filter((m) => m.type === 'config'), [{ type: 'config', config: 2, voter: true, removed: false, voters: ['w1', 'w2'], catching_up: ['w2'] }]);
    assert.equal(roleOf(co, 'w2'), 'voter');
    assert.equal(co.workerState('w2'), 'joining');
    // #13: last_cseq is the last given out, with a prepare: the aborted write b1 took 8.
    assert.equal(co.status().counters.last_cseq, 8);
    const readReq = sent(co.req(8, 1, { action: 'get_tweet', id: 'a1' }));
    assert.deepEqual(readReq.map((x) => x.worker), ['w1'], 'a draining voter serves no read');

    // A write now has both voters; each prepare's floor is the last replicate sent to that worker.
    const w = co.req(7, 4, postReq('c1'));
    assert.equal(prepareOf(w, 'w1').floor, 0);
    assert.equal(prepareOf(w, 'w2').floor, 2);
    assert.equal(prepareOf(w, 'w2').config, 2);

    // Its stream applied (replicated answers up to a seq), and no transaction without it left: up.
    co.from('w2', { type: 'replicated', seq: 1 });
    assert.equal(co.workerState('w2'), 'joining');
    const upNow = co.from('w2', { type: 'replicated', seq: 2 });
    assert.equal(co.workerState('w2'), 'up');
    assert.deepEqual(ofType(upNow, 'log_config'), [{ type: 'log_config', config: 3, voters: ['w1', 'w2'], catching_up: [] }], 'the configuration no longer names it as catching up (a new number: every configuration has its own)');
    assert.equal(co.status().counters.promotions, 1);
  });

  test('the interactive lock carries the floor too', () => {
    const co = promotedWithOneReplicate();
    const txid = String(field(only(replies(co.req(9, 0, { action: 'begin' }))).reply, 'txid'));
    const e = co.req(9, 1, postReq('x'));
    const lock = only(sentTo(e, 'w2'));
    assert.deepEqual(lock.type === 'lock' ? [lock.txid, lock.config, lock.floor] : null, [txid, 2, 1]);
  });

  test('the stream starts with every commit still being applied when the copy begins; the copy holds everything up to the one before', () => {
    // Two voters: a sole voter's commit is finished at its YES (one phase), never being applied after it.
    const co = voters(['w1', 'w2']);
    const p = prepareOf(co.req(7, 1, postReq('t1')), 'w1');
    // cseq 6, decided at the last YES (#13), being applied on w1 and w2 (no ack yet)
    for (const w of ['w1', 'w2']) co.from(w, yes(p.txid, [{ tweet: tweetOf((p.ops ?? [])[0] as Op) }]));
    const read = join(co, 'w3');
    const install = only(sentTo(co.from(read.donor, { type: 'copy_page', rid: read.rid, rows: [] }), 'w3'));
    assert.deepEqual(install.type === 'install' ? install.max_cseq : null, 5, 'the copy may miss commit 6: it holds up to 5');
    assert.deepEqual(replicates(co.from('w3', { type: 'installed', rid: read.rid, done: true }), 'w3'), [{ type: 'replicate', seq: 1, txid: p.txid, cseq: 6, ops: p.ops ?? [] }]);
  });

  test('#23: a copy holds what its donor applied, also the commits before this coordinator took over: its floor is not this coordinator\'s last commit (simulator seed 941326)', () => {
    // A coordinator that took its cluster over decided nothing yet (last cseq 0); its voters applied up to 100043.
    const co = new Co({ last_cseq: 0, cseq_reserved: 200_000, members: ['w1', 'w2'].map((id) => ({ id, address: addr(id) })) }, 2);
    for (const id of ['w1', 'w2']) {
      co.linkUp(id);
      co.state(id, 100_043);
      assert.equal(co.workerState(id), 'up');
    }
    const read = join(co, 'w3');
    const install = only(sentTo(co.from(read.donor, { type: 'copy_page', rid: read.rid, rows: [] }), 'w3'));
    // With 0 the learner, once a voter, says it has nothing: a coordinator restored from an older
    // copy of its data directory then finds every voter without its last commit and evicts them all.
    assert.deepEqual(install.type === 'install' ? install.max_cseq : null, 100_043);
  });

  test('a copy resumes from another up voter at the same cursor when its donor goes down; a page sent but not installed is asked again', () => {
    const co = voters(['w1', 'w2']);
    const read = join(co, 'w3');
    const donor = read.donor;
    const other = donor === 'w1' ? 'w2' : 'w1';
    co.from(donor, { type: 'copy_page', rid: read.rid, rows: rows(['a', 'b']) });
    const r2 = only(sentTo(co.from('w3', { type: 'installed', rid: read.rid, done: false }), donor));
    assert.deepEqual(r2.type === 'copy_read' ? r2.after : null, 'cursor-b');
    // The next page reaches the learner, but the donor goes down before it is installed.
    const rid2 = r2.type === 'copy_read' ? r2.rid : 0;
    assert.equal(only(sentTo(co.from(donor, { type: 'copy_page', rid: rid2, rows: rows(['c', 'd']) }), 'w3')).type, 'install');
    const down = co.linkDown(donor);
    const again = only(sent(down).filter((s) => s.msg.type === 'copy_read'));
    assert.equal(again.worker, other);
    assert.deepEqual(again.msg.type === 'copy_read' ? again.msg.after : null, 'cursor-b', 'resumed after the last page installed, not the last sent');
    // The old page's late installed changes nothing; the new donor's page installs without a reset.
    assert.deepEqual(sent(co.from('w3', { type: 'installed', rid: rid2, done: false })), []);
    const rid3 = again.msg.type === 'copy_read' ? again.msg.rid : 0;
    const inst = only(sentTo(co.from(other, { type: 'copy_page', rid: rid3, rows: rows(['c', 'd']) }), 'w3'));
    assert.deepEqual(inst.type === 'install' ? [inst.reset, inst.done] : null, [false, false]);
    assert.equal(learnerOf(co, 'w3')?.copied_rows, 2);
  });

  test('a transaction lost in a restart, adopted while a learner copies: the copy starts over once it is settled and applied, and its commit is never streamed (simulator seed 781)', () => {
    // Its commit is old though decided now: the donor may hold a later delete of its row, which a
    // replay of its post would undo (a deleted row has no cseq to refuse it).
    const co = voters(['w1', 'w2']);
    const first = join(co, 'w3');
    const orphan = preparedTxn('1.9', ['w1', 'w2'], 4);
    const tweet = tw('o1');
    const ops: Op[] = [post(tweet)];
    co.linkDown('w2');
    co.linkUp('w2');
    resetProbes();
    const adopted = co.state('w2', 5, [orphan]);
    assert.equal(probeHits().get('coord.copy_restarted_for_orphan'), 1);
    assert.deepEqual(sent(adopted).filter((s) => s.msg.type === 'copy_read'), [], 'no copy while it is unsettled');
    assert.deepEqual(sent(co.from(first.donor, { type: 'copy_page', rid: first.rid, rows: rows(['a']) })), [], 'the old copy\'s page is nobody\'s now');
    co.from('w1', { type: 'vote', txid: '1.9', yes: true, results: [{ tweet }], ops });
    const decided = co.from('w2', { type: 'vote', txid: '1.9', yes: true, results: [{ tweet }], ops });
    assert.deepEqual(ofType(decided, 'log_commit').map((l) => l.txid), ['1.9']);
    assert.deepEqual(replicates(decided, 'w3'), [], 'not streamed');
    assert.deepEqual(sent(co.from('w1', ack('1.9', 'commit'))).filter((s) => s.msg.type === 'copy_read'), [], 'no copy while it is applied');
    const applied = co.from('w2', ack('1.9', 'commit'));
    const again = only(sent(applied).filter((s) => s.msg.type === 'copy_read'));
    assert.ok(again.msg.type === 'copy_read' && again.msg.after === null && again.msg.rid !== first.rid, 'a new copy from the start, once every voter has it');
    assert.deepEqual(replicates(applied, 'w3'), []);
  });

  test('a commit decided late (found by prevent: its voters may have committed it long ago), while a learner copies: the copy starts over once it is applied, and it is never streamed (simulator seed 741626)', () => {
    // Its voters may have committed it among themselves long before this coordinator heard, and a
    // later delete of its row may have followed: a replay of its post would bring the row back.
    const co = voters(['w1', 'w2']);
    const first = join(co, 'w3');
    const p = prepareOf(co.req(7, 1, postReq('late')), 'w1');
    const tweet = tweetOf((p.ops ?? [])[0] as Op);
    co.from('w1', yes(p.txid, [{ tweet }]));
    co.linkDown('w2'); // w2 went away after its YES: in doubt
    co.linkUp('w2');
    co.state('w2', 5, [preparedTxn(p.txid, ['w1', 'w2'], p.cseq)]);
    resetProbes();
    const decided = co.from('w2', { type: 'vote', txid: p.txid, yes: true, results: [{ tweet }], ops: p.ops ?? [] });
    assert.deepEqual(ofType(decided, 'log_commit').map((l) => l.txid), [p.txid]);
    assert.equal(probeHits().get('coord.late_commit_restarts_copies'), 1);
    assert.deepEqual(replicates(decided, 'w3'), [], 'not streamed');
    assert.deepEqual(sent(co.from(first.donor, { type: 'copy_page', rid: first.rid, rows: rows(['a']) })), [], 'the old copy\'s page is nobody\'s now');
    assert.deepEqual(sent(co.from('w1', ack(p.txid, 'commit'))).filter((x) => x.msg.type === 'copy_read'), [], 'no copy while it is applied');
    const again = only(sent(co.from('w2', ack(p.txid, 'commit'))).filter((x) => x.msg.type === 'copy_read'));
    assert.ok(again.msg.type === 'copy_read' && again.msg.after === null && again.msg.rid !== first.rid, 'a new copy from the start, once every voter has it');
  });

  test('#23: a commit decided late is not read from the overlay (a later write may have gone over it); its tweet is read from a voter that has applied it (simulator seed 801431)', () => {
    const co = voters(['w1', 'w2']);
    const p = prepareOf(co.req(7, 1, postReq('late')), 'w1');
    const tweet = tweetOf((p.ops ?? [])[0] as Op);
    co.from('w1', yes(p.txid, [{ tweet }]));
    co.linkDown('w2');
    co.linkUp('w2');
    co.state('w2', 5, [preparedTxn(p.txid, ['w1', 'w2'], p.cseq)]);
    co.from('w2', { type: 'vote', txid: p.txid, yes: true, results: [{ tweet }], ops: p.ops ?? [] });
    // Decided late: neither voter has said it applied it. No answer from the overlay, no voter asked.
    const read = co.req(8, 1, { action: 'get_tweet', id: 'late' });
    assert.deepEqual(sent(read), [], 'no worker that has not applied it is asked');
    assert.equal(field(only(replies(read)).reply, 'code'), 'UNAVAILABLE');
    // Once w1 has applied it, w1 (only) serves that read.
    co.from('w1', ack(p.txid, 'commit'));
    for (let i = 0; i < 3; i++) {
      const again = sent(co.req(8, 2 + i, { action: 'get_tweet', id: 'late' }));
      assert.deepEqual(again.map((x) => [x.worker, x.msg.type]), [['w1', 'read']]);
    }
    // Applied everywhere: read from any voter, as always.
    co.from('w2', ack(p.txid, 'commit'));
    const readers = new Set<string>();
    for (let i = 0; i < 4; i++) for (const x of sent(co.req(8, 10 + i, { action: 'get_tweet', id: 'late' }))) readers.add(x.worker);
    assert.deepEqual([...readers].sort(), ['w1', 'w2']);
  });

  test('#23: a worker\'s votes are taken in the order it sent them: a sole voter\'s YES overtaken by its next one waits for it, so the learner\'s stream has them in the order they were applied (simulator seed 827057)', () => {
    // A sole voter commits in one phase: its YES for a post, then its YES for the delete that
    // followed on the same tweet. Taken in the order they came, the learner would replay the
    // delete, then the post, and keep the tweet.
    const co = voters(['w1']);
    const first = join(co, 'w3');
    const page = only(sentTo(co.from(first.donor, { type: 'copy_page', rid: first.rid, rows: [] }), 'w3'));
    co.from('w3', { type: 'installed', rid: page.type === 'install' ? page.rid : 0, done: true });
    const postP = prepareOf(co.req(7, 1, postReq('k')), 'w1');
    const delP = prepareOf(co.req(8, 1, { action: 'delete', tweet: { id: 'k', username: null } }), 'w1');
    const early = co.from('w1', numbered(yes(delP.txid, [{}]), 2));
    assert.deepEqual([replies(early), replicates(early, 'w3')], [[], []], 'the delete\'s YES waits for vote 1');
    const both = co.from('w1', numbered(yes(postP.txid, [{ tweet: tweetOf((postP.ops ?? [])[0] as Op) }]), 1));
    assert.deepEqual(replicates(both, 'w3').map((r) => r.txid), [postP.txid, delP.txid], 'the post, then the delete, as applied');
    assert.equal(replies(both).length, 2, 'both clients answered');
    // A repeat is taken as it comes (it changes nothing); a vote without a number too.
    assert.deepEqual(replicates(co.from('w1', numbered(yes(delP.txid, [{}]), 2)), 'w3'), []);
  });

  test('#23: a sole voter\'s ack does not overtake its votes: a commit acked while an earlier vote is missing waits for it, so a post is never streamed after the delete that followed it (simulator seed 978126)', () => {
    const co = voters(['w1']);
    const first = join(co, 'w3');
    const page = only(sentTo(co.from(first.donor, { type: 'copy_page', rid: first.rid, rows: [] }), 'w3'));
    co.from('w3', { type: 'installed', rid: page.type === 'install' ? page.rid : 0, done: true });
    const postP = prepareOf(co.req(7, 1, postReq('k')), 'w1');
    const delP = prepareOf(co.req(8, 1, { action: 'delete', tweet: { id: 'k', username: null } }), 'w1');
    // w1 committed both in one phase, in that order; vote 1 (the post's) is late, vote 2 waits for it.
    co.from('w1', numbered(yes(delP.txid, [{}]), 2));
    // The delete's ack comes before vote 1: taken now, the delete would be decided before the post.
    const acked = co.from('w1', ack(delP.txid, 'commit'));
    assert.deepEqual([replies(acked), replicates(acked, 'w3')], [[], []], 'the ack waits behind vote 1');
    const both = co.from('w1', numbered(yes(postP.txid, [{ tweet: tweetOf((postP.ops ?? [])[0] as Op) }]), 1));
    assert.deepEqual(replicates(both, 'w3').map((r) => r.txid), [postP.txid, delP.txid], 'the post, then the delete, as applied');
    assert.equal(replies(both).length, 2, 'both clients answered');
  });

  test('#23: a write that touches a key of a sole voter\'s one-phase transaction not decided yet, with a voter promoted since, is LOCKED: that voter has not got it (simulator seed 963342)', () => {
    const co = voters(['w1']);
    const read = join(co, 'w2');
    // w1 commits the post in one phase at its YES; that YES has not reached the coordinator.
    const postP = prepareOf(co.req(7, 1, postReq('k')), 'w1');
    co.from(read.donor, { type: 'copy_page', rid: read.rid, rows: [] });
    co.from('w2', { type: 'installed', rid: read.rid, done: true });
    co.configDurable(2);
    assert.equal(roleOf(co, 'w2'), 'voter');
    const upd = co.req(8, 1, { action: 'update', tweet: { id: 'k', content: 'edited', username: null } });
    assert.deepEqual(sent(upd).filter((x) => x.msg.type === 'prepare'), [], 'no voter is asked');
    assert.equal(field(only(replies(upd)).reply, 'code'), 'LOCKED');
    // Another key goes through; and once the post is decided, so does the update.
    assert.equal(sent(co.req(9, 1, postReq('other'))).filter((x) => x.msg.type === 'prepare').length, 2);
    co.from('w1', yes(postP.txid, [{ tweet: tweetOf((postP.ops ?? [])[0] as Op) }]));
    assert.equal(sent(co.req(10, 1, { action: 'update', tweet: { id: 'k', content: 'edited', username: null } })).filter((x) => x.msg.type === 'prepare').length, 2);
  });

  test('#23: a vote that never comes (lost on the way) cuts the link after a lock timeout: the worker says again what it holds', () => {
    const co = voters(['w1', 'w2']);
    // Vote 2 comes; vote 1 (for a transaction long settled) was lost.
    co.from('w1', { type: 'vote', txid: '1.99', yes: false, code: 'TIMEOUT', error: 'too late', n: 2 });
    const t0 = co.now;
    assert.deepEqual(ofType(co.tick(t0 + T - 1), 'unlink'), []);
    const cut = co.tick(t0 + T);
    assert.ok(ofType(cut, 'unlink').some((u) => u.worker === 'w1'), 'w1 is cut off');
    assert.ok(ofType(cut, 'log').some((l) => /w1 cut off: vote 1 it sent never came/.test(l.msg)), JSON.stringify(ofType(cut, 'log')));
  });

  test('#23: a promotion is abandoned when a voter that must make it durable goes away; the learner copies nothing while it is pending, and again once the orphan found then is applied (simulator seed 771355)', () => {
    const co = voters(['w1', 'w2']);
    const first = join(co, 'w3');
    const page = only(sentTo(co.from(first.donor, { type: 'copy_page', rid: first.rid, rows: [] }), 'w3'));
    const promoting = co.from('w3', { type: 'installed', rid: page.type === 'install' ? page.rid : 0, done: true });
    const proposed = only(ofType(promoting, 'log_config'));
    assert.deepEqual(proposed.voters, ['w1', 'w2', 'w3']);
    resetProbes();
    co.linkDown('w1'); // a voter of it: it cannot make it durable now
    assert.equal(probeHits().get('coord.config_change_abandoned'), 1);
    co.linkUp('w1');
    const adopted = co.state('w1', 5, [preparedTxn('1.9', ['w1', 'w2'], 4)]);
    assert.deepEqual(sent(adopted).filter((x) => x.msg.type === 'copy_read'), [], 'no copy while the orphan is unsettled');
    assert.deepEqual(co.configDurable(proposed.config).filter((x) => x.type === 'send' || x.type === 'commit_config'), [], 'the abandoned proposal is never used');
    assert.equal(roleOf(co, 'w3'), 'learner');
    const tweet = tw('o1');
    co.from('w1', { type: 'vote', txid: '1.9', yes: true, results: [{ tweet }], ops: [post(tweet)] });
    co.from('w2', { type: 'vote', txid: '1.9', yes: true, results: [{ tweet }], ops: [post(tweet)] });
    co.from('w1', ack('1.9', 'commit'));
    const again = only(sent(co.from('w2', ack('1.9', 'commit'))).filter((x) => x.msg.type === 'copy_read'));
    assert.ok(again.msg.type === 'copy_read' && again.msg.after === null, 'its copy starts over, from the start');
    // Promoted again, under a number above the abandoned one.
    const p2 = only(sentTo(co.from(again.worker, { type: 'copy_page', rid: again.msg.type === 'copy_read' ? again.msg.rid : 0, rows: [] }), 'w3'));
    const next = only(ofType(co.from('w3', { type: 'installed', rid: p2.type === 'install' ? p2.rid : 0, done: true }), 'log_config'));
    assert.equal(next.config, proposed.config + 1);
  });

  test('a stream begun again on the same link goes on with the link\'s numbering (the worker counts per link: a new stream from 1 would be taken for repeats; simulator seed 320)', () => {
    const co = voters(['w1'], { lastCseq: 0 });
    const first = join(co, 'w2');
    co.from('w2', { type: 'installed', rid: only(sentTo(co.from('w1', { type: 'copy_page', rid: first.rid, rows: [] }), 'w2').filter((m) => m.type === 'install')).rid, done: true });
    const c1 = commit(co, ['w1'], 'a1');
    assert.deepEqual(replicates(c1.decided, 'w2').map((r) => r.seq), [1]);
    const promotion = co.configN() + 1; // proposed when its copy was installed, not durable yet
    // An orphan on w1 (its link lost and back): w2's stream is dropped, on the same link.
    co.linkDown('w1');
    co.linkUp('w1');
    const tweet = tw('o1');
    co.state('w1', 0, [preparedTxn('1.9', ['w1'], 9)]);
    const decided = co.from('w1', { type: 'vote', txid: '1.9', yes: true, results: [{ tweet }], ops: [post(tweet)] });
    // (Its promotion, proposed when its copy was installed, was abandoned when w1's link dropped.)
    assert.deepEqual(co.configDurable(promotion).filter((x) => x.type === 'send'), []);
    const again = only(sent([...decided, ...co.from('w1', ack('1.9', 'commit'))]).filter((x) => x.msg.type === 'copy_read'));
    const rid = again.msg.type === 'copy_read' ? again.msg.rid : 0;
    co.from('w2', { type: 'installed', rid: only(sentTo(co.from('w1', { type: 'copy_page', rid, rows: [] }), 'w2').filter((m) => m.type === 'install')).rid, done: true });
    assert.deepEqual(replicates(commit(co, ['w1'], 'a2').decided, 'w2').map((r) => r.seq), [2], 'seq 2, after the 1 sent on this link before');
    assert.equal(learnerOf(co, 'w2')?.behind, 1, 'the new stream owes only its own');
  });

  test(`a learner more than ${LIMITS.learnerBufferCommits} commits behind while copying starts its copy over`, () => {
    const co = voters(['w1'], { lastCseq: 0 });
    const first = join(co, 'w2');
    let restarted: CoordinatorEffect[] = [];
    for (let i = 0; i <= LIMITS.learnerBufferCommits && restarted.length === 0; i++) {
      const p = prepareOf(co.req(7, i, postReq(`t${i}`)), 'w1');
      // #13: decided at the last YES (no logged event); its only voter: one phase, answered at once, nothing more to tell w1.
      const decided = co.from('w1', yes(p.txid, [{ tweet: tweetOf((p.ops ?? [])[0] as Op) }]));
      if (i < LIMITS.learnerBufferCommits) {
        assert.deepEqual(sentTo(decided, 'w1'), []);
        assert.equal(only(replies(decided)).reply.status, 'OK');
      } else restarted = decided;
    }
    assert.ok(ofType(restarted, 'log').some((l) => l.level === 'warn' && /fell 50000 commits behind while copying; its copy starts over/.test(l.msg)), 'said in the log');
    const again = only(sentTo(restarted, 'w1').filter((m) => m.type === 'copy_read'));
    assert.ok(again.type === 'copy_read' && again.after === null && again.rid !== first.rid, 'a new copy from the start');
    // The old copy's page is nobody's now; the new one holds nothing: the last commit, in one phase,
    // was durable on its only voter (the donor) before its YES, so none was being applied when it began.
    assert.deepEqual(sent(co.from('w1', { type: 'copy_page', rid: first.rid, rows: [] })), []);
    assert.equal(learnerOf(co, 'w2')?.behind, 0);
  });
});

describe('membership: eviction', () => {
  test('a voter not up for evictAfterMs leaves the voters by a configuration change; writes go on without it', () => {
    const co = voters(['w1', 'w2']);
    const t0 = co.now;
    co.linkDown('w2');
    const refused = only(replies(co.req(7, 1, postReq('t1')))).reply;
    assert.match(String(field(refused, 'error')), /worker w2 .* is unreachable; it is evicted from the voters if it is not back within 10 s/);
    assert.deepEqual(ofType(co.tick(t0 + EVICT - 1), 'log_config'), [], 'not before evictAfterMs');
    const e = co.tick(t0 + EVICT);
    assert.deepEqual(ofType(e, 'log_config'), [{ type: 'log_config', config: 2, voters: ['w1'], catching_up: [] }]);
    assert.equal(field(only(replies(co.req(7, 2, postReq('t2')))).reply, 'code'), 'UNAVAILABLE', 'not used before it is durable');
    co.configDurable(2);
    assert.equal(roleOf(co, 'w2'), 'evicted');
    assert.deepEqual(co.status().config, { n: 2, voters: ['w1'] });
    assert.equal(co.status().counters.evictions, 1);
    commit(co, ['w1'], 't3', 3);
    // Back, it is told it no longer votes and copies as a learner.
    assert.deepEqual(
      sentTo(co.linkUp('w2'), 'w2').map((m) => (m.type === 'hello' ? { type: m.type, config: m.config, voter: m.voter, voters: m.voters } : m)),
      [{ type: 'hello', config: 2, voter: false, voters: ['w1'] }],
    );
    assert.equal(join2(co, 'w2'), 'w1');
    assert.equal(roleOf(co, 'w2'), 'learner');
  });

  test('never the last voter up: with no other voter up, nobody is evicted', () => {
    const co = voters(['w1', 'w2']);
    co.linkDown('w1');
    co.linkDown('w2');
    assert.deepEqual(ofType(co.tick(co.now + 10 * EVICT), 'log_config'), []);
    assert.deepEqual(co.status().config.voters, ['w1', 'w2']);
    // One back and up: the other one is evicted.
    co.linkUp('w1');
    co.state('w1', 5);
    assert.deepEqual(ofType(co.tick(co.now + 1), 'log_config').map((c) => c.voters), [['w1']]);
  });

  test('--min-voters: while fewer workers vote, writes are refused with UNAVAILABLE saying so', () => {
    const co = voters(['w1', 'w2'], { cfg: { minVoters: 2 } });
    commit(co, ['w1', 'w2'], 't1');
    co.linkDown('w2');
    co.tick(co.now + EVICT);
    co.configDurable(2);
    const r = only(replies(co.req(7, 2, postReq('t2')))).reply;
    assert.equal(field(r, 'code'), 'UNAVAILABLE');
    assert.match(String(field(r, 'error')), /only 1 worker votes and --min-voters is 2/);
    const s = co.status();
    assert.deepEqual([s.min_voters, s.evict_after_s], [2, 10]);
  });

  test('a stale voter (a draining voter that lost its link) is evicted at once', () => {
    const co = promotedWithOneReplicate();
    assert.equal(roleOf(co, 'w2'), 'voter');
    co.linkDown('w2'); // before it applied replicate 1: it may lack it
    const e = co.tick(co.now);
    assert.deepEqual(ofType(e, 'log_config'), [{ type: 'log_config', config: 3, voters: ['w1'], catching_up: [] }], 'no evictAfterMs wait');
    co.configDurable(3);
    assert.equal(roleOf(co, 'w2'), 'evicted');
  });
});

/** link_up + state for a member already registered: the donor its copy reads from. */
function join2(co: Co, id: string): string {
  const read = only(sent(co.state(id, 0)).filter((s) => s.msg.type === 'copy_read'));
  return read.worker;
}

describe('membership: a new identity at a voter\'s address', () => {
  test(
    'at the address of the only voter, down: the refusal does not promise a removal that never comes',
    () => {
      const co = voters(['w1']);
      co.linkDown('w1');
      const e = co.register('w1-new', addr('w1'));
      assert.equal(field(only(replies(e)).reply, 'code'), 'UNAVAILABLE');
      const promised = /being removed from the voters/.test(String(field(only(replies(e)).reply, 'error')));
      assert.ok(!promised || ofType(e, 'log_config').length === 1, 'promised a removal and proposed none');
      assert.match(String(field(only(replies(e)).reply, 'error')), /no other voter is up/);
    },
  );
});

describe('membership: remove_worker', () => {
  const remove = (co: Co, worker: string, conn = 60): CoordinatorEffect[] => co.req(conn, 0, { action: 'remove_worker', worker });

  for (const by of ['id', 'address'] as const) {
    test(`by ${by}: it leaves the voters; answered once the configuration is durable; told it is removed`, () => {
      const co = voters(['w1', 'w2']);
      const e = remove(co, by === 'id' ? 'w2' : addr('w2'));
      assert.deepEqual(replies(e), [], 'not before the configuration is durable');
      assert.deepEqual(ofType(e, 'log_config'), [{ type: 'log_config', config: 2, voters: ['w1'], catching_up: [] }]);
      const done = co.configDurable(2);
      assert.deepEqual(only(replies(done)), { conn: 60, slot: 0, reply: { status: 'OK', removed: 'w2', config: 2 } });
      assert.deepEqual(sentTo(done, 'w2').at(-1), { type: 'config', config: 2, voter: false, removed: true, voters: ['w1'], catching_up: [] });
      assert.deepEqual(ofType(done, 'remove_member'), [{ type: 'remove_member', id: 'w2' }]);
      assert.deepEqual(ofType(done, 'unlink'), [{ type: 'unlink', worker: 'w2' }]);
      assert.deepEqual(co.status().workers.map((w) => w.id), ['w1']);
      assert.equal(co.status().counters.removals, 1);
    });
  }

  test('the removal is saved with the member (leaving) before the operator is answered: a restarted coordinator recovers it leaving, never copies it, and drops it once it owes nothing', () => {
    const co = voters(['w1', 'w2']);
    const p = prepareOf(co.req(7, 1, postReq('t1')), 'w2');
    remove(co, 'w2');
    const done = co.configDurable(2);
    // It still votes on t1 (owes it): it stays a member, leaving, for now.
    assert.deepEqual(ofType(done, 'save_member'), [{ type: 'save_member', id: 'w2', address: addr('w2'), leaving: true }]);
    assert.ok(done.findIndex((e) => e.type === 'save_member') < done.findIndex((e) => e.type === 'reply'), 'saved before the reply (the shell sends a reply after a membership write once it is durable)');
    assert.ok(p.txid !== '');
    // The coordinator restarts: the member comes back leaving, from the store.
    const again = new Co({ epoch: 2, last_cseq: 5, members: [{ id: 'w1', address: addr('w1') }, { id: 'w2', address: addr('w2'), leaving: true }], config: { n: 2, voters: ['w1'] } });
    again.linkUp('w1');
    again.state('w1', 5);
    assert.equal(roleOf(again, 'w2'), 'leaving', 'down: kept until it can be told');
    const back = again.linkUp('w2');
    assert.deepEqual(sent(back).filter((x) => x.msg.type === 'copy_read'), [], 'never copied as a learner');
    assert.deepEqual(sentTo(back, 'w2').at(-1), { type: 'config', config: 2, voter: false, removed: true, voters: ['w1'], catching_up: [] });
    assert.deepEqual(ofType(back, 'remove_member'), [{ type: 'remove_member', id: 'w2' }]);
  });

  test('a learner (no vote) is removed at once', () => {
    const co = voters(['w1']);
    join(co, 'w2');
    const e = remove(co, 'w2');
    assert.deepEqual(ofType(e, 'log_config'), []);
    assert.deepEqual(only(replies(e)).reply, { status: 'OK', removed: 'w2', config: 1 });
    assert.deepEqual(sentTo(e, 'w2'), [{ type: 'config', config: 1, voter: false, removed: true, voters: ['w1'], catching_up: [] }]);
  });

  test('NOT_FOUND for no such worker', () => {
    const co = voters(['w1']);
    const r = only(replies(remove(co, 'w9'))).reply;
    assert.equal(field(r, 'code'), 'NOT_FOUND');
    assert.match(String(field(r, 'error')), /no worker w9/);
  });

  test('INVALID for the only voter, and for the only voter that is up', () => {
    const one = voters(['w1']);
    const r1 = only(replies(remove(one, 'w1'))).reply;
    assert.equal(field(r1, 'code'), 'INVALID');
    assert.match(String(field(r1, 'error')), /w1 is the only voter/);
    const two = voters(['w1', 'w2']);
    two.linkDown('w2');
    const r2 = only(replies(remove(two, 'w1'))).reply;
    assert.equal(field(r2, 'code'), 'INVALID');
    assert.match(String(field(r2, 'error')), /w1 is the only voter that is up/);
  });

  test('UNAVAILABLE while another configuration change runs', () => {
    const co = voters(['w1', 'w2', 'w3']);
    co.linkDown('w3');
    assert.equal(ofType(co.tick(co.now + EVICT), 'log_config').length, 1);
    const r = only(replies(remove(co, 'w2'))).reply;
    assert.equal(field(r, 'code'), 'UNAVAILABLE');
    assert.match(String(field(r, 'error')), /a configuration change is being made \(evict w3/);
  });
});

describe('membership: status', () => {
  test('config, evict_after_s, min_voters, and each worker\'s role and learner progress', () => {
    // Evicted sooner than the lock timeout, so that the learner's copy is not cut off as stalled meanwhile.
    const co = voters(['w1', 'w2'], { cfg: { evictAfterMs: 5_000, minVoters: 1 } });
    const read = join(co, 'w3');
    co.from(read.donor, { type: 'copy_page', rid: read.rid, rows: rows(['a', 'b']) });
    co.from('w3', { type: 'installed', rid: read.rid, done: false });
    co.linkDown('w2');
    co.tick(co.now + 5_000);
    co.configDurable(2);
    const s = co.status();
    assert.deepEqual(s.config, { n: 2, voters: ['w1'] });
    assert.equal(s.evict_after_s, 5);
    assert.equal(s.min_voters, 1);
    const w3 = s.workers.find((w) => w.id === 'w3');
    assert.deepEqual(
      s.workers.map((w) => [w.id, w.state, w.role]),
      [
        ['w1', 'up', 'voter'],
        ['w2', 'down', 'evicted'],
        ['w3', 'joining', 'learner'],
      ],
    );
    assert.deepEqual(w3?.learner, { phase: 'copying', behind: 0, copied_rows: 2, copied_bytes: w3?.learner?.copied_bytes });
    assert.ok((w3?.learner?.copied_bytes ?? 0) > 0);
    assert.equal(s.workers.find((w) => w.id === 'w1')?.learner, undefined, 'a voter that is up shows no progress');
  });
});

// ---------------------------------------------------------------------------
// The worker

/** The worker's committed outcomes (all the core reads here). */
class Outcomes implements WorkerReadView {
  readonly outcomes = new Map<string, 'commit' | 'abort'>();
  getTweet(): null {
    return null;
  }
  getItem(): null {
    return null;
  }
  outcomeOf(txid: string): 'commit' | 'abort' | null {
    return this.outcomes.get(txid) ?? null;
  }
  commitSeqOf(): null {
    return null;
  }
  commitResultsOf(): null {
    return null;
  }
  rowCseqOf(): number {
    return 0;
  }
}

class Wk {
  readonly view = new Outcomes();
  readonly core: WorkerCore;
  constructor(config: number, voter: boolean) {
    this.core = new WorkerCore(this.view, { node_id: 'w2', max_cseq: 0, prepared: [], config, voter, removed: false }, T, 0);
  }
  msg(m: ToWorkerCore): WorkerEffect[] {
    const out = this.core.handle({ type: 'message', msg: m }, 0);
    this.core.invariants();
    return out;
  }
  ev(e: Parameters<WorkerCore['handle']>[0]): WorkerEffect[] {
    const out = this.core.handle(e, 0);
    this.core.invariants();
    return out;
  }
  /** A prepare voted by this worker (w2) and w1: two phases (a sole voter would commit in one). */
  prepare(txid: string, config: number, floor: number, id = txid, cseq = 1): WorkerEffect[] {
    const voters = [{ id: 'w1', address: addr('w1') }, { id: 'w2', address: addr('w2') }];
    return this.msg({ type: 'prepare', txid, ops: [postOp(id)], voters: voters.map((v) => v.id), addresses: voters, config, floor, cseq });
  }
  /** The vote a prepare's effects lead to: #13: a NO is said only once its tombstone is durable, so that fsync is delivered first. */
  voteOn(effects: WorkerEffect[]): FromWorker {
    assert.deepEqual(sends(effects).filter((m) => m.type === 'vote' && !m.yes), [], 'no NO before its tombstone is durable');
    const after = effects.flatMap((e) => (e.type === 'persist_abort' ? this.ev({ type: 'durable', txid: e.txid, what: 'abort' }) : []));
    return only(sends([...effects, ...after]).filter((m) => m.type === 'vote'));
  }
  lock(txid: string, config: number, floor: number): WorkerEffect[] {
    return this.msg({ type: 'lock', txid, seq: 1, op: postOp(txid), config, floor });
  }
  replicate(seq: number, txid: string, cseq = seq): WorkerEffect[] {
    return this.msg({ type: 'replicate', seq, txid, cseq, ops: [postOp(txid)] });
  }
}

const postOp = (id: string): Op => ({ kind: 'post', tweet: { id, username: 'u', content: id, created_at: 1, updated_at: null } });
const sends = (e: WorkerEffect[]): FromWorker[] => e.flatMap((x) => (x.type === 'send' ? [x.msg] : []));
const commitsWritten = (e: WorkerEffect[]): string[] => e.flatMap((x) => (x.type === 'persist_commit' ? [x.txid] : []));

describe('membership: the worker', () => {
  test('a learner (not a voter) refuses every prepare and lock with UNAVAILABLE (#13: a prepare\'s NO once its tombstone is durable)', () => {
    const w = new Wk(3, false);
    const v = w.voteOn(w.prepare('1.1', 3, 0));
    assert.deepEqual(v.type === 'vote' && !v.yes ? [v.code, /does not vote in configuration 3/.test(v.error)] : null, ['UNAVAILABLE', true]);
    const l = only(sends(w.lock('1.2', 3, 0)));
    assert.deepEqual(l.type === 'lock_refused' ? l.code : null, 'UNAVAILABLE');
    assert.equal(w.core.txnCount, 0, 'nothing is locked or prepared');
  });

  test('a voter refuses a new transaction from a configuration older than its own (#13: a prepare\'s NO once its tombstone is durable), and accepts its own or a newer one', () => {
    const w = new Wk(3, true);
    const old = w.voteOn(w.prepare('1.1', 2, 0));
    assert.deepEqual(old.type === 'vote' && !old.yes ? [old.code, /comes from configuration 2; worker w2 is in configuration 3/.test(old.error)] : null, ['UNAVAILABLE', true]);
    const oldLock = only(sends(w.lock('1.2', 2, 0)));
    assert.deepEqual(oldLock.type === 'lock_refused' ? oldLock.code : null, 'UNAVAILABLE');
    assert.deepEqual(w.prepare('1.3', 3, 0).map((e) => e.type), ['persist_prepared']);
    // #23: a prepare from a newer configuration says it, with its voters: learnt, and saved before its record is durable.
    const newer = w.prepare('1.4', 4, 0);
    assert.deepEqual(newer.map((e) => e.type), ['save_config', 'persist_prepared']);
    assert.deepEqual(newer[0], { type: 'save_config', config: { n: 4, voters: ['w1', 'w2'], catching_up: [] }, voter: true, removed: false });
    assert.deepEqual(w.core.knownConfig, { config: 4, voter: true });
    assert.deepEqual(sends(w.lock('1.5', 4, 0)).map((m) => m.type), ['locked']);
    assert.equal(only(sends(w.lock('1.6', 3, 0))).type, 'lock_refused', 'configuration 3 is older now');
  });

  test('a config message it hears moves what it knows: a voter no longer refuses, an old one changes nothing, each change is saved', () => {
    const w = new Wk(1, false);
    assert.deepEqual(w.msg({ type: 'config', config: 2, voter: true, removed: false, voters: ['w1'], catching_up: [] }), [{ type: 'save_config', config: { n: 2, voters: ['w1'], catching_up: [] }, voter: true, removed: false }]);
    assert.deepEqual(w.msg({ type: 'config', config: 1, voter: false, removed: false, voters: [], catching_up: [] }), [], 'overtaken by a newer one');
    assert.deepEqual(w.core.knownConfig, { config: 2, voter: true });
    assert.deepEqual(w.prepare('1.1', 2, 0).map((e) => e.type), ['persist_prepared']);
  });

  test('refuses while `floor` is above the replicates it received (#13: the NO once its tombstone is durable)', () => {
    const w = new Wk(2, true);
    w.replicate(1, '1.1');
    const v = w.voteOn(w.prepare('1.9', 2, 2, 'x'));
    assert.deepEqual(v.type === 'vote' && !v.yes ? [v.code, /has not yet received every commit streamed to it/.test(v.error)] : null, ['UNAVAILABLE', true]);
    w.replicate(2, '1.2');
    assert.deepEqual(w.prepare('1.10', 2, 2, 'y').map((e) => e.type), ['persist_prepared']);
  });

  test('replicates are applied in seq order: one ahead waits for the gap, a duplicate is ignored; each is answered replicated once durable, not when applied', () => {
    // The coordinator promotes a learner whose stream is answered: a commit it only applied could
    // be lost to a power cut after that, and a voter never misses a commit (simulator seed 412).
    const w = new Wk(1, false);
    assert.deepEqual(w.replicate(2, '1.2'), [], 'ahead of 1: held');
    assert.deepEqual(commitsWritten(w.replicate(1, '1.1')), ['1.1', '1.2'], 'the gap filled: both, in order');
    assert.deepEqual(w.replicate(1, '1.1'), [], 'a duplicate');
    assert.deepEqual(w.replicate(2, '1.2'), [], 'a duplicate of the one held');
    assert.deepEqual(sends(w.ev({ type: 'applied', txid: '1.1' })), [], 'applied, not yet durable');
    assert.deepEqual(sends(w.ev({ type: 'durable', txid: '1.1', what: 'commit' })), [{ type: 'replicated', seq: 1 }], 'no ack: it did not vote');
    w.view.outcomes.set('1.1', 'commit');
    assert.deepEqual(sends(w.ev({ type: 'applied', txid: '1.2' })), []);
    assert.deepEqual(sends(w.ev({ type: 'durable', txid: '1.2', what: 'commit' })), [{ type: 'replicated', seq: 2 }]);
    assert.equal(w.core.appliedCseq, 2);
  });

  test('a replicate for a transaction already committed here is written again (a copy may have replaced its rows; each op writes only over older rows), and answered once durable', () => {
    const w = new Wk(2, true);
    w.view.outcomes.set('1.7', 'commit');
    const e = w.replicate(1, '1.7');
    assert.deepEqual(commitsWritten(e), ['1.7']);
    assert.deepEqual(sends(e), []);
    assert.deepEqual(sends(w.ev({ type: 'applied', txid: '1.7' })), []);
    assert.deepEqual(sends(w.ev({ type: 'durable', txid: '1.7', what: 'commit' })), [{ type: 'replicated', seq: 1 }]);
  });

  test('#23: a new copy drops what is left of the older stream on the link: a replicate held for a gap is never applied over the new copy (simulator seed 803596)', () => {
    const w = new Wk(1, false);
    assert.deepEqual(w.replicate(2, '1.2'), [], 'ahead of 1 (1 was overtaken): held');
    // The coordinator starts a new stream (a new copy) on this link after seq 2.
    w.core.copyStarting(2);
    assert.deepEqual(w.replicate(1, '1.1'), [], 'the late one from the older stream: dropped');
    assert.deepEqual(w.replicate(2, '1.2'), [], 'and the one held for it: never applied');
    assert.deepEqual(commitsWritten(w.replicate(3, '1.3')), ['1.3'], 'the new stream goes on from after 2');
  });

  test('the stream is numbered per link: after link_down it starts again at 1', () => {
    const w = new Wk(1, false);
    w.replicate(1, '1.1');
    w.ev({ type: 'link_down' });
    assert.deepEqual(commitsWritten(w.replicate(1, '1.2')), ['1.2']);
  });
});
