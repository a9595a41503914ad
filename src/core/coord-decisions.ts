// Commit decisions, from durable until every voter has said the commit is durable on it too:
// what a voter coming back is owed, what a prepared worker asking is told, and who is too slow.

import { assert } from './assert.ts';
import type { CoordinatorContext } from './coord-context.ts';
import { Deadlines } from './deadlines.ts';
import { probe } from './probes.ts';

/**
 * A durable commit decision, kept until every voter has acknowledged it.
 *
 * Invariants:
 * - decision.unacked: a subset of its voters, all of them members (a removed member's acks are
 *   not waited for);
 * - decision.cseq: positive and never past the last decided cseq;
 * - decision.txn: its transaction, while it is still known, is `committing`;
 * - decision.deadline: every decision has one (Infinity after a restart: every voter is unlinked
 *   then, and re-driven when it links), and only kept decisions do.
 */
export interface Decision {
  txid: string;
  cseq: number;
  voters: string[];
  unacked: Set<string>;
  at: number;
}

export class Decisions {
  private readonly ctx: CoordinatorContext;
  private readonly byTxid = new Map<string, Decision>();
  /** By txid: when voters still linked but silent about the commit being durable are cut off. */
  private readonly deadlines = new Deadlines<string>();

  constructor(ctx: CoordinatorContext, recovered: readonly Omit<Decision, 'unacked'>[]) {
    this.ctx = ctx;
    for (const d of recovered) {
      this.byTxid.set(d.txid, { ...d, unacked: new Set(d.voters.filter((v) => ctx.members.has(v))) });
      this.deadlines.set(d.txid, Number.POSITIVE_INFINITY);
    }
  }

  get(txid: string): Decision | undefined {
    return this.byTxid.get(txid);
  }

  has(txid: string): boolean {
    return this.byTxid.has(txid);
  }

  values(): IterableIterator<Decision> {
    return this.byTxid.values();
  }

  /** The decision is durable: every voter must now acknowledge it, within the lock timeout. */
  add(txid: string, cseq: number, voters: string[], now: number): void {
    // A voter removed while the decision was being logged (replaced by a new identity) owes no ack,
    // as at recovery (simulator seed 11829).
    this.byTxid.set(txid, { txid, cseq, voters, unacked: new Set(voters.filter((v) => this.ctx.members.has(v))), at: now });
    this.deadlines.set(txid, now + this.ctx.cfg.lockTimeoutMs);
  }

  /** A voter says the commit is durable on it; the decision is forgotten once every voter has. */
  acked(worker: string, txid: string): void {
    const d = this.byTxid.get(txid);
    if (d === undefined) return;
    d.unacked.delete(worker);
    this.ctx.members.sawCseq(worker, d.cseq);
    if (d.unacked.size === 0) this.forget(d);
  }

  private forget(d: Decision): void {
    this.ctx.trace.finished(d.txid);
    this.byTxid.delete(d.txid);
    this.deadlines.clear(d.txid);
    this.ctx.emit({ type: 'forget_decision', txid: d.txid });
  }

  /** A member replaced by a new identity: its acks are not waited for. `inFlight` says whether the transaction is still known. */
  memberRemoved(worker: string, inFlight: (txid: string) => boolean): void {
    for (const d of [...this.byTxid.values()]) {
      d.unacked.delete(worker);
      if (d.unacked.size === 0 && !inFlight(d.txid)) this.forget(d);
    }
  }

  /** A voter still linked and silent about a commit for a whole lock timeout is cut off, and re-driven when it links again. */
  tick(now: number): void {
    const ctx = this.ctx;
    for (const txid of this.deadlines.due(now)) {
      const d = this.byTxid.get(txid);
      if (d === undefined) continue;
      this.deadlines.set(txid, now + ctx.cfg.lockTimeoutMs);
      for (const w of [...d.unacked]) {
        if (ctx.members.isLinked(w) && !ctx.members.isResolving(w, txid)) {
          probe('coord.silent_ack_cut_off');
          ctx.members.cutOff(w, now, `did not report commit ${txid} durable within the lock timeout`);
        }
      }
    }
  }

  /** `phaseOf` names the phase of a transaction still known. */
  invariants(phaseOf: (txid: string) => string | undefined): void {
    const ctx = this.ctx;
    assert(this.deadlines.size === this.byTxid.size, () => `decision.deadline: ${this.deadlines.size} deadlines for ${this.byTxid.size} decisions`);
    for (const [txid, d] of this.byTxid) {
      assert(this.deadlines.has(txid), () => `decision.deadline: decision ${txid} has none`);
      for (const w of d.unacked) {
        assert(d.voters.includes(w) && ctx.members.has(w), () => `decision.unacked: decision ${txid} waits for an ack from ${w}, which is ${ctx.members.has(w) ? 'not one of its voters' : 'not a member'}`);
      }
      assert(d.cseq > 0 && d.cseq <= ctx.lastCseq, () => `decision.cseq: decision ${txid} has cseq ${d.cseq} (last decided ${ctx.lastCseq})`);
      const phase = phaseOf(txid);
      assert(phase === undefined || phase === 'committing', () => `decision.txn: decision ${txid} is kept and its transaction is ${phase ?? 'gone'}`);
    }
  }
}
