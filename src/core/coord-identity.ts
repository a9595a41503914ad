// The coordinator's identity and its standing: which cluster it serves, its epoch (its term: a
// worker refuses any coordinator older than the one it obeys), and whether it may take writes.
//
// The rules (docs/DECISIONS.md 74-76):
// - a coordinator with an empty data directory knows no cluster: it adopts the cluster of the
//   first worker that registers holding one, and forms a new cluster (a new id) only when told to
//   (--new-cluster): formed on its own, with a worker holding no data that happened to register
//   first, it would strand every worker of the old cluster, and their data with them;
// - a worker of another cluster is refused when it registers, and refuses this coordinator's link;
// - a coordinator that lost its data directory, or whose data directory is older than what its
//   workers hold (restored from a copy), is *recovering*: it takes an epoch above every epoch its
//   workers obeyed, starts its commit sequence numbers above every one they hold or were told of,
//   and takes no write, and no read, until every voter of the newest configuration any of them
//   knows has answered its hello (and so obeys it). Every transaction that may have committed had
//   a durable YES from each voter of its configuration, configurations change one voter at a time,
//   and a worker learns the configuration of every prepare it takes: once all those voters answered
//   and none knows a newer configuration, nothing newer exists, and each of them has every commit.
//   It then logs a configuration numbered above every one it heard of, with those voters;
// - a worker that refuses this coordinator because it obeys a newer one that is live fences this
//   coordinator: it takes nothing until that one is gone. One that obeys a newer coordinator that
//   is gone makes this one recover, above that epoch.

import { assert } from './assert.ts';
import { LIMITS, type CoordinatorContext, type RecoveringWhy } from './coord-context.ts';
import { probe } from './probes.ts';

/** How long a coordinator that did not form its cluster in this run waits before it chooses a first voter (twice a worker's re-registration, 5 s). */
export const FIRST_VOTER_GRACE_MS = 10_000;
import type { ClusterKnowledge, Failure, FromWorker, KnownConfig, WorkerState } from './types.ts';

/** What a worker said in answer to this coordinator's hello: the newest configuration it knows, what it holds. */
interface Report {
  /** The configuration it has in use, and one proposed to it and newer (it may never have been used). */
  config: KnownConfig;
  proposed: KnownConfig | null;
  maxCseq: number;
  reserved: number;
}

/** What a worker says it knows of configurations (in its registration, or in its state). */
type Knows = Pick<Report, 'config' | 'proposed'>;

/**
 * Where the coordinator stands:
 * - forming: an empty data directory and no cluster yet (it was not told to form one): it waits for
 *   a worker of an existing cluster, and links nobody (its hello names a cluster);
 * - recovering: it takes over a cluster whose history it lacks, from what its workers answer (why:
 *   its data directory was empty, or is older than theirs);
 * - fenced: a worker obeys a newer coordinator that is live: this one takes nothing;
 * - serving.
 *
 * Invariants:
 * - identity.cluster: only a forming coordinator has no cluster;
 * - identity.epoch: the epoch in use is never below one being written.
 */
export type Standing =
  | { kind: 'forming' }
  | { kind: 'recovering'; why: RecoveringWhy; reports: Map<string, Report> }
  | { kind: 'fenced'; epoch: number; by: string }
  | { kind: 'serving' };

export class ClusterIdentity {
  private readonly ctx: CoordinatorContext;
  cluster: string | null;
  standing: Standing;
  /** This coordinator process: a worker that obeys epoch E of another run refuses this one's E. */
  readonly run: string;
  /** The identity (cluster and epoch) as last written, and whether that write is durable: nobody is linked before it is. */
  private writes = 0;
  private durableWrite = 0;
  /** It started with an empty data directory (the sabotage 'wiped_coordinator_starts_at_epoch_1' applies only then). */
  private readonly startedEmpty: boolean;
  /** It formed its cluster in this run (--new-cluster on an empty data directory): its first voter may be chosen at once. */
  private readonly formedNow: boolean;
  /** When this run started (start()). */
  private startedAt = 0;
  /** The workers that refused this coordinator as of another cluster (status shows them). */
  readonly foreign = new Map<string, string>();
  /**
   * Recovering: the configurations registering workers said they know (before they obeyed this
   * coordinator, so only to wait for more, never less), by worker.
   */
  private readonly registered = new Map<string, Knows>();

  constructor(ctx: CoordinatorContext, cluster: string | null, empty: boolean, recovering: RecoveringWhy | null = null) {
    this.ctx = ctx;
    this.run = ctx.cfg.run;
    this.startedEmpty = cluster === null && empty;
    if (cluster === null && !empty) {
      // A store from before cluster ids: its cluster gets one now, and its workers take it at hello.
      cluster = ctx.cfg.newClusterId;
    }
    this.formedNow = cluster === null && ctx.cfg.newCluster;
    if (this.formedNow) cluster = ctx.cfg.newClusterId;
    this.cluster = cluster;
    this.standing = cluster !== null ? { kind: 'serving' } : { kind: 'forming' };
    // Stopped while recovering: its store is still not the cluster's (a configuration with no voter,
    // or an old one): it recovers again. Served as it is, a fresh worker could be made the first
    // voter of a cluster whose voters hold everything (simulator seed 802279).
    if (cluster !== null && recovering !== null) this.standing = { kind: 'recovering', why: recovering, reports: new Map() };
    if (cluster === null && ctx.cfg.sabotage === 'wiped_coordinator_starts_at_epoch_1') {
      // Sabotage: a coordinator that lost its data takes the first worker's cluster and serves at once, at its own epoch.
      this.standing = { kind: 'serving' };
    }
  }

  // -------------------------------------------------------------------------
  // Questions

  /** Links go out only once the identity their hello names is durable. */
  get linksAllowed(): boolean {
    return this.cluster !== null && this.durableWrite === this.writes;
  }

  get serving(): boolean {
    return this.standing.kind === 'serving';
  }

  /** Why no write (or read) is taken now, or null. */
  refusal(): Failure | null {
    const s = this.standing;
    switch (s.kind) {
      case 'serving':
        return null;
      case 'forming':
        return { code: 'UNAVAILABLE', error: 'this coordinator has no data: it takes over the cluster of the first worker holding that cluster\'s data to register; to start a new cluster instead, start it with --new-cluster' };
      case 'recovering': {
        const waiting = this.waitingFor();
        const why = s.why === 'empty' ? 'it started with an empty data directory' : 'its data directory is older than what its workers hold';
        const newest = this.newestInUse();
        const who =
          waiting.length > 0
            ? `waiting for ${waiting.map((w) => `worker ${w}`).join(', ')} (voters of configuration ${newest.n}, or of a newer one proposed) to register and answer`
            : newest.voters.length === 0
              ? 'waiting for a worker that has voted in this cluster to register and answer'
              : 'taking over';
        return { code: 'UNAVAILABLE', error: `this coordinator is recovering cluster ${this.cluster ?? '?'} (${why}): ${who}; writes resume once they have` };
      }
      case 'fenced':
        return { code: 'UNAVAILABLE', error: `this coordinator is fenced: worker ${s.by} obeys a newer coordinator (epoch ${s.epoch}) that is live; this one (epoch ${this.ctx.epoch}) takes nothing: stop it, or stop the other one` };
    }
  }

  /** The workers a takeover waits for that have not answered this coordinator's hello yet. */
  waitingFor(): string[] {
    const s = this.standing;
    if (s.kind !== 'recovering') return [];
    return [...this.mustHear()].filter((v) => !s.reports.has(v));
  }

  /** Everything known now: what answered (fenced), what registered (to wait for more, never less), and this store's own. */
  private everythingKnown(): Knows[] {
    const s = this.standing;
    const own = this.ctx.members.config;
    const all: Knows[] = [{ config: { n: own.n, voters: [...own.voters], catching_up: [...own.catchingUp] }, proposed: null }];
    if (s.kind === 'recovering') all.push(...s.reports.values(), ...this.registered.values());
    return all;
  }

  /** The newest configuration in use that anyone knows; for one number, the union of what they say. */
  private newestInUse(): KnownConfig {
    let best: KnownConfig = { n: -1, voters: [], catching_up: [] };
    for (const k of this.everythingKnown()) {
      const c = k.config;
      if (c.n > best.n) best = { n: c.n, voters: [...c.voters], catching_up: [...c.catching_up] };
      else if (c.n === best.n) {
        for (const v of c.voters) if (!best.voters.includes(v)) best.voters.push(v);
        for (const v of c.catching_up) if (!best.catching_up.includes(v)) best.catching_up.push(v);
      }
    }
    return best;
  }

  /**
   * Who must have answered before a takeover: the voters of the newest configuration in use anyone
   * knows, and of every proposal newer than it anyone made durable. Such a proposal may have been
   * put in use since, or abandoned for another (simulator seed 1714: a first voter proposed, then
   * abandoned for another); either way its voters, and through them any later configuration (each
   * shares a voter with the one before, and is durable on all of its voters before it is used),
   * are heard before the newest in use is trusted.
   */
  private mustHear(): Set<string> {
    const newest = this.newestInUse();
    const out = new Set(newest.voters);
    for (const k of this.everythingKnown()) if (k.proposed !== null && k.proposed.n > newest.n) for (const v of k.proposed.voters) out.add(v);
    return out;
  }

  /** For status: the cluster, the epoch, and where this coordinator stands. */
  describe(): Record<string, unknown> {
    const s = this.standing;
    // `run`: this coordinator process (with the epoch, what a worker obeys); the node fuzzer shows itself as it.
    const out: Record<string, unknown> = { id: this.cluster, epoch: this.ctx.epoch, run: this.run, state: s.kind };
    if (s.kind === 'recovering') {
      out.why = s.why === 'empty' ? 'empty data directory' : 'data directory older than the workers\'';
      out.waiting_for = this.waitingFor();
    }
    if (s.kind === 'fenced') out.fenced_by = { worker: s.by, epoch: s.epoch };
    if (s.kind !== 'serving') out.reason = this.refusal()?.error;
    if (this.foreign.size > 0) out.foreign_workers = Object.fromEntries(this.foreign);
    return out;
  }

  // -------------------------------------------------------------------------
  // Events

  /** Effects at start: the identity written (durable before anyone is linked). */
  start(now: number): void {
    this.startedAt = now;
    this.write();
  }

  /**
   * May a first voter be chosen now (a cluster with no voter, and no first voter proposed)? At once
   * if this coordinator formed the cluster in this run. Otherwise its store may be an old copy taken
   * before the cluster's first voter, and the workers that hold the cluster may not have registered
   * yet (they do within RELINK: 5 s without a link): a fresh worker made first voter meanwhile would
   * start a history beside theirs. It waits FIRST_VOTER_GRACE_MS; a worker that registers knowing
   * more than this store makes it recover instead (admit).
   */
  mayChooseFirstVoter(now: number): boolean {
    return this.formedNow || now - this.startedAt >= (this.ctx.cfg.firstVoterGraceMs ?? FIRST_VOTER_GRACE_MS);
  }


  /** A log_identity write is durable. */
  logged(seq: number): boolean {
    if (seq > this.durableWrite) this.durableWrite = seq;
    return this.linksAllowed;
  }

  /**
   * A worker registers, saying what it holds of a cluster (`known`).
   * Null: it may; otherwise why it is refused (WRONG_CLUSTER: its data is another cluster's). Forming, it may make this coordinator adopt
   * its cluster. Recovering, the epoch moves above the one it obeyed.
   */
  admit(id: string, k: ClusterKnowledge, member: boolean): string | null {
    if (this.cluster === null) {
      if (k.cluster !== null) {
        probe('coord.cluster_adopted');
        this.registered.set(id, { config: k.config, proposed: k.proposed });
        this.cluster = k.cluster;
        this.ctx.log('warn', `no data here: this coordinator takes over cluster ${k.cluster} from its workers (recovering; writes wait until the voters have answered)`, { cluster: k.cluster, worker: id });
        if (this.ctx.cfg.sabotage === 'wiped_coordinator_starts_at_epoch_1') {
          // Sabotage: it serves at once, at the epoch its empty store gave it, as a new cluster would.
          this.standing = { kind: 'serving' };
          this.write();
          return null;
        }
        this.standing = { kind: 'recovering', why: 'empty', reports: new Map() };
        this.above(k.epoch);
        this.write();
        return null;
      }
      // A worker holding no data waits as a member, and joins whichever cluster this becomes.
      if (k.fresh) return null;
      return `worker ${id} holds data of a cluster without an id (written by tweetdb before cluster ids) and this coordinator has no data: start the coordinator with the data directory of that cluster's coordinator, or this worker on an empty data directory`;
    }
    if (k.cluster !== null && k.cluster !== this.cluster) {
      probe('coord.worker_of_other_cluster_refused');
      return `worker ${id} holds the data of cluster ${k.cluster}; this coordinator serves cluster ${this.cluster}: nothing was changed. To add it to ${this.cluster}, start it on an empty data directory; otherwise point it at the coordinator of ${k.cluster}`;
    }
    if (k.cluster === null && !k.fresh && !member) {
      return `worker ${id} holds data but no cluster id (written by tweetdb before cluster ids) and is not a member of cluster ${this.cluster}: start it on an empty data directory to add it`;
    }
    if (this.standing.kind === 'recovering') this.above(k.epoch);
    else if (this.standing.kind === 'serving' && this.knowsMore(k.config, k.proposed, k.max_cseq, k.reserved) && !(this.ctx.cfg.sabotage === 'wiped_coordinator_starts_at_epoch_1' && this.startedEmpty)) {
      // Its worker knows what this store never wrote: the store is older than the cluster.
      probe('coord.store_found_behind');
      this.ctx.log('warn', `worker ${id} registered knowing configuration ${Math.max(k.config.n, k.proposed?.n ?? 0)} and commits up to ${Math.max(k.max_cseq, k.reserved)}; this coordinator's data directory is older than the cluster (restored from a copy?); recovering`, { worker: id });
      this.recover('behind');
    }
    return null;
  }

  /** Does a worker know a configuration, or a commit number, this store never wrote? (Against the highest number proposed here: a worker keeps a proposal that was abandoned.) */
  private knowsMore(config: KnownConfig, proposed: KnownConfig | null, maxCseq: number, reserved: number): boolean {
    return Math.max(config.n, proposed?.n ?? 0) > this.ctx.members.highestProposedN || reserved > this.ctx.cseqLimit || maxCseq > this.ctx.cseqLimit;
  }

  /** A worker registered (admitted): what it said it knows counts for a takeover's wait. */
  registeredWith(id: string, k: ClusterKnowledge): void {
    if (this.standing.kind === 'recovering' && this.registered.size < LIMITS.maxWorkers) this.registered.set(id, { config: k.config, proposed: k.proposed });
  }

  /**
   * A member answered this coordinator's hello (its state): it obeys this coordinator now. While
   * recovering, its report counts; serving, a report newer than this coordinator's own store (a
   * configuration, or a cseq past every reservation) says this store is behind: it recovers.
   */
  heard(worker: string, s: WorkerState): void {
    const st = this.standing;
    if (st.kind === 'recovering') {
      st.reports.set(worker, { config: s.known_config, proposed: s.proposed_config, maxCseq: s.max_cseq, reserved: s.reserved });
      return;
    }
    if (st.kind !== 'serving') return;
    const own = this.ctx.members.highestProposedN;
    if (this.knowsMore(s.known_config, s.proposed_config, s.max_cseq, s.reserved)) {
      probe('coord.store_found_behind');
      this.ctx.log('warn', `worker ${worker} knows configuration ${s.known_config.n} and commits up to ${Math.max(s.max_cseq, s.reserved)}; this coordinator's data directory knows only configuration ${own} and commits up to ${this.ctx.cseqLimit}: it is older than the cluster (restored from a copy?); recovering`, { worker });
      this.recover('behind');
    }
  }

  /** A member refused this coordinator's hello and closed the link. */
  refused(worker: string, msg: Extract<FromWorker, { type: 'refused' }>): void {
    if (msg.reason === 'cluster') {
      this.foreign.set(worker, msg.cluster ?? '?');
      this.ctx.log('error', `worker ${worker} refused this coordinator: ${msg.error}`, { worker, cluster: msg.cluster });
      return;
    }
    if (this.ctx.cfg.sabotage === 'wiped_coordinator_starts_at_epoch_1' && this.startedEmpty) return; // (it never learns)
    if (msg.live) {
      if (this.standing.kind !== 'fenced') {
        probe('coord.fenced');
        this.ctx.log('error', `fenced: worker ${worker} obeys a live coordinator of epoch ${msg.epoch}; this coordinator (epoch ${this.ctx.epoch}) takes nothing until that one is gone`, { worker, epoch: msg.epoch });
        this.standing = { kind: 'fenced', epoch: msg.epoch, by: worker };
        this.ctx.members.relinkAll();
      }
      return;
    }
    // The newer coordinator is gone: this one takes over above it, recovering what it lacks.
    probe('coord.epoch_raised_for_takeover');
    this.ctx.log('warn', `worker ${worker} obeyed a coordinator of epoch ${msg.epoch}, which is gone: this coordinator takes over at epoch ${msg.epoch + 1}`, { worker, epoch: msg.epoch });
    this.above(msg.epoch);
    if (this.standing.kind !== 'recovering') this.recover('behind');
    else this.ctx.members.relinkAll();
  }

  /** The highest configuration number anyone knows, proposals included: a takeover's is above it. */
  highestKnownN(): number {
    let n = 0;
    for (const k of this.everythingKnown()) n = Math.max(n, k.config.n, k.proposed?.n ?? 0);
    return n;
  }

  /**
   * Recovering, once every voter of the newest configuration heard of has answered: take over.
   * Commit sequence numbers start above all that the workers hold or were told of; the voting set
   * is that configuration's, logged under a number above every one heard of. Returns the
   * configuration to log, or null while still waiting.
   */
  readyToTakeOver(): KnownConfig | null {
    const s = this.standing;
    // Someone must have answered: a cluster is taken over from what its workers say, never from nothing.
    if (s.kind !== 'recovering' || this.cluster === null || !this.linksAllowed || s.reports.size === 0) return null;
    let newest = this.newestInUse();
    if ([...this.mustHear()].some((v) => !s.reports.has(v))) return null;
    if (newest.voters.length === 0) {
      // No configuration with a voter was ever in use as far as anyone heard knows. The first voter
      // proposed, if one was (a first voter, once proposed, is the only one proposed until it votes),
      // made it durable before it could be told it was in use: it is the first voter (simulator seed
      // 281: a power cut took the word that it was in use). Otherwise nothing is known yet: workers
      // that know no voter (a learner that lost everything) say nothing of what is newest (seed 438).
      let first: KnownConfig | null = null;
      for (const r of s.reports.values()) if (r.proposed !== null && r.proposed.voters.length > 0 && (first === null || r.proposed.n > first.n)) first = r.proposed;
      if (first === null) return null;
      newest = first;
    }
    let high = 0;
    for (const r of s.reports.values()) high = Math.max(high, r.maxCseq, r.reserved);
    if (high > this.ctx.lastCseq) this.ctx.lastCseq = high;
    // Its first reservation above them is made now, durable by the time the takeover is.
    this.ctx.reserveAhead();
    return newest;
  }

  /** The configuration logged by readyToTakeOver is durable: serving. */
  tookOver(n: number): void {
    probe('coord.recovered');
    this.standing = { kind: 'serving' };
    this.registered.clear();
    this.write(); // no longer recovering, durably
    this.ctx.log('warn', `recovered cluster ${this.cluster ?? '?'}: serving at epoch ${this.ctx.epoch}, configuration ${n}`, { epoch: this.ctx.epoch });
  }

  // -------------------------------------------------------------------------

  private recover(why: RecoveringWhy): void {
    this.standing = { kind: 'recovering', why, reports: new Map() };
    this.registered.clear();
    // Durable before anyone is linked again: a restart recovers again.
    this.write();
    // Everyone answers hello again, to this epoch, and nobody is up until the takeover.
    this.ctx.members.relinkAll();
  }

  /** The epoch moves above `epoch` (one a worker obeyed): written, and nobody is linked again until it is durable. */
  private above(epoch: number): void {
    if (epoch < this.ctx.epoch) return;
    this.ctx.epoch = epoch + 1;
    this.write();
    this.ctx.members.relinkAll();
  }

  private write(): void {
    this.writes++;
    this.ctx.emit({ type: 'log_identity', seq: this.writes, cluster: this.cluster, epoch: this.ctx.epoch, recovering: this.standing.kind === 'recovering' ? this.standing.why : null });
  }

  invariants(): void {
    assert(this.cluster !== null || this.standing.kind === 'forming' || this.ctx.cfg.sabotage === 'wiped_coordinator_starts_at_epoch_1', () => `identity.cluster: a coordinator ${this.standing.kind} has no cluster`);
    assert(this.durableWrite <= this.writes, () => `identity.epoch: write ${this.durableWrite} durable of ${this.writes}`);
  }
}
