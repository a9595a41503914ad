// A pool of connections to the coordinator, for servers that make many
// requests at once (the web app). The coordinator runs the requests of one
// connection one after another, so the pool's size is how many can run at once.
// Connections open on first use and are replaced when they die; every request
// has a timeout. A write whose connection dies before the reply has an unknown
// outcome: the caller gets ConnectionLost and must say so (or retry it
// idempotently), never report success.

import { ConnectionLost, PLAIN_ACCESS, TweetdbClient, type ApiReply, type CoordinatorAccess } from './client.ts';

export interface PoolOptions {
  /** Connections at most (default 16). */
  size?: number;
  connectTimeoutMs?: number;
  /** Per request (default 15 s: longer than the default lock timeout, so a write is answered first). */
  requestTimeoutMs?: number;
  /** Requests waiting for a connection at most; one more is refused at once (default 10,000). */
  maxQueued?: number;
  /** TLS and a client token, when the coordinator wants them. */
  access?: CoordinatorAccess;
}

interface Slot {
  client: TweetdbClient | null;
  connecting: Promise<TweetdbClient> | null;
  inFlight: number;
}

export class CoordinatorPool {
  readonly address: string;
  private readonly slots: Slot[];
  private readonly connectTimeoutMs: number;
  private readonly requestTimeoutMs: number;
  private readonly maxQueued: number;
  private queued = 0;
  private closed = false;

  constructor(address: string, opts: PoolOptions = {}) {
    this.address = address;
    const size = opts.size ?? 16;
    if (!Number.isInteger(size) || size < 1 || size > 1024) throw new RangeError(`pool size must be 1 to 1024, got ${size}`);
    this.slots = Array.from({ length: size }, () => ({ client: null, connecting: null, inFlight: 0 }));
    this.connectTimeoutMs = opts.connectTimeoutMs ?? 2_000;
    this.requestTimeoutMs = opts.requestTimeoutMs ?? 15_000;
    this.maxQueued = opts.maxQueued ?? 10_000;
    this.access = opts.access ?? PLAIN_ACCESS;
  }

  private readonly access: CoordinatorAccess;

  /**
   * One request on the least busy connection. Rejects with ConnectionLost when no connection
   * could be made or it died before the reply (for a write: outcome unknown).
   */
  async request(body: Record<string, unknown>, timeoutMs = this.requestTimeoutMs): Promise<ApiReply> {
    if (this.closed) throw new ConnectionLost('the coordinator pool is closed');
    if (this.queued >= this.maxQueued) throw new ConnectionLost(`more than ${this.maxQueued} requests are waiting for the coordinator`);
    const slot = this.slots.reduce((a, b) => (b.inFlight < a.inFlight ? b : a));
    slot.inFlight++;
    this.queued++;
    try {
      const client = await this.connectionOf(slot);
      try {
        return await client.request(body, timeoutMs);
      } catch (e) {
        if (slot.client === client) slot.client = null; // dead or out of step: the next request dials again
        client.close();
        throw e;
      }
    } finally {
      slot.inFlight--;
      this.queued--;
    }
  }

  private connectionOf(slot: Slot): Promise<TweetdbClient> {
    if (slot.client !== null && !slot.client.isClosed) return Promise.resolve(slot.client);
    slot.connecting ??= TweetdbClient.connect(this.address, this.connectTimeoutMs, this.access.tls, this.access.token).then(
      (c) => {
        slot.connecting = null;
        if (this.closed) {
          c.close();
          throw new ConnectionLost('the coordinator pool is closed');
        }
        slot.client = c;
        return c;
      },
      (e: unknown) => {
        slot.connecting = null;
        throw e;
      },
    );
    return slot.connecting;
  }

  close(): void {
    this.closed = true;
    for (const s of this.slots) {
      s.client?.close();
      s.client = null;
    }
  }
}

export interface FeedEvent {
  event: 'tweet.created' | 'tweet.updated' | 'tweet.deleted';
  tweet: Record<string, unknown>;
  seq: number;
}

/**
 * Follows the coordinator's change feed on its own connection, for ever: when the
 * connection dies it reconnects (backing off to 5 s) and resumes after the last
 * seq it saw. `onSubscribed(seq, gap)` follows every subscription: `seq` is the
 * coordinator's latest, and `gap` says events were missed that the coordinator no
 * longer has, so the follower's readers must re-read instead.
 */
export class FeedFollower {
  private client: TweetdbClient | null = null;
  private lastSeq: number | null = null;
  private backoffMs = 100;
  private timer: NodeJS.Timeout | null = null;
  private stopped = false;
  /** Connected and subscribed. */
  live = false;

  constructor(
    private readonly address: string,
    private readonly onEvent: (e: FeedEvent) => void,
    private readonly onSubscribed: (seq: number, gap: boolean) => void,
    private readonly onState: (live: boolean, why: string) => void = () => undefined,
    private readonly access: CoordinatorAccess = PLAIN_ACCESS,
  ) {
    void this.connect();
  }

  private async connect(): Promise<void> {
    if (this.stopped) return;
    try {
      const c = await TweetdbClient.connect(this.address, 2_000, this.access.tls, this.access.token);
      if (this.stopped) {
        c.close();
        return;
      }
      this.client = c;
      c.onEvent = (msg) => {
        const e = msg as unknown as FeedEvent;
        if (typeof e.seq !== 'number') return;
        if (this.lastSeq !== null && e.seq <= this.lastSeq) return; // replayed twice
        this.lastSeq = e.seq;
        this.onEvent(e);
      };
      c.onClose = () => this.lost('the connection to the coordinator closed');
      const since = this.lastSeq;
      const r = await c.request({ action: 'subscribe', ...(since !== null ? { since } : {}) }, 10_000);
      if (r.status !== 'OK') throw new Error(`${r.code ?? r.status}: ${r.error ?? 'subscribe refused'}`);
      const gap = since !== null && r.gap === true;
      if (since === null || gap) this.lastSeq = Math.max(this.lastSeq ?? 0, r.seq as number);
      this.onSubscribed(r.seq as number, gap);
      this.live = true;
      this.backoffMs = 100;
      this.onState(true, 'subscribed');
    } catch (e) {
      this.lost((e as Error).message);
    }
  }

  private lost(why: string): void {
    if (this.stopped) return;
    const wasLive = this.live;
    this.live = false;
    this.client?.close();
    this.client = null;
    if (wasLive) this.onState(false, why);
    if (this.timer !== null) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      void this.connect();
    }, this.backoffMs);
    this.backoffMs = Math.min(this.backoffMs * 2, 5_000);
  }

  stop(): void {
    this.stopped = true;
    if (this.timer !== null) clearTimeout(this.timer);
    this.client?.close();
  }
}
