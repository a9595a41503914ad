// The worker process: listens for its coordinator's link, keeps registering
// with the coordinator until it answers, stores its copy in SQLite, and drives
// the pure WorkerCore. Reads are served straight from committed data.
//
// Connections to its port are of two kinds, told apart by the role the dialler
// proves in the authentication handshake (src/node/link-auth.ts): the
// coordinator's link, or another worker asking for an outcome (cooperative
// termination). Nothing else is read from a connection before that proof.

import { WorkerCore, durableEvent, type PersistEffect, type WorkerEffect, type WorkerEvent } from '../core/worker.ts';
import type { PeerQuery, ReadQuery, ToWorker } from '../wire/protocol.ts';
import { MAX_PEER_LINKS } from '../wire/limits.ts';
import { parseAddress } from '../wire/validate.ts';
import { parsePeerAnswer, parsePeerQuery, parseToWorker } from '../wire/node-messages.ts';
import { failpoint, isArmed } from './failpoints.ts';
import { GroupCommit } from './group-commit.ts';
import type { WorkerMetrics } from './metrics.ts';
import { answerCopy, answerRead, applyInstall } from './worker-service.ts';
import { WorkerStore } from '../storage/worker-store.ts';
import { JsonLink } from './json-link.ts';
import { createLogger, type Logger } from './log.ts';
import { authenticateIncoming, authenticateOutgoing } from './link-auth.ts';
import { checkProtectedMode } from './cluster-key.ts';
import type { TlsConfig } from './transport.ts';
import { productionEnv, type Conn, type Env, type Listener, type Timer } from './env.ts';
import { Registration } from './registration.ts';
import { probe } from '../core/probes.ts';
import type { Sabotage } from '../core/types.ts';
import type { ShellSabotage } from './sabotage.ts';

export interface WorkerOptions {
  host: string;
  port: number;
  /** The address the coordinator should dial; defaults to host:port. */
  advertise: string | null;
  coordinator: string;
  dataDir: string;
  /** The cluster's shared secret (src/node/cluster-key.ts); null: no key, allowed on loopback only. */
  clusterKey: Buffer | null;
  /** TLS for every link, mutual (src/node/transport.ts); null: plain TCP. */
  tls: TlsConfig | null;
  logger?: Logger;
  /** Clock, timers, network and disk (src/node/env.ts); the simulator passes its own. Default: the real ones. */
  env?: Env;
  /** An open store to use instead of opening DATA/worker.db (the simulator's, which outlives a crash). */
  store?: WorkerStore;
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
  metrics?: WorkerMetrics;
}

const TICK_MS = 50;
/** With no link from the coordinator for this long, register again (it may have lost track of us). */
const RELINK_AFTER_MS = 5_000;
const PRUNE_EVERY_MS = 3_600_000;
/** Until the coordinator says otherwise (in its hello), the lock timeout a worker assumes. */
const DEFAULT_LOCK_TIMEOUT_MS = 10_000;
const PEER_CONNECT_TIMEOUT_MS = 2_000;
/** A refused coordinator link is closed once the refusal is sent, and destroyed this long later at most. */
const REFUSED_CLOSE_GRACE_MS = 2_000;


export class WorkerNode {
  private readonly opts: WorkerOptions;
  private readonly env: Env;
  readonly log: Logger;
  private readonly store: WorkerStore;
  private readonly core: WorkerCore;
  private listener: Listener | null = null;
  private readonly registration: Registration;
  private link: JsonLink | null = null;
  /** Connections from other workers, by route id, for the answers they are owed. */
  private readonly peerIn = new Map<string, JsonLink>();
  private nextPeerIn = 1;
  /** Connections to other workers, by address. */
  private readonly peerOut = new Map<string, JsonLink>();
  private readonly dialing = new Set<string>();
  private readonly commits: GroupCommit<PersistEffect>;
  private ticker: Timer | null = null;
  private pruner: Timer | null = null;
  private registered = false;
  /** The coordinator said this worker was removed from the cluster: it exits. */
  private removed = false;
  /** The rid of the last page of a copy installed from the current coordinator link (0: none). */
  private lastInstallRid = 0;
  private lastLinkAt = 0;
  private stopping = false;
  address = '';

  constructor(opts: WorkerOptions) {
    this.opts = opts;
    this.env = opts.env ?? productionEnv;
    this.log = opts.logger ?? createLogger('worker');
    checkProtectedMode(opts.host, opts.clusterKey, 'worker');
    this.store = opts.store ?? new WorkerStore(opts.dataDir);
    const recovered = this.store.recover();
    const now = this.env.timers.now();
    this.store.pruneOutcomes(now);
    this.core = new WorkerCore(this.store, recovered, DEFAULT_LOCK_TIMEOUT_MS, now, opts.sabotage ?? null);
    this.log.info({ node_id: recovered.node_id, prepared: recovered.prepared.length, max_cseq: recovered.max_cseq }, 'worker state recovered');
    const storage = opts.metrics?.storage;
    const write = (batch: PersistEffect[]): void => this.write(batch);
    const sync = (done: (err: unknown) => void): void => this.env.disk.sync(this.store, done);
    this.commits = new GroupCommit<PersistEffect>(
      this.env.timers,
      storage === undefined ? write : storage.countedWrite(write),
      storage === undefined ? sync : storage.timedSync(() => this.env.timers.now(), sync),
      (batch) => this.onDurable(batch),
      (e) => {
        this.log.fatal({ err: e }, 'local storage failed; exiting');
        this.env.exit(74, e);
      },
      (batch) => this.onWritten(batch),
      opts.shellSabotage === 'worker_durable_before_fsync' ? 'durable_before_fsync' : null,
    );
    opts.metrics?.attach({
      resolvedByPeers: () => this.core.resolvedByPeers,
      prepared: () => this.core.preparedTxids().length,
      locks: () => this.core.lockCount,
      appliedCseq: () => this.core.appliedCseq,
    });
    this.registration = new Registration(
      this.env,
      {
        coordinator: opts.coordinator,
        tls: opts.tls,
        clusterKey: opts.clusterKey,
        identity: () => ({ id: this.nodeId, address: this.advertised }),
        // What it holds of a cluster: a coordinator that lost its data adopts it; one of another cluster refuses it.
        known: () => this.core.knowledge(this.store.isEmpty()),
      },
      this.log,
      () => {
        this.registered = true;
      },
    );
  }

  /** The core, for the simulator's checks (never to drive it). */
  get coreForChecks(): WorkerCore {
    return this.core;
  }

  get nodeId(): string {
    return this.core.nodeId;
  }

  get advertised(): string {
    return this.opts.advertise ?? this.address;
  }

  /**
   * Listens, then starts its clock and registers. The network answers through a callback: the
   * simulator's does so at once, so there the node is running when start() returns.
   */
  start(): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      // Only nodes connect here: over TLS each must show a certificate from the cluster's CA.
      this.listener = this.env.network.listen(
        { host: this.opts.host, port: this.opts.port, tls: this.opts.tls, mutual: true, allowHalfOpen: false },
        (s) => this.onConnection(s),
        (err, address) => {
          if (err !== null) {
            reject(err);
            return;
          }
          this.address = address;
          const timers = this.env.timers;
          this.ticker = timers.setInterval(() => this.onTick(), TICK_MS);
          this.pruner = timers.setInterval(() => this.store.pruneOutcomes(timers.now()), PRUNE_EVERY_MS);
          this.log.info({ address: this.address, advertise: this.advertised, node_id: this.nodeId }, `worker ${this.nodeId} listening on ${this.address}`);
          if (this.opts.clusterKey === null) {
            this.log.warn(
              { open_mode: true },
              'open mode: no cluster key. Any process on this machine can act as this worker\'s coordinator or peer (read, write and wipe its copy); only loopback may connect. Give every node --cluster-key-file (tweetdb start does) to close it',
            );
          }
          this.registration.start();
          resolve();
        },
      );
    });
  }

  /** A new connection is the coordinator's or a peer's: the role it proves in the handshake says which. */
  private onConnection(s: Conn): void {
    if (this.stopping) {
      s.destroy();
      return;
    }
    authenticateIncoming(
      this.env.timers,
      s,
      this.opts.clusterKey,
      (role, link) => {
        if (role === 'peer') {
          const route = `in:${this.nextPeerIn++}`;
          this.peerIn.set(route, link);
          return {
            onMessage: (m) => {
              const p = parsePeerQuery(m);
              if (!p.ok) return this.badMessage(link, 'another worker', p.error);
              this.dispatch({ type: 'peer_query', route, msg: p.msg });
            },
            onClose: (why) => {
              this.peerIn.delete(route);
              this.logClose('another worker', why);
            },
          };
        }
        if (role !== 'coordinator') return null;
        // A coordinator's link is taken only with its hello, and only if that coordinator is of
        // this worker's cluster and not older than the one it obeys: until then the link it has
        // stays, and nothing else arriving on the new one is read (fencing).
        return {
          onMessage: (m) => {
            const p = parseToWorker(m);
            if (!p.ok) return this.badMessage(link, 'the coordinator', p.error);
            if (link !== this.link && !this.offered(link, p.msg)) return;
            this.onMessage(link, p.msg);
          },
          onClose: (why) => {
            this.logClose('the coordinator', why);
            if (this.link === link) {
              this.link = null;
              this.lastLinkAt = this.env.timers.now();
              this.dispatch({ type: 'link_down' });
            }
          },
        };
      },
      (why) => this.log.warn({ remote: s.remoteAddress, why }, 'a connection was refused before it was authenticated'),
    );
  }

  /** Why a link closed, when it was not simply the other end going away (garbage, a replaced link). */
  private logClose(from: string, why: string): void {
    if (why !== 'connection closed' && !this.stopping) this.log.warn({ from, why }, 'link closed');
  }

  /** A message that fails its schema (src/wire/node-messages.ts) closes its link, logged; it never reaches the core. */
  private badMessage(link: JsonLink | null, from: string, why: string): void {
    this.log.error({ from, why }, 'bad message; closing the link');
    link?.close(`bad message: ${why}`);
  }

  /**
   * The first message on a coordinator's link that is not yet taken: its hello is taken (true) or
   * refused with the reason, which the coordinator is told before the link closes (false). Anything
   * before a hello is dropped.
   */
  private offered(link: JsonLink, msg: ToWorker): boolean {
    if (msg.type !== 'hello') {
      probe('node.message_before_hello_dropped');
      return false;
    }
    const refused = this.core.helloRefusal(msg, this.link !== null);
    if (refused !== null) {
      this.log.error({ cluster: msg.cluster, epoch: msg.epoch, why: refused.error }, 'a coordinator was refused');
      link.send(refused);
      link.closeAfterFlush(`refused: ${refused.reason}`, REFUSED_CLOSE_GRACE_MS);
      return false;
    }
    this.adoptCoordinatorLink(link);
    return true;
  }

  private adoptCoordinatorLink(link: JsonLink): void {
    // One coordinator link at a time: a new one replaces the old (the coordinator reconnected).
    if (this.link !== null) {
      probe('node.coordinator_link_replaced');
      const old = this.link;
      this.link = null;
      old.close('replaced by a new coordinator link');
      this.dispatch({ type: 'link_down' });
    }
    this.link = link;
    this.lastInstallRid = 0;
    this.lastLinkAt = this.env.timers.now();
  }

  /** Asks another worker; the link is opened on first use and kept. Lost questions are asked again on the next tick that asks. */
  private askPeer(address: string, msg: PeerQuery): void {
    const open = this.peerOut.get(address);
    if (open !== undefined) {
      open.send(msg);
      return;
    }
    if (this.dialing.has(address) || this.peerOut.size >= MAX_PEER_LINKS || this.stopping) return;
    const addr = parseAddress(address);
    if (addr === null) return;
    this.dialing.add(address);
    const timers = this.env.timers;
    const s = this.env.network.dial(addr.host, addr.port, this.opts.tls, () => {
      timers.clearTimeout(timer);
      this.dialing.delete(address);
      if (this.stopping) {
        s.destroy();
        return;
      }
      authenticateOutgoing(
        timers,
        s,
        this.opts.clusterKey,
        'peer',
        {
          onMessage: (m) => {
            const p = parsePeerAnswer(m);
            if (!p.ok) return this.badMessage(this.peerOut.get(address) ?? null, `worker ${address}`, p.error);
            this.dispatch({ type: 'peer_answer', msg: p.msg });
          },
          onClose: (why) => {
            if (this.peerOut.get(address)?.socket === s) this.peerOut.delete(address);
            else this.log.warn({ peer: address, why }, 'link to another worker failed before it was authenticated');
          },
        },
        (link) => {
          this.peerOut.set(address, link);
          link.send(msg);
        },
      );
    });
    const timer = timers.setTimeout(() => s.destroy(), PEER_CONNECT_TIMEOUT_MS);
    s.once('error', () => undefined);
    s.once('close', () => {
      timers.clearTimeout(timer);
      this.dialing.delete(address);
    });
  }

  private onMessage(link: JsonLink, msg: ToWorker): void {
    if (link !== this.link) return;
    if (this.removed) return;
    switch (msg.type) {
      case 'read':
        this.serveRead(link, msg.rid, msg.query, msg.reply_text === true);
        return;
      case 'copy_read': {
        const reply = answerCopy(this.store, msg);
        if (reply.type === 'read_failed') this.log.error({ rid: msg.rid, err: reply.error }, 'a page of a copy could not be read');
        link.send(reply);
        return;
      }
      case 'install':
        this.install(link, msg);
        return;
      default:
        this.dispatch({ type: 'message', msg });
        if (this.removed) this.leave();
    }
  }

  /** Removed by the operator: stop registering, write what is queued, and exit 0. */
  private leave(): void {
    this.registration.stop();
    this.commits.writePending();
    this.env.disk.sync(this.store, () => this.env.exit(0, 'removed from the cluster'));
  }

  private serveRead(link: JsonLink, rid: number, q: ReadQuery, replyText: boolean): void {
    const reply = answerRead(this.store, this.core, rid, q, replyText);
    if (reply.type === 'read_failed' && reply.in_doubt === undefined) this.log.error({ rid, err: reply.error }, 'read failed');
    if (reply.type === 'read_text') link.sendText(rid, reply.text);
    else link.send(reply);
  }

  private install(link: JsonLink, msg: Extract<ToWorker, { type: 'install' }>): void {
    // Pages come in the order the coordinator asked for them (rids only grow on one link): a page
    // older than one installed is a repeat, and installing it again (the first page resets the
    // store) would drop what the later pages brought (simulator seeds 18536, 19467).
    if (msg.rid <= this.lastInstallRid) return;
    this.lastInstallRid = msg.rid;
    const reply = applyInstall(this.store, this.core, msg);
    if (reply === null) {
      // Refuse rather than overwrite data under an open transaction; the coordinator starts over.
      this.log.error('copy refused: transactions are open on this worker');
      link.close('copy refused');
      return;
    }
    // The page (and, with the last one, the commit sequence number it brings) must be durable before it is acknowledged.
    this.env.disk.sync(this.store, (e) => {
      if (e !== null) {
        this.log.fatal({ err: e }, 'local storage failed; exiting');
        this.env.exit(74, e);
      }
      if (this.stopping) return;
      if (msg.done) this.log.info({ max_cseq: msg.max_cseq }, 'copy from another worker complete');
      link.send(reply);
    });
  }

  private dispatch(event: WorkerEvent): void {
    let effects: WorkerEffect[];
    try {
      effects = this.core.handle(event, this.env.timers.now());
      if (this.opts.checkInvariants === true) this.core.invariants();
    } catch (e) {
      this.log.fatal({ err: e, event: event.type }, 'worker invariant violated; exiting');
      this.env.exit(70, e);
    }
    for (const e of effects) {
      switch (e.type) {
        case 'send':
          if ((e.msg.type === 'vote' && !e.msg.yes) || (e.msg.type === 'ack' && e.msg.outcome === 'abort')) failpoint('worker.after_refusal_persist');
          this.link?.send(e.msg);
          if (e.msg.type === 'vote' && e.msg.yes && isArmed('worker.after_vote_send')) {
            this.link?.flush();
            failpoint('worker.after_vote_send');
          }
          continue;
        case 'peer_ask':
          this.askPeer(e.peer.address, e.msg);
          continue;
        case 'peer_reply':
          this.peerIn.get(e.route)?.send(e.msg);
          continue;
        case 'log':
          this.log[e.level](e.data, e.msg);
          continue;
        case 'bad_message':
          this.badMessage(this.link, 'the coordinator', e.why);
          continue;
        case 'save_reserved':
          // As save_config: durable with the next batch.
          this.store.saveReserved(e.through);
          continue;
        case 'save_config':
          // Durable with the next batch (the next prepared record's among them: a configuration learnt
          // from a prepare is durable with that prepare's YES); were it lost, the next hello says it again.
          this.store.saveConfig(e.config, e.voter, e.removed);
          if (e.removed) {
            this.log.warn({ config: e.config, data: this.opts.dataDir }, 'removed from the cluster by the operator; the data directory is kept as it is; exiting (start this worker again to add it back: it rejoins as a learner)');
            this.removed = true;
          }
          continue;
        default:
          break;
      }
      // A voter's commit need not be fsynced before anything goes on (its prepared record makes it
      // certain): it rides the next fsync someone waits on, so one client's next prepare waits for
      // one fsync, not for this one and then its own. Its ack (the decision may be forgotten) waits.
      this.commits.add(e, e.type === 'persist_commit' && this.core.commitBacked(e.txid) ? 'soon' : 'now');
      if (e.type === 'persist_commit' && this.opts.shellSabotage === 'worker_applied_before_write') this.dispatch({ type: 'applied', txid: e.txid });
    }
  }

  /** Group commit (src/node/group-commit.ts): one transaction for every protocol step of a turn. */
  private write(batch: PersistEffect[]): void {
    if (batch.some((e) => e.type === 'persist_prepared')) failpoint('worker.before_prepare_persist');
    if (batch.some((e) => e.type === 'persist_commit')) failpoint('worker.before_commit_apply');
    this.store.persist(batch, this.env.timers.now());
  }

  /** The batch is written, its fsync under way: commits are visible to reads, and the coordinator may answer its clients. */
  private onWritten(batch: PersistEffect[]): void {
    if (this.stopping) return;
    if (this.opts.shellSabotage !== 'worker_applied_before_write') for (const e of batch) if (e.type === 'persist_commit') this.dispatch({ type: 'applied', txid: e.txid });
    // This runs in the event loop's check phase, where a flush scheduled now would wait a whole
    // turn: the client's answer is waiting on these, so they go out at once.
    this.link?.flush();
  }

  /** The batch's fsync has returned: now, and only now, the core hears "durable". */
  private onDurable(batch: PersistEffect[]): void {
    if (this.stopping) return;
    if (batch.some((e) => e.type === 'persist_prepared')) failpoint('worker.after_prepare_persist');
    if (batch.some((e) => e.type === 'persist_commit')) failpoint('worker.after_commit_apply_before_ack');
    if (batch.some((e) => e.type === 'persist_abort')) failpoint('worker.after_abort_persist');
    for (const e of batch) this.dispatch(durableEvent(e));
  }

  private onTick(): void {
    this.dispatch({ type: 'tick' });
    const now = this.env.timers.now();
    if (this.registered && this.link === null && now - this.lastLinkAt > RELINK_AFTER_MS) {
      probe('node.worker_reregisters');
      this.registered = false;
      this.lastLinkAt = now;
      this.registration.start();
    }
  }

  async stop(): Promise<void> {
    if (this.stopping) return;
    // Write what is queued first (no vote goes out for it: a restart finds it prepared and asks).
    this.commits.writePending();
    this.commits.stop();
    this.stopping = true;
    this.env.timers.clearInterval(this.ticker);
    this.env.timers.clearInterval(this.pruner);
    this.registration.stop();
    this.listener?.close();
    this.link?.close('worker stopping');
    for (const l of [...this.peerIn.values(), ...this.peerOut.values()]) l.close('worker stopping');
    this.store.close();
    this.log.info('worker stopped');
  }
}
