// Membership: the registered workers, the configuration (who votes, numbered), and each member's
// way to `up` after its link comes up. Like etcd raft's tracker/, each member's progress is one
// explicit status, not a set of flags; like etcd's learners, a worker joins without a vote and is
// promoted by a configuration change once it has caught up.
//
// The rules (docs/ARCHITECTURE.md, section 4.4):
// - the voters are the configuration's; a new configuration is used only once it is durable, and
//   one change runs at a time;
// - a voter that is not up blocks writes until it is back or evicted (down for evictAfterMs);
//   a voter is evicted only while another voter is up: a copy needs a source that has every
//   commit, and the voter away may be the only one left that has them;
// - a member that is not a voter is a learner: it copies the data from an up voter while writes
//   go on, and receives every commit decided since the copy began (`replicate`, held back until
//   the copy is installed); near the stream's end it is promoted; it serves reads only once it has
//   applied every replicate and no transaction prepared without it is left (`up`);
// - a voter that may lack a commit (it lost its link while catching up, or came back behind) is
//   `stale`: it is evicted as soon as no other change runs, and copies again as a learner.

import { assert } from './assert.ts';
import { LIMITS, WRONG_IDENTITY_REDIAL_MS, type CoordinatorContext, type WorkerLinkState } from './coord-context.ts';
import { Deadlines } from './deadlines.ts';
import { errorReply } from '../wire/errors.ts';
import { probe } from './probes.ts';
import type { ClusterKnowledge, CopyRow, Failure, FromWorker, Op, Peer, WorkerState } from './types.ts';

/**
 * Where a member is on its way to `up`. Only `down` is unlinked.
 * - down: no link (never linked since start, gone, or cut off);
 * - greeting: linked, hello sent, not answered yet;
 * - resolving: answered; the outcomes it was owed (`owed`) are sent and not all acknowledged;
 * - waiting: owes nothing. A voter waits for transactions in flight without it, then is up; a
 *   learner waits for a donor to copy from (its copy resumes at `Member.copyAfter`);
 * - copying: a learner's copy from `donor` runs, page by page (`rid` is the copy_read of the next
 *   page, then its install; `page` the page sent to install, which moves the copy's cursor only
 *   once installed); commits decided meanwhile are held in its stream;
 * - streaming: a learner whose copy is installed applies the stream, until it is promoted;
 * - draining: a promoted voter (it votes) still applying commits streamed to it, or waiting for
 *   transactions prepared without it; it serves no read;
 * - up: votes (if a voter) and serves reads.
 */
/** A worker that refused this coordinator's hello is dialled again this long after. */
const REFUSED_REDIAL_MS = 5_000;

export type MemberStatus =
  | { kind: 'down' }
  | { kind: 'greeting' }
  | { kind: 'resolving'; owed: Set<string> }
  | { kind: 'waiting' }
  | { kind: 'copying'; rid: number; donor: string; page: { after: string | null; rows: number; bytes: number } | null }
  | { kind: 'streaming' }
  | { kind: 'draining' }
  | { kind: 'up' };

/** One commit as streamed to a learner. */
interface Replicate {
  txid: string;
  cseq: number;
  ops: Op[];
}

/**
 * The commits a member is sent because it did not vote on them (a learner, or a voter promoted
 * while transactions prepared without it were in flight), numbered on its link from 1.
 * `held` holds them while its copy runs (at most LIMITS.learnerBufferCommits).
 */
interface Stream {
  sent: number;
  applied: number;
  held: Replicate[] | null;
  /** The link's last replicate before this stream began: the learner drops any older one still to apply when the copy begins (install's stream_seq). */
  base: number;
}

/**
 * A registered worker.
 *
 * Invariants:
 * - member.owed: a resolving member owes at least one outcome (the last ack moves it on);
 * - member.donor: a copying member copies from another member that is an up voter;
 * - member.deadline: every member has a progress deadline (Infinity while it owes no answer), and
 *   only members do;
 * - member.count: at most LIMITS.maxWorkers members;
 * - member.told: its link's address book holds at most LIMITS.maxWorkers addresses, none while it is down;
 * - member.votes: at most LIMITS.votesAhead votes held, each beyond the next one missing, and a missing one has a time;
 * - member.role: copying and streaming members are not voters, draining ones are; only a linked
 *   learner past greeting or a draining voter has a stream, and a stream holds commits only while
 *   its copy runs, at most LIMITS.learnerBufferCommits;
 * - config.voters: every voter is a member, and there is at least one once any member was up.
 */
export interface Member {
  readonly id: string;
  address: string;
  /** The highest commit it has: from its `state`, its commit acks, or a finished copy. */
  maxCseq: number;
  status: MemberStatus;
  /** Since when a voter has not been up (null while up or draining): evicted after evictAfterMs. */
  notUpSince: number | null;
  /** A voter that may lack a commit: evicted as soon as possible (see the rules above). */
  stale: boolean;
  stream: Stream | null;
  /** Removed by the operator: out of the voters, and out of the membership once it owes nothing. */
  leaving: boolean;
  /** Where a learner's copy resumes (null: from the start, wiping what it holds). */
  copyAfter: string | null;
  /** What its current copy has installed so far (status shows it). */
  copied: { rows: number; bytes: number };
  /** Every commit up to this one is in its copy (the rest come in its stream). */
  copyFloor: number;
  /**
   * The seq of the last replicate sent on its current link. The worker numbers what it receives
   * per link, not per stream: a stream begun again on the same link (its copy started over) goes
   * on from here, or the worker would take the new stream's first replicates for repeats.
   */
  linkSeq: number;
  /** It has been up before in this coordinator's life: its next time up is a rejoin (counted). */
  everUp: boolean;
  /**
   * The voters' addresses its current link was told in prepares, by id (the worker keeps the same
   * book, so a prepare names the others by id only). Emptied when the link goes down or comes up;
   * at most LIMITS.maxWorkers: past that an address is sent every time and not recorded.
   */
  told: Map<string, string>;
  /**
   * Its votes on the current link, taken in the order it sent them (VoteNumber): the number of the
   * last one taken, those that came ahead of a missing one (at most LIMITS.votesAhead), and since
   * when one has been missing. Reset when the link comes up.
   */
  votes: { taken: number; ahead: Map<number, Vote>; missingSince: number | null };
}

type Vote = Extract<FromWorker, { type: 'vote' }>;

/** The voting set, numbered; `catchingUp` are voters promoted whose stream is not drained yet. */
export interface Configuration {
  n: number;
  voters: string[];
  catchingUp: string[];
}

/** A configuration change being made durable, with what to do once it is. */
/**
 * A configuration change under way: written as proposed (durable here), then told to each of its
 * voters, which make it durable and ack; then written as in use, and used. A voter that cannot ack
 * (it went down, or is silent for a lock timeout) abandons it: nothing used it, and the next change
 * takes a higher number.
 */
interface PendingChange {
  config: Configuration;
  why: string;
  /** Run once the configuration is in use (a remove_worker's reply, a promotion's next step). */
  then: (() => void) | null;
  /** proposing: its proposal being written here; acking: told, acks awaited; committing: in use once written. */
  phase: 'proposing' | 'acking' | 'committing';
  /** The voters whose ack is still awaited. */
  awaiting: Set<string>;
  /** When an ack not come is given up on (acking). */
  deadline: number;
}

export class Membership {
  private readonly ctx: CoordinatorContext;
  private readonly members = new Map<string, Member>();
  /** By member id: a joining worker owed an answer (hello, an ack, a copy page, a replicate) that gives none by then is cut off and redialled. */
  private readonly progress = new Deadlines<string>();
  config: Configuration;
  private pending: PendingChange | null = null;
  /** The highest configuration number proposed (durably, here): a new proposal takes a higher one, even after one was abandoned. */
  private highestProposed: number;
  /**
   * With no voter yet: the worker proposed as the first voter. It stays the only one proposed until it
   * is a voter, or removed: a first voter proposed and abandoned, then another chosen, would leave two
   * workers each sure it was the first voter, one of them with no data (simulator seed 1714), and a
   * coordinator that lost its data could take the cluster over from the wrong one.
   */
  private firstVoter: string | null = null;
  /** Counted for status and metrics. */
  readonly counts = { evictions: 0, promotions: 0, removals: 0, rejoins: 0 };

  constructor(ctx: CoordinatorContext, recovered: readonly { id: string; address: string; leaving?: boolean }[], config: { n: number; voters: string[]; catching_up?: string[] }, proposed: { n: number; voters: string[] } | null = null) {
    this.ctx = ctx;
    this.highestProposed = Math.max(config.n, proposed?.n ?? 0);
    // With no voter yet, a first voter once proposed stays the one (see firstVoter).
    if (config.voters.length === 0 && proposed !== null && proposed.n > config.n && proposed.voters.length > 0) this.firstVoter = proposed.voters[0] ?? null;
    // A removal the operator was told of holds across a restart: that worker never rejoins as a learner.
    for (const m of recovered) this.add(m.id, m.address, m.leaving === true);
    const voters = config.voters.filter((v) => this.members.has(v));
    // Kept as they were: a change logged before the stale ones are evicted must not record them as
    // caught up, or the next restart would take them as full voters (simulator seed 5439).
    this.config = { n: config.n, voters, catchingUp: (config.catching_up ?? []).filter((v) => voters.includes(v)) };
    // A voter still catching up when the coordinator stopped may lack a commit streamed to it.
    for (const id of config.catching_up ?? []) {
      const m = this.members.get(id);
      if (m !== undefined && voters.includes(id)) m.stale = true;
    }
  }

  private add(id: string, address: string, leaving = false): void {
    this.members.set(id, { id, address, maxCseq: 0, status: { kind: 'down' }, notUpSince: null, stale: false, leaving, stream: null, copyAfter: null, copied: { rows: 0, bytes: 0 }, copyFloor: 0, linkSeq: 0, everUp: false, told: new Map(), votes: { taken: 0, ahead: new Map(), missingSince: null } });
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

  isVoter(id: string): boolean {
    return this.config.voters.includes(id);
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

  /** The members that serve reads. */
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

  /** The voters of a new transaction, or why a write cannot run now. */
  votingSet(): { ok: true; voters: string[]; config: number } | { ok: false; failure: Failure } {
    const standing = this.ctx.identity.refusal();
    if (standing !== null) return { ok: false, failure: standing };
    const voters = this.config.voters;
    if (voters.length === 0) {
      const why = this.members.size === 0 ? 'no worker has registered with this coordinator yet; start one with `tweetdb worker PORT`' : 'no worker has joined the voters yet (the first one to answer does)';
      return { ok: false, failure: { code: 'UNAVAILABLE', error: why } };
    }
    if (voters.length < this.ctx.cfg.minVoters) {
      probe('coord.min_voters_refused');
      return { ok: false, failure: { code: 'UNAVAILABLE', error: `only ${voters.length} worker${voters.length === 1 ? '' : 's'} vote${voters.length === 1 ? 's' : ''} and --min-voters is ${this.ctx.cfg.minVoters}: writes resume when enough workers have joined and caught up` } };
    }
    for (const id of voters) {
      const m = this.members.get(id) as Member;
      if (m.stale && (m.status.kind === 'up' || m.status.kind === 'draining')) {
        // It may lack a commit (an orphan or a late commit was not streamed to it): its vote could
        // judge a row as it was before that commit, which clients have been told of (simulator seed 1401).
        probe('coord.stale_voter_refused_writes');
        return { ok: false, failure: { code: 'UNAVAILABLE', error: `worker ${m.id} (${m.address}) may lack a commit and is being taken out of the voters (it copies the data again); writes resume in a moment` } };
      }
      if (m.status.kind === 'up' || m.status.kind === 'draining') continue;
      const why =
        m.status.kind === 'down'
          ? 'is unreachable'
          : m.status.kind === 'greeting'
            ? 'is connected but has not answered yet (it may be frozen, overloaded or cut off)'
            : 'is rejoining (settling the transactions it was part of)';
      const evicts = voters.length > 1 && !m.stale ? `; it is evicted from the voters if it is not back within ${this.ctx.cfg.evictAfterMs / 1000} s of going down, and writes go on without it` : '';
      return { ok: false, failure: { code: 'UNAVAILABLE', error: `worker ${m.id} (${m.address}) ${why}${evicts}` } };
    }
    return { ok: true, voters: [...voters], config: this.config.n };
  }

  /** The first of `voters` no longer able to vote, as the failure of the transaction they vote on. */
  firstNotUp(voters: readonly string[]): Failure | null {
    for (const w of voters) {
      const m = this.members.get(w);
      if (m === undefined || (m.status.kind !== 'up' && m.status.kind !== 'draining') || !this.isVoter(w) || m.stale) {
        return { code: 'UNAVAILABLE', error: `worker ${w} (${m?.address ?? 'removed'}) became unreachable during the transaction` };
      }
    }
    return null;
  }

  /**
   * The addresses a prepare to `to` must carry: those of `voters` (other than `to`) its link was
   * not told yet, or told another address. Recorded as told when they go out. A lost prepare leaves
   * the worker without one: it closes the link at the next prepare naming it, and both books start
   * again empty.
   */
  addressesToTell(to: string, voters: readonly string[]): Peer[] {
    const m = this.members.get(to);
    const out: Peer[] = [];
    for (const id of voters) {
      if (id === to) continue; // a worker needs no address for itself
      const address = this.members.get(id)?.address ?? '';
      if (m !== undefined && m.told.get(id) === address) continue;
      out.push({ id, address });
      // Recorded only while there is room; the worker's book is never bigger than this one (it holds what it was sent).
      if (m !== undefined && (m.told.size < LIMITS.maxWorkers || m.told.has(id))) m.told.set(id, address);
    }
    return out;
  }

  /** The last replicate sent to a worker: a prepare or lock carries it (the worker must have it first). */
  floorOf(id: string): number {
    return this.members.get(id)?.stream?.sent ?? 0;
  }

  // -------------------------------------------------------------------------
  // Registration and removal

  /**
   * Only authenticated workers reach this (the edge checks their proof of the cluster key), and
   * still no registration may displace a member that is live: linked and answering as itself.
   * A moved worker (same identity, new address) and a wiped one (new identity at a known
   * address) are taken only once the member they replace has gone quiet.
   */
  register(conn: number, slot: number, id: string, address: string, known: ClusterKnowledge, now: number): void {
    const ctx = this.ctx;
    const existing = this.members.get(id);
    // A worker of another cluster is refused before anything changes; one of an existing cluster
    // makes a coordinator with no data adopt that cluster.
    const foreign = ctx.identity.admit(id, known, existing !== undefined);
    if (foreign !== null) {
      ctx.log('warn', `worker ${id} at ${address} refused: ${foreign}`, { worker: id });
      ctx.reply(conn, slot, errorReply('WRONG_CLUSTER', foreign));
      return;
    }
    ctx.identity.registeredWith(id, known);
    if (existing !== undefined) {
      if (existing.address !== address) {
        if (isLive(existing)) {
          ctx.reply(conn, slot, errorReply('EXISTS', `worker ${id} is live at ${existing.address}; a second process with its identity cannot register at ${address}: stop one of them (a copy of a data directory shares its identity)`));
          return;
        }
        existing.address = address;
        ctx.emit({ type: 'save_member', id, address, leaving: existing.leaving });
        ctx.emit({ type: 'unlink', worker: id });
        this.linkTo(id, address);
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
    // The member it replaces must leave the voters first (a configuration change); it registers again meanwhile.
    const voting = there.find((m) => this.isVoter(m.id));
    if (voting !== undefined) {
      if (!this.config.voters.some((v) => v !== voting.id && this.members.get(v)?.status.kind === 'up')) {
        // Its data may be the only copy of some commit: a new, empty identity may not take its place.
        ctx.reply(conn, slot, errorReply('UNAVAILABLE', `worker ${voting.id} at ${address} is a voter and no other voter is up: it may hold the only copy of a commit, so ${id} (a new data directory) cannot replace it; start ${voting.id} with its data directory, or bring another voter up first`));
        return;
      }
      this.evict(new Map([[voting, `replaced by ${id}, a new identity at its address`]]));
      ctx.reply(conn, slot, errorReply('UNAVAILABLE', `worker ${voting.id} at ${address} still votes; it is being removed from the voters, register again in a moment`));
      return;
    }
    if (this.members.size - there.length >= LIMITS.maxWorkers) {
      ctx.reply(conn, slot, errorReply('INVALID', `this cluster already has ${LIMITS.maxWorkers} workers, the most it takes`));
      return;
    }
    if (there.length > 0) probe('coord.member_replaced');
    for (const old of there) this.drop(old, now, `replaced by a new identity (${id})`);
    this.add(id, address);
    ctx.emit({ type: 'save_member', id, address, leaving: false });
    this.linkTo(id, address);
    ctx.log('info', `worker ${id} registered at ${address}; it joins as a learner`);
    ctx.reply(conn, slot, { status: 'OK', lock_timeout_s: ctx.lockTimeoutS, id });
  }

  /**
   * The operator's remove_worker (by id or address): the member leaves the voters (a configuration
   * change, answered once durable) and the membership, and is told so; its data stays as it is.
   */
  removeWorker(conn: number, slot: number, which: string): void {
    const ctx = this.ctx;
    const standing = ctx.identity.refusal();
    if (standing !== null) {
      ctx.reply(conn, slot, errorReply('UNAVAILABLE', standing.error));
      return;
    }
    const m = this.members.get(which) ?? [...this.members.values()].find((x) => x.address === which);
    if (m === undefined) {
      ctx.reply(conn, slot, errorReply('NOT_FOUND', `no worker ${which} in this cluster (by id or address); \`tweetdb status\` lists them`));
      return;
    }
    if (this.isVoter(m.id) && !this.config.voters.some((v) => v !== m.id && this.members.get(v)?.status.kind === 'up')) {
      const why = this.config.voters.length === 1 ? 'is the only voter' : 'is the only voter that is up';
      ctx.reply(conn, slot, errorReply('INVALID', `worker ${m.id} ${why}: it may hold the only copy of a commit; add another worker (or bring the others back) and let it catch up first`));
      return;
    }
    if (this.pending !== null) {
      ctx.reply(conn, slot, errorReply('UNAVAILABLE', `a configuration change is being made (${this.pending.why}); try again in a moment`));
      return;
    }
    const finish = (): void => {
      const still = this.members.get(m.id);
      if (still === undefined) return;
      // Out of the voters now; out of the membership once it owes nothing (review(), leave()).
      still.leaving = true;
      // Kept, and the operator answered once it is durable: a restart must not take it back as a learner.
      ctx.emit({ type: 'save_member', id: still.id, address: still.address, leaving: true });
      this.leftVoters(still);
      ctx.log('info', `worker ${m.id} (${m.address}) is leaving the cluster (the operator removed it)`);
      ctx.reply(conn, slot, { status: 'OK', removed: m.id, config: this.config.n });
    };
    if (!this.isVoter(m.id)) {
      finish();
      return;
    }
    const left = this.config.voters.filter((v) => v !== m.id);
    if (!this.propose(left, this.config.catchingUp.filter((v) => v !== m.id), `remove ${m.id} (operator)`, finish)) {
      const away = left.filter((v) => !this.answers2(v));
      ctx.reply(conn, slot, errorReply('UNAVAILABLE', `worker${away.length === 1 ? '' : 's'} ${away.join(', ')} must take the new voting set first and ${away.length === 1 ? 'is' : 'are'} not linked; try again once ${away.length === 1 ? 'it is' : 'they are'} back or evicted`));
    }
  }

  /**
   * A removed member leaves the membership only once it owes nothing: no transaction it votes on
   * is still running and every commit it voted on is acknowledged. Dropped earlier, a worker that
   * comes back with a commit still prepared would have it settled as abort by presumption (the
   * decision forgotten without its ack; simulator seed 1179). And only once it is linked, to be
   * told so.
   */
  private leave(m: Member): void {
    const ctx = this.ctx;
    // A voter again (a takeover found it among the newest voters its peers knew): out of the voters first.
    if (this.isVoter(m.id)) {
      this.evict(new Map([[m, 'the operator removed it']]));
      return;
    }
    if (ctx.commit.owedBy(m.id)) return;
    // Kept (leaving, in the store too) until it can be told: dropped while down, it would come
    // back, register as a stranger and join again as a learner.
    if (m.status.kind === 'down') return;
    probe('coord.worker_removed');
    this.counts.removals++;
    ctx.send(m.id, { type: 'config', config: this.config.n, voter: false, removed: true, voters: [...this.config.voters], catching_up: [...this.config.catchingUp] });
    this.drop(m, ctx.now, 'removed by the operator');
  }

  /** Out of the membership (it is no voter by now). */
  private drop(m: Member, now: number, why: string): void {
    const ctx = this.ctx;
    assert(!this.isVoter(m.id), `member ${m.id} is dropped while it still votes`);
    this.linkDown(m.id, now);
    ctx.commit.memberRemoving(m.id);
    this.members.delete(m.id);
    this.progress.clear(m.id);
    ctx.emit({ type: 'unlink', worker: m.id });
    ctx.emit({ type: 'remove_member', id: m.id });
    ctx.log('warn', `worker ${m.id} at ${m.address} ${why}`);
    ctx.commit.memberRemoved(m.id);
  }

  // -------------------------------------------------------------------------
  // Configuration changes

  /**
   * Proposes the voting set `voters` (those of them still catching up: `catchingUp`), numbered above
   * every configuration proposed before (and `atLeast`). Only while every one of them is linked and
   * answering: each must make it durable and ack before it is used. False when it cannot be now.
   */
  private propose(voters: readonly string[], catchingUp: readonly string[], why: string, then: (() => void) | null, atLeast = 0): boolean {
    assert(this.pending === null, `configuration change "${why}" while "${this.pending?.why ?? ''}" runs`);
    // A change of who votes needs every voter of it; one that only says a voter caught up needs those
    // that answer (a voter away cannot block it: knowing less of who caught up only makes a
    // coordinator that lost its data take more voters as stale, never fewer).
    const sameVoters = voters.length === this.config.voters.length && voters.every((v) => this.config.voters.includes(v));
    const awaiting = sameVoters ? voters.filter((v) => this.answers2(v)) : [...voters];
    if (awaiting.length === 0 || !awaiting.every((v) => this.answers2(v))) return false;
    const n = Math.max(this.config.n, this.highestProposed, atLeast) + 1;
    this.highestProposed = n;
    const config: Configuration = { n, voters: [...voters], catchingUp: [...catchingUp] };
    this.pending = { config, why, then, phase: 'proposing', awaiting: new Set(awaiting), deadline: Number.POSITIVE_INFINITY };
    this.ctx.emit({ type: 'log_config', config: n, voters: config.voters, catching_up: config.catchingUp });
    return true;
  }

  /** The highest configuration number proposed here (durably): no worker knows a higher one unless this store is behind. */
  get highestProposedN(): number {
    return Math.max(this.config.n, this.highestProposed);
  }

  /** Linked and past hello: it can make a configuration durable and ack it. */
  private answers2(id: string): boolean {
    const m = this.members.get(id);
    return m !== undefined && this.answers(m);
  }

  /**
   * Evicts voters that may not vote on: those away past --evict-after, and stale ones, all in one
   * change, and only while every voter left answers and one of them is up (it may hold the only copy
   * of a commit, and learners copy from an up voter).
   */
  private evict(out: Map<Member, string>): void {
    if (this.pending !== null || out.size === 0) return;
    const gone = new Set([...out.keys()].map((m) => m.id));
    const left = this.config.voters.filter((v) => !gone.has(v));
    if (!left.some((v) => this.members.get(v)?.status.kind === 'up')) return;
    const why = [...out].map(([m, w]) => `${m.id}: ${w}`).join('; ');
    this.propose(left, this.config.catchingUp.filter((v) => !gone.has(v)), `evict ${why}`, () => {
      for (const [m, w] of out) {
        probe('coord.voter_evicted');
        this.counts.evictions++;
        this.ctx.log('warn', `worker ${m.id} (${m.address}) evicted from the voters: ${w}; it rejoins as a learner`);
        const still = this.members.get(m.id);
        if (still === undefined) continue;
        still.stale = false;
        still.notUpSince = null;
        this.leftVoters(still);
      }
    });
  }

  /** The proposal is durable here: each of its voters is told, and acks once it is durable there. */
  onConfigLogged(config: number): void {
    const p = this.pending;
    if (p === null || p.config.n !== config || p.phase !== 'proposing') return;
    if (![...p.awaiting].every((v) => this.answers2(v))) {
      this.abandon('a voter of it went away before it was told');
      return;
    }
    p.phase = 'acking';
    p.deadline = this.ctx.now + this.ctx.cfg.lockTimeoutMs;
    for (const v of p.awaiting) this.ctx.send(v, { type: 'config_propose', config, voters: [...p.config.voters], catching_up: [...p.config.catchingUp] });
    if (p.awaiting.size === 0) this.onConfigAcked(p);
  }

  /** A voter of the proposal made it durable. With every ack in, it is written as in use. */
  onConfigAck(m: Member, config: number): void {
    const p = this.pending;
    if (p === null || p.config.n !== config || p.phase !== 'acking') return;
    p.awaiting.delete(m.id);
    if (p.awaiting.size === 0) this.onConfigAcked(p);
  }

  private onConfigAcked(p: PendingChange): void {
    p.phase = 'committing';
    this.ctx.emit({ type: 'commit_config', config: p.config.n });
  }

  /** The proposal's every voter did not ack: nothing used it; the next change takes a higher number. */
  private abandon(why: string): void {
    const p = this.pending;
    if (p === null || p.phase === 'committing') return;
    probe('coord.config_change_abandoned');
    this.ctx.log('warn', `configuration ${p.config.n} (${p.why}) abandoned: ${why}`);
    this.pending = null;
  }

  /**
   * A member no longer a voter stops serving reads at once (it gets no more commits), and a copy
   * it was the donor of resumes from another; linked, it goes on as a learner (or leaves).
   */
  private leftVoters(m: Member): void {
    if (m.status.kind === 'up' || m.status.kind === 'draining') {
      m.status = { kind: 'waiting' };
      m.stream = null;
      m.copyAfter = null;
    }
    for (const j of this.members.values()) if (j.status.kind === 'copying' && j.status.donor === m.id) j.status = { kind: 'waiting' };
  }

  /** A commit_config effect is durable: the configuration is the one in use. */
  onConfigCommitted(config: number): void {
    const p = this.pending;
    if (p === null || p.config.n !== config || p.phase !== 'committing') return;
    this.pending = null;
    if (p.config.voters.length > 0) this.firstVoter = null;
    const before = new Set(this.config.voters);
    this.config = p.config;
    this.ctx.log('info', `configuration ${config}: voters ${p.config.voters.join(', ') || '(none)'} (${p.why})`);
    for (const m of this.members.values()) {
      if (m.status.kind === 'down') continue;
      const voter = this.isVoter(m.id);
      if (voter !== before.has(m.id) || m.status.kind === 'up' || m.status.kind === 'draining') this.ctx.send(m.id, { type: 'config', config, voter, removed: false, voters: [...p.config.voters], catching_up: [...p.config.catchingUp] });
    }
    p.then?.();
  }

  // -------------------------------------------------------------------------
  // Links

  linkUp(worker: string, now: number): void {
    const m = this.members.get(worker);
    if (m === undefined) return;
    this.progress.set(worker, now + this.ctx.cfg.lockTimeoutMs);
    m.status = { kind: 'greeting' };
    m.linkSeq = 0;
    m.told.clear(); // a new link starts with an empty address book on both sides
    m.votes = { taken: 0, ahead: new Map(), missingSince: null };
    const ctx = this.ctx;
    const identity = ctx.identity;
    assert(identity.cluster !== null, `link to ${worker} up before this coordinator has a cluster`);
    ctx.send(worker, {
      type: 'hello',
      lock_timeout_ms: ctx.cfg.lockTimeoutMs,
      cluster: identity.cluster,
      epoch: ctx.epoch,
      run: identity.run,
      config: this.config.n,
      voter: this.isVoter(worker),
      voters: [...this.config.voters],
      catching_up: [...this.config.catchingUp],
      reserved: ctx.cseqLimit,
    });
  }

  linkDown(worker: string, now: number): void {
    const m = this.members.get(worker);
    if (m === undefined || m.status.kind === 'down') return;
    // A configuration change it was to make durable cannot be used without it.
    if (this.pending?.awaiting.has(worker) === true) this.abandon(`worker ${worker} went away before it acked`);
    const was = m.status.kind;
    // A promoted voter still applying its stream may have missed a commit for good.
    if (was === 'draining') {
      probe('coord.draining_voter_lost');
      m.stale = true;
    }
    if (was === 'copying') probe('coord.learner_lost_while_copying');
    this.setDown(m, now);
    this.ctx.commit.workerDown(worker, m.address, now);
    this.ctx.reads.workerDown(worker, now);
    // A copy that used this worker as donor pauses; it resumes from another at the same row.
    for (const j of this.members.values()) {
      if (j.status.kind === 'copying' && j.status.donor === worker) {
        probe('coord.copy_donor_lost');
        j.status = { kind: 'waiting' };
      }
    }
  }

  private setDown(m: Member, now: number): void {
    m.status = { kind: 'down' };
    m.told.clear();
    m.votes = { taken: 0, ahead: new Map(), missingSince: null }; // what came on that link is gone with it
    // A learner's copy starts over when it comes back: what it held may be gone with its process.
    m.stream = null;
    m.copyAfter = null;
    if (this.isVoter(m.id) && m.notUpSince === null) m.notUpSince = now;
    this.progress.set(m.id, Number.POSITIVE_INFINITY);
  }

  cutOff(worker: string, now: number, why: string): void {
    const m = this.members.get(worker);
    if (m === undefined) return;
    this.ctx.log('warn', `worker ${worker} cut off: ${why}`);
    this.ctx.emit({ type: 'unlink', worker });
    this.linkTo(worker, m.address);
    this.linkDown(worker, now);
  }

  /**
   * A message from a member's link: null when it is to be ignored (no such member, or a link no
   * longer trusted). A member that answers anything while on its way up has made progress.
   */
  heard(worker: string, now: number): Member | null {
    const m = this.members.get(worker);
    if (m === undefined || m.status.kind === 'down') return null;
    if (m.status.kind !== 'up') this.progress.set(worker, now + this.ctx.cfg.lockTimeoutMs);
    return m;
  }

  // -------------------------------------------------------------------------
  // The way to up

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
      this.linkTo(m.id, m.address, WRONG_IDENTITY_REDIAL_MS);
      // As any link that goes down: what waits on it (an abort or a commit sent since hello) stops waiting.
      this.linkDown(m.id, now);
      return;
    }
    // It obeys this coordinator now: what it knows counts for a takeover, or shows this store is behind.
    ctx.identity.heard(m.id, s);
    if (m.status.kind !== 'greeting') return; // found behind: every link starts over
    m.maxCseq = s.max_cseq;
    // A cseq it applied is never given out again (this coordinator may have lost it in a restart).
    if (s.max_cseq > ctx.lastCseq) ctx.lastCseq = s.max_cseq;
    // Re-drive every outcome it is owed (kept commits, decided aborts); ask about the undecided.
    const owed = ctx.commit.redrive(m.id, s.prepared, now);
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

  /** A waiting voter is up once no transaction runs without it; a draining one once its stream is applied too. */
  maybeInSync(m: Member): void {
    const ctx = this.ctx;
    if (!this.isVoter(m.id) || !ctx.identity.serving) return;
    if (m.status.kind === 'waiting') {
      if (m.stale && this.config.voters.length === 1) {
        // The only voter: no copy is more complete than its own, so it is taken as it is.
        ctx.log('warn', `worker ${m.id} is the only voter and may lack a commit streamed to it; it is taken as it is`);
        m.stale = false;
      }
      if (m.stale) return; // evicted by the tick, then a learner
      // A transaction that started without this worker could still commit without it: wait for it.
      // (Only a voter promoted while such transactions ran could meet one, and one that lost its
      // link then is stale; kept as a guard.)
      if (ctx.commit.inFlightWithout(m.id)) return;
      // (Commits still being logged or applied reach it on their own: they are not missing.)
      // (The only voter is taken as it is: no copy is more complete than its own. A sole voter back
      // with prepared records commits them alone, after its state was sent: simulator seed 13097.)
      if (this.config.voters.length > 1 && m.maxCseq < ctx.commit.settledThrough()) {
        // Voters never miss a commit (writes stop while one is away), so this one is not what it claims.
        ctx.log('warn', `worker ${m.id} (${m.address}) came back as a voter without commit ${ctx.commit.settledThrough()} (it has up to ${m.maxCseq}); it is evicted and copies the data again`);
        m.stale = true;
        return;
      }
      this.setUp(m);
      return;
    }
    if (m.status.kind === 'draining') {
      // A draining voter that may lack a commit (an orphan or a late commit was not streamed to it) is evicted, never up.
      if (m.stale) return;
      const s = m.stream;
      const drained = s === null || s.applied >= s.sent || ctx.cfg.sabotage === 'promote_learner_early';
      if (!drained || ctx.commit.inFlightWithout(m.id)) return;
      // Its stream is applied and every transaction from now on has it as a voter.
      m.stream = null;
      this.setUp(m);
    }
  }

  /** A voter up and still recorded as catching up is recorded as caught up (again, if a first try was abandoned). */
  private recordCaughtUp(): void {
    if (this.pending !== null) return;
    for (const id of this.config.catchingUp) {
      const m = this.members.get(id);
      if (m === undefined || m.status.kind !== 'up' || m.stale) continue;
      this.propose(this.config.voters, this.config.catchingUp.filter((v) => v !== id), `${id} caught up`, null);
      return;
    }
  }

  private setUp(m: Member): void {
    if (m.everUp) this.counts.rejoins++;
    m.everUp = true;
    m.status = { kind: 'up' };
    m.copyAfter = null;
    m.notUpSince = null;
    this.progress.set(m.id, Number.POSITIVE_INFINITY);
    this.ctx.log('info', `worker ${m.id} (${m.address}) is up`);
  }

  /** Looked at again after every event: joiners, copies, promotions. */
  review(): void {
    if (!this.ctx.identity.serving) {
      this.takeOver();
      return;
    }
    for (const m of [...this.members.values()]) if (m.leaving) this.leave(m);
    for (const m of this.members.values()) this.maybeInSync(m);
    this.recordCaughtUp();
    this.startCopies();
    this.promote();
  }

  /**
   * Recovering, once every voter of the newest configuration heard of obeys this coordinator: that
   * configuration becomes this coordinator's, numbered above every one heard of (its voters still
   * catching up are stale: they may lack a commit streamed to them, and copy again).
   */
  private takeOver(): void {
    if (this.pending !== null) return;
    const newest = this.ctx.identity.readyToTakeOver();
    if (newest === null) return;
    const voters = newest.voters.filter((v) => this.members.has(v));
    const catchingUp = newest.catching_up.filter((v) => voters.includes(v));
    this.propose(
      voters,
      catchingUp,
      'take over the cluster',
      () => {
        for (const id of catchingUp) {
          const m = this.members.get(id);
          if (m !== undefined) m.stale = true;
        }
        this.ctx.identity.tookOver(this.config.n);
      },
      this.ctx.identity.highestKnownN(),
    );
  }

  /** A worker refused this coordinator's hello (another cluster's, or it obeys a newer coordinator); it closes the link. */
  onRefused(m: Member, msg: Extract<FromWorker, { type: 'refused' }>, now: number): void {
    if (m.status.kind !== 'greeting') return;
    this.ctx.identity.refused(m.id, msg);
    if (m.status.kind !== 'greeting') return; // every link started over
    this.ctx.emit({ type: 'unlink', worker: m.id });
    this.linkTo(m.id, m.address, REFUSED_REDIAL_MS);
    this.linkDown(m.id, now);
  }

  /** A link to `id` (dialled again as needed), once this coordinator's identity is durable; until then none: linkAll() links every member then. */
  private linkTo(id: string, address: string, afterMs?: number): void {
    if (!this.ctx.identity.linksAllowed) return;
    this.ctx.emit(afterMs === undefined ? { type: 'link', worker: id, address } : { type: 'link', worker: id, address, afterMs });
  }

  /** The identity is durable: every member not linked is dialled (at start, after forming or a new epoch). */
  linkAll(): void {
    const fenced = this.ctx.identity.standing.kind === 'fenced';
    for (const m of this.members.values()) if (m.status.kind === 'down') this.linkTo(m.id, m.address, fenced ? REFUSED_REDIAL_MS : undefined);
  }

  /** Every link starts over (a new epoch, or this coordinator found itself behind or fenced): each member answers hello again. */
  relinkAll(): void {
    const ctx = this.ctx;
    const fenced = ctx.identity.standing.kind === 'fenced';
    for (const m of this.members.values()) {
      ctx.emit({ type: 'unlink', worker: m.id });
      this.linkTo(m.id, m.address, fenced ? REFUSED_REDIAL_MS : undefined);
      this.linkDown(m.id, ctx.now);
    }
  }

  /** A new cseq reservation is durable: every linked member keeps it. */
  tellReserved(through: number): void {
    for (const m of this.members.values()) if (m.status.kind !== 'down' && m.status.kind !== 'greeting') this.ctx.send(m.id, { type: 'reserved', through });
  }

  /** The first worker of an empty configuration votes at once; any other learner copies from an up voter. */
  private startCopies(): void {
    const ctx = this.ctx;
    for (const m of this.members.values()) {
      if (m.status.kind !== 'waiting' || this.isVoter(m.id) || m.leaving) continue;
      // Not one a pending change makes a voter (its promotion, proposed while it streamed, before its
      // stream was dropped): it would vote while copying. It is stale once promoted, and evicted
      // (simulator seed 771355).
      if (this.pending?.config.voters.includes(m.id) === true) continue;
      if (ctx.cfg.sabotage === 'evicted_counted_as_voter' && m.stream === null && m.maxCseq > 0) {
        // Sabotage: a worker back from eviction votes again at once, as if it had never left.
        if (this.pending === null) {
          this.propose([...this.config.voters, m.id], [], `readmit ${m.id} (sabotage)`, () => {
            const still = this.members.get(m.id);
            if (still !== undefined && still.status.kind === 'waiting') this.setUp(still);
          });
        }
        continue;
      }
      if (this.config.voters.length === 0) {
        if (this.firstVoter !== null && this.firstVoter !== m.id && this.members.has(this.firstVoter)) continue;
        // Not yet, unless this run formed the cluster: this store may be older than its workers' (ClusterIdentity.mayChooseFirstVoter).
        if (this.firstVoter === null && !ctx.identity.mayChooseFirstVoter(ctx.now)) continue;
        if (this.pending === null && this.propose([m.id], [], `${m.id} is the first voter`, () => {
          const still = this.members.get(m.id);
          if (still !== undefined && still.status.kind === 'waiting') this.setUp(still);
        })) {
          probe('coord.first_voter');
          this.firstVoter = m.id;
        }
        continue;
      }
      const donor = [...this.members.values()].find((d) => d.status.kind === 'up' && this.isVoter(d.id) && d.id !== m.id);
      if (donor === undefined) continue;
      // A copy replaces its rows: not while a transaction it voted on is still deciding or applying.
      if (ctx.commit.owedBy(m.id)) continue;
      // Nor while a transaction lost in a restart is unsettled: its commit could not be streamed.
      if (ctx.commit.hasUnsettledOrphans()) continue;
      if (m.stream === null) this.openStream(m, donor);
      const rid = ctx.nextRid++;
      m.status = { kind: 'copying', rid, donor: donor.id, page: null };
      this.progress.set(m.id, ctx.now + ctx.cfg.lockTimeoutMs);
      probe(m.copyAfter === null ? 'coord.copy_started' : 'coord.copy_resumed');
      ctx.log('info', `worker ${m.id} copies the data from ${donor.id}${m.copyAfter === null ? '' : ' (resumed)'}; writes go on`);
      ctx.send(donor.id, { type: 'copy_read', rid, after: m.copyAfter, limit: ctx.cfg.copyPageRows });
    }
  }

  /**
   * From now on the learner gets every commit: first each one decided and still being applied
   * (an up voter may not have it yet, so the copy may miss it), then each as it is logged.
   */
  private openStream(m: Member, donor: Member): void {
    m.stream = { sent: m.linkSeq, applied: m.linkSeq, held: [], base: m.linkSeq };
    m.copyAfter = null;
    m.copied = { rows: 0, bytes: 0 };
    // What the donor has applied, commits from before this coordinator took over included: with
    // only this coordinator's own commits the learner would say it holds less than it does, and a
    // coordinator restored from an older copy would find every voter short of its last commit
    // (simulator seed 941326). A copy resumed from another up voter keeps this floor: every up
    // voter holds every commit that is not still being applied.
    m.copyFloor = this.ctx.commit.appliedThroughOn(donor.maxCseq);
    for (const r of this.ctx.commit.committingNow()) this.streamTo(m, r);
  }

  /**
   * A transaction lost in a restart was adopted. If it commits, its commit is old though decided
   * now: a copy begun since may hold a later write over its rows, and a replay of it could undo
   * that write (a delete leaves no row whose cseq would refuse a post: simulator seed 781). So no
   * learner takes it from a stream: copies under way start over once it is settled and applied
   * (startCopies waits for that), and a promoted voter still applying its stream is stale (it is
   * evicted and copies again).
   */
  /** A commit decided late (its voters may have committed it long ago): as for an orphan, no learner takes it from a stream. */
  lateCommitDecided(): void {
    probe('coord.late_commit_restarts_copies');
    this.orphanAdopted();
  }

  orphanAdopted(): void {
    for (const m of this.members.values()) {
      if (m.stream === null) continue;
      if (m.status.kind === 'draining') {
        m.stale = true;
        continue;
      }
      probe('coord.copy_restarted_for_orphan');
      m.stream = null;
      m.copyAfter = null;
      if (m.status.kind === 'copying' || m.status.kind === 'streaming') m.status = { kind: 'waiting' };
    }
  }

  private streamTo(m: Member, r: Replicate): void {
    const s = m.stream as Stream;
    if (s.held !== null) {
      if (s.held.length >= LIMITS.learnerBufferCommits) {
        // Its copy is slower than the writes: start over rather than hold more.
        this.ctx.log('warn', `worker ${m.id} fell ${s.held.length} commits behind while copying; its copy starts over`);
        m.stream = null;
        m.copyAfter = null;
        m.status = { kind: 'waiting' };
        return;
      }
      s.held.push(r);
      return;
    }
    s.sent++;
    m.linkSeq = s.sent;
    this.ctx.send(m.id, { type: 'replicate', seq: s.sent, txid: r.txid, cseq: r.cseq, ops: r.ops });
  }

  /**
   * A commit is durable: every member streaming that did not vote on it gets it, and so does
   * every learner (a copy may replace rows a commit it voted on wrote; the replay is harmless).
   */
  committed(txid: string, cseq: number, ops: Op[], voters: readonly string[]): void {
    for (const m of this.members.values()) {
      if (m.stream === null || (voters.includes(m.id) && this.isVoter(m.id))) continue;
      this.streamTo(m, { txid, cseq, ops });
    }
  }

  /**
   * A vote from `m`: the votes to take now, in the order it sent them. One that came ahead of a
   * vote still missing waits for it (a sole voter's YES is its commit: taken out of order, the
   * learners' stream would be out of order too, simulator seed 827057); a repeat, or one without a
   * number, is taken as it comes. A vote missing for a lock timeout was lost: the link starts over
   * (tick), and the worker's state says again what it holds.
   */
  votesInOrder(m: Member, v: Vote, now: number): Vote[] {
    const q = m.votes;
    if (v.n === undefined || v.n <= q.taken) return [v];
    if (v.n > q.taken + 1) {
      probe('coord.vote_held_for_order');
      if (q.ahead.size >= LIMITS.votesAhead) {
        this.cutOff(m.id, now, `${q.ahead.size} votes came ahead of vote ${q.taken + 1}, which never came`);
        return [];
      }
      q.ahead.set(v.n, v);
      q.missingSince ??= now;
      return [];
    }
    const out = [v];
    q.taken = v.n;
    for (let next = q.ahead.get(q.taken + 1); next !== undefined; next = q.ahead.get(q.taken + 1)) {
      q.ahead.delete(next.n as number);
      q.taken++;
      out.push(next);
    }
    q.missingSince = q.ahead.size > 0 ? now : null;
    return out;
  }

  /** Some vote of this member came ahead of one it sent before, which has not come yet. */
  votesMissing(m: Member): boolean {
    return m.votes.ahead.size > 0;
  }

  /** Every replicate up to `seq` is written on the member. */
  onReplicated(m: Member, seq: number): void {
    const s = m.stream;
    if (s === null || seq > s.sent) return;
    s.applied = Math.max(s.applied, seq);
  }

  /** A learner whose stream is nearly applied becomes a voter (one configuration change at a time). */
  private promote(): void {
    if (this.pending !== null) return;
    for (const m of this.members.values()) {
      const s = m.stream;
      if (m.status.kind !== 'streaming' || s === null || s.held !== null || m.leaving) continue;
      if (s.sent - s.applied > LIMITS.promoteWithinCommits) continue;
      if (this.config.voters.length >= LIMITS.maxWorkers) continue;
      const proposed = this.propose([...this.config.voters, m.id], [...this.config.catchingUp, m.id], `promote ${m.id}`, () => {
        const still = this.members.get(m.id);
        if (still === undefined) return;
        this.counts.promotions++;
        if (still.status.kind === 'streaming') {
          still.status = { kind: 'draining' };
          still.notUpSince = null;
        } else {
          // It went down (or off the path) meanwhile: a voter that may lack a commit.
          still.stale = true;
        }
      });
      if (!proposed) continue; // a voter is away: not now
      probe('coord.learner_promoted');
      return;
    }
  }

  /** A page of a copy (copy_page), read from its donor: passed on to the member copying. A page nobody copies any more is dropped. */
  onCopyPage(donor: Member, rid: number, rows: CopyRow[]): void {
    for (const m of this.members.values()) {
      const s = m.status;
      if (s.kind !== 'copying' || s.rid !== rid || s.donor !== donor.id) continue;
      const done = rows.length < this.ctx.cfg.copyPageRows;
      // The first page installed wipes what the learner held; until it is installed, a resumed copy starts over.
      const reset = m.copyAfter === null;
      let bytes = 0;
      for (const r of rows) bytes += 'tweet' in r ? r.tweet.content.length + r.tweet.id.length + r.tweet.username.length + 32 : r.item.key.length + 64;
      s.page = { after: rows.length > 0 ? (rows[rows.length - 1] as CopyRow).c : m.copyAfter, rows: rows.length, bytes };
      this.ctx.send(m.id, { type: 'install', rid, rows, reset, done, max_cseq: m.copyFloor, stream_seq: m.stream?.base ?? 0 });
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
    if (s.kind !== 'copying' || s.rid !== rid || s.page === null) return;
    // Installed and durable on the learner: the copy's cursor moves past it.
    m.copyAfter = done ? null : s.page.after;
    m.copied.rows += s.page.rows;
    m.copied.bytes += s.page.bytes;
    s.page = null;
    if (done) {
      probe('coord.copy_finished');
      // The copy is in; now the commits held since it began, in order, then each as it comes.
      const stream = m.stream as Stream;
      const held = stream.held ?? [];
      stream.held = null;
      for (const r of held) this.streamTo(m, r);
      m.status = { kind: 'streaming' };
      if (ctx.cfg.sabotage === 'promote_learner_early' && this.pending === null) {
        this.propose([...this.config.voters, m.id], [], `promote ${m.id}`, () => {
          const still = this.members.get(m.id);
          if (still !== undefined && still.status.kind === 'streaming') {
            still.stream = null;
            this.setUp(still);
          }
        });
      }
      return;
    }
    const donor = this.members.get(s.donor);
    if (donor === undefined || donor.status.kind !== 'up') {
      m.status = { kind: 'waiting' }; // resumes with another donor
      return;
    }
    const next = ctx.nextRid++;
    s.rid = next;
    ctx.send(donor.id, { type: 'copy_read', rid: next, after: m.copyAfter, limit: ctx.cfg.copyPageRows });
  }

  // -------------------------------------------------------------------------
  // Time

  /** A joiner owed an answer that gave none within the lock timeout is cut off; a voter away too long is evicted. */
  tick(now: number): void {
    for (const id of this.progress.due(now)) {
      const m = this.members.get(id);
      if (m === undefined) continue;
      const s = m.stream;
      const owesReplicates = s !== null && s.held === null && s.applied < s.sent;
      const owes = m.status.kind === 'greeting' || m.status.kind === 'resolving' || m.status.kind === 'copying' || ((m.status.kind === 'streaming' || m.status.kind === 'draining') && owesReplicates);
      if (owes && (this.progress.get(id) ?? Number.POSITIVE_INFINITY) <= now) {
        probe('coord.rejoin_stalled_cut_off');
        this.cutOff(id, now, 'made no progress joining within the lock timeout');
      } else if (m.status.kind === 'streaming' || m.status.kind === 'draining') {
        this.progress.set(id, now + this.ctx.cfg.lockTimeoutMs);
      }
    }
    // A vote missing for a lock timeout was lost on the way: the link starts over.
    for (const m of [...this.members.values()]) {
      if (m.votes.missingSince !== null && now - m.votes.missingSince >= this.ctx.cfg.lockTimeoutMs) this.cutOff(m.id, now, `vote ${m.votes.taken + 1} it sent never came (lost on the way)`);
    }
    // A change whose acks did not all come within a lock timeout is abandoned.
    const p = this.pending;
    if (p !== null && p.phase === 'acking' && now >= p.deadline) this.abandon(`${[...p.awaiting].join(', ')} did not make it durable within the lock timeout`);
    // Eviction: at most 32 voters, looked at every tick (not while this coordinator takes nothing).
    if (this.pending !== null || !this.ctx.identity.serving) return;
    const out = new Map<Member, string>();
    for (const id of this.config.voters) {
      const m = this.members.get(id) as Member;
      if (m.status.kind === 'up' || m.status.kind === 'draining') {
        if (!m.stale) continue;
      }
      if (m.stale) {
        out.set(m, 'it may lack a commit (it lost its link while catching up, or came back behind)');
        continue;
      }
      if (m.notUpSince === null) m.notUpSince = now;
      if (now - m.notUpSince >= this.ctx.cfg.evictAfterMs) out.set(m, `not up for ${((now - m.notUpSince) / 1000).toFixed(1)} s (--evict-after ${this.ctx.cfg.evictAfterMs / 1000})`);
    }
    this.evict(out);
  }

  /** For status: the role and, for a learner, its progress. */
  describe(m: Member): Record<string, unknown> {
    const role = this.isVoter(m.id) ? 'voter' : m.leaving ? 'leaving' : m.status.kind === 'down' ? 'evicted' : 'learner';
    const out: Record<string, unknown> = { role };
    const s = m.stream;
    if (role === 'learner' || role === 'leaving' || m.status.kind === 'draining') {
      const phase = m.status.kind === 'copying' ? 'copying' : m.status.kind === 'streaming' || m.status.kind === 'draining' ? 'streaming' : 'resolving';
      const behind = s === null ? 0 : s.sent - s.applied + (s.held?.length ?? 0);
      out.learner = { phase, behind, copied_rows: m.copied.rows, copied_bytes: m.copied.bytes };
    }
    return out;
  }

  // -------------------------------------------------------------------------

  invariants(): void {
    assert(this.members.size <= LIMITS.maxWorkers, () => `member.count: ${this.members.size} members, over the limit of ${LIMITS.maxWorkers}`);
    for (const m of this.members.values()) {
      assert(m.told.size <= LIMITS.maxWorkers, () => `member.told: ${m.id}'s link was told ${m.told.size} addresses, over the limit of ${LIMITS.maxWorkers}`);
      assert(m.status.kind !== 'down' || m.told.size === 0, () => `member.told: ${m.id} is down and its link's address book is not empty`);
      const q = m.votes;
      assert(q.ahead.size <= LIMITS.votesAhead && (q.ahead.size > 0) === (q.missingSince !== null), () => `member.votes: ${m.id} holds ${q.ahead.size} votes ahead, missing since ${q.missingSince ?? 'never'}`);
      for (const n of q.ahead.keys()) assert(n > q.taken + 1, () => `member.votes: ${m.id} holds vote ${n}, and ${q.taken} were taken`);
    }
    assert(this.progress.size === this.members.size, () => `member.deadline: ${this.progress.size} progress deadlines for ${this.members.size} members`);
    for (const id of this.config.voters) assert(this.members.has(id), () => `config.voters: voter ${id} is not a member`);
    const p = this.pending;
    if (p !== null) {
      assert(p.config.n > this.config.n && p.config.n <= this.highestProposed, () => `config.pending: configuration ${p.config.n} proposed while ${this.config.n} is in use (highest proposed ${this.highestProposed})`);
      for (const v of p.awaiting) assert(p.config.voters.includes(v) && (p.phase === 'committing' || p.phase === 'proposing' || this.isLinked(v)), () => `config.pending: configuration ${p.config.n} awaits ${v}, which is ${this.isLinked(v) ? 'not one of its voters' : 'not linked'}`);
      assert(p.phase !== 'committing' || p.awaiting.size === 0, () => `config.pending: configuration ${p.config.n} is being committed with acks awaited`);
    }
    for (const m of this.members.values()) {
      const s = m.status;
      assert(this.progress.has(m.id), () => `member.deadline: member ${m.id} has no progress deadline`);
      if (s.kind === 'resolving') assert(s.owed.size > 0, () => `member.owed: member ${m.id} is resolving and owes nothing`);
      if (s.kind === 'copying') {
        const donor = this.members.get(s.donor);
        assert(donor !== undefined && donor.status.kind === 'up' && this.isVoter(donor.id) && donor.id !== m.id, () => `member.donor: member ${m.id} copies from ${s.donor}, which is ${donor?.status.kind ?? 'not a member'}`);
      }
      const voter = this.isVoter(m.id);
      if (s.kind === 'copying' || s.kind === 'streaming') assert(!voter, () => `member.role: ${m.id} is ${s.kind} and votes`);
      if (s.kind === 'draining') assert(voter, () => `member.role: ${m.id} is draining and does not vote`);
      if (m.stream !== null) {
        assert(s.kind === 'copying' || s.kind === 'streaming' || s.kind === 'draining' || (s.kind === 'waiting' && !voter), () => `member.role: ${m.id} has a stream and is ${s.kind}`);
        assert(m.stream.held === null || m.stream.held.length <= LIMITS.learnerBufferCommits, () => `member.role: ${m.id} holds ${m.stream?.held?.length ?? 0} commits`);
        assert(m.stream.held === null || s.kind !== 'streaming', () => `member.role: ${m.id} streams and still holds commits`);
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
