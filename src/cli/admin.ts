// `tweetdb admin resolve TXID commit|abort`: the operator's last resort for a transaction that
// workers hold prepared and the coordinator no longer knows. It asks first (the coordinator's
// `resolve` action without confirm: what each worker's record says), prints that as a table,
// and only then, once the operator typed "yes" (or gave --yes), asks again with confirm. The
// coordinator checks everything again on the confirmed request: the table may be stale by then.

import { createInterface } from 'node:readline/promises';
import { TweetdbClient, type ApiReply, type CoordinatorAccess } from '../client/client.ts';
import { escapeForTerminal } from './client.ts';
import { table } from './status.ts';

/** Exit codes, for scripts. */
export const RESOLVE_EXIT = {
  /** Resolved, or nothing to resolve (no worker holds it prepared). */
  done: 0,
  /** Refused: by the coordinator (the reason is printed), or the operator did not type yes. */
  refused: 1,
  /** Not asked: no terminal to confirm on and no --yes, or the coordinator cannot be reached or refused the request. */
  notAsked: 2,
} as const;

const CONNECT_TIMEOUT_MS = 5_000;
/** The coordinator asks every worker, each within its lock timeout: allow for that. */
const REQUEST_TIMEOUT_MS = 60_000;

export interface ResolveOptions {
  coordinator: string;
  txid: string;
  outcome: 'commit' | 'abort';
  yes: boolean;
  access: CoordinatorAccess;
  /** Where the prompt reads from: a terminal, or nothing (the caller says which). */
  stdinIsTty: boolean;
}

interface WorkerTxnView {
  id: string;
  address: string;
  state: string;
  txn?: { state: string; voters?: string[] };
  error?: string;
}

/** One row per worker: its link state and what its record says of the transaction. */
export function renderViews(reply: ApiReply): string[] {
  const workers = (reply.workers as WorkerTxnView[] | undefined) ?? [];
  const rows = workers.map((w) => [w.id, w.address, w.state, w.txn?.state ?? `? (${w.error ?? 'no answer'})`, w.txn?.voters?.join(', ') ?? '-']);
  return table(['WORKER', 'ADDRESS', 'STATE', 'RECORD', 'VOTERS (prepared record)'], rows.map((r) => r.map(escapeForTerminal)));
}

export async function runResolve(o: ResolveOptions): Promise<number> {
  let client: TweetdbClient;
  try {
    client = await TweetdbClient.connect(o.coordinator, CONNECT_TIMEOUT_MS, o.access.tls, o.access.token);
  } catch (e) {
    console.error(`tweetdb admin resolve: cannot reach the coordinator at ${o.coordinator}: ${(e as Error).message}`);
    return RESOLVE_EXIT.notAsked;
  }
  try {
    const ask = (confirm: boolean): Promise<ApiReply> => client.request({ action: 'resolve', txid: o.txid, outcome: o.outcome, confirm }, REQUEST_TIMEOUT_MS);
    const look = await ask(false);
    if (look.status !== 'OK') {
      console.error(`tweetdb admin resolve: the coordinator refused: ${look.code ?? ''} ${escapeForTerminal(look.error ?? '')}`);
      return RESOLVE_EXIT.notAsked;
    }
    console.log(`What each worker knows of transaction ${o.txid}:`);
    for (const line of renderViews(look)) console.log(line);
    const verdict = look.verdict as string;
    const reason = escapeForTerminal(String(look.reason));
    if (verdict === 'refused') {
      console.error(`refused: ${reason}`);
      return RESOLVE_EXIT.refused;
    }
    if (verdict === 'nothing_to_do') {
      console.log(reason);
      return RESOLVE_EXIT.done;
    }
    if (!o.yes) {
      if (!o.stdinIsTty) {
        console.error('tweetdb admin resolve: standard input is not a terminal, so it cannot ask for confirmation; nothing was changed. Add --yes to go ahead.');
        return RESOLVE_EXIT.notAsked;
      }
      console.log(`This ${reason} by hand, overriding two-phase commit.`);
      const rl = createInterface({ input: process.stdin, output: process.stdout });
      const answer = await rl.question('Type yes to go ahead: ');
      rl.close();
      if (answer.trim() !== 'yes') {
        console.error('not confirmed; nothing was changed');
        return RESOLVE_EXIT.refused;
      }
    }
    const done = await ask(true);
    if (done.status !== 'OK') {
      console.error(`tweetdb admin resolve: the coordinator refused: ${done.code ?? ''} ${escapeForTerminal(done.error ?? '')}`);
      return RESOLVE_EXIT.notAsked;
    }
    if (done.verdict !== 'resolved') {
      // Something changed since the table was drawn: show what the coordinator saw this time.
      for (const line of renderViews(done)) console.log(line);
      console.error(`${done.verdict === 'refused' ? 'refused' : 'not done'}: ${escapeForTerminal(String(done.reason))}`);
      return done.verdict === 'nothing_to_do' ? RESOLVE_EXIT.done : RESOLVE_EXIT.refused;
    }
    console.log(`resolved: ${escapeForTerminal(String(done.reason))} (logged by the coordinator at error level)`);
    return RESOLVE_EXIT.done;
  } catch (e) {
    console.error(`tweetdb admin resolve: ${(e as Error).message}`);
    return RESOLVE_EXIT.notAsked;
  } finally {
    client.close();
  }
}
