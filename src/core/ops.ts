// What a write does to one tweet: the rules behind NOT_FOUND, EXISTS and FORBIDDEN.
// Pure: given the committed (or staged) row and the op, the result or the failure.

import type { Failure, Op, OpResult, Tweet } from './types.ts';

export type OpOutcome = { ok: true; result: OpResult; next: Tweet | null } | ({ ok: false } & Failure);

export function evaluateOp(current: Tweet | null, op: Op): OpOutcome {
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
