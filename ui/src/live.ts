// Live updates from GET /api/events (server-sent events), and the truthful
// connection state shown in the header. "Live" only while the stream is open
// and the server's own feed is flowing; otherwise "Offline" with the seconds
// until the next try. The page reconnects by itself (not EventSource's silent
// retry, which cannot say when): any error closes the stream, asks /api/me
// whether the session still stands, and opens a fresh stream after a pause
// that doubles up to MAX_BACKOFF_MS. A fresh stream has no Last-Event-ID, so
// the first page is re-read when it opens.

import { me } from './api.js';
import { asTweet, hasId, type Tweet } from './types.js';

export type LiveState = 'connecting' | 'live' | 'offline';

export interface LiveHandlers {
  created(tweet: Tweet): void;
  updated(tweet: Tweet): void;
  deleted(id: string): void;
  resync(): void;
  /** `retryIn`: whole seconds until the next try, while offline. */
  state(state: LiveState, retryIn: number | null): void;
  sessionEnded(): void;
}

const FIRST_BACKOFF_MS = 1000;
/** At most this long between tries: a cluster that comes back is seen within it. */
const MAX_BACKOFF_MS = 8000;

function parse(e: Event): unknown {
  try {
    return JSON.parse((e as MessageEvent<string>).data) as unknown;
  } catch {
    return undefined;
  }
}

export class Live {
  private es: EventSource | null = null;
  private timer: number | null = null;
  private tick: number | null = null;
  private backoff = FIRST_BACKOFF_MS;
  private resyncOnOpen = false;
  private running = false;
  private current: LiveState = 'connecting';

  constructor(private readonly on: LiveHandlers) {}

  get state(): LiveState {
    return this.current;
  }

  start(): void {
    this.running = true;
    this.backoff = FIRST_BACKOFF_MS;
    this.resyncOnOpen = false;
    this.open();
  }

  stop(): void {
    this.running = false;
    this.clearTimers();
    this.es?.close();
    this.es = null;
  }

  /** A call failed to reach the server: the stream may look open but is not worth trusting. */
  unreachable(): void {
    if (this.running && this.current === 'live' && this.es !== null) void this.lost(this.es);
  }

  private clearTimers(): void {
    if (this.timer !== null) window.clearTimeout(this.timer);
    if (this.tick !== null) window.clearInterval(this.tick);
    this.timer = null;
    this.tick = null;
  }

  private setState(state: LiveState, retryIn: number | null = null): void {
    this.current = state;
    this.on.state(state, retryIn);
  }

  private open(): void {
    this.clearTimers();
    this.es?.close();
    this.setState('connecting');
    const es = new EventSource('/api/events');
    this.es = es;

    es.addEventListener('open', () => {
      if (this.es !== es) return;
      this.backoff = FIRST_BACKOFF_MS;
      this.setState('live');
      if (this.resyncOnOpen) {
        this.resyncOnOpen = false;
        this.on.resync();
      }
    });
    // The stream dropped or was refused (server gone, 401, 503): find out why, then try again later.
    es.addEventListener('error', () => {
      if (this.es === es) void this.lost(es);
    });
    // The server is up but has lost the cluster's change feed: nothing is live.
    es.addEventListener('feed', () => {
      if (this.es === es) void this.lost(es);
    });
    es.addEventListener('tweet.created', (e) => {
      const t = asTweet(parse(e));
      if (t) this.on.created(t);
    });
    es.addEventListener('tweet.updated', (e) => {
      const t = asTweet(parse(e));
      if (t) this.on.updated(t);
    });
    es.addEventListener('tweet.deleted', (e) => {
      const d = parse(e);
      if (hasId(d)) this.on.deleted(String(d.id));
    });
    es.addEventListener('resync', () => this.on.resync());
  }

  /** Closes the stream, says Offline, checks the session, and schedules the next try with a countdown. */
  private async lost(es: EventSource): Promise<void> {
    es.close();
    if (this.es === es) this.es = null;
    this.resyncOnOpen = true;
    const wait = this.backoff;
    this.backoff = Math.min(this.backoff * 2, MAX_BACKOFF_MS);
    const at = Date.now() + wait;
    const countdown = (): void => this.setState('offline', Math.max(1, Math.ceil((at - Date.now()) / 1000)));
    this.clearTimers();
    countdown();
    this.tick = window.setInterval(countdown, 1000);
    this.timer = window.setTimeout(() => {
      this.timer = null;
      if (this.running) this.open();
    }, wait);
    try {
      const user = await me();
      if (this.running && user === null) {
        this.stop();
        this.on.sessionEnded();
      }
    } catch {
      // unreachable or failing: the scheduled try stands
    }
  }
}
