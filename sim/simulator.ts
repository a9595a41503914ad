// A deterministic simulation of a whole tweetdb cluster: the real coordinator
// and worker state machines, the real SQLite stores (in memory), a simulated
// network and clock, all driven by one seeded PRNG. Faults: message drop,
// delay, duplication and reordering; links that break; crashes and restarts of
// any node (keeping only what it had persisted), some of them in the middle of
// an fsync; partitions that isolate one node or split the cluster, loudly or as
// a black hole, then heal. After the run, checkers look for any broken promise.
//
// Two crash models. By default a crash is a process crash (kill -9): a write
// handed to the OS survives even if its fsync had not returned, though the
// node never learnt that it was durable. With `loseUnsynced` it is a power
// loss: every write whose fsync had not returned is gone.

import { CoordinatorCore, type CoordinatorEffect } from '../src/core/coordinator.ts';
import { WorkerCore, durableKind, type PersistEffect, type WorkerEffect } from '../src/core/worker.ts';
import type { ClientRequest, FromWorker, PeerAnswer, PeerQuery, Reply, Sabotage, ToWorker } from '../src/core/types.ts';
import { CoordinatorStore, type CoordinatorWrite } from '../src/storage/coordinator-store.ts';
import { WorkerStore } from '../src/storage/worker-store.ts';
import { answerRead, applyInstall } from '../src/node/worker-service.ts';
import { checkTweetHistory, type TweetOperation } from '../src/check/tweet-model.ts';
import type { ErrorCode } from '../src/core/types.ts';
import { Prng } from './prng.ts';

export interface SimOptions {
  seed: number;
  /** Network and process faults on (the default) or off. */
  faults?: boolean;
  /** The cluster's lock timeout in the simulation (default 1 s, to keep runs short). */
  lockTimeoutMs?: number;
  /** Crashes are power losses: writes whose fsync had not returned are lost. */
  loseUnsynced?: boolean;
  /** Test-only: run the cores with one protocol rule broken, to prove the checkers catch it. */
  sabotage?: Sabotage;
}

export interface HistoryOp {
  client: number;
  key: string;
  input: { kind: 'post' | 'update'; content: string } | { kind: 'delete' } | { kind: 'get' };
  output: { status: 'ok'; content?: string | null } | { status: 'fail'; code: string } | { status: 'unknown' };
  call: number;
  ret: number;
}

export interface SimResult {
  seed: number;
  violations: string[];
  stats: {
    workers: number;
    clients: number;
    events: number;
    simMs: number;
    commits: number;
    acked: number;
    unknown: number;
    crashes: number;
    crashesInFsync: number;
    partitions: number;
    resolvedByPeers: number;
    codes: Record<string, number>;
  };
  history: HistoryOp[];
}

const TICK_MS = 50;
/** As in src/node/worker-node.ts. */
const RELINK_AFTER_MS = 5_000;
const SINGLE_KEYS = ['k0', 'k1', 'k2', 'k3'];
const TX_KEYS = ['t0', 't1', 't2'];
/** Simulated time after healing in which everything must settle. */
const SETTLE_MS = 40_000;
/** Hard cap on the active phase. */
const ACTIVE_MS = 60_000;

/** Nodes as the partition model names them: the coordinator, and workers by index. */
const COORD = 'coordinator';
const nodeOf = (w: SimWorker): string => `w${w.index}`;

/** One group commit: the batch being written, and what to do once its fsync returns. */
interface Sync<T> {
  batch: T[];
  done: () => void;
}

interface SimWorker {
  index: number;
  address: string;
  store: WorkerStore;
  core: WorkerCore | null;
  pending: PersistEffect[];
  flushScheduled: boolean;
  syncing: Sync<PersistEffect> | null;
  crashInNextSync: boolean;
  /** Generation of the coordinator link this worker is on (0: none). */
  linkGen: number;
  /** When its coordinator link last came or went (it registers again after RELINK_AFTER_MS without one). */
  lastLinkAt: number;
  registered: boolean;
  incarnation: number;
}

interface Link {
  member: string;
  address: string;
  up: boolean;
  gen: number;
  desired: boolean;
  backoff: number;
  attemptScheduled: boolean;
}

interface ClientState {
  id: number;
  conn: number;
  slot: number;
  pending: { slot: number; conn: number; onReply: (r: Reply | null) => void; deadline: number } | null;
  remaining: number;
}

class Heap<T> {
  private items: { at: number; seq: number; v: T }[] = [];
  get size(): number {
    return this.items.length;
  }
  push(at: number, seq: number, v: T): void {
    const a = this.items;
    a.push({ at, seq, v });
    let i = a.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (less(a[p]!, a[i]!)) break;
      [a[p], a[i]] = [a[i]!, a[p]!];
      i = p;
    }
  }
  pop(): { at: number; v: T } | undefined {
    const a = this.items;
    if (a.length === 0) return undefined;
    const top = a[0]!;
    const last = a.pop()!;
    if (a.length > 0) {
      a[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < a.length && less(a[l]!, a[m]!)) m = l;
        if (r < a.length && less(a[r]!, a[m]!)) m = r;
        if (m === i) break;
        [a[m], a[i]] = [a[i]!, a[m]!];
        i = m;
      }
    }
    return { at: top.at, v: top.v };
  }
}
function less(x: { at: number; seq: number }, y: { at: number; seq: number }): boolean {
  return x.at < y.at || (x.at === y.at && x.seq < y.seq);
}

export class Simulation {
  private readonly rng: Prng;
  private readonly faults: boolean;
  private readonly lockTimeoutMs: number;
  private now = 0;
  private seq = 0;
  private readonly queue = new Heap<() => void>();
  private events = 0;
  private readonly violations: string[] = [];
  readonly history: HistoryOp[] = [];

  private readonly coordStore = new CoordinatorStore(':memory:');
  private coord: CoordinatorCore | null = null;
  private coordPending: CoordinatorWrite[] = [];
  private coordFlushScheduled = false;
  private coordIncarnation = 0;
  private readonly links = new Map<string, Link>();
  private readonly workers: SimWorker[] = [];
  /** The nodes on the far side of the current partition (empty: none). Two nodes talk when both or neither are in it. */
  private readonly isolated = new Set<string>();
  private coordSyncing: Sync<CoordinatorWrite> | null = null;
  private coordCrashInNextSync = false;
  private readonly loseUnsynced: boolean;
  private readonly clients: ClientState[] = [];
  private readonly connOwner = new Map<number, (slot: number, r: Reply) => void>();
  private nextConn = 1;
  private healing = false;
  private msgFaults = true;
  private stats = { commits: 0, acked: 0, unknown: 0, crashes: 0, crashesInFsync: 0, partitions: 0, resolvedByPeers: 0 };
  readonly codes: Record<string, number> = {};

  constructor(private readonly opts: SimOptions) {
    this.rng = new Prng(opts.seed);
    this.faults = opts.faults ?? true;
    this.lockTimeoutMs = opts.lockTimeoutMs ?? 1_000;
    this.loseUnsynced = opts.loseUnsynced ?? false;
  }

  private canTalk(a: string, b: string): boolean {
    return this.isolated.has(a) === this.isolated.has(b);
  }

  /** An fsync takes a little while: a crash can land in the middle of it. */
  private fsyncDelay(): number {
    return 0.2 + this.rng.next() * 2;
  }

  // ---------------------------------------------------------------- scheduling

  /** The nodes see whole milliseconds, as Date.now() gives them. */
  private get ms(): number {
    return Math.floor(this.now);
  }

  private at(delay: number, fn: () => void): void {
    this.queue.push(this.now + delay, this.seq++, fn);
  }

  private netDelay(): number {
    // Mostly sub-millisecond; now and then slow, which reorders messages.
    return this.msgFaults && this.rng.chance(0.05) ? this.rng.int(5, 300) : this.rng.next() * 2;
  }

  // ---------------------------------------------------------------- coordinator

  private startCoordinator(): void {
    this.coordIncarnation++;
    const recovered = this.coordStore.recover();
    this.coord = new CoordinatorCore({ lockTimeoutMs: this.lockTimeoutMs, copyPageRows: 5, ...(this.opts.sabotage ? { sabotage: this.opts.sabotage } : {}) }, recovered);
    const inc = this.coordIncarnation;
    this.runCoord(this.coord.start());
    const tick = (): void => {
      if (this.coord === null || this.coordIncarnation !== inc) return;
      this.coordHandle({ type: 'tick' });
      this.at(TICK_MS, tick);
    };
    this.at(TICK_MS, tick);
  }

  private crashCoordinator(): void {
    if (this.coord === null) return;
    this.stats.crashes++;
    this.coord = null;
    this.coordPending = []; // never handed to the OS: lost
    this.coordFlushScheduled = false;
    const inFlight = this.coordSyncing;
    this.coordSyncing = null;
    if (inFlight !== null) {
      this.stats.crashesInFsync++;
      // A process crash keeps what reached the OS; a power loss does not.
      if (!this.loseUnsynced) this.coordStore.persist(inFlight.batch);
    }
    for (const l of this.links.values()) this.breakLink(l, false);
    this.links.clear();
    // Every client connection dies with it.
    for (const c of this.clients) this.dropClientConn(c);
    this.connOwner.clear();
  }

  private coordHandle(event: Parameters<CoordinatorCore['handle']>[0]): void {
    if (this.coord === null) return;
    this.events++;
    let effects: CoordinatorEffect[];
    try {
      effects = this.coord.handle(event, this.ms);
    } catch (e) {
      this.violations.push(`coordinator invariant failed at ${this.ms} ms on ${event.type}: ${(e as Error).message}`);
      this.crashCoordinator();
      return;
    }
    this.runCoord(effects);
  }

  private runCoord(effects: readonly CoordinatorEffect[]): void {
    const inc = this.coordIncarnation;
    for (const e of effects) {
      switch (e.type) {
        case 'reply': {
          const owner = this.connOwner.get(e.conn);
          if (owner !== undefined) this.at(this.netDelay(), () => owner(e.slot, e.reply));
          break;
        }
        case 'reply_text': {
          const owner = this.connOwner.get(e.conn);
          const reply = JSON.parse(e.text) as Reply;
          if (owner !== undefined) this.at(this.netDelay(), () => owner(e.slot, reply));
          break;
        }
        case 'send': {
          const l = this.links.get(e.worker);
          if (l !== undefined && l.up) this.toWorker(l, e.msg);
          break;
        }
        case 'log_commit':
        case 'forget_decision':
        case 'save_member':
        case 'remove_member':
          this.coordPending.push(e);
          this.scheduleCoordFlush(inc);
          break;
        case 'link': {
          const old = this.links.get(e.worker);
          if (old !== undefined) this.breakLink(old, false);
          const l: Link = { member: e.worker, address: e.address, up: false, gen: 0, desired: true, backoff: 100, attemptScheduled: false };
          this.links.set(e.worker, l);
          this.scheduleDial(l, e.afterMs ?? 0);
          break;
        }
        case 'unlink': {
          const l = this.links.get(e.worker);
          if (l !== undefined) {
            l.desired = false;
            this.breakLink(l, false);
            this.links.delete(e.worker);
          }
          break;
        }
        case 'log':
          break;
      }
    }
  }

  /** Group commit, one fsync at a time: what arrives during one goes in the next. */
  private scheduleCoordFlush(inc: number): void {
    if (this.coordFlushScheduled || this.coordSyncing !== null || this.coordPending.length === 0) return;
    this.coordFlushScheduled = true;
    this.at(this.rng.next() * 2, () => {
      if (this.coordIncarnation !== inc || this.coord === null) return;
      this.coordFlushScheduled = false;
      if (this.coordCrashInNextSync && this.rng.chance(0.5)) {
        // The crash comes just before the write reaches the OS: the whole batch is lost.
        this.coordCrashInNextSync = false;
        this.stats.crashesInFsync++;
        this.crashCoordinatorFor(this.rng.int(50, 3_000));
        return;
      }
      const batch = this.coordPending;
      this.coordPending = [];
      const sync: Sync<CoordinatorWrite> = {
        batch,
        done: () => {
          if (this.coordIncarnation !== inc || this.coordSyncing !== sync) return;
          this.coordSyncing = null;
          this.coordStore.persist(batch);
          for (const w of batch) if (w.type === 'log_commit') this.coordHandle({ type: 'logged', txid: w.txid });
          this.scheduleCoordFlush(inc);
        },
      };
      this.coordSyncing = sync;
      if (this.coordCrashInNextSync) {
        this.coordCrashInNextSync = false;
        this.at(this.rng.next() * 0.2, () => {
          if (!this.healing && this.coordIncarnation === inc && this.coordSyncing === sync) this.crashCoordinatorFor(this.rng.int(50, 3_000));
        });
      }
      this.at(this.fsyncDelay(), sync.done);
    });
  }

  private crashCoordinatorFor(ms: number): void {
    this.crashCoordinator();
    this.at(ms, () => {
      if (this.coord === null && !this.healing) this.startCoordinator();
    });
  }

  private linkGen = 0;

  private scheduleDial(l: Link, delay: number): void {
    if (l.attemptScheduled) return;
    l.attemptScheduled = true;
    const inc = this.coordIncarnation;
    this.at(delay, () => {
      l.attemptScheduled = false;
      if (!l.desired || this.coord === null || this.coordIncarnation !== inc || this.links.get(l.member) !== l || l.up) return;
      const w = this.workers.find((x) => x.address === l.address);
      if (w === undefined || w.core === null || !this.canTalk(COORD, nodeOf(w))) {
        this.scheduleDial(l, l.backoff);
        l.backoff = Math.min(l.backoff * 2, 2_000);
        return;
      }
      l.up = true;
      l.gen = ++this.linkGen;
      l.backoff = 100;
      if (w.linkGen !== 0) this.workerHandle(w, { type: 'link_down' });
      w.linkGen = l.gen;
      w.lastLinkAt = this.now;
      this.coordHandle({ type: 'link_up', worker: l.member });
    });
  }

  /** The TCP connection dies: both ends learn it (the coordinator only if it still wants it). */
  private breakLink(l: Link, notifyCoordinator: boolean): void {
    if (!l.up) return;
    l.up = false;
    const w = this.workers.find((x) => x.linkGen === l.gen);
    if (w !== undefined) {
      w.linkGen = 0;
      w.lastLinkAt = this.now;
      this.workerHandle(w, { type: 'link_down' });
    }
    if (notifyCoordinator && l.desired) {
      this.coordHandle({ type: 'link_down', worker: l.member });
      this.scheduleDial(l, l.backoff);
    }
  }

  private toWorker(l: Link, msg: ToWorker): void {
    const gen = l.gen;
    const deliver = (): void => {
      const w = this.workers.find((x) => x.linkGen === gen);
      if (w === undefined || w.core === null || !l.up || l.gen !== gen) return;
      if (!this.canTalk(COORD, nodeOf(w))) return; // into the black hole
      this.onWorkerMessage(w, msg);
    };
    if (this.msgFaults && this.rng.chance(0.003)) return; // lost
    this.at(this.netDelay(), deliver);
    if (this.msgFaults && this.rng.chance(0.01)) this.at(this.netDelay() + 10, deliver); // duplicated
  }

  private toCoordinator(w: SimWorker, msg: FromWorker): void {
    const gen = w.linkGen;
    if (gen === 0) return;
    const l = [...this.links.values()].find((x) => x.gen === gen);
    if (l === undefined) return;
    const deliver = (): void => {
      if (!l.up || l.gen !== gen || this.coord === null) return;
      if (!this.canTalk(COORD, nodeOf(w))) return; // into the black hole
      this.coordHandle({ type: 'worker_message', worker: l.member, msg });
    };
    if (this.msgFaults && this.rng.chance(0.003)) return;
    this.at(this.netDelay(), deliver);
    if (this.msgFaults && this.rng.chance(0.01)) this.at(this.netDelay() + 10, deliver);
  }

  // ---------------------------------------------------------------- workers

  private startWorker(w: SimWorker): void {
    w.incarnation++;
    const core = new WorkerCore(w.store, w.store.recover(), this.lockTimeoutMs, this.ms, this.opts.sabotage ?? null);
    core.observeLocks((key, txid) => {
      const others = core.votedHoldersOf(key).filter((t) => t !== txid);
      if (others.length > 0) this.violations.push(`worker ${w.address}: lock ${key} granted to ${txid} while ${others.join(', ')} voted YES on it`);
    });
    w.core = core;
    w.pending = [];
    w.flushScheduled = false;
    w.registered = false;
    const inc = w.incarnation;
    const tick = (): void => {
      if (w.core === null || w.incarnation !== inc) return;
      this.workerHandle(w, { type: 'tick' });
      // As the worker process does: a coordinator that has not dialled for a while may have lost track of it.
      if (w.registered && w.linkGen === 0 && this.now - w.lastLinkAt > RELINK_AFTER_MS) {
        w.registered = false;
        w.lastLinkAt = this.now;
        this.register(w, inc);
      }
      this.at(TICK_MS, tick);
    };
    this.at(TICK_MS, tick);
    this.register(w, inc);
  }

  private register(w: SimWorker, inc: number): void {
    if (w.core === null || w.incarnation !== inc || w.registered) return;
    if (this.coord === null || !this.canTalk(COORD, nodeOf(w))) {
      this.at(200, () => this.register(w, inc));
      return;
    }
    const conn = this.nextConn++;
    this.connOwner.set(conn, (_slot, r) => {
      this.connOwner.delete(conn);
      if (r.status === 'OK') w.registered = true;
      else this.at(200, () => this.register(w, inc));
    });
    const request: ClientRequest = { action: 'register', worker: { id: w.core.nodeId, address: w.address } };
    this.at(this.netDelay(), () => this.coordHandle({ type: 'request', conn, slot: 0, request }));
    this.at(2_000, () => {
      if (!w.registered) this.register(w, inc);
    });
  }

  private crashWorker(w: SimWorker): void {
    if (w.core === null) return;
    this.stats.crashes++;
    this.stats.resolvedByPeers += w.core.resolvedByPeers;
    w.core = null;
    w.pending = [];
    w.flushScheduled = false;
    const inFlight = w.syncing;
    w.syncing = null;
    if (inFlight !== null) {
      this.stats.crashesInFsync++;
      // A process crash keeps what reached the OS; a power loss does not.
      w.store.settleWrites(!this.loseUnsynced);
    }
    const l = [...this.links.values()].find((x) => x.gen === w.linkGen);
    w.linkGen = 0;
    if (l !== undefined) this.breakLink(l, true);
  }

  private workerHandle(w: SimWorker, event: Parameters<WorkerCore['handle']>[0]): void {
    if (w.core === null) return;
    this.events++;
    let effects: WorkerEffect[];
    try {
      effects = w.core.handle(event, this.ms);
    } catch (e) {
      this.violations.push(`worker ${w.address} invariant failed at ${this.ms} ms on ${event.type}: ${(e as Error).message}`);
      this.crashWorker(w);
      return;
    }
    const inc = w.incarnation;
    for (const e of effects) {
      switch (e.type) {
        case 'send':
          this.toCoordinator(w, e.msg);
          continue;
        case 'peer_ask':
          this.toPeer(w, e.peer.address, { kind: 'query', from: w.address, msg: e.msg });
          continue;
        case 'peer_reply':
          this.toPeer(w, e.route, { kind: 'answer', msg: e.msg });
          continue;
        case 'log':
          continue;
        default:
          w.pending.push(e);
          this.scheduleWorkerFlush(w, inc);
      }
    }
  }

  /** Group commit, one fsync at a time: what arrives during one goes in the next. */
  private scheduleWorkerFlush(w: SimWorker, inc: number): void {
    if (w.flushScheduled || w.syncing !== null || w.pending.length === 0) return;
    w.flushScheduled = true;
    this.at(this.rng.next() * 2, () => {
      if (w.core === null || w.incarnation !== inc) return;
      w.flushScheduled = false;
      if (w.crashInNextSync && this.rng.chance(0.5)) {
        // The crash comes just before the write reaches the OS: the whole batch is lost.
        w.crashInNextSync = false;
        this.stats.crashesInFsync++;
        this.crashWorkerFor(w, this.rng.int(50, 3_000));
        return;
      }
      const batch = w.pending;
      w.pending = [];
      // Written now (visible to reads), durable only once the fsync returns.
      w.store.holdWrites();
      w.store.persist(batch, this.ms);
      const sync: Sync<PersistEffect> = {
        batch,
        done: () => {
          if (w.core === null || w.incarnation !== inc || w.syncing !== sync) return;
          w.syncing = null;
          w.store.settleWrites(true);
          for (const b of batch) this.workerHandle(w, { type: 'durable', txid: b.txid, what: durableKind(b) });
          this.scheduleWorkerFlush(w, inc);
        },
      };
      w.syncing = sync;
      if (w.crashInNextSync) {
        w.crashInNextSync = false;
        this.at(this.rng.next() * 0.2, () => {
          if (!this.healing && w.incarnation === inc && w.syncing === sync) this.crashWorkerFor(w, this.rng.int(50, 3_000));
        });
      }
      this.at(this.fsyncDelay(), sync.done);
      for (const b of batch) if (b.type === 'persist_commit') this.workerHandle(w, { type: 'applied', txid: b.txid });
    });
  }

  private crashWorkerFor(w: SimWorker, ms: number): void {
    this.crashWorker(w);
    this.at(ms, () => {
      if (w.core === null && !this.healing) this.startWorker(w);
    });
  }

  /** Worker to worker (cooperative termination): no link model, just messages, subject to partitions and faults. */
  private toPeer(from: SimWorker, address: string, m: { kind: 'query'; from: string; msg: PeerQuery } | { kind: 'answer'; msg: PeerAnswer }): void {
    const to = this.workers.find((x) => x.address === address);
    if (to === undefined) return;
    const deliver = (): void => {
      if (to.core === null || !this.canTalk(nodeOf(from), nodeOf(to))) return;
      if (m.kind === 'query') this.workerHandle(to, { type: 'peer_query', route: m.from, msg: m.msg });
      else this.workerHandle(to, { type: 'peer_answer', msg: m.msg });
    };
    if (this.msgFaults && this.rng.chance(0.003)) return;
    this.at(this.netDelay(), deliver);
    if (this.msgFaults && this.rng.chance(0.01)) this.at(this.netDelay() + 10, deliver);
  }

  private onWorkerMessage(w: SimWorker, msg: ToWorker): void {
    const core = w.core;
    if (core === null) return;
    if (msg.type === 'read') {
      this.toCoordinator(w, answerRead(w.store, core, msg.rid, msg.query, msg.reply_text === true));
    } else if (msg.type === 'install') {
      const r = applyInstall(w.store, core, msg);
      if (r === null) {
        const l = [...this.links.values()].find((x) => x.gen === w.linkGen);
        if (l !== undefined) this.breakLink(l, true);
      } else this.toCoordinator(w, r);
    } else {
      this.workerHandle(w, { type: 'message', msg });
    }
  }

  // ---------------------------------------------------------------- clients

  private dropClientConn(c: ClientState): void {
    const p = c.pending;
    if (p === null) return;
    c.pending = null;
    p.onReply(null);
  }

  private clientSend(c: ClientState, request: ClientRequest, onReply: (r: Reply | null) => void): void {
    if (this.coord === null) {
      // Not connected: try again shortly on a new connection.
      this.at(50, () => this.clientSend(c, request, onReply));
      return;
    }
    if (!this.connOwner.has(c.conn)) {
      c.conn = this.nextConn++;
      c.slot = 0;
      const conn = c.conn;
      this.connOwner.set(conn, (slot, r) => {
        const p = c.pending;
        if (p === null || p.conn !== conn || p.slot !== slot) return;
        c.pending = null;
        p.onReply(r);
      });
    }
    const slot = c.slot++;
    const conn = c.conn;
    c.pending = { slot, conn, onReply, deadline: this.now + 10 * this.lockTimeoutMs };
    this.at(this.netDelay(), () => {
      if (this.connOwner.has(conn)) this.coordHandle({ type: 'request', conn, slot, request });
    });
    // A client that hears nothing for long gives up on the connection: the outcome is unknown.
    this.at(10 * this.lockTimeoutMs, () => {
      if (c.pending !== null && c.pending.conn === conn && c.pending.slot === slot) {
        this.connOwner.delete(conn);
        this.coordHandle({ type: 'conn_closed', conn });
        this.dropClientConn(c);
      }
    });
  }

  private nextOp(c: ClientState): void {
    if (c.remaining <= 0 || this.healing) return;
    c.remaining--;
    const roll = this.rng.next();
    const n = `${c.id}.${c.remaining}`;
    // Think time; after a refusal that says "not now", back off as a real client would.
    let backoff = 0;
    const after = (): void => this.at(backoff + this.rng.next() * 20, () => this.nextOp(c));
    const noteCode = (r: Reply | null): void => {
      if (r !== null && r.status !== 'OK' && (r.code === 'UNAVAILABLE' || r.code === 'LOCKED')) backoff = this.rng.int(50, 400);
    };
    if (roll < 0.7) {
      const key = this.rng.pick(SINGLE_KEYS);
      const kind = this.rng.pick(['post', 'post', 'update', 'update', 'delete', 'get', 'get'] as const);
      const input: HistoryOp['input'] = kind === 'post' || kind === 'update' ? { kind, content: `c${n}` } : { kind };
      const request: ClientRequest =
        kind === 'post'
          ? { action: 'post', tweet: { id: key, username: 'u', content: `c${n}` } }
          : kind === 'update'
            ? { action: 'update', tweet: { id: key, content: `c${n}`, username: null } }
            : kind === 'delete'
              ? { action: 'delete', tweet: { id: key, username: null } }
              : { action: 'get_tweet', id: key };
      const call = this.now;
      this.clientSend(c, request, (r) => {
        const op: HistoryOp = { client: c.id, key, input, call, ret: this.now, output: { status: 'unknown' } };
        noteCode(r);
        const code = r === null ? 'UNKNOWN' : r.status === 'OK' ? 'OK' : r.code;
        this.codes[code] = (this.codes[code] ?? 0) + 1;
        if (r === null) {
          op.ret = Number.POSITIVE_INFINITY;
          this.stats.unknown++;
        } else if (r.status === 'OK') {
          this.stats.acked++;
          const t = (r as { tweet?: { content: string } }).tweet;
          op.output = kind === 'delete' ? { status: 'ok' } : { status: 'ok', content: t?.content ?? null };
        } else {
          op.output = { status: 'fail', code: r.code };
        }
        this.history.push(op);
        after();
      });
      return;
    }
    if (roll < 0.85) {
      const ops = [0, 1].map((i) => {
        const id = this.rng.pick(TX_KEYS);
        const k = this.rng.pick(['post', 'update', 'delete'] as const);
        return k === 'post'
          ? ({ action: 'post', tweet: { id, username: 'u', content: `x${n}.${i}` } } as const)
          : k === 'update'
            ? ({ action: 'update', tweet: { id, content: `x${n}.${i}`, username: null } } as const)
            : ({ action: 'delete', tweet: { id, username: null } } as const);
      });
      this.clientSend(c, { action: 'transaction', ops }, (r) => {
        noteCode(r);
        if (r === null) this.stats.unknown++;
        after();
      });
      return;
    }
    if (roll < 0.95) {
      // begin, one or two ops, commit (sometimes abort, sometimes idle past the lock timeout)
      const id = this.rng.pick(TX_KEYS);
      const idle = this.rng.chance(0.1) ? this.lockTimeoutMs * 1.5 : 0;
      const end: ClientRequest = this.rng.chance(0.2) ? { action: 'abort' } : { action: 'commit' };
      this.clientSend(c, { action: 'begin' }, (r) => {
        if (r === null) return after();
        this.clientSend(c, { action: 'update', tweet: { id, content: `i${n}`, username: null } }, (r2) => {
          if (r2 === null) return after();
          this.at(idle, () => this.clientSend(c, end, () => after()));
        });
      });
      return;
    }
    if (this.rng.chance(0.5)) {
      this.clientSend(c, { action: 'status' }, () => after());
      return;
    }
    const call = this.now;
    this.clientSend(c, { action: 'get_tweets', limit: 10, before: null, username: null }, (r) => {
      if (r !== null && r.status === 'OK') this.observePage(c.id, call, r);
      after();
    });
  }

  /**
   * A page of the newest tweets, checked like reads of each tweet: every checked id on the page was
   * read with that content, and, when the page is the last (no `next`), every checked id not on
   * it was read as absent. (Each id is checked on its own, not the page as one snapshot.)
   */
  private observePage(client: number, call: number, r: Reply): void {
    const page = r as { tweets?: { id: string; content: string }[]; next?: string | null };
    const tweets = page.tweets ?? [];
    for (const key of SINGLE_KEYS) {
      const t = tweets.find((x) => x.id === key);
      if (t === undefined && page.next !== null) continue;
      const output: HistoryOp['output'] = t === undefined ? { status: 'fail', code: 'NOT_FOUND' } : { status: 'ok', content: t.content };
      this.history.push({ client, key, input: { kind: 'get' }, call, ret: this.now, output });
    }
  }

  // ---------------------------------------------------------------- faults

  private scheduleFault(): void {
    if (!this.faults || this.healing) return;
    this.at(this.rng.int(300, 3_000), () => {
      if (this.healing) return;
      const roll = this.rng.next();
      if (roll < 0.3) {
        const w = this.rng.pick(this.workers);
        if (w.core !== null) {
          // Now and then the crash lands in the middle of the worker's next fsync.
          if (this.rng.chance(0.25)) w.crashInNextSync = true;
          else this.crashWorkerFor(w, this.rng.int(50, 3_000));
        }
      } else if (roll < 0.45) {
        if (this.coord !== null) {
          if (this.rng.chance(0.25)) this.coordCrashInNextSync = true;
          else this.crashCoordinatorFor(this.rng.int(50, 3_000));
        }
      } else if (roll < 0.7) {
        if (this.isolated.size === 0) this.partition();
      } else {
        const l = this.rng.pick([...this.links.values()].concat([]));
        if (l !== undefined && l.up) this.breakLink(l, true);
      }
      this.scheduleFault();
    });
  }

  /** Cuts the cluster in two for a while: one worker alone, the coordinator alone, or a random split. */
  private partition(): void {
    const nodes = [COORD, ...this.workers.map(nodeOf)];
    const kind = this.rng.next();
    if (kind < 0.5) this.isolated.add(nodeOf(this.rng.pick(this.workers)));
    else if (kind < 0.7) this.isolated.add(COORD);
    else for (const n of nodes) if (this.rng.chance(0.5)) this.isolated.add(n);
    if (this.isolated.size === 0 || this.isolated.size === nodes.length) {
      this.isolated.clear();
      return;
    }
    this.stats.partitions++;
    const loud = this.rng.chance(0.5);
    for (const w of this.workers) {
      if (this.canTalk(COORD, nodeOf(w))) continue;
      const l = [...this.links.values()].find((x) => x.gen === w.linkGen && x.gen !== 0);
      if (l === undefined) continue;
      // A partition is often silent (a black hole); sometimes the connection resets at once.
      if (loud) this.breakLink(l, true);
      else this.blackHole(l, w);
    }
    this.at(this.rng.int(100, 5_000), () => this.isolated.clear());
  }

  /** Messages vanish while the partition lasts; the link is only found dead by timeouts (TCP keepalive in life). */
  private blackHole(l: Link, w: SimWorker): void {
    const gen = l.gen;
    const check = (): void => {
      if (!l.up || l.gen !== gen) return;
      // Keepalive gives up after a while: the connection is reset.
      if (!this.canTalk(COORD, nodeOf(w))) this.breakLink(l, true);
    };
    this.at(this.rng.int(500, 10_000), check);
  }

  // ---------------------------------------------------------------- run and check

  run(): SimResult {
    const nWorkers = this.rng.int(1, 5);
    const nClients = this.rng.int(1, 6);
    this.msgFaults = this.faults;
    for (let i = 0; i < nWorkers; i++) {
      const store = new WorkerStore(':memory:', () => `w${i + 1}`);
      this.workers.push({
        index: i,
        address: `10.0.0.${i + 1}:10001`,
        store,
        core: null,
        pending: [],
        flushScheduled: false,
        syncing: null,
        crashInNextSync: false,
        linkGen: 0,
        lastLinkAt: 0,
        registered: false,
        incarnation: 0,
      });
    }
    this.startCoordinator();
    for (const w of this.workers) this.at(this.rng.int(0, 300), () => this.startWorker(w));
    for (let i = 0; i < nClients; i++) {
      const c: ClientState = { id: i, conn: -1, slot: 0, pending: null, remaining: this.rng.int(10, 40) };
      this.clients.push(c);
      this.at(this.rng.int(1_000, 2_000), () => this.nextOp(c));
    }
    this.scheduleFault();

    // Active phase: until every client is done (or the cap).
    const activeEnd = ACTIVE_MS;
    while (this.queue.size > 0) {
      const e = this.queue.pop()!;
      this.now = e.at;
      e.v();
      if (this.clients.every((c) => c.remaining <= 0 && c.pending === null) || this.now > activeEnd) break;
    }
    // Heal: no more faults, every node up, partitions gone; then let it settle.
    this.healing = true;
    this.msgFaults = false;
    this.isolated.clear();
    this.coordCrashInNextSync = false;
    for (const w of this.workers) w.crashInNextSync = false;
    if (this.coord === null) this.startCoordinator();
    for (const w of this.workers) if (w.core === null) this.startWorker(w);
    const settleEnd = this.now + SETTLE_MS;
    while (this.queue.size > 0) {
      const e = this.queue.pop()!;
      if (e.at > settleEnd) break;
      this.now = e.at;
      e.v();
    }
    for (const w of this.workers) if (w.core !== null) this.stats.resolvedByPeers += w.core.resolvedByPeers;
    this.check();
    this.checkLinearizable();
    for (const w of this.workers) w.store.close();
    this.coordStore.close();
    return {
      seed: this.opts.seed,
      violations: this.violations,
      stats: { workers: nWorkers, clients: nClients, events: this.events, simMs: Math.round(this.now), ...this.stats, codes: this.codes },
      history: this.history,
    };
  }

  private coordinatorStatus(): Record<string, unknown> | null {
    if (this.coord === null) return null;
    let reply: Reply | null = null;
    const conn = this.nextConn++;
    for (const e of this.coord.handle({ type: 'request', conn, slot: 0, request: { action: 'status' } }, this.ms)) {
      if (e.type === 'reply') reply = e.reply;
    }
    return reply as Record<string, unknown> | null;
  }

  private check(): void {
    // 1. Agreement: no transaction committed on one worker and aborted on another.
    const outcome = new Map<string, { o: string; w: string }>();
    for (const w of this.workers) {
      for (const [txid, o] of w.store.allOutcomes()) {
        const seen = outcome.get(txid);
        if (seen === undefined) outcome.set(txid, { o, w: w.address });
        else if (seen.o !== o) this.violations.push(`transaction ${txid} is ${seen.o} on ${seen.w} but ${o} on ${w.address}`);
      }
    }
    this.stats.commits = [...outcome.values()].filter((x) => x.o === 'commit').length;
    // 2. Liveness after healing: everyone up, nothing in doubt, no locks, no prepared records.
    const status = this.coordinatorStatus();
    if (status === null) this.violations.push('the coordinator is not running after healing');
    else {
      const ws = status.workers as { id: string; state: string }[];
      const notUp = ws.filter((w) => w.state !== 'up');
      if (notUp.length > 0) this.violations.push(`after healing, workers not up: ${JSON.stringify(notUp)}`);
      if (ws.length !== this.workers.length) this.violations.push(`after healing the coordinator lists ${ws.length} workers, expected ${this.workers.length}`);
      const inDoubt = status.in_doubt as unknown[];
      if (inDoubt.length > 0) this.violations.push(`after healing, transactions still in doubt: ${JSON.stringify(inDoubt)}`);
    }
    for (const w of this.workers) {
      if (w.core === null) continue;
      if (w.core.lockCount > 0) this.violations.push(`after healing, worker ${w.address} still holds ${w.core.lockCount} locks`);
      if (w.core.txnCount > 0) this.violations.push(`after healing, worker ${w.address} still has ${w.core.txnCount} transactions open`);
      if (w.store.preparedCount() > 0) this.violations.push(`after healing, worker ${w.address} still has ${w.store.preparedCount()} prepared records`);
    }
    // 3. Identical copies.
    const digests = this.workers.map((w) => ({ w: w.address, ...w.store.check() }));
    const d0 = digests[0];
    for (const d of digests) {
      if (d0 !== undefined && d.digest !== d0.digest) this.violations.push(`copies differ: ${d0.w} has ${d0.count} rows (${d0.digest.slice(0, 12)}), ${d.w} has ${d.count} rows (${d.digest.slice(0, 12)})`);
    }
    // 4. What every copy holds at the end is part of the history, as reads (checked for linearizability by the caller).
    const end = this.now + 1;
    for (const w of this.workers) {
      for (const key of SINGLE_KEYS) {
        const t = w.store.getTweet(key);
        this.history.push({
          client: 1000 + w.index,
          key,
          input: { kind: 'get' },
          output: t === null ? { status: 'fail', code: 'NOT_FOUND' } : { status: 'ok', content: t.content },
          call: end,
          ret: end,
        });
      }
    }
  }
  /** Each tweet id's history of post / update / delete / get, with unknown outcomes as Jepsen treats them. */
  private checkLinearizable(): void {
    const ops: TweetOperation[] = this.history.map((h) => ({
      clientId: h.client,
      input: { ...h.input, id: h.key },
      call: h.call,
      return: h.ret,
      output: h.output.status === 'fail' ? { status: 'fail', code: h.output.code as ErrorCode } : h.output,
    }));
    const r = checkTweetHistory(ops, { timeoutMs: 5_000 });
    if (r.ok === false) this.violations.push(`not linearizable: ${r.explanation}`);
    else if (r.ok === 'unknown') this.violations.push(`the linearizability check gave up: ${r.reason}`);
  }
}

export function simulate(opts: SimOptions): SimResult {
  return new Simulation(opts).run();
}
