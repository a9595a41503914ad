// The coordinator core driven by hand, with fake workers: the unit tests of its parts
// (coordinator-core.test.ts, membership.test.ts) share this harness.

import assert from 'node:assert/strict';
import {
  CoordinatorCore,
  type CoordinatorConfig,
  type CoordinatorEffect,
  type CoordinatorEvent,
  type RecoveredCoordinator,
} from '../../src/core/coordinator.ts';
import type { ClientRequest, ClusterKnowledge, FromWorker, KnownConfig, Op, OpResult, PreparedTxn, Reply, ToWorker, Tweet } from '../../src/core/types.ts';

export const T = 10_000;
/** The cluster a test coordinator serves (its store says so), its run, and the id it would give a cluster it forms. */
export const TEST_CLUSTER = 'c-test';
export const TEST_IDENTITY = { run: 'r-test', newClusterId: 'c-new', newCluster: false, firstVoterGraceMs: 0 } as const;
/** What a worker that never joined a cluster says when it registers. */
export const FRESH: ClusterKnowledge = { cluster: null, epoch: 0, config: { n: 0, voters: [], catching_up: [] }, proposed: null, max_cseq: 0, reserved: 0, fresh: true };

/** A worker's state (the answer to hello), as a worker that knows no configuration yet sends it unless told. */
export function stateMsg(worker: string, max_cseq = 0, prepared: PreparedTxn[] = [], known: KnownConfig = { n: 0, voters: [], catching_up: [] }, reserved = 0, proposed: KnownConfig | null = null): FromWorker {
  return { type: 'state', node_id: worker, prepared, max_cseq, known_config: known, proposed_config: proposed, reserved };
}
export const DECIDED_AT = 900_000;

export type Sent = { worker: string; msg: ToWorker };
export type Replied = { conn: number; slot: number; reply: Reply };

export const addr = (id: string): string => `127.0.0.1:${9000 + Number(id.replace(/\D/g, '') || '0')}`;

/** A coordinator core with a clock, plus fake workers driven by hand. */
export class Co {
  readonly core: CoordinatorCore;
  now = 1_000_000;
  private nextConn = 1_000;
  /**
   * `reserve: false` leaves the core as constructed (start() not called): a test of the first
   * cseq reservation. Otherwise start() runs and its reservation is made durable at once, as the
   * runtime does before any write can be prepared (#13: a cseq goes out with each prepare).
   */
  constructor(recovered: Partial<RecoveredCoordinator> = {}, copyPageRows = 100, cfg: Partial<CoordinatorConfig> = {}, opts: { reserve?: boolean } = {}) {
    this.core = new CoordinatorCore(
      { ...TEST_IDENTITY, lockTimeoutMs: T, copyPageRows, evictAfterMs: 10_000, minVoters: 1, ...cfg },
      // Recovered members vote unless the test says otherwise (as a store from before configurations: configuration 1).
      { epoch: 1, cluster: TEST_CLUSTER, last_cseq: 0, members: [], decisions: [], config: { n: (recovered.members ?? []).length > 0 ? 1 : 0, voters: (recovered.members ?? []).map((m) => m.id) }, ...recovered },
    );
    if (opts.reserve !== false) this.reserve(this.identity(this.core.start(this.now)));
  }
  /** Makes every log_identity among `effects` durable (identity_logged), as the runtime's store would; returns the effects with those of doing so. */
  identity(effects: CoordinatorEffect[]): CoordinatorEffect[] {
    return [...effects, ...ofType(effects, 'log_identity').flatMap((w) => this.ev({ type: 'identity_logged', seq: w.seq }))];
  }
  /** Makes every reserve_cseq among `effects` durable (cseq_reserved), as the runtime's store would; returns the effects of doing so. */
  reserve(effects: CoordinatorEffect[]): CoordinatorEffect[] {
    return ofType(effects, 'reserve_cseq').flatMap((r) => this.ev({ type: 'cseq_reserved', through: r.through }));
  }
  /** Every event goes through here, and every invariant is checked after it. */
  ev(e: CoordinatorEvent, now = this.now): CoordinatorEffect[] {
    this.now = now;
    const effects = this.core.handle(e, now);
    this.core.invariants();
    return effects;
  }
  req(conn: number, slot: number, request: ClientRequest, now = this.now): CoordinatorEffect[] {
    return this.ev({ type: 'request', conn, slot, request }, now);
  }
  from(worker: string, msg: FromWorker, now = this.now): CoordinatorEffect[] {
    return this.ev({ type: 'worker_message', worker, msg }, now);
  }
  tick(now: number): CoordinatorEffect[] {
    return this.ev({ type: 'tick' }, now);
  }
  linkUp(worker: string): CoordinatorEffect[] {
    return this.ev({ type: 'link_up', worker });
  }
  linkDown(worker: string): CoordinatorEffect[] {
    return this.ev({ type: 'link_down', worker });
  }
  state(worker: string, max_cseq = 0, prepared: PreparedTxn[] = [], known: KnownConfig = { n: 0, voters: [], catching_up: [] }, reserved = 0): CoordinatorEffect[] {
    return this.from(worker, stateMsg(worker, max_cseq, prepared, known, reserved));
  }
  register(id: string, address = addr(id), known: ClusterKnowledge = FRESH): CoordinatorEffect[] {
    return this.req(this.nextConn++, 0, { action: 'register', worker: { id, address }, known });
  }
  /**
   * register + link_up + state, then every step of its way to voter and up: the first worker of an
   * empty configuration is made a voter by a configuration change; any later one copies from an up
   * voter (as the fake donor, an empty copy), is promoted, drains its stream, and is up.
   */
  addWorker(id: string, maxCseq = 0): void {
    this.register(id);
    this.linkUp(id);
    this.drive(this.state(id, maxCseq));
    assert.equal(this.workerState(id), 'up', `${id} should be up`);
    assert.ok(this.status().config.voters.includes(id), `${id} should vote`);
  }
  /**
   * Answers, as durable storage and as the fake workers would, what the membership asks until it
   * asks nothing more: each log_config is durable (config_logged), a donor reads an empty page for
   * each copy_read, a learner installs each page and applies each replicate.
   */
  drive(effects: CoordinatorEffect[]): void {
    const queue = [...effects];
    // Each step is one answer; a join takes about ten of them.
    for (let steps = 0; queue.length > 0; steps++) {
      assert.ok(steps < 200, 'the membership keeps asking: a join that never ends');
      const e = queue.shift() as CoordinatorEffect;
      if (e.type === 'log_config') queue.push(...this.ev({ type: 'config_logged', config: e.config }));
      if (e.type === 'commit_config') queue.push(...this.ev({ type: 'config_committed', config: e.config }));
      if (e.type !== 'send') continue;
      const m = e.msg;
      if (m.type === 'config_propose') queue.push(...this.from(e.worker, { type: 'config_ack', config: m.config }));
      if (m.type === 'copy_read') queue.push(...this.from(e.worker, { type: 'copy_page', rid: m.rid, rows: [] }));
      else if (m.type === 'install') queue.push(...this.from(e.worker, { type: 'installed', rid: m.rid, done: m.done }));
      else if (m.type === 'replicate') queue.push(...this.from(e.worker, { type: 'replicated', seq: m.seq }));
    }
  }
  /**
   * A proposed configuration (log_config) made durable here, acked by each of its voters as they
   * would once it is durable there, and written as in use: returns every effect on the way (#23).
   */
  configDurable(n: number): CoordinatorEffect[] {
    const out = this.ev({ type: 'config_logged', config: n });
    for (const e of [...out]) if (e.type === 'send' && e.msg.type === 'config_propose') out.push(...this.from(e.worker, { type: 'config_ack', config: e.msg.config }));
    for (const e of [...out]) if (e.type === 'commit_config') out.push(...this.ev({ type: 'config_committed', config: e.config }));
    return out;
  }
  /** The number of the configuration in use. */
  configN(): number {
    return this.status().config.n;
  }
  status(): StatusReply {
    const r = only(replies(this.req(1, 0, { action: 'status' })));
    assert.equal(r.reply.status, 'OK');
    return r.reply as unknown as StatusReply;
  }
  workerState(id: string): string | undefined {
    return this.status().workers.find((w) => w.id === id)?.state;
  }
}

export interface StatusReply {
  status: 'OK';
  identity: { id: string | null; epoch: number; state: string; why?: string; waiting_for?: string[]; reason?: string; foreign_workers?: Record<string, string> };
  lock_timeout_s: number;
  config: { n: number; voters: string[] };
  evict_after_s: number;
  min_voters: number;
  workers: { id: string; address: string; state: string; role: string; learner?: { phase: string; behind: number; copied_rows: number; copied_bytes: number } }[];
  in_doubt: { txid: string; state: string; age_ms: number; waiting_for: string[] }[];
  counters: { commits: number; aborts: Record<string, number>; reads: number; requests: number; open_transactions: number; last_cseq: number; evictions: number; promotions: number; removals: number };
}

/**
 * start() of a core built by hand, its writes made durable as the runtime's store would (the
 * identity, then the first cseq reservation): returns every effect, those of the durable writes too.
 */
export function startCore(core: CoordinatorCore, now: number): CoordinatorEffect[] {
  const out: CoordinatorEffect[] = [];
  const queue = core.start(now);
  while (queue.length > 0) {
    const e = queue.shift() as CoordinatorEffect;
    out.push(e);
    if (e.type === 'log_identity') queue.push(...core.handle({ type: 'identity_logged', seq: e.seq }, now));
    if (e.type === 'reserve_cseq') queue.push(...core.handle({ type: 'cseq_reserved', through: e.through }, now));
  }
  return out;
}

export function sent(effects: CoordinatorEffect[]): Sent[] {
  return effects.flatMap((e) => (e.type === 'send' ? [{ worker: e.worker, msg: e.msg }] : []));
}
export function sentTo(effects: CoordinatorEffect[], worker: string): ToWorker[] {
  return sent(effects).filter((s) => s.worker === worker).map((s) => s.msg);
}
export function replies(effects: CoordinatorEffect[]): Replied[] {
  return effects.flatMap((e) => (e.type === 'reply' ? [{ conn: e.conn, slot: e.slot, reply: e.reply }] : []));
}
export function ofType<K extends CoordinatorEffect['type']>(effects: CoordinatorEffect[], type: K): Extract<CoordinatorEffect, { type: K }>[] {
  return effects.filter((e): e is Extract<CoordinatorEffect, { type: K }> => e.type === type);
}
export function only<E>(list: E[]): E {
  assert.equal(list.length, 1, `expected exactly one, got ${JSON.stringify(list)}`);
  return list[0] as E;
}
export function field(r: Reply, name: string): unknown {
  return (r as Record<string, unknown>)[name];
}
export function prepareOf(effects: CoordinatorEffect[], worker: string): Extract<ToWorker, { type: 'prepare' }> {
  const m = only(sentTo(effects, worker).filter((x) => x.type === 'prepare'));
  assert.equal(m.type, 'prepare');
  return m as Extract<ToWorker, { type: 'prepare' }>;
}
export function yes(txid: string, results: OpResult[]): FromWorker {
  return { type: 'vote', txid, yes: true, results };
}
export function no(txid: string, code: 'LOCKED' | 'NOT_FOUND' | 'EXISTS' | 'FORBIDDEN' | 'TIMEOUT', error: string): FromWorker {
  return { type: 'vote', txid, yes: false, code, error };
}
export const ack = (txid: string, outcome: 'commit' | 'abort'): FromWorker => ({ type: 'ack', txid, outcome });
/** An entry of a worker's state: a transaction it holds prepared (#13: with its voters, itself among them, and its cseq). */
export const preparedTxn = (txid: string, voters: string[], cseq: number): PreparedTxn => ({ txid, voters, cseq });
export const postReq = (id: string | null, content = 'hello', username = 'alice'): ClientRequest => ({ action: 'post', tweet: { id, username, content } });
export function tweetOf(op: Op): Tweet {
  assert.equal(op.kind, 'post');
  return op.kind === 'post' ? op.tweet : (undefined as never);
}

