// The linearizability model of one tweet id: its content, or null when absent.
// Mirrors the rules of src/core/ops.ts, reduced to what a client observes.

import type { ErrorCode } from '../wire/protocol.ts';
import { checkOperations, type CheckOptions, type CheckResult, type Model, type Operation } from './linearizability.ts';

export type TweetInput =
  | { kind: 'post'; id: string; content: string }
  | { kind: 'update'; id: string; content: string }
  | { kind: 'delete'; id: string }
  | { kind: 'get'; id: string };

/**
 * `content` on an ok reply is checked when present (a get must carry it).
 * Record an op whose effect is unknown (dropped connection, INTERNAL) as
 * `{ status: 'unknown' }` with return = Infinity.
 */
export type TweetOutput = { status: 'ok'; content?: string | null } | { status: 'fail'; code: ErrorCode } | { status: 'unknown' };

export type TweetState = string | null;
export type TweetOperation = Operation<TweetInput, TweetOutput>;

/**
 * Failures that say the op did not take effect whatever the tweet's state: lock conflicts,
 * aborts, bad requests. INTERNAL is here too, though a caller unsure whether such an op
 * committed should record it as unknown instead.
 */
const NO_EFFECT: ReadonlySet<ErrorCode> = new Set<ErrorCode>(['LOCKED', 'TIMEOUT', 'UNAVAILABLE', 'UNAUTHENTICATED', 'INVALID', 'TOO_LARGE', 'INTERNAL']);

type Effect = { ok: true; next: TweetState } | { ok: false; code: 'EXISTS' | 'NOT_FOUND' };

/** What the op does to the tweet when it runs alone. */
function effect(state: TweetState, input: TweetInput): Effect {
  switch (input.kind) {
    case 'post':
      if (state === null) return { ok: true, next: input.content };
      // A retried post of the same content is the same post.
      return state === input.content ? { ok: true, next: state } : { ok: false, code: 'EXISTS' };
    case 'update':
      return state === null ? { ok: false, code: 'NOT_FOUND' } : { ok: true, next: input.content };
    case 'delete':
      return state === null ? { ok: false, code: 'NOT_FOUND' } : { ok: true, next: null };
    case 'get':
      return state === null ? { ok: false, code: 'NOT_FOUND' } : { ok: true, next: state };
  }
}

function step(state: TweetState, input: TweetInput, output: TweetOutput): [boolean, TweetState] {
  const e = effect(state, input);
  switch (output.status) {
    case 'unknown':
      // It took effect (this is only tried if it did), so whatever it would do, it did.
      return [true, e.ok ? e.next : state];
    case 'fail':
      if (NO_EFFECT.has(output.code)) return [true, state];
      // FORBIDDEN needs the author, which this model does not track; it does imply the tweet exists.
      if (output.code === 'FORBIDDEN') return [state !== null, state];
      return [!e.ok && e.code === output.code, state];
    case 'ok': {
      if (!e.ok) return [false, state];
      if (input.kind === 'get') return [output.content === e.next, state];
      if (output.content !== undefined && output.content !== e.next) return [false, state];
      return [true, e.next];
    }
  }
}

/** Ops that are legal in every state and change nothing: dropping them shrinks the search. */
function isNeutral(op: TweetOperation): boolean {
  if (op.output.status === 'fail') return NO_EFFECT.has(op.output.code);
  return op.output.status === 'unknown' && op.input.kind === 'get';
}

function describe(input: TweetInput, output: TweetOutput): string {
  const call = input.kind === 'post' || input.kind === 'update' ? `${input.kind} ${JSON.stringify(input.content)}` : input.kind;
  let result: string;
  if (output.status === 'ok') result = output.content === undefined ? 'ok' : `ok ${output.content === null ? 'absent' : JSON.stringify(output.content)}`;
  else if (output.status === 'fail') result = output.code;
  else result = '? (unknown)';
  return `${call} -> ${result}`;
}

export const tweetModel: Model<TweetState, TweetInput, TweetOutput> = {
  init: () => null,
  step,
  equal: (a, b) => a === b,
  hash: (s) => JSON.stringify(s),
  partition(ops) {
    const byId = new Map<string, TweetOperation[]>();
    for (const op of ops) {
      if (isNeutral(op)) continue;
      const list = byId.get(op.input.id);
      if (list === undefined) byId.set(op.input.id, [op]);
      else list.push(op);
    }
    return [...byId.values()];
  },
  partitionKey: (ops) => `tweet ${JSON.stringify(ops[0]?.input.id ?? '?')}`,
  describe,
  describeState: (s) => (s === null ? 'absent' : JSON.stringify(s)),
};

export function checkTweetHistory(history: TweetOperation[], opts?: CheckOptions): CheckResult {
  return checkOperations(tweetModel, history, opts);
}
