// What a worker answers outside the protocol: reads from its committed data,
// and pages of a full copy from another worker. Shared by the worker process
// and the simulator, so both answer exactly alike.

import type { WorkerCore } from '../core/worker.ts';
import type { FromWorker, ReadQuery, ToWorker } from '../wire/protocol.ts';
import type { WorkerStore } from '../storage/worker-store.ts';
import { restartCount } from './supervised.ts';

export function answerRead(store: WorkerStore, core: WorkerCore, rid: number, q: ReadQuery, replyText = false): FromWorker {
  let result: unknown;
  try {
    if (replyText && q.kind === 'get_tweets') return { type: 'read_text', rid, text: store.tweetsReplyText(q.limit, q.before, q.username) };
    switch (q.kind) {
      case 'get_tweets':
        result = { tweets: store.getTweets(q.limit, q.before, q.username) };
        break;
      case 'get_tweet':
        result = { tweet: store.getTweet(q.id) };
        break;
      case 'get_item':
        result = { item: store.getItem(q.item_kind, q.key) };
        break;
      case 'check':
        result = { ...store.check(), prepared: core.preparedTxids().length, locks: core.lockCount, max_cseq: core.appliedCseq, fsyncs: store.wal.count, fsync_ms: Math.round(store.wal.totalMs), resolved_by_peers: core.resolvedByPeers, restarts: restartCount() };
        break;
      case 'snapshot':
        result = { rows: store.snapshot(q.after, q.limit) };
        break;
    }
  } catch (e) {
    return { type: 'read_failed', rid, error: (e as Error).message };
  }
  return { type: 'read_result', rid, result };
}

/** Installs a page of a full copy; null when refused (transactions are open: the data must not change under them). */
export function applyInstall(store: WorkerStore, core: WorkerCore, msg: Extract<ToWorker, { type: 'install' }>): FromWorker | null {
  if (core.txnCount > 0) return null;
  store.install(msg.rows, msg.reset, msg.done, msg.max_cseq);
  if (msg.done) core.installed(msg.max_cseq);
  return { type: 'installed', rid: msg.rid, done: msg.done };
}
