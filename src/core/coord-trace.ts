// Transaction traces: the time of each step of two-phase commit (prepare sent, each vote, the
// decision, each applied, each ack), as plain data, for the trace feed ({"action":"trace"}) and
// for the runtime's metrics. The times are the `now` each event was handled with: no clock here.

import { assert } from './assert.ts';
import { LIMITS, type CoordinatorContext } from './coord-context.ts';
import { errorReply } from '../wire/errors.ts';

/** One finished transaction's steps. Times are milliseconds since `at` (when prepare was sent). */
export interface TxnTrace {
  txid: string;
  outcome: 'commit' | 'abort';
  /** Why it aborted (an error code), when it did. */
  code?: string;
  voters: string[];
  /** When prepare was sent (milliseconds since the epoch). */
  at: number;
  votes: Record<string, number>;
  decision: number | null;
  applied: Record<string, number>;
  acks: Record<string, number>;
}

/** A line of the trace feed: one finished transaction, and the sampling it was picked by. */
export interface TraceLine {
  /** Like a change event's: clients tell lines outside the reply order by `event`. */
  event: 'txn.finished';
  trace: TxnTrace;
  /** 1 in this many finished transactions is sent (1: all of them). */
  sampled_1_in: number;
}

const WINDOW_MS = 1_000;

/**
 * Invariants:
 * - trace.subscribers: at most LIMITS.traceSubscribers connections follow the trace feed;
 * - trace.open: at most LIMITS.openTraces traces are being recorded.
 */
export class Tracer {
  private readonly ctx: CoordinatorContext;
  private readonly subscribers = new Set<number>();
  /** Traces of transactions not yet finished, by txid. */
  private readonly open = new Map<string, TxnTrace>();
  /** Sampling: traces finished in this window and the last, and the rate chosen from the last. */
  private windowStart = 0;
  private inWindow = 0;
  private every = 1;
  private finishedSeq = 0;
  /** Transactions not traced because LIMITS.openTraces were open (the metrics count them). */
  untraced = 0;

  constructor(ctx: CoordinatorContext) {
    this.ctx = ctx;
  }

  /** Whether anyone wants traces now: a trace subscriber, or the runtime (metrics). */
  private get wanted(): boolean {
    return this.subscribers.size > 0 || this.ctx.cfg.traceEffects === true;
  }

  subscribe(conn: number, slot: number): void {
    const ctx = this.ctx;
    if (!this.subscribers.has(conn) && this.subscribers.size >= LIMITS.traceSubscribers) {
      ctx.reply(conn, slot, errorReply('UNAVAILABLE', `this coordinator already feeds ${LIMITS.traceSubscribers} trace subscribers, the most it takes; try again later`));
      return;
    }
    this.subscribers.add(conn);
    ctx.reply(conn, slot, { status: 'OK', max_lines_per_s: LIMITS.traceLinesPerSecond });
  }

  connClosed(conn: number): void {
    this.subscribers.delete(conn);
  }

  prepareSent(txid: string, voters: readonly string[], now: number): void {
    if (!this.wanted) return;
    if (this.open.size >= LIMITS.openTraces && !this.open.has(txid)) {
      this.untraced++;
      return;
    }
    this.open.set(txid, { txid, outcome: 'commit', voters: [...voters], at: now, votes: {}, decision: null, applied: {}, acks: {} });
  }

  step(txid: string, kind: 'votes' | 'applied' | 'acks', worker: string, now: number): void {
    const t = this.open.get(txid);
    if (t !== undefined && t[kind][worker] === undefined) t[kind][worker] = now - t.at;
  }

  decided(txid: string, outcome: 'commit' | 'abort', code: string | null, now: number): void {
    const t = this.open.get(txid);
    if (t === undefined || t.decision !== null) return;
    t.outcome = outcome;
    if (code !== null) t.code = code;
    t.decision = now - t.at;
  }

  /** The transaction is over (its commit acknowledged by every voter, or its abort): its trace goes out. */
  finished(txid: string): void {
    const now = this.ctx.now;
    const t = this.open.get(txid);
    if (t === undefined) return;
    this.open.delete(txid);
    if (this.ctx.cfg.traceEffects === true) this.ctx.emit({ type: 'trace', trace: t });
    if (this.subscribers.size === 0) return;
    // Sampled when busy: the rate for this second comes from the last one, so that about
    // LIMITS.traceLinesPerSecond lines a second go out, each saying the rate it was picked by.
    if (now - this.windowStart >= WINDOW_MS) {
      const perSecond = now - this.windowStart < 2 * WINDOW_MS ? this.inWindow : 0;
      this.every = Math.max(1, Math.ceil(perSecond / LIMITS.traceLinesPerSecond));
      this.windowStart = now;
      this.inWindow = 0;
    }
    this.inWindow++;
    if (this.finishedSeq++ % this.every !== 0) return;
    const line: TraceLine = { event: 'txn.finished', trace: t, sampled_1_in: this.every };
    for (const conn of this.subscribers) this.ctx.emit({ type: 'push_trace', conn, line });
  }

  invariants(): void {
    assert(this.subscribers.size <= LIMITS.traceSubscribers, () => `trace.subscribers: ${this.subscribers.size} trace subscribers, over the limit of ${LIMITS.traceSubscribers}`);
    assert(this.open.size <= LIMITS.openTraces, () => `trace.open: ${this.open.size} traces open, over the limit of ${LIMITS.openTraces}`);
  }
}
