// The fuzzing harness: seeds, lanes, batches, process watching and replayable failure reports.
// A target (the client API today; node messages later) plugs in through FuzzTarget.

import type { ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Rng, caseSeed } from './prng.ts';

/** What every case has: where it came from (to replay it) and the exact bytes it sent. */
export interface FuzzCase {
  index: number;
  seed: number;
  lane: number;
  /** The case family, and the generator's notes on what it did (one per request). */
  family: string;
  notes: string[];
  /** Every byte the case sends, in order, whatever its connections. */
  bytes: Buffer;
}

export interface FuzzTarget<C extends FuzzCase> {
  readonly name: string;
  /** Cases run on this many lanes at once; each lane runs its cases one after another. */
  readonly lanes: number;
  /** Processes that must not exit while the fuzzer runs. */
  processes(): { name: string; proc: ChildProcess }[];
  generate(rng: Rng, index: number, lane: number): C;
  /** Runs one case and checks what can be checked at once; throws FuzzFinding when a check fails. */
  run(c: C): Promise<void>;
  /** The checks between batches and at the end (stored state against the model, copies equal). */
  check(): Promise<void>;
  /** How to replay `c` by hand, besides its bytes (the command line, say). */
  replayHint(runSeed: number, c: C): string;
}

/** A check that failed on one case (or on the state the cases left). */
export class FuzzFinding extends Error {
  constructor(message: string, readonly detail = '') {
    super(message);
    this.name = 'FuzzFinding';
  }
}

export interface FuzzOptions {
  seed: number;
  cases: number;
  /** Run the batch check after this many cases, and at the end. */
  checkEvery: number;
  /** Only this case (replay): generated from its own seed, alone. */
  only?: number;
  log?: (line: string) => void;
}

export interface FuzzStats {
  target: string;
  seed: number;
  cases: number;
  ms: number;
  casesPerSecond: number;
  families: Record<string, number>;
}

/** After a failed case, how long to wait for a process exit that would explain it. */
const EXIT_GRACE_MS = 1_000;
/** Most bytes shown inline in a report; the whole case is always written to a file. */
const INLINE_BYTES = 2048;

/** Everything needed to replay a case: the seeds, the bytes (inline when short, and in a file), the notes. */
export function describeCase(target: string, runSeed: number, c: FuzzCase, hint: string): string {
  const file = join(tmpdir(), `tweetdb-fuzz-${target}-${runSeed}-${c.index}.bin`);
  writeFileSync(file, c.bytes);
  const shown = c.bytes.length <= INLINE_BYTES ? c.bytes : Buffer.concat([c.bytes.subarray(0, INLINE_BYTES / 2), Buffer.from(' [...] '), c.bytes.subarray(-INLINE_BYTES / 2)]);
  return [
    `  target ${target}, run seed ${runSeed}, case ${c.index} (case seed ${c.seed}), lane ${c.lane}, family ${c.family}`,
    `  notes: ${c.notes.join(' | ')}`,
    `  bytes (${c.bytes.length}), as UTF-8 text (bytes that are not UTF-8 shown as U+FFFD): ${JSON.stringify(shown.toString('utf8'))}`,
    c.bytes.length <= INLINE_BYTES ? `  bytes, base64: ${c.bytes.toString('base64')}` : `  bytes, all of them: ${file}`,
    `  the raw bytes are in ${file}`,
    `  replay: ${hint}`,
  ].join('\n');
}

export async function runFuzz<C extends FuzzCase>(target: FuzzTarget<C>, opts: FuzzOptions): Promise<FuzzStats> {
  const log = opts.log ?? (() => undefined);
  const families: Record<string, number> = {};
  const inFlight = new Map<number, C>();
  const recent: C[] = [];
  /** The cases whose connections failed when a process exited: one of them most likely killed it. */
  const failedAtExit: C[] = [];
  let exited: string | null = null;
  let wakeExit: (() => void) | null = null;
  const exitSeen = new Promise<void>((r) => (wakeExit = r));
  const watchers: { proc: ChildProcess; fn: (code: number | null, sig: string | null) => void }[] = [];
  for (const { name, proc } of target.processes()) {
    const fn = (code: number | null, sig: string | null): void => {
      exited ??= `${name} (pid ${proc.pid}) exited with ${sig ?? `code ${code}`}`;
      wakeExit?.();
    };
    proc.once('exit', fn);
    watchers.push({ proc, fn });
  }
  const crashReport = (): FuzzFinding => {
    const around = [...new Set([...failedAtExit, ...inFlight.values(), ...recent])];
    return new FuzzFinding(
      `a process exited during the fuzz run: ${exited ?? ''}`,
      `the cases in flight then, and the last ones before (first those whose connections failed as it died):\n${around.map((c) => describeCase(target.name, opts.seed, c, target.replayHint(opts.seed, c))).join('\n\n')}`,
    );
  };
  const started = Date.now();
  let done = 0;
  try {
    const indices = opts.only !== undefined ? [opts.only] : Array.from({ length: opts.cases }, (_, i) => i);
    for (let from = 0; from < indices.length; from += opts.checkEvery) {
      const batch = indices.slice(from, from + opts.checkEvery);
      const lanes = Array.from({ length: target.lanes }, (_, lane) => batch.filter((index) => index % target.lanes === lane));
      await Promise.all(
        lanes.map(async (mine, lane) => {
          for (const index of mine) {
            if (exited !== null) return;
            const seed = caseSeed(opts.seed, index);
            const c = target.generate(new Rng(seed), index, lane);
            c.seed = seed;
            families[c.family] = (families[c.family] ?? 0) + 1;
            inFlight.set(index, c);
            try {
              await Promise.race([target.run(c), exitSeen]);
            } catch (e) {
              // A process that dies closes this case's connection before its exit is seen: wait a moment, then say which it was.
              await Promise.race([exitSeen, new Promise((r) => setTimeout(r, EXIT_GRACE_MS))]);
              if (exited !== null) {
                failedAtExit.push(c);
                return;
              }
              const f = e instanceof FuzzFinding ? e : new FuzzFinding(`the harness failed: ${(e as Error).stack ?? String(e)}`);
              throw new FuzzFinding(f.message, `${f.detail}\n${describeCase(target.name, opts.seed, c, target.replayHint(opts.seed, c))}`);
            } finally {
              inFlight.delete(index);
            }
            if (exited !== null) return;
            recent.push(c);
            if (recent.length > 2 * target.lanes) recent.shift();
            done++;
          }
        }),
      );
      if (exited !== null) throw crashReport();
      try {
        await Promise.race([target.check(), exitSeen]);
      } catch (e) {
        if (exited !== null) throw crashReport();
        const f = e instanceof FuzzFinding ? e : new FuzzFinding(`the batch check failed: ${(e as Error).stack ?? String(e)}`);
        throw new FuzzFinding(`after cases ${batch[0]} to ${batch[batch.length - 1]}: ${f.message}`, `${f.detail}\n  replay the run: seed ${opts.seed}, ${batch[batch.length - 1]! + 1} cases`);
      }
      if (exited !== null) throw crashReport();
      log(`${target.name}: ${done} cases, ${Math.round((done * 1000) / (Date.now() - started))} a second`);
    }
  } finally {
    for (const w of watchers) w.proc.off('exit', w.fn);
  }
  const ms = Date.now() - started;
  return { target: target.name, seed: opts.seed, cases: done, ms, casesPerSecond: Math.round((done * 1000) / ms), families };
}

/** A run's seed: given, or a fresh one (printed by the caller, so a failure replays). */
export function pickSeed(given: string | undefined): number {
  if (given !== undefined && given !== '') {
    const n = Number(given);
    if (!Number.isSafeInteger(n) || n < 0 || n > 0xffffffff) throw new Error(`a fuzz seed is a whole number from 0 to ${0xffffffff}; got ${given}`);
    return n;
  }
  return Math.floor(Math.random() * 0x100000000);
}
