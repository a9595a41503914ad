// The fuzz target for the coordinator's client API (README "The TCP API"): raw TCP connections carrying valid
// requests of every action, the same requests mutated field by field, and hostile framing. Each case is checked
// as it ends (one well-formed reply per request, `req` echoed, bad input refused with INVALID), and a model of what
// the OK'd writes stored is compared with the cluster between batches (nothing refused is stored, copies equal).

import { connect } from 'node:net';
import type { LocalCluster } from '../launch/cluster.ts';
import { TweetdbClient } from '../client/client.ts';
import type { Rng } from './prng.ts';
import { FuzzFinding, type FuzzCase, type FuzzTarget } from './harness.ts';
import { canon, depthOf, referenceFrames, replyProblem, README_MAX_REQUEST_BYTES, type Frame } from './checks.ts';
import {
  HOSTILE_KEYS,
  HOSTILE_STRINGS,
  LONE_SURROGATES,
  PLAIN_STYLE,
  RawNumber,
  WIDE_ALPHABET,
  codePoints,
  edgeNumber,
  hostileString,
  nested,
  randomStyle,
  randomValue,
  writeJson,
  type FuzzValue,
} from './values.ts';

/**
 * Case families that crash or corrupt today's main, each with the bug it hits (issue #10). They are left out unless
 * named in TWEETDB_FUZZ_INCLUDE (a comma list, or `all`); turn them on once the fix is merged.
 */
/** Families that crashed or corrupted main before issue #10's fixes (kept by name: each is a regression test now). */
export const KNOWN_CRASHERS_PENDING_FIX = {
  'lone-surrogates':
    'lone surrogates ("\\ud800") in any string, keys and req included: stored as they are, read back by SQLite as U+FFFD, so two ids become one and the copies diverge after a full copy; the fix refuses them with INVALID (#10 item 5)',
  'deep-nesting-echoed':
    'a `req` or an item value nested some thousands deep (about 10 KB): JSON.stringify throws RangeError and the coordinator exits (#10 item 5)',
  'read-storm':
    '1,600 pipelined get_tweets with limit 1000 over 1,000 long tweets: the replies of one loop turn are joined into one string past V8\'s limit and the coordinator exits (#10 item 5)',
} as const;
export type PendingFamily = keyof typeof KNOWN_CRASHERS_PENDING_FIX;
/** The environment variable that turns pending families on: `all`, or their names separated by commas. */
export const INCLUDE_ENV = 'TWEETDB_FUZZ_INCLUDE';

/**
 * The families run by default now that their crashes are fixed; `none` (or a list) chooses. The read storm
 * (about 1 GB of replies a case) is left to `all`: test/integration/hostile-client.test.ts runs it by name.
 */
export const DEFAULT_FAMILIES: readonly PendingFamily[] = ['lone-surrogates', 'deep-nesting-echoed'];

export function includedFamilies(spec: string | undefined): Set<PendingFamily> {
  const all = Object.keys(KNOWN_CRASHERS_PENDING_FIX) as PendingFamily[];
  if (spec === undefined || spec.trim() === '') return new Set(DEFAULT_FAMILIES);
  if (spec.trim() === 'all') return new Set(all);
  if (spec.trim() === 'none') return new Set();
  const out = new Set<PendingFamily>();
  for (const name of spec.split(',').map((s) => s.trim()).filter((s) => s !== '')) {
    if (!(all as string[]).includes(name)) throw new Error(`${INCLUDE_ENV}: unknown family "${name}"; the pending families are ${all.join(', ')}`);
    out.add(name as PendingFamily);
  }
  return out;
}

/** A case waits at most this long for the server to answer everything and close: a write is answered within the lock timeout. */
export const CASE_DEADLINE_MS = 30_000;
/** Nesting below this depth is safe everywhere on today's main; deeper, in `req` or an item value, is the pending family. */
export const SAFE_ECHO_DEPTH = 200;
/** Concurrent lanes; each has ids of its own, so the model knows the order of every write to an id. */
export const CLIENT_LANES = 6;

const ACTIONS = ['post', 'update', 'delete', 'get_tweets', 'get_tweet', 'transaction', 'begin', 'commit', 'abort', 'put_item', 'get_item', 'delete_item', 'subscribe', 'status', 'check'] as const;
const WRITE_ACTIONS = ['post', 'update', 'delete', 'put_item', 'delete_item'];
const USERNAMES = ['ada', 'bob', 'Ada', 'émile', '李白', 'z😀'];
const CONTENTS = ['hello', 'x', 'edited', '😀'.repeat(3), 'a\u0000b', '\u001b[31mred', 'line\nbreak', '  padded  ', '中文内容', 'ﷺ', '\ufeffbom'];

export interface ClientCase extends FuzzCase {
  /** Offsets in `bytes` where a new write() starts. */
  cuts: number[];
  /** Wait between writes: 0 (next turn of the loop) or milliseconds. */
  pauseMs: number;
  /** After `endAt` bytes: half-close (then read every reply) or destroy (a reset; outcomes unknown). */
  end: 'half-close' | 'destroy';
  endAt: number;
  /**
   * The connection first shows the admin token (every other case): without it, every valid request
   * that only admins may make (README Security, "Roles") must be refused UNAUTHENTICATED and change nothing.
   */
  admin: boolean;
}

const ITEM_ACTIONS = ['put_item', 'get_item', 'delete_item', 'incr_item'];

/** A request only the admin token opens: an item action, or a transaction with one among its ops. */
export function needsAdmin(body: Record<string, unknown>): boolean {
  if (typeof body.action === 'string' && ITEM_ACTIONS.includes(body.action)) return true;
  return body.action === 'transaction' && Array.isArray(body.ops) && body.ops.some((o) => isObj(o) && typeof o.action === 'string' && ITEM_ACTIONS.includes(o.action));
}

type Tweet = { id: string; username: string; content: string; created_at: string; updated_at: string | null };
type TxState = 'none' | 'open' | 'unknown';

/** What the OK'd writes stored, as far as the replies tell. */
class Model {
  readonly tweets = new Map<string, Tweet | null>();
  readonly items = new Map<string, unknown>();
  /** Ids whose last write's outcome is unknown (connection reset) or written by two lanes at once. */
  readonly uncertainTweets = new Set<string>();
  readonly uncertainItems = new Set<string>();
  readonly owner = new Map<string, number>();
  /** Posts without an id whose outcome is unknown: each may have stored one tweet we cannot name. */
  readonly unknownPosts: { username: string; content: string }[] = [];
  /** Every item named by a request: each is read back at the check. */
  readonly itemKeys = new Map<string, { kind: string; key: string }>();
  tweetsChecked = 0;
}

const itemId = (kind: string, key: string): string => `${kind}\u0000${key}`;

/** An id as the server stores it (README: integer ids are kept as strings), or null when it cannot be one. */
function idOf(v: unknown): string | null {
  if (typeof v === 'string') return v;
  if (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0) return String(v);
  return null;
}

function isObj(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f]/;
// eslint-disable-next-line no-control-regex
const CONTROL_OR_SPACE = /[\u0000-\u0020\u007f]/g;

function hasLoneSurrogate(s: string): boolean {
  // A lone surrogate is a code point of category Cs when read with /u; a paired one is not.
  return /\p{Cs}/u.test(s);
}

/** Any string anywhere in a value (keys included) that is not well-formed UTF-16. */
function anyLoneSurrogate(v: unknown): boolean {
  const stack: unknown[] = [v];
  while (stack.length > 0) {
    const x = stack.pop();
    if (typeof x === 'string' && hasLoneSurrogate(x)) return true;
    if (x !== null && typeof x === 'object') {
      for (const [k, c] of Object.entries(x)) {
        if (hasLoneSurrogate(k)) return true;
        stack.push(c);
      }
    }
  }
  return false;
}

// ---------------------------------------------------------------------------------------------
// The README's request rules, as an oracle: 'invalid' must get ERROR INVALID, 'valid' must not, 'any' is not judged.

type Verdict = 'valid' | 'invalid' | 'any';
const worst = (...vs: Verdict[]): Verdict => (vs.includes('invalid') ? 'invalid' : vs.includes('any') ? 'any' : 'valid');

function onlyKeys(o: Record<string, unknown>, allowed: string[]): Verdict {
  return Object.keys(o).every((k) => allowed.includes(k)) ? 'valid' : 'invalid';
}

/** "ids are 1 to 128 characters"; integer ids are accepted. Control characters and astral characters near the limit are not judged (the README is silent). */
function judgeId(v: unknown): Verdict {
  if (typeof v === 'number') return Number.isSafeInteger(v) && v >= 0 ? 'valid' : 'invalid';
  if (typeof v !== 'string') return 'invalid';
  if (hasLoneSurrogate(v)) return 'invalid';
  const units = v.length;
  const cps = [...v].length;
  if (cps === 0) return 'invalid';
  if (units <= 128 && cps <= 128 && !CONTROL.test(v)) return 'valid';
  if (cps > 128) return 'invalid';
  return 'any';
}

function judgeUsername(v: unknown, optional: boolean): Verdict {
  if (v === undefined || v === null) return optional ? 'valid' : 'invalid';
  if (typeof v !== 'string') return 'invalid';
  if (hasLoneSurrogate(v)) return 'invalid';
  const cps = [...v].length;
  if (cps === 0 || cps > 64) return 'invalid';
  if (v.length <= 64 && !CONTROL.test(v) && v.trim() === v && /^\S/u.test(v)) return 'valid';
  return 'any';
}

function judgeContent(v: unknown): Verdict {
  if (typeof v !== 'string') return 'invalid';
  if (hasLoneSurrogate(v)) return 'invalid';
  const cps = [...v].length;
  if (cps === 0 || cps > 280) return 'invalid';
  if (v.trim() === '') return 'invalid';
  return /[^\s]/.test(v.replace(CONTROL_OR_SPACE, '')) ? 'valid' : 'any';
}

function judgeItemValue(v: unknown): Verdict {
  if (!isObj(v)) return 'invalid';
  if (anyLoneSurrogate(v)) return 'invalid';
  if (depthOf(v) > SAFE_ECHO_DEPTH) return 'any';
  const size = Buffer.byteLength(JSON.stringify(v));
  return size <= 4096 ? 'valid' : 'invalid';
}

function judgeWrite(o: Record<string, unknown>, top: boolean): Verdict {
  const a = o.action;
  const base = top ? ['action', 'req'] : ['action'];
  if (a === 'put_item' || a === 'delete_item') {
    const keys = onlyKeys(o, [...base, 'item', ...(a === 'put_item' ? ['if_absent'] : [])]);
    if (!isObj(o.item)) return 'invalid';
    const it = o.item;
    const ik = onlyKeys(it, a === 'put_item' ? ['kind', 'key', 'value'] : ['kind', 'key']);
    const kind: Verdict = it.kind === 'user' || it.kind === 'session' ? 'valid' : 'invalid';
    const ifa: Verdict = o.if_absent === undefined || typeof o.if_absent === 'boolean' ? 'valid' : o.if_absent === null ? 'any' : 'invalid';
    return worst(keys, ik, kind, judgeId(it.key), a === 'put_item' ? worst(judgeItemValue(it.value), ifa) : 'valid');
  }
  if (a !== 'post' && a !== 'update' && a !== 'delete') return 'invalid';
  const keys = onlyKeys(o, [...base, 'tweet']);
  if (!isObj(o.tweet)) return 'invalid';
  const t = o.tweet;
  if (a === 'post') {
    return worst(keys, onlyKeys(t, ['id', 'username', 'content']), t.id === undefined || t.id === null ? 'valid' : judgeId(t.id), judgeUsername(t.username, false), judgeContent(t.content));
  }
  if (a === 'update') return worst(keys, onlyKeys(t, ['id', 'username', 'content']), judgeId(t.id), judgeUsername(t.username, true), judgeContent(t.content));
  return worst(keys, onlyKeys(t, ['id', 'username']), judgeId(t.id), judgeUsername(t.username, true));
}

/** The README's verdict on one request, given whether a transaction is open on the connection. */
export function judge(body: Record<string, unknown>, tx: TxState): Verdict {
  const req: Verdict = body.req === undefined ? 'valid' : anyLoneSurrogate(body.req) ? 'invalid' : depthOf(body.req) > SAFE_ECHO_DEPTH ? 'any' : 'valid';
  if (Object.keys(body).some(hasLoneSurrogate)) return 'invalid';
  const a = body.action;
  if (typeof a !== 'string' || !(ACTIONS as readonly string[]).includes(a)) return a === 'register' ? 'any' : 'invalid';
  switch (a) {
    case 'post':
    case 'update':
    case 'delete':
    case 'put_item':
    case 'delete_item':
      return worst(req, judgeWrite(body, true));
    case 'get_tweets': {
      const l = body.limit;
      const limit: Verdict = l === undefined || (typeof l === 'number' && Number.isInteger(l) && l >= 1 && l <= 1000) ? 'valid' : 'invalid';
      const before: Verdict = body.before === undefined || body.before === null ? 'valid' : typeof body.before === 'string' ? 'any' : 'invalid';
      return worst(req, onlyKeys(body, ['action', 'req', 'limit', 'before', 'username']), limit, before, judgeUsername(body.username, true));
    }
    case 'get_tweet':
      if (!isObj(body.tweet)) return 'invalid';
      return worst(req, onlyKeys(body, ['action', 'req', 'tweet']), onlyKeys(body.tweet, ['id']), judgeId(body.tweet.id));
    case 'get_item': {
      if (!isObj(body.item)) return 'invalid';
      const kind: Verdict = body.item.kind === 'user' || body.item.kind === 'session' ? 'valid' : 'invalid';
      return worst(req, onlyKeys(body, ['action', 'req', 'item']), onlyKeys(body.item, ['kind', 'key']), kind, judgeId(body.item.key));
    }
    case 'subscribe': {
      const s = body.since;
      const since: Verdict = s === undefined || s === null || (typeof s === 'number' && Number.isSafeInteger(s) && s >= 0) ? 'valid' : 'invalid';
      return worst(req, onlyKeys(body, ['action', 'req', 'since']), since);
    }
    case 'status':
    case 'check':
      return worst(req, onlyKeys(body, ['action', 'req']));
    case 'begin':
      return worst(req, onlyKeys(body, ['action', 'req']), tx === 'none' ? 'valid' : tx === 'open' ? 'invalid' : 'any');
    case 'commit':
    case 'abort':
      return worst(req, onlyKeys(body, ['action', 'req']), tx === 'none' ? 'invalid' : tx === 'open' ? 'valid' : 'any');
    case 'transaction': {
      const ops = body.ops;
      if (!Array.isArray(ops) || ops.length === 0 || ops.length > 100) return 'invalid';
      const each = ops.map((o): Verdict => (isObj(o) && typeof o.action === 'string' && WRITE_ACTIONS.includes(o.action) ? judgeWrite(o, false) : 'invalid'));
      return worst(req, onlyKeys(body, ['action', 'req', 'ops']), ...each, tx === 'none' ? 'valid' : tx === 'open' ? 'invalid' : 'any');
    }
  }
  return 'any';
}

// ---------------------------------------------------------------------------------------------
// Generators

interface Gen {
  rng: Rng;
  lane: number;
  include: Set<PendingFamily>;
  /** Cursors seen in replies, to send back as `before`. */
  cursors: string[];
}

function tweetId(g: Gen): FuzzValue {
  const n = g.rng.int(0, 11);
  return g.rng.bool(0.15) ? 7_000_000 + g.lane * 100 + n : `z${g.lane}.${n}`;
}
const itemKey = (g: Gen): FuzzValue => `z${g.lane}.k${g.rng.int(0, 7)}`;
const username = (g: Gen): string => g.rng.pick(USERNAMES);
function content(g: Gen): string {
  if (g.rng.bool(0.6)) return g.rng.pick(CONTENTS);
  const s = hostileString(g.rng, { loneSurrogates: false, maxLen: 280 });
  return judgeContent(s) === 'valid' ? s : 'fallback';
}
function itemValue(g: Gen): FuzzValue {
  const v = randomValue(g.rng, 3, g.include.has('lone-surrogates') && g.rng.bool(0.1));
  const o: FuzzValue = isObj(v) ? v : { v };
  return Buffer.byteLength(writeJson(o, PLAIN_STYLE, g.rng)) < 3000 ? o : { small: true };
}

function writeOp(g: Gen, action: string, top: boolean): Record<string, FuzzValue> {
  const o: Record<string, FuzzValue> = { action };
  switch (action) {
    case 'post':
      o.tweet = g.rng.bool(0.2) ? { username: username(g), content: content(g) } : { id: tweetId(g), username: username(g), content: content(g) };
      break;
    case 'update':
      o.tweet = g.rng.bool(0.5) ? { id: tweetId(g), content: content(g) } : { id: tweetId(g), content: content(g), username: username(g) };
      break;
    case 'delete':
      o.tweet = g.rng.bool(0.5) ? { id: tweetId(g) } : { id: tweetId(g), username: username(g) };
      break;
    case 'put_item':
      o.item = { kind: g.rng.pick(['user', 'session']), key: itemKey(g), value: itemValue(g) };
      if (g.rng.bool(0.4)) o.if_absent = g.rng.bool();
      break;
    default:
      o.item = { kind: g.rng.pick(['user', 'session']), key: itemKey(g) };
  }
  if (top && g.rng.bool(0.3)) o.req = reqValue(g);
  return o;
}

function reqValue(g: Gen): FuzzValue {
  return g.rng.weighted<() => FuzzValue>([
    [4, () => g.rng.int(0, 1_000_000)],
    [2, () => hostileString(g.rng, { loneSurrogates: false, maxLen: 100 })],
    [1, () => edgeNumber(g.rng)],
    [2, () => randomValue(g.rng, 3, false)],
    [1, () => nested(g.rng, g.rng.int(1, SAFE_ECHO_DEPTH), g.rng.pick<FuzzValue>([null, 1, 'deep', {}]))],
  ])();
}

/** A valid request of `action` (or of a random one). */
function validRequest(g: Gen, action?: string): Record<string, FuzzValue> {
  const a = action ?? g.rng.pick(ACTIONS.filter((x) => x !== 'begin' && x !== 'commit' && x !== 'abort'));
  if (WRITE_ACTIONS.includes(a)) return writeOp(g, a, true);
  const o: Record<string, FuzzValue> = { action: a };
  switch (a) {
    case 'get_tweets':
      if (g.rng.bool(0.5)) o.limit = g.rng.pick([1, 2, 10, 100, 1000]);
      if (g.rng.bool(0.3)) o.username = username(g);
      if (g.rng.bool(0.3)) o.before = g.cursors.length > 0 && g.rng.bool(0.8) ? g.rng.pick(g.cursors) : null;
      break;
    case 'get_tweet':
      o.tweet = { id: tweetId(g) };
      break;
    case 'get_item':
      o.item = { kind: g.rng.pick(['user', 'session']), key: itemKey(g) };
      break;
    case 'transaction':
      o.ops = Array.from({ length: g.rng.int(1, 5) }, () => writeOp(g, g.rng.pick(WRITE_ACTIONS), false));
      break;
    case 'subscribe':
      if (g.rng.bool(0.5)) o.since = g.rng.pick<FuzzValue>([0, 1, 5, 1_000_000, null]);
      break;
  }
  if (g.rng.bool(0.3)) o.req = reqValue(g);
  return o;
}

const BAD_ACTIONS = ['POST', 'post ', ' post', 'Post', 'get-tweets', 'getTweets', 'get_tweets\u0000', '', 'constructor', '__proto__', 'toString', 'hasOwnProperty', 'valueOf', 'launch', 'status\n', 'auth'];

/** Every path into `v` (object keys and array indices), to pick a field to mutate. */
function paths(v: FuzzValue, max = 200): (string | number)[][] {
  const out: (string | number)[][] = [];
  const stack: [FuzzValue, (string | number)[]][] = [[v, []]];
  while (stack.length > 0 && out.length < max) {
    const [x, p] = stack.pop() as [FuzzValue, (string | number)[]];
    if (p.length > 0) out.push(p);
    if (x === null || typeof x !== 'object' || x instanceof RawNumber || p.length >= 5) continue;
    if (Array.isArray(x)) x.forEach((c, i) => stack.push([c, [...p, i]]));
    else for (const k of Object.keys(x)) stack.push([x[k] as FuzzValue, [...p, k]]);
  }
  return out;
}

function getAt(v: FuzzValue, p: (string | number)[]): FuzzValue {
  let x: FuzzValue = v;
  for (const k of p) x = (x as Record<string | number, FuzzValue>)[k] as FuzzValue;
  return x;
}

function setOwn(o: Record<string, FuzzValue>, k: string, v: FuzzValue): void {
  Object.defineProperty(o, k, { value: v, enumerable: true, writable: true, configurable: true });
}

/** A string of exactly `n` code points, for the boundary of a field. */
function ofLength(g: Gen, n: number, astral: boolean): string {
  return codePoints(g.rng, n, astral ? ['a', '😀', 'é', '中'] : ['a', 'b', 'é', '中']);
}

/** One field changed, removed or added, with a note of what was done. */
function mutate(g: Gen, body: Record<string, FuzzValue>): string {
  const rng = g.rng;
  const all = paths(body);
  if (all.length === 0) {
    setOwn(body, rng.pick(HOSTILE_KEYS), randomValue(rng, 2, false));
    return 'added a field to an empty request';
  }
  const p = rng.pick(all);
  const parent = getAt(body, p.slice(0, -1)) as Record<string | number, FuzzValue>;
  const key = p[p.length - 1] as string | number;
  const name = typeof key === 'string' ? key : '';
  const where = p.join('.');
  const lone = g.include.has('lone-surrogates');
  const op = rng.int(0, 13);
  const set = (v: FuzzValue, what: string): string => {
    if (Array.isArray(parent)) parent[key as number] = v;
    else setOwn(parent as Record<string, FuzzValue>, String(key), v);
    return `${where} = ${what}`;
  };
  switch (op) {
    case 0:
      if (Array.isArray(parent)) parent.splice(key as number, 1);
      else delete (parent as Record<string, FuzzValue>)[String(key)];
      return `removed ${where}`;
    case 1: {
      const target = rng.bool(0.7) ? parent : body;
      if (target === null || typeof target !== 'object' || Array.isArray(target)) return 'no-op';
      const k = rng.bool(0.8) ? rng.pick(HOSTILE_KEYS) : hostileString(rng, { loneSurrogates: lone, maxLen: 20 });
      setOwn(target as Record<string, FuzzValue>, k, randomValue(rng, 2, lone));
      return `added field ${JSON.stringify(k)}`;
    }
    case 2:
      return set(rng.pick<FuzzValue>([null, true, false, 0, -1, [], {}, [1], { id: 'x' }, '']), 'a wrong type');
    case 3:
      return set(edgeNumber(rng), 'an edge number');
    case 4:
      return set(hostileString(rng, { loneSurrogates: lone, maxLen: 300 }), 'a hostile string');
    case 5: {
      // Boundary lengths of the field this is.
      const limit = name === 'content' ? 280 : name === 'username' ? 64 : name === 'id' || name === 'key' ? 128 : rng.pick([1, 64, 128, 280]);
      const n = limit + rng.pick([-1, 0, 0, 1, 2]);
      return set(ofLength(g, Math.max(0, n), rng.bool(0.5)), `a string of ${n} code points`);
    }
    case 6: {
      const cur = getAt(body, p);
      const s = typeof cur === 'string' ? cur : 'x';
      const ctl = String.fromCharCode(rng.pick([0, 1, 7, 8, 9, 10, 13, 27, 31, 127]));
      // Between code points: inside a surrogate pair it would make two lone surrogates.
      const cps = [...s];
      const at = rng.int(0, cps.length);
      return set([...cps.slice(0, at), ctl, ...cps.slice(at)].join(''), `a control character U+${ctl.charCodeAt(0).toString(16).padStart(4, '0')} inserted`);
    }
    case 7: {
      if (!lone) return set(rng.pick(HOSTILE_STRINGS), 'a catalogue string');
      const cur = getAt(body, p);
      const s = typeof cur === 'string' ? cur : 'x';
      const at = rng.int(0, s.length);
      return set(s.slice(0, at) + rng.pick(LONE_SURROGATES) + s.slice(at), 'a lone surrogate inserted');
    }
    case 8: {
      const deepOk = g.include.has('deep-nesting-echoed');
      const d = deepOk && rng.bool(0.5) ? rng.int(2_000, 200_000) : rng.int(1, SAFE_ECHO_DEPTH);
      // Deep values where the server echoes or stores them ("req", an item's value) only in the pending family.
      const echoed = p.includes('req') || p.includes('value');
      return set(nested(rng, echoed || deepOk ? d : rng.int(1, 50_000), rng.pick<FuzzValue>([null, 'x', 1, {}])), `nesting ${echoed || deepOk ? d : 'deep'} levels`);
    }
    case 9:
      return set(randomValue(rng, 3, lone), 'a random value');
    case 10:
      if (p.length === 1 && key === 'action') return set(rng.pick(BAD_ACTIONS), 'an unknown action');
      return set(rng.pick(ACTIONS as readonly string[]), 'another action');
    case 11: {
      if (Array.isArray(parent) || typeof key !== 'string') return 'no-op';
      const v = parent[key] as FuzzValue;
      delete (parent as Record<string, FuzzValue>)[key];
      const renamed = rng.pick([key.toUpperCase(), `${key} `, `${key}\u0000`, [...key].slice(0, -1).join(''), `${key}s`, key.normalize('NFD') + '\u0301']);
      setOwn(parent as Record<string, FuzzValue>, renamed, v);
      return `renamed ${where} to ${JSON.stringify(renamed)}`;
    }
    case 12:
      return set([getAt(body, p)], 'the value wrapped in a list');
    default:
      return set(codePoints(rng, rng.int(1, 2_000), WIDE_ALPHABET), 'a long string');
  }
}

// ---------------------------------------------------------------------------------------------
// Byte-level framing generators

const POISON: readonly string[] = [
  ']', '}', 'null', '[]', '[{"action":"status"}]', '"str"', '123', 'true', '\ufeff{"action":"status"}', '\u00a0', '\f', '\v', '\u2028', '\u0000',
  '{"action":"status",}', "{'action':'status'}", '{action:"status"}', '{"action":"status"} // c', '/* c */', '{"action":NaN}', '{"a":1]',
  '{"action":"post","tweet":{"id":"q","username":"u","content":"raw\u0001ctl"}}', '{"action":"status"}}', '{"action":"st\\x41tus"}', '{"action":"\\ud83d"}'.slice(0, 0) + '{"a":"\\u12"}',
  '{"action":"status" "req":1}', '{"action":"status"}garbage', '{{}}', '{"":}', '{"action":"status","req":01}', '{"action":"status","req":.5}', '{"action":"status","req":+1}',
  '{"action":"status","req":-}', '{"action":"status","req":1e}', '{"action":"status","req":Infinity}', '{"action":"status","req":undefined}',
];

/** Bytes that are not UTF-8, or not valid UTF-8: inside a string they become U+FFFD, outside one they are garbage. */
const BAD_UTF8: readonly number[][] = [
  [0xff], [0xfe], [0xc0, 0xaf], [0xe0, 0x80, 0xaf], [0xed, 0xa0, 0x80], [0xed, 0xbf, 0xbf], [0xf4, 0x90, 0x80, 0x80], [0xf8, 0x88, 0x80, 0x80, 0x80],
  [0x80], [0xbf], [0xc3], [0xe2, 0x82], [0xf0, 0x9f, 0x98], [0xc3, 0x28], [0xef, 0xbb, 0xbf], [0xf5], [0xc1, 0xbf],
];

interface Segment {
  bytes: Buffer;
  note: string;
}

function requestSegment(g: Gen, body: Record<string, FuzzValue>, note: string): Segment {
  const style = randomStyle(g.rng);
  return { bytes: Buffer.from(writeJson(body, style, g.rng), 'utf8'), note };
}

function separator(g: Gen): Buffer {
  return Buffer.from(g.rng.pick(['\n', '\n', ' ', '', '\r\n', '\t', '\n\n', ' \t\r\n ']), 'utf8');
}

function mutatedOrValid(g: Gen, action?: string): Segment {
  const body = validRequest(g, action);
  const n = g.rng.weighted([
    [5, 0],
    [6, 1],
    [2, 2],
    [1, 3],
  ]);
  const notes: string[] = [];
  for (let i = 0; i < n; i++) notes.push(mutate(g, body));
  return requestSegment(g, body, `${typeof body.action === 'string' ? body.action.slice(0, 20) : typeof body.action}${notes.length > 0 ? `: ${notes.join('; ')}` : ''}`);
}

/** Replaces bytes inside the first string value of a request with bytes that are not valid UTF-8. */
function withBadBytes(g: Gen, seg: Segment): Segment {
  const b = seg.bytes;
  const quotes: number[] = [];
  for (let i = 0; i < b.length; i++) if (b[i] === 0x22) quotes.push(i);
  const bad = Buffer.from(g.rng.pick(BAD_UTF8));
  const inside = quotes.length >= 4 && g.rng.bool(0.8);
  const at = inside ? (quotes[g.rng.int(1, Math.floor(quotes.length / 2) - 1) * 2 + 1] as number) : g.rng.int(0, b.length);
  return { bytes: Buffer.concat([b.subarray(0, at), bad, b.subarray(at)]), note: `${seg.note}; bytes ${bad.toString('hex')} at ${at}` };
}

export class ClientApiTarget implements FuzzTarget<ClientCase> {
  readonly name = 'client-api';
  readonly lanes = CLIENT_LANES;
  private readonly model = new Model();
  private readonly cursors: string[] = [];
  private casesSinceCheck = 0;

  constructor(
    private readonly cluster: LocalCluster,
    private readonly include: Set<PendingFamily>,
    private readonly scriptHint: string,
  ) {}

  processes(): { name: string; proc: import('node:child_process').ChildProcess }[] {
    return [this.cluster.coordinator, ...this.cluster.workers].map((n) => ({ name: n.name, proc: n.proc }));
  }

  replayHint(runSeed: number, c: ClientCase): string {
    const inc = this.include.size > 0 ? `${INCLUDE_ENV}=${[...this.include].join(',')} ` : '';
    return `${inc}npm run fuzz -- --seed ${runSeed} --only ${c.index}   (the whole run: ${inc}npm run fuzz -- --seed ${runSeed} --cases ${c.index + 1}; ${this.scriptHint})`;
  }

  generate(rng: Rng, index: number, lane: number): ClientCase {
    const g: Gen = { rng, lane, include: this.include, cursors: this.cursors };
    const family = rng.weighted<string>([
      [30, 'requests'],
      [8, 'split'],
      [10, 'session'],
      [7, 'transaction'],
      [5, 'garbage'],
      [5, 'truncated'],
      [5, 'half-close'],
      [5, 'bad-utf8'],
      [4, 'many'],
      [3, 'deep'],
      [3, 'long'],
      [3, 'reset'],
      [3, 'subscribe'],
      [3, 'numbers'],
      ...(this.include.has('read-storm') ? ([[1, 'read-storm']] as [number, string][]) : []),
    ]);
    const segs: Segment[] = [];
    let end: ClientCase['end'] = 'half-close';
    let endAt: number | null = null;
    let cuts = rng.weighted([
      [6, 0],
      [3, 1],
      [1, 4],
    ]);
    let pauseMs = 0;
    switch (family) {
      case 'requests':
        for (let i = rng.int(1, 6); i > 0; i--) segs.push(mutatedOrValid(g));
        break;
      case 'split':
        for (let i = rng.int(1, 3); i > 0; i--) segs.push(mutatedOrValid(g));
        cuts = rng.int(2, 40);
        pauseMs = rng.bool(0.2) ? 1 : 0;
        break;
      case 'session': {
        segs.push(rng.bool(0.9) ? requestSegment(g, { action: 'begin' }, 'begin') : mutatedOrValid(g, 'begin'));
        for (let i = rng.int(0, 4); i > 0; i--) segs.push(rng.bool(0.7) ? requestSegment(g, writeOp(g, rng.pick(WRITE_ACTIONS), true), 'op') : mutatedOrValid(g, rng.pick([...WRITE_ACTIONS, 'transaction', 'begin', 'get_tweet'])));
        const close = rng.pick(['commit', 'commit', 'abort', 'none']);
        if (close !== 'none') segs.push(rng.bool(0.85) ? requestSegment(g, { action: close }, close) : mutatedOrValid(g, close));
        if (rng.bool(0.3)) segs.push(requestSegment(g, { action: rng.pick(['commit', 'abort', 'begin']) }, 'again'));
        break;
      }
      case 'transaction': {
        const n = rng.weighted([
          [8, rng.int(1, 8)],
          [1, 100],
          [1, 101],
        ]);
        const body = { action: 'transaction', ops: Array.from({ length: n }, () => writeOp(g, rng.pick(WRITE_ACTIONS), false)) } as Record<string, FuzzValue>;
        const notes = rng.bool(0.5) ? [mutate(g, body)] : [];
        segs.push(requestSegment(g, body, `transaction of ${n}${notes.length > 0 ? `: ${notes[0]}` : ''}`));
        break;
      }
      case 'garbage':
        for (let i = rng.int(0, 2); i > 0; i--) segs.push(mutatedOrValid(g));
        segs.push(
          rng.bool(0.6)
            ? { bytes: Buffer.from(rng.pick(POISON), 'utf8'), note: 'poison' }
            : { bytes: rng.bytes(rng.int(1, 64)), note: 'random bytes' },
        );
        for (let i = rng.int(0, 2); i > 0; i--) segs.push(mutatedOrValid(g));
        break;
      case 'truncated': {
        for (let i = rng.int(0, 2); i > 0; i--) segs.push(mutatedOrValid(g));
        const s = mutatedOrValid(g);
        segs.push({ bytes: s.bytes.subarray(0, rng.int(1, s.bytes.length - 1)), note: `truncated ${s.note}` });
        if (rng.bool(0.4)) segs.push(mutatedOrValid(g));
        break;
      }
      case 'half-close':
        for (let i = rng.int(1, 4); i > 0; i--) segs.push(mutatedOrValid(g));
        endAt = -1;
        break;
      case 'bad-utf8':
        for (let i = rng.int(1, 3); i > 0; i--) segs.push(rng.bool(0.6) ? withBadBytes(g, mutatedOrValid(g)) : mutatedOrValid(g));
        break;
      case 'many': {
        const n = rng.int(20, 300);
        for (let i = 0; i < n; i++) {
          const body = rng.bool(0.5) ? { action: rng.pick(['status', 'get_tweet', 'get_tweets', 'get_item']), req: i } : validRequest(g, rng.pick(['get_tweet', 'get_tweets', 'status', 'get_item', 'launch']));
          if (body.action === 'get_tweet') body.tweet = { id: tweetId(g) };
          if (body.action === 'get_item') body.item = { kind: 'user', key: itemKey(g) };
          if (body.action === 'get_tweets') body.limit = rng.pick([1, 5, 1000]);
          segs.push({ bytes: Buffer.from(JSON.stringify(body)), note: '' });
        }
        segs[0]!.note = `${n} requests in one write`;
        cuts = 0;
        break;
      }
      case 'deep': {
        const body = validRequest(g);
        const d = rng.int(1, 20_000);
        const where = rng.pick(['field', 'req', 'value']);
        const leaf = rng.pick<FuzzValue>([null, 'x', 1, {}]);
        const deepOk = this.include.has('deep-nesting-echoed');
        if (where === 'req') body.req = nested(rng, deepOk ? d : Math.min(d, SAFE_ECHO_DEPTH), leaf);
        else if (where === 'value' && (deepOk || d <= SAFE_ECHO_DEPTH)) {
          body.action = 'put_item';
          body.item = { kind: 'user', key: itemKey(g), value: { v: nested(rng, d, leaf) } };
          delete body.tweet;
          delete body.ops;
        } else setOwn(body, rng.pick(['tweet', 'ops', 'limit', 'item', 'zzz', 'since']), nested(rng, d, leaf));
        segs.push(requestSegment(g, body, `${typeof body.action === 'string' ? body.action : '?'} nested ${d} deep in ${where}`));
        break;
      }
      case 'long': {
        const body = validRequest(g, rng.pick(['post', 'update', 'put_item', 'get_tweet', 'status']));
        const size = rng.weighted([
          [3, rng.int(1_000, 100_000)],
          [1, README_MAX_REQUEST_BYTES - rng.int(0, 200)],
          [1, README_MAX_REQUEST_BYTES + rng.int(0, 200)],
        ]);
        const field = rng.pick(['content', 'req', 'id', 'extra']);
        const s = 'x'.repeat(size);
        if (field === 'req') body.req = s;
        else if (field === 'extra') body.zz = s;
        else if (isObj(body.tweet)) setOwn(body.tweet as Record<string, FuzzValue>, field, s);
        else body.req = s;
        segs.push(requestSegment(g, body, `${typeof body.action === 'string' ? body.action : '?'} with ${size} characters in ${field}`));
        if (rng.bool(0.3)) segs.push(mutatedOrValid(g));
        break;
      }
      case 'reset':
        for (let i = rng.int(1, 4); i > 0; i--) segs.push(mutatedOrValid(g));
        end = 'destroy';
        endAt = -1;
        break;
      case 'subscribe': {
        const since = rng.pick<FuzzValue>([undefined as unknown as FuzzValue, 0, 1, 1_000_000_000, -1, 1.5, '3', null, new RawNumber('1e400')]);
        segs.push(requestSegment(g, since === undefined ? { action: 'subscribe' } : { action: 'subscribe', since }, `subscribe since ${String(since)}`));
        for (let i = rng.int(0, 3); i > 0; i--) segs.push(mutatedOrValid(g, rng.pick(WRITE_ACTIONS)));
        if (rng.bool(0.3)) segs.push(requestSegment(g, { action: 'subscribe' }, 'subscribe again'));
        break;
      }
      case 'numbers': {
        for (let i = rng.int(1, 3); i > 0; i--) {
          const a = rng.pick(['get_tweets', 'subscribe', 'get_tweet', 'post', 'put_item']);
          const body = validRequest(g, a);
          const num = edgeNumber(rng);
          if (a === 'get_tweets') body.limit = num;
          else if (a === 'subscribe') body.since = num;
          else if (a === 'get_tweet' || a === 'post') (body.tweet as Record<string, FuzzValue>).id = num;
          else (body.item as Record<string, FuzzValue>).key = num;
          segs.push(requestSegment(g, body, `${a} with ${num.text}`));
        }
        break;
      }
      case 'read-storm': {
        const n = 1_600;
        const one = Buffer.from(JSON.stringify({ action: 'get_tweets', limit: 1000 }) + '\n');
        segs.push({ bytes: Buffer.concat(Array.from({ length: n }, () => one)), note: `${n} pipelined get_tweets limit 1000 (after filling 1,000 long tweets)` });
        cuts = 0;
        break;
      }
    }
    const parts: Buffer[] = [];
    segs.forEach((s, i) => {
      if (i > 0 || rng.bool(0.1)) parts.push(separator(g));
      parts.push(s.bytes);
    });
    if (rng.bool(0.3)) parts.push(separator(g));
    const bytes = Buffer.concat(parts);
    const cutSet = new Set<number>();
    for (let i = 0; i < cuts && bytes.length > 1; i++) cutSet.add(rng.int(1, bytes.length - 1));
    const at = endAt === -1 ? rng.int(0, bytes.length) : bytes.length;
    return {
      index,
      seed: 0,
      lane,
      family,
      notes: segs.map((s) => s.note).filter((n) => n !== ''),
      bytes,
      cuts: [...cutSet].sort((a, b) => a - b),
      pauseMs,
      end,
      endAt: at,
      // Not drawn from rng: the cases of every earlier seed stay what they were.
      admin: index % 2 === 0,
    };
  }

  async run(c: ClientCase): Promise<void> {
    if (c.family === 'read-storm') await this.fillForReadStorm();
    const sent = c.bytes.subarray(0, c.endAt);
    const lines = await this.exchange(c, sent);
    if (c.admin) {
      // The auth line went first: its reply is the first line, before any of the case's.
      const first = lines.lines.shift();
      // A case that resets its connection at once may get no reply at all.
      const lost = first === undefined && c.end === 'destroy';
      if (!lost && (first === undefined || !/^\{"status":"OK","role":"admin"\}$/.test(first))) throw new FuzzFinding(`the admin token was not accepted: ${JSON.stringify(first)}`);
    }
    const ended = c.end === 'half-close';
    const frames = referenceFrames(sent, ended);
    this.checkAndApply(c, frames, lines);
    this.casesSinceCheck++;
  }

  /** Sends the case's bytes as it says (cuts, pauses, half-close or reset) and returns every line the server sent. */
  private exchange(c: ClientCase, sent: Buffer): Promise<{ lines: string[]; reset: boolean; unfinished: string }> {
    const i = this.cluster.address.lastIndexOf(':');
    return new Promise((resolve, reject) => {
      const socket = connect({ host: this.cluster.address.slice(0, i), port: Number(this.cluster.address.slice(i + 1)), allowHalfOpen: true });
      const chunks: Buffer[] = [];
      let reset = false;
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new FuzzFinding(`hang: the server neither answered everything nor closed within ${CASE_DEADLINE_MS} ms`, `  got so far (${chunks.reduce((n, b) => n + b.length, 0)} bytes): ${JSON.stringify(Buffer.concat(chunks.slice(0, 4)).subarray(0, 2000).toString('utf8'))}`));
      }, CASE_DEADLINE_MS);
      socket.on('data', (d: Buffer) => chunks.push(d));
      socket.on('end', () => socket.end());
      socket.on('error', (e: NodeJS.ErrnoException) => {
        if (e.code === 'ECONNRESET') reset = true;
      });
      socket.on('close', () => {
        clearTimeout(timer);
        const text = Buffer.concat(chunks).toString('utf8');
        const parts = text.split('\n');
        resolve({ lines: parts.slice(0, -1), reset, unfinished: parts[parts.length - 1] ?? '' });
      });
      socket.once('connect', () => {
        void (async () => {
          const bounds = [0, ...c.cuts.filter((x) => x < sent.length), sent.length];
          for (let k = 0; k + 1 < bounds.length; k++) {
            if (socket.destroyed) return;
            if (k === 0 && c.admin) socket.write(`{"action":"auth","token":"${this.cluster.adminToken}"}\n`);
            socket.write(sent.subarray(bounds[k], bounds[k + 1]));
            if (k + 2 < bounds.length) await new Promise((r) => (c.pauseMs > 0 ? setTimeout(r, c.pauseMs) : setImmediate(r)));
          }
          if (c.end === 'destroy') {
            await new Promise((r) => setImmediate(r));
            socket.destroy();
          } else socket.end();
        })();
      });
    }).then((r) => {
      const res = r as { lines: string[]; reset: boolean; unfinished: string };
      if (c.end === 'half-close' && res.unfinished !== '') throw new FuzzFinding('the server closed in the middle of a reply line', `  unfinished line: ${JSON.stringify(res.unfinished.slice(0, 500))}`);
      return res;
    }) as Promise<{ lines: string[]; reset: boolean; unfinished: string }>;
  }

  private checkAndApply(c: ClientCase, frames: Frame[], got: { lines: string[]; reset: boolean }): void {
    const replies: Record<string, unknown>[] = [];
    for (const line of got.lines) {
      if (line.startsWith('{"event":')) {
        // A change event (after subscribe), between the replies; not a reply. (A reply starts with its status.)
        continue;
      }
      const r = replyProblem(line);
      if ('problem' in r) throw new FuzzFinding(`bad reply line: ${r.problem}`, `  line: ${JSON.stringify(line.slice(0, 2000))}`);
      // Change events (after subscribe) come between replies and are not replies.
      if ('event' in r.reply && !('status' in r.reply)) continue;
      replies.push(r.reply);
    }
    const show = (): string => `  frames: ${frames.length}, replies: ${replies.length}\n  replies: ${JSON.stringify(replies).slice(0, 3000)}`;
    if (c.end === 'half-close') {
      if (replies.length !== frames.length) {
        throw new FuzzFinding(`${frames.length} requests (the README's framing) but ${replies.length} replies${got.reset ? ' and a reset' : ''}`, show());
      }
    } else if (replies.length > frames.length) {
      throw new FuzzFinding(`more replies (${replies.length}) than requests (${frames.length})`, show());
    }
    let tx: TxState = 'none';
    let pending: [Record<string, unknown>, Record<string, unknown>][] = [];
    const unknownOps = (ops: Record<string, unknown>[]): void => {
      for (const op of ops) this.markUnknown(op, c.lane);
    };
    for (let k = 0; k < frames.length; k++) {
      const f = frames[k] as Frame;
      const r = replies[k];
      if (f.kind === 'fatal') {
        if (r === undefined) break;
        if (r.status !== 'ERROR' || r.code !== f.code) throw new FuzzFinding(`the stream went wrong (${f.why}): expected ERROR ${f.code}, got ${r.status} ${String(r.code)}`, show());
        break;
      }
      if (f.kind === 'deep') {
        // Refused unparsed: INVALID (its `req` cannot be echoed), and the stream goes on. It wrote nothing.
        if (r !== undefined && (r.status !== 'ERROR' || r.code !== 'INVALID')) throw new FuzzFinding(`request ${k}: nested past the README's limit but answered ${String(r.status)} ${String(r.code)}`, show());
        continue;
      }
      const body = f.body;
      const ops = this.writesOf(body);
      if (r === undefined) {
        // No reply (the case reset the connection): the outcome is unknown.
        if (tx === 'none') unknownOps(ops);
        continue;
      }
      if (body.req !== undefined && canon(r.req) !== canon(body.req)) throw new FuzzFinding(`request ${k}: "req" not echoed: sent ${canon(body.req).slice(0, 200)}, got ${canon(r.req).slice(0, 200)}`, show());
      if (body.req === undefined && 'req' in r) throw new FuzzFinding(`request ${k}: a "req" in the reply that the request did not have`, show());
      const verdict = judge(body, tx);
      // Invalid only where it comes (a transaction inside begin), and kept for admins: the role is checked first.
      const refusedFirst = verdict === 'invalid' && !c.admin && needsAdmin(body) && judge(body, 'none') === 'valid' && r.code === 'UNAUTHENTICATED';
      if (verdict === 'invalid' && !refusedFirst && (r.status !== 'ERROR' || r.code !== 'INVALID')) {
        throw new FuzzFinding(`request ${k} breaks the README's rules but got ${r.status} ${String(r.code ?? '')} instead of ERROR INVALID`, `  request: ${f.text.slice(0, 1000)}\n${show()}`);
      }
      if (verdict === 'valid' && r.code === 'INVALID') {
        throw new FuzzFinding(`request ${k} follows the README's rules but got ERROR INVALID: ${String(r.error)}`, `  request: ${f.text.slice(0, 1000)}\n${show()}`);
      }
      if (verdict === 'valid' && (r.code === 'UNAUTHENTICATED') !== (!c.admin && needsAdmin(body))) {
        throw new FuzzFinding(
          c.admin ? `request ${k} came with the admin token but got UNAUTHENTICATED` : `request ${k} ${needsAdmin(body) ? 'needs the admin token, came without it, and got' : 'is open to anyone but got'} ${String(r.status)} ${String(r.code ?? '')}`,
          `  request: ${f.text.slice(0, 1000)}\n${show()}`,
        );
      }
      if (typeof r.next === 'string' && this.cursors.length < 50) this.cursors.push(r.next);
      const a = body.action;
      // Refused as invalid: it changed nothing (an open transaction stays open; fuzz seed 2727624816:
      // a `commit` with an unknown field, then a valid one that committed).
      if (r.code === 'INVALID' || r.code === 'UNAUTHENTICATED') continue;
      // In doubt: it commits or not once a voter answers, so what it writes is unknown.
      if (r.code === 'IN_DOUBT') {
        if (tx === 'none') unknownOps(ops);
        else if (a === 'commit') {
          for (const [op] of pending) this.markUnknown(op, c.lane);
          pending = [];
          tx = 'none';
        }
        continue;
      }
      if (r.status !== 'OK') {
        if (a === 'commit' || a === 'abort') {
          pending = [];
          tx = tx === 'open' ? 'unknown' : tx;
        }
        if (tx === 'open' && ops.length > 0 && r.status === 'ABORT') {
          // A failed op aborts the whole transaction; the commit that follows gets the same ABORT.
          pending = [];
        }
        continue;
      }
      if (a === 'begin') {
        tx = 'open';
        pending = [];
      } else if (a === 'commit') {
        for (const [op, res] of pending) this.applyWrite(op, res, c.lane, k);
        pending = [];
        tx = 'none';
      } else if (a === 'abort') {
        pending = [];
        tx = 'none';
      } else if (a === 'transaction') {
        // The README's shape, {"results":[...]}, for any number of ops (this fuzzer found one op answered otherwise).
        const results = r.results;
        if (!Array.isArray(results) || results.length !== ops.length) throw new FuzzFinding(`transaction OK with ${Array.isArray(results) ? results.length : 'no'} results for ${ops.length} ops`, show());
        ops.forEach((op, i) => this.applyWrite(op, results[i] as Record<string, unknown>, c.lane, k));
      } else if (ops.length === 1) {
        const op = ops[0] as Record<string, unknown>;
        if (tx === 'open') pending.push([op, r]);
        else if (tx === 'unknown') this.markUnknown(op, c.lane);
        else this.applyWrite(op, r, c.lane, k);
      }
    }
    // Writes of a transaction left open when the connection closed are aborted; nothing to apply.
  }

  /** The writes a request makes if it commits: itself, or the ops of a transaction. Also notes every item named. */
  private writesOf(body: Record<string, unknown>): Record<string, unknown>[] {
    const list = body.action === 'transaction' && Array.isArray(body.ops) ? (body.ops as unknown[]).filter(isObj) : typeof body.action === 'string' && WRITE_ACTIONS.includes(body.action) ? [body] : [];
    for (const op of [...list, body]) {
      if (isObj(op.item) && (op.item.kind === 'user' || op.item.kind === 'session')) {
        const key = idOf(op.item.key);
        if (key !== null && this.model.itemKeys.size < 5_000) this.model.itemKeys.set(itemId(op.item.kind, key), { kind: op.item.kind, key });
      }
    }
    return list;
  }

  private own(id: string, lane: number, uncertain: Set<string>): void {
    const o = this.model.owner.get(id);
    if (o !== undefined && o !== lane) uncertain.add(id);
    this.model.owner.set(id, lane);
  }

  private markUnknown(op: Record<string, unknown>, lane: number): void {
    const m = this.model;
    if (isObj(op.tweet)) {
      const id = idOf(op.tweet.id);
      if (id !== null) {
        m.uncertainTweets.add(id);
        this.own(id, lane, m.uncertainTweets);
      } else if (op.action === 'post' && typeof op.tweet.username === 'string' && typeof op.tweet.content === 'string') {
        m.unknownPosts.push({ username: op.tweet.username, content: op.tweet.content });
      }
    }
    if (isObj(op.item)) {
      const key = idOf(op.item.key);
      if (key !== null && typeof op.item.kind === 'string') m.uncertainItems.add(itemId(op.item.kind, key));
    }
  }

  /** An OK'd write: what it stored must be what was asked, and the model learns it. */
  private applyWrite(op: Record<string, unknown>, res: Record<string, unknown>, lane: number, k: number): void {
    const m = this.model;
    const a = op.action;
    if (a === 'post' || a === 'update') {
      const asked = op.tweet as Record<string, unknown>;
      const t = res.tweet as Tweet | undefined;
      if (!isObj(t) || typeof t.id !== 'string') throw new FuzzFinding(`request ${k}: ${a} OK without the tweet`, JSON.stringify(res).slice(0, 500));
      if (t.content !== asked.content) throw new FuzzFinding(`request ${k}: ${a} OK but the tweet's content is ${JSON.stringify(t.content)}, not the ${JSON.stringify(asked.content)} sent`);
      if (a === 'post' && t.username !== asked.username) throw new FuzzFinding(`request ${k}: post OK but stored username ${JSON.stringify(t.username)}, not ${JSON.stringify(asked.username)}`);
      const id = idOf(asked.id);
      if (id !== null && t.id !== id) throw new FuzzFinding(`request ${k}: ${a} OK for id ${JSON.stringify(id)} but the tweet has id ${JSON.stringify(t.id)}`);
      this.own(t.id, lane, m.uncertainTweets);
      m.tweets.set(t.id, { id: t.id, username: t.username, content: t.content, created_at: t.created_at, updated_at: t.updated_at });
    } else if (a === 'delete') {
      const id = idOf((op.tweet as Record<string, unknown>).id) as string;
      this.own(id, lane, m.uncertainTweets);
      m.tweets.set(id, null);
    } else if (a === 'put_item' || a === 'delete_item') {
      const it = op.item as Record<string, unknown>;
      const id = itemId(String(it.kind), idOf(it.key) as string);
      this.own(`item:${id}`, lane, m.uncertainItems);
      if (m.uncertainItems.has(`item:${id}`)) m.uncertainItems.add(id);
      if (a === 'put_item') {
        const got = res.item as Record<string, unknown> | undefined;
        if (!isObj(got) || canon(got.value) !== canon(it.value)) {
          throw new FuzzFinding(`request ${k}: put_item OK but the item's value is ${canon(got?.value).slice(0, 300)}, not the ${canon(it.value).slice(0, 300)} sent`);
        }
        m.items.set(id, it.value);
      } else m.items.set(id, null);
    }
  }

  /** Stored state against the model, and the copies equal. */
  async check(): Promise<void> {
    const m = this.model;
    let conv: { id: string; count: number; digest: string; prepared: number; locks: number; items?: number }[];
    try {
      conv = (await this.cluster.waitConverged(30_000)) as typeof conv;
    } catch (e) {
      throw new FuzzFinding(`the copies did not converge (every worker up, equal digests, nothing in doubt): ${(e as Error).message}`);
    }
    const client = await TweetdbClient.connect(this.cluster.address, 5_000, null, this.cluster.adminToken);
    try {
      const stored = new Map<string, Tweet>();
      let before: string | null = null;
      for (;;) {
        const r = await client.request(before === null ? { action: 'get_tweets', limit: 1000 } : { action: 'get_tweets', limit: 1000, before });
        if (r.status !== 'OK') throw new FuzzFinding(`get_tweets for the check failed: ${JSON.stringify(r)}`);
        for (const t of r.tweets as Tweet[]) {
          if (stored.has(t.id)) throw new FuzzFinding(`get_tweets lists id ${JSON.stringify(t.id)} twice`);
          stored.set(t.id, t);
        }
        if (r.next === null) break;
        before = r.next as string;
      }
      const unknown = [...m.unknownPosts];
      for (const [id, t] of stored) {
        if (m.uncertainTweets.has(id)) continue;
        const want = m.tweets.get(id);
        if (want === undefined || want === null) {
          const j = unknown.findIndex((p) => p.username === t.username && p.content === t.content);
          if (j >= 0 && want === undefined) {
            unknown.splice(j, 1);
            continue;
          }
          throw new FuzzFinding(`stored tweet ${JSON.stringify(id)} was never written by an OK'd request${want === null ? ' (its delete was OK)' : ''}`, `  stored: ${JSON.stringify(t)}`);
        }
        if (canon(want) !== canon(t)) throw new FuzzFinding(`stored tweet ${JSON.stringify(id)} differs from its last OK'd write`, `  stored: ${JSON.stringify(t)}\n  OK'd:   ${JSON.stringify(want)}`);
      }
      for (const [id, t] of m.tweets) {
        if (t !== null && !m.uncertainTweets.has(id) && !stored.has(id)) throw new FuzzFinding(`tweet ${JSON.stringify(id)} was OK'd but is not stored`, `  OK'd: ${JSON.stringify(t)}`);
      }
      for (const w of conv) {
        if (w.count !== stored.size) throw new FuzzFinding(`worker ${w.id} counts ${w.count} tweets; get_tweets lists ${stored.size}`);
      }
      // Items: every one named by any request, read back.
      const keys = new Map(m.itemKeys);
      for (const id of m.items.keys()) if (!keys.has(id)) keys.set(id, { kind: id.split('\u0000')[0] as string, key: id.slice(id.indexOf('\u0000') + 1) });
      const reads = [...keys].map(async ([id, { kind, key }]) => [id, await client.request({ action: 'get_item', item: { kind, key } })] as const);
      let present = 0;
      for (const [id, r] of await Promise.all(reads)) {
        const want = m.items.get(id);
        if (want !== undefined && want !== null) present++;
        if (m.uncertainItems.has(id)) continue;
        if (r.status === 'OK') {
          const got = (r.item as Record<string, unknown>).value;
          if (want === undefined || want === null) throw new FuzzFinding(`item ${JSON.stringify(id)} is stored but no OK'd request stored it${want === null ? ' (its delete was OK)' : ''}`, `  stored: ${canon(got).slice(0, 500)}`);
          if (canon(got) !== canon(want)) throw new FuzzFinding(`item ${JSON.stringify(id)} differs from its last OK'd put`, `  stored: ${canon(got).slice(0, 500)}\n  OK'd: ${canon(want).slice(0, 500)}`);
        } else if (want !== undefined && want !== null) {
          throw new FuzzFinding(`item ${JSON.stringify(id)} was OK'd but get_item says ${r.status} ${String(r.code)}`);
        }
      }
      if (m.uncertainItems.size === 0) {
        for (const w of conv) if (w.items !== undefined && w.items !== present) throw new FuzzFinding(`worker ${w.id} counts ${w.items} items; the OK'd writes leave ${present}`);
      }
      m.tweetsChecked = stored.size;
    } finally {
      client.close();
    }
    this.casesSinceCheck = 0;
  }

  get stats(): { tweets: number; items: number; uncertain: number } {
    return { tweets: this.model.tweetsChecked, items: [...this.model.items.values()].filter((v) => v !== null).length, uncertain: this.model.uncertainTweets.size + this.model.uncertainItems.size };
  }

  private filled = false;
  /** The read storm needs 1,000 long tweets to read: posted once, in transactions of 100. */
  private async fillForReadStorm(): Promise<void> {
    if (this.filled) return;
    this.filled = true;
    const client = await TweetdbClient.connect(this.cluster.address, 5_000, null, this.cluster.adminToken);
    try {
      for (let b = 0; b < 10; b++) {
        const ops = Array.from({ length: 100 }, (_, i) => ({ action: 'post', tweet: { id: `storm.${b}.${i}`, username: 'storm', content: '😀'.repeat(280) } }));
        const r = await client.request({ action: 'transaction', ops });
        if (r.status !== 'OK') throw new Error(`filling for the read storm: ${JSON.stringify(r)}`);
        (r.results as Record<string, unknown>[]).forEach((res, i) => this.applyWrite(ops[i] as Record<string, unknown>, res, -1, 0));
      }
    } finally {
      client.close();
    }
  }
}
