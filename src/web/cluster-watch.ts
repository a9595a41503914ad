// The cluster page's live data on one web server: while at least one page follows, it asks the
// coordinator for status and check once a second (through the pool) and follows the trace feed on
// one connection of its own, and fans both out to every following page as server-sent events.
// With no page following it asks nothing and follows nothing, so the coordinator records no
// traces for it. Pages: at most CLUSTER_PAGE_LIMITS.followers, perUser each account, and each
// may leave at most maxBufferedBytes unread (then its stream is closed; the page reconnects).

import type { ServerResponse } from 'node:http';
import { PLAIN_ACCESS, TweetdbClient, type ApiReply, type CoordinatorAccess } from '../client/client.ts';
import type { CoordinatorPool } from '../client/pool.ts';
import { CLUSTER_PAGE_LIMITS, EVENT_LIMITS } from '../wire/limits.ts';
import { clusterSnapshot, type CheckRead, type ClusterSnapshot, type StatusRead } from './cluster-view.ts';
import type { SessionCheck } from './events.ts';

export type ClusterPageLimits = typeof CLUSTER_PAGE_LIMITS;

/** One finished transaction as a page gets it: the coordinator's trace and the overall sampling. */
export interface TxnLine {
  trace: Record<string, unknown>;
  /** 1 in this many finished transactions reaches the page (the coordinator's rate times this server's). */
  sampled_1_in: number;
}

/** Whether this server follows the trace feed now, and if not, why. */
export interface TraceState {
  following: boolean;
  why: string;
}

interface Follower {
  res: ServerResponse;
  user: string;
  session: string;
}

const TRACE_CONNECT_TIMEOUT_MS = 2_000;
const TRACE_BACKOFF_MS = { first: 250, max: 5_000 };

export class ClusterWatch {
  private readonly followers = new Set<Follower>();
  private readonly byUser = new Map<string, Set<Follower>>();
  /** The last few transactions sent, already formatted, for a page that opens. */
  private readonly recent: string[] = [];
  private status: StatusRead | null = null;
  private previousStatus: StatusRead | null = null;
  private check: CheckRead | null = null;
  private pollError: string | null = null;
  private latest: ClusterSnapshot | null = null;
  private statusBusy = false;
  private checkBusy = false;
  private pollTimer: NodeJS.Timeout | null = null;
  private recheckTimer: NodeJS.Timeout | null = null;
  private traceClient: TweetdbClient | null = null;
  private traceRetry: NodeJS.Timeout | null = null;
  private traceBackoffMs = TRACE_BACKOFF_MS.first;
  private traceState: TraceState = { following: false, why: 'no page follows the cluster' };
  /** This server's sampling of trace lines: arrivals this second, and 1 in `every` sent. */
  private sampleWindowStart = 0;
  private sampleArrivals = 0;
  private sampleEvery = 1;
  private sampleSeq = 0;
  private closed = false;
  readonly limits: ClusterPageLimits;
  private readonly access: CoordinatorAccess;

  constructor(
    private readonly pool: CoordinatorPool,
    access: CoordinatorAccess | undefined,
    private readonly sessionAlive: SessionCheck,
    private readonly log: (level: 'info' | 'warn', why: string, msg: string) => void,
    limits: Partial<ClusterPageLimits> = {},
  ) {
    this.limits = { ...CLUSTER_PAGE_LIMITS, ...limits };
    this.access = access ?? PLAIN_ACCESS;
  }

  get size(): number {
    return this.followers.size;
  }

  get full(): boolean {
    return this.followers.size >= this.limits.followers;
  }

  userFull(user: string): boolean {
    return (this.byUser.get(user)?.size ?? 0) >= this.limits.perUser;
  }

  get trace(): TraceState {
    return this.traceState;
  }

  /** The latest snapshot if it is fresh; otherwise one read now (for GET /api/cluster). */
  async snapshot(): Promise<ClusterSnapshot> {
    if (this.latest !== null && Date.now() - this.latest.at < 2 * this.limits.pollMs) return this.latest;
    await this.pollStatus();
    await this.pollCheck(); // after status: lag is measured against the last commit it saw
    // Built again: the status poll built one before the check came back.
    this.latest = this.build();
    return this.latest;
  }

  /** A page's stream (headers sent), for `user` (accountKey) signed in with `session`. The caller checks `full` and `userFull`. */
  add(res: ServerResponse, user: string, session: string): void {
    const f: Follower = { res, user, session };
    this.followers.add(f);
    let mine = this.byUser.get(user);
    if (mine === undefined) this.byUser.set(user, (mine = new Set()));
    mine.add(f);
    res.on('close', () => this.forget(f));
    res.write('retry: 2000\n\n');
    this.write(f, format('trace', this.traceState));
    if (this.latest !== null) this.write(f, format('snapshot', this.latest));
    for (const line of this.recent) this.write(f, line);
    if (this.followers.size === 1) this.start();
  }

  /** The session ended (logout on this server): its cluster pages end now. */
  endSession(session: string): void {
    for (const f of [...this.followers]) if (f.session === session) this.end(f, false);
  }

  close(): void {
    this.closed = true;
    for (const f of [...this.followers]) this.end(f, true);
    this.stop();
  }

  // ---------------------------------------------------------------------------

  private start(): void {
    if (this.closed || this.pollTimer !== null) return;
    this.pollTimer = setInterval(() => {
      void this.pollStatus();
      void this.pollCheck();
    }, this.limits.pollMs);
    this.pollTimer.unref();
    this.recheckTimer = setInterval(() => void this.recheckSessions(), EVENT_LIMITS.sessionRecheckMs);
    this.recheckTimer.unref();
    void this.pollStatus().then(() => this.pollCheck());
    void this.followTrace();
  }

  /** No page follows: ask nothing, follow nothing (the coordinator stops tracing for us). */
  private stop(): void {
    if (this.pollTimer !== null) clearInterval(this.pollTimer);
    if (this.recheckTimer !== null) clearInterval(this.recheckTimer);
    if (this.traceRetry !== null) clearTimeout(this.traceRetry);
    this.pollTimer = this.recheckTimer = this.traceRetry = null;
    const c = this.traceClient;
    this.traceClient = null;
    c?.close();
    this.traceBackoffMs = TRACE_BACKOFF_MS.first;
    this.recent.length = 0;
    this.setTrace({ following: false, why: 'no page follows the cluster' });
  }

  private async ask(action: 'status' | 'check'): Promise<ApiReply> {
    const r = await this.pool.request({ action }, this.limits.pollTimeoutMs);
    if (r.status !== 'OK') throw new Error(`the coordinator refused ${action}: ${r.code ?? r.status} ${r.error ?? ''}`);
    return r;
  }

  private async pollStatus(): Promise<void> {
    if (this.statusBusy) return; // a slow answer delays the next poll; polls never pile up
    this.statusBusy = true;
    try {
      const reply = await this.ask('status');
      this.previousStatus = this.status;
      this.status = { reply, at: Date.now() };
      this.pollError = null;
    } catch (e) {
      this.status = this.previousStatus = null;
      this.pollError = `the coordinator at ${this.pool.address} could not be read: ${(e as Error).message}`;
    } finally {
      this.statusBusy = false;
    }
    this.latest = this.build();
    this.broadcast(format('snapshot', this.latest));
  }

  private async pollCheck(): Promise<void> {
    if (this.checkBusy) return;
    this.checkBusy = true;
    try {
      const lastCseq = (this.status?.reply.counters as { last_cseq?: number } | undefined)?.last_cseq ?? null;
      this.check = { reply: await this.ask('check'), at: Date.now(), lastCseq };
    } catch {
      // status says why the coordinator cannot be read; the last check stays, dated by checked_at
    } finally {
      this.checkBusy = false;
    }
  }

  private build(): ClusterSnapshot {
    return clusterSnapshot(this.pool.address, Date.now(), this.status, this.previousStatus, this.check, this.pollError ?? (this.status === null ? 'not read yet' : null));
  }

  // ---------------------------------------------------------------------------
  // The trace feed: one connection, reconnected with backoff while a page follows.

  private async followTrace(): Promise<void> {
    if (this.closed || this.followers.size === 0 || this.traceClient !== null) return;
    let client: TweetdbClient | null = null;
    try {
      client = await TweetdbClient.connect(this.pool.address, TRACE_CONNECT_TIMEOUT_MS, this.access.tls, this.access.token);
      if (this.closed || this.followers.size === 0 || this.traceClient !== null) {
        client.close();
        return;
      }
      this.traceClient = client;
      const mine = client;
      client.onEvent = (msg) => this.onTraceLine(msg);
      client.onClose = (why) => {
        if (this.traceClient === mine) this.traceLost(`the trace connection closed: ${why.message}`);
      };
      const r = await client.request({ action: 'trace' }, this.limits.pollTimeoutMs);
      if (r.status !== 'OK') throw new Error(`the coordinator refused the trace feed: ${r.code ?? r.status} ${r.error ?? ''}`);
      this.traceBackoffMs = TRACE_BACKOFF_MS.first;
      this.setTrace({ following: true, why: `following the trace feed of ${this.pool.address}` });
    } catch (e) {
      if (client !== null && this.traceClient === client) this.traceLost((e as Error).message);
      else if (client === null) this.traceLost(`the coordinator at ${this.pool.address} could not be reached: ${(e as Error).message}`);
    }
  }

  private traceLost(why: string): void {
    const c = this.traceClient;
    this.traceClient = null;
    c?.close();
    if (this.closed || this.followers.size === 0) return;
    this.setTrace({ following: false, why });
    if (this.traceRetry !== null) return;
    this.traceRetry = setTimeout(() => {
      this.traceRetry = null;
      void this.followTrace();
    }, this.traceBackoffMs);
    this.traceBackoffMs = Math.min(this.traceBackoffMs * 2, TRACE_BACKOFF_MS.max);
  }

  private setTrace(s: TraceState): void {
    if (s.following === this.traceState.following && s.why === this.traceState.why) return;
    this.traceState = s;
    this.log(s.following ? 'info' : 'warn', s.why, s.following ? 'cluster page: following the trace feed' : 'cluster page: not following the trace feed');
    this.broadcast(format('trace', s));
  }

  /**
   * A finished transaction from the coordinator. Past linesPerSecond a second only 1 in N goes
   * on, N taken from the previous second's count (as the coordinator samples its own feed).
   */
  private onTraceLine(msg: ApiReply): void {
    const trace = msg.trace as Record<string, unknown> | undefined;
    if (msg.event !== 'txn.finished' || typeof trace !== 'object' || trace === null || typeof trace.txid !== 'string') return;
    const now = Date.now();
    const elapsed = now - this.sampleWindowStart;
    if (elapsed >= 1_000) {
      const lastSecond = elapsed < 2_000 ? this.sampleArrivals : 0;
      this.sampleEvery = Math.max(1, Math.ceil(lastSecond / this.limits.linesPerSecond));
      [this.sampleWindowStart, this.sampleArrivals] = [now, 0];
    }
    this.sampleArrivals++;
    if (this.sampleSeq++ % this.sampleEvery !== 0) return;
    const coordinatorRate = typeof msg.sampled_1_in === 'number' && msg.sampled_1_in >= 1 ? msg.sampled_1_in : 1;
    const line: TxnLine = { trace, sampled_1_in: coordinatorRate * this.sampleEvery };
    const text = format('txn', line);
    this.recent.push(text);
    if (this.recent.length > this.limits.recent) this.recent.shift();
    this.broadcast(text);
  }

  // ---------------------------------------------------------------------------
  // The pages

  private broadcast(text: string): void {
    for (const f of [...this.followers]) this.write(f, text);
  }

  private write(f: Follower, text: string): void {
    if (f.res.writableLength > this.limits.maxBufferedBytes) {
      this.end(f, true);
      return;
    }
    f.res.write(text);
  }

  private forget(f: Follower): void {
    if (!this.followers.delete(f)) return;
    const mine = this.byUser.get(f.user);
    mine?.delete(f);
    if (mine?.size === 0) this.byUser.delete(f.user);
    if (this.followers.size === 0) this.stop();
  }

  private end(f: Follower, destroy: boolean): void {
    this.forget(f);
    if (destroy) f.res.destroy();
    else f.res.end();
  }

  /** Ends the pages whose session ended elsewhere (another server, expiry). */
  private async recheckSessions(): Promise<void> {
    for (const session of new Set([...this.followers].map((f) => f.session))) {
      let alive = true;
      try {
        alive = await this.sessionAlive(session);
      } catch {
        // unknown now (coordinator unreachable): keep the page, ask again next time
      }
      if (!alive) this.endSession(session);
    }
  }
}

function format(event: string, data: unknown): string {
  return `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
}
