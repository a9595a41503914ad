// The coordinator process: the client TCP API, links to every worker, the
// decision log, and a clock; all of them drive the pure CoordinatorCore.

import { createServer, connect, type Server, type Socket } from 'node:net';
import { randomBytes } from 'node:crypto';
import { CoordinatorCore, type CoordinatorEffect, type CoordinatorEvent } from '../core/coordinator.ts';
import type { FromWorker, Reply } from '../core/types.ts';
import { CoordinatorStore, type CoordinatorWrite } from '../storage/coordinator-store.ts';
import { validateRequest, parseAddress } from '../wire/validate.ts';
import { ClientConnection } from './client-conn.ts';
import { JsonLink } from './json-link.ts';
import { createLogger, type Logger } from './log.ts';
import { failpoint, isArmed } from './failpoints.ts';
import { GroupCommit } from './group-commit.ts';
import { restartCount } from './supervised.ts';

export interface CoordinatorOptions {
  host: string;
  port: number;
  dataDir: string;
  lockTimeoutMs: number;
  logger?: Logger;
}

const TICK_MS = 50;
const RECONNECT_MIN_MS = 100;
const RECONNECT_MAX_MS = 2_000;
const CONNECT_TIMEOUT_MS = 2_000;
/** Open client connections at most; one more is refused. */
export const MAX_CLIENT_CONNECTIONS = 10_000;

/** A persistent connection to one worker, re-opened with backoff whenever it drops. */
class WorkerLink {
  link: JsonLink | null = null;
  private backoff = RECONNECT_MIN_MS;
  private timer: NodeJS.Timeout | null = null;
  private stopped = false;
  private attempt: Socket | null = null;

  constructor(
    readonly worker: string,
    readonly address: string,
    private readonly onUp: () => void,
    private readonly onMessage: (msg: FromWorker) => void,
    private readonly onDown: () => void,
  ) {
    this.dial();
  }

  private dial(): void {
    if (this.stopped) return;
    const addr = parseAddress(this.address);
    if (addr === null) return;
    const s = connect({ host: addr.host, port: addr.port });
    this.attempt = s;
    const timer = setTimeout(() => s.destroy(), CONNECT_TIMEOUT_MS);
    s.once('connect', () => {
      clearTimeout(timer);
      this.attempt = null;
      if (this.stopped) {
        s.destroy();
        return;
      }
      this.backoff = RECONNECT_MIN_MS;
      this.link = new JsonLink(
        s,
        (m) => this.onMessage(m as unknown as FromWorker),
        () => {
          this.link = null;
          if (!this.stopped) {
            this.onDown();
            this.retry();
          }
        },
        // A text frame is a read answered as the client's reply line, tagged with its read id.
        (rid, text) => this.onMessage({ type: 'read_text', rid, text }),
      );
      this.onUp();
    });
    s.once('error', () => undefined);
    s.once('close', () => {
      clearTimeout(timer);
      if (this.attempt === s) {
        this.attempt = null;
        this.retry();
      }
    });
  }

  private retry(): void {
    if (this.stopped || this.timer !== null) return;
    this.timer = setTimeout(() => {
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

  stop(): void {
    this.stopped = true;
    if (this.timer !== null) clearTimeout(this.timer);
    this.attempt?.destroy();
    this.link?.close('unlinked');
    this.link = null;
  }
}

export class CoordinatorNode {
  private readonly opts: CoordinatorOptions;
  readonly log: Logger;
  private readonly store: CoordinatorStore;
  private readonly core: CoordinatorCore;
  private readonly server: Server;
  private readonly conns = new Map<number, ClientConnection>();
  private readonly links = new Map<string, WorkerLink>();
  private nextConn = 1;
  private readonly commits: GroupCommit<CoordinatorWrite>;
  private ticker: NodeJS.Timeout | null = null;
  private stopping = false;
  address = '';

  constructor(opts: CoordinatorOptions) {
    this.opts = opts;
    this.log = opts.logger ?? createLogger('coordinator');
    this.store = new CoordinatorStore(opts.dataDir);
    const recovered = this.store.recover();
    const restarts = restartCount();
    this.core = new CoordinatorCore(
      { lockTimeoutMs: opts.lockTimeoutMs, copyPageRows: 2_000, ioStats: () => ({ log_fsyncs: this.store.wal.count, log_fsync_ms: Math.round(this.store.wal.totalMs), restarts }) },
      recovered,
    );
    this.log.info({ epoch: recovered.epoch, workers: recovered.members.length, pending_decisions: recovered.decisions.length }, 'coordinator state recovered');
    this.server = createServer({ allowHalfOpen: true }, (s) => this.onClient(s));
    this.commits = new GroupCommit<CoordinatorWrite>(
      (batch) => this.store.persist(batch),
      () => this.store.wal.sync(),
      (batch) => this.onDurable(batch),
      (e) => {
        this.log.fatal({ err: e }, 'the decision log could not be written; exiting (outcomes in flight are unknown)');
        process.exit(74);
      },
    );
    this.server.maxConnections = MAX_CLIENT_CONNECTIONS;
  }

  async start(): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.opts.port, this.opts.host, () => resolve());
    });
    const a = this.server.address();
    if (a !== null && typeof a === 'object') this.address = `${a.address}:${a.port}`;
    this.run(this.core.start());
    this.ticker = setInterval(() => this.dispatch({ type: 'tick' }), TICK_MS);
    this.log.info({ address: this.address, lock_timeout_s: this.opts.lockTimeoutMs / 1000 }, `coordinator listening on ${this.address}`);
  }

  private onClient(s: Socket): void {
    if (this.stopping) {
      s.destroy();
      return;
    }
    const id = this.nextConn++;
    const conn = new ClientConnection(id, s, {
      onRequest: (c, slot, body) => {
        const v = validateRequest(body);
        if (!v.ok) {
          c.deliver(slot, { status: 'ERROR', code: 'INVALID', error: v.error });
          return;
        }
        this.dispatch({ type: 'request', conn: c.id, slot, request: v.request });
      },
      onClose: (c) => {
        this.conns.delete(c.id);
        this.dispatch({ type: 'conn_closed', conn: c.id });
      },
    });
    this.conns.set(id, conn);
  }

  private dispatch(event: CoordinatorEvent): void {
    let effects: CoordinatorEffect[];
    try {
      effects = this.core.handle(event, Date.now());
    } catch (e) {
      // An invariant broke: better to stop than to risk diverging copies. Replies in flight are "unknown".
      const trace = randomBytes(6).toString('hex');
      this.log.fatal({ err: e, trace, event: event.type }, 'coordinator invariant violated; exiting');
      process.exit(70);
    }
    this.run(effects);
  }

  private run(effects: readonly CoordinatorEffect[]): void {
    for (const e of effects) {
      switch (e.type) {
        case 'reply':
          this.conns.get(e.conn)?.deliver(e.slot, e.reply as Reply);
          break;
        case 'reply_text':
          this.conns.get(e.conn)?.deliverText(e.slot, e.text);
          break;
        case 'push':
          this.conns.get(e.conn)?.push(e.line);
          break;
        case 'send': {
          const link = this.links.get(e.worker);
          link?.send(e.msg);
          const point = e.msg.type === 'prepare' ? 'coordinator.after_first_prepare_send' : e.msg.type === 'commit' ? 'coordinator.after_first_commit_send' : null;
          if (point !== null && isArmed(point)) {
            link?.flush();
            failpoint(point);
          }
          break;
        }
        case 'log_commit':
          failpoint('coordinator.after_votes_before_log');
          this.commits.add(e);
          break;
        case 'forget_decision':
          // Forgetting late is harmless (a re-sent decision is acknowledged again): no fsync waits for it.
          this.commits.add(e, false);
          break;
        case 'save_member':
        case 'remove_member':
          this.commits.add(e);
          break;
        case 'link': {
          this.links.get(e.worker)?.stop();
          const worker = e.worker;
          const l = new WorkerLink(
            worker,
            e.address,
            () => this.dispatch({ type: 'link_up', worker }),
            (msg) => this.dispatch({ type: 'worker_message', worker, msg }),
            () => this.dispatch({ type: 'link_down', worker }),
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
  private onDurable(writes: CoordinatorWrite[]): void {
    if (this.stopping) return;
    if (writes.some((w) => w.type === 'log_commit')) failpoint('coordinator.after_log_before_commit_send');
    for (const w of writes) if (w.type === 'log_commit') this.dispatch({ type: 'logged', txid: w.txid });
  }

  async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    if (this.ticker !== null) clearInterval(this.ticker);
    this.server.close();
    for (const c of this.conns.values()) c.destroy();
    for (const l of this.links.values()) l.stop();
    // Written but not confirmed: a restart re-sends what is logged; nothing was told before its fsync.
    this.commits.writePending();
    this.commits.stop();
    this.store.close();
    this.log.info('coordinator stopped');
  }
}
