// The change feed: committed changes to tweets, pushed to subscribers and kept for those that
// resume from a seq. Items (accounts, sessions) are private: never published.

import { assert } from './assert.ts';
import { LIMITS, type CoordinatorContext } from './coord-context.ts';
import { renderTweet } from './render.ts';
import { errorReply } from '../wire/errors.ts';
import type { Op, OpResult, Tweet } from './types.ts';

/** One line of the change feed. `seq` is the commit sequence number: it only grows, across restarts too. */
export interface ChangeEvent {
  event: 'tweet.created' | 'tweet.updated' | 'tweet.deleted';
  tweet: ReturnType<typeof renderTweet> | { id: string };
  seq: number;
}

/**
 * Invariants:
 * - feed.subscribers: at most LIMITS.subscribers connections follow the feed;
 * - feed.recent: fewer than twice LIMITS.recentEvents are kept (trimmed to LIMITS.recentEvents in
 *   one go), and none is past the last decided cseq. (Seqs are not in order: a commit whose voters
 *   applied it sooner is published before an earlier one.)
 */
export class ChangeFeed {
  private readonly ctx: CoordinatorContext;
  /** Connections following the change feed (subscribe). */
  private readonly subscribers = new Set<number>();
  /** The latest change events, for subscribers that resume from a seq (oldest first). */
  private readonly recent: ChangeEvent[] = [];

  constructor(ctx: CoordinatorContext) {
    this.ctx = ctx;
  }

  subscribe(conn: number, slot: number, since: number | null): void {
    const ctx = this.ctx;
    if (!this.subscribers.has(conn) && this.subscribers.size >= LIMITS.subscribers) {
      ctx.reply(conn, slot, errorReply('UNAVAILABLE', `this coordinator already feeds ${LIMITS.subscribers} subscribers, the most it takes`));
      return;
    }
    this.subscribers.add(conn);
    // Events after `since` that are still kept are replayed; older ones are gone (gap: re-read instead).
    const oldest = this.recent[0]?.seq ?? ctx.lastCseq + 1;
    const replay = since === null ? [] : this.recent.filter((e) => e.seq > since);
    const gap = since !== null && since < ctx.lastCseq && since < oldest - 1;
    ctx.reply(conn, slot, { status: 'OK', seq: ctx.lastCseq, replayed: replay.length, gap });
    for (const e of replay) ctx.emit({ type: 'push', conn, line: e });
  }

  /** A committed transaction's changes to tweets, to every subscriber. */
  publish(cseq: number, ops: readonly Op[], results: readonly OpResult[]): void {
    ops.forEach((op, i) => {
      const r = results[i];
      let e: ChangeEvent | null = null;
      if (op.kind === 'post' && r !== undefined && 'tweet' in r) e = { event: 'tweet.created', tweet: renderTweet(r.tweet as Tweet), seq: cseq };
      else if (op.kind === 'update' && r !== undefined && 'tweet' in r) e = { event: 'tweet.updated', tweet: renderTweet(r.tweet as Tweet), seq: cseq };
      else if (op.kind === 'delete') e = { event: 'tweet.deleted', tweet: { id: op.id }, seq: cseq };
      if (e === null) return;
      this.recent.push(e);
      // Trimmed in one go when twice over the limit: shifting one off per commit would copy 10,000 each time.
      if (this.recent.length >= 2 * LIMITS.recentEvents) this.recent.splice(0, this.recent.length - LIMITS.recentEvents);
      for (const conn of this.subscribers) this.ctx.emit({ type: 'push', conn, line: e });
    });
  }

  connClosed(conn: number): void {
    this.subscribers.delete(conn);
  }

  invariants(): void {
    assert(this.subscribers.size <= LIMITS.subscribers, () => `feed.subscribers: ${this.subscribers.size} subscribers, over the limit of ${LIMITS.subscribers}`);
    assert(this.recent.length < 2 * LIMITS.recentEvents, () => `feed.recent: ${this.recent.length} events kept, the limit is ${2 * LIMITS.recentEvents}`);
    // Only the newest is looked at, to stay cheap: run after every event, it sees each commit's events.
    const last = this.recent[this.recent.length - 1];
    if (last !== undefined) assert(last.seq > 0 && last.seq <= this.ctx.lastCseq, () => `feed.recent: event seq ${last.seq} is not a decided cseq (the last is ${this.ctx.lastCseq})`);
  }
}
