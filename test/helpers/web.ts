// Helpers for the web API tests: problem+json assertions, signing up through
// inject, and reading server-sent events from a real socket.

import assert from 'node:assert/strict';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { SESSION_COOKIE } from '../../src/web/auth.ts';

export type Json = Record<string, unknown>;
export const json = (r: LightMyRequestResponse): Json => r.json<Json>();

export function sessionCookie(r: LightMyRequestResponse): string {
  const c = r.cookies.find((x) => x.name === SESSION_COOKIE);
  assert.ok(c !== undefined, `a ${SESSION_COOKIE} cookie in ${JSON.stringify(r.headers['set-cookie'])}`);
  return c.value;
}

/** Asserts a problem+json reply with this status and code; returns its body. */
export function problem(r: LightMyRequestResponse, status: number, code: string): Json {
  assert.equal(r.statusCode, status, r.body);
  assert.equal(r.headers['content-type'], 'application/problem+json; charset=utf-8');
  const p = json(r);
  assert.equal(p.code, code, r.body);
  assert.equal(p.status, status);
  assert.equal(typeof p.title, 'string');
  assert.equal(typeof p.detail, 'string');
  return p;
}

export async function signUp(app: FastifyInstance, username: string, password = 'correct horse'): Promise<string> {
  const r = await app.inject({ method: 'POST', url: '/api/register', payload: { username, password } });
  assert.equal(r.statusCode, 201, r.body);
  return sessionCookie(r);
}

/** Signs up through a real socket (a `tweetdb web` process); returns the session cookie. `headers`: more, e.g. X-Forwarded-For. */
export async function signUpOverHttp(base: string, username: string, password = 'correct horse', headers: Record<string, string> = {}): Promise<string> {
  const r = await fetch(new URL('/api/register', base), { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify({ username, password }) });
  assert.equal(r.status, 201, await r.text());
  const c = new RegExp(`${SESSION_COOKIE}=([^;]+)`).exec(r.headers.get('set-cookie') ?? '')?.[1];
  assert.ok(c !== undefined, `a ${SESSION_COOKIE} cookie in ${r.headers.get('set-cookie') ?? '(none)'}`);
  return c;
}

export interface SseEvent {
  id: string | null;
  event: string;
  data: string;
}

/** Reads server-sent events from a streaming response until `until` says stop. */
export async function readEvents(res: Response, until: (events: SseEvent[]) => boolean, timeoutMs = 10_000): Promise<SseEvent[]> {
  assert.ok(res.body !== null);
  const reader = res.body.getReader();
  const decoder = new TextDecoder();
  const events: SseEvent[] = [];
  let buf = '';
  const deadline = Date.now() + timeoutMs;
  try {
    while (!until(events)) {
      if (Date.now() > deadline) throw new Error(`timed out; events so far: ${JSON.stringify(events)}`);
      const { value, done } = await reader.read();
      if (done) break;
      buf += decoder.decode(value, { stream: true });
      let i: number;
      while ((i = buf.indexOf('\n\n')) >= 0) {
        const block = buf.slice(0, i);
        buf = buf.slice(i + 2);
        const fields = Object.fromEntries(block.split('\n').filter((l) => !l.startsWith(':') && l.includes(': ')).map((l) => [l.slice(0, l.indexOf(': ')), l.slice(l.indexOf(': ') + 2)]));
        if (fields.event !== undefined) events.push({ id: fields.id ?? null, event: fields.event, data: fields.data ?? '' });
      }
    }
  } finally {
    await reader.cancel();
  }
  return events;
}

/**
 * Resolves true when the server ends this stream (its body reaches its end or breaks), false if
 * it is still open after `waitMs` (a bound for a hang, not a timing claim).
 */
export async function streamEnds(res: Response, waitMs: number): Promise<boolean> {
  assert.ok(res.body !== null);
  const reader = res.body.getReader();
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<false>((r) => (timer = setTimeout(() => r(false), waitMs)));
  const drain = (async (): Promise<true> => {
    try {
      for (;;) if ((await reader.read()).done) return true;
    } catch {
      return true; // the connection was dropped: ended too
    }
  })();
  const ended = await Promise.race([drain, timeout]);
  clearTimeout(timer);
  if (!ended) await reader.cancel().catch(() => undefined);
  return ended;
}
