// Live updates: one subscription to the coordinator's change feed per web
// server, fanned out to every open page as server-sent events. A page that
// reconnects sends Last-Event-ID and gets what it missed from a short buffer;
// when that is not enough (or the feed itself had a gap) it gets `resync` and
// re-reads the timeline. While this server has lost the feed (the coordinator
// is unreachable) every page is told so (`feed` {up:false}) and closes its
// stream, so no page says "Live" about a feed that is not flowing.

import type { ServerResponse } from 'node:http';
import { FeedFollower, type FeedEvent } from '../client/pool.ts';
import { PLAIN_ACCESS, type CoordinatorAccess } from '../client/client.ts';
import { webTweet } from './tweets.ts';
import { EVENT_LIMITS } from '../wire/limits.ts';

export type EventLimits = typeof EVENT_LIMITS;

interface Sse {
  event: string;
  data: unknown;
  id: number | null;
}

/** One open stream: the page's response, its account (accountKey) and its session token. */
interface Stream {
  res: ServerResponse;
  user: string;
  session: string;
}

/** Whether a session is still live: true or false, or throws when that cannot be known now. */
export type SessionCheck = (token: string) => Promise<boolean>;

export class EventHub {
  private readonly streams = new Set<Stream>();
  private readonly byUser = new Map<string, Set<Stream>>();
  private readonly recent: (Sse & { id: number })[] = [];
  /** This hub has every event after this seq (null: not subscribed yet). */
  private coveredFrom: number | null = null;
  private readonly follower: FeedFollower;
  private readonly heartbeat: NodeJS.Timeout;
  private readonly recheck: NodeJS.Timeout;
  private rechecking = false;
  private closed = false;
  /** Whether the change feed is flowing to this server now. */
  private feedUp = false;
  /** Until then a missing feed is taken as still being set up (see FEED_STARTUP_GRACE_MS). */
  private readonly graceUntil = Date.now() + FEED_STARTUP_GRACE_MS;
  readonly limits: EventLimits;

  constructor(
    coordinator: string,
    onState: (live: boolean, why: string) => void,
    private readonly sessionAlive: SessionCheck,
    limits: Partial<EventLimits> = {},
    access: CoordinatorAccess = PLAIN_ACCESS,
  ) {
    this.limits = { ...EVENT_LIMITS, ...limits };
    this.follower = new FeedFollower(
      coordinator,
      (e) => this.onFeedEvent(e),
      (seq, gap) => {
        if (this.coveredFrom !== null && !gap) return;
        this.coveredFrom = seq;
        this.recent.length = 0;
        if (gap) this.broadcast({ event: 'resync', data: {}, id: null });
      },
      (live, why) => {
        this.feedUp = live;
        // Pages that stay open through an outage would say "Live" about nothing: tell them.
        if (!live) this.broadcast(FEED_DOWN);
        onState(live, why);
      },
      access,
    );
    this.heartbeat = setInterval(() => {
      for (const s of this.streams) this.write(s, ': keep-alive\n\n');
    }, this.limits.heartbeatMs);
    this.heartbeat.unref();
    this.recheck = setInterval(() => void this.recheckSessions(), this.limits.sessionRecheckMs);
    this.recheck.unref();
  }

  get size(): number {
    return this.streams.size;
  }

  get full(): boolean {
    return this.streams.size >= this.limits.clients;
  }

  /** Whether this account already has as many streams open as it may. */
  userFull(user: string): boolean {
    return (this.byUser.get(user)?.size ?? 0) >= this.limits.perUser;
  }

  private onFeedEvent(e: FeedEvent): void {
    const data = e.event === 'tweet.deleted' ? { id: String(e.tweet.id) } : webTweet(e.tweet as unknown as Parameters<typeof webTweet>[0]);
    const sse = { event: e.event, data, id: e.seq };
    this.recent.push(sse);
    if (this.recent.length > this.limits.recent) this.coveredFrom = (this.recent.shift() as { id: number }).id;
    this.broadcast(sse);
  }

  private broadcast(e: Sse): void {
    const text = format(e);
    for (const s of this.streams) this.write(s, text);
  }

  /** Writes to one stream, closing it if the page has left too much unread. */
  private write(s: Stream, text: string): void {
    if (s.res.writableLength > this.limits.maxBufferedBytes) {
      this.end(s, true);
      return;
    }
    s.res.write(text);
  }

  /**
   * A page's stream (headers already sent), for `user` (accountKey) signed in with `session`.
   * `lastEventId`: what it saw before it reconnected. The caller checks `full` and `userFull` first.
   */
  add(res: ServerResponse, lastEventId: number | null, user: string, session: string): void {
    const s: Stream = { res, user, session };
    this.streams.add(s);
    let mine = this.byUser.get(user);
    if (mine === undefined) this.byUser.set(user, (mine = new Set()));
    mine.add(s);
    res.on('close', () => this.forget(s));
    // Tell EventSource to wait 2 s before reconnecting, and start the stream.
    res.write('retry: 2000\n\n');
    if (!this.feedUp && Date.now() >= this.graceUntil) {
      res.write(format(FEED_DOWN));
      return;
    }
    if (lastEventId === null) return;
    if (this.coveredFrom === null || lastEventId < this.coveredFrom) {
      // What it missed is not all here (older, or from before this server followed the feed): re-read.
      res.write(format({ event: 'resync', data: {}, id: null }));
      return;
    }
    for (const e of this.recent) if (e.id > lastEventId) this.write(s, format(e));
  }

  private forget(s: Stream): void {
    this.streams.delete(s);
    const mine = this.byUser.get(s.user);
    mine?.delete(s);
    if (mine?.size === 0) this.byUser.delete(s.user);
  }

  /** Ends a stream; `destroy` also drops its connection rather than leaving it to the page. */
  private end(s: Stream, destroy: boolean): void {
    this.forget(s);
    if (destroy) s.res.destroy();
    else s.res.end();
  }

  /** The session ended (logout on this server): its streams end now. */
  endSession(session: string): number {
    let n = 0;
    for (const s of this.streams) {
      if (s.session !== session) continue;
      this.end(s, false);
      n++;
    }
    return n;
  }

  /** Ends the streams of every session of `user` (accountKey) but `keep`: its password changed or it closed. */
  endUserSessions(user: string, keep: string | null): number {
    let n = 0;
    for (const s of [...(this.byUser.get(user) ?? [])]) {
      if (s.session === keep) continue;
      this.end(s, false);
      n++;
    }
    return n;
  }

  /** Reads every open stream's session again; ends the streams of those that ended. */
  async recheckSessions(): Promise<void> {
    if (this.rechecking || this.closed) return;
    this.rechecking = true;
    try {
      const sessions = [...new Set([...this.streams].map((s) => s.session))];
      const next = async (): Promise<void> => {
        for (let t = sessions.pop(); t !== undefined && !this.closed; t = sessions.pop()) {
          let alive = true;
          try {
            alive = await this.sessionAlive(t);
          } catch {
            // unknown now (coordinator unreachable): keep the stream, ask again next time
          }
          if (!alive) this.endSession(t);
        }
      };
      await Promise.all(Array.from({ length: this.limits.recheckConcurrency }, next));
    } finally {
      this.rechecking = false;
    }
  }

  /** Stops following the feed and ends every stream at once, dropping their connections. */
  close(): void {
    this.closed = true;
    clearInterval(this.heartbeat);
    clearInterval(this.recheck);
    this.follower.stop();
    for (const s of [...this.streams]) this.end(s, true);
  }
}

/**
 * A server just started has not subscribed yet: a page that opens its stream then is not told
 * "down" for a feed that is a few milliseconds from flowing (it would only retry).
 */
const FEED_STARTUP_GRACE_MS = 2_000;

/** The change feed is not reaching this server: the page shows Offline and tries again later. */
const FEED_DOWN: Sse = { event: 'feed', data: { up: false }, id: null };

function format(e: Sse): string {
  return `${e.id !== null ? `id: ${e.id}\n` : ''}event: ${e.event}\ndata: ${JSON.stringify(e.data)}\n\n`;
}
