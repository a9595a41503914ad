// The worker core driven by hand, over an in-memory store that writes as the SQLite store does:
// the unit tests of the worker core (worker-core.test.ts, implicit-commit.test.ts) share this harness.

import assert from 'node:assert/strict';
import { WorkerCore, durableEvent, type RecoveredWorker, type WorkerEffect, type WorkerReadView } from '../../src/core/worker.ts';
import { evaluateOp } from '../../src/core/ops.ts';
import { lockKeyOf, opTweetId, type FromWorker, type Item, type ItemKind, type Op, type OpResult, type Peer, type ToWorkerCore, type Tweet } from '../../src/core/types.ts';

export const T = 10_000;

/** The worker's committed data, as the runtime's store would hold it after each durable step. */
export class MemStore implements WorkerReadView {
  readonly tweets = new Map<string, Tweet>();
  /** By lock key: the cseq of the last commit that wrote the row (#13: a prepare must be above it). */
  readonly rowCseqs = new Map<string, number>();
  /** By txid: the results a commit settled without the coordinator keeps (#13). */
  readonly results = new Map<string, OpResult[]>();
  readonly outcomes = new Map<string, 'commit' | 'abort'>();
  readonly prepared = new Map<string, Op[]>();
  getTweet(id: string): Tweet | null {
    return this.tweets.get(id) ?? null;
  }
  readonly items = new Map<string, Item>();
  getItem(kind: ItemKind, key: string): Item | null {
    return this.items.get(`${kind}:${key}`) ?? null;
  }
  outcomeOf(txid: string): 'commit' | 'abort' | null {
    return this.outcomes.get(txid) ?? null;
  }
  readonly cseqs = new Map<string, number>();
  commitSeqOf(txid: string): number | null {
    return this.cseqs.get(txid) ?? null;
  }
  commitResultsOf(txid: string): OpResult[] | null {
    return this.results.get(txid) ?? null;
  }
  rowCseqOf(op: Op): number {
    return this.rowCseqs.get(lockKeyOf(op)) ?? 0;
  }
  /** Writes a persist_* effect the way the SQLite store does. */
  persist(e: WorkerEffect): void {
    switch (e.type) {
      case 'persist_prepared':
        this.prepared.set(e.txid, e.ops);
        return;
      case 'persist_commit':
        for (const op of e.ops) {
          const id = opTweetId(op);
          const key = lockKeyOf(op);
          const r = evaluateOp(id !== null ? this.getTweet(id) : (this.items.get(key) ?? null), op);
          assert.ok(r.ok, `commit of ${e.txid} cannot apply ${op.kind}`);
          if (id !== null) {
            if (r.next === null) this.tweets.delete(id);
            else this.tweets.set(id, r.next as Tweet);
          } else if (r.next === null) this.items.delete(key);
          else this.items.set(key, r.next as Item);
          this.rowCseqs.set(key, Math.max(this.rowCseqs.get(key) ?? 0, e.cseq));
        }
        if (e.results !== undefined) this.results.set(e.txid, e.results);
        this.prepared.delete(e.txid);
        this.outcomes.set(e.txid, 'commit');
        this.cseqs.set(e.txid, e.cseq);
        return;
      case 'persist_abort':
        this.prepared.delete(e.txid);
        this.outcomes.set(e.txid, 'abort');
        return;
      default:
        return;
    }
  }
}

export function tw(id: string, username = 'alice', content = 'hello', created_at = 1_000): Tweet {
  return { id, username, content, created_at, updated_at: null };
}
export const post = (t: Tweet): Op => ({ kind: 'post', tweet: t });
export const W1 = { id: 'w1', address: '10.0.0.1:1' };
/** A coordinator's hello as the harness's worker takes it (the cluster and epoch it already obeys unless told). */
export function hello(over: Partial<Extract<ToWorkerCore, { type: 'hello' }>> = {}): Extract<ToWorkerCore, { type: 'hello' }> {
  return { type: 'hello', lock_timeout_ms: T, cluster: 'c-test', epoch: 1, run: 'r-test', config: 1, voter: true, voters: ['w1', 'w2'], catching_up: [], reserved: 0, ...over };
}
export const W2 = { id: 'w2', address: '10.0.0.2:1' };
/** w1 (this worker) and w2 vote: two phases, a prepared w1 waits for w2's word. The harness's prepares name these voters unless told otherwise. */
export const PAIR = [W1, W2];
/** w1 is the only voter: it commits in one phase (#13, DECISIONS 66): its YES and its commit at once, once its prepared record is durable. */
export const SOLO = [W1];
/** A prepare's voters as a coordinator names them on a link that was not told their addresses yet: ids, and every address. */
export const named = (voters: readonly Peer[]): { voters: string[]; addresses: Peer[] } => ({ voters: voters.map((v) => v.id), addresses: [...voters] });
/** A prepared record as recovered from disk (#13: with its cseq and results); by default voted with w2. */
export const rec = (txid: string, ops: Op[], peers = [W2], cseq = 5): RecoveredWorker['prepared'][number] => ({ txid, ops, peers, cseq, results: [] });
export const upd = (id: string, content: string, username: string | null = null, at = 2_000): Op => ({ kind: 'update', id, content, username, at });
export const del = (id: string, username: string | null = null): Op => ({ kind: 'delete', id, username });

export class Harness {
  readonly store = new MemStore();
  core: WorkerCore;
  constructor(recovered: Partial<RecoveredWorker> = {}, seed: Tweet[] = [], now = 0) {
    for (const t of seed) this.store.tweets.set(t.id, t);
    for (const p of recovered.prepared ?? []) this.store.prepared.set(p.txid, p.ops);
    this.core = checked(new WorkerCore(this.store, { node_id: 'w1', max_cseq: 0, prepared: [], config: 1, voter: true, removed: false, config_voters: ['w1', 'w2'], config_catching_up: [], cluster: 'c-test', fence: { epoch: 1, run: 'r-test' }, reserved: 0, ...recovered }, T, now));
  }
  msg(m: ToWorkerCore, now = 0): WorkerEffect[] {
    return this.core.handle({ type: 'message', msg: m }, now);
  }
  private readonly cseqs = new Map<string, number>();
  private lastCseq = 0;
  /**
   * A prepare as the coordinator sends it (#13: with the cseq it commits with): one cseq per
   * transaction, each above the last given out and above every commit this worker applied. Its
   * voters are w1 and w2 unless told otherwise: a test of two-phase commit needs a second voter,
   * since a sole voter commits in one phase (SOLO).
   */
  prepare(txid: string, ops: Op[] | null, voters: Peer[] = PAIR): Extract<ToWorkerCore, { type: 'prepare' }> {
    let cseq = this.cseqs.get(txid);
    if (cseq === undefined) {
      cseq = this.lastCseq = Math.max(this.lastCseq, this.core.appliedCseq) + 1;
      this.cseqs.set(txid, cseq);
    }
    return { type: 'prepare', txid, ops, ...named(voters), config: 1, floor: 0, cseq };
  }
  /** Makes the persist effects durable (in order) and returns what the worker does next. */
  durable(effects: WorkerEffect[], now = 0): WorkerEffect[] {
    const out: WorkerEffect[] = [];
    for (const e of effects) {
      if (e.type !== 'persist_prepared' && e.type !== 'persist_commit' && e.type !== 'persist_abort' && e.type !== 'persist_fence' && e.type !== 'persist_proposal') continue;
      this.store.persist(e);
      out.push(...this.core.handle(durableEvent(e), now));
    }
    return out;
  }
  tick(now: number): WorkerEffect[] {
    return this.core.handle({ type: 'tick' }, now);
  }
  linkDown(now = 0): WorkerEffect[] {
    return this.core.handle({ type: 'link_down' }, now);
  }
  /** One-shot prepare (voters w1 and w2 unless told otherwise), its records made durable: returns the votes sent. */
  prepared(txid: string, ops: Op[], now = 0, voters?: Peer[]): FromWorker[] {
    const e = this.msg(this.prepare(txid, ops, voters), now);
    return sends([...e, ...this.durable(e, now)]).filter((m) => m.type === 'vote');
  }
  /** The NO a prepare's effects lead to: #13: said only once its tombstone is durable (so nothing before that fsync). */
  refusalOf(effects: WorkerEffect[], now = 0): FromWorker {
    assert.deepEqual(sends(effects).filter((m) => m.type === 'vote'), [], 'no NO before its tombstone is durable');
    return only(sends(this.durable(effects, now)).filter((m) => m.type === 'vote'));
  }
}

/** The core, with every invariant checked after every event it handles, whoever drives it. */
export function checked(core: WorkerCore): WorkerCore {
  const handle = core.handle.bind(core);
  core.handle = (event, now) => {
    const effects = handle(event, now);
    core.invariants();
    return effects;
  };
  return core;
}

export function sends(effects: WorkerEffect[]): FromWorker[] {
  return effects.flatMap((e) => (e.type === 'send' ? [e.msg] : []));
}
/** What the worker writes (not what it says: sends, peer questions and answers, logs). */
export function persists(effects: WorkerEffect[]): WorkerEffect[] {
  return effects.filter((e) => e.type === 'persist_prepared' || e.type === 'persist_commit' || e.type === 'persist_abort' || e.type === 'persist_fence' || e.type === 'persist_proposal' || e.type === 'save_config');
}
export function only<E>(list: E[]): E {
  assert.equal(list.length, 1, `expected exactly one, got ${JSON.stringify(list)}`);
  return list[0] as E;
}

