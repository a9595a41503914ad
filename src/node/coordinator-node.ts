// The coordinator process: the client TCP API, links to every worker, the
// decision log, and a clock; all of them drive the pure CoordinatorCore.

import { randomBytes } from 'node:crypto';
import { CoordinatorCore, type CoordinatorEffect, type CoordinatorEvent } from '../core/coordinator.ts';
import type { Reply } from '../wire/protocol.ts';
import { answerProblem, isWorkerAnswer, parseFromWorker, type AskedOfWorker } from '../wire/node-messages.ts';
import { CoordinatorStore, type CoordinatorWrite } from '../storage/coordinator-store.ts';
import { validateRequest, parseAddress } from '../wire/validate.ts';
import { errorReply } from '../wire/errors.ts';
import { ClientAdmission, ClientConnection, peerAddress, refuseConnection } from './client-conn.ts';
import { COPY_PAGE_ROWS, EVICT_AFTER_MS, MAX_CLIENT_CONNECTIONS, NODE_RESERVED_CONNECTIONS, NODE_RESERVED_GRACE_MS, REFUSED_CONNECTIONS_HEADROOM } from '../wire/limits.ts';
import { JsonLink } from './json-link.ts';
import { createLogger, type Logger } from './log.ts';
import { AFTER_FIRST_SEND, failpoint, isArmed } from './failpoints.ts';
import { GroupCommit } from './group-commit.ts';
import { authenticateOutgoing, channelBinding, isNonce, linkProof, newNonce, proofMatches } from './link-auth.ts';
import { checkProtectedMode } from './cluster-key.ts';
import { TokenCheck } from './access-tokens.ts';
import { roleNeeded } from '../wire/roles.ts';
import { peerVerified, type TlsConfig } from './transport.ts';
import { productionEnv, type Conn, type Env, type Listener, type Timer } from './env.ts';
import type { Sabotage } from '../core/types.ts';
import type { ShellSabotage } from './sabotage.ts';
import { restartCount } from './supervised.ts';
import type { CoordinatorMetrics } from './metrics.ts';
import { probe } from '../core/probes.ts';

export interface CoordinatorOptions {
  host: string;
  port: number;
  dataDir: string;
  lockTimeoutMs: number;
  /** The cluster's shared secret (src/node/cluster-key.ts); null: no key, allowed on loopback only. */
  clusterKey: Buffer | null;
  /** TLS for the client API and the links to workers (src/node/transport.ts); null: plain TCP. */
  tls: TlsConfig | null;
  /** Close a client connection silent this long with nothing in flight and no subscription; 0 or absent: never. */
  idleTimeoutMs?: number;
  /** With a token, every client must send {"action":"auth","token":...} first (src/node/access-tokens.ts). */
  clientToken?: string | null;
  /**
   * The admin token: what a client sends with {"action":"auth"} to use the actions src/wire/roles.ts
   * keeps for admins (items, trace, resolve, remove_worker). Null or absent: no client may use them
   * (the simulator's coordinator). The CLI always gives one.
   */
  adminToken?: string | null;
  /** Where the admin token lives, for the start-up log line. */
  adminTokenFile?: string;
  logger?: Logger;
  /** Clock, timers, network and disk (src/node/env.ts); the simulator passes its own. Default: the real ones. */
  env?: Env;
  /** An open store to use instead of opening DATA/coordinator.db (the simulator's, which outlives a crash). */
  store?: CoordinatorStore;
  /** Test-only: rows per page of a full copy (default 2,000). */
  copyPageRows?: number;
  /** A voter not up for this long leaves the voters (`--evict-after`; default EVICT_AFTER_MS). */
  evictAfterMs?: number;
  /** Writes are refused while fewer workers vote (`--min-voters`; default 1). */
  minVoters?: number;
  /** `--new-cluster`: with an empty data directory, form a new cluster at once (default: wait for workers of an existing one first). */
  newCluster?: boolean;
  /** This process's run id and the id a new cluster would get (default: random; the simulator gives its own, from its seed). */
  run?: string;
  newClusterId?: string;
  /** Test-only: one protocol rule broken in the core, or one duty broken in this shell (sim/sabotage). */
  sabotage?: Sabotage;
  shellSabotage?: ShellSabotage;
  /**
   * Check every invariant of the core (core.invariants()) after each event it handles, as the
   * simulator does; a broken one stops the process (exit 70). Off in production, where the
   * cheap checks inside the core's handlers stay on.
   */
  checkInvariants?: boolean;
  /** Prometheus metrics to keep (src/node/metrics.ts); absent: none (the default, and the simulator's). */
  metrics?: CoordinatorMetrics;
}

const TICK_MS = 50;
const RECONNECT_MIN_MS = 100;
const RECONNECT_MAX_MS = 2_000;
const CONNECT_TIMEOUT_MS = 2_000;
/** An unlinked worker's connection is closed after what was queued on it is sent, and destroyed this long later at most. */
const UNLINK_GRACE_MS = 2_000;

/** A persistent connection to one worker, re-opened with backoff whenever it drops. */
class WorkerLink {
  link: JsonLink | null = null;
  /**
   * Reads and copy pages asked on the current link and not answered, by rid: an answer must match
   * one, in kind and shape. Emptied whenever the link closes, and gone with this object when the
   * worker is unlinked, so it never holds more than the questions the core has in flight on this link.
   */
  readonly asked = new Map<number, AskedOfWorker>();
  private backoff = RECONNECT_MIN_MS;
  private timer: Timer | null = null;
  private stopped = false;
  private attempt: Conn | null = null;
  private upSince = 0;

  constructor(
    private readonly env: Env,
    readonly worker: string,
    readonly address: string,
    private readonly key: Buffer | null,
    private readonly tls: TlsConfig | null,
    private readonly log: Logger,
    private readonly onUp: () => void,
    private readonly onMessage: (msg: Record<string, unknown>) => void,
    private readonly onText: (rid: number, text: string) => void,
    private readonly onDown: () => void,
    firstDialAfterMs: number,
  ) {
    if (firstDialAfterMs > 0) {
      this.backoff = Math.min(firstDialAfterMs * 2, RECONNECT_MAX_MS);
      this.timer = this.env.timers.setTimeout(() => {
        this.timer = null;
        this.dial();
      }, firstDialAfterMs);
    } else {
      this.dial();
    }
  }

  private dial(): void {
    if (this.stopped) return;
    const addr = parseAddress(this.address);
    if (addr === null) return;
    const timers = this.env.timers;
    const s = this.env.network.dial(addr.host, addr.port, this.tls, () => {
      timers.clearTimeout(timer);
      if (this.stopped) {
        s.destroy();
        return;
      }
      // The worker must prove it holds the cluster key before it is heard (src/node/link-auth.ts).
      authenticateOutgoing(
        timers,
        s,
        this.key,
        'coordinator',
        {
          onMessage: (m) => this.onMessage(m),
          // A text frame is a read answered as the client's reply line, tagged with its read id.
          onText: (rid, text) => this.onText(rid, text),
          onClose: (why) => {
            const wasUp = this.link !== null;
            this.link = null;
            this.asked.clear();
            if (this.attempt === s) this.attempt = null;
            if (!wasUp) this.log.warn({ worker: this.worker, address: this.address, why }, 'link to worker failed before it was authenticated');
            else if (why !== 'connection closed' && why !== 'unlinked') this.log.warn({ worker: this.worker, address: this.address, why }, 'link to worker closed');
            if (this.stopped) return;
            if (wasUp) this.onDown();
            // A link that drops at once (a wrong identity or key at that address) backs off; a long-lived one starts over.
            if (wasUp && timers.now() - this.upSince >= RECONNECT_MAX_MS) this.backoff = RECONNECT_MIN_MS;
            this.retry();
          },
        },
        (link) => {
          this.attempt = null;
          this.link = link;
          this.upSince = timers.now();
          this.onUp();
        },
      );
    });
    this.attempt = s;
    const timer = timers.setTimeout(() => s.destroy(), CONNECT_TIMEOUT_MS);
    s.once('error', () => undefined);
    s.once('close', () => {
      timers.clearTimeout(timer);
      if (this.attempt === s && this.link === null) {
        this.attempt = null;
        this.retry();
      }
    });
  }

  private retry(): void {
    if (this.stopped || this.timer !== null) return;
    this.timer = this.env.timers.setTimeout(() => {
      this.timer = null;
      this.dial();
    }, this.backoff);
    this.backoff = Math.min(this.backoff * 2, RECONNECT_MAX_MS);
  }

  send(msg: unknown): void {
    this.link?.send(msg);
  }

  /** Hands what is queued to the socket now (a failpoint is about to stop the process). */
  flush(): void {
    this.link?.flush();
  }

  /** Closes the link (the worker sent something it must not); it is dialled again with backoff. */
  cut(why: string): void {
    this.link?.close(why);
  }

  stop(): void {
    this.stopped = true;
    this.env.timers.clearTimeout(this.timer);
    this.attempt?.destroy();
    // What was sent last still goes out (a removed worker is told so just before its unlink).
    this.link?.closeAfterFlush('unlinked', UNLINK_GRACE_MS);
    this.link = null;
  }
}

export class CoordinatorNode {
  private readonly opts: CoordinatorOptions;
  private readonly env: Env;
  readonly log: Logger;
  private readonly store: CoordinatorStore;
  private readonly core: CoordinatorCore;
  private listener: Listener | null = null;
  private readonly conns = new Map<number, ClientConnection>();
  private readonly admission = new ClientAdmission(MAX_CLIENT_CONNECTIONS);
  private readonly links = new Map<string, WorkerLink>();
  /** Client connections half way through the node handshake, and those done: only these may register. */
  private readonly handshakes = new Map<number, { theirs: string; ours: string }>();
  private readonly nodeConns = new Set<number>();
  /** Connections that sent a right token, and which: the admin token opens everything the client token does. */
  private readonly clientAuthed = new Map<number, 'client' | 'admin'>();
  /** Connections that sent a wrong token: closing, they run nothing more. */
  private readonly wrongToken = new Set<number>();
  private readonly tokenCheck: TokenCheck | null;
  private readonly adminCheck: TokenCheck | null;
  /** Connections admitted past the client limits, in a slot kept for nodes (with why a client would have been refused). */
  private readonly reserved = new Map<number, { timer: Timer; why: string }>();

  private nextConn = 1;
  private readonly commits: GroupCommit<CoordinatorWrite>;
  /**
   * What waits for a write to be durable (replies to registrations), by the write. At most one
   * entry per membership write in flight: one per registration, itself bounded by the connections.
   */
  private readonly durableWaiters = new Map<CoordinatorWrite, (() => void)[]>();
  private ticker: Timer | null = null;
  private stopping = false;
  address = '';

  constructor(opts: CoordinatorOptions) {
    this.opts = opts;
    this.env = opts.env ?? productionEnv;
    this.log = opts.logger ?? createLogger('coordinator');
    checkProtectedMode(opts.host, opts.clusterKey, 'coordinator');
    this.tokenCheck = opts.clientToken === undefined || opts.clientToken === null ? null : new TokenCheck(opts.clientToken);
    this.adminCheck = opts.adminToken === undefined || opts.adminToken === null ? null : new TokenCheck(opts.adminToken);
    this.store = opts.store ?? new CoordinatorStore(opts.dataDir);
    const recovered = this.store.recover();
    const restarts = restartCount();
    this.core = new CoordinatorCore(
      {
        lockTimeoutMs: opts.lockTimeoutMs,
        run: opts.run ?? randomBytes(8).toString('hex'),
        newClusterId: opts.newClusterId ?? `c-${randomBytes(8).toString('hex')}`,
        newCluster: opts.newCluster === true,
        copyPageRows: opts.copyPageRows ?? COPY_PAGE_ROWS,
        evictAfterMs: opts.evictAfterMs ?? EVICT_AFTER_MS,
        minVoters: opts.minVoters ?? 1,
        openMode: opts.clusterKey === null,
        ioStats: () => ({ log_fsyncs: this.store.wal.count, log_fsync_ms: Math.round(this.store.wal.totalMs), restarts }),
        ...(opts.sabotage !== undefined ? { sabotage: opts.sabotage } : {}),
        ...(opts.metrics !== undefined ? { traceEffects: true } : {}),
      },
      recovered,
    );
    this.log.info({ epoch: recovered.epoch, cluster: recovered.cluster ?? null, workers: recovered.members.length, pending_decisions: recovered.decisions.length }, 'coordinator state recovered');
    if (recovered.empty === true && opts.newCluster !== true) {
      this.log.warn('no data in this data directory: waiting for a worker holding a cluster\'s data to register, to take that cluster over; to start a new cluster instead, start this coordinator with --new-cluster');
    }
    const storage = opts.metrics?.storage;
    const persist = (batch: CoordinatorWrite[]): void => this.store.persist(batch);
    const sync = (done: (err: unknown) => void): void => this.env.disk.sync(this.store, done);
    this.commits = new GroupCommit<CoordinatorWrite>(
      this.env.timers,
      storage === undefined ? persist : storage.countedWrite(persist),
      storage === undefined ? sync : storage.timedSync(() => this.env.timers.now(), sync),
      (batch) => this.onDurable(batch),
      (e) => {
        this.log.fatal({ err: e }, 'the decision log could not be written; exiting (outcomes in flight are unknown)');
        this.env.exit(74, e);
      },
      undefined,
      opts.shellSabotage === 'coordinator_durable_before_fsync' ? 'durable_before_fsync' : null,
    );
    opts.metrics?.attach({
      counters: () => this.core.counters,
      status: () => this.core.status(this.env.timers.now()) as { workers?: unknown; in_doubt?: unknown },
      untraced: () => this.core.untraced,
      clientConnections: () => this.conns.size,
      queuedRequests: () => {
        let n = 0;
        for (const c of this.conns.values()) n += c.queued;
        return n;
      },
    });
  }

  /**
   * Listens, then starts the core and its clock. The network answers through a callback: the
   * simulator's does so at once, so there the node is running when start() returns.
   */
  start(): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const listener = this.env.network.listen(
        { host: this.opts.host, port: this.opts.port, tls: this.opts.tls, mutual: false, allowHalfOpen: true },
        (s) => this.onClient(s),
        (err, address) => {
          if (err !== null) {
            reject(err);
            return;
          }
          this.address = address;
          this.run(this.core.start(this.env.timers.now()));
          this.ticker = this.env.timers.setInterval(() => this.dispatch({ type: 'tick' }), TICK_MS);
          this.log.info({ address: this.address, lock_timeout_s: this.opts.lockTimeoutMs / 1000 }, `coordinator listening on ${this.address}`);
          if (this.opts.adminTokenFile !== undefined) this.log.info({ file: this.opts.adminTokenFile }, `admin token in ${this.opts.adminTokenFile}: items, trace, resolve and remove_worker need it ({"action":"auth","token":...})`);
          if (this.opts.clusterKey === null) {
            this.log.warn(
              { open_mode: true },
              'open mode: no cluster key. Any process on this machine can act as a worker of this cluster (register, read and write its copies); only loopback may connect. Give every node --cluster-key-file (tweetdb start does) to close it',
            );
          }
          resolve();
        },
      );
      // Past this the server drops a connection without a word; below it, ClientAdmission says why.
      listener.setMaxConnections(MAX_CLIENT_CONNECTIONS + REFUSED_CONNECTIONS_HEADROOM);
      this.listener = listener;
    });
  }

  /** The core, for the simulator's checks after a run (never to drive it). */
  get coreForChecks(): CoordinatorCore {
    return this.core;
  }

  private onClient(s: Conn): void {
    if (this.stopping) {
      s.destroy();
      return;
    }
    const address = peerAddress(s);
    const refused = this.admission.admit(address);
    // Past the client limits a few slots stay for nodes: a worker must be able to register
    // while clients hold every other slot. It has a moment to prove the key, and may do nothing else.
    let reserved: Timer | null = null;
    if (refused !== null) {
      if (this.reserved.size >= NODE_RESERVED_CONNECTIONS) {
        refuseConnection(s, refused);
        return;
      }
      reserved = this.env.timers.setTimeout(() => {
        this.reserved.delete(id);
        refuseConnection(s, refused);
      }, NODE_RESERVED_GRACE_MS);
    }
    const id = this.nextConn++;
    if (reserved !== null) this.reserved.set(id, { timer: reserved, why: refused as string });
    const conn = new ClientConnection(
      this.env.timers,
      id,
      s,
      {
        onRequest: (c, slot, body) => {
          if (body.action === 'node_hello' || body.action === 'node_proof') {
            this.onNodeHandshake(c, s, slot, body);
            return;
          }
          // After a wrong token the connection only closes: what was pipelined behind it is refused too.
          if (this.wrongToken.has(c.id)) {
            c.deliver(slot, errorReply('UNAUTHENTICATED', 'this connection sent a wrong token and is closing; nothing more is run on it'));
            return;
          }
          if (body.action === 'auth') {
            this.onClientAuth(c, slot, body);
            return;
          }
          // A worker's connection proved the cluster key in order to register, and may do nothing else:
          // without a key that proof proves nothing, so it must not open the API either (#24).
          if (this.nodeConns.has(c.id) && body.action !== 'register') {
            c.deliver(slot, errorReply('UNAUTHENTICATED', 'a connection that authenticated as a worker (node_hello, node_proof) may only register; clients send {"action":"auth","token":"..."} on a connection of their own'));
            return;
          }
          if (this.tokenCheck !== null && !this.clientAuthed.has(c.id) && !this.nodeConns.has(c.id)) {
            c.deliver(slot, errorReply('UNAUTHENTICATED', 'this coordinator needs a client token: send {"action":"auth","token":"..."} first (tweetdb client and tweetdb web take --client-token-file)'));
            return;
          }
          const slotFor = this.reserved.get(c.id);
          if (slotFor !== undefined && !this.nodeConns.has(c.id)) {
            c.deliver(slot, errorReply('UNAVAILABLE', `connection refused: ${slotFor.why}`));
            c.endAfterReplies();
            return;
          }
          if (body.action === 'register' && !this.nodeConns.has(c.id)) {
            c.deliver(slot, errorReply('UNAUTHENTICATED', 'register is for worker processes that have proved they hold the cluster key (node_hello, node_proof); start a worker with `tweetdb worker --cluster-key-file FILE`'));
            return;
          }
          const v = validateRequest(body);
          if (!v.ok) {
            c.deliver(slot, errorReply('INVALID', v.error));
            return;
          }
          if (roleNeeded(v.request) === 'admin' && this.clientAuthed.get(c.id) !== 'admin') {
            c.deliver(slot, errorReply('UNAUTHENTICATED', `${v.request.action === 'transaction' ? 'a transaction with items' : v.request.action} needs the admin token: send {"action":"auth","token":"..."} first with the token in the coordinator's admin token file (DATA/admin.token, or --admin-token-file; tweetdb admin and tweetdb web read it with --admin-token-file)`));
            return;
          }
          if (v.request.action === 'subscribe' || v.request.action === 'trace') c.markSubscribed();
          this.dispatch({ type: 'request', conn: c.id, slot, request: v.request });
        },
        onClose: (c) => {
          const r = this.reserved.get(c.id);
          if (r !== undefined) {
            this.env.timers.clearTimeout(r.timer);
            this.reserved.delete(c.id);
          } else if (reserved === null) {
            this.admission.release(address);
          }
          if (c.closeReason !== null) this.log.info({ conn: c.id, address }, `client connection closed: ${c.closeReason}`);
          this.conns.delete(c.id);
          this.handshakes.delete(c.id);
          this.nodeConns.delete(c.id);
          this.clientAuthed.delete(c.id);
          this.wrongToken.delete(c.id);
          this.dispatch({ type: 'conn_closed', conn: c.id });
        },
      },
      { idleTimeoutMs: this.opts.idleTimeoutMs ?? 0 },
    );
    this.conns.set(id, conn);
  }

  /**
   * Every message from a worker is checked against its schema (src/wire/node-messages.ts) before
   * the core sees it, and a read's answer against what was asked: a worker that sends anything
   * else is cut off (the link closes, is logged, and is dialled again) instead of reaching an
   * assertion in the core.
   */
  private fromWorker(worker: string, raw: Record<string, unknown>): void {
    const p = parseFromWorker(raw);
    let bad = p.ok ? null : p.error;
    if (p.ok && isWorkerAnswer(p.msg)) {
      const asked = this.links.get(worker)?.asked;
      const a = asked?.get(p.msg.rid);
      // An answer nobody is waiting for (a duplicate, or to a read moved to another worker) is dropped.
      if (asked === undefined || a === undefined) {
        probe('node.stale_read_answer_dropped');
        return;
      }
      asked.delete(p.msg.rid);
      bad = answerProblem(a, p.msg);
    }
    if (bad !== null) {
      this.log.error({ worker, why: bad }, 'bad message from worker; closing its link');
      this.links.get(worker)?.cut(`bad message: ${bad}`);
      return;
    }
    if (p.ok) this.dispatch({ type: 'worker_message', worker, msg: p.msg });
  }

  /** {"action":"auth","token":...}: a wrong token is refused and the connection closed (one guess per connection). */
  private onClientAuth(c: ClientConnection, slot: number, body: Record<string, unknown>): void {
    if (Object.keys(body).some((k) => !['action', 'token', 'req'].includes(k)) || typeof body.token !== 'string') {
      c.deliver(slot, errorReply('INVALID', 'auth takes {"token":"..."} only: the admin token, or the client token the coordinator wants'));
      return;
    }
    // Both checks run whatever the first says, so the time taken does not tell which token matched.
    const admin = this.adminCheck?.matches(body.token) === true;
    const client = this.tokenCheck?.matches(body.token) === true;
    if (!admin && !client) {
      this.log.warn({ conn: c.id }, 'a client sent a wrong token; connection closed');
      this.wrongToken.add(c.id);
      c.deliver(slot, errorReply('UNAUTHENTICATED', 'wrong token (neither the admin token nor a client token of this coordinator); the connection is closed'));
      c.endAfterReplies();
      return;
    }
    const role = admin ? 'admin' : 'client';
    this.clientAuthed.set(c.id, role);
    c.deliver(slot, { status: 'OK', role });
  }

  /**
   * A worker proves it holds the cluster key on the client port before it may register
   * (src/node/link-auth.ts has the handshake; here it travels as two requests):
   *   {"action":"node_hello","role":"worker","nonce":NA} -> {"status":"OK","nonce":NB,"proof":...}
   *   {"action":"node_proof","proof":...}                 -> {"status":"OK"}, or ERROR and the connection closes
   */
  private onNodeHandshake(c: ClientConnection, s: Conn, slot: number, body: Record<string, unknown>): void {
    const refuse = (error: string): void => {
      this.handshakes.delete(c.id);
      this.log.warn({ conn: c.id, remote: s.remoteAddress, why: error }, 'node authentication refused');
      c.deliver(slot, errorReply('UNAUTHENTICATED', error));
      c.endAfterReplies();
    };
    if (body.action === 'node_hello') {
      if (this.opts.tls !== null && !peerVerified(s)) {
        refuse('over TLS a worker must show a certificate signed by the cluster\'s CA (--tls-cert, --tls-key)');
        return;
      }
      if (body.role !== 'worker' || !isNonce(body.nonce) || Object.keys(body).some((k) => !['action', 'role', 'nonce', 'req'].includes(k))) {
        refuse('node_hello takes {"role":"worker","nonce":64 hex digits}');
        return;
      }
      const ours = newNonce();
      this.handshakes.set(c.id, { theirs: body.nonce, ours });
      c.deliver(slot, { status: 'OK', nonce: ours, proof: linkProof(this.opts.clusterKey, 'responder', 'worker', body.nonce, ours, channelBinding(s)) });
      return;
    }
    const h = this.handshakes.get(c.id);
    this.handshakes.delete(c.id);
    if (h === undefined) {
      refuse('node_proof must follow node_hello on the same connection');
      return;
    }
    if (!proofMatches(body.proof, linkProof(this.opts.clusterKey, 'initiator', 'worker', h.theirs, h.ours, channelBinding(s)))) {
      refuse('the proof does not match this cluster\'s key: check --cluster-key-file on the worker and the coordinator');
      return;
    }
    this.nodeConns.add(c.id);
    const r = this.reserved.get(c.id);
    if (r !== undefined) this.env.timers.clearTimeout(r.timer); // a node: it keeps its reserved slot until it closes
    c.deliver(slot, { status: 'OK' });
  }

  private dispatch(event: CoordinatorEvent): void {
    let effects: CoordinatorEffect[];
    try {
      effects = this.core.handle(event, this.env.timers.now());
      if (this.opts.checkInvariants === true) this.core.invariants();
    } catch (e) {
      // An invariant broke: better to stop than to risk diverging copies. Replies in flight are "unknown".
      const trace = randomBytes(6).toString('hex');
      this.log.fatal({ err: e, trace, event: event.type }, 'coordinator invariant violated; exiting');
      this.env.exit(70, e);
    }
    this.run(effects);
  }

  private run(effects: readonly CoordinatorEffect[]): void {
    // A reply handed out with a membership write (a worker's registration) goes out only once
    // that write is durable: a worker told OK stops registering, and were the write lost to a
    // power cut the coordinator would keep dialling it as the identity it replaced (seed 1157).
    let membership: CoordinatorWrite | null = null;
    for (const e of effects) {
      switch (e.type) {
        case 'reply':
          if (membership !== null) {
            const { conn, slot, reply } = e;
            this.afterDurable(membership, () => this.conns.get(conn)?.deliver(slot, reply as Reply));
          } else this.conns.get(e.conn)?.deliver(e.slot, e.reply as Reply);
          break;
        case 'reply_text':
          this.conns.get(e.conn)?.deliverText(e.slot, e.text);
          break;
        case 'push':
        case 'push_trace':
          this.conns.get(e.conn)?.push(e.line);
          break;
        case 'trace':
          this.opts.metrics?.traced(e.trace);
          break;
        case 'send': {
          const link = this.links.get(e.worker);
          if (link !== undefined && link.link !== null) {
            if (e.msg.type === 'read') link.asked.set(e.msg.rid, { kind: e.msg.query.kind, text: e.msg.reply_text === true });
            else if (e.msg.type === 'copy_read') link.asked.set(e.msg.rid, { kind: 'copy', limit: e.msg.limit });
          }
          link?.send(e.msg);
          const point = AFTER_FIRST_SEND[e.msg.type] ?? null;
          if (point !== null && isArmed(point)) {
            link?.flush();
            failpoint(point);
          }
          break;
        }
        case 'log_commit':
          // The core emits it before telling any voter: here the transaction is committed (every
          // voter holds a YES), nothing of it is written here, and no voter knows.
          failpoint('coordinator.after_last_yes');
          // Written in the background: nothing waits for it (implicit commit).
          this.commits.add(e, 'lazy');
          break;
        case 'forget_decision':
          // Forgetting late is harmless (a re-sent decision is acknowledged again): no fsync waits for it.
          this.commits.add(e, 'lazy');
          break;
        case 'save_member':
        case 'remove_member':
          this.commits.add(e);
          membership = e;
          break;
        case 'log_config':
        case 'commit_config':
          // Told to its voters (config_logged) only once proposed durably, used (config_committed) only
          // once in use durably: a configuration lost to a power cut was never used.
          this.commits.add(e);
          break;
        case 'reserve_cseq':
          // Used (cseq_reserved) only once durable: a restart then starts above every cseq given out.
          this.commits.add(e);
          break;
        case 'log_identity':
          // No worker is linked before it is durable (identity_logged): a hello names this epoch.
          this.commits.add(e);
          break;
        case 'link': {
          this.links.get(e.worker)?.stop();
          const worker = e.worker;
          const l = new WorkerLink(
            this.env,
            worker,
            e.address,
            this.opts.clusterKey,
            this.opts.tls,
            this.log,
            () => this.dispatch({ type: 'link_up', worker }),
            (msg) => this.fromWorker(worker, msg),
            (rid, text) => this.fromWorker(worker, { type: 'read_text', rid, text }),
            () => this.dispatch({ type: 'link_down', worker }),
            e.afterMs ?? 0,
          );
          this.links.set(worker, l);
          break;
        }
        case 'unlink': {
          const l = this.links.get(e.worker);
          this.links.delete(e.worker);
          l?.stop();
          break;
        }
        case 'log':
          this.log[e.level](e.data ?? {}, e.msg);
          break;
      }
    }
  }

  /** A batch of the decision log is durable (src/node/group-commit.ts): only now may its commits be sent. */
  /** Runs `then` once `write` (handed to the group commit) is durable. */
  private afterDurable(write: CoordinatorWrite, then: () => void): void {
    const waiting = this.durableWaiters.get(write);
    if (waiting !== undefined) waiting.push(then);
    else this.durableWaiters.set(write, [then]);
  }

  private onDurable(writes: CoordinatorWrite[]): void {
    if (this.stopping) return;
    for (const w of writes) {
      const waiting = this.durableWaiters.get(w);
      if (waiting === undefined) continue;
      this.durableWaiters.delete(w);
      for (const then of waiting) then();
    }
    for (const w of writes) {
      if (w.type === 'log_config') this.dispatch({ type: 'config_logged', config: w.config });
      else if (w.type === 'commit_config') this.dispatch({ type: 'config_committed', config: w.config });
      else if (w.type === 'reserve_cseq') this.dispatch({ type: 'cseq_reserved', through: w.through });
      else if (w.type === 'log_identity') this.dispatch({ type: 'identity_logged', seq: w.seq });
    }
  }

  async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    this.env.timers.clearInterval(this.ticker);
    this.listener?.close();
    for (const c of this.conns.values()) c.destroy();
    for (const l of this.links.values()) l.stop();
    // Written but not confirmed: a restart re-sends what is logged; nothing was told before its fsync.
    this.commits.writePending();
    this.commits.stop();
    this.store.close();
    this.log.info('coordinator stopped');
  }
}
