// What a worker answers outside the protocol: reads from its committed data, the
// pages of a full copy it gives a joining worker, and those it installs as one.
// Shared by the worker process and the unit tests' harness, so both answer alike.

import type { WorkerCore } from '../core/worker.ts';
import type { FromWorker, ReadQuery, ToWorker } from '../wire/protocol.ts';
import type { WorkerStore } from '../storage/worker-store.ts';
import { restartCount } from './supervised.ts';

export function answerRead(store: WorkerStore, core: WorkerCore, rid: number, q: ReadQuery, replyText = false): FromWorker {
  const blocker = core.readBlockedBy(q);
  if (blocker !== null) return { type: 'read_failed', rid, error: `transaction ${blocker} touches this read and is in doubt on worker ${core.nodeId}`, in_doubt: blocker };
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
      case 'txn':
        result = { txn: core.txnKnowledge(q.txid) };
        break;
    }
  } catch (e) {
    return { type: 'read_failed', rid, error: (e as Error).message };
  }
  return { type: 'read_result', rid, result };
}

/** A page of a full copy, read here for a joining worker; read_failed, as any read, when the store cannot. */
export function answerCopy(store: WorkerStore, msg: Extract<ToWorker, { type: 'copy_read' }>): FromWorker {
  try {
    return { type: 'copy_page', rid: msg.rid, rows: store.snapshot(msg.after, msg.limit) };
  } catch (e) {
    return { type: 'read_failed', rid: msg.rid, error: (e as Error).message };
  }
}

/** Installs a page of a full copy; null when refused (transactions are open: the data must not change under them). */
export function applyInstall(store: WorkerStore, core: WorkerCore, msg: Extract<ToWorker, { type: 'install' }>): FromWorker | null {
  if (core.txnCount > 0) return null;
  if (msg.reset) core.copyStarting(msg.stream_seq);
  store.install(msg.rows, msg.reset, msg.done, msg.max_cseq);
  if (msg.done) core.installed(msg.max_cseq);
  return { type: 'installed', rid: msg.rid, done: msg.done };
}
