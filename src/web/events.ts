// Live updates: one subscription to the coordinator's change feed per web
// server, fanned out to every open page as server-sent events. A page that
// reconnects sends Last-Event-ID and gets what it missed from a short buffer;
// when that is not enough (or the feed itself had a gap) it gets `resync` and
// re-reads the timeline.

import type { ServerResponse } from 'node:http';
import { FeedFollower, type FeedEvent } from '../node/pool.ts';
import { webTweet } from './tweets.ts';

/** Limits: pages held open at once, events kept for reconnecting pages, and the keep-alive interval. */
export const EVENT_LIMITS = { clients: 10_000, recent: 1_000, heartbeatMs: 15_000 } as const;

interface Sse {
  event: string;
  data: unknown;
  id: number | null;
}

export class EventHub {
  private readonly clients = new Set<ServerResponse>();
  private readonly recent: (Sse & { id: number })[] = [];
  /** This hub has every event after this seq (null: not subscribed yet). */
  private coveredFrom: number | null = null;
  private readonly follower: FeedFollower;
  private readonly heartbeat: NodeJS.Timeout;

  constructor(coordinator: string, onState: (live: boolean, why: string) => void) {
    this.follower = new FeedFollower(
      coordinator,
      (e) => this.onFeedEvent(e),
      (seq, gap) => {
        if (this.coveredFrom !== null && !gap) return;
        this.coveredFrom = seq;
        this.recent.length = 0;
        if (gap) this.broadcast({ event: 'resync', data: {}, id: null });
      },
      onState,
    );
    this.heartbeat = setInterval(() => {
      for (const c of this.clients) c.write(': keep-alive\n\n');
    }, EVENT_LIMITS.heartbeatMs);
    this.heartbeat.unref();
  }

  get size(): number {
    return this.clients.size;
  }

  get full(): boolean {
    return this.clients.size >= EVENT_LIMITS.clients;
  }

  private onFeedEvent(e: FeedEvent): void {
    const data = e.event === 'tweet.deleted' ? { id: String(e.tweet.id) } : webTweet(e.tweet as unknown as Parameters<typeof webTweet>[0]);
    const sse = { event: e.event, data, id: e.seq };
    this.recent.push(sse);
    if (this.recent.length > EVENT_LIMITS.recent) this.coveredFrom = (this.recent.shift() as { id: number }).id;
    this.broadcast(sse);
  }

  private broadcast(e: Sse): void {
    const text = format(e);
    for (const c of this.clients) c.write(text);
  }

  /** A page's stream (headers already sent). `lastEventId`: what it saw before it reconnected. */
  add(res: ServerResponse, lastEventId: number | null): void {
    this.clients.add(res);
    res.on('close', () => this.clients.delete(res));
    // Tell EventSource to wait 2 s before reconnecting, and start the stream.
    res.write('retry: 2000\n\n');
    if (lastEventId === null) return;
    if (this.coveredFrom === null || lastEventId < this.coveredFrom) {
      // What it missed is not all here (older, or from before this server followed the feed): re-read.
      res.write(format({ event: 'resync', data: {}, id: null }));
      return;
    }
    for (const e of this.recent) if (e.id > lastEventId) res.write(format(e));
  }

  close(): void {
    clearInterval(this.heartbeat);
    this.follower.stop();
    for (const c of this.clients) c.end();
    this.clients.clear();
  }
}

function format(e: Sse): string {
  return `${e.id !== null ? `id: ${e.id}\n` : ''}event: ${e.event}\ndata: ${JSON.stringify(e.data)}\n\n`;
}
