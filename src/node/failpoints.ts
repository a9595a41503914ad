// Failpoints: named steps of the protocol where a test makes this process crash
// or hang, to prove that a death at exactly that step loses nothing.
//
//   TWEETDB_FAILPOINTS=worker.after_prepare_persist=crash
//   TWEETDB_FAILPOINTS=coordinator.after_last_yes=hang,worker.before_commit_apply=crash
//
// crash: SIGKILL to itself, as `kill -9` would (nothing is flushed, no handler runs).
// hang:  SIGSTOP to itself: the process freezes at that step with its sockets open,
//        as a stalled machine would; SIGCONT resumes it exactly there.
// Each failpoint fires once, the first time the step is reached. Unset, every
// check is one comparison against null.

import { writeSync } from 'node:fs';

/** Every failpoint, in protocol order, with the step it stops at. */
export const FAILPOINTS = {
  'coordinator.after_first_prepare_send': 'the prepare of a transaction has reached one voter only',
  'coordinator.after_last_yes': 'every voter said YES (the transaction is committed); no decision is written and no voter has been told',
  'coordinator.after_first_commit_send': 'the commit has reached one voter only',
  'coordinator.after_first_prevent_send': 'the transaction could not commit in time (a voter down or silent): the prevent has reached one voter only',
  'worker.before_prepare_persist': 'the worker accepted a prepare; its prepared record is not written yet',
  'worker.after_prepare_persist': 'the prepared record is durable; the YES vote is not sent yet',
  'worker.after_vote_send': 'the YES vote has been sent',
  'worker.before_commit_apply': 'the commit arrived; it is not applied yet',
  'worker.after_commit_apply_before_ack': 'the commit is applied and durable; not acknowledged yet',
  'worker.after_abort_persist': 'an abort (or tombstone) is durable; not acknowledged yet',
  'worker.after_refusal_persist': 'the worker refused a transaction and its tombstone is durable; the refusal (a NO vote, or the ack of abort: the answer to prevent) is not said yet',
} as const;

export type FailpointName = keyof typeof FAILPOINTS;

/**
 * The coordinator's failpoints that stop it right after the first message of a kind is sent to a
 * voter, by the message's type: the message is handed to the socket first, so that exactly one
 * voter has it.
 */
export const AFTER_FIRST_SEND: Readonly<Partial<Record<string, FailpointName>>> = {
  prepare: 'coordinator.after_first_prepare_send',
  commit: 'coordinator.after_first_commit_send',
  prevent: 'coordinator.after_first_prevent_send',
};

export type FailpointAction = 'crash' | 'hang';

export class FailpointError extends Error {
  readonly code = 'INVALID';
}

/** Parses `name=action,name=action`; throws FailpointError with a sentence naming what is wrong. */
export function parseFailpoints(spec: string): Map<FailpointName, FailpointAction> {
  const out = new Map<FailpointName, FailpointAction>();
  for (const part of spec.split(',').map((p) => p.trim()).filter((p) => p !== '')) {
    const eq = part.indexOf('=');
    const name = eq < 0 ? part : part.slice(0, eq);
    const action = eq < 0 ? '' : part.slice(eq + 1);
    if (!(name in FAILPOINTS)) {
      throw new FailpointError(`TWEETDB_FAILPOINTS names an unknown failpoint "${name}"; known: ${Object.keys(FAILPOINTS).join(', ')}`);
    }
    if (action !== 'crash' && action !== 'hang') {
      throw new FailpointError(`TWEETDB_FAILPOINTS: failpoint ${name} needs =crash or =hang, got "${action}"`);
    }
    out.set(name as FailpointName, action);
  }
  return out;
}

let armed: Map<FailpointName, FailpointAction> | null = null;

/** Reads TWEETDB_FAILPOINTS once, at process start. */
export function armFailpoints(spec: string | undefined): void {
  armed = spec === undefined || spec.trim() === '' ? null : parseFailpoints(spec);
}

/** Is this failpoint set (and not yet fired)? Callers that must finish a write first ask this, then call fire(). */
export function isArmed(name: FailpointName): boolean {
  return armed !== null && armed.has(name);
}

/** Fires the failpoint if it is set: the process dies (crash) or freezes (hang) here. */
export function failpoint(name: FailpointName): void {
  if (armed === null) return;
  const action = armed.get(name);
  if (action === undefined) return;
  armed.delete(name);
  // Said on stderr, synchronously, so the test (and a person) knows where it stopped.
  writeSync(2, `failpoint ${name}: ${action}\n`);
  process.kill(process.pid, action === 'crash' ? 'SIGKILL' : 'SIGSTOP');
}
