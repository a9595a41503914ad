// Live updates from GET /api/events (server-sent events). The browser's
// EventSource reconnects by itself and sends Last-Event-ID, so the server can
// replay or send `resync`. When the stream is refused (401, 5xx) EventSource
// gives up; then we check the session and open a fresh stream after a pause,
// reloading the first page because a new stream starts without Last-Event-ID.

import { me } from './api.js';
import { asTweet, hasId, type Tweet } from './types.js';

export type LiveState = 'connecting' | 'live' | 'offline';

export interface LiveHandlers {
  created(tweet: Tweet): void;
  updated(tweet: Tweet): void;
  deleted(id: string): void;
  resync(): void;
  state(state: LiveState): void;
  sessionEnded(): void;
}

const MAX_BACKOFF_MS = 30_000;

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
  private backoff = 1000;
  private resyncOnOpen = false;
  private running = false;

  constructor(private readonly on: LiveHandlers) {}

  start(): void {
    this.running = true;
    this.backoff = 1000;
    this.resyncOnOpen = false;
    this.open();
  }

  stop(): void {
    this.running = false;
    if (this.timer !== null) window.clearTimeout(this.timer);
    this.timer = null;
    this.es?.close();
    this.es = null;
  }

  private open(): void {
    this.es?.close();
    this.on.state('connecting');
    const es = new EventSource('/api/events');
    this.es = es;

    es.addEventListener('open', () => {
      if (this.es !== es) return;
      this.backoff = 1000;
      this.on.state('live');
      if (this.resyncOnOpen) {
        this.resyncOnOpen = false;
        this.on.resync();
      }
    });
    es.addEventListener('error', () => {
      if (this.es !== es) return;
      if (es.readyState === EventSource.CLOSED) void this.refused(es);
      // The stream dropped (the server stopped, or the network): the browser reconnects by itself,
      // with Last-Event-ID; until then nothing is live, and the page says so. A server that comes
      // back may not know what was missed (a restarted one, or none seen yet): re-read on reopen.
      else {
        this.resyncOnOpen = true;
        this.on.state('offline');
      }
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

  /** The server refused the stream: find out why, then try again later. */
  private async refused(es: EventSource): Promise<void> {
    es.close();
    if (this.es === es) this.es = null;
    this.on.state('offline');
    try {
      const user = await me();
      if (!this.running) return;
      if (user === null) {
        this.on.sessionEnded();
        return;
      }
    } catch {
      // unreachable or failing: try again later
    }
    if (!this.running) return;
    this.resyncOnOpen = true;
    const wait = this.backoff;
    this.backoff = Math.min(this.backoff * 2, MAX_BACKOFF_MS);
    this.timer = window.setTimeout(() => {
      this.timer = null;
      if (this.running) this.open();
    }, wait);
  }
}
