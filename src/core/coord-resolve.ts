// The operator's last resort (`tweetdb admin resolve TXID commit|abort`): settle by hand a
// transaction that workers hold prepared and the coordinator no longer knows (its data directory
// was lost). Safe by construction: the coordinator refuses a transaction it still tracks
// (automatic resolution owns it), asks every member what its record says, and acts only when
// every member answered, every voter named by a prepared record is among them, and no record
// decides the transaction. Only abort is carried out (see `refusal`): it goes to the workers that
// hold the transaction prepared, as the coordinator's own abort would.

import type { CoordinatorContext } from './coord-context.ts';
import { errorReply } from '../wire/errors.ts';
import type { ClientRequest, TxnKnowledge } from './types.ts';

type ResolveRequest = Extract<ClientRequest, { action: 'resolve' }>;

/** What came of a resolve: only looked (dry run), done, nothing to do, or refused (with the reason). */
export type ResolveVerdict = 'dry_run' | 'resolved' | 'nothing_to_do' | 'refused';

export function resolveTxn(ctx: CoordinatorContext, conn: number, slot: number, req: ResolveRequest, now: number): void {
  const tracked = trackedPhase(ctx, req.txid);
  if (tracked !== null) {
    ctx.reply(conn, slot, errorReply('INVALID', `transaction ${req.txid} is ${tracked} on this coordinator, so automatic resolution settles it; nothing was changed (see status)`));
    return;
  }
  ctx.reads.askEveryMember(conn, slot, { kind: 'txn', txid: req.txid }, now, (parts) => {
    const workers = ctx.reads.byMember(parts);
    // The question took a while: the transaction may have become known meanwhile (only a txid of this epoch can).
    const trackedNow = trackedPhase(ctx, req.txid);
    const views = workers.map((w) => ({ id: w.id as string, txn: (w.txn as TxnKnowledge | undefined) ?? null, why: typeof w.error === 'string' ? w.error : `it is ${String(w.state)}` }));
    const prepared = views.filter((v) => v.txn?.state === 'prepared').map((v) => v.id);
    let verdict: ResolveVerdict;
    let reason: string;
    const refused = trackedNow !== null ? `transaction ${req.txid} is now ${trackedNow} on this coordinator: automatic resolution settles it` : refusal(req, views, prepared);
    if (refused !== null) {
      verdict = 'refused';
      reason = refused;
    } else if (prepared.length === 0) {
      verdict = 'nothing_to_do';
      reason = `no worker holds ${req.txid} prepared: nothing to resolve`;
    } else if (!req.confirm) {
      verdict = 'dry_run';
      reason = `would send ${req.outcome} to ${prepared.join(', ')}`;
    } else {
      verdict = 'resolved';
      reason = `sent ${req.outcome} to ${prepared.join(', ')}`;
      for (const w of prepared) ctx.send(w, { type: 'abort', txid: req.txid });
      ctx.counters.manualResolutions[req.outcome]++;
      // Loud on purpose: a person overrode the protocol; the log is the record of who decided what.
      ctx.log('error', `transaction ${req.txid} resolved BY HAND as ${req.outcome} (tweetdb admin resolve): ${reason}`, { txid: req.txid, outcome: req.outcome, workers: prepared });
    }
    ctx.reply(conn, slot, { status: 'OK', txid: req.txid, outcome: req.outcome, verdict, reason, workers });
  });
}

/** Why this resolve must not be carried out, or null when it may. */
function refusal(req: ResolveRequest, views: { id: string; txn: TxnKnowledge | null; why: string }[], prepared: string[]): string | null {
  const other = req.outcome === 'commit' ? 'abort' : 'commit';
  const decided = views.find((v) => v.txn?.state === other);
  if (decided !== undefined) {
    return `worker ${decided.id} has ${req.txid} ${other === 'commit' ? 'committed' : 'aborted'}: ${req.outcome} would make the copies differ (the prepared workers learn the outcome from it by themselves)`;
  }
  if (prepared.length === 0) return null;
  const silent = views.find((v) => v.txn === null);
  if (silent !== undefined) return `worker ${silent.id} did not say what it knows of ${req.txid} (${silent.why}): its record might decide it; try again once it is up`;
  const answered = new Set(views.map((v) => v.id));
  for (const v of views) {
    if (v.txn?.state !== 'prepared') continue;
    const missing = v.txn.voters.find((id) => !answered.has(id));
    if (missing !== undefined) return `voter ${missing}, named by the prepared record on ${v.id}, is not a member of this cluster: its record might decide ${req.txid}; bring it back first`;
  }
  if (req.outcome === 'commit') {
    // Commit by hand would need a commit sequence number logged as a decision and every copy to
    // apply it in that order; and it is never needed: if any voter committed, the others learn it
    // from it, and if none did, no client was told OK (OK waits for the commit applied), so abort is safe.
    return `commit by hand is not supported: no record says ${req.txid} committed, so no client was told it did; resolve it as abort`;
  }
  return null;
}

function trackedPhase(ctx: CoordinatorContext, txid: string): string | null {
  const t = ctx.commit.txns.get(txid);
  if (t !== undefined) return `in flight (${t.phase})`;
  if (ctx.commit.decisions.has(txid)) return 'committed with a durable decision';
  return null;
}
