// #23: the cluster a coordinator serves, its epoch, and its standing (forming, recovering, fenced,
// serving), one rule a test, on the coordinator core; the worker core's side of it: which hello it
// takes (fencing), what it tells a coordinator when it registers, and that it answers a hello only
// once it is sure never to obey an older coordinator. Both cores driven by hand.

import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import type { CoordinatorEffect } from '../../src/core/coordinator.ts';
import type { ClusterKnowledge, KnownConfig } from '../../src/core/types.ts';
import { Co, FRESH, TEST_CLUSTER, addr, field, ofType, only, postReq, prepareOf, replies, sentTo, stateMsg } from '../helpers/coordinator-core.ts';
import { Harness, hello, persists, sends } from '../helpers/worker-core.ts';

/** What a worker of cluster `cluster` that obeyed `epoch` and knows configuration `config` says when it registers. */
function member(cluster: string, epoch: number, config: KnownConfig, maxCseq = 40, reserved = 100_000): ClusterKnowledge {
  return { cluster, epoch, config, proposed: null, max_cseq: maxCseq, reserved, fresh: false };
}

const C7: KnownConfig = { n: 7, voters: ['w1', 'w2'], catching_up: [] };

/** A coordinator whose data directory was lost: an empty store, started, its identity durable. */
function wiped(): Co {
  return new Co({ cluster: null, empty: true, epoch: 1, members: [] });
}

/** Every log_identity durable, as the runtime's store makes it; returns what that leads to. */
function identityDurable(co: Co, effects: CoordinatorEffect[]): CoordinatorEffect[] {
  return ofType(effects, 'log_identity').flatMap((w) => co.ev({ type: 'identity_logged', seq: w.seq }));
}

const code = (effects: CoordinatorEffect[]): unknown => field(only(replies(effects)).reply, 'code');
const error = (effects: CoordinatorEffect[]): string => String(field(only(replies(effects)).reply, 'error'));

describe('coordinator: a coordinator with an empty data directory', () => {
  test('takes no write: it has no cluster yet, and says how it gets one', () => {
    const co = wiped();
    const e = co.req(7, 1, postReq('t1'));
    assert.equal(code(e), 'UNAVAILABLE');
    assert.match(error(e), /has no data: it takes over the cluster of the first worker holding that cluster.s data to register/);
    assert.equal(co.status().identity.state, 'forming');
  });

  test('adopts the cluster of the first worker that registers holding one, above the epoch it obeyed, and recovers', () => {
    const co = wiped();
    const r = co.register('w1', addr('w1'), member('c-old', 6, C7));
    assert.deepEqual(only(replies(r)).reply, { status: 'OK', lock_timeout_s: 10, id: 'w1' });
    assert.deepEqual(ofType(r, 'log_identity').at(-1), { type: 'log_identity', seq: ofType(r, 'log_identity').at(-1)?.seq, cluster: 'c-old', epoch: 7, recovering: 'empty' });
    assert.deepEqual(ofType(r, 'link'), [], 'nobody is linked before the identity is durable');
    const linked = identityDurable(co, r);
    assert.deepEqual(ofType(linked, 'link'), [{ type: 'link', worker: 'w1', address: addr('w1') }]);
    const h = only(sentTo(co.linkUp('w1'), 'w1'));
    assert.ok(h.type === 'hello' && h.cluster === 'c-old' && h.epoch === 7, JSON.stringify(h));
    assert.equal(co.status().identity.state, 'recovering');
  });

  test('recovering: no write and no read until every voter of the newest configuration heard of answered; then it takes over above it', () => {
    const co = wiped();
    identityDurable(co, co.register('w1', addr('w1'), member('c-old', 6, C7)));
    co.linkUp('w1');
    co.from('w1', stateMsg('w1', 40, [], C7, 100_000));
    const waiting = co.req(7, 1, postReq('t1'));
    assert.equal(code(waiting), 'UNAVAILABLE');
    assert.match(error(waiting), /recovering cluster c-old \(it started with an empty data directory\): waiting for worker w2 \(voters of configuration 7, or of a newer one proposed\)/);
    assert.deepEqual(co.status().identity.waiting_for, ['w2']);
    assert.equal(code(co.req(7, 2, { action: 'get_tweet', id: 't1' })), 'UNAVAILABLE', 'no read either: nobody is up');
    assert.equal(co.workerState('w1'), 'joining');
    // The other voter registers, links and answers: the takeover is a configuration numbered above 7.
    identityDurable(co, co.register('w2', addr('w2'), member('c-old', 6, C7)));
    co.linkUp('w2');
    const s = co.from('w2', stateMsg('w2', 42, [], C7, 100_000));
    assert.deepEqual(ofType(s, 'log_config'), [{ type: 'log_config', config: 8, voters: ['w1', 'w2'], catching_up: [] }]);
    // Its cseqs start above every one its workers hold or were told of (the reservation, 100,000):
    // a reservation above them is asked for with the takeover.
    assert.deepEqual(ofType(s, 'reserve_cseq'), [{ type: 'reserve_cseq', through: 200_000 }]);
    co.reserve(s);
    co.configDurable(8);
    assert.equal(co.status().identity.state, 'serving');
    assert.deepEqual([co.workerState('w1'), co.workerState('w2')], ['up', 'up']);
    const p = prepareOf(co.req(7, 4, postReq('t2')), 'w1');
    assert.ok(p.cseq > 100_000, `cseq ${p.cseq}`);
  });

  test('a worker that knows a newer configuration than the others moves what the takeover waits for', () => {
    const co = wiped();
    identityDurable(co, co.register('w1', addr('w1'), member('c-old', 6, C7)));
    co.linkUp('w1');
    co.from('w1', stateMsg('w1', 40, [], { n: 9, voters: ['w1', 'w3'], catching_up: ['w3'] }, 100_000));
    assert.deepEqual(co.status().identity.waiting_for, ['w3']);
    identityDurable(co, co.register('w3', addr('w3'), member('c-old', 6, C7)));
    co.linkUp('w3');
    const s = co.from('w3', stateMsg('w3', 40, [], { n: 8, voters: ['w1', 'w3'], catching_up: ['w3'] }, 100_000));
    assert.deepEqual(ofType(s, 'log_config'), [{ type: 'log_config', config: 10, voters: ['w1', 'w3'], catching_up: ['w3'] }], 'a voter still catching up stays so');
  });

  test('never forms a new cluster on its own: a worker holding no data registers and waits (a worker of the old cluster may register later)', () => {
    const co = wiped();
    const r = co.register('w1', addr('w1'), FRESH);
    assert.deepEqual(only(replies(r)).reply, { status: 'OK', lock_timeout_s: 10, id: 'w1' }, 'registered, not linked');
    assert.deepEqual(ofType(co.tick(co.now + 3_600_000), 'log_identity'), [], 'not after an hour either');
    assert.equal(co.status().identity.state, 'forming');
    assert.match(error(co.req(7, 1, postReq('t1'))), /has no data: it takes over the cluster of the first worker holding that cluster's data to register; to start a new cluster instead, start it with --new-cluster/);
    // A worker of the old cluster comes: that cluster is taken over, and the first one joins it.
    const adopted = co.register('w2', addr('w2'), member('c-old', 2, { n: 3, voters: ['w2'], catching_up: [] }));
    assert.deepEqual(ofType(identityDurable(co, adopted), 'link').map((l) => l.worker).sort(), ['w1', 'w2']);
  });

  test('a first voter proposed stays the only one proposed until it votes, across a restart: two workers never each think they were the first voter (simulator seed 1714)', () => {
    const co = new Co({ members: [] });
    co.register('w2');
    co.linkUp('w2');
    const first = only(ofType(co.state('w2', 0), 'log_config'));
    assert.deepEqual(first.voters, ['w2']);
    co.linkDown('w2'); // before it acked: abandoned
    co.register('w1');
    co.linkUp('w1');
    assert.deepEqual(ofType(co.state('w1', 0), 'log_config'), [], 'w1 is not made the first voter instead');
    co.linkUp('w2');
    assert.deepEqual(ofType(co.state('w2', 0), 'log_config').map((c) => c.voters), [['w2']], 'w2, back, is proposed again');
    // A coordinator restarted with that proposal durable in its store remembers it.
    const again = new Co({ members: [{ id: 'w1', address: addr('w1') }, { id: 'w2', address: addr('w2') }], config: { n: 0, voters: [] }, config_proposed: { n: 1, voters: ['w2'], catching_up: [] } });
    again.linkUp('w1');
    assert.deepEqual(ofType(again.state('w1', 0), 'log_config'), []);
    again.linkUp('w2');
    assert.deepEqual(ofType(again.state('w2', 0), 'log_config').map((c) => [c.config, c.voters]), [[2, ['w2']]]);
  });

  test('no voter in use anywhere heard, and a first voter\'s proposal durable on it: it is taken over with that voter (simulator seed 281: a power cut took the word that it was in use)', () => {
    const co = wiped();
    const none: KnownConfig = { n: 0, voters: [], catching_up: [] };
    identityDurable(co, co.register('w1', addr('w1'), { ...member('c-old', 1, none), proposed: { n: 1, voters: ['w1'], catching_up: [] } }));
    co.linkUp('w1');
    const s = co.from('w1', stateMsg('w1', 0, [], none, 0, { n: 1, voters: ['w1'], catching_up: [] }));
    assert.deepEqual(ofType(s, 'log_config'), [{ type: 'log_config', config: 2, voters: ['w1'], catching_up: [] }]);
  });

  test('a proposal newer than the configuration in use brings its voters into the wait: one of them may know a later configuration', () => {
    // w1 uses configuration 4 ({w1}) and acked 5 ({w1, w2}), put in use; then 6 ({w2}) evicted w1.
    const co = wiped();
    identityDurable(co, co.register('w1', addr('w1'), { ...member('c-old', 3, { n: 4, voters: ['w1'], catching_up: [] }), proposed: { n: 5, voters: ['w1', 'w2'], catching_up: ['w2'] } }));
    co.linkUp('w1');
    const s = co.from('w1', stateMsg('w1', 9, [], { n: 4, voters: ['w1'], catching_up: [] }, 100_000, { n: 5, voters: ['w1', 'w2'], catching_up: ['w2'] }));
    assert.deepEqual(ofType(s, 'log_config'), []);
    assert.deepEqual(co.status().identity.waiting_for, ['w2']);
    identityDurable(co, co.register('w2', addr('w2'), member('c-old', 4, { n: 6, voters: ['w2'], catching_up: [] })));
    co.linkUp('w2');
    const t = co.from('w2', stateMsg('w2', 20, [], { n: 6, voters: ['w2'], catching_up: [] }, 100_000));
    assert.deepEqual(ofType(t, 'log_config'), [{ type: 'log_config', config: 7, voters: ['w2'], catching_up: [] }], 'w2 alone: w1 copies from it');
  });

  test('workers that know no configuration (they never voted) never make a takeover: it waits for one that does (simulator seed 438)', () => {
    const co = wiped();
    identityDurable(co, co.register('w1', addr('w1'), member('c-old', 1, { n: 0, voters: [], catching_up: [] })));
    co.linkUp('w1');
    const s = co.from('w1', stateMsg('w1', 0, [], { n: 0, voters: [], catching_up: [] }, 0));
    assert.deepEqual(ofType(s, 'log_config'), [], 'no takeover with no voter');
    assert.equal(co.status().identity.state, 'recovering');
    identityDurable(co, co.register('w2', addr('w2'), member('c-old', 3, { n: 4, voters: ['w2'], catching_up: [] })));
    co.linkUp('w2');
    assert.deepEqual(ofType(co.from('w2', stateMsg('w2', 9, [], { n: 4, voters: ['w2'], catching_up: [] }, 100_000)), 'log_config'), [{ type: 'log_config', config: 5, voters: ['w2'], catching_up: [] }]);
  });

  test('no transaction id is given out while it has no cluster, and one given out before its epoch rose is never sent to a worker (simulator seed 652)', () => {
    const co = wiped();
    assert.equal(code(co.req(9, 0, { action: 'begin' })), 'UNAVAILABLE');
    // A coordinator serving at epoch 1 begins a transaction; a worker that obeyed a gone coordinator of epoch 4 makes it take over at 5.
    const c2 = new Co();
    c2.addWorker('w1');
    const txid = String(field(only(replies(c2.req(9, 0, { action: 'begin' }))).reply, 'txid'));
    assert.match(txid, /^1\./);
    c2.linkDown('w1');
    c2.linkUp('w1');
    identityDurable(c2, c2.from('w1', { type: 'refused', reason: 'epoch', cluster: TEST_CLUSTER, epoch: 4, live: false, error: 'obeyed epoch 4' }));
    c2.linkUp('w1');
    c2.drive(c2.from('w1', stateMsg('w1', 0, [], { n: 1, voters: ['w1'], catching_up: [] }, 100_000)));
    assert.equal(c2.status().identity.state, 'serving');
    const e = c2.req(9, 1, postReq('t1'));
    assert.deepEqual(sentTo(e, 'w1'), [], 'its old id reaches no worker');
    assert.match(error(e), new RegExp(`transaction ${txid.replace('.', '\\.')} began before this coordinator took the cluster over at epoch 5`));
  });

  test('a worker with data of a cluster without an id is refused, nothing changed', () => {
    const co = wiped();
    const r = co.register('w1', addr('w1'), { ...FRESH, fresh: false });
    assert.equal(code(r), 'WRONG_CLUSTER');
    assert.deepEqual([ofType(r, 'save_member'), ofType(r, 'log_identity')], [[], []]);
  });

  test('with --new-cluster it forms the cluster at once', () => {
    const co = new Co({ cluster: null, empty: true, epoch: 1, members: [] }, 100, { newCluster: true });
    assert.equal(co.status().identity.id, 'c-new');
    co.addWorker('w1');
  });
});

describe('coordinator: a worker of another cluster', () => {
  test('is refused when it registers, naming both clusters; nothing changes', () => {
    const co = new Co();
    co.addWorker('w1');
    const r = co.register('w9', addr('w9'), member('c-other', 3, C7));
    assert.equal(code(r), 'WRONG_CLUSTER');
    assert.match(error(r), /worker w9 holds the data of cluster c-other; this coordinator serves cluster c-test: nothing was changed/);
    assert.deepEqual([ofType(r, 'save_member'), ofType(r, 'link'), ofType(r, 'log_identity')], [[], [], []]);
    assert.deepEqual(co.status().workers.map((w) => w.id), ['w1']);
  });

  test('a member that refuses this coordinator\'s hello as of another cluster stays down, and is dialled again later', () => {
    const co = new Co();
    co.addWorker('w1');
    co.linkDown('w1');
    co.linkUp('w1');
    const e = co.from('w1', { type: 'refused', reason: 'cluster', cluster: 'c-other', epoch: 3, live: false, error: 'worker w1 holds the data of cluster c-other' });
    assert.equal(co.workerState('w1'), 'down');
    assert.equal(ofType(e, 'link')[0]?.afterMs, 5_000);
    assert.deepEqual(co.status().identity.foreign_workers, { w1: 'c-other' });
  });
});

describe('coordinator: fencing', () => {
  test('a worker that obeys a live, newer coordinator fences this one: it takes nothing', () => {
    const co = new Co();
    co.addWorker('w1');
    co.linkDown('w1');
    co.linkUp('w1');
    co.from('w1', { type: 'refused', reason: 'epoch', cluster: TEST_CLUSTER, epoch: 5, live: true, error: 'obeys epoch 5' });
    assert.equal(co.status().identity.state, 'fenced');
    const e = co.req(7, 1, postReq('t1'));
    assert.equal(code(e), 'UNAVAILABLE');
    assert.match(error(e), /fenced: worker w1 obeys a newer coordinator \(epoch 5\) that is live/);
  });

  test('a worker that obeyed a newer coordinator that is gone: this one takes over above its epoch, recovering', () => {
    const co = new Co();
    co.addWorker('w1');
    co.linkDown('w1');
    co.linkUp('w1');
    const e = co.from('w1', { type: 'refused', reason: 'epoch', cluster: TEST_CLUSTER, epoch: 5, live: false, error: 'obeyed epoch 5' });
    // The new epoch, then (written with it) that it is recovering.
    assert.deepEqual(ofType(e, 'log_identity').at(-1), { type: 'log_identity', seq: ofType(e, 'log_identity').at(-1)?.seq, cluster: TEST_CLUSTER, epoch: 6, recovering: 'behind' });
    assert.equal(co.status().identity.state, 'recovering');
    assert.ok(identityDurable(co, e).some((x) => x.type === 'link'), 'dialled again once the new epoch is durable');
  });

  test('a worker that knows a newer configuration than this store: the store is behind (restored from a copy): it recovers', () => {
    const co = new Co();
    co.addWorker('w1');
    co.linkDown('w1');
    co.linkUp('w1');
    co.from('w1', stateMsg('w1', 5, [], { n: 9, voters: ['w1'], catching_up: [] }, 100_000));
    assert.equal(co.status().identity.state, 'recovering');
    assert.equal(co.workerState('w1'), 'down', 'every link starts over');
  });
});

describe('worker: which coordinator it obeys', () => {
  test('a hello from another cluster is refused, saying which cluster it holds; nothing changes', () => {
    const h = new Harness();
    const r = h.core.helloRefusal(hello({ cluster: 'c-other', epoch: 9 }), true);
    assert.deepEqual(r === null ? null : [r.reason, r.cluster, r.live], ['cluster', 'c-test', true]);
  });

  test('a lower epoch, or the same epoch from another run, is refused; a higher one is taken', () => {
    const h = new Harness({ fence: { epoch: 5, run: 'r5' } });
    assert.equal(h.core.helloRefusal(hello({ epoch: 4, run: 'r4' }), false)?.reason, 'epoch');
    assert.match(h.core.helloRefusal(hello({ epoch: 5, run: 'other' }), false)?.error ?? '', /the epoch of another coordinator process/);
    assert.equal(h.core.helloRefusal(hello({ epoch: 5, run: 'r5' }), false), null, 'its own coordinator, linking again');
    assert.equal(h.core.helloRefusal(hello({ epoch: 6, run: 'r6' }), false), null);
  });

  test('a newer coordinator is obeyed only once that is durable: the answer to its hello waits for it', () => {
    const h = new Harness({ fence: { epoch: 5, run: 'r5' } });
    const e = h.msg(hello({ epoch: 6, run: 'r6' }));
    assert.deepEqual(persists(e).filter((x) => x.type === 'persist_fence'), [{ type: 'persist_fence', cluster: 'c-test', epoch: 6, run: 'r6' }]);
    assert.deepEqual(sends(e), [], 'no state before the fence is durable');
    assert.equal(only(sends(h.durable(e))).type, 'state');
    assert.equal(h.core.helloRefusal(hello({ epoch: 5, run: 'r5' }), false)?.reason, 'epoch', 'the old one is refused from now on');
    // Its own coordinator linking again: answered at once.
    assert.equal(only(sends(h.msg(hello({ epoch: 6, run: 'r6' })))).type, 'state');
  });

  test('a worker of no cluster takes its first coordinator\'s, and says what it holds when it registers', () => {
    const h = new Harness({ cluster: null, fence: { epoch: 0, run: '' } });
    assert.equal(h.core.knowledge(true).fresh, true);
    assert.equal(h.core.helloRefusal(hello({ cluster: 'c-any', epoch: 1 }), false), null);
    h.durable(h.msg(hello({ cluster: 'c-any', epoch: 1, config: 3, voters: ['w1'], catching_up: [] })));
    assert.deepEqual(h.core.knowledge(true), { cluster: 'c-any', epoch: 1, config: { n: 3, voters: ['w1'], catching_up: [] }, proposed: null, max_cseq: 0, reserved: 0, fresh: false });
    assert.equal(h.core.helloRefusal(hello({ cluster: 'c-other', epoch: 2 }), false)?.reason, 'cluster');
  });

  test('a configuration proposed to it is made durable before it is acked, is told to a coordinator as a proposal, and is in use only once said so', () => {
    const h = new Harness();
    const e = h.msg({ type: 'config_propose', config: 2, voters: ['w1', 'w2', 'w3'], catching_up: ['w3'] });
    assert.deepEqual(persists(e), [{ type: 'persist_proposal', config: { n: 2, voters: ['w1', 'w2', 'w3'], catching_up: ['w3'] } }]);
    assert.deepEqual(sends(e), [], 'no ack before it is durable');
    assert.deepEqual(sends(h.durable(e)), [{ type: 'config_ack', config: 2 }]);
    assert.deepEqual(sends(h.msg({ type: 'config_propose', config: 2, voters: ['w1', 'w2', 'w3'], catching_up: ['w3'] })), [{ type: 'config_ack', config: 2 }], 'a repeat is acked again');
    assert.deepEqual([h.core.knowledge(false).config.n, h.core.knowledge(false).proposed?.n], [1, 2]);
    assert.deepEqual(h.core.knownConfig, { config: 1, voter: true }, 'still in use: configuration 1 (its prepares are taken)');
    h.msg({ type: 'config', config: 2, voter: true, removed: false, voters: ['w1', 'w2', 'w3'], catching_up: ['w3'] });
    assert.deepEqual([h.core.knowledge(false).config.n, h.core.knowledge(false).proposed], [2, null]);
  });

  test('its state tells the coordinator the newest configuration it knows and the reservation it was told of', () => {
    const h = new Harness();
    const st = only(sends(h.msg(hello({ config: 4, voters: ['w1', 'w2'], catching_up: ['w2'], reserved: 300_000 }))));
    assert.ok(st.type === 'state');
    assert.deepEqual([st.known_config, st.reserved], [{ n: 4, voters: ['w1', 'w2'], catching_up: ['w2'] }, 300_000]);
    h.msg({ type: 'reserved', through: 400_000 });
    assert.equal(h.core.knowledge(false).reserved, 400_000);
  });
});


describe('coordinator: stopped while recovering (simulator seed 802279)', () => {
  test('it recovers again after a restart: a fresh worker answering first is never made the first voter of a cluster whose voters hold everything', () => {
    // The store as a coordinator that lost its disk left it: the cluster adopted, no configuration yet.
    const co = new Co({ cluster: 'c-old', epoch: 8, recovering: 'empty', members: [{ id: 'w1', address: addr('w1'), leaving: false }], config: { n: 0, voters: [] } });
    assert.equal(co.status().identity.state, 'recovering');
    // A worker with an empty data directory registers and answers first.
    identityDurable(co, co.register('w5', addr('w5'), FRESH));
    co.linkUp('w5');
    const s = co.from('w5', stateMsg('w5'));
    assert.deepEqual(ofType(s, 'log_config'), [], 'no first voter: what the voters know is not heard yet');
    assert.equal(code(co.req(7, 1, postReq('t1'))), 'UNAVAILABLE');
    // The voter of configuration 7 answers: the takeover, then the flag is cleared, durably.
    co.linkUp('w1');
    const t = co.from('w1', stateMsg('w1', 40, [], { n: 7, voters: ['w1'], catching_up: [] }, 100_000));
    assert.deepEqual(ofType(t, 'log_config').map((c) => c.voters), [['w1']]);
    co.reserve(t);
    const done = co.configDurable(8);
    assert.equal(co.status().identity.state, 'serving');
    assert.deepEqual(ofType(done, 'log_identity').map((w) => w.recovering), [null], 'no longer recovering, written');
  });

  test('recovering is written with the identity, from the moment it starts', () => {
    const co = new Co({ cluster: 'c-old', epoch: 3, members: [{ id: 'w1', address: addr('w1'), leaving: false }], config: { n: 2, voters: ['w1'] } });
    // A worker that knows a newer configuration: this store is behind (restored from a copy).
    co.linkUp('w1');
    const e = co.from('w1', stateMsg('w1', 40, [], { n: 9, voters: ['w1'], catching_up: [] }, 100_000));
    assert.deepEqual(ofType(e, 'log_identity').map((w) => w.recovering), ['behind']);
  });
});

describe('coordinator: a store with a cluster and no voter yet, not formed in this run (an old copy taken before the first voter?)', () => {
  const oldCopy = (): Co => new Co({ cluster: 'c-old', epoch: 3, members: [], config: { n: 0, voters: [] } }, 100, { firstVoterGraceMs: 10_000 });

  test('chooses no first voter for 10 s: the workers that hold the cluster may not have registered yet', () => {
    const co = oldCopy();
    const t0 = co.now;
    identityDurable(co, co.register('w5', addr('w5'), FRESH));
    co.linkUp('w5');
    assert.deepEqual(ofType(co.from('w5', stateMsg('w5')), 'log_config'), []);
    assert.deepEqual(ofType(co.tick(t0 + 9_999), 'log_config'), []);
    assert.deepEqual(ofType(co.tick(t0 + 10_000), 'log_config').map((c) => c.voters), [['w5']], 'then, with nobody knowing more, the first voter');
  });

  test('a worker that registers knowing more than this store (a configuration, commits) makes it recover: no fresh worker is made first voter', () => {
    const co = oldCopy();
    identityDurable(co, co.register('w5', addr('w5'), FRESH));
    co.linkUp('w5');
    co.from('w5', stateMsg('w5'));
    const r = co.register('w1', addr('w1'), member('c-old', 6, C7));
    assert.deepEqual(ofType(r, 'log_identity').map((w) => w.recovering), ['behind']);
    assert.equal(co.status().identity.state, 'recovering');
    assert.deepEqual(ofType(co.tick(co.now + 60_000), 'log_config'), [], 'waits for the voters of configuration 7, not a first voter');
  });

  test('one formed in this run (--new-cluster, an empty data directory) chooses its first voter at once', () => {
    const co = new Co({ cluster: null, empty: true, epoch: 1, members: [] }, 100, { newCluster: true, firstVoterGraceMs: 10_000 });
    identityDurable(co, co.register('w1', addr('w1'), FRESH));
    co.linkUp('w1');
    assert.deepEqual(ofType(co.from('w1', stateMsg('w1')), 'log_config').map((c) => c.voters), [['w1']]);
  });
});
