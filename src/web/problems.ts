// Errors of the web API as RFC 9457 problem details (application/problem+json):
// the HTTP status each coordinator code maps to, and the codes only the web
// layer has. Every problem carries `code`, so a client can act on it, and
// `detail`, a sentence a person can act on.

import type { FastifyReply } from 'fastify';
import { STATUS_CODES } from 'node:http';
import type { ErrorCode } from '../wire/protocol.ts';

/** The web layer's own codes, on top of the coordinator's. */
export type WebErrorCode = ErrorCode | 'UNAUTHENTICATED' | 'RATE_LIMITED' | 'UNKNOWN_OUTCOME' | 'CROSS_ORIGIN' | 'IDEMPOTENCY_KEY_REUSED' | 'TOO_MANY_STREAMS';

export const HTTP_STATUS: Record<WebErrorCode, number> = {
  INVALID: 400,
  UNAUTHENTICATED: 401,
  FORBIDDEN: 403,
  CROSS_ORIGIN: 403,
  NOT_FOUND: 404,
  EXISTS: 409,
  LOCKED: 409,
  TOO_LARGE: 413,
  IDEMPOTENCY_KEY_REUSED: 422,
  RATE_LIMITED: 429,
  TOO_MANY_STREAMS: 429,
  INTERNAL: 500,
  // Only a worker's register gets it; the web app never sends one.
  WRONG_CLUSTER: 500,
  UNAVAILABLE: 503,
  TIMEOUT: 503,
  UNKNOWN_OUTCOME: 503,
  IN_DOUBT: 503,
};

/** Seconds to wait before retrying, sent as Retry-After, for the codes where a retry is the fix. */
export const RETRY_AFTER_S: Partial<Record<WebErrorCode, number>> = { LOCKED: 1, UNAVAILABLE: 2, TIMEOUT: 1, UNKNOWN_OUTCOME: 1 };

export interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
  code: WebErrorCode;
}

export class ProblemError extends Error {
  constructor(
    readonly code: WebErrorCode,
    readonly detail: string,
    readonly retryAfterS: number | null = RETRY_AFTER_S[code] ?? null,
  ) {
    super(detail);
    this.name = 'ProblemError';
  }
}

export function problem(code: WebErrorCode, detail: string): Problem {
  const status = HTTP_STATUS[code];
  return { type: 'about:blank', title: STATUS_CODES[status] ?? 'Error', status, detail, code };
}

export function sendProblem(reply: FastifyReply, code: WebErrorCode, detail: string, retryAfterS: number | null = RETRY_AFTER_S[code] ?? null): FastifyReply {
  const p = problem(code, detail);
  if (retryAfterS !== null) reply.header('retry-after', String(retryAfterS));
  return reply.code(p.status).type('application/problem+json').send(p);
}
