// The one registry of error codes: for each, the status its replies carry (per
// action, where that differs), whether the same request may succeed if sent again,
// what it means and what to do. Every ERROR and ABORT reply is built by
// errorReply() or abortReply() below; the README's error table is renderErrorTable()
// (test/unit/error-registry.test.ts holds them equal, and checks every code the
// source names against this registry).
//
// A write's ABORT is also the reply of the `transaction` holding it and, inside
// `begin`, of every op after it and of the `commit` (README, "The TCP API").

import type { Action, ErrorCode, Failure } from './protocol.ts';
import { DEFAULT_MAX_REQUEST_BYTES, MAX_NESTING_DEPTH, REQUEST_TIMEOUT_MS } from './limits.ts';

export type FailureStatus = 'ERROR' | 'ABORT';

/** The writes: what ABORTs (alone, inside `transaction`, or after `begin`). */
export const WRITE_ACTIONS = ['post', 'update', 'delete', 'put_item', 'delete_item'] as const satisfies readonly Action[];

/** The requests read from a worker's data. */
const READ_ACTIONS = ['get_tweets', 'get_tweet', 'get_item'] as const satisfies readonly Action[];

export interface StatusRule {
  readonly status: FailureStatus;
  /** The requests answered with this status and code; 'any': whatever the request. */
  readonly actions: readonly Action[] | 'any';
  /** A case that is no one action (the framing, a refused connection), as the README says it. */
  readonly also?: string;
}

export interface ErrorCodeSpec {
  /** The status of a reply with this code: one rule, or one per set of actions where they differ. */
  readonly statuses: readonly StatusRule[];
  /** The same request, sent again unchanged, may succeed: the cause passes by itself. */
  readonly retryable: boolean;
  readonly meaning: string;
  /** What to do about it. */
  readonly action: string;
}

const MiB = DEFAULT_MAX_REQUEST_BYTES / 1024 / 1024;
const REQUEST_TIMEOUT_S = REQUEST_TIMEOUT_MS / 1000;

export const ERROR_CODES = {
  INVALID: {
    statuses: [{ status: 'ERROR', actions: 'any' }],
    retryable: false,
    meaning: `malformed request: unknown action, missing or wrong field, content too long, a lone surrogate in any string, nesting past ${MAX_NESTING_DEPTH} levels; \`begin\`, \`commit\` or \`abort\` out of turn; \`auth\` to a coordinator without a client token; \`register\` to a full cluster; \`remove_worker\` of the only voter that is up; invalid JSON, or input ending inside a request (these two close the connection)`,
    action: 'fix the request; nothing changed',
  },
  TOO_LARGE: {
    statuses: [{ status: 'ERROR', actions: 'any' }],
    retryable: false,
    meaning: `request over ${MiB} MiB; the connection is closed`,
    action: 'send less',
  },
  LOCKED: {
    statuses: [{ status: 'ABORT', actions: WRITE_ACTIONS }],
    retryable: true,
    meaning: 'another transaction holds a lock on the item (no waiting)',
    action: 'retry shortly',
  },
  NOT_FOUND: {
    statuses: [
      { status: 'ABORT', actions: ['update', 'delete', 'delete_item'] },
      { status: 'ERROR', actions: ['get_tweet', 'get_item', 'remove_worker'] },
    ],
    retryable: false,
    meaning: 'the id (or the item\'s key, or the worker named by `remove_worker`) does not exist',
    action: 'check the id',
  },
  EXISTS: {
    statuses: [
      { status: 'ABORT', actions: ['post', 'put_item'] },
      { status: 'ERROR', actions: ['register'] },
    ],
    retryable: false,
    meaning: 'post of an id that exists with other content; `put_item` with `if_absent` of a key that is taken; `register` of an identity or an address that a live worker holds',
    action: 'another id, or none; a worker: stop the other process',
  },
  FORBIDDEN: {
    statuses: [{ status: 'ABORT', actions: ['update', 'delete'] }],
    retryable: false,
    meaning: '`username` given and not the author',
    action: 'only the author changes a tweet',
  },
  TIMEOUT: {
    statuses: [
      { status: 'ABORT', actions: WRITE_ACTIONS },
      { status: 'ERROR', actions: [], also: `a request unfinished ${REQUEST_TIMEOUT_S} s after its first byte` },
    ],
    retryable: true,
    meaning: `the transaction outlived the lock timeout and was aborted; or a request was not complete ${REQUEST_TIMEOUT_S} s after its first byte (the connection is then closed)`,
    action: 'retry; keep transactions short; send each request whole',
  },
  UNAVAILABLE: {
    statuses: [
      { status: 'ABORT', actions: WRITE_ACTIONS },
      { status: 'ERROR', actions: [...READ_ACTIONS, 'subscribe', 'register', 'remove_worker'], also: 'a connection over a connection limit' },
    ],
    retryable: true,
    meaning: 'a voter (named, with its address) is down, rejoining, or did not answer in time (it is evicted from the voters after `--evict-after` and writes go on), or fewer workers vote than `--min-voters`, or none has registered yet; the coordinator is forming a new cluster, is recovering (it lost its data directory, or its data directory is older than the workers\': it names the voters it waits for), or is fenced by a newer coordinator; `subscribe` past the most subscribers the coordinator feeds; `register` or `remove_worker` while a configuration change runs; or too many connections (the connection is then closed)',
    action: 'retry (a voter away is evicted after `--evict-after`); `status` shows the voters; for a refused connection, close some first',
  },
  UNAUTHENTICATED: {
    statuses: [{ status: 'ERROR', actions: 'any' }],
    retryable: false,
    meaning: '`register` without a proof of the cluster key; anything but `register` on a connection that proved the key as a worker; an action only admins may use without the admin token; a request before `auth` on a coordinator with a client token; a wrong token, or a worker\'s proof of the key that fails (the connection closes)',
    action: 'workers: the same `--cluster-key-file` as the coordinator; clients: `auth` with the admin token (`--admin-token-file`) or the client token (`--client-token-file`)',
  },
  IN_DOUBT: {
    statuses: [{ status: 'ERROR', actions: [...WRITE_ACTIONS, 'transaction', 'commit'] }],
    retryable: false,
    meaning: 'the write\'s outcome is not known yet: every voter that could be reached holds a YES for it, and the voter named (with its address) could not be asked whether it does too. It commits if that voter holds a YES and aborts if not, as soon as it answers; until then its rows stay locked, and `status` lists it under `in_doubt`',
    action: 'read the data back later to know (do not assume either outcome); bring the named worker back',
  },
  INTERNAL: {
    statuses: [{ status: 'ERROR', actions: READ_ACTIONS }],
    retryable: false,
    meaning: 'a worker failed to read its copy: the sentence names the worker and its error, which that worker logs. A broken invariant gets no reply: the process logs it and exits (code 70), and what was in flight has an unknown outcome',
    action: 'retry the read; if it recurs, report it with that worker\'s log',
  },
  WRONG_CLUSTER: {
    statuses: [{ status: 'ERROR', actions: ['register'] }],
    retryable: false,
    meaning: 'a worker whose data directory belongs to another cluster (the sentence names both cluster ids) tried to register; nothing changed on either side',
    action: 'start that worker on an empty data directory to add it to this cluster, or point it at its own cluster\'s coordinator',
  },
} as const satisfies Record<ErrorCode, ErrorCodeSpec>;

type Registry = typeof ERROR_CODES;
/** The codes the registry allows with this status, for some request. */
type CodesWith<S extends FailureStatus> = { [C in ErrorCode]: S extends Registry[C]['statuses'][number]['status'] ? C : never }[ErrorCode];
/** Codes an ERROR reply may carry: errorReply() takes no other, so the compiler holds the code to the registry. */
export type ErrorReplyCode = CodesWith<'ERROR'>;

export type ErrorReply = { status: 'ERROR'; code: ErrorCode; error: string };
export type AbortReply = { status: 'ABORT'; code: ErrorCode; error: string };

/** A request that was never a valid transaction, or a read that failed: `error` is a sentence naming the item and the cause. */
export function errorReply(code: ErrorReplyCode, error: string): ErrorReply {
  return { status: 'ERROR', code, error };
}

/**
 * A transaction that did not commit, for the reason it failed. The reason is passed on as it
 * came (a worker's refusal carries its own code and sentence), so its code is not narrowed here.
 */
export function abortReply(reason: Failure): AbortReply {
  return { status: 'ABORT', code: reason.code, error: reason.error };
}

/** Whether a reply with this code is worth sending again unchanged. */
export function isRetryable(code: ErrorCode): boolean {
  return ERROR_CODES[code].retryable;
}

/** The status column of the README's table: one status, or each with the requests it applies to. */
export function statusText(spec: ErrorCodeSpec): string {
  if (spec.statuses.length === 1) return (spec.statuses[0] as StatusRule).status;
  return spec.statuses.map((r) => `${r.status} for ${ruleScope(r)}`).join('; ');
}

function ruleScope(r: StatusRule): string {
  if (r.actions === 'any') return 'any request';
  const isWrites = r.actions.length === WRITE_ACTIONS.length && WRITE_ACTIONS.every((a) => (r.actions as readonly Action[]).includes(a));
  const named = isWrites ? ['writes'] : r.actions.map((a) => `\`${a}\``);
  if (r.also !== undefined) named.push(r.also);
  return named.length <= 1 ? named.join('') : `${named.slice(0, -1).join(', ')} and ${named[named.length - 1] as string}`;
}

/** The README's error table, one row per code, as its cells: code, status, retryable, meaning, what to do. */
export function errorTableRows(): string[][] {
  return (Object.entries(ERROR_CODES) as [ErrorCode, ErrorCodeSpec][]).map(([code, spec]) => [code, statusText(spec), spec.retryable ? 'yes' : 'no', spec.meaning, spec.action]);
}

export const ERROR_TABLE_HEADER = ['code', 'status', 'retryable', 'meaning', 'what to do'] as const;

/** The README's error table, as markdown. */
export function renderErrorTable(): string {
  const line = (cells: readonly string[]): string => `| ${cells.join(' | ')} |`;
  return [line(ERROR_TABLE_HEADER), line(ERROR_TABLE_HEADER.map(() => '---')), ...errorTableRows().map(line)].join('\n');
}
