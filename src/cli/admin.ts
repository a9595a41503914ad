// `tweetdb admin resolve TXID commit|abort`: the operator's last resort for a transaction that
// workers hold prepared and the coordinator no longer knows, or one in doubt waiting for voters
// taken out of the cluster (their disks lost). It asks first (the coordinator's
// `resolve` action without confirm: what each worker's record says), prints that as a table,
// and only then, once the operator typed "yes" (or gave --yes), asks again with confirm. The
// coordinator checks everything again on the confirmed request: the table may be stale by then.
// `tweetdb admin remove-worker ID|ADDRESS`: a worker taken out of the cluster for good.

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
  txn?: { state: string; voters?: string[]; told_peer?: boolean };
  error?: string;
}

/** One row per worker: its link state and what its record says of the transaction. */
export function renderViews(reply: ApiReply): string[] {
  const workers = (reply.workers as WorkerTxnView[] | undefined) ?? [];
  const rows = workers.map((w) => [w.id, w.address, w.state, w.txn === undefined ? `? (${w.error ?? 'no answer'})` : `${w.txn.state}${w.txn.told_peer === true ? ' (told a peer)' : ''}`, w.txn?.voters?.join(', ') ?? '-']);
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

/** Exit codes of `tweetdb admin remove-worker`, as those of `admin resolve`. */
export const REMOVE_EXIT = {
  /** Removed: out of the configuration and the membership. */
  done: 0,
  /** Refused by the coordinator (no such worker, the last voter, ...): the code and reason are printed. */
  refused: 1,
  /** The coordinator could not be reached, or did not answer. */
  notAsked: 2,
} as const;

export interface RemoveWorkerOptions {
  coordinator: string;
  /** The worker's id or its address (HOST:PORT), as `tweetdb status` lists them. */
  worker: string;
  access: CoordinatorAccess;
}

/**
 * `tweetdb admin remove-worker ID|ADDRESS`: a clean decommission. The coordinator takes the worker out
 * of the voting set and the membership (answering once that is durable) and tells it so; the worker
 * stops and its data directory stays as it was. One line either way.
 */
export async function runRemoveWorker(o: RemoveWorkerOptions): Promise<number> {
  let client: TweetdbClient;
  try {
    client = await TweetdbClient.connect(o.coordinator, CONNECT_TIMEOUT_MS, o.access.tls, o.access.token);
  } catch (e) {
    console.error(`tweetdb admin remove-worker: cannot reach the coordinator at ${o.coordinator}: ${(e as Error).message}`);
    return REMOVE_EXIT.notAsked;
  }
  try {
    const r = await client.request({ action: 'remove_worker', worker: o.worker }, REQUEST_TIMEOUT_MS);
    if (r.status !== 'OK') {
      console.error(`tweetdb admin remove-worker: refused: ${r.code ?? r.status} ${escapeForTerminal(r.error ?? '')}`);
      return REMOVE_EXIT.refused;
    }
    console.log(escapeForTerminal(`removed worker ${String(r.removed)}; the voting set is now configuration ${String(r.config)}; the worker stops and keeps its data directory`));
    return REMOVE_EXIT.done;
  } catch (e) {
    console.error(`tweetdb admin remove-worker: no answer from the coordinator at ${o.coordinator}: ${(e as Error).message}`);
    return REMOVE_EXIT.notAsked;
  } finally {
    client.close();
  }
}
