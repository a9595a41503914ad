// Membership: the registered workers, their links, and each one's way back to `up` after a link
// comes up (hello, the outcomes it is owed, a full copy when it is behind). Like etcd raft's
// tracker/, each member's progress is one explicit status, not a set of flags.

import { assert } from './assert.ts';
import { LIMITS, WRONG_IDENTITY_REDIAL_MS, type CoordinatorContext, type WorkerLinkState } from './coord-context.ts';
import { Deadlines } from './deadlines.ts';
import { errorReply } from '../wire/errors.ts';
import { probe } from './probes.ts';
import type { CopyRow, Failure, WorkerState } from './types.ts';

/**
 * Where a member is on its way back to `up`. Only `down` is unlinked.
 * - down: no link (never linked since start, gone, or cut off);
 * - greeting: linked, hello sent, not answered yet;
 * - resolving: answered; the outcomes it was owed (`owed`) are sent and not all acknowledged;
 * - waiting: owes nothing; waits for transactions in flight without it to end, then is up, or,
 *   when it is behind, for a copy to start (once nothing is in flight and a donor is up);
 * - copying: a full copy from `donor` runs, page by page (`rid` is the copy_read of the next page,
 *   `after` the cursor of the last row sent);
 * - up: votes on every write and serves reads.
 */
export type MemberStatus =
  | { kind: 'down' }
  | { kind: 'greeting' }
  | { kind: 'resolving'; owed: Set<string> }
  | { kind: 'waiting' }
  | { kind: 'copying'; rid: number; donor: string; after: string | null }
  | { kind: 'up' };

/**
 * A registered worker.
 *
 * Invariants:
 * - member.owed: a resolving member owes at least one outcome (the last ack moves it on);
 * - member.donor: a copying member copies from another member that is up;
 * - member.deadline: every member has a progress deadline (Infinity while it owes no answer), and
 *   only members do;
 * - member.count: at most LIMITS.maxWorkers members.
 */
export interface Member {
  readonly id: string;
  address: string;
  /** The highest commit it has: from its `state`, its commit acks, or a finished copy. */
  maxCseq: number;
  status: MemberStatus;
}

export class Membership {
  private readonly ctx: CoordinatorContext;
  private readonly members = new Map<string, Member>();
  /** By member id: a joining worker owed an answer (hello, an ack, a copy page) that gives none by then is cut off and redialled. */
  private readonly progress = new Deadlines<string>();

  constructor(ctx: CoordinatorContext, recovered: readonly { id: string; address: string }[]) {
    this.ctx = ctx;
    for (const m of recovered) this.add(m.id, m.address);
  }

  private add(id: string, address: string): void {
    this.members.set(id, { id, address, maxCseq: 0, status: { kind: 'down' } });
    this.progress.set(id, Number.POSITIVE_INFINITY);
  }

  // -------------------------------------------------------------------------
  // Questions the other parts ask

  get(id: string): Member | undefined {
    return this.members.get(id);
  }

  has(id: string): boolean {
    return this.members.has(id);
  }

  get size(): number {
    return this.members.size;
  }

  all(): IterableIterator<Member> {
    return this.members.values();
  }

  addressOf(id: string): string | undefined {
    return this.members.get(id)?.address;
  }

  isLinked(id: string): boolean {
    const m = this.members.get(id);
    return m !== undefined && m.status.kind !== 'down';
  }

  isResolving(id: string, txid: string): boolean {
    const s = this.members.get(id)?.status;
    return s !== undefined && s.kind === 'resolving' && s.owed.has(txid);
  }

  /** Linked and past hello: it can be asked for its `check`. */
  answers(m: Member): boolean {
    return m.status.kind !== 'down' && m.status.kind !== 'greeting';
  }

  upMembers(): Member[] {
    return [...this.members.values()].filter((m) => m.status.kind === 'up');
  }

  anyUp(): boolean {
    for (const m of this.members.values()) if (m.status.kind === 'up') return true;
    return false;
  }

  /** Its commit ack says it has this commit. */
  sawCseq(id: string, cseq: number): void {
    const m = this.members.get(id);
    if (m !== undefined) m.maxCseq = Math.max(m.maxCseq, cseq);
  }

  /** Every registered worker votes. Returns the voters, or why a write cannot run now. */
  votingSet(): { ok: true; voters: string[] } | { ok: false; failure: Failure } {
    if (this.members.size === 0) {
      return { ok: false, failure: { code: 'UNAVAILABLE', error: 'no worker has registered with this coordinator yet; start one with `tweetdb worker PORT`' } };
    }
    for (const m of this.members.values()) {
      if (m.status.kind !== 'up') {
        const why =
          m.status.kind === 'down'
            ? 'is unreachable'
            : m.status.kind === 'greeting'
              ? 'is connected but has not answered yet (it may be frozen, overloaded or cut off)'
              : 'is joining the cluster (catching up on data)';
        return { ok: false, failure: { code: 'UNAVAILABLE', error: `worker ${m.id} (${m.address}) ${why}; writes resume when it is up` } };
      }
    }
    return { ok: true, voters: [...this.members.keys()] };
  }

  /** The first of `voters` no longer up, as the failure of the transaction they vote on. */
  firstNotUp(voters: readonly string[]): Failure | null {
    for (const w of voters) {
      const m = this.members.get(w);
      if (m === undefined || m.status.kind !== 'up') {
        return { code: 'UNAVAILABLE', error: `worker ${w} (${m?.address ?? 'removed'}) became unreachable during the transaction` };
      }
    }
    return null;
  }

  // -------------------------------------------------------------------------
  // Registration

  /**
   * Only authenticated workers reach this (the edge checks their proof of the cluster key), and
   * still no registration may displace a member that is live: linked and answering as itself.
   * A moved worker (same identity, new address) and a wiped one (new identity at a known
   * address) are taken only once the member they replace has gone quiet.
   */
  register(conn: number, slot: number, id: string, address: string, now: number): void {
    const ctx = this.ctx;
    const existing = this.members.get(id);
    if (existing !== undefined) {
      if (existing.address !== address) {
        if (isLive(existing)) {
          ctx.reply(conn, slot, errorReply('EXISTS', `worker ${id} is live at ${existing.address}; a second process with its identity cannot register at ${address}: stop one of them (a copy of a data directory shares its identity)`));
          return;
        }
        existing.address = address;
        ctx.emit({ type: 'save_member', id, address });
        ctx.emit({ type: 'unlink', worker: id });
        ctx.emit({ type: 'link', worker: id, address });
      }
      ctx.reply(conn, slot, { status: 'OK', lock_timeout_s: ctx.lockTimeoutS, id });
      return;
    }
    // A new identity at a known address is that worker with a new data directory: it replaces the old one,
    // but never one still live there (another process, or a worker another one is posing as).
    const there = [...this.members.values()].filter((m) => m.address === address);
    const live = there.find(isLive);
    if (live !== undefined) {
      ctx.reply(conn, slot, errorReply('EXISTS', `worker ${live.id} is live at ${address}; ${id} cannot register there until it is gone (stop it, or give this worker another address with --advertise)`));
      return;
    }
    if (this.members.size - there.length >= LIMITS.maxWorkers) {
      ctx.reply(conn, slot, errorReply('INVALID', `this cluster already has ${LIMITS.maxWorkers} workers, the most it takes`));
      return;
    }
    if (there.length > 0) probe('coord.member_replaced');
    for (const old of there) this.remove(old, now);
    this.add(id, address);
    ctx.emit({ type: 'save_member', id, address });
    ctx.emit({ type: 'link', worker: id, address });
    ctx.log('info', `worker ${id} registered at ${address}`);
    ctx.reply(conn, slot, { status: 'OK', lock_timeout_s: ctx.lockTimeoutS, id });
  }

  private remove(m: Member, now: number): void {
    const ctx = this.ctx;
    this.linkDown(m.id, now);
    ctx.commit.memberRemoving(m.id);
    this.members.delete(m.id);
    this.progress.clear(m.id);
    ctx.emit({ type: 'unlink', worker: m.id });
    ctx.emit({ type: 'remove_member', id: m.id });
    ctx.log('warn', `worker ${m.id} at ${m.address} replaced by a new identity`);
    ctx.commit.memberRemoved(m.id);
  }

  // -------------------------------------------------------------------------
  // Links

  linkUp(worker: string, now: number): void {
    const m = this.members.get(worker);
    if (m === undefined) return;
    this.progress.set(worker, now + this.ctx.cfg.lockTimeoutMs);
    m.status = { kind: 'greeting' };
    this.ctx.send(worker, { type: 'hello', lock_timeout_ms: this.ctx.cfg.lockTimeoutMs });
  }

  linkDown(worker: string, now: number): void {
    const m = this.members.get(worker);
    if (m === undefined || m.status.kind === 'down') return;
    this.setDown(m);
    this.ctx.commit.workerDown(worker, m.address, now);
    this.ctx.reads.workerDown(worker, now);
    // A copy that used this worker as donor stops; the joiner starts over with another.
    for (const j of this.members.values()) if (j.status.kind === 'copying' && j.status.donor === worker) j.status = { kind: 'waiting' };
  }

  private setDown(m: Member): void {
    m.status = { kind: 'down' };
    this.progress.set(m.id, Number.POSITIVE_INFINITY);
  }

  cutOff(worker: string, now: number, why: string): void {
    const m = this.members.get(worker);
    if (m === undefined) return;
    this.ctx.log('warn', `worker ${worker} cut off: ${why}`);
    this.ctx.emit({ type: 'unlink', worker });
    this.ctx.emit({ type: 'link', worker, address: m.address });
    this.linkDown(worker, now);
  }

  /**
   * A message from a member's link: null when it is to be ignored (no such member, or a link no
   * longer trusted). A joining member that answers anything has made progress.
   */
  heard(worker: string, now: number): Member | null {
    const m = this.members.get(worker);
    if (m === undefined || m.status.kind === 'down') return null;
    if (m.status.kind !== 'up') this.progress.set(worker, now + this.ctx.cfg.lockTimeoutMs);
    return m;
  }

  // -------------------------------------------------------------------------
  // The way back to up

  /** The answer to hello. Only the first counts: a repeat (a duplicated hello) brings nothing new. */
  onState(m: Member, s: WorkerState, now: number): void {
    const ctx = this.ctx;
    if (m.status.kind !== 'greeting') return;
    if (s.node_id !== m.id) {
      // Another process answers at this address; it will register under its own identity.
      probe('coord.wrong_identity_redial');
      ctx.log('warn', `worker at ${m.address} answered as ${s.node_id}, expected ${m.id}`);
      ctx.emit({ type: 'unlink', worker: m.id });
      // Dialled again later, not at once: a loop of instant redials would flood the log and both processes.
      ctx.emit({ type: 'link', worker: m.id, address: m.address, afterMs: WRONG_IDENTITY_REDIAL_MS });
      // As any link that goes down: what waits on it (an abort or a commit sent since hello) stops waiting.
      this.linkDown(m.id, now);
      return;
    }
    m.maxCseq = s.max_cseq;
    // Re-drive every outcome it is owed: logged commits, and aborts for what nobody decided.
    const owed = ctx.commit.redrive(m.id, s.prepared);
    if (owed.length > 0) probe('coord.decision_redriven');
    m.status = owed.length > 0 ? { kind: 'resolving', owed: new Set(owed) } : { kind: 'waiting' };
    this.maybeInSync(m);
  }

  /** An outcome it was owed is durable on it. */
  onAck(m: Member, txid: string): void {
    if (m.status.kind !== 'resolving') return;
    m.status.owed.delete(txid);
    if (m.status.owed.size === 0) m.status = { kind: 'waiting' };
  }

  /** A rejoining worker is up once it owes nothing and has every commit; otherwise it copies. */
  maybeInSync(m: Member): void {
    if (m.status.kind !== 'waiting') return;
    // A transaction that started without this worker could still commit without it: wait for it.
    if (this.ctx.commit.inFlightWithout(m.id)) {
      probe('coord.waits_for_in_flight');
      return;
    }
    if (m.maxCseq >= this.ctx.lastCseq) {
      m.status = { kind: 'up' };
      this.progress.set(m.id, Number.POSITIVE_INFINITY);
      this.ctx.log('info', `worker ${m.id} (${m.address}) is up`);
    }
    // else: startCopies() starts a full copy once nothing is in flight.
  }

  /** Joiners waiting on in-flight transactions are looked at again after every event. */
  review(): void {
    for (const m of this.members.values()) this.maybeInSync(m);
    this.startCopies();
  }

  private startCopies(): void {
    const ctx = this.ctx;
    for (const m of this.members.values()) {
      if (m.status.kind !== 'waiting' || m.maxCseq >= ctx.lastCseq) continue;
      // Nothing may commit while the copy is taken: wait until every transaction is decided and applied.
      if (ctx.commit.inFlightWithout(null)) return;
      const donor = [...this.members.values()].find((d) => d.status.kind === 'up');
      if (donor === undefined) return;
      const rid = ctx.nextRid++;
      m.status = { kind: 'copying', rid, donor: donor.id, after: null };
      probe('coord.copy_started');
      ctx.log('info', `worker ${m.id} copies the data from ${donor.id}`);
      ctx.send(donor.id, { type: 'copy_read', rid, after: null, limit: ctx.cfg.copyPageRows });
    }
  }

  /** A page of a copy (copy_page), read from its donor: passed on to the member copying. A page nobody copies any more is dropped. */
  onCopyPage(donor: Member, rid: number, rows: CopyRow[]): void {
    for (const m of this.members.values()) {
      const s = m.status;
      if (s.kind !== 'copying' || s.rid !== rid || s.donor !== donor.id) continue;
      const done = rows.length < this.ctx.cfg.copyPageRows;
      const reset = s.after === null;
      s.after = rows.length > 0 ? (rows[rows.length - 1] as CopyRow).c : s.after;
      this.ctx.send(m.id, { type: 'install', rid, rows, reset, done, max_cseq: this.ctx.lastCseq });
      return;
    }
  }

  /**
   * The donor could not read a page of a copy (read_failed): said, and otherwise left to the
   * joiner's progress deadline, which cuts it off to start over. Was it a page of a copy?
   */
  onCopyFailed(donor: Member, rid: number, error: string): boolean {
    for (const m of this.members.values()) {
      const s = m.status;
      if (s.kind !== 'copying' || s.rid !== rid || s.donor !== donor.id) continue;
      this.ctx.log('warn', `worker ${donor.id} could not read a page of the copy to ${m.id}: ${error}`);
      return true;
    }
    return false;
  }

  onInstalled(m: Member, rid: number, done: boolean): void {
    const ctx = this.ctx;
    const s = m.status;
    if (s.kind !== 'copying' || s.rid !== rid) return;
    if (done) {
      probe('coord.copy_finished');
      m.status = { kind: 'waiting' };
      m.maxCseq = ctx.lastCseq;
      this.maybeInSync(m);
      return;
    }
    const donor = this.members.get(s.donor);
    if (donor === undefined || donor.status.kind !== 'up') {
      m.status = { kind: 'waiting' }; // starts over with another donor
      return;
    }
    const next = ctx.nextRid++;
    s.rid = next;
    ctx.send(donor.id, { type: 'copy_read', rid: next, after: s.after, limit: ctx.cfg.copyPageRows });
  }

  // -------------------------------------------------------------------------
  // Time

  /** A joiner owed an answer that gave none within the lock timeout is cut off. */
  tick(now: number): void {
    for (const id of this.progress.due(now)) {
      const m = this.members.get(id);
      if (m === undefined) continue;
      const owes = m.status.kind === 'greeting' || m.status.kind === 'resolving' || m.status.kind === 'copying';
      if (owes && (this.progress.get(id) ?? Number.POSITIVE_INFINITY) <= now) {
        probe('coord.rejoin_stalled_cut_off');
        this.cutOff(id, now, 'made no progress rejoining within the lock timeout');
      }
    }
  }

  // -------------------------------------------------------------------------

  invariants(): void {
    assert(this.members.size <= LIMITS.maxWorkers, () => `member.count: ${this.members.size} members, over the limit of ${LIMITS.maxWorkers}`);
    assert(this.progress.size === this.members.size, () => `member.deadline: ${this.progress.size} progress deadlines for ${this.members.size} members`);
    for (const m of this.members.values()) {
      const s = m.status;
      assert(this.progress.has(m.id), () => `member.deadline: member ${m.id} has no progress deadline`);
      if (s.kind === 'resolving') assert(s.owed.size > 0, () => `member.owed: member ${m.id} is resolving and owes nothing`);
      if (s.kind === 'copying') {
        const donor = this.members.get(s.donor);
        assert(donor !== undefined && donor.status.kind === 'up' && donor.id !== m.id, () => `member.donor: member ${m.id} copies from ${s.donor}, which is ${donor?.status.kind ?? 'not a member'}`);
      }
    }
  }
}

/** How status and check show a member. */
export function publicState(m: Member): WorkerLinkState {
  return m.status.kind === 'up' ? 'up' : m.status.kind === 'down' ? 'down' : 'joining';
}

/** A member is live while linked and answering as itself: no registration may displace it. */
function isLive(m: Member): boolean {
  return m.status.kind !== 'down' && m.status.kind !== 'greeting';
}
