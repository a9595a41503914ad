// The one launcher of tweetdb's own processes (coordinator, worker, web app): each is started
// from bin/tweetdb.js with its flags and environment, exactly as a user starts it, and stopped
// by its PID. `tweetdb start`, the bench's clusters, the chaos run and the tests all use it.

import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

/** The `tweetdb` command's entry point. */
export const BIN = fileURLToPath(new URL('../../bin/tweetdb.js', import.meta.url));

/** How long a process gets to log that it listens, unless the caller says otherwise. */
export const LISTEN_TIMEOUT_MS = 20_000;

export interface LaunchSpec {
  /** The command line after `tweetdb`, e.g. ['worker', '0', '--coordinator', '127.0.0.1:8571']. */
  args: string[];
  /** Added to this process's environment (an empty string still overrides). */
  env?: Record<string, string>;
  /** Flags for node itself, before the script (e.g. --cpu-prof). */
  nodeArgs?: string[];
  /** Hears each line the process writes on standard output or standard error. */
  onLine?: (line: string) => void;
}

/** Starts one tweetdb process; its output goes, line by line, to `onLine` (and is otherwise dropped). */
export function launchProcess(spec: LaunchSpec): ChildProcess {
  const proc = spawn(process.execPath, [...(spec.nodeArgs ?? []), BIN, ...spec.args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...spec.env },
  });
  const onLine = spec.onLine;
  for (const stream of [proc.stdout, proc.stderr]) {
    if (stream === null) continue;
    // Read even without a listener: a pipe nobody drains would stop the child once it fills.
    const lines = createInterface({ input: stream });
    if (onLine !== undefined) lines.on('line', onLine);
  }
  return proc;
}

/** The address a log line says its process listens on (the info-level "listening on" line), or null. */
export function listeningAddress(line: string): string | null {
  if (!line.includes('listening on')) return null;
  try {
    const rec = JSON.parse(line) as { address?: unknown };
    return typeof rec.address === 'string' ? rec.address : null;
  } catch {
    return null; // not a log record
  }
}

/** A tweetdb process that has logged that it listens. */
export interface NodeProc {
  name: string;
  args: string[];
  proc: ChildProcess;
  /** host:port it listens on, from its log. */
  address: string;
  /** Its output lines, oldest first, up to `maxLogLines`. */
  logs: string[];
  /** The environment it was given on top of this process's. */
  env: Record<string, string>;
}

export interface SpawnNodeOptions {
  nodeArgs?: string[];
  /** How long it gets to listen before the start counts as failed (LISTEN_TIMEOUT_MS by default). */
  timeoutMs?: number;
  /** Output lines kept in `logs` (the first ones; all by default): a long run keeps a bound. */
  maxLogLines?: number;
}

/**
 * Starts one tweetdb process at log level info (its "listening on" line carries the address: port 0
 * picks a free one, unless `env` sets another level) and resolves once it listens. Rejects, with
 * its output, if it exits first or does not listen within the timeout (it is then killed, so that
 * nothing the caller never got a handle on is left running).
 */
export function spawnNode(name: string, args: string[], env: Record<string, string> = {}, opts: SpawnNodeOptions = {}): Promise<NodeProc> {
  const timeoutMs = opts.timeoutMs ?? LISTEN_TIMEOUT_MS;
  const maxLogLines = opts.maxLogLines ?? Infinity;
  return new Promise((resolve, reject) => {
    // The line handler runs only once output arrives, after `node` and `timer` below are set.
    const proc = launchProcess({
      args,
      env: { TWEETDB_LOG_LEVEL: 'info', ...env },
      nodeArgs: opts.nodeArgs ?? [],
      onLine: (line) => {
        if (node.logs.length < maxLogLines) node.logs.push(line);
        if (node.address !== '') return;
        const address = listeningAddress(line);
        if (address !== null) {
          node.address = address;
          clearTimeout(timer);
          resolve(node);
        }
      },
    });
    const node: NodeProc = { name, args, proc, address: '', logs: [], env };
    const timer = setTimeout(() => {
      proc.kill('SIGKILL');
      reject(new Error(`${name} did not start listening within ${timeoutMs / 1000} s:\n${node.logs.join('\n')}`));
    }, timeoutMs);
    proc.once('exit', (code, sig) => {
      clearTimeout(timer);
      if (node.address === '') reject(new Error(`${name} exited (${sig ?? code}) before listening:\n${node.logs.join('\n')}`));
    });
  });
}

export function hasExited(p: ChildProcess): boolean {
  return p.exitCode !== null || p.signalCode !== null;
}

/** Resolves once `p` has exited (at once if it already has). */
export function waitExit(p: ChildProcess): Promise<void> {
  return hasExited(p) ? Promise.resolve() : new Promise((r) => p.once('exit', () => r()));
}

export interface StopOptions {
  /** How long after SIGTERM a process still running gets SIGKILL (never, by default). */
  graceMs?: number;
  /** After the SIGKILLs, how long to wait for the exits before returning regardless (for ever, by default). */
  killWaitMs?: number;
  /** Hears which processes are about to be killed, before the SIGKILLs. */
  beforeKill?: (stuck: ChildProcess[]) => void;
}

/**
 * Stops processes by PID: SIGTERM to each one still running, then SIGKILL to any still running
 * `graceMs` later. Resolves once all have exited, or `killWaitMs` after the SIGKILLs.
 */
export async function stopProcesses(procs: readonly ChildProcess[], opts: StopOptions = {}): Promise<void> {
  const live = procs.filter((p) => !hasExited(p));
  const exits = Promise.all(live.map(waitExit));
  for (const p of live) p.kill('SIGTERM');
  if (opts.graceMs === undefined) return void (await exits);
  if (await within(exits, opts.graceMs)) return;
  const stuck = live.filter((p) => !hasExited(p));
  opts.beforeKill?.(stuck);
  for (const p of stuck) p.kill('SIGKILL');
  if (opts.killWaitMs === undefined) await exits;
  else await within(exits, opts.killWaitMs);
}

/** Whether `p` settles within `ms`. */
async function within(p: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<boolean>((r) => (timer = setTimeout(() => r(false), ms)));
  try {
    return await Promise.race([p.then(() => true), late]);
  } finally {
    clearTimeout(timer);
  }
}
