// Hostile values and a JSON writer with many spellings of the same value, for the fuzzer.
// Everything here is pure and driven by an Rng, so a seed replays it exactly.

import type { Rng } from './prng.ts';

/** A number written exactly as given (`1e400`, `-0`, `1.0`): what JSON.parse makes of it is what the server sees. */
export class RawNumber {
  constructor(readonly text: string) {}
}

/** A value the fuzzer writes: JSON values, plus numbers spelt out as text. */
export type FuzzValue = null | boolean | number | string | RawNumber | FuzzValue[] | { [k: string]: FuzzValue };

export const LONE_SURROGATES = ['\ud800', '\udbff', '\udc00', '\udfff', 'a\ud800b', '\udc00\ud800', 'x\udfff'] as const;

/** Strings that have broken parsers, terminals, databases and prototypes before. None is a lone surrogate. */
export const HOSTILE_STRINGS: readonly string[] = [
  '', ' ', '  ', '\t', '\n', 'a', 'A', '0', '-1', '1e3', 'NaN', 'null', 'true', 'undefined',
  'é', 'e\u0301', '😀', '👩‍👩‍👧', '🏳️‍🌈', '\u202eevil', '\u200b', '\ufeff', '\u00a0', '\u2028', '\u2029', '\u3000',
  '\ufffd', '\uffff', '\ufffe', '\u{10ffff}', '\u{1f4a9}', '中文', 'ﷺ', 'Ω', 'ǅ', 'İ', 'ß', 'ﬀ',
  '\u0000', '\u0001', '\u0007', '\u0008', '\u000b', '\u000c', '\u001b[31mred\u001b[0m', '\u007f', '\u0085', '\u009b',
  '\\', '"', '\\"', '\\u0000', '/', '</script>', '<img src=x onerror=alert(1)>', "'; DROP TABLE tweets;--", '%s%n%x',
  '${x}', '{{7*7}}', '__proto__', 'constructor', 'prototype', 'toString', 'hasOwnProperty', 'valueOf', '..', '../../etc/passwd',
  ' padded ', 'a\nb', 'a\r\nb', 'tab\tin', '#1 ', '#RID', '{"action":"post"}', '}\n{', '\\n',
];

/** Keys for unknown fields; every one of them is refused by a strict object. */
export const HOSTILE_KEYS: readonly string[] = [
  '', ' ', 'usrname', 'ID', 'Id', 'tweets', 'id ', ' id', '__proto__', 'constructor', 'toString', 'action\u0000', 'é', '😀',
  'req\u200b', 'a'.repeat(300), '\u0000', '\\', '"', 'limit ', 'LIMIT', 'ops ', 'worker', 'txid', 'status', 'code',
];

export const EDGE_NUMBER_TEXTS: readonly string[] = [
  '0', '-0', '1', '-1', '0.5', '1.5', '1.0', '1e0', '1E3', '1e+3', '1e-3', '99', '100', '999', '1000', '1001', '1000.0',
  '1000.0000000000001', '999.9999999999999', '2147483647', '2147483648', '4294967296', '9007199254740991', '9007199254740992',
  '9007199254740993', '-9007199254740991', '1e21', '1e308', '1e309', '1e400', '-1e400', '5e-324', '1e-400', '-0.0',
  '123456789012345678901234567890', '0.1', '0e0', '0E-0',
];

/** A string of `n` code points drawn from `alphabet` (each entry one or more UTF-16 units). */
export function codePoints(rng: Rng, n: number, alphabet: readonly string[]): string {
  let s = '';
  for (let i = 0; i < n; i++) s += rng.pick(alphabet);
  return s;
}

export const WIDE_ALPHABET: readonly string[] = ['a', 'Z', '9', ' ', 'é', 'ß', '中', '😀', '\u{10ffff}', 'e\u0301'.slice(1), '\ufffd', '\u00a0'];

/** A random string: catalogue entries, random code points of every plane, or long runs. */
export function hostileString(rng: Rng, opts: { loneSurrogates: boolean; maxLen?: number }): string {
  const max = opts.maxLen ?? 600;
  const kind = rng.int(0, 9);
  if (kind <= 3) return rng.pick(HOSTILE_STRINGS);
  if (kind === 4 && opts.loneSurrogates) return rng.pick(LONE_SURROGATES);
  if (kind <= 6) {
    let s = '';
    const n = rng.size(Math.min(max, 64)) + 1;
    for (let i = 0; i < n; i++) {
      const plane = rng.int(0, 5);
      let cp: number;
      if (plane === 0) cp = rng.int(0x20, 0x7e);
      else if (plane === 1) cp = rng.int(0, 0x1f);
      else if (plane === 2) cp = rng.int(0x80, 0x7ff);
      else if (plane === 3) cp = rng.int(0x800, 0xffff);
      else cp = rng.int(0x10000, 0x10ffff);
      if (cp >= 0xd800 && cp <= 0xdfff && !opts.loneSurrogates) cp = 0xfffd;
      s += String.fromCodePoint(cp);
    }
    return s;
  }
  if (kind === 7) return rng.pick(HOSTILE_STRINGS) + rng.pick(HOSTILE_STRINGS);
  return codePoints(rng, rng.size(max) + 1, WIDE_ALPHABET);
}

export function edgeNumber(rng: Rng): RawNumber {
  return new RawNumber(rng.pick(EDGE_NUMBER_TEXTS));
}

/** Nested arrays and objects `depth` levels deep, with `leaf` at the bottom. */
export function nested(rng: Rng, depth: number, leaf: FuzzValue): FuzzValue {
  // Built as text-free values; the writer is iterative for these, so depth is bounded only by the request size.
  const kind = rng.int(0, 2);
  let v: FuzzValue = leaf;
  for (let i = 0; i < depth; i++) v = kind === 0 ? [v] : kind === 1 ? { a: v } : i % 2 === 0 ? [v] : { k: v };
  return v;
}

/** A small random JSON value: objects with hostile keys, arrays, edge numbers, hostile strings. */
export function randomValue(rng: Rng, depth: number, loneSurrogates: boolean): FuzzValue {
  const k = rng.int(0, depth <= 0 ? 4 : 6);
  switch (k) {
    case 0:
      return null;
    case 1:
      return rng.bool();
    case 2:
      return edgeNumber(rng);
    case 3:
    case 4:
      return hostileString(rng, { loneSurrogates, maxLen: 40 });
    case 5: {
      const n = rng.size(4);
      return Array.from({ length: n }, () => randomValue(rng, depth - 1, loneSurrogates));
    }
    default: {
      const o: Record<string, FuzzValue> = {};
      const n = rng.size(4);
      for (let i = 0; i < n; i++) {
        const key = rng.bool(0.3) ? rng.pick(HOSTILE_KEYS) : hostileString(rng, { loneSurrogates, maxLen: 12 });
        Object.defineProperty(o, key, { value: randomValue(rng, depth - 1, loneSurrogates), enumerable: true, writable: true, configurable: true });
      }
      return o;
    }
  }
}

/** How the writer spells JSON: white space between tokens, escapes in strings, duplicate keys. */
export interface JsonStyle {
  /** Chance of white space between two tokens. */
  wsP: number;
  /** White space to use (JSON's four only, unless the case means to be invalid). */
  ws: readonly string[];
  /** Chance that a character of a string is written as a \u escape (or a short escape) instead of itself. */
  escapeP: number;
  /** Chance that an object repeats one of its keys first with another value (JSON.parse keeps the last). */
  dupKeyP: number;
}

export const PLAIN_STYLE: JsonStyle = { wsP: 0, ws: [' '], escapeP: 0, dupKeyP: 0 };

export function randomStyle(rng: Rng): JsonStyle {
  return rng.weighted<JsonStyle>([
    [6, PLAIN_STYLE],
    [2, { wsP: 0.5, ws: [' ', '\n', '\t', '\r\n', '\r', '  \n\t '], escapeP: 0, dupKeyP: 0 }],
    [1, { wsP: 0.1, ws: [' '], escapeP: 1, dupKeyP: 0 }],
    [2, { wsP: 0.2, ws: [' ', '\n'], escapeP: 0.2, dupKeyP: 0 }],
    [2, { wsP: 0, ws: [' '], escapeP: 0, dupKeyP: 0.5 }],
    [1, { wsP: 0.9, ws: ['\n\n\n', '\t\t', ' '], escapeP: 0.5, dupKeyP: 0.3 }],
  ]);
}

const SHORT_ESCAPES: Record<string, string> = { '"': '\\"', '\\': '\\\\', '\b': '\\b', '\f': '\\f', '\n': '\\n', '\r': '\\r', '\t': '\\t' };

function writeString(s: string, style: JsonStyle, rng: Rng): string {
  if (style.escapeP === 0) return JSON.stringify(s);
  let out = '"';
  for (let i = 0; i < s.length; i++) {
    const ch = s[i] as string;
    const code = s.charCodeAt(i);
    if (code >= 0xd800 && code <= 0xdbff && isPaired(s, i)) {
      // A pair is escaped whole or written whole: half of it escaped would be a lone surrogate.
      const low = s.charCodeAt(i + 1);
      out += rng.bool(style.escapeP) ? `\\u${code.toString(16)}\\u${low.toString(16)}` : ch + (s[i + 1] as string);
      i++;
      continue;
    }
    const must = code < 0x20 || ch === '"' || ch === '\\' || (code >= 0xd800 && code <= 0xdfff);
    if (must || rng.bool(style.escapeP)) {
      if (ch === '/' && rng.bool(0.5)) out += '\\/';
      else if (SHORT_ESCAPES[ch] !== undefined && rng.bool(0.5)) out += SHORT_ESCAPES[ch];
      else {
        const hex = code.toString(16).padStart(4, '0');
        out += '\\u' + (rng.bool(0.5) ? hex : hex.toUpperCase());
      }
    } else {
      out += ch;
    }
  }
  return out + '"';
}

function isPaired(s: string, i: number): boolean {
  const c = s.charCodeAt(i);
  if (c >= 0xd800 && c <= 0xdbff) {
    const n = s.charCodeAt(i + 1);
    return n >= 0xdc00 && n <= 0xdfff;
  }
  const p = s.charCodeAt(i - 1);
  return i > 0 && p >= 0xd800 && p <= 0xdbff;
}

/** Writes `v` as JSON text in `style`. Iterative, so nesting a million deep is fine here. */
export function writeJson(v: FuzzValue, style: JsonStyle, rng: Rng): string {
  const parts: string[] = [];
  const ws = (): void => {
    if (style.wsP > 0 && rng.bool(style.wsP)) parts.push(rng.pick(style.ws));
  };
  // A stack of things to write: values, or literal text.
  const stack: ({ v: FuzzValue } | { t: string })[] = [{ v }];
  while (stack.length > 0) {
    const top = stack.pop() as { v: FuzzValue } | { t: string };
    if ('t' in top) {
      parts.push(top.t);
      continue;
    }
    const x = top.v;
    ws();
    if (x === null || typeof x === 'boolean') parts.push(String(x));
    else if (typeof x === 'number') parts.push(Number.isFinite(x) ? String(x) : 'null');
    else if (typeof x === 'string') parts.push(writeString(x, style, rng));
    else if (x instanceof RawNumber) parts.push(x.text);
    else if (Array.isArray(x)) {
      parts.push('[');
      const todo: ({ v: FuzzValue } | { t: string })[] = [];
      x.forEach((e, i) => {
        if (i > 0) todo.push({ t: ',' });
        todo.push({ v: e });
      });
      todo.push({ t: ']' });
      for (let i = todo.length - 1; i >= 0; i--) stack.push(todo[i] as { v: FuzzValue } | { t: string });
    } else {
      parts.push('{');
      const todo: ({ v: FuzzValue } | { t: string })[] = [];
      const keys = Object.keys(x);
      let first = true;
      for (const k of keys) {
        const val = x[k] as FuzzValue;
        if (style.dupKeyP > 0 && rng.bool(style.dupKeyP)) {
          // A decoy first: the parser keeps the value written last.
          todo.push({ t: (first ? '' : ',') + writeString(k, style, rng) + ':' }, { v: rng.pick<FuzzValue>([null, 0, 'decoy', [], {}, true]) });
          first = false;
        }
        todo.push({ t: (first ? '' : ',') + writeString(k, style, rng) + (rng.bool(style.wsP) ? rng.pick(style.ws) : '') + ':' }, { v: val });
        first = false;
      }
      todo.push({ t: '}' });
      for (let i = todo.length - 1; i >= 0; i--) stack.push(todo[i] as { v: FuzzValue } | { t: string });
    }
    ws();
  }
  return parts.join('');
}
