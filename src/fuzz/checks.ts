// The fuzzer's oracles: what the README's framing says a byte stream holds, and what a reply line must look like.
// Written from the README ("The TCP API"), not from src/wire, so that a bug there is seen rather than copied.

/** README: "a request over 1 MiB gets an ERROR reply and the connection is closed". */
export const README_MAX_REQUEST_BYTES = 1024 * 1024;
/** README's error code registry. */
export const README_ERROR_CODES = ['INVALID', 'TOO_LARGE', 'LOCKED', 'NOT_FOUND', 'EXISTS', 'FORBIDDEN', 'TIMEOUT', 'UNAVAILABLE', 'INTERNAL', 'UNAUTHENTICATED'] as const;

export type Frame =
  | { kind: 'request'; text: string; body: Record<string, unknown> }
  /** The stream goes wrong here: one ERROR line with this code, then the server closes. */
  | { kind: 'fatal'; code: 'INVALID' | 'TOO_LARGE'; why: string }
  /** Nested past the README's limit (counted by brackets, never parsed): ERROR INVALID, and the stream goes on. */
  | { kind: 'deep'; text: string };

/**
 * The requests a client's bytes hold, as the README defines them: JSON objects one after another, separated by
 * JSON white space, each ending where its braces balance; anything else ends the stream with one ERROR.
 * `ended`: the client half-closed after these bytes (an unfinished object is then an error too).
 */
export function referenceFrames(bytes: Buffer, ended: boolean): Frame[] {
  const text = bytes.toString('utf8');
  const out: Frame[] = [];
  let i = 0;
  while (i < text.length) {
    const c = text[i];
    if (c === ' ' || c === '\n' || c === '\r' || c === '\t') {
      i++;
      continue;
    }
    if (c !== '{') {
      out.push({ kind: 'fatal', code: 'INVALID', why: `${JSON.stringify(c)} where a request should start` });
      return out;
    }
    let depth = 0;
    let maxDepth = 0;
    let inString = false;
    let j = i;
    for (; j < text.length; j++) {
      const d = text[j];
      if (inString) {
        if (d === '\\') j++;
        else if (d === '"') inString = false;
      } else if (d === '"') inString = true;
      else if (d === '{' || d === '[') maxDepth = Math.max(maxDepth, ++depth);
      else if (d === '}' || d === ']') {
        depth--;
        if (depth === 0) break;
      }
    }
    if (j >= text.length) {
      if (Buffer.byteLength(text.slice(i)) > README_MAX_REQUEST_BYTES) out.push({ kind: 'fatal', code: 'TOO_LARGE', why: 'an unfinished request over 1 MiB' });
      else if (ended) out.push({ kind: 'fatal', code: 'INVALID', why: 'the input ended in the middle of a request' });
      return out;
    }
    const frame = text.slice(i, j + 1);
    if (Buffer.byteLength(frame) > README_MAX_REQUEST_BYTES) {
      out.push({ kind: 'fatal', code: 'TOO_LARGE', why: 'a request over 1 MiB' });
      return out;
    }
    if (maxDepth > README_MAX_NESTING_DEPTH) {
      out.push({ kind: 'deep', text: frame });
      i = j + 1;
      continue;
    }
    let body: unknown;
    try {
      body = JSON.parse(frame);
    } catch (e) {
      out.push({ kind: 'fatal', code: 'INVALID', why: `not JSON: ${(e as Error).message}` });
      return out;
    }
    out.push({ kind: 'request', text: frame, body: body as Record<string, unknown> });
    i = j + 1;
  }
  return out;
}

/** JSON text with sorted keys: equal for values a JSON round trip cannot tell apart (-0 and 0, key order). */
export function canon(v: unknown): string {
  // Iterative: the values compared may be nested a hundred thousand deep.
  const out: string[] = [];
  const stack: ({ v: unknown } | { t: string })[] = [{ v }];
  while (stack.length > 0) {
    const top = stack.pop() as { v: unknown } | { t: string };
    if ('t' in top) {
      out.push(top.t);
      continue;
    }
    const x = top.v;
    if (x === null || typeof x !== 'object') {
      out.push(JSON.stringify(x) ?? 'undefined');
      continue;
    }
    const todo: ({ v: unknown } | { t: string })[] = [];
    if (Array.isArray(x)) {
      todo.push({ t: '[' });
      x.forEach((e, i) => todo.push(...(i > 0 ? [{ t: ',' }] : []), { v: e }));
      todo.push({ t: ']' });
    } else {
      const o = x as Record<string, unknown>;
      todo.push({ t: '{' });
      Object.keys(o)
        .sort()
        .forEach((k, i) => todo.push({ t: `${i > 0 ? ',' : ''}${JSON.stringify(k)}:` }, { v: o[k] }));
      todo.push({ t: '}' });
    }
    for (let i = todo.length - 1; i >= 0; i--) stack.push(todo[i] as { v: unknown } | { t: string });
  }
  return out.join('');
}

/** The README: a request nesting objects and arrays more than this deep (the request itself is level 1) is INVALID. */
export const README_MAX_NESTING_DEPTH = 32;

/** Depth of nesting of a parsed value, counted without recursion. */
export function depthOf(v: unknown): number {
  let max = 0;
  const stack: [unknown, number][] = [[v, 0]];
  while (stack.length > 0) {
    const [x, d] = stack.pop() as [unknown, number];
    if (x === null || typeof x !== 'object') continue;
    max = Math.max(max, d + 1);
    for (const c of Object.values(x as object)) stack.push([c, d + 1]);
  }
  return max;
}

/** What is wrong with one reply line, or null: a JSON object with a status, a known code and a sentence when not OK. */
export function replyProblem(line: string): { problem: string } | { reply: Record<string, unknown> } {
  let r: unknown;
  try {
    r = JSON.parse(line);
  } catch {
    return { problem: 'the reply line is not JSON' };
  }
  if (r === null || typeof r !== 'object' || Array.isArray(r)) return { problem: 'the reply is not a JSON object' };
  const reply = r as Record<string, unknown>;
  if (reply.status !== 'OK' && reply.status !== 'ABORT' && reply.status !== 'ERROR') return { problem: `status ${JSON.stringify(reply.status)} is not OK, ABORT or ERROR` };
  if (reply.status !== 'OK') {
    if (!(README_ERROR_CODES as readonly unknown[]).includes(reply.code)) return { problem: `code ${JSON.stringify(reply.code)} is not in the README's registry` };
    if (reply.code === 'INTERNAL') return { problem: 'INTERNAL: the server reports a bug' };
    if (typeof reply.error !== 'string' || reply.error.length === 0) return { problem: 'a refusal without a sentence in "error"' };
  }
  return { reply };
}
