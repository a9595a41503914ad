// A write load from many persistent clients that remembers what it was told,
// so that afterwards every acknowledged write can be checked for.
//
// Each client owns its own tweet ids (posts, updates, deletes of them) and also
// hammers a few shared ids to make lock conflicts. A write's outcome is one of
// three: OK (it happened), ABORT/ERROR (it did not), or unknown (the connection
// died first, or ERROR IN_DOUBT: it may or may not have happened).

import { TweetdbClient, type ApiReply } from '../client/client.ts';

export interface LoadOptions {
  address: () => string;
  clients: number;
  /** Shared ids all clients update, to cause LOCKED. */
  hotIds?: string[];
  /** Stop after this many writes per client (or when stop() is called). */
  opsPerClient?: number;
  requestTimeoutMs?: number;
  /**
   * Hears every write's outcome as it arrives: OK, the code of an ABORT or ERROR, or UNKNOWN; when
   * it arrived and when the write was sent (ms since the epoch). For measures over time: write
   * availability, the time to the first OK after a failure.
   */
  onReply?: (outcome: string, at: number, sentAt: number, error?: string) => void;
}

interface IdState {
  /** Content, or null when deleted / never created. */
  known: string | null;
  /** Values it may have after writes whose outcome is unknown. */
  maybe: Set<string | null>;
}

export class Load {
  readonly owned = new Map<string, IdState>();
  readonly hot = new Map<string, Set<string | null>>();
  readonly codes = new Map<string, number>();
  readonly errors: string[] = [];
  acked = 0;
  unknown = 0;
  /** Writes answered ERROR IN_DOUBT: their outcome is unknown too (their connection is not). */
  inDoubt = 0;
  maxLatencyMs = 0;
  private stopped = false;
  private readonly runs: Promise<void>[] = [];

  constructor(private readonly opts: LoadOptions) {
    for (const id of opts.hotIds ?? []) this.hot.set(id, new Set());
  }

  start(): void {
    for (let i = 0; i < this.opts.clients; i++) this.runs.push(this.client(i));
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await Promise.all(this.runs);
  }

  done(): Promise<void> {
    return Promise.all(this.runs).then(() => undefined);
  }

  count(code: string): number {
    return this.codes.get(code) ?? 0;
  }

  private tally(r: ApiReply | 'UNKNOWN', sentAt: number): void {
    const k = r === 'UNKNOWN' ? 'UNKNOWN' : (r.code ?? r.status);
    this.codes.set(k, (this.codes.get(k) ?? 0) + 1);
    this.opts.onReply?.(k, Date.now(), sentAt, r === 'UNKNOWN' ? undefined : r.error);
  }

  private async client(n: number): Promise<void> {
    let c: TweetdbClient | null = null;
    const mine: string[] = [];
    let seq = 0;
    const limit = this.opts.opsPerClient ?? Number.POSITIVE_INFINITY;
    for (let op = 0; op < limit && !this.stopped; op++) {
      if (c === null) {
        try {
          c = await TweetdbClient.connect(this.opts.address(), 1_000);
        } catch {
          await new Promise((r) => setTimeout(r, 100));
          op--;
          continue;
        }
      }
      // Choose a write: a post of a new id, an update or delete of one of ours, or a hot update.
      const roll = (op * 7919 + n * 104729) % 10;
      let body: Record<string, unknown>;
      let id: string;
      let value: string | null;
      const hotIds = [...this.hot.keys()];
      if (hotIds.length > 0 && roll < 3) {
        id = hotIds[(op + n) % hotIds.length] as string;
        value = `hot ${n}.${op}`;
        body = { action: 'update', tweet: { id, content: value } };
      } else if (mine.length === 0 || roll < 6) {
        id = `c${n}-${seq++}`;
        value = `post ${n}.${op}`;
        mine.push(id);
        this.owned.set(id, { known: null, maybe: new Set() });
        body = { action: 'post', tweet: { id, username: `user${n}`, content: value } };
      } else if (roll < 9) {
        id = mine[(op * 31) % mine.length] as string;
        value = `update ${n}.${op}`;
        body = { action: 'update', tweet: { id, content: value, username: `user${n}` } };
      } else {
        id = mine[(op * 17) % mine.length] as string;
        value = null;
        body = { action: 'delete', tweet: { id, username: `user${n}` } };
      }
      const t0 = Date.now();
      let reply: ApiReply | 'UNKNOWN';
      try {
        reply = await c.request(body, this.opts.requestTimeoutMs ?? 60_000);
      } catch {
        reply = 'UNKNOWN';
        c.close();
        c = null;
      }
      this.maxLatencyMs = Math.max(this.maxLatencyMs, Date.now() - t0);
      this.tally(reply, t0);
      // IN_DOUBT: a voter could not be asked; the write happens or not once it answers (as unknown, but the connection is fine).
      const inDoubt = reply !== 'UNKNOWN' && reply.status === 'ERROR' && reply.code === 'IN_DOUBT';
      if (inDoubt) this.inDoubt++;
      // "Not now" answers: back off a little, as a real client would, rather than spin.
      if (reply !== 'UNKNOWN' && (reply.code === 'UNAVAILABLE' || reply.code === 'LOCKED')) await new Promise((r) => setTimeout(r, 20));
      if (reply !== 'UNKNOWN' && reply.status === 'ERROR' && !inDoubt) this.errors.push(`${JSON.stringify(body)} -> ${JSON.stringify(reply)}`);
      const hot = this.hot.get(id);
      if (hot !== undefined) {
        if (reply === 'UNKNOWN' || inDoubt || reply.status === 'OK') hot.add(value);
        if (reply === 'UNKNOWN') this.unknown++;
        else if (reply.status === 'OK') this.acked++;
        continue;
      }
      const s = this.owned.get(id) as IdState;
      if (reply === 'UNKNOWN' || inDoubt) {
        if (reply === 'UNKNOWN') this.unknown++;
        s.maybe.add(value);
      } else if (reply.status === 'OK') {
        this.acked++;
        s.known = value;
        s.maybe.clear();
      }
    }
    c?.close();
  }

  /** Every acknowledged write is readable: each id holds its last acknowledged value (or a possible later one). */
  async verify(address: string): Promise<string[]> {
    const problems: string[] = [];
    const c = await TweetdbClient.connect(address);
    try {
      for (const [id, s] of this.owned) {
        const r = await c.request({ action: 'get_tweet', tweet: { id } });
        const got = r.status === 'OK' ? (r.tweet as { content: string }).content : r.code === 'NOT_FOUND' ? null : `error ${r.code}`;
        if (got !== s.known && !s.maybe.has(got)) problems.push(`${id}: holds ${JSON.stringify(got)}, expected ${JSON.stringify(s.known)}${s.maybe.size ? ` or one of ${JSON.stringify([...s.maybe])}` : ''}`);
      }
      for (const [id, values] of this.hot) {
        const r = await c.request({ action: 'get_tweet', tweet: { id } });
        const got = r.status === 'OK' ? (r.tweet as { content: string }).content : null;
        if (values.size > 0 && !values.has(got)) problems.push(`hot ${id}: holds ${JSON.stringify(got)}, which no acknowledged or unknown write wrote`);
      }
    } finally {
      c.close();
    }
    return problems;
  }
}
