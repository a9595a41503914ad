// Validators for every message between nodes: coordinator -> worker (ToWorker), worker ->
// coordinator (FromWorker) and worker <-> worker (PeerQuery, PeerAnswer). A message reaches a
// core only once it has exactly the shape the cores build: its type known, no unknown field,
// every field of its type and within its limit, every string well formed (no lone surrogate).
// A message that fails is refused with a sentence naming the message type and the field; the
// runtime closes the link and logs it. Nothing here throws, whatever the input, and the cost is
// linear in the size of the input (each value is looked at once; lists are measured before
// they are walked).
//
// The input is a value from JSON.parse: plain objects, arrays, strings, numbers, booleans and
// null. A valid message is returned as it came (not copied), typed.

import { ERROR_CODES } from './errors.ts';
import {
  CONTENT_MAX_CODE_POINTS,
  ID_MAX_CHARS,
  ITEM_VALUE_MAX_BYTES,
  ITEM_VALUE_MAX_DEPTH,
  NODE_MAX_ADDRESS_CHARS,
  NODE_MAX_COPY_ROWS,
  NODE_MAX_CURSOR_ID_CHARS,
  NODE_MAX_ERROR_CHARS,
  NODE_MAX_LOCK_TIMEOUT_MS,
  NODE_MAX_OPS,
  NODE_MAX_PREPARED,
  NODE_MAX_READ_TEXT_CHARS,
  NODE_MAX_READ_TWEETS,
  NODE_MAX_VOTERS,
  PARSE_ERROR_MAX_CHARS,
  USERNAME_MAX_CHARS,
  COUNTER_MAX_STEP,
} from './limits.ts';
import { parseAddress, TXID_PATTERN } from './validate.ts';
import { NODE_ID_PATTERN, catchingUpProblem, knownConfigProblem } from './cluster-knowledge.ts';
import {
  COUNTER_FIELDS,
  COUNTER_KINDS,
  ITEM_KINDS,
  type CopyRow,
  type ErrorCode,
  type FromWorker,
  type Item,
  type ItemKind,
  type Op,
  type OpResult,
  type Peer,
  type PeerAnswer,
  type PeerQuery,
  type ReadQuery,
  type ToWorker,
  type TxnKnowledge,
  type Tweet,
  type VoteResult,
} from './protocol.ts';

// ---------------------------------------------------------------------------
// Identities. The limits on every message are in src/wire/limits.ts.

/** A worker's identity (as `register` accepts it), a cluster's and a coordinator run's. */
export { NODE_ID_PATTERN };
/** A YES vote's results digest (src/core/results-digest.ts): 16 hex digits. */
const RESULTS_DIGEST_PATTERN = /^[0-9a-f]{16}$/;
export { TXID_PATTERN };

export type Parsed<T> = { ok: true; msg: T } | { ok: false; error: string };

/** The shapes of a read_result's `result`, one per ReadQuery kind. */
export interface CheckResult {
  count: number;
  items: number;
  digest: string;
  prepared: number;
  locks: number;
  max_cseq: number;
  fsyncs: number;
  fsync_ms: number;
  resolved_by_peers: number;
  /** Restarts by `tweetdb start` (TWEETDB_RESTARTS); 0 outside it. */
  restarts: number;
}
export type ReadResult = { tweets: Tweet[] } | { tweet: Tweet | null } | { item: Item | null } | CheckResult | { txn: TxnKnowledge };

const TO_WORKER_TYPES = ['hello', 'lock', 'prepare', 'commit', 'abort', 'prevent', 'config', 'config_propose', 'reserved', 'replicate', 'read', 'copy_read', 'install'] as const;
const FROM_WORKER_TYPES = ['state', 'refused', 'locked', 'lock_refused', 'vote', 'applied', 'ack', 'query', 'read_result', 'read_text', 'read_failed', 'copy_page', 'installed', 'replicated', 'config_ack'] as const;
const CHECK_FIELDS = ['count', 'items', 'digest', 'prepared', 'locks', 'max_cseq', 'fsyncs', 'fsync_ms', 'resolved_by_peers', 'restarts'] as const;

class Invalid extends Error {}

type Obj = Record<string, unknown>;

// ---------------------------------------------------------------------------
// Entry points

export function parseToWorker(raw: unknown): Parsed<ToWorker> {
  return run(raw, TO_WORKER_TYPES, toWorker);
}

export function parseFromWorker(raw: unknown): Parsed<FromWorker> {
  return run(raw, FROM_WORKER_TYPES, fromWorker);
}

export function parsePeerQuery(raw: unknown): Parsed<PeerQuery> {
  return run(raw, ['peer_query'], (o) => {
    fields(o, ['type', 'txid', 'to']);
    txid(o, 'txid');
    nodeId(o, 'to');
    return o as unknown as PeerQuery;
  });
}

export function parsePeerAnswer(raw: unknown): Parsed<PeerAnswer> {
  return run(raw, ['peer_answer'], (o) => {
    fields(o, ['type', 'txid', 'from', 'outcome', 'cseq']);
    txid(o, 'txid');
    nodeId(o, 'from');
    oneOf(o, 'outcome', ['commit', 'abort', 'prepared', 'unknown']);
    count(o, 'cseq');
    return o as unknown as PeerAnswer;
  });
}

/** Is `result` (a read_result's, already parsed) the shape a read of this kind is answered with? */
export function readResultMatches(kind: ReadQuery['kind'], result: unknown): boolean {
  if (!isObj(result)) return false;
  switch (kind) {
    case 'get_tweets':
      return has(result, 'tweets');
    case 'get_tweet':
      return has(result, 'tweet');
    case 'get_item':
      return has(result, 'item');
    case 'check':
      return has(result, 'digest');
    case 'txn':
      return has(result, 'txn');
  }
}

/** A question the coordinator asked a worker on one link, by rid: a read (its kind; asked as text or not), or a copy_read (its limit). */
export type AskedOfWorker = { kind: ReadQuery['kind']; text: boolean } | { kind: 'copy'; limit: number };

/** The messages that answer a question asked by rid. */
export type WorkerAnswer = Extract<FromWorker, { type: 'read_result' | 'read_text' | 'read_failed' | 'copy_page' }>;

export function isWorkerAnswer(msg: FromWorker): msg is WorkerAnswer {
  return msg.type === 'read_result' || msg.type === 'read_text' || msg.type === 'read_failed' || msg.type === 'copy_page';
}

/**
 * Why `msg` (schema-valid) is not an answer to what was asked with its rid; null when it is. A read
 * is answered by read_result of its kind's shape or, asked as text, read_text; a copy_read by a
 * copy_page of at most the rows asked; either by read_failed.
 */
export function answerProblem(asked: AskedOfWorker, msg: WorkerAnswer): string | null {
  if (msg.type === 'read_failed') return null;
  if (asked.kind === 'copy') {
    if (msg.type !== 'copy_page') return `${msg.type} ${msg.rid}: the answer to a copy_read is a copy_page`;
    return msg.rows.length > asked.limit ? `copy_page ${msg.rid}: ${msg.rows.length} rows, where ${asked.limit} were asked for` : null;
  }
  if (msg.type === 'copy_page') return `copy_page ${msg.rid}: not the answer to a copy_read`;
  if (msg.type === 'read_text') return asked.text ? null : `read_text ${msg.rid}: that read was not asked as text`;
  return readResultMatches(asked.kind, msg.result) ? null : `read_result ${msg.rid}: not the answer to a ${asked.kind} read`;
}

/**
 * An item's value: a JSON object, at most ITEM_VALUE_MAX_DEPTH deep, at most
 * ITEM_VALUE_MAX_BYTES as JSON, every string (keys too) well formed. Null when it is; else what is wrong.
 */
export function itemValueProblem(v: unknown): string | null {
  if (!isObj(v)) return 'must be a JSON object';
  // A lower bound of its JSON size, kept while walking, stops the walk early (a string of n
  // UTF-16 units takes at least n bytes as JSON): the walk, and the exact measure after it, stay
  // within a few KiB of work whatever was sent.
  const budget = { left: ITEM_VALUE_MAX_BYTES };
  const why = walkValue(v, 1, budget);
  if (why !== null) return why;
  const size = Buffer.byteLength(JSON.stringify(v));
  if (size > ITEM_VALUE_MAX_BYTES) return `is ${size} bytes as JSON; at most ${ITEM_VALUE_MAX_BYTES}`;
  return null;
}

// ---------------------------------------------------------------------------
// Messages

function run<T>(raw: unknown, types: readonly string[], parse: (o: Obj, type: string) => T): Parsed<T> {
  let type = 'message';
  try {
    if (!isObj(raw)) throw new Invalid('must be a JSON object');
    const t = get(raw, 'type');
    if (typeof t !== 'string') throw new Invalid(`field "type" must be one of ${types.join(', ')}`);
    if (!types.includes(t)) throw new Invalid(`unknown type ${excerpt(t)}; expected one of ${types.join(', ')}`);
    type = t;
    return { ok: true, msg: parse(raw, t) };
  } catch (e) {
    if (e instanceof Invalid) return { ok: false, error: clip(`${type}: ${e.message}`) };
    throw e;
  }
}

function toWorker(o: Obj, type: string): ToWorker {
  switch (type) {
    case 'hello':
      fields(o, ['type', 'lock_timeout_ms', 'cluster', 'epoch', 'run', 'config', 'voter', 'voters', 'catching_up', 'reserved']);
      int(o, 'lock_timeout_ms', 0, NODE_MAX_LOCK_TIMEOUT_MS);
      nodeId(o, 'cluster');
      int(o, 'epoch', 1);
      nodeId(o, 'run');
      count(o, 'config');
      bool(o, 'voter');
      problem(catchingUpProblem(get(o, 'voters'), get(o, 'catching_up'), ''));
      count(o, 'reserved');
      break;
    case 'reserved':
      fields(o, ['type', 'through']);
      int(o, 'through', 1);
      break;
    case 'config_propose':
      fields(o, ['type', 'config', 'voters', 'catching_up']);
      int(o, 'config', 1);
      problem(catchingUpProblem(get(o, 'voters'), get(o, 'catching_up'), ''));
      break;
    case 'lock':
      fields(o, ['type', 'txid', 'seq', 'op', 'config', 'floor']);
      txid(o, 'txid');
      int(o, 'seq', 1);
      op(get(o, 'op'), 'op');
      count(o, 'config');
      count(o, 'floor');
      break;
    case 'config':
      fields(o, ['type', 'config', 'voter', 'removed', 'voters', 'catching_up']);
      count(o, 'config');
      bool(o, 'voter');
      bool(o, 'removed');
      problem(catchingUpProblem(get(o, 'voters'), get(o, 'catching_up'), ''));
      break;
    case 'replicate': {
      fields(o, ['type', 'seq', 'txid', 'cseq', 'ops']);
      int(o, 'seq', 1);
      txid(o, 'txid');
      int(o, 'cseq', 1);
      const list = array(get(o, 'ops'), 'ops', 1, NODE_MAX_OPS, 'writes');
      for (let i = 0; i < list.length; i++) op(list[i], `ops[${i}]`);
      break;
    }
    case 'prepare': {
      fields(o, ['type', 'txid', 'ops', 'voters', 'addresses', 'config', 'floor', 'cseq']);
      txid(o, 'txid');
      count(o, 'config');
      count(o, 'floor');
      int(o, 'cseq', 1);
      const ops = get(o, 'ops');
      if (ops !== null) {
        const list = array(ops, 'ops', 1, NODE_MAX_OPS, 'writes');
        for (let i = 0; i < list.length; i++) op(list[i], `ops[${i}]`);
      }
      // The voters' ids, each once; the addresses of those this link was not told yet, each a voter's.
      const voters = new Set<string>();
      if (has(o, 'voters')) {
        const list = array(get(o, 'voters'), 'voters', 1, NODE_MAX_VOTERS, 'workers');
        for (let i = 0; i < list.length; i++) {
          const id = workerId(list[i], `voters[${i}]`);
          if (voters.has(id)) throw new Invalid(`field "voters[${i}]" names worker ${excerpt(id)} twice`);
          voters.add(id);
        }
      }
      if (has(o, 'addresses')) {
        const list = array(get(o, 'addresses'), 'addresses', 1, NODE_MAX_VOTERS, 'workers');
        const told = new Set<string>();
        for (let i = 0; i < list.length; i++) {
          const p = peer(list[i], `addresses[${i}]`);
          if (!voters.has(p.id)) throw new Invalid(`field "addresses[${i}].id" must be one of the prepare's voters`);
          if (told.has(p.id)) throw new Invalid(`field "addresses[${i}].id" names worker ${excerpt(p.id)} twice`);
          told.add(p.id);
        }
      }
      break;
    }
    case 'commit':
      fields(o, ['type', 'txid', 'cseq']);
      txid(o, 'txid');
      int(o, 'cseq', 1);
      break;
    case 'abort':
    case 'prevent':
      fields(o, ['type', 'txid']);
      txid(o, 'txid');
      break;
    case 'read':
      fields(o, ['type', 'rid', 'query', 'reply_text']);
      int(o, 'rid', 1);
      readQuery(get(o, 'query'), 'query');
      if (has(o, 'reply_text')) bool(o, 'reply_text');
      break;
    case 'copy_read':
      fields(o, ['type', 'rid', 'after', 'limit']);
      int(o, 'rid', 1);
      nullOr(get(o, 'after'), 'after', copyCursor);
      int(o, 'limit', 1, NODE_MAX_COPY_ROWS);
      break;
    case 'install': {
      fields(o, ['type', 'rid', 'rows', 'reset', 'done', 'max_cseq', 'stream_seq']);
      int(o, 'rid', 1);
      copyRows(get(o, 'rows'), 'rows');
      bool(o, 'reset');
      bool(o, 'done');
      count(o, 'max_cseq');
      count(o, 'stream_seq');
      break;
    }
  }
  return o as unknown as ToWorker;
}

function fromWorker(o: Obj, type: string): FromWorker {
  switch (type) {
    case 'state': {
      fields(o, ['type', 'node_id', 'prepared', 'max_cseq', 'known_config', 'proposed_config', 'reserved']);
      nodeId(o, 'node_id');
      const list = array(get(o, 'prepared'), 'prepared', 0, NODE_MAX_PREPARED, 'prepared transactions');
      for (let i = 0; i < list.length; i++) preparedTxn(list[i], `prepared[${i}].`);
      count(o, 'max_cseq');
      problem(knownConfigProblem(get(o, 'known_config'), 'known_config'));
      if (get(o, 'proposed_config') !== null) problem(knownConfigProblem(get(o, 'proposed_config'), 'proposed_config'));
      count(o, 'reserved');
      break;
    }
    case 'refused':
      fields(o, ['type', 'reason', 'cluster', 'epoch', 'live', 'error']);
      oneOf(o, 'reason', ['cluster', 'epoch']);
      nullOr(get(o, 'cluster'), 'cluster', workerId);
      count(o, 'epoch');
      bool(o, 'live');
      text(o, 'error', NODE_MAX_ERROR_CHARS);
      break;
    case 'locked':
      fields(o, ['type', 'txid', 'seq', 'result']);
      txid(o, 'txid');
      int(o, 'seq', 1);
      opResult(get(o, 'result'), 'result');
      break;
    case 'lock_refused':
      fields(o, ['type', 'txid', 'seq', 'code', 'error']);
      txid(o, 'txid');
      int(o, 'seq', 1);
      errorCode(o, 'code');
      text(o, 'error', NODE_MAX_ERROR_CHARS);
      break;
    case 'vote': {
      const yes = get(o, 'yes');
      if (yes === true && has(o, 'digest')) {
        // #13 item 5: a voter other than the first sends its results' digest, not the results.
        fields(o, ['type', 'txid', 'yes', 'digest', 'n']);
        txid(o, 'txid');
        const d = get(o, 'digest');
        if (typeof d !== 'string' || !RESULTS_DIGEST_PATTERN.test(d)) throw new Invalid('field "digest" must be 16 lowercase hex digits (FNV-1a 64 of the results)');
      } else if (yes === true) {
        fields(o, ['type', 'txid', 'yes', 'results', 'ops', 'n']);
        txid(o, 'txid');
        // Empty when a restarted worker repeats its vote: the results are not kept across a restart.
        const list = array(get(o, 'results'), 'results', 0, NODE_MAX_OPS, 'results');
        for (let i = 0; i < list.length; i++) voteResult(list[i], `results[${i}]`);
        if (has(o, 'ops')) {
          const ops = array(get(o, 'ops'), 'ops', 1, NODE_MAX_OPS, 'writes');
          for (let i = 0; i < ops.length; i++) op(ops[i], `ops[${i}]`);
        }
      } else if (yes === false) {
        fields(o, ['type', 'txid', 'yes', 'code', 'error', 'n']);
        txid(o, 'txid');
        errorCode(o, 'code');
        text(o, 'error', NODE_MAX_ERROR_CHARS);
      } else throw new Invalid('field "yes" must be true or false');
      if (has(o, 'n')) int(o, 'n', 1);
      break;
    }
    case 'applied':
    case 'query':
      fields(o, ['type', 'txid']);
      txid(o, 'txid');
      break;
    case 'ack':
      fields(o, ['type', 'txid', 'outcome', 'results']);
      txid(o, 'txid');
      oneOf(o, 'outcome', ['commit', 'abort']);
      if (has(o, 'results')) {
        const list = array(get(o, 'results'), 'results', 0, NODE_MAX_OPS, 'results');
        for (let i = 0; i < list.length; i++) opResult(list[i], `results[${i}]`);
      }
      break;
    case 'read_result':
      fields(o, ['type', 'rid', 'result']);
      int(o, 'rid', 1);
      readResult(get(o, 'result'), 'result');
      break;
    case 'read_text': {
      fields(o, ['type', 'rid', 'text']);
      int(o, 'rid', 1);
      const t = text(o, 'text', NODE_MAX_READ_TEXT_CHARS);
      // Passed to the client as its reply line: one JSON object on one line. Not parsed here (it
      // is large); the worker built it with JSON.stringify.
      if (!t.startsWith('{') || !t.endsWith('}') || t.includes('\n') || t.includes('\r')) {
        throw new Invalid('field "text" must be a JSON object on one line');
      }
      break;
    }
    case 'read_failed':
      fields(o, ['type', 'rid', 'error', 'in_doubt']);
      int(o, 'rid', 1);
      text(o, 'error', NODE_MAX_ERROR_CHARS);
      if (has(o, 'in_doubt')) txid(o, 'in_doubt');
      break;
    case 'copy_page':
      fields(o, ['type', 'rid', 'rows']);
      int(o, 'rid', 1);
      copyRows(get(o, 'rows'), 'rows');
      break;
    case 'installed':
      fields(o, ['type', 'rid', 'done']);
      int(o, 'rid', 1);
      bool(o, 'done');
      break;
    case 'replicated':
      fields(o, ['type', 'seq']);
      int(o, 'seq', 1);
      break;
    case 'config_ack':
      fields(o, ['type', 'config']);
      int(o, 'config', 1);
      break;
  }
  return o as unknown as FromWorker;
}

// ---------------------------------------------------------------------------
// Parts

function op(v: unknown, path: string): Op {
  const o = object(v, path);
  const p = `${path}.`;
  const kind = get(o, 'kind');
  switch (kind) {
    case 'post':
      fields(o, ['kind', 'tweet'], p);
      tweet(get(o, 'tweet'), `${p}tweet`);
      break;
    case 'update':
      fields(o, ['kind', 'id', 'content', 'username', 'at'], p);
      tweetId(get(o, 'id'), `${p}id`);
      content(get(o, 'content'), `${p}content`);
      nullOr(get(o, 'username'), `${p}username`, username);
      time(get(o, 'at'), `${p}at`);
      break;
    case 'delete':
      fields(o, ['kind', 'id', 'username'], p);
      tweetId(get(o, 'id'), `${p}id`);
      nullOr(get(o, 'username'), `${p}username`, username);
      break;
    case 'put_item':
      fields(o, ['kind', 'item', 'mode'], p);
      item(get(o, 'item'), `${p}item`);
      oneOf(o, 'mode', ['create', 'replace'], p);
      break;
    case 'delete_item':
      fields(o, ['kind', 'item_kind', 'key'], p);
      itemKind(get(o, 'item_kind'), `${p}item_kind`);
      tweetId(get(o, 'key'), `${p}key`);
      break;
    case 'incr_item': {
      fields(o, ['kind', 'item_kind', 'key', 'field', 'by'], p);
      oneOf(o, 'item_kind', COUNTER_KINDS, p);
      tweetId(get(o, 'key'), `${p}key`);
      oneOf(o, 'field', COUNTER_FIELDS, p);
      const by = get(o, 'by');
      if (typeof by !== 'number' || !Number.isSafeInteger(by) || Math.abs(by) > COUNTER_MAX_STEP) throw new Invalid(`field "${p}by" must be a whole number within ${COUNTER_MAX_STEP} of 0`);
      break;
    }
    default:
      throw new Invalid(`field "${p}kind" must be one of post, update, delete, put_item, delete_item, incr_item`);
  }
  return o as unknown as Op;
}

function tweet(v: unknown, path: string): Tweet {
  const o = object(v, path);
  const p = `${path}.`;
  fields(o, ['id', 'username', 'content', 'created_at', 'updated_at'], p);
  tweetId(get(o, 'id'), `${p}id`);
  username(get(o, 'username'), `${p}username`);
  content(get(o, 'content'), `${p}content`);
  time(get(o, 'created_at'), `${p}created_at`);
  nullOr(get(o, 'updated_at'), `${p}updated_at`, time);
  return o as unknown as Tweet;
}

function item(v: unknown, path: string): Item {
  const o = object(v, path);
  const p = `${path}.`;
  fields(o, ['kind', 'key', 'value'], p);
  itemKind(get(o, 'kind'), `${p}kind`);
  tweetId(get(o, 'key'), `${p}key`);
  const why = itemValueProblem(get(o, 'value'));
  if (why !== null) throw new Invalid(`field "${p}value" ${why}`);
  return o as unknown as Item;
}

function opResult(v: unknown, path: string): OpResult {
  const o = object(v, path);
  if (has(o, 'tweet')) {
    fields(o, ['tweet'], `${path}.`);
    tweet(get(o, 'tweet'), `${path}.tweet`);
  } else if (has(o, 'item')) {
    fields(o, ['item'], `${path}.`);
    item(get(o, 'item'), `${path}.item`);
  } else fields(o, [], `${path}.`);
  return o as OpResult;
}

/** A result in a YES: an op's result, or `{as_posted: true}` (#13 item 5: the tweet its post op sent). */
function voteResult(v: unknown, path: string): VoteResult {
  const o = object(v, path);
  if (!has(o, 'as_posted')) return opResult(o, path);
  fields(o, ['as_posted'], `${path}.`);
  if (get(o, 'as_posted') !== true) throw new Invalid(`field "${path}.as_posted" must be true`);
  return o as VoteResult;
}

/** One entry of a state's prepared list: `prefix` ends with a dot. */
function preparedTxn(v: unknown, prefix: string): void {
  const o = object(v, prefix.slice(0, -1));
  fields(o, ['txid', 'voters', 'cseq'], prefix);
  txidValue(get(o, 'txid'), `${prefix}txid`);
  const voters = array(get(o, 'voters'), `${prefix}voters`, 1, NODE_MAX_VOTERS, 'workers');
  for (let i = 0; i < voters.length; i++) {
    if (typeof voters[i] !== 'string' || !NODE_ID_PATTERN.test(voters[i] as string)) throw new Invalid(`field "${prefix}voters[${i}]" must be a worker id: 1 to 64 letters, digits, _ . -`);
  }
  // 0: a prepared record written before records carried their cseq (it commits only when told).
  count(o, 'cseq', prefix);
}

function peer(v: unknown, path: string): Peer {
  const o = object(v, path);
  fields(o, ['id', 'address'], `${path}.`);
  nodeId(o, 'id', `${path}.`);
  const a = get(o, 'address');
  if (typeof a !== 'string' || a.length > NODE_MAX_ADDRESS_CHARS || !wellFormed(a) || parseAddress(a) === null) {
    throw new Invalid(`field "${path}.address" must be HOST:PORT, at most ${NODE_MAX_ADDRESS_CHARS} characters`);
  }
  return o as unknown as Peer;
}

function readQuery(v: unknown, path: string): ReadQuery {
  const o = object(v, path);
  const p = `${path}.`;
  switch (get(o, 'kind')) {
    case 'get_tweets': {
      fields(o, ['kind', 'limit', 'before', 'username'], p);
      int(o, 'limit', 1, NODE_MAX_READ_TWEETS, p);
      nullOr(get(o, 'before'), `${p}before`, (b, bp) => {
        const c = object(b, bp);
        fields(c, ['created_at', 'id'], `${bp}.`);
        time(get(c, 'created_at'), `${bp}.created_at`);
        const id = get(c, 'id');
        if (typeof id !== 'string' || id.length === 0 || id.length > NODE_MAX_CURSOR_ID_CHARS || !wellFormed(id)) {
          throw new Invalid(`field "${bp}.id" must be a well-formed string of 1 to ${NODE_MAX_CURSOR_ID_CHARS} characters`);
        }
      });
      nullOr(get(o, 'username'), `${p}username`, username);
      break;
    }
    case 'get_tweet':
      fields(o, ['kind', 'id'], p);
      tweetId(get(o, 'id'), `${p}id`);
      break;
    case 'get_item':
      fields(o, ['kind', 'item_kind', 'key'], p);
      itemKind(get(o, 'item_kind'), `${p}item_kind`);
      tweetId(get(o, 'key'), `${p}key`);
      break;
    case 'check':
      fields(o, ['kind'], p);
      break;
    case 'txn':
      fields(o, ['kind', 'txid'], p);
      txidValue(get(o, 'txid'), `${p}txid`);
      break;
    default:
      throw new Invalid(`field "${p}kind" must be one of get_tweets, get_tweet, get_item, check, txn`);
  }
  return o as unknown as ReadQuery;
}

/** A copy cursor, as src/storage/worker-store.ts makes them: `t\0ID` or `i\0KIND\0KEY`. */
function copyCursor(v: unknown, path: string): void {
  const bad = (): never => {
    throw new Invalid(`field "${path}" must be a copy cursor ("t\\u0000ID" or "i\\u0000KIND\\u0000KEY")`);
  };
  if (typeof v !== 'string' || v.length > ID_MAX_CHARS + 16) bad();
  const s = v as string;
  if (s.startsWith('t\u0000')) {
    if (!isId(s.slice(2))) bad();
  } else if (s.startsWith('i\u0000')) {
    const sep = s.indexOf('\u0000', 2);
    if (sep < 0 || !(ITEM_KINDS as readonly string[]).includes(s.slice(2, sep)) || !isId(s.slice(sep + 1))) bad();
  } else bad();
}

function copyRows(v: unknown, path: string): CopyRow[] {
  const list = array(v, path, 0, NODE_MAX_COPY_ROWS, 'rows');
  for (let i = 0; i < list.length; i++) {
    const rp = `${path}[${i}]`;
    const o = object(list[i], rp);
    const c = get(o, 'c');
    let expected: string;
    if (has(o, 'tweet')) {
      fields(o, ['c', 's', 'tweet'], `${rp}.`);
      expected = `t\u0000${tweet(get(o, 'tweet'), `${rp}.tweet`).id}`;
    } else {
      fields(o, ['c', 's', 'item'], `${rp}.`);
      const it = item(get(o, 'item'), `${rp}.item`);
      expected = `i\u0000${it.kind}\u0000${it.key}`;
    }
    // The cursor is where the next page starts: it must name this row, or rows would be skipped.
    if (c !== expected) throw new Invalid(`field "${rp}.c" must be the copy cursor of its row`);
    // The cseq of the row's last commit: a replay writes only over older rows.
    count(o, 's', `${rp}.`);
  }
  return list as CopyRow[];
}

function readResult(v: unknown, path: string): ReadResult {
  const o = object(v, path);
  const p = `${path}.`;
  if (has(o, 'tweets')) {
    fields(o, ['tweets'], p);
    const list = array(get(o, 'tweets'), `${p}tweets`, 0, NODE_MAX_READ_TWEETS, 'tweets');
    for (let i = 0; i < list.length; i++) tweet(list[i], `${p}tweets[${i}]`);
  } else if (has(o, 'tweet')) {
    fields(o, ['tweet'], p);
    nullOr(get(o, 'tweet'), `${p}tweet`, tweet);
  } else if (has(o, 'item')) {
    fields(o, ['item'], p);
    nullOr(get(o, 'item'), `${p}item`, item);
  } else if (has(o, 'digest')) {
    fields(o, CHECK_FIELDS, p);
    for (const f of CHECK_FIELDS) if (f !== 'digest') count(o, f, p);
    const d = get(o, 'digest');
    if (typeof d !== 'string' || !/^[0-9a-f]{64}$/.test(d)) throw new Invalid(`field "${p}digest" must be a SHA-256 in hex`);
  } else if (has(o, 'txn')) {
    fields(o, ['txn'], p);
    const t = object(get(o, 'txn'), `${p}txn`);
    const state = oneOf(t, 'state', ['prepared', 'commit', 'abort', 'unknown'], `${p}txn.`);
    if (state === 'prepared') {
      fields(t, ['state', 'voters', 'told_peer'], `${p}txn.`);
      if (has(t, 'told_peer') && get(t, 'told_peer') !== true) throw new Invalid(`field "${p}txn.told_peer" must be true when present`);
      const voters = array(get(t, 'voters'), `${p}txn.voters`, 0, NODE_MAX_VOTERS, 'worker ids');
      for (let i = 0; i < voters.length; i++) workerId(voters[i], `${p}txn.voters[${i}]`);
    } else fields(t, ['state'], `${p}txn.`);
  } else {
    throw new Invalid(`field "${path}" must hold one of tweets, tweet, item, txn, or a check's digest`);
  }
  return o as unknown as ReadResult;
}

// ---------------------------------------------------------------------------
// Values

function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** An own field only: nothing is read from a prototype. */
function has(o: Obj, k: string): boolean {
  return Object.hasOwn(o, k);
}

function get(o: Obj, k: string): unknown {
  return Object.hasOwn(o, k) ? o[k] : undefined;
}

function object(v: unknown, path: string): Obj {
  if (!isObj(v)) throw new Invalid(`field "${path}" must be an object`);
  return v;
}

function array(v: unknown, path: string, min: number, max: number, what: string): unknown[] {
  if (!Array.isArray(v) || v.length < min || v.length > max) {
    const n = Array.isArray(v) ? ` (it has ${v.length})` : '';
    throw new Invalid(`field "${path}" must be a list of ${min} to ${max} ${what}${n}`);
  }
  return v;
}

/** Refuses any field not allowed. JSON.parse makes `__proto__` an own field, which is listed (and refused) like any other. */
function fields(o: Obj, allowed: readonly string[], prefix = ''): void {
  // for-in stops at the first unknown field without listing every key first.
  for (const k in o) {
    if (!Object.hasOwn(o, k)) continue;
    if (!allowed.includes(k)) throw new Invalid(`unknown field "${prefix}${excerpt(k, 40, false)}"; allowed: ${allowed.join(', ')}`);
  }
}

function int(o: Obj, k: string, min: number, max = Number.MAX_SAFE_INTEGER, prefix = ''): number {
  const v = get(o, k);
  // -0 is refused too: nothing sends it, and it would come out as 0 (what parses must be what came).
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min || v > max || Object.is(v, -0)) {
    const range = max === Number.MAX_SAFE_INTEGER ? `${min} or more` : `from ${min} to ${max}`;
    throw new Invalid(`field "${prefix}${k}" must be a whole number ${range}`);
  }
  return v;
}

/** A counter, sequence number or total: a whole number, 0 or more. */
function count(o: Obj, k: string, prefix = ''): number {
  return int(o, k, 0, Number.MAX_SAFE_INTEGER, prefix);
}

/** Milliseconds since the epoch. */
function time(v: unknown, path: string): void {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0 || Object.is(v, -0)) throw new Invalid(`field "${path}" must be a time in ms (a whole number, 0 or more)`);
}

function bool(o: Obj, k: string): boolean {
  const v = get(o, k);
  if (typeof v !== 'boolean') throw new Invalid(`field "${k}" must be true or false`);
  return v;
}

function oneOf(o: Obj, k: string, values: readonly string[], prefix = ''): string {
  const v = get(o, k);
  if (typeof v !== 'string' || !values.includes(v)) throw new Invalid(`field "${prefix}${k}" must be one of ${values.join(', ')}`);
  return v;
}

function errorCode(o: Obj, k: string): ErrorCode {
  const v = get(o, k);
  if (typeof v !== 'string' || !Object.hasOwn(ERROR_CODES, v)) throw new Invalid(`field "${k}" must be an error code (${Object.keys(ERROR_CODES).join(', ')})`);
  return v as ErrorCode;
}

function text(o: Obj, k: string, max: number): string {
  const v = get(o, k);
  if (typeof v !== 'string' || v.length > max || !wellFormed(v)) throw new Invalid(`field "${k}" must be a well-formed string of at most ${max} characters`);
  return v;
}

function nullOr(v: unknown, path: string, check: (v: unknown, path: string) => unknown): void {
  if (v !== null) check(v, path);
}

/** A problem found by a shared validator (src/wire/cluster-knowledge.ts), thrown as this file's. */
function problem(why: string | null): void {
  if (why !== null) throw new Invalid(why);
}

function txid(o: Obj, k: string): void {
  txidValue(get(o, k), k);
}

function txidValue(v: unknown, path: string): void {
  if (typeof v !== 'string' || !TXID_PATTERN.test(v)) throw new Invalid(`field "${path}" must be a transaction id (EPOCH.N)`);
}

function nodeId(o: Obj, k: string, prefix = ''): void {
  workerId(get(o, k), `${prefix}${k}`);
}

function workerId(v: unknown, path: string): string {
  if (typeof v !== 'string' || !NODE_ID_PATTERN.test(v)) throw new Invalid(`field "${path}" must be a worker id: 1 to 64 letters, digits, _ . -`);
  return v;
}

function itemKind(v: unknown, path: string): ItemKind {
  if (typeof v !== 'string' || !(ITEM_KINDS as readonly string[]).includes(v)) throw new Invalid(`field "${path}" must be one of ${ITEM_KINDS.join(', ')}`);
  return v as ItemKind;
}

// The rules of src/wire/validate.ts, plus well-formedness: what a core built from a valid request.

// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f]/;

function isId(v: string): boolean {
  return v.length > 0 && v.length <= ID_MAX_CHARS && !CONTROL.test(v) && wellFormed(v);
}

/** A tweet id or an item key. */
function tweetId(v: unknown, path: string): void {
  if (typeof v !== 'string' || !isId(v)) throw new Invalid(`field "${path}" must be a well-formed string of 1 to ${ID_MAX_CHARS} characters (no control characters)`);
}

function username(v: unknown, path: string): void {
  if (typeof v !== 'string' || v.length === 0 || v.length > USERNAME_MAX_CHARS || CONTROL.test(v) || v.trim() !== v || !wellFormed(v)) {
    throw new Invalid(`field "${path}" must be a well-formed string of 1 to ${USERNAME_MAX_CHARS} characters, without control characters or surrounding spaces`);
  }
}

function content(v: unknown, path: string): void {
  // A code point is at most two UTF-16 units: the length bounds the count before it is taken.
  if (typeof v !== 'string' || v.length > 2 * CONTENT_MAX_CODE_POINTS || !wellFormed(v) || v.trim().length === 0 || codePoints(v) > CONTENT_MAX_CODE_POINTS) {
    throw new Invalid(`field "${path}" must be a well-formed, non-blank string of 1 to ${CONTENT_MAX_CODE_POINTS} characters`);
  }
}

function codePoints(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0xdc00 || c > 0xdfff) n++; // a low surrogate completes the pair its high one counted
  }
  return n;
}

/** Walks an item value: depth, well-formed strings and keys, and a running lower bound of its JSON size. */
function walkValue(v: unknown, depth: number, budget: { left: number }): string | null {
  if (typeof v === 'string') {
    budget.left -= v.length + 2;
    if (budget.left < 0) return `is over ${ITEM_VALUE_MAX_BYTES} bytes as JSON`;
    return wellFormed(v) ? null : 'holds a string that is not well formed (a lone surrogate)';
  }
  if (typeof v === 'number') {
    budget.left -= 1;
    return Number.isFinite(v) ? null : 'holds a number that is not finite';
  }
  if (typeof v === 'boolean' || v === null) {
    budget.left -= 4;
    return budget.left < 0 ? `is over ${ITEM_VALUE_MAX_BYTES} bytes as JSON` : null;
  }
  if (typeof v !== 'object') return 'holds a value that is not JSON';
  if (depth > ITEM_VALUE_MAX_DEPTH) return `is nested deeper than ${ITEM_VALUE_MAX_DEPTH} levels`;
  budget.left -= 2;
  if (budget.left < 0) return `is over ${ITEM_VALUE_MAX_BYTES} bytes as JSON`;
  if (Array.isArray(v)) {
    // Each element takes at least one byte: a longer list is over the size, and is not walked.
    if (v.length > budget.left) return `is over ${ITEM_VALUE_MAX_BYTES} bytes as JSON`;
    for (let i = 0; i < v.length; i++) {
      const why = walkValue(v[i], depth + 1, budget);
      if (why !== null) return why;
    }
    return null;
  }
  const o = v as Obj;
  for (const k in o) {
    if (!Object.hasOwn(o, k)) continue;
    budget.left -= k.length + 3;
    if (budget.left < 0) return `is over ${ITEM_VALUE_MAX_BYTES} bytes as JSON`;
    if (!wellFormed(k)) return 'holds a key that is not well formed (a lone surrogate)';
    const why = walkValue(o[k], depth + 1, budget);
    if (why !== null) return why;
  }
  return null;
}

/** No lone surrogate. (String.prototype.isWellFormed is in Node 20; the project's lib is ES2022.) */
function wellFormed(s: string): boolean {
  return (s as string & { isWellFormed(): boolean }).isWellFormed();
}

/** A short, safe excerpt of a string from the input, for an error sentence. */
function excerpt(s: string, max = 40, quote = true): string {
  const cut = s.length > max ? `${s.slice(0, max)}...` : s;
  const shown = JSON.stringify(cut);
  return quote ? shown : shown.slice(1, -1);
}

function clip(s: string): string {
  return s.length <= PARSE_ERROR_MAX_CHARS ? s : `${s.slice(0, PARSE_ERROR_MAX_CHARS - 3)}...`;
}
