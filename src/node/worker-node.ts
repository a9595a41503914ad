// The worker process: listens for its coordinator's link, keeps registering
// with the coordinator until it answers, stores its copy in SQLite, and drives
// the pure WorkerCore. Reads are served straight from committed data.
//
// Connections to its port are of two kinds, told apart by the role the dialler
// proves in the authentication handshake (src/node/link-auth.ts): the
// coordinator's link, or another worker asking for an outcome (cooperative
// termination). Nothing else is read from a connection before that proof.

import type { Server, Socket } from 'node:net';
import { WorkerCore, durableKind, type PersistEffect, type WorkerEffect, type WorkerEvent } from '../core/worker.ts';
import type { PeerQuery, ReadQuery, ToWorker } from '../core/types.ts';
import { parseAddress } from '../wire/validate.ts';
import { parsePeerAnswer, parsePeerQuery, parseToWorker } from '../wire/node-messages.ts';
import { failpoint, isArmed } from './failpoints.ts';
import { GroupCommit } from './group-commit.ts';
import { answerRead, applyInstall } from './worker-service.ts';
import { WorkerStore } from '../storage/worker-store.ts';
import { JsonLink } from './json-link.ts';
import { TweetdbClient } from '../client/client.ts';
import { createLogger, type Logger } from './log.ts';
import { authenticateIncoming, authenticateOutgoing, linkProof, newNonce, proofMatches, isNonce } from './link-auth.ts';
import { checkProtectedMode } from './cluster-key.ts';
import { channelBinding } from './link-auth.ts';
import { createNodeServer, dial, type TlsConfig } from './transport.ts';

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
}

const TICK_MS = 50;
const REGISTER_MIN_MS = 200;
const REGISTER_MAX_MS = 5_000;
/** With no link from the coordinator for this long, register again (it may have lost track of us). */
const RELINK_AFTER_MS = 5_000;
const PRUNE_EVERY_MS = 3_600_000;
/** Until the coordinator says otherwise (in its hello), the lock timeout a worker assumes. */
const DEFAULT_LOCK_TIMEOUT_MS = 10_000;
/** Links to other workers, opened when a question is to be asked. */
const MAX_PEER_LINKS = 64;
const PEER_CONNECT_TIMEOUT_MS = 2_000;


export class WorkerNode {
  private readonly opts: WorkerOptions;
  readonly log: Logger;
  private readonly store: WorkerStore;
  private readonly core: WorkerCore;
  private readonly server: Server;
  private link: JsonLink | null = null;
  /** Connections from other workers, by route id, for the answers they are owed. */
  private readonly peerIn = new Map<string, JsonLink>();
  private nextPeerIn = 1;
  /** Connections to other workers, by address. */
  private readonly peerOut = new Map<string, JsonLink>();
  private readonly dialing = new Set<string>();
  private readonly commits: GroupCommit<PersistEffect>;
  private ticker: NodeJS.Timeout | null = null;
  private pruner: NodeJS.Timeout | null = null;
  private registerTimer: NodeJS.Timeout | null = null;
  private registerBackoff = REGISTER_MIN_MS;
  private registered = false;
  private lastLinkAt = 0;
  private stopping = false;
  address = '';

  constructor(opts: WorkerOptions) {
    this.opts = opts;
    this.log = opts.logger ?? createLogger('worker');
    checkProtectedMode(opts.host, opts.clusterKey, 'worker');
    this.store = new WorkerStore(opts.dataDir);
    const recovered = this.store.recover();
    this.store.pruneOutcomes(Date.now());
    this.core = new WorkerCore(this.store, recovered, DEFAULT_LOCK_TIMEOUT_MS, Date.now());
    this.log.info({ node_id: recovered.node_id, prepared: recovered.prepared.length, max_cseq: recovered.max_cseq }, 'worker state recovered');
    // Only nodes connect here: over TLS each must show a certificate from the cluster's CA.
    this.server = createNodeServer(opts.tls, true, {}, (s) => this.onConnection(s));
    this.commits = new GroupCommit<PersistEffect>(
      (batch) => this.write(batch),
      () => this.store.wal.sync(),
      (batch) => this.onDurable(batch),
      (e) => {
        this.log.fatal({ err: e }, 'local storage failed; exiting');
        process.exit(74);
      },
      (batch) => this.onWritten(batch),
    );
  }

  get nodeId(): string {
    return this.core.nodeId;
  }

  get advertised(): string {
    return this.opts.advertise ?? this.address;
  }

  async start(): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.opts.port, this.opts.host, () => resolve());
    });
    const a = this.server.address();
    if (a !== null && typeof a === 'object') this.address = `${a.address}:${a.port}`;
    this.ticker = setInterval(() => this.onTick(), TICK_MS);
    this.pruner = setInterval(() => this.store.pruneOutcomes(Date.now()), PRUNE_EVERY_MS);
    this.log.info({ address: this.address, advertise: this.advertised, node_id: this.nodeId }, `worker ${this.nodeId} listening on ${this.address}`);
    this.register();
  }

  /** Keeps telling the coordinator where we are until it answers OK. */
  private register(): void {
    if (this.stopping || this.registerTimer !== null) return;
    const attempt = async (): Promise<void> => {
      this.registerTimer = null;
      if (this.stopping) return;
      try {
        const c = await TweetdbClient.connect(this.opts.coordinator, 2_000, this.opts.tls);
        try {
          await this.proveKey(c);
          const r = await c.request({ action: 'register', worker: { id: this.nodeId, address: this.advertised } }, 5_000);
          if (r.status !== 'OK') throw new Error(`${r.code}: ${r.error}`);
          this.registered = true;
          this.registerBackoff = REGISTER_MIN_MS;
          this.log.info({ coordinator: this.opts.coordinator }, 'registered with the coordinator');
          return;
        } finally {
          c.close();
        }
      } catch (e) {
        this.log.warn({ coordinator: this.opts.coordinator, err: (e as Error).message }, 'could not register with the coordinator; retrying');
      }
      if (this.stopping) return;
      this.registerTimer = setTimeout(() => void attempt(), this.registerBackoff);
      this.registerBackoff = Math.min(this.registerBackoff * 2, REGISTER_MAX_MS);
    };
    this.registerTimer = setTimeout(() => void attempt(), 0);
  }

  /**
   * The node handshake on the coordinator's client port (see CoordinatorNode.onNodeHandshake):
   * the coordinator proves the key first, then we do; only then may we register.
   */
  private async proveKey(c: TweetdbClient): Promise<void> {
    const ours = newNonce();
    const hello = await c.request({ action: 'node_hello', role: 'worker', nonce: ours }, 5_000);
    if (hello.status !== 'OK') throw new Error(`${hello.code}: ${hello.error}`);
    const binding = channelBinding(c.connection);
    if (!isNonce(hello.nonce) || !proofMatches(hello.proof, linkProof(this.opts.clusterKey, 'responder', 'worker', ours, hello.nonce, binding))) {
      throw new Error(`the coordinator at ${this.opts.coordinator} does not hold this cluster's key; check --cluster-key-file on both`);
    }
    const done = await c.request({ action: 'node_proof', proof: linkProof(this.opts.clusterKey, 'initiator', 'worker', ours, hello.nonce, binding) }, 5_000);
    if (done.status !== 'OK') throw new Error(`${done.code}: ${done.error}`);
  }

  /** A new connection is the coordinator's or a peer's: the role it proves in the handshake says which. */
  private onConnection(s: Socket): void {
    if (this.stopping) {
      s.destroy();
      return;
    }
    authenticateIncoming(
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
        this.adoptCoordinatorLink(link);
        return {
          onMessage: (m) => {
            const p = parseToWorker(m);
            if (!p.ok) return this.badMessage(link, 'the coordinator', p.error);
            this.onMessage(link, p.msg);
          },
          onClose: (why) => {
            this.logClose('the coordinator', why);
            if (this.link === link) {
              this.link = null;
              this.lastLinkAt = Date.now();
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

  private adoptCoordinatorLink(link: JsonLink): void {
    // One coordinator link at a time: a new one replaces the old (the coordinator reconnected).
    if (this.link !== null) {
      const old = this.link;
      this.link = null;
      old.close('replaced by a new coordinator link');
      this.dispatch({ type: 'link_down' });
    }
    this.link = link;
    this.lastLinkAt = Date.now();
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
    const s = dial(addr.host, addr.port, this.opts.tls, () => {
      clearTimeout(timer);
      this.dialing.delete(address);
      if (this.stopping) {
        s.destroy();
        return;
      }
      authenticateOutgoing(
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
    const timer = setTimeout(() => s.destroy(), PEER_CONNECT_TIMEOUT_MS);
    s.once('error', () => undefined);
    s.once('close', () => {
      clearTimeout(timer);
      this.dialing.delete(address);
    });
  }

  private onMessage(link: JsonLink, msg: ToWorker): void {
    if (link !== this.link) return;
    switch (msg.type) {
      case 'read':
        this.serveRead(link, msg.rid, msg.query, msg.reply_text === true);
        return;
      case 'install':
        this.install(link, msg);
        return;
      default:
        this.dispatch({ type: 'message', msg });
    }
  }

  private serveRead(link: JsonLink, rid: number, q: ReadQuery, replyText: boolean): void {
    const reply = answerRead(this.store, this.core, rid, q, replyText);
    if (reply.type === 'read_failed') this.log.error({ rid, err: reply.error }, 'read failed');
    if (reply.type === 'read_text') link.sendText(rid, reply.text);
    else link.send(reply);
  }

  private install(link: JsonLink, msg: Extract<ToWorker, { type: 'install' }>): void {
    const reply = applyInstall(this.store, this.core, msg);
    if (reply === null) {
      // Refuse rather than overwrite data under an open transaction; the coordinator starts over.
      this.log.error('copy refused: transactions are open on this worker');
      link.close('copy refused');
      return;
    }
    // The page (and, with the last one, the commit sequence number it brings) must be durable before it is acknowledged.
    this.store.wal.sync().then(
      () => {
        if (msg.done) this.log.info({ max_cseq: msg.max_cseq }, 'copy from another worker complete');
        link.send(reply);
      },
      (e: unknown) => {
        this.log.fatal({ err: e }, 'local storage failed; exiting');
        process.exit(74);
      },
    );
  }

  private dispatch(event: WorkerEvent): void {
    let effects: WorkerEffect[];
    try {
      effects = this.core.handle(event, Date.now());
    } catch (e) {
      this.log.fatal({ err: e, event: event.type }, 'worker invariant violated; exiting');
      process.exit(70);
    }
    for (const e of effects) {
      switch (e.type) {
        case 'send':
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
        default:
          break;
      }
      this.commits.add(e);
    }
  }

  /** Group commit (src/node/group-commit.ts): one transaction for every protocol step of a turn. */
  private write(batch: PersistEffect[]): void {
    if (batch.some((e) => e.type === 'persist_prepared')) failpoint('worker.before_prepare_persist');
    if (batch.some((e) => e.type === 'persist_commit')) failpoint('worker.before_commit_apply');
    this.store.persist(batch, Date.now());
  }

  /** The batch is written, its fsync under way: commits are visible to reads, and the coordinator may answer its clients. */
  private onWritten(batch: PersistEffect[]): void {
    if (this.stopping) return;
    for (const e of batch) if (e.type === 'persist_commit') this.dispatch({ type: 'applied', txid: e.txid });
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
    for (const e of batch) this.dispatch({ type: 'durable', txid: e.txid, what: durableKind(e) });
  }

  private onTick(): void {
    this.dispatch({ type: 'tick' });
    if (this.registered && this.link === null && Date.now() - this.lastLinkAt > RELINK_AFTER_MS) {
      this.registered = false;
      this.lastLinkAt = Date.now();
      this.register();
    }
  }

  async stop(): Promise<void> {
    if (this.stopping) return;
    // Write what is queued first (no vote goes out for it: a restart finds it prepared and asks).
    this.commits.writePending();
    this.commits.stop();
    this.stopping = true;
    if (this.ticker !== null) clearInterval(this.ticker);
    if (this.pruner !== null) clearInterval(this.pruner);
    if (this.registerTimer !== null) clearTimeout(this.registerTimer);
    this.server.close();
    this.link?.close('worker stopping');
    for (const l of [...this.peerIn.values(), ...this.peerOut.values()]) l.close('worker stopping');
    this.store.close();
    this.log.info('worker stopped');
  }
}
