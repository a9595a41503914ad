// Code probes (as FoundationDB's CODE_PROBE): a named mark at each rare branch of the protocol,
// counted when a run takes it. The simulator resets the counts before a seed and reads them
// after; a test holds that the CI seeds reach every probe declared here at least once, so a
// branch the simulated faults never exercise shows up as a missed probe rather than as silence.
//
// Pure: a module-level count per declared name, no clock, no I/O. Production counts too (a map
// increment on a rare branch); nothing reads the counts there.

/** Every probe, with the branch it marks. A name used in probe() must be declared here (the type says so). */
export const PROBES = {
  // The worker core (src/core/worker.ts)
  'worker.abort_while_preparing': 'an abort arrived while the prepared record was still being written; it is queued behind it',
  'worker.duplicate_commit': 'a commit arrived again while the first was still being applied',
  'worker.commit_after_forgotten': 'a commit arrived for a transaction already committed and forgotten; it is acknowledged again',
  'worker.empty_rollback': 'an abort arrived for a transaction this worker never saw; it leaves a tombstone',
  'worker.prepare_unknown_voter': 'a prepare named a voter whose address this link was never told (the prepare that told it was lost or overtaken); the link is closed',
  'worker.hanging_prepare_refused': 'a prepare arrived after its transaction was aborted here (or expired); the vote is NO',
  'worker.repeated_prepare_revoted': 'a repeated prepare of a transaction already prepared was answered YES again',
  'worker.lock_timeout_abort': 'a transaction still collecting locks outlived the lock timeout and was aborted by the worker alone',
  'worker.recovered_prepared': 'a worker restarted with prepared transactions on disk and asks for their outcomes at once',
  'worker.resolved_by_peer': 'a prepared worker learnt the outcome from another voter (cooperative termination)',
  'worker.not_a_voter_refused': 'a worker refused a prepare or lock: it is no voter, the configuration is older than the one that admitted it, or a replicate before it is missing',
  'worker.replicate_ahead': 'a replicate arrived ahead of one still missing (the network reordered them) and was held',
  'worker.peer_told_never_voted': 'another voter asked about a transaction this worker never voted on; it promised never to (a tombstone) and said abort',
  'worker.prepare_behind_row': 'a prepare arrived after a newer commit wrote one of its rows (its prepare was overtaken); the vote is NO',
  'worker.prevented_unseen': 'prevent arrived for a transaction this worker never saw: it refused it durably (a tombstone), then said so',
  'worker.prevent_met_yes': 'prevent arrived for a transaction this worker holds a durable YES for: it said YES again and kept it',
  'worker.implicit_commit_by_peers': 'a prepared worker heard from every other voter that it holds a durable YES: committed, without the coordinator',
  'worker.read_blocked_in_doubt': 'a read touched a transaction this worker told another voter it holds a YES for, unsettled here: it was sent elsewhere',
  'worker.one_phase_commit': 'a transaction with this worker as its only voter was committed in one phase (its YES, then its commit at once, with no second round)',
  'worker.joined_cluster': 'a worker with no cluster took its first coordinator\'s hello and now belongs to that cluster',
  'worker.refused_other_cluster': 'a coordinator of another cluster dialled this worker: its hello was refused and the link closed',
  'worker.refused_older_coordinator': 'a coordinator with a lower epoch than the one this worker obeys (or the same epoch from another process) was refused',
  'worker.config_from_prepare': 'a prepare came from a configuration newer than the one this worker heard of (its config message lost or overtaken): learnt from it',
  'worker.replicate_key_held': 'a replicate arrived for a key held by a transaction prepared here; no other transaction takes that key until the replicate is written',
  'worker.one_phase_recovered': 'a sole voter restarted holding a prepared record: committed at once (its durable YES is every YES)',
  // The coordinator core (src/core/coord-*.ts)
  'coord.query_not_decided': 'a prepared worker asked about a transaction with no commit decided here; it is not told abort (no presumed abort)',
  'coord.prevent_started': 'a transaction whose prepare went out could not commit as things stood (a voter down or silent): its voters were asked to prevent it',
  'coord.prevent_found_every_yes': 'asking the voters to prevent a transaction found that every one of them holds a YES: it committed',
  'coord.refusal_ack': 'a voter refused a transaction durably (an abort ack for it before any decision): it aborts',
  'coord.commit_learnt_from_voter': 'a voter reported a transaction committed (its voters settled it) before this coordinator decided it',
  'coord.in_doubt_reply': 'a lock timeout passed with every reachable voter holding a YES and another unreachable: the client heard IN_DOUBT',
  'coord.orphan_adopted': 'a worker\'s state named a transaction this coordinator did not know (lost in a restart): its voters were asked to prevent it',
  'coord.decision_resent_on_query': 'a prepared worker asked about a decided commit; the commit was sent again',
  'coord.decision_redriven': 'a worker linking again was owed logged commits or aborts, re-sent after its hello',
  'coord.duplicate_vote_ignored': 'a vote arrived for a transaction no longer waiting on it (a duplicate, or too late)',
  'coord.stray_abort_ack': 'an abort ack arrived for a transaction not aborting (a worker that timed out alone), and was not taken as a vote',
  'coord.silent_voter_cut_off': 'a voter did not answer a lock or prepare within the lock timeout and was cut off',
  'coord.unapplied_commit_cut_off': 'a linked voter did not report a commit applied within the lock timeout and was cut off (the client is answered without it)',
  'coord.silent_ack_cut_off': 'a linked voter did not report a commit durable (its ack) within the lock timeout and was cut off',
  'coord.rejoin_stalled_cut_off': 'a rejoining worker made no progress (hello, owed outcomes, copy) within the lock timeout and was cut off',
  'coord.wrong_identity_redial': 'another identity answered at a member\'s address; the link is dialled again later',
  'coord.member_replaced': 'a new identity registered at a known address and replaced the old member',
  'coord.copy_started': 'a worker behind the others started a full copy from an up worker',
  'coord.copy_finished': 'a full copy to a joining worker finished',
  'coord.copy_resumed': 'a learner whose donor went away resumed its copy from another voter, at the same row',
  'coord.copy_restarted_for_orphan': 'a transaction lost in a restart was adopted while a learner copied: its copy starts over once the transaction is settled and applied',
  'coord.ack_waits_for_votes': 'a commit was acked before its vote while an earlier vote of that worker was missing: it waits for the votes, in order',
  'coord.one_phase_lock_stands': 'a write touched a key of a one-phase transaction not decided yet, with a voter that transaction lacks: LOCKED, as its locks would have said under two phases',
  'coord.vote_held_for_order': 'a vote came ahead of one its worker sent before it (a network that reorders): it waits for that one',
  'coord.late_commit_restarts_copies': 'a commit was decided late (from the answer to prevent, or a voter\'s ack): learners\' copies start over once it is applied, none takes it from a stream',
  'coord.copy_donor_lost': 'the donor of a learner\'s copy went down while the copy ran',
  'coord.first_voter': 'the first worker to answer a coordinator with no voter became the first voter',
  'coord.learner_promoted': 'a learner near the end of its stream was proposed as a voter',
  'coord.voter_evicted': 'a voter was removed from the configuration (down past --evict-after, or stale)',
  'coord.draining_voter_lost': 'a voter promoted while still applying its stream lost its link: it is stale and evicted',
  'coord.worker_removed': 'the operator removed a worker (remove_worker)',
  'coord.learner_lost_while_copying': 'a learner went down in the middle of its copy; it starts over when it is back',
  'coord.stale_voter_refused_writes': 'a write was refused while a voter that may lack a commit (stale) waited to be evicted',
  'coord.config_change_abandoned': 'a configuration change was abandoned: one of its voters did not make it durable (it went away, or was silent for a lock timeout)',
  'coord.min_voters_refused': 'a write was refused because fewer workers vote than --min-voters asks',
  'coord.cluster_adopted': 'a coordinator with no data took over the cluster of the first worker that registered holding one (it recovers)',
  'coord.recovered': 'a recovering coordinator heard from every voter of the newest configuration and took the cluster over',
  'coord.worker_of_other_cluster_refused': 'a worker holding another cluster\'s data tried to register: refused, nothing changed',
  'coord.store_found_behind': 'a worker knew a newer configuration or commit than this coordinator\'s data directory: it is behind (restored from a copy), and recovers',
  'coord.fenced': 'a worker obeys a live coordinator newer than this one: this one takes nothing',
  'coord.epoch_raised_for_takeover': 'a worker obeyed a coordinator newer than this one that is gone: this one takes over at a higher epoch',
  'coord.read_retried': 'a read went to another worker because the first went down or did not answer',
  'coord.client_left_while_deciding': 'a client closed its connection while its transaction was being decided; it runs to its end',
  'coord.interactive_timeout': 'an interactive transaction left open past the lock timeout was aborted',
  // The runtime shell (src/node)
  'node.coordinator_link_replaced': 'a worker got a new link from the coordinator while the old one was still open',
  'node.worker_reregisters': 'a worker without a coordinator link for a while registered again',
  'node.message_before_hello_dropped': 'a message arrived on a coordinator\'s new link before its hello (overtaken on the way) and was dropped',
  'node.stale_read_answer_dropped': 'a read answer arrived that nobody waits for (a duplicate, or a read moved to another worker)',
} as const;

export type ProbeName = keyof typeof PROBES;

/** Counts by name; only declared names, so it never holds more than PROBES has. */
const hits = new Map<ProbeName, number>();

/** Marks that the branch named `name` was taken. */
export function probe(name: ProbeName): void {
  hits.set(name, (hits.get(name) ?? 0) + 1);
}

/** How often each probe was hit since the last reset (probes never hit are absent). */
export function probeHits(): ReadonlyMap<ProbeName, number> {
  return new Map(hits);
}

export function resetProbes(): void {
  hits.clear();
}

/** Every declared probe name. */
export function probeNames(): ProbeName[] {
  return Object.keys(PROBES) as ProbeName[];
}
