// A linearizability checker: Wing & Gong's backtracking search with Lowe's memoization,
// after Porcupine's checkSingle. Pure and synchronous; bounded by steps and wall time.
//
// Each operation becomes a call entry and a return entry in one doubly linked list ordered
// by time. Linearizing an op "lifts" both of its entries out of the list; backtracking puts
// them back. Reaching a return entry while scanning means that op had to be linearized
// already, so the current prefix is a dead end. A cache of (linearized set, model state)
// pairs prunes prefixes that reach a configuration already explored.

export interface Operation<Input, Output> {
  clientId: number;
  input: Input;
  call: number;
  output: Output;
  /** Infinity when the outcome is unknown: the op may take effect at any point after `call`, or never. */
  return: number;
}

export interface Model<State, Input, Output> {
  init(): State;
  /**
   * Returns [legal, newState] for applying input with observed output. Must not mutate
   * `state`: earlier states are kept for backtracking. Ops with unknown outcome carry the
   * model's own "unknown" output, which step should accept whatever the result would be.
   */
  step(state: State, input: Input, output: Output): [boolean, State];
  equal(a: State, b: State): boolean;
  /** Equal states must hash alike; it keys the memo cache (equal() settles collisions). */
  hash(s: State): string;
  /** Splits a history into independent parts (e.g. by key); default: one part. */
  partition?(ops: Operation<Input, Output>[]): Operation<Input, Output>[][];
  /** Names a part in reports, e.g. `tweet "t1"`; default: its index. */
  partitionKey?(ops: Operation<Input, Output>[]): string;
  describe?(input: Input, output: Output): string;
  describeState?(s: State): string;
}

export type CheckResult =
  | { ok: true }
  | { ok: false; partition: number; key: string; explanation: string }
  | { ok: 'unknown'; reason: string };

export interface CheckOptions {
  /** Wall-clock budget for the whole check. Default 10 000 ms. */
  timeoutMs?: number;
  /** Search steps (model steps plus backtracks) allowed per partition. Default 5 000 000. */
  maxSteps?: number;
}

const DEFAULT_TIMEOUT_MS = 10_000;
const DEFAULT_MAX_STEPS = 5_000_000;

export function checkOperations<S, I, O>(model: Model<S, I, O>, history: Operation<I, O>[], opts: CheckOptions = {}): CheckResult {
  for (const op of history) {
    // A malformed interval would silently make the search meaningless, so refuse it.
    if (!Number.isFinite(op.call) || Number.isNaN(op.return) || op.return < op.call) {
      throw new RangeError(`operation of client ${op.clientId} has call ${op.call} and return ${op.return}; need a finite call <= return`);
    }
  }
  const deadline = Date.now() + (opts.timeoutMs ?? DEFAULT_TIMEOUT_MS);
  const maxSteps = opts.maxSteps ?? DEFAULT_MAX_STEPS;
  const parts = model.partition ? model.partition(history) : [history];
  const undecided: string[] = [];
  for (const [index, ops] of parts.entries()) {
    const key = model.partitionKey ? model.partitionKey(ops) : `partition ${index}`;
    // Keep going after a bounded-out part: a later one may still prove a violation.
    const outcome = Date.now() > deadline ? ({ kind: 'bound', why: 'the time budget was spent before it started' } as const) : checkPartition(model, ops, deadline, maxSteps);
    if (outcome.kind === 'fail') {
      return { ok: false, partition: index, key, explanation: explain(model, ops, key, index, outcome) };
    }
    if (outcome.kind === 'bound') undecided.push(`${key} (${ops.length} ops): ${outcome.why}`);
  }
  if (undecided.length > 0) {
    return { ok: 'unknown', reason: `no violation found, but the search was cut short for ${undecided.length} of ${parts.length} partitions: ${undecided.join('; ')}` };
  }
  return { ok: true };
}

interface Entry<I, O> {
  kind: 'call' | 'return';
  /** Index of the op within its partition; -1 for the list head. */
  id: number;
  op: Operation<I, O> | null;
  /** On a call entry, its return entry. */
  match: Entry<I, O> | null;
  prev: Entry<I, O> | null;
  next: Entry<I, O> | null;
}

/** Where the search got furthest: the basis of a readable failure report. */
interface Furthest<S> {
  prefix: number[];
  /** How many ops in the prefix have a known outcome. */
  known: number;
  state: S;
  /** Ops called but not linearized before the first pending return. */
  candidates: number[];
  /** The op whose return ended every extension of the prefix. */
  blocker: number;
}

type PartitionOutcome<S> = { kind: 'ok' } | { kind: 'fail'; furthest: Furthest<S> } | { kind: 'bound'; why: string };

function buildList<I, O>(ops: Operation<I, O>[]): Entry<I, O> {
  const events: { time: number; isReturn: boolean; id: number }[] = [];
  ops.forEach((op, id) => {
    events.push({ time: op.call, isReturn: false, id }, { time: op.return, isReturn: true, id });
  });
  // At equal times calls go first, so ops that touch at an instant count as concurrent
  // (as in Porcupine); unknown returns (Infinity) sort last.
  events.sort((a, b) => a.time - b.time || Number(a.isReturn) - Number(b.isReturn) || a.id - b.id);
  const head: Entry<I, O> = { kind: 'call', id: -1, op: null, match: null, prev: null, next: null };
  const returns = new Map<number, Entry<I, O>>();
  let last = head;
  for (const ev of events) {
    const e: Entry<I, O> = { kind: ev.isReturn ? 'return' : 'call', id: ev.id, op: ops[ev.id] ?? null, match: null, prev: last, next: null };
    if (ev.isReturn) returns.set(ev.id, e);
    last.next = e;
    last = e;
  }
  for (let e = head.next; e !== null; e = e.next) if (e.kind === 'call') e.match = returns.get(e.id) ?? null;
  return head;
}

function lift<I, O>(call: Entry<I, O>): void {
  unlink(call);
  if (call.match) unlink(call.match);
}

function unlift<I, O>(call: Entry<I, O>): void {
  // Reverse order of lift, so each entry's neighbours are exactly what they were.
  if (call.match) relink(call.match);
  relink(call);
}

function unlink<I, O>(e: Entry<I, O>): void {
  if (e.prev) e.prev.next = e.next;
  if (e.next) e.next.prev = e.prev;
}

function relink<I, O>(e: Entry<I, O>): void {
  if (e.prev) e.prev.next = e;
  if (e.next) e.next.prev = e;
}

class Bitset {
  private readonly words: Uint16Array;
  constructor(n: number) {
    this.words = new Uint16Array(Math.ceil(n / 16) || 1);
  }
  set(i: number): void {
    this.words[i >>> 4] = (this.words[i >>> 4] ?? 0) | (1 << (i & 15));
  }
  clear(i: number): void {
    this.words[i >>> 4] = (this.words[i >>> 4] ?? 0) & ~(1 << (i & 15));
  }
  /** One UTF-16 unit per 16 ops: a compact cache key. */
  key(): string {
    let s = '';
    for (const w of this.words) s += String.fromCharCode(w);
    return s;
  }
}

function checkPartition<S, I, O>(model: Model<S, I, O>, ops: Operation<I, O>[], deadline: number, maxSteps: number): PartitionOutcome<S> {
  if (ops.every((op) => op.return === Infinity)) return { kind: 'ok' }; // none of them need have happened
  const head = buildList(ops);
  const linearized = new Bitset(ops.length);
  const cache = new Map<string, S[]>();
  const calls: { entry: Entry<I, O>; state: S }[] = [];
  let state = model.init();
  let furthest: Furthest<S> | null = null;
  let entry = head.next;
  let steps = 0;
  let knownCount = 0; // linearized ops with a finite return
  while (entry !== null) {
    steps++;
    if (steps > maxSteps) return { kind: 'bound', why: `maxSteps (${maxSteps}) reached after ${cache.size} distinct configurations` };
    if ((steps & 1023) === 0 && Date.now() > deadline) return { kind: 'bound', why: `timed out after ${steps} steps` };
    if (entry.kind === 'call' && entry.op !== null) {
      const [legal, next] = model.step(state, entry.op.input, entry.op.output);
      if (legal) {
        linearized.set(entry.id);
        const key = `${linearized.key()}\u0000${model.hash(next)}`;
        const seen = cache.get(key);
        if (seen === undefined || !seen.some((s) => model.equal(s, next))) {
          if (seen === undefined) cache.set(key, [next]);
          else seen.push(next);
          calls.push({ entry, state });
          if (entry.op.return !== Infinity) knownCount++;
          state = next;
          lift(entry);
          entry = head.next;
          continue;
        }
        linearized.clear(entry.id); // this configuration was explored before and failed
      }
      entry = entry.next;
      continue;
    }
    // A return entry: its op had to be linearized by now.
    // Finite returns sort before infinite ones, so reaching an unknown-outcome return means
    // every op with a known outcome is linearized; the rest may never have taken effect.
    // (A model that accepts them in any state could place them last instead; this is quicker.)
    if (entry.op !== null && entry.op.return === Infinity) return { kind: 'ok' };
    // Report the prefix with the most known-outcome ops, and of those the fewest unknown ones:
    // an unknown op in the prefix is a guess, not something a person can check.
    if (furthest === null || knownCount > furthest.known || (knownCount === furthest.known && calls.length < furthest.prefix.length)) {
      const candidates: number[] = [];
      for (let e = head.next; e !== null && e !== entry; e = e.next) if (e.kind === 'call') candidates.push(e.id);
      furthest = { prefix: calls.map((c) => c.entry.id), known: knownCount, state, candidates, blocker: entry.id };
    }
    const top = calls.pop();
    if (top === undefined) return { kind: 'fail', furthest };
    state = top.state;
    if (top.entry.op !== null && top.entry.op.return !== Infinity) knownCount--;
    linearized.clear(top.entry.id);
    unlift(top.entry);
    entry = top.entry.next;
  }
  return { kind: 'ok' };
}

function explain<S, I, O>(model: Model<S, I, O>, ops: Operation<I, O>[], key: string, index: number, outcome: { furthest: Furthest<S> }): string {
  const { prefix, state, candidates, blocker } = outcome.furthest;
  const describeOp = (id: number): string => {
    const op = ops[id];
    if (op === undefined) return `op #${id}`;
    const what = model.describe ? model.describe(op.input, op.output) : `${JSON.stringify(op.input)} -> ${JSON.stringify(op.output)}`;
    const ret = op.return === Infinity ? 'unknown outcome' : String(op.return);
    return `client ${op.clientId} [${op.call}, ${ret}] ${what}`;
  };
  const describeState = (s: S): string => (model.describeState ? model.describeState(s) : model.hash(s));
  const unknown = ops.filter((op) => op.return === Infinity).length;
  const lines = [
    `${key} (partition ${index}, ${ops.length} ops${unknown > 0 ? `, ${unknown} with unknown outcome` : ''}) is not linearizable.`,
    `Longest linearizable prefix: ${prefix.length} of ${ops.length} ops${prefix.length === 0 ? ' (none)' : ''}`,
    ...prefix.map((id, i) => `  ${i + 1}. ${describeOp(id)}`),
    `State after it: ${describeState(state)}`,
    `It cannot be extended past the return of: ${describeOp(blocker)}`,
    'Ops that could have come next, and why each fails:',
  ];
  for (const id of candidates) {
    const op = ops[id];
    if (op === undefined) continue;
    const [legal] = model.step(state, op.input, op.output);
    lines.push(`  - ${describeOp(id)}: ${legal ? 'legal here, but every continuation after it fails' : 'illegal in this state'}`);
  }
  return lines.join('\n');
}
