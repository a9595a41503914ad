// What a write does to one tweet or item: the rules behind NOT_FOUND, EXISTS and FORBIDDEN.
// Pure: given the committed (or staged) row and the op, the result or the failure.

import { isDeepStrictEqual } from 'node:util';
import type { Failure, Item, Op, OpResult, Row, Tweet } from './types.ts';

export type OpOutcome = { ok: true; result: OpResult; next: Row | null } | ({ ok: false } & Failure);

/** `current` is what the op's lock key names now: a tweet for tweet ops, an item for item ops. */
export function evaluateOp(current: Row | null, op: Op): OpOutcome {
  switch (op.kind) {
    case 'post':
    case 'update':
    case 'delete':
      return evaluateTweetOp(current as Tweet | null, op);
    case 'put_item':
    case 'delete_item':
      return evaluateItemOp(current as Item | null, op);
    case 'incr_item':
      return evaluateIncr(current as Item | null, op);
  }
}

/**
 * A counter: `value[field] + by`, computed on each worker under the item's lock, so concurrent
 * increments never lose one. Total: a missing item starts as `{}`, a missing field as 0, and the
 * sum stays between 0 and the largest safe integer (saturating at both ends). Only
 * incr_item writes counter kinds, so the value stays a handful of small numbers.
 */
export function evaluateIncr(current: Item | null, op: Extract<Op, { kind: 'incr_item' }>): OpOutcome {
  const value = current?.value ?? {};
  const was = value[op.field];
  // Counters count things (likes, replies, tweets): never below 0, whatever a stale decrement says.
  const sum = Math.max(0, Math.min(Number.MAX_SAFE_INTEGER, (typeof was === 'number' && Number.isSafeInteger(was) ? was : 0) + op.by));
  const next: Item = { kind: op.item_kind, key: op.key, value: { ...value, [op.field]: sum } };
  return { ok: true, result: { item: next }, next };
}

function evaluateTweetOp(current: Tweet | null, op: Extract<Op, { kind: 'post' | 'update' | 'delete' }>): OpOutcome {
  switch (op.kind) {
    case 'post': {
      if (current === null) return { ok: true, result: { tweet: op.tweet }, next: op.tweet };
      // A retried post (same id, author and content) is the same post: answer with what is stored.
      if (current.username === op.tweet.username && current.content === op.tweet.content) {
        return { ok: true, result: { tweet: current }, next: current };
      }
      return { ok: false, code: 'EXISTS', error: `tweet ${op.tweet.id} already exists with other content; choose another id` };
    }
    case 'update': {
      if (current === null) return { ok: false, code: 'NOT_FOUND', error: `tweet ${op.id} does not exist` };
      if (op.username !== null && op.username !== current.username) {
        return { ok: false, code: 'FORBIDDEN', error: `tweet ${op.id} belongs to ${current.username}, not ${op.username}` };
      }
      const next: Tweet = { ...current, content: op.content, updated_at: op.at };
      return { ok: true, result: { tweet: next }, next };
    }
    case 'delete': {
      if (current === null) return { ok: false, code: 'NOT_FOUND', error: `tweet ${op.id} does not exist` };
      if (op.username !== null && op.username !== current.username) {
        return { ok: false, code: 'FORBIDDEN', error: `tweet ${op.id} belongs to ${current.username}, not ${op.username}` };
      }
      return { ok: true, result: {}, next: null };
    }
  }
}

function evaluateItemOp(current: Item | null, op: Extract<Op, { kind: 'put_item' | 'delete_item' }>): OpOutcome {
  switch (op.kind) {
    case 'put_item': {
      if (op.mode === 'create' && current !== null) {
        // The same create, retried, is the same write: answer with what is stored.
        if (isDeepStrictEqual(current.value, op.item.value)) return { ok: true, result: { item: current }, next: current };
        return { ok: false, code: 'EXISTS', error: `${op.item.kind} ${op.item.key} already exists` };
      }
      return { ok: true, result: { item: op.item }, next: op.item };
    }
    case 'delete_item':
      if (current === null) return { ok: false, code: 'NOT_FOUND', error: `${op.item_kind} ${op.key} does not exist` };
      return { ok: true, result: {}, next: null };
  }
}
