// What a client's write becomes: an op fully determined by the coordinator (ids and times are
// chosen here, so every worker stores identical rows).

import type { Op, WriteRequest } from './types.ts';

export class OpMaker {
  /** The coordinator's epoch now (it rises when a coordinator takes a cluster over). */
  private readonly epoch: () => number;
  private idSeq = 0;
  private lastIdMs = 0;

  constructor(epoch: () => number) {
    this.epoch = epoch;
  }

  toOp(w: WriteRequest, now: number): Op {
    switch (w.action) {
      case 'post':
        return {
          kind: 'post',
          tweet: { id: w.tweet.id ?? this.newTweetId(now), username: w.tweet.username, content: w.tweet.content, created_at: now, updated_at: null },
        };
      case 'update':
        return { kind: 'update', id: w.tweet.id, content: w.tweet.content, username: w.tweet.username, at: now };
      case 'delete':
        return { kind: 'delete', id: w.tweet.id, username: w.tweet.username };
      case 'put_item':
        return { kind: 'put_item', item: w.item, mode: w.if_absent ? 'create' : 'replace' };
      case 'delete_item':
        return { kind: 'delete_item', item_kind: w.item.kind, key: w.item.key };
      case 'incr_item':
        return { kind: 'incr_item', item_kind: w.item.kind, key: w.item.key, field: w.field, by: w.by };
    }
  }

  /** Time-ordered ids: milliseconds, then this coordinator's epoch and a counter, all in base 36. */
  private newTweetId(now: number): string {
    if (now !== this.lastIdMs) {
      this.lastIdMs = now;
      this.idSeq = 0;
    }
    this.idSeq++;
    return `${now.toString(36).padStart(9, '0')}${this.epoch().toString(36).padStart(3, '0')}${this.idSeq.toString(36).padStart(3, '0')}`;
  }
}
