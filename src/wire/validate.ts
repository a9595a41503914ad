// Turns a parsed JSON object into a typed request, or says exactly what is wrong.
// Unknown fields are refused: a misspelt "usrname" must not silently become an
// update anyone may make.

import { decodeCursor } from '../core/render.ts';
import { NODE_ID_PATTERN, clusterKnowledgeProblem } from './cluster-knowledge.ts';
import { COUNTER_FIELDS, COUNTER_KINDS, ITEM_KINDS, type ClientRequest, type ClusterKnowledge, type CounterField, type CounterKind, type Cursor, type ItemKind, type WriteRequest } from './protocol.ts';
import {
  CONTENT_MAX_CODE_POINTS,
  CORE_LIMITS as LIMITS,
  GET_TWEETS_DEFAULT_LIMIT,
  GET_TWEETS_MAX_LIMIT,
  ID_MAX_CHARS,
  ITEM_VALUE_MAX_BYTES,
  MAX_NESTING_DEPTH,
  USERNAME_MAX_CHARS,
  COUNTER_MAX_STEP,
} from './limits.ts';


/** A transaction id as the coordinator makes them: its epoch, a dot, a counter (each a safe integer). */
export const TXID_PATTERN = /^[0-9]{1,16}\.[0-9]{1,16}$/;

export type Validated = { ok: true; request: ClientRequest } | { ok: false; error: string };

class Invalid extends Error {}

const ACTIONS = [
  'post',
  'update',
  'delete',
  'get_tweets',
  'get_tweet',
  'begin',
  'commit',
  'abort',
  'transaction',
  'put_item',
  'get_item',
  'delete_item',
  'incr_item',
  'subscribe',
  'trace',
  'status',
  'check',
  'resolve',
  'remove_worker',
  'register',
] as const;
const WRITE_ACTIONS = ['post', 'update', 'delete', 'put_item', 'delete_item', 'incr_item'] as const;

export function validateRequest(body: Record<string, unknown>): Validated {
  try {
    return { ok: true, request: parse(body) };
  } catch (e) {
    if (e instanceof Invalid) return { ok: false, error: e.message };
    throw e;
  }
}

function parse(body: Record<string, unknown>): ClientRequest {
  wellFormed(body, '', 1);
  const action = body.action;
  if (typeof action !== 'string') throw new Invalid(`field "action" is missing; it must be one of ${ACTIONS.join(', ')}`);
  switch (action) {
    case 'post':
    case 'update':
    case 'delete':
    case 'put_item':
    case 'delete_item':
    case 'incr_item':
      return parseWrite(action, body, '');
    case 'get_item': {
      onlyFields(body, ['action', 'req', 'item'], '');
      const it = object(body.item, 'item');
      onlyFields(it, ['kind', 'key'], 'item.');
      return { action, item: { kind: itemKind_(it.kind, 'item.kind'), key: id_(it.key, 'item.key') } };
    }
    case 'subscribe': {
      onlyFields(body, ['action', 'req', 'since'], '');
      const since = body.since === undefined || body.since === null ? null : body.since;
      if (since !== null && (typeof since !== 'number' || !Number.isSafeInteger(since) || since < 0)) {
        throw new Invalid('field "since" must be the seq of an earlier event (a whole number), or absent');
      }
      return { action, since };
    }
    case 'get_tweets': {
      onlyFields(body, ['action', 'req', 'limit', 'before', 'username'], '');
      const limit = body.limit === undefined ? GET_TWEETS_DEFAULT_LIMIT : body.limit;
      if (typeof limit !== 'number' || !Number.isInteger(limit) || limit < 1 || limit > GET_TWEETS_MAX_LIMIT) {
        throw new Invalid(`field "limit" must be a whole number from 1 to ${GET_TWEETS_MAX_LIMIT}`);
      }
      let before: Cursor | null = null;
      if (body.before !== undefined && body.before !== null) {
        if (typeof body.before !== 'string' || (before = decodeCursor(body.before)) === null) {
          throw new Invalid('field "before" must be the "next" cursor of an earlier get_tweets reply');
        }
      }
      const username = body.username === undefined || body.username === null ? null : username_(body.username, 'username');
      return { action, limit, before, username };
    }
    case 'get_tweet': {
      onlyFields(body, ['action', 'req', 'tweet'], '');
      const t = object(body.tweet, 'tweet');
      onlyFields(t, ['id'], 'tweet.');
      return { action, id: id_(t.id, 'tweet.id') };
    }
    case 'begin':
    case 'commit':
    case 'abort':
    case 'trace':
    case 'status':
    case 'check':
      onlyFields(body, ['action', 'req'], '');
      return { action };
    case 'transaction': {
      onlyFields(body, ['action', 'req', 'ops'], '');
      if (!Array.isArray(body.ops) || body.ops.length === 0 || body.ops.length > LIMITS.opsPerTransaction) {
        throw new Invalid(`field "ops" must be a list of 1 to ${LIMITS.opsPerTransaction} writes, each {"action":"post"|"update"|"delete","tweet":{...}}`);
      }
      const ops = body.ops.map((raw, i): WriteRequest => {
        const o = object(raw, `ops[${i}]`);
        const a = o.action;
        if (typeof a !== 'string' || !(WRITE_ACTIONS as readonly string[]).includes(a)) {
          throw new Invalid(`field "ops[${i}].action" must be one of ${WRITE_ACTIONS.join(', ')}`);
        }
        return parseWrite(a as (typeof WRITE_ACTIONS)[number], o, `ops[${i}].`);
      });
      return { action, ops };
    }
    case 'resolve': {
      onlyFields(body, ['action', 'req', 'txid', 'outcome', 'confirm'], '');
      if (typeof body.txid !== 'string' || !TXID_PATTERN.test(body.txid)) throw new Invalid('field "txid" must be a transaction id as status and check show it: EPOCH.N, e.g. "3.41"');
      if (body.outcome !== 'commit' && body.outcome !== 'abort') throw new Invalid('field "outcome" must be "commit" or "abort"');
      if (body.confirm !== undefined && typeof body.confirm !== 'boolean') throw new Invalid('field "confirm" must be true or false');
      return { action, txid: body.txid, outcome: body.outcome, confirm: body.confirm === true };
    }
    case 'remove_worker': {
      onlyFields(body, ['action', 'req', 'worker'], '');
      if (typeof body.worker !== 'string' || !(NODE_ID_PATTERN.test(body.worker) || parseAddress(body.worker) !== null)) {
        throw new Invalid('field "worker" must be a worker\'s id or its HOST:PORT, as `tweetdb status` lists them');
      }
      return { action, worker: body.worker };
    }
    case 'register': {
      onlyFields(body, ['action', 'req', 'worker', 'known'], '');
      const w = object(body.worker, 'worker');
      onlyFields(w, ['id', 'address'], 'worker.');
      if (typeof w.id !== 'string' || !NODE_ID_PATTERN.test(w.id)) throw new Invalid('field "worker.id" must be 1 to 64 letters, digits, _ . -');
      if (typeof w.address !== 'string' || parseAddress(w.address) === null) throw new Invalid('field "worker.address" must be HOST:PORT');
      // What it holds of a cluster: a worker older than cluster ids sends none, and cannot take this coordinator's hello either.
      if (body.known === undefined) throw new Invalid('field "known" is missing: a worker of this version of tweetdb says what it holds of a cluster; upgrade the worker');
      const why = clusterKnowledgeProblem(body.known, 'known');
      if (why !== null) throw new Invalid(why);
      return { action, worker: { id: w.id, address: w.address }, known: body.known as ClusterKnowledge };
    }
    default:
      throw new Invalid(`unknown action ${JSON.stringify(action).slice(0, 80)}; it must be one of ${ACTIONS.join(', ')}`);
  }
}

/** A write request or transaction op (`prefix` '' or 'ops[N].'): its fields besides `action`. */
function parseWrite(action: (typeof WRITE_ACTIONS)[number], o: Record<string, unknown>, prefix: string): WriteRequest {
  const top = prefix === '' ? ['action', 'req'] : ['action'];
  if (action === 'incr_item') {
    onlyFields(o, [...top, 'item', 'field', 'by'], prefix);
    const path = `${prefix}item`;
    const it = object(o.item, path);
    onlyFields(it, ['kind', 'key'], `${path}.`);
    const kind = it.kind;
    if (typeof kind !== 'string' || !(COUNTER_KINDS as readonly string[]).includes(kind)) throw new Invalid(`field "${path}.kind" must be one of ${COUNTER_KINDS.join(', ')}: only counters are incremented`);
    const field = o.field;
    if (typeof field !== 'string' || !(COUNTER_FIELDS as readonly string[]).includes(field)) throw new Invalid(`field "${prefix}field" must be one of ${COUNTER_FIELDS.join(', ')}`);
    const by = o.by;
    if (typeof by !== 'number' || !Number.isSafeInteger(by) || Math.abs(by) > COUNTER_MAX_STEP) {
      throw new Invalid(`field "${prefix}by" must be a whole number from -${COUNTER_MAX_STEP} to ${COUNTER_MAX_STEP}`);
    }
    return { action, item: { kind: kind as CounterKind, key: id_(it.key, `${path}.key`) }, field: field as CounterField, by };
  }
  if (action === 'put_item' || action === 'delete_item') {
    onlyFields(o, [...top, 'item', ...(action === 'put_item' ? ['if_absent'] : [])], prefix);
    const path = `${prefix}item`;
    const it = object(o.item, path);
    onlyFields(it, action === 'put_item' ? ['kind', 'key', 'value'] : ['kind', 'key'], `${path}.`);
    const kind = itemKind_(it.kind, `${path}.kind`);
    const key = id_(it.key, `${path}.key`);
    if (action === 'delete_item') return { action, item: { kind, key } };
    if ((COUNTER_KINDS as readonly string[]).includes(kind)) throw new Invalid(`field "${path}.kind" is a counter (${kind}): only incr_item and delete_item write it`);
    const value = object(it.value, `${path}.value`);
    const size = Buffer.byteLength(JSON.stringify(value));
    if (size > ITEM_VALUE_MAX_BYTES) throw new Invalid(`field "${path}.value" is ${size} bytes as JSON; at most ${ITEM_VALUE_MAX_BYTES}`);
    if (o.if_absent !== undefined && typeof o.if_absent !== 'boolean') throw new Invalid(`field "${prefix}if_absent" must be true or false`);
    return { action, item: { kind, key, value }, if_absent: o.if_absent === true };
  }
  onlyFields(o, [...top, 'tweet'], prefix);
  const path = `${prefix}tweet`;
  const t = object(o.tweet, path);
  switch (action) {
    case 'post':
      onlyFields(t, ['id', 'username', 'content'], `${path}.`);
      return {
        action,
        tweet: {
          id: t.id === undefined || t.id === null ? null : id_(t.id, `${path}.id`),
          username: username_(t.username, `${path}.username`),
          content: content_(t.content, `${path}.content`),
        },
      };
    case 'update':
      onlyFields(t, ['id', 'username', 'content'], `${path}.`);
      return {
        action,
        tweet: {
          id: id_(t.id, `${path}.id`),
          content: content_(t.content, `${path}.content`),
          username: t.username === undefined || t.username === null ? null : username_(t.username, `${path}.username`),
        },
      };
    case 'delete':
      onlyFields(t, ['id', 'username'], `${path}.`);
      return {
        action,
        tweet: {
          id: id_(t.id, `${path}.id`),
          username: t.username === undefined || t.username === null ? null : username_(t.username, `${path}.username`),
        },
      };
  }
}

/**
 * Every string in a request, field names included, must be well-formed Unicode: a lone
 * surrogate (`"\\ud800"`) has no UTF-8 form, so SQLite would store it as U+FFFD and two
 * different ids would become one on a copy (PostgreSQL refuses them at input too). And
 * objects and arrays nest at most MAX_NESTING_DEPTH levels (the framing already refuses
 * deeper requests; this holds for a request that comes another way).
 */
function wellFormed(v: unknown, path: string, depth: number): void {
  if (typeof v === 'string') {
    if (!isWellFormed(v)) throw new Invalid(`field "${shown(path)}" ${loneSurrogate(v)}`);
    return;
  }
  if (typeof v !== 'object' || v === null) return;
  if (depth > MAX_NESTING_DEPTH) throw new Invalid(`field "${shown(path)}" nests objects and arrays more than ${MAX_NESTING_DEPTH} levels deep`);
  if (Array.isArray(v)) {
    v.forEach((x, i) => wellFormed(x, `${path}[${i}]`, depth + 1));
    return;
  }
  for (const [k, x] of Object.entries(v)) {
    if (!isWellFormed(k)) throw new Invalid(`a field name in "${shown(path)}" ${loneSurrogate(k)}`);
    wellFormed(x, path === '' ? k : `${path}.${k}`, depth + 1);
  }
}

// String.prototype.isWellFormed is in Node 20 (V8 11.3); TypeScript declares it in lib es2024, past this project's target.
const isWellFormed = (s: string): boolean => (s as string & { isWellFormed(): boolean }).isWellFormed();

/** A field's path for a message: field names are the client's, so long ones are cut. */
function shown(path: string): string {
  if (path === '') return '(request)';
  return path.length > 100 ? `${path.slice(0, 100)}...` : path;
}

function loneSurrogate(s: string): string {
  const m = /\p{Surrogate}/u.exec(s);
  const unit = m === null ? '' : ` (\\u${(m[0].charCodeAt(0)).toString(16)} at character ${m.index})`;
  return `holds a lone surrogate${unit}: text must be well-formed Unicode (a \\ud800-\\udbff escape must be followed by a \\udc00-\\udfff one)`;
}

function object(v: unknown, path: string): Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new Invalid(`field "${path}" must be an object`);
  return v as Record<string, unknown>;
}

function onlyFields(o: Record<string, unknown>, allowed: readonly string[], prefix: string): void {
  for (const k of Object.keys(o)) {
    if (!allowed.includes(k)) throw new Invalid(`unknown field "${prefix}${k}"; allowed: ${allowed.map((a) => prefix + a).join(', ')}`);
  }
}

// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f]/;

function id_(v: unknown, path: string): string {
  if (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0) return String(v);
  if (typeof v !== 'string' || v.length === 0 || v.length > ID_MAX_CHARS || CONTROL.test(v)) {
    throw new Invalid(`field "${path}" must be a string of 1 to ${ID_MAX_CHARS} characters (no control characters)`);
  }
  return v;
}

function itemKind_(v: unknown, path: string): ItemKind {
  if (typeof v !== 'string' || !(ITEM_KINDS as readonly string[]).includes(v)) throw new Invalid(`field "${path}" must be one of ${ITEM_KINDS.join(', ')}`);
  return v as ItemKind;
}

function username_(v: unknown, path: string): string {
  if (typeof v !== 'string' || v.length === 0 || v.length > USERNAME_MAX_CHARS || CONTROL.test(v) || v.trim() !== v) {
    throw new Invalid(`field "${path}" must be a string of 1 to ${USERNAME_MAX_CHARS} characters, without control characters or surrounding spaces`);
  }
  return v;
}

function content_(v: unknown, path: string): string {
  if (typeof v !== 'string') throw new Invalid(`field "${path}" must be a string of 1 to ${CONTENT_MAX_CODE_POINTS} characters`);
  const n = [...v].length;
  if (v.trim().length === 0 || n > CONTENT_MAX_CODE_POINTS) {
    throw new Invalid(`field "${path}" must be 1 to ${CONTENT_MAX_CODE_POINTS} characters and not blank (it has ${n})`);
  }
  return v;
}

export function parseAddress(s: string): { host: string; port: number } | null {
  const i = s.lastIndexOf(':');
  if (i <= 0) return null;
  const host = s.slice(0, i).replace(/^\[(.*)\]$/, '$1');
  const digits = s.slice(i + 1);
  if (!/^[0-9]{1,5}$/.test(digits)) return null;
  const port = Number(digits);
  if (!Number.isInteger(port) || port < 1 || port > 65535 || host.length === 0) return null;
  return { host, port };
}
