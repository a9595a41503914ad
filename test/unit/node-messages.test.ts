import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  answerProblem,
  parseFromWorker,
  parsePeerAnswer,
  parsePeerQuery,
  parseToWorker,
  readResultMatches,
  type Parsed,
} from '../../src/wire/node-messages.ts';
import { validateRequest } from '../../src/wire/validate.ts';
import { encodeCursor } from '../../src/core/render.ts';
import { CoordinatorCore, type CoordinatorEffect, type CoordinatorEvent } from '../../src/core/coordinator.ts';
import { TEST_CLUSTER, TEST_IDENTITY, startCore } from '../helpers/coordinator-core.ts';
import { WorkerCore, durableEvent, type PersistEffect, type WorkerEffect, type WorkerEvent } from '../../src/core/worker.ts';
import { WorkerStore } from '../../src/storage/worker-store.ts';
import { answerCopy, answerRead, applyInstall } from '../../src/node/worker-service.ts';
import { simulate } from '../../sim/simulator.ts';
import type { ClientRequest, FromWorker, ReadQuery, ToWorker, Tweet } from '../../src/core/types.ts';
import { CONTENT_MAX_CODE_POINTS, ID_MAX_CHARS, ITEM_VALUE_MAX_BYTES, ITEM_VALUE_MAX_DEPTH, NODE_MAX_COPY_ROWS, NODE_MAX_CURSOR_ID_CHARS, NODE_MAX_ERROR_CHARS, NODE_MAX_LOCK_TIMEOUT_MS, NODE_MAX_OPS, NODE_MAX_PREPARED, NODE_MAX_READ_TEXT_CHARS, NODE_MAX_READ_TWEETS, NODE_MAX_VOTERS, PARSE_ERROR_MAX_CHARS, USERNAME_MAX_CHARS } from '../../src/wire/limits.ts';

type Parser = (raw: unknown) => Parsed<unknown>;
const PARSERS: Record<string, Parser> = { to: parseToWorker, from: parseFromWorker, peer_query: parsePeerQuery, peer_answer: parsePeerAnswer };

// ---------------------------------------------------------------------------
// One valid example of every message, and of every variant inside one.

const tweet: Tweet = { id: 't1', username: 'alice', content: 'hello, world 👋', created_at: 1_700_000_000_000, updated_at: null };
const edited: Tweet = { ...tweet, id: '000abc001001', updated_at: 1_700_000_000_500 };
const user = { kind: 'user', key: 'ada', value: { hash: 'scrypt$abc', created: 1, tags: ['a', { b: null, c: true }], '__proto__': { x: 1 } } };
const session = { kind: 'session', key: 's-1', value: { user: 'ada' } };
const voters = ['w1', 'w-0a1b2c3d', 'w3'];
/** The addresses a prepare carries for voters its link was not told yet (#13 item 5: said once per link). */
const addresses = [
  { id: 'w1', address: '127.0.0.1:9001' },
  { id: 'w-0a1b2c3d', address: '[::1]:9002' },
];
const check = { count: 3, items: 1, digest: 'a'.repeat(64), prepared: 0, locks: 0, max_cseq: 7, fsyncs: 12, fsync_ms: 3, resolved_by_peers: 0, restarts: 0 };

const EXAMPLES: [name: string, parser: keyof typeof PARSERS, msg: Record<string, unknown>][] = [
  // #23: the cluster, the coordinator's epoch and run (fencing), the voting set, the reservation in force.
  ['hello', 'to', { type: 'hello', lock_timeout_ms: 10_000, cluster: 'c-0a1b', epoch: 4, run: '9f8e7d6c', config: 3, voter: true, voters: ['w1', 'w-0a1b2c3d'], catching_up: ['w-0a1b2c3d'], reserved: 100_000 }],
  ['hello (no configuration yet)', 'to', { type: 'hello', lock_timeout_ms: 10_000, cluster: 'c-0a1b', epoch: 4, run: '9f8e7d6c', config: 0, voter: false, voters: [], catching_up: [], reserved: 0 }],
  ['reserved', 'to', { type: 'reserved', through: 200_000 }],
  ['config_propose', 'to', { type: 'config_propose', config: 8, voters: ['w1', 'w2'], catching_up: ['w2'] }],
  ['lock post', 'to', { type: 'lock', txid: '1.1', seq: 1, op: { kind: 'post', tweet }, config: 2, floor: 0 }],
  ['lock update', 'to', { type: 'lock', txid: '1.2', seq: 2, op: { kind: 'update', id: 't1', content: 'new', username: 'alice', at: 1_700_000_000_001 }, config: 2, floor: 7 }],
  ['lock update (anyone)', 'to', { type: 'lock', txid: '1.2', seq: 3, op: { kind: 'update', id: 't1', content: 'new', username: null, at: 0 }, config: 2, floor: 0 }],
  ['lock delete', 'to', { type: 'lock', txid: '1.3', seq: 1, op: { kind: 'delete', id: 't1', username: null }, config: 2, floor: 0 }],
  ['lock put_item', 'to', { type: 'lock', txid: '1.4', seq: 1, op: { kind: 'put_item', item: user, mode: 'create' }, config: 2, floor: 0 }],
  ['lock delete_item', 'to', { type: 'lock', txid: '1.5', seq: 1, op: { kind: 'delete_item', item_kind: 'session', key: 's-1' }, config: 2, floor: 0 }],
  // #13: a prepare carries the cseq its transaction commits with.
  ['prepare one-shot', 'to', { type: 'prepare', txid: '2.9', ops: [{ kind: 'post', tweet }, { kind: 'put_item', item: session, mode: 'replace' }], voters, addresses, config: 4, floor: 12, cseq: 5 }],
  ['prepare interactive', 'to', { type: 'prepare', txid: '2.10', ops: null, voters, addresses, config: 4, floor: 0, cseq: 6 }],
  ['prepare to a link told every address (#13 item 5: ids only)', 'to', { type: 'prepare', txid: '2.12', ops: [{ kind: 'post', tweet }], voters, config: 4, floor: 0, cseq: 7 }],
  ['prepare without voters', 'to', { type: 'prepare', txid: '2.11', ops: null, config: 1, floor: 0, cseq: 1 }],
  ['commit', 'to', { type: 'commit', txid: '2.9', cseq: 5 }],
  ['abort', 'to', { type: 'abort', txid: '2.9' }],
  ['prevent', 'to', { type: 'prevent', txid: '2.9' }],
  ['config', 'to', { type: 'config', config: 5, voter: true, removed: false, voters: ['w1'], catching_up: [] }],
  ['config (removed)', 'to', { type: 'config', config: 6, voter: false, removed: true, voters: ['w1', 'w2'], catching_up: ['w2'] }],
  ['replicate', 'to', { type: 'replicate', seq: 1, txid: '2.9', cseq: 5, ops: [{ kind: 'post', tweet }, { kind: 'delete_item', item_kind: 'session', key: 's-1' }] }],
  ['read get_tweets', 'to', { type: 'read', rid: 1, query: { kind: 'get_tweets', limit: 101, before: { created_at: 5, id: 't1' }, username: 'alice' }, reply_text: true }],
  ['read get_tweets (first page)', 'to', { type: 'read', rid: 2, query: { kind: 'get_tweets', limit: 1001, before: null, username: null } }],
  ['read get_tweet', 'to', { type: 'read', rid: 3, query: { kind: 'get_tweet', id: 't1' } }],
  ['read get_item', 'to', { type: 'read', rid: 4, query: { kind: 'get_item', item_kind: 'user', key: 'ada' } }],
  ['read check', 'to', { type: 'read', rid: 5, query: { kind: 'check' } }],
  ['copy_read', 'to', { type: 'copy_read', rid: 6, after: null, limit: 2000 }],
  ['copy_read (items)', 'to', { type: 'copy_read', rid: 7, after: 'i\u0000user\u0000ada', limit: 2000 }],
  ['copy_read (tweets)', 'to', { type: 'copy_read', rid: 8, after: 't\u0000t1', limit: 2000 }],
  ['install', 'to', { type: 'install', rid: 9, rows: [{ c: 'i\u0000user\u0000ada', s: 3, item: user }, { c: 't\u0000t1', s: 7, tweet }], reset: true, done: false, max_cseq: 7, stream_seq: 4 }],
  ['install (last, empty)', 'to', { type: 'install', rid: 10, rows: [], reset: false, done: true, max_cseq: 0, stream_seq: 0 }],
  // #13: each prepared transaction with its voters (the worker among them) and cseq (0: a record from before implicit commit).
  ['state', 'from', { type: 'state', node_id: 'w1', prepared: [{ txid: '1.1', voters: ['w1', 'w-0a1b2c3d'], cseq: 4 }, { txid: '12.345', voters: ['w1'], cseq: 0 }], max_cseq: 3, known_config: { n: 0, voters: [], catching_up: [] }, proposed_config: null, reserved: 0 }],
  ['state (nothing prepared)', 'from', { type: 'state', node_id: 'w1', prepared: [], max_cseq: 0, known_config: { n: 0, voters: [], catching_up: [] }, proposed_config: null, reserved: 0 }],
  ['state (a configuration known)', 'from', { type: 'state', node_id: 'w1', prepared: [], max_cseq: 9, known_config: { n: 7, voters: ['w1', 'w2'], catching_up: ['w2'] }, proposed_config: { n: 8, voters: ['w1'], catching_up: [] }, reserved: 100_000 }],
  ['config_ack', 'from', { type: 'config_ack', config: 8 }],
  ['refused (another cluster)', 'from', { type: 'refused', reason: 'cluster', cluster: 'c-1', epoch: 3, live: false, error: 'worker w1 holds the data of cluster c-1' }],
  ['refused (a newer coordinator)', 'from', { type: 'refused', reason: 'epoch', cluster: null, epoch: 9, live: true, error: 'worker w1 obeys epoch 9' }],
  ['locked tweet', 'from', { type: 'locked', txid: '1.1', seq: 1, result: { tweet } }],
  ['locked item', 'from', { type: 'locked', txid: '1.1', seq: 2, result: { item: session } }],
  ['locked nothing', 'from', { type: 'locked', txid: '1.1', seq: 3, result: {} }],
  ['lock_refused', 'from', { type: 'lock_refused', txid: '1.1', seq: 1, code: 'LOCKED', error: 'tweet t1 is locked by another transaction' }],
  ['vote yes', 'from', { type: 'vote', txid: '1.1', yes: true, results: [{ tweet: edited }, {}, { item: user }] }],
  ['vote yes (after a restart)', 'from', { type: 'vote', txid: '1.1', yes: true, results: [] }],
  // #13 item 5: a voter other than the first of its prepare's voters sends its results' digest.
  ['vote yes with a digest of its results', 'from', { type: 'vote', txid: '1.1', yes: true, digest: '0123456789abcdef' }],
  // #13 item 5: a new post's result as the tweet its op posted.
  ['vote yes with a post\'s result as posted', 'from', { type: 'vote', txid: '1.1', yes: true, results: [{ as_posted: true }, { tweet: edited }, {}] }],
  ['vote yes with its ops (the answer to prevent)', 'from', { type: 'vote', txid: '1.1', yes: true, results: [{ tweet }], ops: [{ kind: 'post', tweet }, { kind: 'delete_item', item_kind: 'session', key: 's-1' }] }],
  ['vote no', 'from', { type: 'vote', txid: '1.1', yes: false, code: 'NOT_FOUND', error: 'tweet t9 does not exist' }],
  ['applied', 'from', { type: 'applied', txid: '1.1' }],
  ['ack', 'from', { type: 'ack', txid: '1.1', outcome: 'abort' }],
  ['ack commit with results (settled by its voters)', 'from', { type: 'ack', txid: '1.1', outcome: 'commit', results: [{ tweet }, {}, { item: user }] }],
  ['query', 'from', { type: 'query', txid: '1.1' }],
  ['read_result tweets', 'from', { type: 'read_result', rid: 1, result: { tweets: [tweet, edited] } }],
  ['read_result tweet', 'from', { type: 'read_result', rid: 2, result: { tweet } }],
  ['read_result no tweet', 'from', { type: 'read_result', rid: 2, result: { tweet: null } }],
  ['read_result item', 'from', { type: 'read_result', rid: 3, result: { item: user } }],
  ['read_result no item', 'from', { type: 'read_result', rid: 3, result: { item: null } }],
  ['read_result check', 'from', { type: 'read_result', rid: 4, result: check }],
  ['read_result txn prepared', 'from', { type: 'read_result', rid: 4, result: { txn: { state: 'prepared', voters: ['w2'] } } }],
  ['read_result txn prepared, told a peer', 'from', { type: 'read_result', rid: 4, result: { txn: { state: 'prepared', voters: ['w2'], told_peer: true } } }],
  ['copy_page', 'from', { type: 'copy_page', rid: 5, rows: [{ c: 'i\u0000session\u0000s-1', s: 0, item: session }, { c: 't\u0000000abc001001', s: 12, tweet: edited }] }],
  ['copy_page (the last, empty)', 'from', { type: 'copy_page', rid: 9, rows: [] }],
  ['read_text', 'from', { type: 'read_text', rid: 6, text: '{"status":"OK","tweets":[],"next":null}' }],
  ['read_failed', 'from', { type: 'read_failed', rid: 7, error: 'database is locked' }],
  ['installed', 'from', { type: 'installed', rid: 8, done: true }],
  ['replicated', 'from', { type: 'replicated', seq: 3 }],
  ['peer_query', 'peer_query', { type: 'peer_query', txid: '1.1', to: 'w2' }],
  ['peer_answer', 'peer_answer', { type: 'peer_answer', txid: '1.1', from: 'w2', outcome: 'commit', cseq: 4 }],
  ['peer_answer unknown', 'peer_answer', { type: 'peer_answer', txid: '1.1', from: 'w2', outcome: 'unknown', cseq: 0 }],
  ['peer_answer prepared', 'peer_answer', { type: 'peer_answer', txid: '1.1', from: 'w2', outcome: 'prepared', cseq: 4 }],
];

/** As it arrives: through JSON, as a socket carries it. */
function wire(msg: unknown): unknown {
  return JSON.parse(JSON.stringify(msg)) as unknown;
}

function refused(r: Parsed<unknown>, what: string): string {
  assert.equal(r.ok, false, `${what} should be refused`);
  const error = (r as { error: string }).error;
  assert.ok(error.length <= PARSE_ERROR_MAX_CHARS, `error too long (${error.length}): ${error}`);
  return error;
}

/** The field path an error names (`field "op.tweet.id"`), or null. */
function namedPath(error: string): string | null {
  return /field "([^"]*)"/.exec(error)?.[1] ?? null;
}

/** Is `named` the path itself, or a field that contains it? */
function pathOrAncestor(named: string, path: string): boolean {
  return named === path || path.startsWith(`${named}.`) || path.startsWith(`${named}[`);
}

function parentOf(path: string): string {
  const m = /^(.*)(\.[^.[\]]+|\[\d+\])$/.exec(path);
  return m === null ? '' : (m[1] as string);
}

describe('node messages: every valid message parses as it came', () => {
  for (const [name, parser, msg] of EXAMPLES) {
    test(name, () => {
      const raw = wire(msg);
      const r = (PARSERS[parser] as Parser)(raw);
      assert.ok(r.ok, `refused: ${r.ok ? '' : r.error}`);
      assert.deepEqual(r.msg, raw);
      assert.deepEqual(wire(r.msg), raw, 'round trip');
    });
  }

  test('every ToWorker and FromWorker type has an example', () => {
    const types = new Set(EXAMPLES.map(([, , m]) => m.type));
    for (const t of ['hello', 'lock', 'prepare', 'commit', 'abort', 'prevent', 'config', 'config_propose', 'reserved', 'replicate', 'read', 'copy_read', 'install', 'state', 'refused', 'config_ack', 'locked', 'lock_refused', 'vote', 'applied', 'ack', 'query', 'read_result', 'read_text', 'read_failed', 'copy_page', 'installed', 'replicated', 'peer_query', 'peer_answer']) {
      assert.ok(types.has(t), t);
    }
  });

  test('a message of one direction is refused by the other', () => {
    assert.match(refused(parseToWorker(wire({ type: 'state', node_id: 'w1', prepared: [], max_cseq: 0, known_config: { n: 0, voters: [], catching_up: [] }, proposed_config: null, reserved: 0 })), 'state to a worker'), /unknown type "state"/);
    assert.match(refused(parseFromWorker(wire({ type: 'commit', txid: '1.1', cseq: 1 })), 'commit from a worker'), /unknown type "commit"/);
    refused(parsePeerQuery(wire({ type: 'peer_answer', txid: '1.1', from: 'w2', outcome: 'commit', cseq: 4 })), 'answer as query');
    refused(parsePeerAnswer(wire({ type: 'peer_query', txid: '1.1', to: 'w2' })), 'query as answer');
  });
});

// ---------------------------------------------------------------------------
// Every field mutated

interface Leaf {
  path: string;
  /** The object holding it, and its key there. */
  holder: Record<string, unknown> | unknown[];
  key: string | number;
  value: unknown;
}

/** Every field of a message (an item's value counts as one field: what it holds is free-form). */
function leaves(v: unknown, path = '', out: Leaf[] = []): Leaf[] {
  if (Array.isArray(v)) {
    v.forEach((x, i) => {
      const p = `${path}[${i}]`;
      out.push({ path: p, holder: v, key: i, value: x });
      if (typeof x === 'object' && x !== null) leaves(x, p, out);
    });
  } else if (typeof v === 'object' && v !== null) {
    const o = v as Record<string, unknown>;
    for (const k of Object.keys(o)) {
      const p = path === '' ? k : `${path}.${k}`;
      out.push({ path: p, holder: o, key: k, value: o[k] });
      if (typeof o[k] === 'object' && o[k] !== null && !(k === 'value' && /item$/.test(path))) leaves(o[k], p, out);
    }
  }
  return out;
}

/** Objects of a message a field may not be added to (all but items' values). */
function objectsOf(v: unknown, path = '', out: { path: string; obj: Record<string, unknown> }[] = []): { path: string; obj: Record<string, unknown> }[] {
  if (Array.isArray(v)) v.forEach((x, i) => objectsOf(x, `${path}[${i}]`, out));
  else if (typeof v === 'object' && v !== null) {
    if (/(^|\.)value$/.test(path) && /item\.value$/.test(path)) return out;
    out.push({ path, obj: v as Record<string, unknown> });
    for (const [k, x] of Object.entries(v)) objectsOf(x, path === '' ? k : `${path}.${k}`, out);
  }
  return out;
}

/** A value of another JSON type, never valid where `v` was. */
function wrongType(v: unknown): unknown {
  if (Array.isArray(v)) return {};
  if (v === null) return true;
  switch (typeof v) {
    case 'object':
      return [];
    case 'string':
      return 42;
    case 'number':
      return String(v);
    default:
      return 'true';
  }
}

/** Fields that may be absent, or whose absence leaves another valid shape (an op's empty result). */
function mayBeAbsent(type: unknown, path: string): boolean {
  if (path === 'voters' || path === 'addresses' || path === 'reply_text') return true;
  if (type === 'read_result' && path === 'result.txn.told_peer') return true;
  // #13: a YES carries its ops only in the answer to prevent; an ack carries results only for a commit settled by its voters.
  if ((type === 'vote' && path === 'ops') || (type === 'ack' && path === 'results')) return true;
  // #13 item 5: without as_posted a YES's result is an empty one, as valid.
  if (type === 'vote' && /^results\[\d+\]\.as_posted$/.test(path)) return true;
  return (type === 'locked' || type === 'vote' || type === 'ack') && /^results?(\[\d+\])?\.(tweet|item)$/.test(path);
}

function assertNames(error: string, path: string, allowSibling: boolean): void {
  if (path === 'type') {
    assert.match(error, /type/, error);
    return;
  }
  const named = namedPath(error);
  assert.ok(named !== null, `the error names no field: ${error}`);
  const ok = pathOrAncestor(named, path) || (allowSibling && parentOf(named) === parentOf(path));
  assert.ok(ok, `the error names "${named}", not "${path}": ${error}`);
}

describe('node messages: every field mutated is refused, naming the field', () => {
  for (const [name, parser, msg] of EXAMPLES) {
    test(name, () => {
      const parse = PARSERS[parser] as Parser;
      const fresh = (): Record<string, unknown> => wire(msg) as Record<string, unknown>;
      const type = msg.type as string;
      const prefix = (e: string): void => {
        if (!e.startsWith('message:')) assert.ok(e.startsWith(`${type}:`), `the error does not name the message type: ${e}`);
      };
      for (const { path } of leaves(fresh())) {
        /** A fresh copy of the message, and the field at `path` in it. */
        const at = (): { root: Record<string, unknown>; l: Leaf } => {
          const root = fresh();
          return { root, l: leaves(root).find((x) => x.path === path) as Leaf };
        };
        // Missing (a list's element is not a field: a shorter list is another valid list)
        {
          const { root, l } = at();
          if (!Array.isArray(l.holder) && !mayBeAbsent(type, path)) {
            delete l.holder[l.key as string];
            const e = refused(parse(root), `${name} without ${path}`);
            prefix(e);
            assertNames(e, path, true);
          }
        }
        // Wrong type
        {
          const { root, l } = at();
          set(l, wrongType(l.value));
          const e = refused(parse(root), `${name} with ${path} of the wrong type`);
          prefix(e);
          assertNames(e, path, false);
        }
        // A lone surrogate in a string
        {
          const { root, l } = at();
          if (typeof l.value === 'string') {
            set(l, `${l.value}\ud800`);
            const e = refused(parse(root), `${name} with a lone surrogate in ${path}`);
            prefix(e);
            assertNames(e, path, false);
          }
        }
      }
      // An extra field on every object
      for (const { path } of objectsOf(fresh())) {
        const m = fresh();
        const o = objectsOf(m).find((x) => x.path === path)?.obj as Record<string, unknown>;
        o.extra = 1;
        const e = refused(parse(m), `${name} with an extra field in ${path || 'the message'}`);
        prefix(e);
        assert.equal(namedPath(e) ?? e, path === '' ? 'extra' : `${path}.extra`, e);
        // `__proto__` as JSON.parse makes it: an own field like any other.
        const text = JSON.stringify(fresh());
        const withProto = JSON.parse(`${text.slice(0, -1)},"__proto__":{"type":"hello"}}`) as unknown;
        refused(parse(withProto), `${name} with a __proto__ field`);
      }
    });
  }
});

function set(l: Leaf, v: unknown): void {
  if (Array.isArray(l.holder)) l.holder[l.key as number] = v;
  else l.holder[l.key as string] = v;
}

// ---------------------------------------------------------------------------
// Limits: accepted at the limit, refused one past it, naming the field

const repeat = <T>(n: number, f: (i: number) => T): T[] => Array.from({ length: n }, (_, i) => f(i));
const post = (t: Partial<Tweet>): Record<string, unknown> => ({ type: 'lock', txid: '1.1', seq: 1, op: { kind: 'post', tweet: { ...tweet, ...t } }, config: 1, floor: 0 });
const putValue = (value: unknown): Record<string, unknown> => ({ type: 'lock', txid: '1.1', seq: 1, op: { kind: 'put_item', item: { kind: 'user', key: 'ada', value }, mode: 'replace' }, config: 1, floor: 0 });
const hello = (lock_timeout_ms: number, over: Record<string, unknown> = {}): Record<string, unknown> => ({ type: 'hello', lock_timeout_ms, cluster: 'c-1', epoch: 1, run: 'r', config: 1, voter: true, voters: ['w1'], catching_up: [], reserved: 0, ...over });
const prepare = (m: Record<string, unknown>): Record<string, unknown> => ({ type: 'prepare', txid: '1.1', config: 1, floor: 0, cseq: 1, ...m });
/** A state listing `n` prepared transactions (#13: each with its voters and cseq). */
const stateOf = (n: number, entry: (i: number) => unknown = (i) => ({ txid: `1.${i}`, voters: ['w1', 'w2'], cseq: i })): Record<string, unknown> => ({ type: 'state', node_id: 'w1', prepared: repeat(n, entry), max_cseq: 0, known_config: { n: 0, voters: [], catching_up: [] }, proposed_config: null, reserved: 0 });
const nested = (depth: number): unknown => {
  let v: unknown = {};
  for (let i = 1; i < depth; i++) v = { a: v };
  return v;
};
const rowsOf = (n: number): unknown[] => repeat(n, (i) => ({ c: `t\u0000t${i}`, s: i, tweet: { ...tweet, id: `t${i}` } }));
const readText = (n: number): string => `{${'x'.repeat(n - 2)}}`;

/** [what, parser, at the limit (or null), one past it, the field the error names] */
const LIMIT_CASES: [string, keyof typeof PARSERS, Record<string, unknown> | null, Record<string, unknown>, string][] = [
  ['lock timeout', 'to', hello(NODE_MAX_LOCK_TIMEOUT_MS), hello(NODE_MAX_LOCK_TIMEOUT_MS + 1), 'lock_timeout_ms'],
  ['negative lock timeout', 'to', hello(0), hello(-1), 'lock_timeout_ms'],
  ['fractional lock timeout', 'to', null, hello(1.5), 'lock_timeout_ms'],
  ['lock seq 0', 'to', null, { type: 'lock', txid: '1.1', seq: 0, op: { kind: 'delete', id: 't1', username: null }, config: 1, floor: 0 }, 'seq'],
  ['a negative configuration', 'to', null, hello(1, { config: -1 }), 'config'],
  ['epoch 0 in a hello', 'to', hello(1, { epoch: 1 }), hello(1, { epoch: 0 }), 'epoch'],
  ['a cluster id', 'to', hello(1, { cluster: 'c'.repeat(64) }), hello(1, { cluster: 'c'.repeat(65) }), 'cluster'],
  ['voters in a hello', 'to', hello(1, { voters: repeat(NODE_MAX_VOTERS, (i) => `w${i}`) }), hello(1, { voters: repeat(NODE_MAX_VOTERS + 1, (i) => `w${i}`) }), 'voters'],
  ['one voter twice in a hello', 'to', null, hello(1, { voters: ['w1', 'w1'] }), 'voters[1]'],
  ['a catching-up worker that does not vote', 'to', hello(1, { voters: ['w1'], catching_up: ['w1'] }), hello(1, { voters: ['w1'], catching_up: ['w2'] }), 'catching_up'],
  ['a known configuration\'s voters', 'from', null, { type: 'state', node_id: 'w1', prepared: [], max_cseq: 0, known_config: { n: 1, voters: 'w1', catching_up: [] }, proposed_config: null, reserved: 0 }, 'known_config.voters'],
  ['a fractional floor', 'to', null, { type: 'lock', txid: '1.1', seq: 1, op: { kind: 'delete', id: 't1', username: null }, config: 1, floor: 0.5 }, 'floor'],
  ['replicate seq 0', 'to', null, { type: 'replicate', seq: 0, txid: '1.1', cseq: 1, ops: [{ kind: 'post', tweet }] }, 'seq'],
  ['ops in a replicate', 'to', { type: 'replicate', seq: 1, txid: '1.1', cseq: 1, ops: repeat(NODE_MAX_OPS, () => ({ kind: 'post', tweet })) }, { type: 'replicate', seq: 1, txid: '1.1', cseq: 1, ops: repeat(NODE_MAX_OPS + 1, () => ({ kind: 'post', tweet })) }, 'ops'],
  ['no ops in a replicate', 'to', null, { type: 'replicate', seq: 1, txid: '1.1', cseq: 1, ops: [] }, 'ops'],
  ['replicated seq 0', 'from', null, { type: 'replicated', seq: 0 }, 'seq'],
  ['a txid not made by a coordinator', 'to', { type: 'abort', txid: '9007199254740991.9007199254740991' }, { type: 'abort', txid: '1.1.1' }, 'txid'],
  ['an empty txid', 'to', null, { type: 'abort', txid: '' }, 'txid'],
  ['content in code points', 'to', post({ content: '👋'.repeat(CONTENT_MAX_CODE_POINTS) }), post({ content: '👋'.repeat(CONTENT_MAX_CODE_POINTS + 1) }), 'op.tweet.content'],
  ['content in characters', 'to', post({ content: 'a'.repeat(CONTENT_MAX_CODE_POINTS) }), post({ content: 'a'.repeat(CONTENT_MAX_CODE_POINTS + 1) }), 'op.tweet.content'],
  ['blank content', 'to', null, post({ content: ' \n ' }), 'op.tweet.content'],
  ['id length', 'to', post({ id: 'i'.repeat(ID_MAX_CHARS) }), post({ id: 'i'.repeat(ID_MAX_CHARS + 1) }), 'op.tweet.id'],
  ['empty id', 'to', null, post({ id: '' }), 'op.tweet.id'],
  ['id with a control character', 'to', null, post({ id: 'a\u0007b' }), 'op.tweet.id'],
  ['username length', 'to', post({ username: 'u'.repeat(USERNAME_MAX_CHARS) }), post({ username: 'u'.repeat(USERNAME_MAX_CHARS + 1) }), 'op.tweet.username'],
  ['username with surrounding spaces', 'to', null, post({ username: ' alice' }), 'op.tweet.username'],
  ['negative time', 'to', post({ created_at: 0 }), post({ created_at: -1 }), 'op.tweet.created_at'],
  ['time past a safe integer', 'to', post({ updated_at: Number.MAX_SAFE_INTEGER }), post({ updated_at: 2 ** 53 }), 'op.tweet.updated_at'],
  ['fractional time', 'to', null, post({ created_at: 1.5 }), 'op.tweet.created_at'],
  ['item value size', 'to', putValue({ s: 'v'.repeat(ITEM_VALUE_MAX_BYTES - 8) }), putValue({ s: 'v'.repeat(ITEM_VALUE_MAX_BYTES - 7) }), 'op.item.value'],
  ['item value size in UTF-8 bytes', 'to', putValue({ s: 'é'.repeat((ITEM_VALUE_MAX_BYTES - 8) / 2) }), putValue({ s: 'é'.repeat((ITEM_VALUE_MAX_BYTES - 6) / 2) }), 'op.item.value'],
  ['item value depth', 'to', putValue(nested(ITEM_VALUE_MAX_DEPTH)), putValue(nested(ITEM_VALUE_MAX_DEPTH + 1)), 'op.item.value'],
  ['item value a list', 'to', null, putValue([1]), 'op.item.value'],
  ['item value a string', 'to', null, putValue('v'), 'op.item.value'],
  ['lone surrogate in an item value', 'to', null, putValue({ a: ['x', { b: 'y\udfff' }] }), 'op.item.value'],
  ['lone surrogate in an item value key', 'to', null, putValue({ a: { 'k\ud800': 1 } }), 'op.item.value'],
  ['item key', 'to', null, { type: 'lock', txid: '1.1', seq: 1, op: { kind: 'delete_item', item_kind: 'user', key: 'k'.repeat(ID_MAX_CHARS + 1) }, config: 1, floor: 0 }, 'op.key'],
  ['item kind', 'to', null, { type: 'lock', txid: '1.1', seq: 1, op: { kind: 'delete_item', item_kind: 'tweet', key: 'k' }, config: 1, floor: 0 }, 'op.item_kind'],
  ['ops in a prepare', 'to', prepare({ ops: repeat(NODE_MAX_OPS, () => ({ kind: 'post', tweet })) }), prepare({ ops: repeat(NODE_MAX_OPS + 1, () => ({ kind: 'post', tweet })) }), 'ops'],
  ['no ops in a prepare', 'to', null, prepare({ ops: [] }), 'ops'],
  ['voters', 'to', prepare({ ops: null, voters: repeat(NODE_MAX_VOTERS, (i) => `w${i}`) }), prepare({ ops: null, voters: repeat(NODE_MAX_VOTERS + 1, (i) => `w${i}`) }), 'voters'],
  ['voter addresses', 'to', prepare({ ops: null, voters: repeat(NODE_MAX_VOTERS, (i) => `w${i}`), addresses: repeat(NODE_MAX_VOTERS, (i) => ({ id: `w${i}`, address: `127.0.0.1:${9000 + i}` })) }), prepare({ ops: null, voters: repeat(NODE_MAX_VOTERS, (i) => `w${i}`), addresses: repeat(NODE_MAX_VOTERS + 1, (i) => ({ id: `w${i % NODE_MAX_VOTERS}`, address: `127.0.0.1:${9000 + i}` })) }), 'addresses'],
  ['no voter in a prepare\'s voters', 'to', null, prepare({ ops: null, voters: [] }), 'voters'],
  ['a voter named twice', 'to', null, prepare({ ops: null, voters: ['w1', 'w1'] }), 'voters[1]'],
  ['a voter id with a space', 'to', null, prepare({ ops: null, voters: ['w 1'] }), 'voters[0]'],
  ['a voter address without a port', 'to', null, prepare({ ops: null, voters: ['w1'], addresses: [{ id: 'w1', address: 'localhost' }] }), 'addresses[0].address'],
  ['a voter address too long', 'to', null, prepare({ ops: null, voters: ['w1'], addresses: [{ id: 'w1', address: `${'h'.repeat(400)}:9000` }] }), 'addresses[0].address'],
  ['an address for a worker that is not a voter', 'to', null, prepare({ ops: null, voters: ['w1'], addresses: [{ id: 'w2', address: '127.0.0.1:9000' }] }), 'addresses[0].id'],
  ['an address given twice', 'to', null, prepare({ ops: null, voters: ['w1', 'w2'], addresses: [{ id: 'w2', address: '127.0.0.1:9000' }, { id: 'w2', address: '127.0.0.1:9001' }] }), 'addresses[1].id'],
  ['no address in a prepare\'s addresses', 'to', null, prepare({ ops: null, voters: ['w1'], addresses: [] }), 'addresses'],
  ['commit cseq 0', 'to', null, { type: 'commit', txid: '1.1', cseq: 0 }, 'cseq'],
  ['read rid 0', 'to', null, { type: 'read', rid: 0, query: { kind: 'check' } }, 'rid'],
  ['get_tweets limit', 'to', { type: 'read', rid: 1, query: { kind: 'get_tweets', limit: NODE_MAX_READ_TWEETS, before: null, username: null } }, { type: 'read', rid: 1, query: { kind: 'get_tweets', limit: NODE_MAX_READ_TWEETS + 1, before: null, username: null } }, 'query.limit'],
  ['a cursor id of any characters a client may send', 'to', { type: 'read', rid: 1, query: { kind: 'get_tweets', limit: 2, before: { created_at: 1, id: `\u0001${'x'.repeat(NODE_MAX_CURSOR_ID_CHARS - 1)}` }, username: null } }, { type: 'read', rid: 1, query: { kind: 'get_tweets', limit: 2, before: { created_at: 1, id: 'x'.repeat(NODE_MAX_CURSOR_ID_CHARS + 1) }, username: null } }, 'query.before.id'],
  ['get_tweets limit 0', 'to', null, { type: 'read', rid: 1, query: { kind: 'get_tweets', limit: 0, before: null, username: null } }, 'query.limit'],
  ['copy_read limit', 'to', { type: 'copy_read', rid: 1, after: null, limit: NODE_MAX_COPY_ROWS }, { type: 'copy_read', rid: 1, after: null, limit: NODE_MAX_COPY_ROWS + 1 }, 'limit'],
  ['a copy cursor of no kind', 'to', null, { type: 'copy_read', rid: 1, after: 'x\u0000t1', limit: 10 }, 'after'],
  ['a copy cursor of an unknown item kind', 'to', null, { type: 'copy_read', rid: 1, after: 'i\u0000tweet\u0000k', limit: 10 }, 'after'],
  ['copy rows in an install', 'to', { type: 'install', rid: 1, rows: rowsOf(NODE_MAX_COPY_ROWS), reset: true, done: false, max_cseq: 1, stream_seq: 0 }, { type: 'install', rid: 1, rows: rowsOf(NODE_MAX_COPY_ROWS + 1), reset: true, done: false, max_cseq: 1, stream_seq: 0 }, 'rows'],
  ['a copy row whose cursor is not its own', 'to', null, { type: 'install', rid: 1, rows: [{ c: 't\u0000other', tweet }], reset: true, done: false, max_cseq: 1 }, 'rows[0].c'],
  ['a copy row with a tweet and an item', 'to', null, { type: 'install', rid: 1, rows: [{ c: 't\u0000t1', tweet, item: user }], reset: true, done: false, max_cseq: 1 }, 'rows[0].item'],
  ['prepared in a state', 'from', stateOf(NODE_MAX_PREPARED), stateOf(NODE_MAX_PREPARED + 1), 'prepared'],
  ['a prepared entry as a bare txid (#13: entries are objects)', 'from', null, stateOf(1, () => '1.1'), 'prepared[0]'],
  ['a prepared entry\'s txid', 'from', null, stateOf(1, () => ({ txid: '1.1.1', voters: ['w1'], cseq: 1 })), 'prepared[0].txid'],
  ['a prepared entry\'s voters', 'from', stateOf(1, () => ({ txid: '1.1', voters: repeat(NODE_MAX_VOTERS, (i) => `w${i}`), cseq: 1 })), stateOf(1, () => ({ txid: '1.1', voters: repeat(NODE_MAX_VOTERS + 1, (i) => `w${i}`), cseq: 1 })), 'prepared[0].voters'],
  ['a prepared entry with no voter', 'from', null, stateOf(1, () => ({ txid: '1.1', voters: [], cseq: 1 })), 'prepared[0].voters'],
  ['a prepared entry\'s voter id', 'from', null, stateOf(1, () => ({ txid: '1.1', voters: ['w 1'], cseq: 1 })), 'prepared[0].voters[0]'],
  ['a prepared entry\'s negative cseq', 'from', null, stateOf(1, () => ({ txid: '1.1', voters: ['w1'], cseq: -1 })), 'prepared[0].cseq'],
  ['a prepare\'s cseq 0 (#13: it commits with one)', 'to', null, prepare({ ops: null, cseq: 0 }), 'cseq'],
  ['a digest of 15 hex digits', 'from', null, { type: 'vote', txid: '1.1', yes: true, digest: '0123456789abcde' }, 'digest'],
  ['a digest of 17 hex digits', 'from', null, { type: 'vote', txid: '1.1', yes: true, digest: '0123456789abcdef0' }, 'digest'],
  ['a digest in capitals', 'from', null, { type: 'vote', txid: '1.1', yes: true, digest: '0123456789ABCDEF' }, 'digest'],
  ['a digest and the results in one YES', 'from', null, { type: 'vote', txid: '1.1', yes: true, digest: '0123456789abcdef', results: [] }, 'results'],
  ['a digest with ops (the answer to prevent carries the results)', 'from', null, { type: 'vote', txid: '1.1', yes: true, digest: '0123456789abcdef', ops: [{ kind: 'post', tweet }] }, 'ops'],
  ['as_posted false', 'from', null, { type: 'vote', txid: '1.1', yes: true, results: [{ as_posted: false }] }, 'results[0].as_posted'],
  ['as_posted with the tweet', 'from', null, { type: 'vote', txid: '1.1', yes: true, results: [{ as_posted: true, tweet }] }, 'results[0].tweet'],
  ['as_posted in a locked result', 'from', null, { type: 'locked', txid: '1.1', seq: 1, result: { as_posted: true } }, 'result.as_posted'],
  ['as_posted in an ack (settled by its voters: whole results)', 'from', null, { type: 'ack', txid: '1.1', outcome: 'commit', results: [{ as_posted: true }] }, 'results[0].as_posted'],
  ['a digest on a NO', 'from', null, { type: 'vote', txid: '1.1', yes: false, code: 'LOCKED', error: 'x', digest: '0123456789abcdef' }, 'digest'],
  ['ops in a YES (the answer to prevent)', 'from', { type: 'vote', txid: '1.1', yes: true, results: [], ops: repeat(NODE_MAX_OPS, () => ({ kind: 'post', tweet })) }, { type: 'vote', txid: '1.1', yes: true, results: [], ops: repeat(NODE_MAX_OPS + 1, () => ({ kind: 'post', tweet })) }, 'ops'],
  ['no ops in a YES that names them', 'from', null, { type: 'vote', txid: '1.1', yes: true, results: [], ops: [] }, 'ops'],
  ['results in an ack', 'from', { type: 'ack', txid: '1.1', outcome: 'commit', results: repeat(NODE_MAX_OPS, () => ({})) }, { type: 'ack', txid: '1.1', outcome: 'commit', results: repeat(NODE_MAX_OPS + 1, () => ({})) }, 'results'],
  ['a state as a number of prepared', 'from', null, { type: 'state', node_id: 'w1', prepared: 5, max_cseq: 0, known_config: { n: 0, voters: [], catching_up: [] }, proposed_config: null, reserved: 0 }, 'prepared'],
  ['a node id', 'from', { type: 'state', node_id: 'n'.repeat(64), prepared: [], max_cseq: 0, known_config: { n: 0, voters: [], catching_up: [] }, proposed_config: null, reserved: 0 }, { type: 'state', node_id: 'n'.repeat(65), prepared: [], max_cseq: 0, known_config: { n: 0, voters: [], catching_up: [] }, proposed_config: null, reserved: 0 }, 'node_id'],
  ['negative max_cseq', 'from', null, { type: 'state', node_id: 'w1', prepared: [], max_cseq: -1 }, 'max_cseq'],
  ['an unknown error code', 'from', null, { type: 'lock_refused', txid: '1.1', seq: 1, code: 'NOPE', error: 'x' }, 'code'],
  ['an error code from the prototype', 'from', null, { type: 'vote', txid: '1.1', yes: false, code: 'toString', error: 'x' }, 'code'],
  ['error length', 'from', { type: 'read_failed', rid: 1, error: 'e'.repeat(NODE_MAX_ERROR_CHARS) }, { type: 'read_failed', rid: 1, error: 'e'.repeat(NODE_MAX_ERROR_CHARS + 1) }, 'error'],
  ['results in a vote', 'from', { type: 'vote', txid: '1.1', yes: true, results: repeat(NODE_MAX_OPS, () => ({})) }, { type: 'vote', txid: '1.1', yes: true, results: repeat(NODE_MAX_OPS + 1, () => ({})) }, 'results'],
  ['a vote neither yes nor no', 'from', null, { type: 'vote', txid: '1.1', yes: 'yes', results: [] }, 'yes'],
  ['a yes vote with a code', 'from', null, { type: 'vote', txid: '1.1', yes: true, results: [], code: 'LOCKED' }, 'code'],
  ['an op result with a tweet and an item', 'from', null, { type: 'locked', txid: '1.1', seq: 1, result: { tweet, item: user } }, 'result.item'],
  ['tweets in a read', 'from', { type: 'read_result', rid: 1, result: { tweets: repeat(NODE_MAX_READ_TWEETS, () => tweet) } }, { type: 'read_result', rid: 1, result: { tweets: repeat(NODE_MAX_READ_TWEETS + 1, () => tweet) } }, 'result.tweets'],
  ['copy rows in a copy page', 'from', { type: 'copy_page', rid: 1, rows: rowsOf(NODE_MAX_COPY_ROWS) }, { type: 'copy_page', rid: 1, rows: rowsOf(NODE_MAX_COPY_ROWS + 1) }, 'rows'],
  ['a result of no known shape', 'from', null, { type: 'read_result', rid: 1, result: { state: 'up' } }, 'result'],
  ['a check result with another field', 'from', null, { type: 'read_result', rid: 1, result: { ...check, state: 'down' } }, 'result.state'],
  ['told_peer other than true', 'from', null, { type: 'read_result', rid: 1, result: { txn: { state: 'prepared', voters: ['w2'], told_peer: false } } }, 'result.txn.told_peer'],
  ['a check result missing a counter', 'from', null, { type: 'read_result', rid: 1, result: { ...check, locks: undefined } }, 'result.locks'],
  ['a digest not in hex', 'from', null, { type: 'read_result', rid: 1, result: { ...check, digest: 'Z'.repeat(64) } }, 'result.digest'],
  ['read text length', 'from', { type: 'read_text', rid: 1, text: readText(NODE_MAX_READ_TEXT_CHARS) }, { type: 'read_text', rid: 1, text: readText(NODE_MAX_READ_TEXT_CHARS + 1) }, 'text'],
  ['read text not an object', 'from', null, { type: 'read_text', rid: 1, text: '[1]' }, 'text'],
  ['read text on two lines', 'from', null, { type: 'read_text', rid: 1, text: '{"a":\n1}' }, 'text'],
  ['read text with a carriage return', 'from', null, { type: 'read_text', rid: 1, text: '{"a":\r1}' }, 'text'],
  ['negative peer cseq', 'peer_answer', null, { type: 'peer_answer', txid: '1.1', from: 'w2', outcome: 'commit', cseq: -1 }, 'cseq'],
  ['a peer outcome', 'peer_answer', null, { type: 'peer_answer', txid: '1.1', from: 'w2', outcome: 'maybe', cseq: 0 }, 'outcome'],
  ['a peer query to no one', 'peer_query', null, { type: 'peer_query', txid: '1.1', to: '' }, 'to'],
];

describe('node messages: limits', () => {
  for (const [what, parser, atLimit, over, path] of LIMIT_CASES) {
    test(what, () => {
      const parse = PARSERS[parser] as Parser;
      if (atLimit !== null) {
        const r = parse(wire(atLimit));
        assert.ok(r.ok, `at the limit, refused: ${r.ok ? '' : r.error}`);
      }
      const e = refused(parse(wire(over)), what);
      assert.ok(e.startsWith(`${over.type as string}:`), e);
      assert.equal(namedPath(e), path, e);
    });
  }

  test('an item value may hold a __proto__ key: it is data, as JSON.parse makes it', () => {
    const raw = JSON.parse('{"type":"lock","txid":"1.1","seq":1,"op":{"kind":"put_item","item":{"kind":"user","key":"ada","value":{"__proto__":{"admin":true}}},"mode":"replace"},"config":1,"floor":0}') as unknown;
    const r = parseToWorker(raw);
    assert.ok(r.ok, r.ok ? '' : r.error);
    assert.equal(Object.getPrototypeOf({}).admin, undefined);
  });

  test('errors echo at most a short excerpt of what was sent', () => {
    const big = 'x'.repeat(100_000);
    for (const r of [parseToWorker({ type: big }), parseFromWorker({ type: 'applied', txid: '1.1', [big]: 1 }), parseToWorker(wire(post({ content: big })))]) {
      const e = refused(r, 'a large input');
      assert.ok(e.length <= PARSE_ERROR_MAX_CHARS && !e.includes('x'.repeat(60)), e);
    }
  });
});

// ---------------------------------------------------------------------------
// Hostile input: nothing throws, whatever the shape, and nothing is walked that need not be

/** Every parser, on one input: none may throw, and every error is short and names its message. */
function parseAll(raw: unknown): void {
  for (const parse of Object.values(PARSERS)) {
    const r = parse(raw);
    if (!r.ok) assert.ok(typeof r.error === 'string' && r.error.length > 0 && r.error.length <= PARSE_ERROR_MAX_CHARS, r.error);
  }
}

describe('node messages: hostile input', () => {
  test('any JSON value: no parser throws', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (v) => {
        parseAll(v);
        parseAll(wire({ type: 'read_result', rid: 1, result: v }));
        parseAll(wire({ type: 'lock', txid: '1.1', seq: 1, op: { kind: 'put_item', item: { kind: 'user', key: 'k', value: v }, mode: 'create' }, config: 1, floor: 0 }));
      }),
      { numRuns: 2_000 },
    );
  });

  test('a valid message with any field replaced by any JSON value: no parser throws, and what parses is what came', () => {
    const all = EXAMPLES.map(([, parser, msg]) => ({ parser, msg, paths: leaves(msg).map((l) => l.path) }));
    fc.assert(
      fc.property(fc.nat(), fc.nat(), fc.jsonValue({ maxDepth: 4 }), fc.boolean(), (pick, at, v, asNewField) => {
        const ex = all[pick % all.length] as (typeof all)[number];
        const root = wire(ex.msg) as Record<string, unknown>;
        const l = leaves(root).find((x) => x.path === ex.paths[at % ex.paths.length]) as Leaf;
        if (asNewField && !Array.isArray(l.holder)) l.holder[`${String(l.key)}_`] = v;
        else set(l, v);
        const r = (PARSERS[ex.parser] as Parser)(root);
        parseAll(root);
        if (r.ok) assert.deepEqual(wire(r.msg), root);
      }),
      { numRuns: 3_000 },
    );
  });

  test('deep nesting anywhere is refused without a stack overflow', () => {
    const deep = JSON.parse(`${'['.repeat(100_000)}${']'.repeat(100_000)}`) as unknown;
    const deepObj = JSON.parse(`${'{"a":'.repeat(50_000)}1${'}'.repeat(50_000)}`) as unknown;
    for (const [, parser, msg] of EXAMPLES) {
      for (const { path } of leaves(msg)) {
        for (const d of [deep, deepObj]) {
          const root = wire(msg);
          set(leaves(root).find((x) => x.path === path) as Leaf, d);
          parseAll(root);
          const r = (PARSERS[parser] as Parser)(root);
          // Only where any value is allowed (inside an item's value) may it parse, and there it is too deep.
          assert.equal(r.ok, false, `deep value at ${path}`);
        }
      }
    }
    assert.match(refused(parseToWorker(putValue(deepObj)), 'a deep item value'), /nested deeper than 32/);
  });

  test('a list far over its limit is refused by its length, not walked', { timeout: 30_000 }, () => {
    // Sparse: walking it would take minutes; its length alone refuses it.
    const huge = new Array<unknown>(2 ** 32 - 1);
    const cases: [Parser, unknown][] = [
      [parseToWorker, { type: 'install', rid: 1, rows: huge, reset: true, done: true, max_cseq: 0 }],
      [parseToWorker, { type: 'prepare', txid: '1.1', ops: huge, config: 1, floor: 0 }],
      [parseFromWorker, { type: 'state', node_id: 'w1', prepared: huge, max_cseq: 0, known_config: { n: 0, voters: [], catching_up: [] }, proposed_config: null, reserved: 0 }],
      [parseFromWorker, { type: 'read_result', rid: 1, result: { tweets: huge } }],
      [parseFromWorker, { type: 'copy_page', rid: 1, rows: huge }],
      [parseToWorker, putValue({ a: huge })],
    ];
    for (const [parse, raw] of cases) refused(parse(raw), 'a huge list');
  });

  test('an object with very many fields is refused at the first unknown one', () => {
    const many: Record<string, unknown> = { type: 'abort', txid: '1.1' };
    for (let i = 0; i < 50_000; i++) many[`f${i}`] = i;
    assert.match(refused(parseToWorker(many), 'many fields'), /unknown field "f0"/);
    const value: Record<string, unknown> = {};
    for (let i = 0; i < 50_000; i++) value[`f${i}`] = i;
    assert.match(refused(parseToWorker(putValue(value)), 'an item value with many fields'), /over 4096 bytes/);
  });
});

describe('node messages: readResultMatches', () => {
  const results: [ReadQuery['kind'], unknown][] = [
    ['get_tweets', { tweets: [] }],
    ['get_tweet', { tweet: null }],
    ['get_item', { item: null }],
    ['check', check],
  ];
  for (const [kind, result] of results) {
    test(`${kind}: only its own shape`, () => {
      assert.ok(parseFromWorker({ type: 'read_result', rid: 1, result }).ok);
      for (const [k2, r2] of results) assert.equal(readResultMatches(kind, r2), k2 === kind, `${kind} with the result of ${k2}`);
      for (const junk of [null, 5, 'rows', [], {}]) assert.equal(readResultMatches(kind, junk), false);
    });
  }
});

describe('node messages: an answer against what was asked (answerProblem)', () => {
  const rows = [{ c: 't\u0000t1', s: 1, tweet }];
  const copy = { kind: 'copy', limit: 2 } as const;
  const tweets = { kind: 'get_tweets', text: false } as const;
  test('a copy_read is answered by a copy_page of at most the rows asked, or read_failed', () => {
    assert.equal(answerProblem(copy, { type: 'copy_page', rid: 1, rows }), null);
    assert.equal(answerProblem(copy, { type: 'copy_page', rid: 1, rows: [] }), null);
    assert.equal(answerProblem(copy, { type: 'read_failed', rid: 1, error: 'disk' }), null);
    assert.match(answerProblem({ kind: 'copy', limit: 1 }, { type: 'copy_page', rid: 1, rows: [...rows, { c: 't\u0000t2', s: 2, tweet: { ...tweet, id: 't2' } }] }) ?? '', /2 rows, where 1 were asked for/);
    assert.match(answerProblem(copy, { type: 'read_result', rid: 1, result: { tweets: [] } }) ?? '', /the answer to a copy_read is a copy_page/);
    assert.match(answerProblem(copy, { type: 'read_text', rid: 1, text: '{}' }) ?? '', /the answer to a copy_read is a copy_page/);
  });
  test('a copy_page answers no read', () => {
    for (const kind of ['get_tweets', 'get_tweet', 'get_item', 'check'] as const) {
      assert.match(answerProblem({ kind, text: kind === 'get_tweets' }, { type: 'copy_page', rid: 3, rows }) ?? '', /copy_page 3: not the answer to a copy_read/);
    }
  });
  test('a read is answered in its own shape, as text only if asked so', () => {
    assert.equal(answerProblem(tweets, { type: 'read_result', rid: 1, result: { tweets: [] } }), null);
    assert.match(answerProblem(tweets, { type: 'read_result', rid: 1, result: { tweet: null } }) ?? '', /not the answer to a get_tweets read/);
    assert.match(answerProblem(tweets, { type: 'read_text', rid: 1, text: '{}' }) ?? '', /not asked as text/);
    assert.equal(answerProblem({ kind: 'get_tweets', text: true }, { type: 'read_text', rid: 1, text: '{}' }), null);
  });
});

// ---------------------------------------------------------------------------
// What the real cores send: every message of a scenario, through JSON and the parsers

const T = 10_000;

interface HWorker {
  id: string;
  address: string;
  store: WorkerStore;
  core: WorkerCore;
  linked: boolean;
}

/**
 * The real coordinator and worker cores, real (in-memory) worker stores and worker-service,
 * connected by a FIFO queue. Every message crosses as JSON text and must pass its parser; the
 * parsed message (not the original) is what is delivered.
 */
class Harness {
  now = 1_000_000;
  readonly coord: CoordinatorCore;
  readonly workers = new Map<string, HWorker>();
  private queue: (() => void)[] = [];
  readonly replies = new Map<string, unknown>();
  /** Message types seen, by direction. */
  readonly seen = new Set<string>();
  /** Read queries sent, by rid: every read_result must match its query's kind. */
  private readonly queries = new Map<number, ReadQuery['kind']>();
  /** Messages the network loses (to make a worker ask its peers). */
  drop: (worker: string, msg: ToWorker) => boolean = () => false;
  /** Workers whose writes wait (a commit in flight) until released. */
  readonly hold = new Map<string, PersistEffect[]>();
  private nextConn = 100;

  constructor(copyPageRows: number) {
    this.coord = new CoordinatorCore({ ...TEST_IDENTITY, newCluster: true, lockTimeoutMs: T, copyPageRows, evictAfterMs: 10_000, minVoters: 1 }, { epoch: 3, empty: true, last_cseq: 0, members: [], decisions: [], config: { n: 0, voters: [] } });
    // #13: its first cseq reservation, made durable as the runtime does.
    for (const e of this.coord.start(0)) this.onCoordEffect(e);
  }

  private pass<M>(direction: string, parse: (raw: unknown) => Parsed<M>, msg: unknown): M {
    const raw = wire(msg);
    const r = parse(raw);
    assert.ok(r.ok, `${direction} ${JSON.stringify(msg).slice(0, 300)} refused: ${r.ok ? '' : r.error}`);
    assert.deepEqual(r.msg, raw);
    this.seen.add(`${direction} ${(raw as { type: string }).type}`);
    return r.msg;
  }

  /** A new worker registers; with `settle` false, nothing after the registration has run yet. */
  addWorker(id: string, settle = true): void {
    const store = new WorkerStore(':memory:', () => id);
    const w: HWorker = { id, address: `127.0.0.${this.workers.size + 1}:9000`, store, core: new WorkerCore(store, store.recover(), T, this.now), linked: false };
    this.workers.set(id, w);
    const request: ClientRequest = { action: 'register', worker: { id, address: w.address }, known: w.core.knowledge(store.isEmpty()) };
    if (settle) this.request(request);
    else this.coordEvent({ type: 'request', conn: this.nextConn++, slot: 0, request });
  }

  /** Runs what is queued, one step at a time, until `done` (at most 100,000 steps). */
  runUntil(done: () => boolean): void {
    for (let n = 0; !done(); n++) {
      assert.ok(n < 100_000 && this.queue.length > 0, 'the scenario settled before it got there');
      (this.queue.shift() as () => void)();
    }
  }

  /** A client request on a new connection (or `conn`), run until everything settles; its reply. */
  request(request: ClientRequest, conn = this.nextConn++, slot = 0): unknown {
    this.coordEvent({ type: 'request', conn, slot, request });
    this.settle();
    return this.replies.get(`${conn}:${slot}`);
  }

  coordEvent(e: CoordinatorEvent): void {
    for (const eff of this.coord.handle(e, this.now)) this.onCoordEffect(eff);
  }

  private onCoordEffect(e: CoordinatorEffect): void {
    switch (e.type) {
      case 'send': {
        const msg = this.pass('to', parseToWorker, e.msg);
        if (msg.type === 'read') this.queries.set(msg.rid, msg.query.kind);
        if (this.drop(e.worker, msg)) return;
        const w = this.workers.get(e.worker) as HWorker;
        this.queue.push(() => this.toWorker(w, msg));
        return;
      }
      case 'log_commit':
        return; // #13: written in the background; nothing waits for it
      case 'reserve_cseq':
        this.queue.push(() => this.coordEvent({ type: 'cseq_reserved', through: e.through }));
        return;
      case 'log_identity':
        this.queue.push(() => this.coordEvent({ type: 'identity_logged', seq: e.seq }));
        return;
      case 'log_config':
        this.queue.push(() => this.coordEvent({ type: 'config_logged', config: e.config }));
        return;
      case 'commit_config':
        this.queue.push(() => this.coordEvent({ type: 'config_committed', config: e.config }));
        return;
      case 'link': {
        const w = this.workers.get(e.worker);
        if (w === undefined) return;
        w.linked = true;
        this.queue.push(() => this.coordEvent({ type: 'link_up', worker: w.id }));
        return;
      }
      case 'unlink': {
        const w = this.workers.get(e.worker);
        if (w === undefined || !w.linked) return;
        w.linked = false;
        this.queue.push(() => this.workerEvent(w, { type: 'link_down' }));
        return;
      }
      case 'reply':
        this.replies.set(`${e.conn}:${e.slot}`, e.reply);
        return;
      case 'reply_text':
        this.replies.set(`${e.conn}:${e.slot}`, JSON.parse(e.text));
        return;
      default:
        return;
    }
  }

  private toWorker(w: HWorker, msg: ToWorker): void {
    if (!w.linked) return;
    if (msg.type === 'read') this.fromWorker(w, answerRead(w.store, w.core, msg.rid, msg.query, msg.reply_text === true));
    else if (msg.type === 'copy_read') this.fromWorker(w, answerCopy(w.store, msg));
    else if (msg.type === 'install') {
      const r = applyInstall(w.store, w.core, msg);
      if (r !== null) this.fromWorker(w, r);
    } else this.workerEvent(w, { type: 'message', msg });
  }

  private fromWorker(w: HWorker, msg: FromWorker): void {
    const m = this.pass('from', parseFromWorker, msg);
    if (m.type === 'read_result') {
      const kind = this.queries.get(m.rid);
      assert.ok(kind !== undefined && readResultMatches(kind, m.result), `read ${m.rid} (${kind}) answered with ${JSON.stringify(m.result).slice(0, 100)}`);
    }
    this.queue.push(() => {
      if (w.linked) this.coordEvent({ type: 'worker_message', worker: w.id, msg: m });
    });
  }

  workerEvent(w: HWorker, ev: WorkerEvent): void {
    for (const e of w.core.handle(ev, this.now)) this.onWorkerEffect(w, e);
  }

  private onWorkerEffect(w: HWorker, e: WorkerEffect): void {
    switch (e.type) {
      case 'send':
        this.fromWorker(w, e.msg);
        return;
      case 'peer_ask': {
        const m = this.pass('peer', parsePeerQuery, e.msg);
        const to = [...this.workers.values()].find((x) => x.address === e.peer.address) as HWorker;
        this.queue.push(() => this.workerEvent(to, { type: 'peer_query', route: w.id, msg: m }));
        return;
      }
      case 'peer_reply': {
        const m = this.pass('peer', parsePeerAnswer, e.msg);
        const to = this.workers.get(e.route) as HWorker;
        this.queue.push(() => this.workerEvent(to, { type: 'peer_answer', msg: m }));
        return;
      }
      case 'log':
        return;
      case 'bad_message':
        throw new Error(`worker ${w.id} refused a coordinator message: ${e.why}`);
      case 'save_config':
        w.store.saveConfig(e.config, e.voter, e.removed);
        return;
      case 'save_reserved':
        w.store.saveReserved(e.through);
        return;
      default: {
        const held = this.hold.get(w.id);
        if (held !== undefined) held.push(e);
        else this.queue.push(() => this.persist(w, e));
      }
    }
  }

  private persist(w: HWorker, e: PersistEffect): void {
    w.store.persist([e], this.now);
    if (e.type === 'persist_commit') this.workerEvent(w, { type: 'applied', txid: e.txid });
    this.workerEvent(w, durableEvent(e));
  }

  release(id: string): void {
    const held = this.hold.get(id) ?? [];
    this.hold.delete(id);
    const w = this.workers.get(id) as HWorker;
    for (const e of held) this.queue.push(() => this.persist(w, e));
    this.settle();
  }

  settle(): void {
    for (let n = 0; this.queue.length > 0; n++) {
      assert.ok(n < 100_000, 'the scenario does not settle');
      (this.queue.shift() as () => void)();
    }
  }

  tick(ms: number): void {
    this.now += ms;
    this.coordEvent({ type: 'tick' });
    for (const w of this.workers.values()) this.workerEvent(w, { type: 'tick' });
    this.settle();
  }

  close(): void {
    for (const w of this.workers.values()) w.store.close();
  }
}

const status = (r: unknown): string => (r as { status: string }).status;
const code = (r: unknown): string => (r as { code?: string }).code ?? '';

test('every message the real cores send in a scenario passes its parser', () => {
  const h = new Harness(3);
  try {
    for (const id of ['w1', 'w2', 'w3']) h.addWorker(id);
    h.settle();
    const st = h.request({ action: 'status' }) as { workers: { state: string }[] };
    assert.deepEqual(st.workers.map((w) => w.state), ['up', 'up', 'up']);

    // One-shot writes of every kind, and their refusals.
    assert.equal(status(h.request({ action: 'post', tweet: { id: 't1', username: 'alice', content: 'first 👋' } })), 'OK');
    assert.equal(status(h.request({ action: 'post', tweet: { id: null, username: 'bob', content: 'an id chosen by the coordinator' } })), 'OK');
    assert.equal(status(h.request({ action: 'update', tweet: { id: 't1', content: 'edited', username: 'alice' } })), 'OK');
    assert.equal(code(h.request({ action: 'update', tweet: { id: 'nope', content: 'x', username: null } })), 'NOT_FOUND');
    assert.equal(code(h.request({ action: 'post', tweet: { id: 't1', username: 'alice', content: 'other' } })), 'EXISTS');
    assert.equal(code(h.request({ action: 'update', tweet: { id: 't1', content: 'x', username: 'mallory' } })), 'FORBIDDEN');
    assert.equal(status(h.request({ action: 'put_item', item: { kind: 'user', key: 'ada', value: { hash: 'h', n: [1, { a: null }] } }, if_absent: true })), 'OK');
    assert.equal(status(h.request({ action: 'put_item', item: { kind: 'user', key: 'ada', value: { hash: 'h', n: [1, { a: null }] } }, if_absent: true })), 'OK');
    assert.equal(status(h.request({ action: 'put_item', item: { kind: 'session', key: 's1', value: { user: 'ada' } }, if_absent: false })), 'OK');
    assert.equal(status(h.request({ action: 'delete_item', item: { kind: 'session', key: 's1' } })), 'OK');
    const ops = Array.from({ length: 5 }, (_, i): Extract<ClientRequest, { action: 'post' }> => ({ action: 'post', tweet: { id: `m${i}`, username: 'carol', content: `many ${i}` } }));
    assert.equal(status(h.request({ action: 'transaction', ops: [...ops, { action: 'delete', tweet: { id: 't1', username: null } }] })), 'OK');

    // Interactive: locks one at a time, a refusal, a commit and an abort; a one-shot write refused as LOCKED meanwhile.
    assert.equal(status(h.request({ action: 'begin' }, 1, 0)), 'OK');
    assert.equal(status(h.request({ action: 'post', tweet: { id: 'i1', username: 'dan', content: 'inside' } }, 1, 1)), 'OK');
    assert.equal(status(h.request({ action: 'put_item', item: { kind: 'user', key: 'dan', value: {} }, if_absent: true }, 1, 2)), 'OK');
    assert.equal(code(h.request({ action: 'update', tweet: { id: 'i1', content: 'x', username: null } })), 'LOCKED');
    assert.equal(status(h.request({ action: 'commit' }, 1, 3)), 'OK');
    assert.equal(status(h.request({ action: 'begin' }, 2, 0)), 'OK');
    assert.equal(code(h.request({ action: 'delete', tweet: { id: 'gone', username: null } }, 2, 1)), 'NOT_FOUND');
    assert.equal(status(h.request({ action: 'abort' }, 2, 2)), 'OK');

    // Reads: a page as text, a tweet, an item, a check; and a page with a commit in flight (the overlay: a read_result of tweets).
    assert.equal(status(h.request({ action: 'get_tweets', limit: 3, before: null, username: null })), 'OK');
    assert.equal(status(h.request({ action: 'get_tweet', id: 'i1' })), 'OK');
    assert.equal(code(h.request({ action: 'get_tweet', id: 'nope' })), 'NOT_FOUND');
    assert.equal(status(h.request({ action: 'get_item', item: { kind: 'user', key: 'ada' } })), 'OK');
    assert.equal(code(h.request({ action: 'get_item', item: { kind: 'session', key: 's1' } })), 'NOT_FOUND');
    const checked = h.request({ action: 'check' }) as { workers: { digest: string }[] };
    assert.equal(new Set(checked.workers.map((w) => w.digest)).size, 1);
    h.hold.set('w1', []);
    h.request({ action: 'post', tweet: { id: 'slow', username: 'erin', content: 'committing' } }, 3, 0);
    assert.equal(status(h.request({ action: 'get_tweets', limit: 10, before: null, username: null })), 'OK');
    h.release('w1');
    assert.equal(status(h.replies.get('3:0')), 'OK');

    // A worker that comes in with no data copies it, in pages (3 rows a page here): copy reads and installs.
    // A write decided while it copies is streamed to it (replicate, replicated); it is promoted (config).
    h.addWorker('w4', false);
    h.runUntil(() => h.seen.has('to install'));
    assert.equal(status(h.request({ action: 'post', tweet: { id: 'during', username: 'hal', content: 'while w4 copies' } })), 'OK');
    h.settle();
    const st2 = h.request({ action: 'status' }) as { workers: { id: string; state: string }[] };
    assert.equal(st2.workers.find((w) => w.id === 'w4')?.state, 'up');
    const checked2 = h.request({ action: 'check' }) as { workers: { digest: string }[] };
    assert.equal(new Set(checked2.workers.map((w) => w.digest)).size, 1, 'the copy is equal');

    // A prepared worker that never hears the outcome asks the coordinator and the other voters.
    let lost: string | null = null;
    h.drop = (worker, msg) => worker === 'w1' && (msg.type === 'commit' || msg.type === 'abort') && (lost ??= msg.txid) === msg.txid;
    h.request({ action: 'post', tweet: { id: 'asked', username: 'fay', content: 'who knows?' } }, 4, 0);
    h.tick(T + 1);
    h.tick(T + 1);
    h.drop = () => false;
    h.tick(T + 1);
    // And one that voted YES on what the others never saw: they promise never to, and say abort (#13: asked to prevent it too).
    lost = null;
    h.drop = (worker, msg) => (worker !== 'w1' && msg.type === 'prepare') || (worker === 'w1' && msg.type === 'abort');
    h.request({ action: 'post', tweet: { id: 'orphan', username: 'gus', content: 'nobody else saw me' } }, 5, 0);
    h.tick(T + 1);
    h.tick(T + 1);
    h.drop = () => false;
    h.tick(T + 1);
    h.tick(T + 1);

    const expected = [
      // (Not `reserved`: a reservation is renewed every 50,000 commits; its example is above.)
      ...['hello', 'lock', 'prepare', 'commit', 'abort', 'prevent', 'config', 'replicate', 'read', 'copy_read', 'install'].map((t) => `to ${t}`),
      ...['state', 'locked', 'lock_refused', 'vote', 'applied', 'ack', 'query', 'read_result', 'read_text', 'copy_page', 'installed', 'replicated'].map((t) => `from ${t}`),
      'peer peer_query',
      'peer peer_answer',
    ];
    assert.deepEqual(expected.filter((t) => !h.seen.has(t)), [], 'every message type was sent in the scenario');
  } finally {
    h.close();
  }
});

test('every message of a few simulator seeds (faults on) passes its parser', () => {
  // The simulator is not changed: the cores' own entry points are wrapped for this process.
  const problems: string[] = [];
  const seen = new Set<string>();
  const check = <M>(direction: string, parse: (raw: unknown) => Parsed<M>, msg: unknown): void => {
    const r = parse(wire(msg));
    seen.add(`${direction} ${(msg as { type: string }).type}`);
    if (!r.ok && problems.length < 5) problems.push(`${direction} ${JSON.stringify(msg).slice(0, 300)}: ${r.error}`);
  };
  const coordHandle = Object.getOwnPropertyDescriptor(CoordinatorCore.prototype, 'handle') as PropertyDescriptor;
  const workerHandle = Object.getOwnPropertyDescriptor(WorkerCore.prototype, 'handle') as PropertyDescriptor;
  const handleC = CoordinatorCore.prototype.handle;
  const handleW = WorkerCore.prototype.handle;
  CoordinatorCore.prototype.handle = function (this: CoordinatorCore, event: CoordinatorEvent, now: number): CoordinatorEffect[] {
    if (event.type === 'worker_message') check('from', parseFromWorker, event.msg);
    const effects = handleC.call(this, event, now);
    for (const e of effects) if (e.type === 'send') check('to', parseToWorker, e.msg);
    return effects;
  };
  WorkerCore.prototype.handle = function (this: WorkerCore, event: WorkerEvent, now: number): WorkerEffect[] {
    if (event.type === 'peer_query') check('peer', parsePeerQuery, event.msg);
    if (event.type === 'peer_answer') check('peer', parsePeerAnswer, event.msg);
    return handleW.call(this, event, now);
  };
  try {
    for (let seed = 1; seed <= 8; seed++) simulate({ seed, loseUnsynced: seed % 2 === 0 });
  } finally {
    Object.defineProperty(CoordinatorCore.prototype, 'handle', coordHandle);
    Object.defineProperty(WorkerCore.prototype, 'handle', workerHandle);
  }
  assert.deepEqual(problems, []);
  // (Copies are not among them: the simulator's workers never lose their data; the scenario above sends them.)
  for (const t of ['to hello', 'to lock', 'to prepare', 'to commit', 'to abort', 'to read', 'from state', 'from vote', 'from ack', 'from read_result', 'from read_text', 'peer peer_query', 'peer peer_answer']) assert.ok(seen.has(t), `the seeds sent no ${t}`);
});

test('whatever a client may send, the coordinator forwards only what the worker parser accepts (well-formed strings, item values at most 32 deep)', () => {
  // If validate.ts let through something the node parsers refuse, one client request would close
  // the coordinator's link to every worker. Lone surrogates and deeper item values are left out:
  // src/wire/validate.ts refuses them with #10 item 5, and must (see the report).
  const str = (max: number): fc.Arbitrary<string> => fc.oneof(fc.string({ unit: 'binary', maxLength: max }), fc.string({ unit: 'grapheme', minLength: max - 2, maxLength: max + 2 }));
  const id = fc.oneof(str(ID_MAX_CHARS + 1), fc.nat(), fc.constant(null));
  const name = str(USERNAME_MAX_CHARS + 1);
  const text = str(CONTENT_MAX_CODE_POINTS + 1);
  const value = fc.dictionary(str(20), fc.jsonValue({ maxDepth: 6 }), { maxKeys: 8 });
  const kind = fc.constantFrom('user', 'session');
  const write = fc.oneof(
    fc.record({ action: fc.constant('post'), tweet: fc.record({ id, username: name, content: text }) }),
    fc.record({ action: fc.constant('update'), tweet: fc.record({ id, username: fc.oneof(name, fc.constant(null)), content: text }) }),
    fc.record({ action: fc.constant('delete'), tweet: fc.record({ id, username: fc.oneof(name, fc.constant(null)) }) }),
    fc.record({ action: fc.constant('put_item'), item: fc.record({ kind, key: id, value }), if_absent: fc.boolean() }),
    fc.record({ action: fc.constant('delete_item'), item: fc.record({ kind, key: id }) }),
  );
  const cursor = fc.tuple(fc.nat(), fc.string({ unit: 'binary', minLength: 1, maxLength: 300 })).map(([created_at, cid]) => encodeCursor({ created_at, id: cid }));
  const request = fc.oneof(
    write,
    fc.record({ action: fc.constant('transaction'), ops: fc.array(write, { minLength: 1, maxLength: 5 }) }),
    fc.record({ action: fc.constant('get_tweets'), limit: fc.integer({ min: 1, max: 1000 }), before: fc.oneof(cursor, fc.constant(null)), username: fc.oneof(name, fc.constant(null)) }),
    fc.record({ action: fc.constant('get_tweet'), tweet: fc.record({ id }) }),
    fc.record({ action: fc.constant('get_item'), item: fc.record({ kind, key: id }) }),
    fc.constant({ action: 'check' }),
  );
  let forwarded = 0;
  fc.assert(
    fc.property(request, (body) => {
      const v = validateRequest(body as Record<string, unknown>);
      if (!v.ok) return;
      // Two voters, recovered as configuration 1 (how a worker becomes one is the scenario's above).
      const members = ['w1', 'w2'].map((w) => ({ id: w, address: `127.0.0.1:${w === 'w1' ? 9001 : 9002}` }));
      const core = new CoordinatorCore({ ...TEST_IDENTITY, lockTimeoutMs: T, copyPageRows: 100, evictAfterMs: 10_000, minVoters: 1 }, { epoch: 1, cluster: TEST_CLUSTER, last_cseq: 0, members, decisions: [], config: { n: 1, voters: ['w1', 'w2'] } });
      // #13: cseqs go out with prepares once their reservation is durable.
      startCore(core, 1_000);
      for (const w of ['w1', 'w2']) {
        core.handle({ type: 'link_up', worker: w }, 1_000);
        core.handle({ type: 'worker_message', worker: w, msg: { type: 'state', node_id: w, prepared: [], max_cseq: 0, known_config: { n: 0, voters: [], catching_up: [] }, proposed_config: null, reserved: 0 } }, 1_000);
      }
      for (const e of core.handle({ type: 'request', conn: 2, slot: 0, request: v.request }, 2_000)) {
        if (e.type !== 'send') continue;
        forwarded++;
        const r = parseToWorker(wire(e.msg));
        assert.ok(r.ok, `${JSON.stringify(body).slice(0, 200)} was accepted from a client, but the worker refuses what it became: ${r.ok ? '' : r.error}`);
      }
    }),
    { numRuns: 500 },
  );
  assert.ok(forwarded > 300, `only ${forwarded} messages were forwarded`);
});
