// A deterministic simulation of a whole tweetdb cluster: the production
// coordinator and worker processes (src/node: the shell, its group commit,
// links, authentication, registration and client connections, over the real
// state machines and SQLite stores in memory), run on a simulated clock,
// network and disk (sim/sim-env.ts), all driven by one seeded PRNG. Clients
// speak the JSON-lines API over simulated TCP. Faults: delays that reorder
// messages across connections; connections reset; crashes and restarts of any
// node (keeping only what it had persisted), some of them in the middle of an
// fsync; partitions that isolate one node or split the cluster, loudly or as a
// black hole, then heal; a worker's disk wiped. How often each comes is the
// seed's weather (sim/weather.ts): drawn first, so some seeds are calm and some
// stormy. After the run, checkers look for any broken promise, and the code
// probes (src/core/probes.ts) say which rare branches the run took.
//
// Two crash models. By default a crash is a process crash (kill -9): a write
// handed to the OS survives even if its fsync had not returned, though the
// node never learnt that it was durable. With `loseUnsynced` it is a power
// loss: every write whose fsync had not returned is gone.

import { pino, type Logger } from 'pino';
import type { WorkerCore } from '../src/core/worker.ts';
import type { ClientRequest, ErrorCode, Reply, Sabotage } from '../src/core/types.ts';
import { CoordinatorStore } from '../src/storage/coordinator-store.ts';
import { WorkerStore } from '../src/storage/worker-store.ts';
import { CoordinatorNode } from '../src/node/coordinator-node.ts';
import { WorkerNode } from '../src/node/worker-node.ts';
import { SHELL_SABOTAGES, type ShellSabotage } from '../src/node/sabotage.ts';
import { JsonStreamSplitter } from '../src/wire/framing.ts';
import { checkTweetHistory, type TweetOperation } from '../src/check/tweet-model.ts';
import { probeHits, resetProbes, type ProbeName } from '../src/core/probes.ts';
import { Prng } from './prng.ts';
import { SimConn, SimProcess, SimWorld } from './sim-env.ts';
import { drawWeather, pickFault, type Weather } from './weather.ts';

export interface SimOptions {
  seed: number;
  /** Network and process faults on (the default) or off. */
  faults?: boolean;
  /** The cluster's lock timeout in the simulation (default 1 s, to keep runs short). */
  lockTimeoutMs?: number;
  /** Crashes are power losses: writes whose fsync had not returned are lost. */
  loseUnsynced?: boolean;
  /** Check every invariant of both cores after every event they handle (default true). */
  invariants?: boolean;
  /** The same fault rates for every seed instead of rates drawn per seed (sim/weather.ts FIXED_WEATHER: the former ones). */
  weather?: Weather;
  /** Test-only: run the cores with one protocol rule broken, or the shell with one duty broken, to prove the checkers catch it. */
  sabotage?: Sabotage | ShellSabotage;
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
    /** Workers whose disk was wiped (at most one a run). */
    wipes: number;
    /** Workers the operator removed (remove_worker answered OK); each is added back later. */
    removals: number;
    codes: Record<string, number>;
    /** The fault rates this seed drew (null: faults off). */
    weather: Weather | null;
  };
  /** How often each code probe was hit in this run (probes not hit are absent). */
  probes: Partial<Record<ProbeName, number>>;
  history: HistoryOp[];
}

/** Simulated time after healing in which everything must settle. */
const SETTLE_MS = 40_000;
/** Hard cap on the active phase. */
const ACTIVE_MS = 60_000;
const SINGLE_KEYS = ['k0', 'k1', 'k2', 'k3'];
const TX_KEYS = ['t0', 't1', 't2'];
const COORDINATOR_HOST = '10.0.0.100';
const COORDINATOR_PORT = 7000;
const COORDINATOR_ADDRESS = `${COORDINATOR_HOST}:${COORDINATOR_PORT}`;
/** Where an old copy of the coordinator runs beside the real one for a while (#23: it must change nothing). */
const STALE_COORDINATOR_HOST = '10.0.0.101';
/** The cluster id of the data a foreign worker brings (another cluster's). */
const FOREIGN_CLUSTER = 'c-foreign';
const WORKER_PORT = 10001;
/** The simulated cluster's key: every link runs the real authentication handshake. */
const CLUSTER_KEY = Buffer.alloc(32, 7);
/** The coordinator's admin token: the operator sends it before remove_worker (README Security, "Roles"). */
const ADMIN_TOKEN = 'sim-admin-token-0123456789abcdef';
/** A client that hears nothing for this many lock timeouts gives up on its connection: the outcome is unknown. */
const CLIENT_PATIENCE_LOCK_TIMEOUTS = 10;

/** The simulation's nodes log nothing (a run makes thousands of lines); violations say what went wrong. */
const silent: Logger = pino({ level: process.env.SIMLOG ?? 'silent', mixin: () => ({ t: Math.floor((globalThis as unknown as { simNow: number }).simNow) }) });

interface SimWorker {
  index: number;
  address: string;
  /** The worker's disk: it outlives every crash. */
  store: WorkerStore;
  proc: SimProcess | null;
  node: WorkerNode | null;
  /** Removed by the operator (remove_worker): its process exited; it is started again later (added back). */
  removed: boolean;
  /** Its disk holds another cluster's data for a while (#23: refused both ways), then it is wiped. */
  foreign: boolean;
}

interface ClientState {
  id: number;
  proc: SimProcess;
  /** The coordinator it talks to (host): the cluster's, or an old copy of it that runs beside it. */
  host: string;
  conn: SimConn | null;
  /** The connection is open (dialled and connected). */
  open: boolean;
  splitter: JsonStreamSplitter;
  nextReq: number;
  pending: { req: number; conn: SimConn; onReply: (r: Reply | null) => void } | null;
  remaining: number;
}

/** A request as a client sends it on the wire (validate.ts turns it back into a ClientRequest). */
function toWire(r: ClientRequest): Record<string, unknown> {
  return r.action === 'get_tweet' ? { action: 'get_tweet', tweet: { id: r.id } } : { ...r };
}

function coreOf(w: SimWorker): WorkerCore | null {
  return w.node?.coreForChecks ?? null;
}

export class Simulation {
  private readonly rng: Prng;
  private readonly world: SimWorld;
  private readonly faults: boolean;
  private readonly lockTimeoutMs: number;
  private readonly violations: string[] = [];
  readonly history: HistoryOp[] = [];

  private coordStore = new CoordinatorStore(':memory:');
  /** An old copy of the coordinator's data directory (its store's bytes), once one was kept. */
  private coordCopy: Buffer | null = null;
  /** An old copy of the coordinator running beside it (#23), and its clients. */
  private stale: { proc: SimProcess; node: CoordinatorNode; store: CoordinatorStore } | null = null;
  private staleRuns = 0;
  /** The coordinator lost its disk, or was restored from an old copy, this many times (at most once each a run). */
  private coordWipes = 0;
  private coordRestores = 0;
  private coordProc: SimProcess | null = null;
  private coord: CoordinatorNode | null = null;
  private readonly workers: SimWorker[] = [];
  private readonly loseUnsynced: boolean;
  private readonly clients: ClientState[] = [];
  private healing = false;
  private stats = { commits: 0, acked: 0, unknown: 0, crashes: 0, crashesInFsync: 0, partitions: 0, resolvedByPeers: 0, wipes: 0, removals: 0 };
  /** Drawn per seed in run(): how long a voter may be away before it is evicted, and the fewest voters that may write. */
  private evictAfterMs = 2_000;
  private minVoters = 1;
  /** The operator: sends remove_worker (not one of the workload's clients). */
  private readonly operator: ClientState = { id: 99, proc: new SimProcess('operator', true), host: COORDINATOR_HOST, conn: null, open: false, splitter: new JsonStreamSplitter(1024 * 1024), nextReq: 1, pending: null, remaining: 0 };
  /** Drawn first thing in run(), from the seed. */
  private weather: Weather | null = null;
  readonly codes: Record<string, number> = {};
  private readonly coreSabotage: Sabotage | undefined;
  /** `nodeId|txid` of every durable YES a worker said, and of every durable refusal (the implicit-commit checker). */
  private readonly saidYes = new Set<string>();
  private readonly saidRefused = new Set<string>();
  private readonly shellSabotage: ShellSabotage | undefined;
  /** Coordinator processes started so far: each gets its own run id. */
  private coordinatorRuns = 0;

  constructor(private readonly opts: SimOptions) {
    this.rng = new Prng(opts.seed);
    this.faults = opts.faults ?? true;
    this.lockTimeoutMs = opts.lockTimeoutMs ?? 1_000;
    this.loseUnsynced = opts.loseUnsynced ?? false;
    const s = opts.sabotage;
    this.shellSabotage = s !== undefined && (SHELL_SABOTAGES as readonly string[]).includes(s) ? (s as ShellSabotage) : undefined;
    this.coreSabotage = s !== undefined && this.shellSabotage === undefined ? (s as Sabotage) : undefined;
    this.world = new SimWorld({
      rng: this.rng,
      loseUnsynced: this.loseUnsynced,
      crashProcess: (p) => {
        if (this.healing) return;
        this.stats.crashesInFsync++;
        if (p === this.coordProc) this.crashCoordinatorFor(this.rng.int(50, 3_000));
        else {
          const w = this.workers.find((x) => x.proc === p);
          if (w !== undefined) this.crashWorkerFor(w, this.rng.int(50, 3_000));
        }
      },
    });
  }

  private get now(): number {
    return this.world.now;
  }

  private at(delay: number, fn: () => void): void {
    this.world.at(delay, fn);
  }

  /** A process ended itself (env.exit): an invariant broke (70) or its disk failed (74). */
  private onExit(name: string, code: number, reason: unknown): void {
    const why = reason instanceof Error ? reason.message : String(reason);
    this.violations.push(`${name} ${code === 70 ? 'invariant failed' : 'disk failed'} at ${Math.floor(this.now)} ms (exit ${code}): ${why}`);
  }

  // ---------------------------------------------------------------- coordinator

  private startCoordinator(): void {
    const proc = new SimProcess('coordinator', false);
    this.coordProc = proc;
    // Now and then an old copy of the data directory is kept (what it holds at this start): a later
    // fault restores the coordinator from it, or runs it beside the real one.
    if (this.faults && this.coordinatorRuns > 0 && (this.coordCopy === null || this.rng.chance(0.3))) this.coordCopy = this.coordStore.image();
    this.coordStore.holdWrites();
    const env = this.world.envFor(proc, (code, reason) => {
      this.onExit('coordinator', code, reason);
      this.crashCoordinator();
    });
    this.coord = new CoordinatorNode({
      host: COORDINATOR_HOST,
      port: COORDINATOR_PORT,
      dataDir: ':memory:',
      lockTimeoutMs: this.lockTimeoutMs,
      clusterKey: CLUSTER_KEY,
      adminToken: ADMIN_TOKEN,
      tls: null,
      logger: silent,
      env,
      store: this.coordStore,
      copyPageRows: 2,
      evictAfterMs: this.evictAfterMs,
      minVoters: this.minVoters,
      // The cluster is new at the first start; a coordinator whose disk was lost takes its workers' over.
      newCluster: this.coordinatorRuns === 0,
      run: `run${++this.coordinatorRuns}`,
      newClusterId: 'c-sim',
      checkInvariants: this.opts.invariants ?? true,
      ...(this.coreSabotage !== undefined ? { sabotage: this.coreSabotage } : {}),
      ...(this.shellSabotage !== undefined ? { shellSabotage: this.shellSabotage } : {}),
    });
    // A commit needs every voter's durable YES; an abort after prepare, some voter's durable refusal.
    this.coord.coreForChecks.observeDecisions((d) => {
      if (process.env.SIMDBG) console.log(Math.floor(this.now), 'DECIDE', JSON.stringify(d));
      if (d.outcome === 'commit') {
        const missing = d.voters.filter((v) => !this.saidYes.has(`${v}|${d.txid}`));
        if (missing.length > 0) this.violations.push(`the coordinator decided commit of ${d.txid} with no durable YES from ${missing.join(', ')}`);
      } else if (d.prepared && !d.voters.some((v) => this.saidRefused.has(`${v}|${d.txid}`))) {
        this.violations.push(`the coordinator decided abort of ${d.txid} after its prepare went out, with no voter's durable refusal`);
      }
    });
    void this.coord.start();
  }

  private crashCoordinator(): void {
    const proc = this.coordProc;
    if (proc === null || !proc.alive) return;
    this.stats.crashes++;
    this.world.kill(proc);
    if (process.env.SIMDBG) console.log(Math.floor(this.now), 'CRASH coordinator');
    this.coord = null;
    // A process crash keeps what reached the OS; a power loss does not.
    this.coordStore.settleWrites(!this.loseUnsynced);
  }

  private crashCoordinatorFor(ms: number): void {
    this.crashCoordinator();
    this.at(ms, () => {
      if (this.coord === null && !this.healing) this.startCoordinator();
    });
  }

  // ---------------------------------------------------------------- workers

  private startWorker(w: SimWorker): void {
    const proc = new SimProcess(`w${w.index}`, false);
    w.proc = proc;
    w.store.holdWrites();
    const env = this.world.envFor(proc, (code, reason) => {
      if (code === 0) {
        // Removed by the operator: it exits on its own. Added back (started again) a while later.
        this.crashWorker(w);
        this.stats.crashes--;
        w.removed = true;
        // (Also while healing: a removal may complete then, once the worker owes nothing.)
        this.at(this.rng.int(500, 5_000), () => {
          if (w.node === null) {
            w.removed = false;
            this.startWorker(w);
          }
        });
        return;
      }
      this.onExit(`worker ${w.address}`, code, reason);
      this.crashWorker(w);
    });
    const node = new WorkerNode({
      host: w.address.split(':')[0]!,
      port: WORKER_PORT,
      advertise: null,
      coordinator: COORDINATOR_ADDRESS,
      dataDir: ':memory:',
      clusterKey: CLUSTER_KEY,
      tls: null,
      logger: silent,
      env,
      store: w.store,
      checkInvariants: this.opts.invariants ?? true,
      ...(this.coreSabotage !== undefined ? { sabotage: this.coreSabotage } : {}),
      ...(this.shellSabotage !== undefined ? { shellSabotage: this.shellSabotage } : {}),
    });
    const core = node.coreForChecks;
    // No worker takes part in a transaction from a configuration it has left, or while it is no voter.
    core.voteObserver = (v) => {
      if (!v.voter || v.config < v.known) this.violations.push(`worker ${w.address} accepted transaction ${v.txid} of configuration ${v.config} while it knew configuration ${v.known} (${v.voter ? 'a voter' : 'not a voter'})`);
    };
    // Implicit commit: every YES and every refusal a worker says must be durable when said.
    core.statementObserver = (st) => {
      if (process.env.SIMDBG) console.log(Math.floor(this.now), 'SAY', w.address, core.nodeId, JSON.stringify(st));
      if (!st.durable) this.violations.push(`worker ${w.address} said ${st.says === 'yes' ? 'YES' : 'it refused'} for transaction ${st.txid} before its ${st.says === 'yes' ? 'prepared record' : 'tombstone'} was durable`);
      (st.says === 'yes' ? this.saidYes : this.saidRefused).add(`${core.nodeId}|${st.txid}`);
    };
    core.observeLocks((key, txid) => {
      const others = core.votedHoldersOf(key).filter((t) => t !== txid);
      if (others.length > 0) this.violations.push(`worker ${w.address}: lock ${key} granted to ${txid} while ${others.join(', ')} voted YES on it`);
    });
    w.node = node;
    void node.start();
  }

  private crashWorker(w: SimWorker): void {
    const proc = w.proc;
    if (proc === null || !proc.alive || w.node === null) return;
    this.stats.crashes++;
    this.stats.resolvedByPeers += w.node.coreForChecks.resolvedByPeers;
    this.world.kill(proc);
    if (process.env.SIMDBG) console.log(Math.floor(this.now), 'CRASH', w.address, this.loseUnsynced);
    w.node = null;
    // A process crash keeps what reached the OS; a power loss does not.
    w.store.settleWrites(!this.loseUnsynced);
  }

  private crashWorkerFor(w: SimWorker, ms: number): void {
    this.crashWorker(w);
    this.at(ms, () => {
      if (w.node === null && !this.healing) this.startWorker(w);
    });
  }

  /** The processes of the cluster that are running. */
  private procs(): SimProcess[] {
    const out: SimProcess[] = [];
    if (this.coordProc !== null && this.coordProc.alive) out.push(this.coordProc);
    for (const w of this.workers) if (w.proc !== null && w.proc.alive) out.push(w.proc);
    return out;
  }

  // ---------------------------------------------------------------- clients

  /** The client's connection to the coordinator, opened on first use and after it closes. */
  private clientConn(c: ClientState, then: () => void): void {
    if (c.conn !== null) {
      if (c.open) then();
      else this.at(50, () => this.clientConn(c, then));
      return;
    }
    const conn = this.world.dial(c.proc, c.host, COORDINATOR_PORT, () => {
      if (c.conn === conn) c.open = true;
    });
    c.conn = conn;
    c.open = false;
    c.splitter = new JsonStreamSplitter(64 * 1024 * 1024);
    conn.on('data', (chunk: string) => {
      if (c.conn !== conn) return;
      for (const f of c.splitter.push(chunk)) {
        if (f.kind === 'error') continue;
        const r = JSON.parse(f.text) as Reply & { req?: number };
        const p = c.pending;
        if (p === null || p.conn !== conn || r.req !== p.req) continue;
        c.pending = null;
        delete r.req;
        p.onReply(r);
      }
    });
    conn.on('error', () => undefined);
    conn.on('close', () => {
      if (c.conn !== conn) return;
      c.conn = null;
      c.open = false;
      this.dropClientConn(c);
    });
    this.at(50, () => this.clientConn(c, then));
  }

  /** The client's connection is reset at both ends (the client process is gone): what it waits for is unknown. */
  private hangUp(c: ClientState): void {
    const conn = c.conn;
    if (conn === null) return;
    conn.peer?.reset();
    conn.reset();
  }

  private dropClientConn(c: ClientState): void {
    const p = c.pending;
    if (p === null) return;
    c.pending = null;
    p.onReply(null);
  }

  private clientSend(c: ClientState, request: ClientRequest, onReply: (r: Reply | null) => void): void {
    this.clientConn(c, () => {
      const conn = c.conn;
      if (conn === null) {
        this.at(50, () => this.clientSend(c, request, onReply));
        return;
      }
      const req = c.nextReq++;
      c.pending = { req, conn, onReply };
      // The operator shows the admin token first; its reply has no req and is passed over.
      const auth = c === this.operator ? JSON.stringify({ action: 'auth', token: ADMIN_TOKEN }) + '\n' : '';
      conn.write(auth + JSON.stringify({ ...toWire(request), req }) + '\n');
      // A client that hears nothing for long gives up on the connection: the outcome is unknown.
      this.at(CLIENT_PATIENCE_LOCK_TIMEOUTS * this.lockTimeoutMs, () => {
        const p = c.pending;
        if (p !== null && p.req === req && p.conn === conn) conn.destroy();
      });
    });
  }

  private nextOp(c: ClientState): void {
    // A client of an old copy of the coordinator stops when that copy is gone.
    if (c.host === STALE_COORDINATOR_HOST && this.stale === null) c.remaining = 0;
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
        if (process.env.SIMDBG && key === process.env.SIMDBG) console.log(Math.floor(call), Math.floor(this.now), 'OP', c.id, JSON.stringify(request), JSON.stringify(r), JSON.stringify(this.workers.map((x) => x.store.getTweet(key)?.content ?? null)));
        noteCode(r);
        const code = r === null ? 'UNKNOWN' : r.status === 'OK' ? 'OK' : r.code;
        this.codes[code] = (this.codes[code] ?? 0) + 1;
        if (r === null || (r.status === 'ERROR' && r.code === 'IN_DOUBT')) {
          // No reply, or IN_DOUBT: the write may or may not happen (Jepsen's "info").
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
          this.at(idle, () => {
            this.clientSend(c, end, () => after());
            // A client that leaves: its connection is reset a moment after the commit went out.
            if (this.weather !== null && end.action === 'commit' && this.rng.chance(this.weather.clientLeaves)) this.at(this.rng.next() * 10, () => this.hangUp(c));
          });
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
    const weather = this.weather;
    if (weather === null || this.healing) return;
    this.at(this.rng.int(weather.faultGapMs.min, weather.faultGapMs.max), () => {
      if (this.healing) return;
      const kind = pickFault(this.rng, weather);
      if (kind === null) return; // this seed's weather has no process or link faults
      if (kind === 'crashWorker') {
        const w = this.rng.pick(this.workers);
        if (w.node !== null && w.proc !== null) {
          // Now and then the crash lands in the middle of the worker's next fsync, or just before its next write.
          if (this.rng.chance(0.25)) w.proc.crashInNextSync = true;
          else if (this.rng.chance(0.2)) w.proc.crashAtTurn = this.rng.int(1, 4);
          else this.crashWorkerFor(w, this.rng.int(50, 3_000));
        }
      } else if (kind === 'crashCoordinator') {
        if (this.coord !== null && this.coordProc !== null) {
          if (this.rng.chance(0.25)) this.coordProc.crashInNextSync = true;
          else if (this.rng.chance(0.2)) this.coordProc.crashAtTurn = this.rng.int(1, 4);
          else this.crashCoordinatorFor(this.rng.int(50, 3_000));
        }
      } else if (kind === 'partition') {
        if (this.world.isolated.size === 0) this.partition(weather);
      } else if (kind === 'wipe') {
        this.wipe();
      } else if (kind === 'remove') {
        this.removeOne();
      } else if (kind === 'wipeCoordinator') {
        this.replaceCoordinatorDisk('lost');
      } else if (kind === 'restoreCoordinator') {
        this.replaceCoordinatorDisk('restored');
      } else if (kind === 'staleCoordinator') {
        this.startStaleCoordinator();
      } else {
        // A connection between two nodes is reset.
        const conns = this.world.nodeConnections(this.procs());
        if (conns.length > 0) this.resetBoth(this.rng.pick(conns));
      }
      this.scheduleFault();
    });
  }

  private resetBoth(c: SimConn): void {
    const peer = c.peer;
    c.reset();
    peer?.reset();
  }

  /**
   * A worker's disk is lost: it crashes and comes back empty, under a new identity, which
   * replaces the old member and copies every row from a worker that is up. At most once a run,
   * and only while every worker is a member and up (each then holds every commit): losing the
   * one copy of a commit (the only worker, or the only one that had caught up) loses it under
   * any design.
   */
  private wipe(): void {
    if (this.stats.wipes > 0 || this.workers.length < 2 || this.coordWipes + this.coordRestores + this.staleRuns > 0) return;
    // Asked as a client's status request is (without the reply): it changes nothing the protocol uses.
    const status = this.coordinatorStatus();
    const members = (status?.workers ?? []) as { state: string }[];
    if (members.length !== this.workers.length || members.some((m) => m.state !== 'up')) return;
    const w = this.rng.pick(this.workers);
    if (w.node === null) return;
    // A disk lost while a transaction waits on it leaves that transaction in doubt for good: only
    // the operator can settle it (docs/DECISIONS.md). The process dies now; its disk is found lost
    // when it restarts, if by then no transaction waits on it (a prepare may have been on its way
    // to it); otherwise it comes back with its disk, and a later fault may try again.
    const oldId = w.node.coreForChecks.nodeId;
    this.crashWorker(w);
    this.at(this.rng.int(50, 3_000), () => {
      if (w.node !== null || this.healing) return;
      // No transaction waits on it: none the coordinator knows, and no prepared record anywhere (its
      // own, or another voter's naming it: a restarted coordinator learns those only later).
      const named = this.workers.some((x) => x.store.recover().prepared.some((p) => x === w || p.peers.some((v) => v.id === oldId)));
      // And the coordinator knows the old one is down: until then it may still send it a prepare.
      const members = (this.coordinatorStatus()?.workers ?? []) as { id: string; state: string }[];
      const seenDown = members.some((m) => m.id === oldId && m.state === 'down');
      // Nor once the coordinator's disk was lost or put back, or an old copy of it ran, since the
      // crash: the checks at the start do not cover what came in between (seed 942037).
      const coordinatorFaults = this.coordWipes + this.coordRestores + this.staleRuns;
      if (this.stats.wipes === 0 && this.coord !== null && seenDown && !this.coord.coreForChecks.involves(oldId) && !named && coordinatorFaults === 0) {
        this.stats.wipes++;
        if (process.env.SIMDBG) console.log(Math.floor(this.now), "WIPE", oldId);
        w.store.close();
        if (this.rng.chance(0.3)) {
          // Now and then the disk put in holds another cluster's data first (#23): the coordinator
          // and it refuse each other, nothing changes, until it is wiped for good.
          w.store = foreignStore(`w${w.index + 1}f`);
          w.foreign = true;
          this.at(this.rng.int(1_000, 4_000), () => {
            if (!w.foreign || this.healing) return;
            this.crashWorker(w);
            this.replaceForeignStore(w);
            this.at(this.rng.int(50, 1_000), () => {
              if (w.node === null && !this.healing) this.startWorker(w);
            });
          });
        } else {
          const id = `w${w.index + 1}b`;
          w.store = new WorkerStore(':memory:', () => id);
        }
      }
      this.startWorker(w);
    });
  }

  /** A worker whose disk held another cluster's data gets an empty one (a new identity). */
  private replaceForeignStore(w: SimWorker): void {
    if (!w.foreign) return;
    w.foreign = false;
    w.store.close();
    const id = `w${w.index + 1}b`;
    w.store = new WorkerStore(':memory:', () => id);
  }

  /**
   * The coordinator's disk is lost (it comes back empty: it must take its workers' cluster over,
   * losing nothing acknowledged), or replaced by an old copy of it (restored from a backup: its
   * epoch, configuration and reservation are behind the workers'). At most once each a run.
   */
  private replaceCoordinatorDisk(how: 'lost' | 'restored'): void {
    // Not in a run that lost a worker's disk: a coordinator that lost its own waits for every voter
    // of the newest configuration, and one gone with its disk needs the operator (README, Failure model).
    if (this.coord === null || this.stats.wipes > 0) return;
    if (how === 'lost' ? this.coordWipes > 0 : this.coordRestores > 0 || this.coordCopy === null) return;
    // A cluster is taken over from a worker that voted in it: one that never had a voter (no data
    // anywhere) cannot be, and is started anew instead (README, Failure model).
    if (!hasVoters((this.coordinatorStatus()?.config ?? { voters: [] }) as { voters: string[] })) return;
    if (how === 'restored' && !hasVoters(storeConfig(this.coordCopy as Buffer))) return;
    if (how === 'lost') this.coordWipes++;
    else this.coordRestores++;
    this.crashCoordinator();
    if (process.env.SIMDBG) console.log(Math.floor(this.now), how === 'lost' ? 'COORDINATOR DISK LOST' : 'COORDINATOR RESTORED FROM AN OLD COPY');
    this.coordStore.close();
    this.coordStore = how === 'lost' ? new CoordinatorStore(':memory:') : new CoordinatorStore(':memory:', this.coordCopy as Buffer);
    this.at(this.rng.int(50, 3_000), () => {
      if (this.coord === null && !this.healing) this.startCoordinator();
    });
  }

  /**
   * An old copy of the coordinator (its data directory as it was at an earlier start) runs beside
   * the real one for a while, and a client writes through it: it dials every worker it remembers.
   * Workers that obey a newer coordinator refuse it; it must change nothing, and a write through it
   * is refused, or, where the real one is gone, it takes the cluster over as a recovering one would.
   */
  private startStaleCoordinator(): void {
    // (Not in a run that lost a worker's disk either: a takeover would wait for the identity gone with it.)
    if (this.stale !== null || this.coordCopy === null || this.staleRuns >= 2 || this.stats.wipes > 0) return;
    if (!hasVoters(storeConfig(this.coordCopy))) return; // (as above: an old copy of a cluster with no voter yet)
    this.staleRuns++;
    const proc = new SimProcess('stale-coordinator', false);
    const store = new CoordinatorStore(':memory:', this.coordCopy);
    store.holdWrites();
    const env = this.world.envFor(proc, (code, reason) => {
      this.onExit('the old copy of the coordinator', code, reason);
      this.stopStaleCoordinator();
    });
    const node = new CoordinatorNode({
      host: STALE_COORDINATOR_HOST,
      port: COORDINATOR_PORT,
      dataDir: ':memory:',
      lockTimeoutMs: this.lockTimeoutMs,
      clusterKey: CLUSTER_KEY,
      adminToken: ADMIN_TOKEN,
      tls: null,
      logger: silent,
      env,
      store,
      copyPageRows: 2,
      evictAfterMs: this.evictAfterMs,
      minVoters: this.minVoters,
      newCluster: false,
      run: `stale${this.staleRuns}`,
      newClusterId: 'c-stale',
      checkInvariants: this.opts.invariants ?? true,
      ...(this.coreSabotage !== undefined ? { sabotage: this.coreSabotage } : {}),
      ...(this.shellSabotage !== undefined ? { shellSabotage: this.shellSabotage } : {}),
    });
    this.stale = { proc, node, store };
    if (process.env.SIMDBG) {
      const r = new CoordinatorStore(':memory:', this.coordCopy).recover();
      console.log(Math.floor(this.now), 'STALE COORDINATOR STARTS', JSON.stringify({ config: r.config, members: r.members, proposed: r.config_proposed, epoch: r.epoch }));
    }
    void node.start();
    // A client of its own writes through it meanwhile (a user pointed at the wrong address).
    const c: ClientState = { id: 200 + this.staleRuns, proc: new SimProcess(`stale-client${this.staleRuns}`, true), host: STALE_COORDINATOR_HOST, conn: null, open: false, splitter: new JsonStreamSplitter(64 * 1024 * 1024), nextReq: 1, pending: null, remaining: this.rng.int(3, 10) };
    this.clients.push(c);
    this.at(this.rng.int(100, 1_000), () => this.nextOp(c));
    this.at(this.rng.int(500, 6_000), () => this.stopStaleCoordinator());
  }

  private stopStaleCoordinator(): void {
    const s = this.stale;
    if (s === null) return;
    this.stale = null;
    if (process.env.SIMDBG) console.log(Math.floor(this.now), 'STALE COORDINATOR STOPS');
    if (s.proc.alive) this.world.kill(s.proc);
    s.store.close();
  }

  /** The operator removes a worker (remove_worker, by id or by address); it exits and is added back later. */
  private removeOne(): void {
    if (this.operator.pending !== null || this.workers.length < 2) return;
    const w = this.rng.pick(this.workers);
    const which = this.rng.chance(0.5) ? w.address : w.store.recover().node_id;
    this.clientSend(this.operator, { action: 'remove_worker', worker: which }, (r) => {
      if (r !== null && r.status === 'OK') this.stats.removals++;
    });
  }

  /** Cuts the cluster in two for a while: one worker alone, the coordinator alone, or a random split. */
  private partition(weather: Weather): void {
    const isolated = this.world.isolated;
    const nodes = ['coordinator', ...this.workers.map((w) => `w${w.index}`)];
    const kind = this.rng.next();
    if (kind < 0.5) isolated.add(`w${this.rng.pick(this.workers).index}`);
    else if (kind < 0.7) isolated.add('coordinator');
    else for (const n of nodes) if (this.rng.chance(0.5)) isolated.add(n);
    if (isolated.size === 0 || isolated.size === nodes.length) {
      isolated.clear();
      return;
    }
    this.stats.partitions++;
    const loud = this.rng.chance(weather.loudPartitions);
    const crossing = this.world.nodeConnections(this.procs()).filter((c) => c.peer !== null && !this.world.canTalk(c.proc, c.peer.proc));
    for (const c of crossing) {
      // A partition is often silent (a black hole); sometimes the connections reset at once.
      if (loud) this.resetBoth(c);
      else
        this.at(this.rng.int(500, 10_000), () => {
          // Keepalive gives up after a while: the connection is reset.
          if (c.peer !== null && !this.world.canTalk(c.proc, c.peer.proc)) this.resetBoth(c);
        });
    }
    this.at(this.rng.int(100, weather.partitionMaxMs), () => isolated.clear());
  }

  // ---------------------------------------------------------------- run and check

  run(): SimResult {
    resetProbes();
    // The weather first: the rest of the run depends on it, and the seed alone decides it.
    const weather = this.opts.weather ?? drawWeather(this.rng);
    this.weather = this.faults ? weather : null;
    this.world.net = weather;
    const nWorkers = this.rng.int(1, 5);
    const nClients = this.rng.int(1, 6);
    this.evictAfterMs = this.rng.int(500, 4_000);
    this.minVoters = nWorkers >= 2 && this.rng.chance(0.2) ? 2 : 1;
    this.world.slowNetwork = this.faults;
    for (let i = 0; i < nWorkers; i++) {
      const store = new WorkerStore(':memory:', () => `w${i + 1}`);
      this.workers.push({ index: i, address: `10.0.0.${i + 1}:${WORKER_PORT}`, store, proc: null, node: null, removed: false, foreign: false });
    }
    this.startCoordinator();
    for (const w of this.workers) this.at(this.rng.int(0, 300), () => this.startWorker(w));
    for (let i = 0; i < nClients; i++) {
      const c: ClientState = {
        id: i,
        proc: new SimProcess(`client${i}`, true),
        host: COORDINATOR_HOST,
        conn: null,
        open: false,
        splitter: new JsonStreamSplitter(64 * 1024 * 1024),
        nextReq: 1,
        pending: null,
        remaining: this.rng.int(10, 40),
      };
      this.clients.push(c);
      this.at(this.rng.int(1_000, 2_000), () => this.nextOp(c));
    }
    this.scheduleFault();

    const onExit = (): void => undefined; // the process's own env.exit already recorded it
    // Active phase: until every client is done (or the cap).
    this.world.run(ACTIVE_MS, () => this.clients.every((c) => c.remaining <= 0 && c.pending === null), onExit);
    // Heal: no more faults, every node up, partitions gone; then let it settle.
    this.healing = true;
    this.stopStaleCoordinator();
    this.world.slowNetwork = false;
    this.world.isolated.clear();
    for (const p of this.procs()) {
      p.crashInNextSync = false;
      p.crashAtTurn = 0;
    }
    if (this.coord === null) this.startCoordinator();
    for (const w of this.workers) {
      w.removed = false;
      if (w.foreign) {
        this.crashWorker(w);
        this.replaceForeignStore(w);
      }
      if (w.node === null) this.startWorker(w);
    }
    this.world.run(this.now + SETTLE_MS, () => false, onExit);
    for (const w of this.workers) {
      const core = coreOf(w);
      if (core !== null) this.stats.resolvedByPeers += core.resolvedByPeers;
    }
    this.check();
    this.checkLinearizable();
    for (const w of this.workers) w.store.close();
    this.coordStore.close();
    return {
      seed: this.opts.seed,
      violations: this.violations,
      stats: { workers: nWorkers, clients: nClients, events: this.world.events, simMs: Math.round(this.now), ...this.stats, codes: this.codes, weather: this.weather },
      probes: Object.fromEntries(probeHits()),
      history: this.history,
    };
  }

  private coordinatorStatus(): Record<string, unknown> | null {
    if (this.coord === null) return null;
    let reply: Reply | null = null;
    for (const e of this.coord.coreForChecks.handle({ type: 'request', conn: -1, slot: 0, request: { action: 'status' } }, Math.floor(this.now))) {
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
      // Every worker, back from eviction or removal, is a voter again: each holds every acknowledged write.
      const notVoters = (ws as { id: string; role?: string }[]).filter((w) => w.role !== 'voter');
      if (notVoters.length > 0) this.violations.push(`after healing, workers not voters: ${JSON.stringify(notVoters)}`);
      if (ws.length !== this.workers.length) this.violations.push(`after healing the coordinator lists ${ws.length} workers, expected ${this.workers.length}`);
      const inDoubt = status.in_doubt as unknown[];
      if (inDoubt.length > 0) this.violations.push(`after healing, transactions still in doubt: ${JSON.stringify(inDoubt)}`);
      // #23: the coordinator serves (it took its workers' cluster over if it lost its disk), and
      // every worker belongs to that cluster.
      const identity = status.identity as { id: string | null; state: string };
      if (identity.state !== 'serving') this.violations.push(`after healing, the coordinator is ${identity.state}: ${JSON.stringify(identity)} (configuration ${JSON.stringify(status.config)}; workers ${JSON.stringify(this.workers.map((w) => w.store.recover()).map((r) => ({ id: r.node_id, config: r.config, voters: r.config_voters, cluster: r.cluster, fence: r.fence })))})`);
      for (const w of this.workers) {
        const cluster = w.store.recover().cluster ?? null;
        if (cluster !== identity.id) this.violations.push(`after healing, worker ${w.address} belongs to cluster ${cluster ?? '(none)'}, the coordinator to ${identity.id ?? '(none)'}`);
      }
    }
    for (const w of this.workers) {
      const core = coreOf(w);
      if (core === null) continue;
      if (core.lockCount > 0) this.violations.push(`after healing, worker ${w.address} still holds ${core.lockCount} locks`);
      if (core.txnCount > 0) this.violations.push(`after healing, worker ${w.address} still has ${core.txnCount} transactions open`);
      if (w.store.preparedCount() > 0) this.violations.push(`after healing, worker ${w.address} still has ${w.store.preparedCount()} prepared records`);
    }
    // 3. Identical copies.
    const digests = this.workers.map((w) => ({ w: w.address, ...w.store.check() }));
    if (process.env.SIMDBG) for (const w of this.workers) console.log('ROWS', w.address, JSON.stringify(w.store.getTweets(100, null, null)), w.store.recover().node_id);
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

function hasVoters(config: { voters: string[] }): boolean {
  return config.voters.length > 0;
}

/** The configuration an old copy of the coordinator's store holds. */
function storeConfig(image: Buffer): { voters: string[] } {
  const store = new CoordinatorStore(':memory:', image);
  try {
    return store.recover().config;
  } finally {
    store.close();
  }
}

/** A worker's store holding another cluster's data: a commit of a tweet, and the coordinator it obeyed there. */
function foreignStore(id: string): WorkerStore {
  const store = new WorkerStore(':memory:', () => id);
  store.persist(
    [
      { type: 'persist_fence', cluster: FOREIGN_CLUSTER, epoch: 3, run: 'elsewhere' },
      { type: 'persist_commit', txid: '3.1', cseq: 1, ops: [{ kind: 'post', tweet: { id: 'k0', username: 'u', content: 'from another cluster', created_at: 1, updated_at: null } }] },
    ],
    0,
  );
  return store;
}

export function simulate(opts: SimOptions): SimResult {
  return new Simulation(opts).run();
}
