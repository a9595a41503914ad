// The fuzz target for the links between nodes (issue #10, item 8): every node message type, sent over links that
// hold the cluster key, mutated field by field until the schema refuses it; schema-valid reads and peer queries that
// must be answered; and hostile bytes before authentication, on worker ports and on the coordinator's node handshake.
// A second phase plays a registered WORKER that the coordinator dials, and answers it with refused messages.
//
// Checked per case: the other side closes a link that sent a refused message (within CLOSE_DEADLINE_MS), answers a
// valid read or peer query with a well-formed answer (or closes the link, when the real coordinator took it back),
// answers nothing before authentication. Between batches: no process exited (the harness), the refusals are logged,
// both real workers are up again with identical copies and nothing in doubt, and a normal post still commits.
//
// What a node may send a node is written here from src/wire/node-messages.ts's parsers, which are also the guard: a
// mutated message is sent only if parseToWorker (or parsePeerQuery, parseFromWorker) refuses its exact line, since a
// schema-valid but impossible message (a commit for a txid never prepared) may stop a node by design.

import { connect, createServer, type Server, type Socket } from 'node:net';
import { readFileSync } from 'node:fs';
import type { LocalCluster } from '../launch/cluster.ts';
import { eventually } from '../launch/eventually.ts';
import { TweetdbClient } from '../client/client.ts';
import { authenticateIncoming, authenticateOutgoing, linkProof, newNonce, AUTH_PROTOCOL_VERSION, type LinkRole } from '../node/link-auth.ts';
import type { JsonLink } from '../node/json-link.ts';
import {
  parseFromWorker,
  parsePeerAnswer,
  parsePeerQuery,
  parseToWorker,
  readResultMatches,
} from '../wire/node-messages.ts';
import { ITEM_KINDS, type ReadQuery } from '../core/types.ts';
import type { Rng } from './prng.ts';
import { FuzzFinding, type FuzzCase, type FuzzTarget } from './harness.ts';
import { HOSTILE_KEYS, HOSTILE_STRINGS, LONE_SURROGATES, EDGE_NUMBER_TEXTS, RawNumber, hostileString, nested, randomValue, writeJson, PLAIN_STYLE, type FuzzValue } from './values.ts';
import { CONTENT_MAX_CODE_POINTS, ID_MAX_CHARS, ITEM_VALUE_MAX_DEPTH, NODE_MAX_COPY_ROWS, NODE_MAX_ERROR_CHARS, NODE_MAX_LOCK_TIMEOUT_MS, NODE_MAX_OPS, NODE_MAX_READ_TWEETS, NODE_MAX_VOTERS, UNAUTHENTICATED_MAX_MESSAGE_BYTES, USERNAME_MAX_CHARS } from '../wire/limits.ts';
import { productionTimers } from '../node/env.ts';

/** A hostile link must be closed by the other side within this (a loaded 2-core machine; the handshake's own timeout is 5 s). */
export const CLOSE_DEADLINE_MS = 10_000;
/** A valid read or peer query must be answered within this. */
export const ANSWER_DEADLINE_MS = 10_000;
/** Concurrent lanes of the link phase. */
export const NODE_LANES = 4;
/** Lanes of the fake-worker phase: each registers a worker id of its own (they count against the cluster's 32). */
export const FAKE_WORKER_LANES = 2;
/**
 * The epoch of every transaction id in a valid peer_query: a worker asked about a txid it never saw writes an abort
 * tombstone for it, so only ids the coordinator can never make are asked (its epoch grows by one a restart).
 */
export const IMPOSSIBLE_EPOCH = 999_999_999;

/** The worker's log line for a message its schema refused (src/node/worker-node.ts). */
const WORKER_REFUSAL_LOG = 'bad message; closing the link';
/** The worker's log line for a connection that failed the handshake. */
const WORKER_PREAUTH_LOG = 'refused before it was authenticated';
/** The coordinator's log line for a worker message its schema refused. */
const COORDINATOR_REFUSAL_LOG = 'bad message from worker';
/** The coordinator's log line for a refused node handshake on its client port. */
const COORDINATOR_HANDSHAKE_LOG = 'node authentication refused';

export type NodeFamily =
  | 'to-worker-invalid'
  | 'to-worker-garbage'
  | 'read-valid'
  | 'peer-invalid'
  | 'peer-valid'
  | 'preauth-worker'
  | 'preauth-coordinator'
  | 'fake-worker';

export interface NodeCase extends FuzzCase {
  family: NodeFamily;
  /** Which real worker (index into cluster.workers) the case talks to. */
  worker: number;
  /** The lines (or raw chunks, before authentication) the case sends, in order. */
  chunks: string[];
  /** read-valid: the read ids and the kind each asked ('copy': a copy_read); peer-valid: the txids asked and the `to` of each. */
  reads: { rid: number; kind: ReadQuery['kind'] | 'copy'; text: boolean }[];
  peers: { txid: string; to: string }[];
  /** preauth-worker: run the handshake for real up to this point, then send `chunks` (the proof step is interactive). */
  preauth: 'raw' | 'worker-role' | 'wrong-key-proof';
  /** fake-worker: answer hello with a valid state first (so the invalid message arrives on a link that is up). */
  stateFirst: boolean;
}

type Json = FuzzValue;
type Obj = { [k: string]: Json };

// ---------------------------------------------------------------------------
// Valid values, as the cores build them

const USERNAMES = ['ada', 'bob', 'émile', '李白', 'z😀'];
const ID_CHARS = ['a', 'z', '0', '9', '-', '_', 'é', '😀', ' ', '.'];

function validId(rng: Rng): string {
  let s = '';
  const n = rng.int(1, rng.bool(0.1) ? ID_MAX_CHARS / 2 : 12);
  for (let i = 0; i < n; i++) s += rng.pick(ID_CHARS);
  return s;
}

function txid(rng: Rng): string {
  return `${rng.int(1, 99)}.${rng.int(1, 1_000_000)}`;
}

function validTweet(rng: Rng): Obj {
  return {
    id: validId(rng),
    username: rng.pick(USERNAMES),
    content: rng.pick(['hello', 'x', '😀😀', '中文内容', 'a b c']),
    created_at: rng.int(0, 2_000_000_000_000),
    updated_at: rng.bool() ? null : rng.int(0, 2_000_000_000_000),
  };
}

function validItem(rng: Rng): Obj {
  return { kind: rng.pick(ITEM_KINDS), key: validId(rng), value: { user: rng.pick(USERNAMES), n: rng.int(0, 9), list: [1, 'two', null] } };
}

function validOp(rng: Rng): Obj {
  switch (rng.int(0, 4)) {
    case 0:
      return { kind: 'post', tweet: validTweet(rng) };
    case 1:
      return { kind: 'update', id: validId(rng), content: 'edited', username: rng.bool() ? null : rng.pick(USERNAMES), at: rng.int(0, 2_000_000_000_000) };
    case 2:
      return { kind: 'delete', id: validId(rng), username: rng.bool() ? null : rng.pick(USERNAMES) };
    case 3:
      return { kind: 'put_item', item: validItem(rng), mode: rng.pick(['create', 'replace']) };
    default:
      return { kind: 'delete_item', item_kind: rng.pick(ITEM_KINDS), key: validId(rng) };
  }
}

function copyRow(rng: Rng): Obj {
  if (rng.bool()) {
    const t = validTweet(rng);
    return { c: `t\u0000${t.id as string}`, s: rng.int(0, 1_000_000), tweet: t };
  }
  const it = validItem(rng);
  return { c: `i\u0000${it.kind as string}\u0000${it.key as string}`, s: rng.int(0, 1_000_000), item: it };
}

function validQuery(rng: Rng): Obj {
  switch (rng.int(0, 3)) {
    case 0:
      return {
        kind: 'get_tweets',
        limit: rng.bool(0.2) ? NODE_MAX_READ_TWEETS : rng.int(1, 1001),
        before: rng.bool(0.6) ? null : { created_at: rng.int(0, Number.MAX_SAFE_INTEGER), id: rng.bool(0.7) ? validId(rng) : hostileString(rng, { loneSurrogates: false, maxLen: 200 }) || 'x' },
        username: rng.bool(0.6) ? null : rng.pick(USERNAMES),
      };
    case 1:
      return { kind: 'get_tweet', id: validId(rng) };
    case 2:
      return { kind: 'get_item', item_kind: rng.pick(ITEM_KINDS), key: validId(rng) };
    default:
      return { kind: 'check' };
  }
}

/** A valid copy_read: a page of a full copy, from the start or after a cursor. */
function validCopyRead(rng: Rng, rid: number): Obj {
  return { type: 'copy_read', rid, after: rng.bool(0.5) ? null : (copyRow(rng).c as string), limit: rng.bool(0.2) ? NODE_MAX_COPY_ROWS : rng.int(1, 2000) };
}

/** A valid message of each ToWorker type (the base the mutations start from). */
function validToWorker(rng: Rng, type: string): Obj {
  switch (type) {
    case 'hello':
      return { type, lock_timeout_ms: rng.int(0, NODE_MAX_LOCK_TIMEOUT_MS), cluster: 'c-fuzz', epoch: rng.int(1, 1_000), run: 'fuzz', config: rng.int(0, 9), voter: rng.bool(), voters: ['w0', 'w1'], catching_up: rng.bool() ? [] : ['w1'], reserved: rng.int(0, 1_000_000) };
    case 'lock':
      return { type, txid: txid(rng), seq: rng.int(1, 100), op: validOp(rng) };
    case 'prepare': {
      const m: Obj = { type, txid: txid(rng), ops: rng.bool(0.2) ? null : Array.from({ length: rng.int(1, 4) }, () => validOp(rng)) };
      if (rng.bool()) {
        const n = rng.int(1, 3);
        m.voters = Array.from({ length: n }, (_, i) => `w${i}`);
        if (rng.bool()) m.addresses = Array.from({ length: rng.int(1, n) }, (_, i) => ({ id: `w${i}`, address: `127.0.0.1:${rng.int(1, 65535)}` }));
      }
      return m;
    }
    case 'commit':
      return { type, txid: txid(rng), cseq: rng.int(1, 1_000_000) };
    case 'abort':
      return { type, txid: txid(rng) };
    case 'read': {
      const m: Obj = { type, rid: rng.int(1, 1_000_000), query: validQuery(rng) };
      if (rng.bool(0.3)) m.reply_text = rng.bool();
      return m;
    }
    case 'copy_read':
      return validCopyRead(rng, rng.int(1, 1_000_000));
    default:
      return { type: 'install', rid: rng.int(1, 1_000_000), rows: Array.from({ length: rng.int(0, 3) }, () => copyRow(rng)), reset: rng.bool(), done: rng.bool(), max_cseq: rng.int(0, 1_000_000), stream_seq: rng.int(0, 1_000_000) };
  }
}

/** A valid message of each FromWorker type a fake worker might send. */
function validFromWorker(rng: Rng, type: string, nodeId: string): Obj {
  const t = txid(rng);
  switch (type) {
    case 'state':
      return { type, node_id: nodeId, prepared: [], max_cseq: 0, known_config: { n: 0, voters: [], catching_up: [] }, proposed_config: null, reserved: 0 };
    case 'locked':
      return { type, txid: t, seq: rng.int(1, 9), result: rng.bool() ? {} : { tweet: validTweet(rng) } };
    case 'lock_refused':
      return { type, txid: t, seq: rng.int(1, 9), code: 'LOCKED', error: 'locked' };
    case 'vote':
      return rng.bool(0.25) ? { type, txid: t, yes: true, results: [rng.bool() ? {} : { as_posted: true }] } : rng.bool(0.33) ? { type, txid: t, yes: true, digest: '0123456789abcdef' } : { type, txid: t, yes: false, code: 'EXISTS', error: 'exists' };
    case 'applied':
    case 'query':
      return { type, txid: t };
    case 'ack':
      return { type, txid: t, outcome: rng.pick(['commit', 'abort']) };
    case 'read_result':
      return { type, rid: rng.int(1, 1_000_000), result: rng.pick<Json>([{ tweets: [validTweet(rng)] }, { tweet: null }, { item: validItem(rng) }]) };
    case 'read_text':
      return { type, rid: rng.int(1, 1_000_000), text: '{"status":"OK","tweets":[]}' };
    case 'read_failed':
      return { type, rid: rng.int(1, 1_000_000), error: 'failed' };
    case 'copy_page':
      return { type, rid: rng.int(1, 1_000_000), rows: [copyRow(rng)] };
    default:
      return { type: 'installed', rid: rng.int(1, 1_000_000), done: rng.bool() };
  }
}

const TO_WORKER_TYPES = ['hello', 'lock', 'prepare', 'commit', 'abort', 'read', 'copy_read', 'install'] as const;
const FROM_WORKER_TYPES = ['state', 'locked', 'lock_refused', 'vote', 'applied', 'ack', 'query', 'read_result', 'read_text', 'read_failed', 'copy_page', 'installed'] as const;

// ---------------------------------------------------------------------------
// Mutations: each makes one place of a valid message wrong

/** Every place in a message: the parent object or array, and the key or index in it. */
function places(v: Json): { parent: Obj | Json[]; key: string | number }[] {
  const out: { parent: Obj | Json[]; key: string | number }[] = [];
  const stack: Json[] = [v];
  while (stack.length > 0) {
    const x = stack.pop() as Json;
    if (Array.isArray(x)) x.forEach((e, i) => (out.push({ parent: x, key: i }), stack.push(e)));
    else if (x !== null && typeof x === 'object' && !(x instanceof RawNumber)) {
      for (const k of Object.keys(x)) {
        out.push({ parent: x, key: k });
        stack.push(x[k] as Json);
      }
    }
  }
  return out;
}

function clone(v: Json): Json {
  if (Array.isArray(v)) return v.map(clone);
  if (v !== null && typeof v === 'object' && !(v instanceof RawNumber)) {
    const o: Obj = {};
    for (const k of Object.keys(v)) Object.defineProperty(o, k, { value: clone(v[k] as Json), enumerable: true, writable: true, configurable: true });
    return o;
  }
  return v;
}

/** A value of a wrong type or out of range, for any field. */
function wrongValue(rng: Rng, old: Json): Json {
  return rng.weighted<() => Json>([
    [3, () => randomValue(rng, 2, true)],
    [2, () => new RawNumber(rng.pick(EDGE_NUMBER_TEXTS))],
    [2, () => rng.pick(LONE_SURROGATES)],
    [1, () => (typeof old === 'string' ? old + rng.pick(LONE_SURROGATES) : rng.pick(LONE_SURROGATES))],
    [2, () => rng.pick(HOSTILE_STRINGS)],
    [1, () => 'x'.repeat(rng.pick([ID_MAX_CHARS + 1, USERNAME_MAX_CHARS + 1, 2 * CONTENT_MAX_CODE_POINTS + 1, NODE_MAX_ERROR_CHARS + 1, 70_000]))],
    [1, () => nested(rng, rng.pick([ITEM_VALUE_MAX_DEPTH + 1, 100, 5_000, 50_000]), rng.bool() ? 1 : 'x')],
    [1, () => [old, old]],
    [1, () => ({ v: old })],
    [1, () => -1],
    [1, () => null],
    [1, () => true],
  ])();
}

/** Lists longer than their limit, each valid inside, for the fields that have one. */
function overLimitList(rng: Rng, key: string): Json[] | null {
  switch (key) {
    case 'ops':
      return Array.from({ length: NODE_MAX_OPS + 1 }, () => validOp(rng));
    case 'voters':
      return Array.from({ length: NODE_MAX_VOTERS + 1 }, (_, i) => `w${i}`);
    case 'addresses':
      return Array.from({ length: NODE_MAX_VOTERS + 1 }, (_, i) => ({ id: `w${i}`, address: `127.0.0.1:${1000 + i}` }));
    case 'rows':
      return rng.bool(0.2) ? Array.from({ length: NODE_MAX_COPY_ROWS + 1 }, () => copyRow(rng)) : null;
    case 'results':
      return Array.from({ length: NODE_MAX_OPS + 1 }, () => ({}));
    default:
      return null;
  }
}

function mutateOnce(rng: Rng, msg: Obj, notes: string[]): void {
  const all = places(msg);
  if (all.length === 0) {
    // Every field dropped already.
    msg.fuzz = randomValue(rng, 1, true);
    notes.push('extra field "fuzz"');
    return;
  }
  const { parent, key } = rng.pick(all);
  const old = (parent as Record<string | number, Json>)[key] as Json;
  const op = rng.int(0, 9);
  if (op <= 4) {
    const list = typeof key === 'string' ? overLimitList(rng, key) : null;
    const v = list !== null && rng.bool(0.3) ? list : wrongValue(rng, old);
    notes.push(`${String(key)} := ${list !== null && list === v ? `a list of ${list.length}` : describe(v)}`);
    (parent as Record<string | number, Json>)[key] = v;
  } else if (op <= 6 && !Array.isArray(parent)) {
    delete (parent as Obj)[key as string];
    notes.push(`drop ${String(key)}`);
  } else if (op <= 8) {
    const target = Array.isArray(parent) ? msg : (parent as Obj);
    const k = rng.bool(0.7) ? rng.pick(HOSTILE_KEYS) : hostileString(rng, { loneSurrogates: true, maxLen: 12 });
    Object.defineProperty(target, k, { value: randomValue(rng, 1, true), enumerable: true, writable: true, configurable: true });
    notes.push(`extra field ${JSON.stringify(k.slice(0, 20))}`);
  } else {
    msg.type = rng.pick<Json>(['', 'Hello', 'peer_query', 'state', 'auth_hello', '__proto__', 'read\u0000', rng.pick(LONE_SURROGATES), 1, null, ['read']]);
    notes.push(`type := ${describe(msg.type)}`);
  }
}

/** The plain style never draws from its Rng; writeJson takes one all the same. */
const DESCRIBE_RNG = { bool: () => false, pick: <T>(xs: readonly T[]): T => xs[0] as T } as unknown as Rng;

function describe(v: Json): string {
  // writeJson is iterative: the value may be nested fifty thousand deep.
  const s = writeJson(v, PLAIN_STYLE, DESCRIBE_RNG);
  return s.length > 60 ? `${s.slice(0, 60)}... (${s.length})` : s;
}

/** A line of `msg` mutated until `refused` says the schema refuses it (or, failing that, with an unknown field). */
function refusedLine(rng: Rng, base: Obj, refused: (line: string) => boolean, notes: string[]): string {
  for (let attempt = 0; attempt < 8; attempt++) {
    const msg = clone(base) as Obj;
    const tried: string[] = [];
    const n = rng.weighted([[6, 1], [2, 2], [1, 3]]);
    for (let i = 0; i < n; i++) mutateOnce(rng, msg, tried);
    const line = writeJson(msg, PLAIN_STYLE, rng);
    if (refused(line)) {
      notes.push(...tried);
      return line;
    }
  }
  notes.push('an unknown field "fuzz"');
  return JSON.stringify({ ...base, fuzz: 1 });
}

function refusedBy(parse: (raw: unknown) => { ok: boolean }): (line: string) => boolean {
  return (line) => {
    let raw: unknown;
    try {
      raw = JSON.parse(line);
    } catch {
      return true;
    }
    return !parse(raw).ok;
  };
}

/** Lines a link's framing refuses (after authentication): not JSON, not an object, a text frame where none is taken. */
function garbageLine(rng: Rng, notes: string[], textFramesTaken = false): string {
  // The coordinator takes text frames (a read answered as text) and drops one nobody asked for: not a refusal.
  let kind = rng.int(0, 7);
  if (textFramesTaken && kind === 3) kind = 4;
  const line = [
    () => '{"type":"read",',
    () => '{' + rng.bytes(rng.int(1, 200)).toString('latin1').replace(/\n/g, ' '),
    () => rng.pick(['[1,2]', '"read"', '42', 'null', 'true', '[]']),
    () => `#${rng.int(0, 1_000_000)} ${rng.pick(['{"status":"OK"}', 'x', ''])}`,
    () => rng.pick(['#x y', '#', '# ', '#1', '#99999999999999999999 x']),
    () => rng.bytes(rng.int(1, 300)).toString('latin1').replace(/\n/g, ' ').replace(/^[ \r\t]*$/, 'x'),
    () => '{"type":"read"}}',
    () => writeJson(nested(rng, rng.pick([1_000, 100_000]), 1), PLAIN_STYLE, rng),
  ][kind]!();
  notes.push(`garbage line (${['unfinished', 'brace then bytes', 'not an object', 'text frame', 'bad text frame', 'random bytes', 'trailing brace', 'deep nesting'][kind]})`);
  // A line of only white space is skipped by the framing: the case would wait for nothing.
  return line.trim() === '' ? 'x' : line;
}

// ---------------------------------------------------------------------------
// Links

interface OpenLink {
  link: JsonLink;
  socket: Socket;
  messages: Record<string, unknown>[];
  texts: { tag: number; text: string }[];
  /** Resolves with the reason once the link is closed (by either side). */
  closed: Promise<string>;
  closedByUs: boolean;
  onActivity: () => void;
}

function hostPort(address: string): { host: string; port: number } {
  const i = address.lastIndexOf(':');
  return { host: address.slice(0, i), port: Number(address.slice(i + 1)) };
}

function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise<T>((_, reject) => {
      timer = setTimeout(() => reject(new FuzzFinding(`${what} (waited ${ms} ms)`)), ms);
    }),
  ]);
}

/** Dials `address` and authenticates as `role` with the cluster's key; resolves once the link carries the protocol. */
function openLink(address: string, key: Buffer, role: LinkRole): Promise<OpenLink> {
  return new Promise((resolve, reject) => {
    const { host, port } = hostPort(address);
    const socket = connect({ host, port });
    let resolveClosed: (why: string) => void = () => undefined;
    const closed = new Promise<string>((r) => (resolveClosed = r));
    const o: Partial<OpenLink> & { messages: Record<string, unknown>[]; texts: { tag: number; text: string }[] } = { messages: [], texts: [], closed, closedByUs: false, onActivity: () => undefined };
    let up = false;
    socket.once('error', (e) => {
      if (!up) reject(new FuzzFinding(`could not open a ${role} link to ${address}: ${e.message}`));
    });
    socket.once('connect', () => {
      authenticateOutgoing(
        productionTimers, socket,
        key,
        role,
        {
          onMessage: (m) => {
            o.messages.push(m);
            o.onActivity?.();
          },
          onText: (tag, text) => {
            o.texts.push({ tag, text });
            o.onActivity?.();
          },
          onClose: (why) => {
            resolveClosed(why);
            o.onActivity?.();
            if (!up) reject(new FuzzFinding(`the ${role} link to ${address} closed during authentication: ${why}`));
          },
        },
        (link) => {
          up = true;
          // Our proof is queued: it must leave before any raw line.
          link.flush();
          o.link = link;
          o.socket = socket;
          resolve(o as OpenLink);
        },
      );
    });
  });
}

function closeOurs(l: OpenLink): void {
  l.closedByUs = true;
  l.link.close('the case is over');
}

/** Sends raw chunks to `address` before any handshake; returns what came back, and whether the other side closed. */
function rawExchange(address: string, write: (s: Socket, lines: string[]) => void, enough?: (lines: string[]) => boolean): Promise<{ lines: string[]; closed: boolean }> {
  return new Promise((resolve) => {
    const { host, port } = hostPort(address);
    const s = connect({ host, port });
    const lines: string[] = [];
    let buf = '';
    s.setEncoding('utf8');
    s.on('data', (d: string) => {
      buf += d;
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        lines.push(buf.slice(0, nl));
        buf = buf.slice(nl + 1);
      }
      if (enough?.(lines) === true) {
        clearTimeout(timer);
        s.destroy();
        resolve({ lines, closed: false });
      }
    });
    s.on('error', () => undefined);
    const timer = setTimeout(() => {
      s.destroy();
      resolve({ lines, closed: false });
    }, CLOSE_DEADLINE_MS);
    s.on('close', () => {
      clearTimeout(timer);
      resolve({ lines, closed: true });
    });
    s.once('connect', () => write(s, lines));
  });
}

// ---------------------------------------------------------------------------
// The target

export interface NodeStats {
  /** Valid reads answered, and cut off unanswered (the real coordinator took its link back: the worker closed ours). */
  readsAnswered: number;
  readsCut: number;
  peerAnswers: number;
  /** Cases whose bytes the other side closed on, by family. */
  closed: Record<string, number>;
}

export class NodeMessagesTarget implements FuzzTarget<NodeCase> {
  readonly name = 'node-messages';
  readonly lanes: number;
  readonly stats: NodeStats = { readsAnswered: 0, readsCut: 0, peerAnswers: 0, closed: {} };
  private readonly key: Buffer;
  private readonly workerIds: string[];
  /** Refusals the batch check expects in each log since the last check. */
  private expect = { workerRefusals: [0, 0], workerPreauth: [0, 0], coordinatorRefusals: 0, coordinatorHandshake: 0 };
  private seen = { workerRefusals: [0, 0], workerPreauth: [0, 0], coordinatorRefusals: 0, coordinatorHandshake: 0, relinks: [0, 0] };
  /** fake-worker phase: a registered fake worker a lane answers the coordinator's dial with (two servers, taken in turn). */
  private fakes: { id: string; servers: Server[]; addresses: string[]; next: number; client: TweetdbClient | null; onLink: ((link: JsonLink, hello: Record<string, unknown>) => void) | null }[] = [];

  constructor(
    private readonly cluster: LocalCluster,
    workerIds: string[],
    readonly phase: 'links' | 'fake-worker',
    private readonly hint: string,
  ) {
    if (cluster.keyFile === null) throw new Error('the node-messages fuzzer needs a cluster with a key');
    this.key = Buffer.from(readFileSync(cluster.keyFile, 'utf8').trim(), 'hex');
    this.workerIds = workerIds;
    this.lanes = phase === 'links' ? NODE_LANES : FAKE_WORKER_LANES;
    this.seen = this.countLogs();
  }

  /** Every real worker's id (as status lists them), in the order of cluster.workers. */
  static async workerIds(cluster: LocalCluster): Promise<string[]> {
    const s = await cluster.status();
    const ws = s.workers as { id: string; address: string }[];
    return cluster.workers.map((w) => {
      const m = ws.find((x) => x.address === w.address);
      if (m === undefined) throw new Error(`worker ${w.address} is not in status`);
      return m.id;
    });
  }

  processes(): { name: string; proc: import('node:child_process').ChildProcess }[] {
    return [this.cluster.coordinator, ...this.cluster.workers].map((n) => ({ name: n.name, proc: n.proc }));
  }

  generate(rng: Rng, index: number, lane: number): NodeCase {
    const family: NodeFamily =
      this.phase === 'fake-worker'
        ? 'fake-worker'
        : rng.weighted<NodeFamily>([
            [10, 'to-worker-invalid'],
            [3, 'to-worker-garbage'],
            [4, 'read-valid'],
            [4, 'peer-invalid'],
            [3, 'peer-valid'],
            [4, 'preauth-worker'],
            [3, 'preauth-coordinator'],
          ]);
    const c: NodeCase = { index, seed: 0, lane, family, notes: [], bytes: Buffer.alloc(0), worker: rng.int(0, this.cluster.workers.length - 1), chunks: [], reads: [], peers: [], preauth: 'raw', stateFirst: false };
    switch (family) {
      case 'to-worker-invalid': {
        const type = rng.pick(TO_WORKER_TYPES);
        c.notes.push(`${type}, mutated`);
        c.chunks.push(refusedLine(rng, validToWorker(rng, type), refusedBy(parseToWorker), c.notes));
        break;
      }
      case 'to-worker-garbage':
        c.chunks.push(garbageLine(rng, c.notes));
        break;
      case 'read-valid': {
        const n = rng.int(1, 4);
        for (let i = 0; i < n; i++) {
          const rid = index * 10 + i + 1;
          if (rng.bool(0.2)) {
            const m = validCopyRead(rng, rid);
            c.reads.push({ rid, kind: 'copy', text: false });
            c.chunks.push(JSON.stringify(m));
            c.notes.push(`copy_read of ${m.limit as number} rows`);
            continue;
          }
          let q = validQuery(rng);
          if (!parseToWorker({ type: 'read', rid, query: q }).ok) q = { kind: 'check' };
          const text = rng.bool(0.3);
          c.reads.push({ rid, kind: q.kind as ReadQuery['kind'], text });
          c.chunks.push(JSON.stringify(text ? { type: 'read', rid, query: q, reply_text: true } : { type: 'read', rid, query: q }));
          c.notes.push(`read ${q.kind as string}${text ? ' as text' : ''}`);
        }
        break;
      }
      case 'peer-invalid': {
        const base: Obj = { type: 'peer_query', txid: `${IMPOSSIBLE_EPOCH}.${rng.int(1, 1e9)}`, to: this.workerIds[c.worker] as string };
        c.notes.push('peer_query, mutated');
        c.chunks.push(refusedLine(rng, base, refusedBy(parsePeerQuery), c.notes));
        break;
      }
      case 'peer-valid': {
        const n = rng.int(1, 5);
        for (let i = 0; i < n; i++) {
          const to = rng.bool(0.6) ? (this.workerIds[c.worker] as string) : rng.pick(['ghost', 'w-1', this.workerIds[1 - c.worker] ?? 'x', 'a'.repeat(64)]);
          const q = { type: 'peer_query', txid: `${IMPOSSIBLE_EPOCH}.${rng.int(1, Number.MAX_SAFE_INTEGER)}`, to };
          c.peers.push({ txid: q.txid, to });
          c.chunks.push(JSON.stringify(q));
        }
        c.notes.push(`${n} peer_query for impossible txids`);
        break;
      }
      case 'preauth-worker':
        this.genPreauthWorker(rng, c);
        break;
      case 'preauth-coordinator':
        this.genPreauthCoordinator(rng, c);
        break;
      case 'fake-worker': {
        c.stateFirst = rng.bool(0.5);
        const id = `fuzz-fake-${lane}`;
        if (c.stateFirst) {
          const type = rng.pick(FROM_WORKER_TYPES);
          c.notes.push(`a valid state, then ${type}, mutated`);
          c.chunks.push(JSON.stringify(validFromWorker(rng, 'state', id)));
          c.chunks.push(rng.bool(0.85) ? refusedLine(rng, validFromWorker(rng, type, id), refusedBy(parseFromWorker), c.notes) : garbageLine(rng, c.notes, true));
        } else if (rng.bool(0.7)) {
          c.notes.push('state, mutated');
          c.chunks.push(refusedLine(rng, validFromWorker(rng, 'state', id), refusedBy(parseFromWorker), c.notes));
        } else {
          const type = rng.pick(FROM_WORKER_TYPES);
          c.notes.push(`${type} (mutated) instead of state`);
          c.chunks.push(refusedLine(rng, validFromWorker(rng, type, id), refusedBy(parseFromWorker), c.notes));
        }
        break;
      }
    }
    c.bytes = Buffer.from(c.chunks.map((l) => (family.startsWith('preauth') ? l : `${l}\n`)).join(''));
    return c;
  }

  private genPreauthWorker(rng: Rng, c: NodeCase): void {
    const hello = (over: Record<string, unknown>): string => JSON.stringify({ type: 'auth_hello', v: AUTH_PROTOCOL_VERSION, role: 'coordinator', nonce: newNonceFrom(rng), ...over }) + '\n';
    const kind = rng.int(0, 11);
    switch (kind) {
      case 0:
        c.chunks.push(rng.bytes(rng.int(1, 900)).toString('latin1') + '\n');
        c.notes.push('random bytes');
        break;
      case 1:
        c.chunks.push(hello({ v: rng.pick<unknown>([0, 2, '1', 1.5, null, -1, Number.MAX_VALUE]) }));
        c.notes.push('auth_hello with a wrong version');
        break;
      case 2:
        c.chunks.push(hello({ role: rng.pick<unknown>(['admin', 'Coordinator', '', null, 7, 'client', 'worker\u0000', '\ud800']) }));
        c.notes.push('auth_hello with a wrong role');
        break;
      case 3:
        c.chunks.push(hello({ nonce: rng.pick<unknown>(['', 'ab', 'g'.repeat(64), 'A'.repeat(64), '0'.repeat(63), '0'.repeat(65), 5, null, ['0'.repeat(64)]]) }));
        c.notes.push('auth_hello with a bad nonce');
        break;
      case 4:
        c.chunks.push(hello({}), JSON.stringify({ type: 'auth_proof', proof: rng.pick<unknown>(['0'.repeat(64), 'f'.repeat(64), '', 'zz', null, 1, '0'.repeat(128)]) }) + '\n');
        c.notes.push('auth_hello, then a proof that does not match');
        break;
      case 5:
        c.chunks.push('x'.repeat(UNAUTHENTICATED_MAX_MESSAGE_BYTES + rng.int(1, 100_000)));
        c.notes.push('a line over the 1 KiB limit, no newline');
        break;
      case 6:
        c.chunks.push(JSON.stringify({ type: 'hello', lock_timeout_ms: 10_000 }) + '\n', JSON.stringify({ type: 'copy_read', rid: 1, after: null, limit: 2000 }) + '\n');
        c.notes.push('protocol messages without a handshake');
        break;
      case 7:
        c.chunks.push(JSON.stringify({ type: 'peer_query', txid: `${IMPOSSIBLE_EPOCH}.1`, to: 'x' }) + '\n');
        c.notes.push('peer_query without a handshake');
        break;
      case 8:
        c.chunks.push(rng.pick(['#1 {"type":"auth_hello"}\n', '[1]\n', '"auth_hello"\n', '{"type":"auth_hello"\n', '{}\n', 'null\n']));
        c.notes.push('a frame that is not a handshake object');
        break;
      case 9:
        c.preauth = 'worker-role';
        c.notes.push('a full handshake with the key, in the worker role (which may not open a link to a worker)');
        break;
      case 10:
        c.preauth = 'wrong-key-proof';
        c.notes.push('a full handshake, the proof made with another key');
        break;
      default: {
        const split = hello({ extra: 'a'.repeat(rng.int(700, 2000)) });
        let at = 0;
        while (at < split.length) {
          const n = rng.int(1, 400);
          c.chunks.push(split.slice(at, at + n));
          at += n;
        }
        c.notes.push('auth_hello over 1 KiB, in pieces');
      }
    }
  }

  private genPreauthCoordinator(rng: Rng, c: NodeCase): void {
    const req = (o: Record<string, unknown>): string => JSON.stringify(o) + '\n';
    const kind = rng.int(0, 6);
    switch (kind) {
      case 0:
        c.chunks.push(req({ action: 'node_hello', role: rng.pick<unknown>(['coordinator', 'peer', 'admin', '', null, 1]), nonce: newNonceFrom(rng) }));
        c.notes.push('node_hello in a wrong role');
        break;
      case 1:
        c.chunks.push(req({ action: 'node_hello', role: 'worker', nonce: rng.pick<unknown>(['', 'x', 'G'.repeat(64), '0'.repeat(63), null, 7]) }));
        c.notes.push('node_hello with a bad nonce');
        break;
      case 2:
        c.chunks.push(req({ action: 'node_hello', role: 'worker', nonce: newNonceFrom(rng), [rng.pick(HOSTILE_KEYS.filter((k) => !['req', 'action', 'role', 'nonce'].includes(k)))]: 1 }));
        c.notes.push('node_hello with an unknown field');
        break;
      case 3:
        c.chunks.push(req({ action: 'node_proof', proof: rng.pick(['0'.repeat(64), 'x', '']) }));
        c.notes.push('node_proof without node_hello');
        break;
      case 4:
        c.chunks.push(req({ action: 'node_hello', role: 'worker', nonce: newNonceFrom(rng) }), req({ action: 'node_proof', proof: rng.pick<unknown>(['0'.repeat(64), 'f'.repeat(64), '', null, 5]) }), req({ action: 'register', worker: { id: 'intruder', address: '127.0.0.1:9' } }));
        c.notes.push('node_hello, a proof that does not match, then register');
        break;
      case 5:
        c.chunks.push(req({ action: 'register', worker: { id: rng.pick(['intruder', this.workerIds[0] as string]), address: rng.pick(['127.0.0.1:9', this.cluster.workers[1]?.address ?? '127.0.0.1:9']) } }));
        c.notes.push('register without the handshake');
        break;
      default: {
        // A proof made with the key, but for other nonces: a handshake recorded earlier, replayed.
        const ours = newNonceFrom(rng);
        c.chunks.push(req({ action: 'node_hello', role: 'worker', nonce: ours, req: rng.pick<unknown>([1, 'x', null]) }), req({ action: 'node_proof', proof: linkProof(this.key, 'initiator', 'worker', ours, newNonceFrom(rng), Buffer.alloc(0)) }));
        c.notes.push('node_hello, then a proof with the key for a recorded handshake (another nonce)');
      }
    }
  }

  /** Milliseconds spent in each family's cases (summed over lanes), for the rate report. */
  readonly msByFamily: Record<string, number> = {};

  async run(c: NodeCase): Promise<void> {
    const t0 = Date.now();
    try {
      await this.runCase(c);
    } finally {
      this.msByFamily[c.family] = (this.msByFamily[c.family] ?? 0) + Date.now() - t0;
    }
  }

  /**
   * A worker keeps one coordinator link: a new one replaces (closes) the last. The lanes take turns on each worker's,
   * so that one case's link is not closed under it by another's (the real coordinator still takes it back at times).
   */
  private readonly coordinatorTurn: Promise<void>[] = [];

  private async asCoordinator(worker: number, fn: () => Promise<void>): Promise<void> {
    const before = this.coordinatorTurn[worker] ?? Promise.resolve();
    let release: () => void = () => undefined;
    this.coordinatorTurn[worker] = new Promise<void>((r) => (release = r));
    await before;
    try {
      await fn();
    } finally {
      release();
    }
  }

  private async runCase(c: NodeCase): Promise<void> {
    switch (c.family) {
      case 'to-worker-invalid':
      case 'to-worker-garbage':
        return this.asCoordinator(c.worker, () => this.runRefused(c, 'coordinator'));
      case 'peer-invalid':
        return this.runRefused(c, 'peer');
      case 'read-valid':
        return this.asCoordinator(c.worker, () => this.runReads(c));
      case 'peer-valid':
        return this.runPeerQueries(c);
      case 'preauth-worker':
        return this.runPreauthWorker(c);
      case 'preauth-coordinator':
        return this.runPreauthCoordinator(c);
      case 'fake-worker':
        return this.runFakeWorker(c);
    }
  }

  private count(family: string): void {
    this.stats.closed[family] = (this.stats.closed[family] ?? 0) + 1;
  }

  private async runRefused(c: NodeCase, role: LinkRole): Promise<void> {
    const w = this.cluster.workers[c.worker]!;
    const l = await openLink(w.address, this.key, role);
    for (const line of c.chunks) l.socket.write(`${line}\n`);
    const why = await within(l.closed, CLOSE_DEADLINE_MS, `worker ${w.name} did not close a ${role} link that sent a refused message`);
    if (why !== 'connection closed') throw new FuzzFinding(`our end closed the ${role} link to ${w.name} before the worker did: ${why}`);
    if (c.family !== 'to-worker-garbage') this.expect.workerRefusals[c.worker]!++;
    this.count(c.family);
  }

  private async runReads(c: NodeCase): Promise<void> {
    const w = this.cluster.workers[c.worker]!;
    // A worker reads nothing on a coordinator's link before that coordinator's hello (#23): this one
    // says it is the cluster's own coordinator (its cluster, epoch and run, from status), so the
    // worker takes the link as a relink of it (and the real coordinator takes it back at times).
    const hello = await this.coordinatorHello();
    const l = await openLink(w.address, this.key, 'coordinator');
    l.socket.write(`${JSON.stringify(hello)}\n`);
    for (const line of c.chunks) l.socket.write(`${line}\n`);
    const pending = new Map(c.reads.map((r) => [r.rid, r]));
    let problem: string | null = null;
    const scan = (): void => {
      for (const m of l.messages.splice(0)) {
        if (m.type !== 'read_result' && m.type !== 'read_failed' && m.type !== 'read_text' && m.type !== 'copy_page') continue; // the real cluster's traffic, now on our link
        const p = parseFromWorker(m);
        if (!p.ok) problem ??= `the worker answered a read with a message its own schema refuses: ${p.error}`;
        const r = pending.get(m.rid as number);
        if (r === undefined) continue;
        pending.delete(r.rid);
        if (m.type === 'read_failed') problem ??= `a valid ${r.kind} read failed: ${String(m.error)}`;
        else if ((m.type === 'copy_page') !== (r.kind === 'copy')) problem ??= `a ${r.kind === 'copy' ? 'copy_read' : `${r.kind} read`} was answered with ${String(m.type)}`;
        else if (r.kind === 'copy') continue; // a copy_page, and its schema held
        else if (m.type === 'read_result' && !readResultMatches(r.kind, m.result)) problem ??= `the answer to a ${r.kind} read is not of its shape`;
        else if (r.text && r.kind === 'get_tweets') problem ??= 'a get_tweets read asked as text was answered as an object';
      }
      for (const t of l.texts.splice(0)) {
        const r = pending.get(t.tag);
        if (r === undefined) continue;
        pending.delete(r.rid);
        if (!(r.text && r.kind === 'get_tweets')) problem ??= `a ${r.kind} read not asked as text was answered as text`;
        try {
          const o = JSON.parse(t.text) as Record<string, unknown>;
          if (o.status !== 'OK' || !Array.isArray(o.tweets)) problem ??= 'a read answered as text is not an OK reply with tweets';
        } catch {
          problem ??= 'a read answered as text is not JSON';
        }
      }
    };
    const done = new Promise<void>((resolve) => {
      l.onActivity = () => {
        scan();
        if (pending.size === 0 || problem !== null) resolve();
      };
      l.onActivity();
      void l.closed.then(() => resolve());
    });
    await within(done, ANSWER_DEADLINE_MS, `worker ${w.name} answered ${c.reads.length - pending.size} of ${c.reads.length} valid reads and kept the link open`);
    const cut = pending.size > 0;
    closeOurs(l);
    if (problem !== null) throw new FuzzFinding(problem);
    if (cut) this.stats.readsCut += pending.size;
    this.stats.readsAnswered += c.reads.length - pending.size;
    this.count(c.family);
  }

  /** The hello the cluster's coordinator sends, as status shows its identity. */
  private async coordinatorHello(): Promise<Obj> {
    const s = await this.cluster.status();
    const id = s.identity as { id: string; epoch: number; run: string };
    return { type: 'hello', lock_timeout_ms: 10_000, cluster: id.id, epoch: id.epoch, run: id.run, config: 0, voter: false, voters: [], catching_up: [], reserved: 0 };
  }

  private async runPeerQueries(c: NodeCase): Promise<void> {
    const w = this.cluster.workers[c.worker]!;
    const id = this.workerIds[c.worker]!;
    const l = await openLink(w.address, this.key, 'peer');
    for (const line of c.chunks) l.socket.write(`${line}\n`);
    const pending = new Map(c.peers.map((p) => [p.txid, p]));
    let problem: string | null = null;
    const done = new Promise<void>((resolve) => {
      l.onActivity = () => {
        for (const m of l.messages.splice(0)) {
          const p = parsePeerAnswer(m);
          if (!p.ok) {
            problem ??= `the worker answered a peer_query with a message its schema refuses: ${p.error}`;
            continue;
          }
          const q = pending.get(p.msg.txid);
          if (q === undefined) {
            problem ??= `a peer_answer for ${p.msg.txid}, which was not asked (or was answered twice)`;
            continue;
          }
          pending.delete(q.txid);
          const want = q.to === id ? 'abort' : 'unknown';
          if (p.msg.from !== id || p.msg.outcome !== want) problem ??= `peer_query ${q.txid} to ${q.to} answered ${JSON.stringify(p.msg)}; expected outcome ${want} from ${id}`;
        }
        if (l.texts.length > 0) problem ??= 'a text frame on a peer link';
        if (pending.size === 0 || problem !== null) resolve();
      };
      void l.closed.then(() => resolve());
    });
    await within(done, ANSWER_DEADLINE_MS, `worker ${w.name} answered ${c.peers.length - pending.size} of ${c.peers.length} peer queries and kept the link open`);
    if (l.link.isClosed && !l.closedByUs && pending.size > 0) problem ??= `worker ${w.name} closed a peer link with ${pending.size} valid queries unanswered: ${await l.closed}`;
    closeOurs(l);
    if (problem !== null) throw new FuzzFinding(problem);
    this.stats.peerAnswers += c.peers.length;
    this.count(c.family);
  }

  private async runPreauthWorker(c: NodeCase): Promise<void> {
    const w = this.cluster.workers[c.worker]!;
    let sentProof = false;
    const r = await rawExchange(w.address, (s, lines) => {
      if (c.preauth === 'raw') {
        // Several writes, each its own chunk on the wire (as far as TCP lets).
        let i = 0;
        const next = (): void => {
          if (i < c.chunks.length && !s.destroyed) s.write(c.chunks[i++]!, () => setImmediate(next));
        };
        next();
        return;
      }
      const role: LinkRole = c.preauth === 'worker-role' ? 'worker' : 'coordinator';
      const ours = newNonce();
      s.write(JSON.stringify({ type: 'auth_hello', v: AUTH_PROTOCOL_VERSION, role, nonce: ours }) + '\n');
      const poll = setInterval(() => {
        if (lines.length === 0 || sentProof) return;
        clearInterval(poll);
        sentProof = true;
        const ch = JSON.parse(lines[0]!) as { nonce: string };
        const k = c.preauth === 'worker-role' ? this.key : Buffer.alloc(32, 7);
        s.write(JSON.stringify({ type: 'auth_proof', proof: linkProof(k, 'initiator', role, ours, ch.nonce, Buffer.alloc(0)) }) + '\n');
      }, 5);
      s.once('close', () => clearInterval(poll));
    });
    if (!r.closed) throw new FuzzFinding(`worker ${w.name} kept an unauthenticated connection open ${CLOSE_DEADLINE_MS} ms`);
    const others = r.lines.filter((line) => !line.startsWith('{"type":"auth_challenge"'));
    if (others.length > 0) throw new FuzzFinding(`worker ${w.name} answered an unauthenticated connection with more than a challenge: ${others[0]!.slice(0, 200)}`);
    this.expect.workerPreauth[c.worker]!++;
    this.count(c.family);
  }

  private async runPreauthCoordinator(c: NodeCase): Promise<void> {
    const isHandshake = c.chunks.some((l) => l.includes('"node_'));
    // A refused handshake closes the connection; a refused register alone leaves it open: one reply is all it gets.
    const r = await rawExchange(this.cluster.address, (s) => s.write(c.chunks.join('')), isHandshake ? undefined : (lines) => lines.length >= c.chunks.length);
    const replies = r.lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    const refusals = replies.filter((x) => x.status === 'ERROR');
    if (refusals.length === 0) throw new FuzzFinding(`the coordinator refused none of a bad node handshake: ${JSON.stringify(replies).slice(0, 300)}`);
    for (const x of refusals) {
      if (x.code !== 'UNAUTHENTICATED' && x.code !== 'INVALID') throw new FuzzFinding(`a refused node handshake got code ${String(x.code)}; expected UNAUTHENTICATED`);
      if (typeof x.error !== 'string' || x.error === '') throw new FuzzFinding('a refused node handshake without a sentence');
    }
    if (replies.some((x) => x.status === 'OK' && x.nonce === undefined)) throw new FuzzFinding(`the coordinator accepted a bad node handshake: ${JSON.stringify(replies).slice(0, 300)}`);
    if (isHandshake && !r.closed) throw new FuzzFinding('the coordinator kept a connection open after refusing its node handshake');
    if (isHandshake && refusals.some((x) => x.code === 'UNAUTHENTICATED')) this.expect.coordinatorHandshake++;
    this.count(c.family);
  }

  // --- the fake worker

  /** Registers each lane's fake worker id once (a node handshake on the client port, kept for every case). */
  private async fake(lane: number): Promise<(typeof this.fakes)[number]> {
    let f = this.fakes[lane];
    if (f !== undefined) return f;
    const made = { id: `fuzz-fake-${lane}`, servers: [] as Server[], addresses: [] as string[], next: 0, client: null as TweetdbClient | null, onLink: null as ((link: JsonLink, hello: Record<string, unknown>) => void) | null };
    for (let i = 0; i < 2; i++) {
      const server = createServer((s) => {
        authenticateIncoming(
          productionTimers, s,
          this.key,
          (_role, link) => ({
            onMessage: (m) => {
              if (m.type !== 'hello') return;
              // A dial no case waits for (the coordinator redialling an address it is leaving): hang up, so the id is not live.
              if (made.onLink === null) link.close('no case waiting');
              else made.onLink(link, m);
            },
            onClose: () => undefined,
          }),
          () => undefined,
        );
      });
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
      made.servers.push(server);
      made.addresses.push(`127.0.0.1:${(server.address() as { port: number }).port}`);
    }
    const client = await TweetdbClient.connect(this.cluster.address);
    const ours = newNonce();
    const hello = await client.request({ action: 'node_hello', role: 'worker', nonce: ours });
    const proof = await client.request({ action: 'node_proof', proof: linkProof(this.key, 'initiator', 'worker', ours, hello.nonce as string, Buffer.alloc(0)) });
    if (proof.status !== 'OK') throw new Error(`the fake worker could not authenticate: ${JSON.stringify(proof)}`);
    made.client = client;
    this.fakes[lane] = made;
    f = made;
    return f;
  }

  private async runFakeWorker(c: NodeCase): Promise<void> {
    const f = await this.fake(c.lane);
    const address = f.addresses[f.next % 2]!;
    f.next++;
    const closed = new Promise<void>((resolve) => {
      f.onLink = (link) => {
        f.onLink = null;
        link.flush();
        for (const line of c.chunks) link.socket.write(`${line}\n`);
        link.socket.once('close', () => resolve());
      };
    });
    // Registering at the other address makes the coordinator drop its link to the old one and dial this one at once.
    const r = await eventually(
      async () => {
        const reply = await f.client!.request({ action: 'register', worker: { id: f.id, address }, known: { cluster: null, epoch: 0, config: { n: 0, voters: [], catching_up: [] }, proposed: null, max_cseq: 0, reserved: 0, fresh: true } });
        if (reply.status !== 'OK' && reply.code !== 'EXISTS') throw new FuzzFinding(`registering the fake worker: ${JSON.stringify(reply)}`);
        return reply.status === 'OK';
      },
      CLOSE_DEADLINE_MS,
      'the fake worker registers again (its last link is down)',
    ).then(
      () => null,
      (e: unknown) => e,
    );
    if (r !== null) throw r instanceof FuzzFinding ? r : new FuzzFinding(String(r));
    await within(closed, CLOSE_DEADLINE_MS, 'the coordinator did not dial the fake worker, or did not cut a link that sent a refused message');
    const refusedMessage = c.chunks.length > 0 && !c.notes.some((n) => n.startsWith('garbage'));
    if (refusedMessage) this.expect.coordinatorRefusals++;
    this.count(c.family);
  }

  // --- checks

  private countLogs(): typeof this.seen {
    const n = (logs: string[], s: string): number => logs.filter((l) => l.includes(s)).length;
    return {
      // A coordinator link replaced by another (the real coordinator linking again replaces ours, and a case's message on
      // ours is then never read): the worker logs each one, so this bounds the refusals that cannot be logged.
      relinks: this.cluster.workers.map((w) => n(w.logs, 'replaced by a new coordinator link')),
      // A refusal is logged by the schema check, or, for a line that is not a JSON object at all (JSON.parse
      // gives up on 50,000 levels), by the link itself as it closes ("link closed", with the reason).
      workerRefusals: this.cluster.workers.map((w) => n(w.logs, WORKER_REFUSAL_LOG) + w.logs.filter((l) => l.includes('"msg":"link closed"') && !l.includes('replaced by a new coordinator link')).length),
      workerPreauth: this.cluster.workers.map((w) => n(w.logs, WORKER_PREAUTH_LOG)),
      coordinatorRefusals: n(this.cluster.coordinator.logs, COORDINATOR_REFUSAL_LOG),
      coordinatorHandshake: n(this.cluster.coordinator.logs, COORDINATOR_HANDSHAKE_LOG),
    };
  }

  async check(): Promise<void> {
    // The logs say why: every refusal the cases saw is logged by the node that refused.
    const want = this.expect;
    let got = this.countLogs();
    const short = (): string | null => {
      got = this.countLogs();
      for (let i = 0; i < this.cluster.workers.length; i++) {
        const name = this.cluster.workers[i]!.name;
        const relinks = got.relinks[i]! - this.seen.relinks[i]!;
        if (got.workerRefusals[i]! - this.seen.workerRefusals[i]! < want.workerRefusals[i]! - relinks) return `${name} logged ${got.workerRefusals[i]! - this.seen.workerRefusals[i]!} "${WORKER_REFUSAL_LOG}" for ${want.workerRefusals[i]} refused messages (the real coordinator linked again ${relinks} times)`;
        if (got.workerPreauth[i]! - this.seen.workerPreauth[i]! < want.workerPreauth[i]!) return `${name} logged ${got.workerPreauth[i]! - this.seen.workerPreauth[i]!} "${WORKER_PREAUTH_LOG}" for ${want.workerPreauth[i]} refused handshakes`;
      }
      if (got.coordinatorRefusals - this.seen.coordinatorRefusals < want.coordinatorRefusals) return `the coordinator logged ${got.coordinatorRefusals - this.seen.coordinatorRefusals} "${COORDINATOR_REFUSAL_LOG}" for ${want.coordinatorRefusals} refused messages`;
      if (got.coordinatorHandshake - this.seen.coordinatorHandshake < want.coordinatorHandshake) return `the coordinator logged ${got.coordinatorHandshake - this.seen.coordinatorHandshake} "${COORDINATOR_HANDSHAKE_LOG}" for ${want.coordinatorHandshake} refused handshakes`;
      return null;
    };
    try {
      await eventually(async () => short() === null, 10_000, 'every refusal logged');
    } catch {
      throw new FuzzFinding(`a refusal was not logged: ${short()}`);
    }
    this.seen = got;
    this.expect = { workerRefusals: [0, 0], workerPreauth: [0, 0], coordinatorRefusals: 0, coordinatorHandshake: 0 };
    if (this.phase === 'fake-worker') return this.checkCopiesDirectly();
    // The real coordinator has its links back, the copies are identical, and a write commits.
    await this.cluster.waitAllUp(this.cluster.workers.length, 30_000);
    const s = await this.cluster.status();
    if ((s.workers as unknown[]).length !== this.cluster.workers.length) throw new FuzzFinding(`the cluster has ${(s.workers as unknown[]).length} workers registered; the fuzzer registered none`);
    const r = await this.cluster.request({ action: 'post', tweet: { username: 'ada', content: 'after a batch of node-message cases' } });
    if (r.status !== 'OK') throw new FuzzFinding(`a normal post after the batch: ${JSON.stringify(r)}`);
    await this.cluster.waitConverged(30_000);
  }

  /** With a fake worker registered the cluster refuses writes: the real workers' copies are compared by asking each for its check. */
  private async checkCopiesDirectly(): Promise<void> {
    const digests: string[] = [];
    const hello = await this.coordinatorHello();
    for (const w of this.cluster.workers) {
      const l = await openLink(w.address, this.key, 'coordinator');
      // (Shown as the cluster's own coordinator: a worker reads nothing on a link before its hello.)
      l.socket.write(`${JSON.stringify(hello)}\n${JSON.stringify({ type: 'read', rid: 1, query: { kind: 'check' } })}\n`);
      await within(
        new Promise<void>((resolve) => {
          l.onActivity = () => {
            if (l.messages.some((m) => m.type === 'read_result') || l.link.isClosed) resolve();
          };
        }),
        ANSWER_DEADLINE_MS,
        `${w.name} did not answer a check`,
      );
      const m = l.messages.find((x) => x.type === 'read_result');
      closeOurs(l);
      if (m === undefined) throw new FuzzFinding(`${w.name} closed the link before answering a check`);
      digests.push((m.result as { digest: string }).digest);
    }
    if (new Set(digests).size !== 1) throw new FuzzFinding(`the real workers' copies differ: ${digests.join(' ')}`);
  }

  /** Closes the fake workers' servers and connections. */
  async close(): Promise<void> {
    for (const f of this.fakes) {
      if (f === undefined) continue;
      f.client?.close();
      for (const s of f.servers) s.close();
    }
  }

  replayHint(runSeed: number, c: NodeCase): string {
    return `npm run fuzz -- --target node-messages --phase ${this.phase} --seed ${runSeed} --only ${c.index}   ${this.hint}`;
  }
}

/** A nonce from the case's own Rng, so the bytes replay exactly (the other end's nonce is fresh anyway). */
function newNonceFrom(rng: Rng): string {
  return rng.bytes(32).toString('hex');
}
