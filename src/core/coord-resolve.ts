// The operator's last resort (`tweetdb admin resolve TXID commit|abort`): settle by hand what
// automatic resolution cannot. Two cases:
// - a transaction workers hold prepared and the coordinator does not know (before a restarted
//   coordinator has heard their state);
// - a transaction in doubt (every voter it can ask holds a YES) whose missing voters are out of
//   the cluster (evicted or removed): automatic resolution waits for them for ever, and the
//   operator vouches that their disks are lost (DECISIONS 64, 69).
// The coordinator asks every member what its record says and acts only when every member it
// needs answered, every voter named by a prepared record is among them (or is one of the missing
// voters taken out), no record decides the transaction, and no voter holding it told a missing one
// that it holds a YES (that one may have committed on its own). Only abort is carried out.

import type { CoordinatorContext } from './coord-context.ts';
import { errorReply } from '../wire/errors.ts';
import type { ClientRequest, TxnKnowledge } from './types.ts';

type ResolveRequest = Extract<ClientRequest, { action: 'resolve' }>;

/** What came of a resolve: only looked (dry run), done, nothing to do, or refused (with the reason). */
export type ResolveVerdict = 'dry_run' | 'resolved' | 'nothing_to_do' | 'refused';

export function resolveTxn(ctx: CoordinatorContext, conn: number, slot: number, req: ResolveRequest, now: number): void {
  const tracked = trackedPhase(ctx, req.txid);
  if (tracked !== null && ctx.commit.inDoubtOn(req.txid) === null) {
    ctx.reply(conn, slot, errorReply('INVALID', `transaction ${req.txid} is ${tracked} on this coordinator, so automatic resolution settles it; nothing was changed (see status)`));
    return;
  }
  ctx.reads.askEveryMember(conn, slot, { kind: 'txn', txid: req.txid }, now, (parts) => {
    const workers = ctx.reads.byMember(parts);
    // The question took a while: the transaction may have become known, or settled, meanwhile.
    const trackedNow = trackedPhase(ctx, req.txid);
    const waitedFor = ctx.commit.inDoubtOn(req.txid);
    const inDoubt = waitedFor !== null;
    const missing = waitedFor ?? [];
    const views = workers.map((w) => ({ id: w.id as string, txn: (w.txn as TxnKnowledge | undefined) ?? null, why: typeof w.error === 'string' ? w.error : `it is ${String(w.state)}` }));
    const prepared = views.filter((v) => v.txn?.state === 'prepared').map((v) => v.id);
    let verdict: ResolveVerdict;
    let reason: string;
    let refused: string | null;
    if (trackedNow !== null && !inDoubt) refused = `transaction ${req.txid} is now ${trackedNow} on this coordinator: automatic resolution settles it`;
    else if (tracked === null && trackedNow !== null) refused = `transaction ${req.txid} became known to this coordinator while its workers were asked: ask again`;
    else {
      // In doubt, its voters are known: a member that is not one of them holds no record of it.
      const voters = inDoubt ? (ctx.commit.txns.get(req.txid)?.voters ?? []) : null;
      const relevant = voters === null ? views : views.filter((v) => voters.includes(v.id) || (v.txn !== null && v.txn.state !== 'unknown'));
      refused = (inDoubt ? stillReachable(ctx, req.txid, missing) : null) ?? refusal(req, relevant, prepared, missing);
    }
    if (refused !== null) {
      verdict = 'refused';
      reason = refused;
    } else if (prepared.length === 0 && !inDoubt) {
      verdict = 'nothing_to_do';
      reason = `no worker holds ${req.txid} prepared: nothing to resolve`;
    } else if (!req.confirm) {
      verdict = 'dry_run';
      reason = inDoubt
        ? `would abort ${req.txid}, in doubt waiting for ${missing.join(', ')}, taken out of the cluster: only if their disks are lost (were one to come back with a YES, it learns the abort from the others)`
        : `would send ${req.outcome} to ${prepared.join(', ')}`;
    } else {
      verdict = 'resolved';
      if (inDoubt) {
        reason = `aborted ${req.txid}, in doubt waiting for ${missing.join(', ')}, taken out of the cluster: abort sent to its linked voters`;
        ctx.commit.abortByHand(req.txid, now);
      } else {
        reason = `sent ${req.outcome} to ${prepared.join(', ')}`;
        for (const w of prepared) ctx.send(w, { type: 'abort', txid: req.txid });
      }
      ctx.counters.manualResolutions[req.outcome]++;
      // Loud on purpose: a person overrode the protocol; the log is the record of who decided what.
      ctx.log('error', `transaction ${req.txid} resolved BY HAND as ${req.outcome} (tweetdb admin resolve): ${reason}`, { txid: req.txid, outcome: req.outcome, workers: prepared });
    }
    ctx.reply(conn, slot, { status: 'OK', txid: req.txid, outcome: req.outcome, verdict, reason, workers });
  });
}

/**
 * Why this resolve must not be carried out, or null when it may. `gone`: the missing voters of a
 * transaction in doubt, out of the cluster, whose records the operator vouches are lost.
 */
function refusal(req: ResolveRequest, views: { id: string; txn: TxnKnowledge | null; why: string }[], prepared: string[], gone: string[]): string | null {
  const other = req.outcome === 'commit' ? 'abort' : 'commit';
  const decided = views.find((v) => v.txn?.state === other);
  if (decided !== undefined) {
    return `worker ${decided.id} has ${req.txid} ${other === 'commit' ? 'committed' : 'aborted'}: ${req.outcome} would make the copies differ (the prepared workers learn the outcome from it by themselves)`;
  }
  if (prepared.length === 0 && gone.length === 0) return null;
  const silent = views.find((v) => v.txn === null && !gone.includes(v.id));
  if (silent !== undefined) return `worker ${silent.id} did not say what it knows of ${req.txid} (${silent.why}): its record might decide it; try again once it is up`;
  const answered = new Set(views.map((v) => v.id));
  for (const v of views) {
    if (v.txn?.state !== 'prepared') continue;
    const missing = v.txn.voters.find((id) => !answered.has(id) && !gone.includes(id));
    if (missing !== undefined) return `voter ${missing}, named by the prepared record on ${v.id}, is not a member of this cluster: its record might decide ${req.txid}; bring it back first`;
    // It answered a peer's question with "I hold a YES": with every YES, that peer commits on its own.
    if (v.txn.told_peer === true && gone.length > 0) return `worker ${v.id} told another voter it holds a YES for ${req.txid}, so ${gone.join(', ')} may have committed it on its own: an abort could make the copies differ; bring ${gone.length === 1 ? 'it' : 'them'} back instead`;
  }
  if (req.outcome === 'commit') {
    // Commit by hand would need a commit sequence number logged as a decision and every copy to
    // apply it in that order; and it is never needed: if any voter committed, the others learn it
    // from it, and if none did, no client was told OK (OK waits for the commit applied), so abort is safe.
    return `commit by hand is not supported: no record says ${req.txid} committed, so no client was told it did; resolve it as abort`;
  }
  return null;
}

/** A missing voter still in the voting configuration, or linked, may yet answer: automatic resolution waits for it. */
function stillReachable(ctx: CoordinatorContext, txid: string, missing: string[]): string | null {
  const back = missing.find((w) => ctx.members.isVoter(w) || ctx.members.isLinked(w));
  if (back === undefined) return null;
  return `transaction ${txid} waits for ${back}, which is still ${ctx.members.isLinked(back) ? 'linked' : 'a voter'}: automatic resolution settles it when it answers; if its disk is lost, take it out first (it is evicted after --evict-after, or: tweetdb admin remove-worker)`;
}

function trackedPhase(ctx: CoordinatorContext, txid: string): string | null {
  const t = ctx.commit.txns.get(txid);
  if (t !== undefined) return `in flight (${t.phase})`;
  if (ctx.commit.decisions.has(txid)) return 'committed with a durable decision';
  return null;
}
