// The chaos run: a real cluster on loopback under load from many clients, with
// a node (coordinator or worker) killed with SIGKILL every few seconds and
// restarted on the same data directory; then everything is healed and checked.
// Which node dies when, and for how long, comes from one seeded PRNG, so a
// run's schedule can be replayed with its seed (its timing cannot: real processes).
// It reports write availability: the share of its whole seconds in which a write committed.
//
// Used by `npm run chaos` (scripts/chaos.ts) and test/integration/chaos.test.ts.

import type { ChildProcess } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { Prng } from '../sim/prng.ts';
import { Load } from '../src/check/load.ts';
import { LocalCluster } from '../src/launch/cluster.ts';
import { eventually } from '../src/launch/eventually.ts';
import type { NodeProc } from '../src/launch/processes.ts';

export interface ChaosOptions {
  /** Length of the chaos phase, from the start of the load. */
  seconds: number;
  workers: number;
  clients: number;
  lockTimeoutS: number;
  /** The coordinator's --evict-after in seconds; absent: its default. */
  evictAfterS?: number;
  seed: number;
  /** Where progress lines go. */
  log?: (line: string) => void;
  /** Ends the run early (Ctrl-C): every process is stopped at once and nothing is checked. */
  signal?: AbortSignal;
}

export interface KillRecord {
  node: string;
  pid: number | undefined;
  /** Milliseconds since the load started. */
  atMs: number;
  /** Time from the kill until the restarted process listened again. */
  downMs: number;
}

export interface ChaosSummary {
  seed: number;
  seconds: number;
  workers: number;
  clients: number;
  lockTimeoutS: number;
  /** The coordinator's --evict-after, in seconds; null: its default. */
  evictAfterS: number | null;
  /** Measured length of the chaos phase (load start to the last restart, or to the deadline). */
  durationMs: number;
  kills: KillRecord[];
  killsByNode: Record<string, number>;
  /** Writes acknowledged OK. */
  commits: number;
  commitsBeforeFirstKill: number;
  commitsAfterLastRestart: number;
  /** Writes that did not commit, by code (ABORT and ERROR replies). */
  aborts: Record<string, number>;
  /** Writes whose connection died before the reply. */
  unknown: number;
  /**
   * Write availability: of the whole seconds from the start of the load to the end of the chaos,
   * the share (0 to 1) in which at least one write was acknowledged OK; null when the load ran
   * for less than a second.
   */
  writeAvailability: number | null;
  /** OK replies to writes in each of those whole seconds, in order. */
  okPerSecond: number[];
  /** Acknowledged writes that are not readable after healing (must be empty). */
  lostWrites: string[];
  converged: boolean;
  /** From the end of the chaos (every node running again) to identical copies with nothing in doubt. */
  convergeMs: number | null;
  /** From the end of the chaos until status showed every worker up. */
  allUpMs: number | null;
  inDoubt: unknown[];
  /** How long reading back every id the load wrote took. */
  verifyMs: number | null;
  maxLatencyMs: number;
  /** Processes that exited without being killed by the run. */
  unexpectedExits: string[];
  /** Log lines at level error (50) or fatal (60), from every process the run started. */
  errorLogLines: string[];
  /** ERROR replies to writes (a malformed request or INTERNAL): none are expected. */
  errorReplies: string[];
  problems: string[];
  ok: boolean;
}

const HOT_IDS = ['hot-1', 'hot-2', 'hot-3'];
const CONVERGE_TIMEOUT_MS = 60_000;
// A write must be answered within the lock timeout "plus a moment" (README, Guarantees); the
// moment is generous because this machine may be running other suites at the same time.
const HANG_SLACK_MS = 5_000;

export async function runChaos(opts: ChaosOptions): Promise<ChaosSummary> {
  const log = opts.log ?? ((line: string) => console.log(line));
  const signal = opts.signal;
  // A sleep that an interrupt cuts short, then ends the run (the finally below stops every process).
  const pause = async (ms: number): Promise<void> => {
    if (ms > 0 && signal?.aborted !== true) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, ms);
        function done(): void {
          clearTimeout(timer);
          signal?.removeEventListener('abort', done);
          resolve();
        }
        signal?.addEventListener('abort', done, { once: true });
      });
    }
    if (signal?.aborted === true) throw new Interrupted();
  };
  // A wait that only polls (never starts a process) may be abandoned on an interrupt.
  const orInterrupt = <T>(p: Promise<T>): Promise<T> => {
    if (signal === undefined) return p;
    p.catch(() => undefined);
    return Promise.race([p, new Promise<never>((_, reject) => {
      if (signal.aborted) reject(new Interrupted());
      signal.addEventListener('abort', () => reject(new Interrupted()), { once: true });
    })]);
  };
  const prng = new Prng(opts.seed);
  const problems: string[] = [];
  const unexpectedExits: string[] = [];
  const everyNode: NodeProc[] = [];
  const killedOnPurpose = new Set<ChildProcess>();
  let stopping = false;
  const kills: KillRecord[] = [];

  // Any exit the run did not cause (an invariant failure exits 70, storage 74) is a bug to report.
  const watch = (n: NodeProc): NodeProc => {
    everyNode.push(n);
    n.proc.once('exit', (code, sig) => {
      // On an interrupt from a terminal the whole process group gets SIGINT: not the product's doing.
      if (stopping || killedOnPurpose.has(n.proc) || signal?.aborted === true) return;
      const tail = n.logs.slice(-5).join('\n    ');
      unexpectedExits.push(`${n.name} (pid ${n.proc.pid}) exited by itself (${sig ?? `code ${code}`}); last log lines:\n    ${tail}`);
    });
    return n;
  };

  const cluster = await LocalCluster.start({ workers: opts.workers, lockTimeout: opts.lockTimeoutS, ...(opts.evictAfterS !== undefined ? { evictAfter: opts.evictAfterS } : {}) });
  const t0 = Date.now();
  const elapsed = (): string => `[${((Date.now() - t0) / 1000).toFixed(1).padStart(5)} s]`;
  let load: Load | null = null;
  let durationMs = 0;
  let commitsBeforeFirstKill = 0;
  let commitsAtLastRestart = 0;
  let convergeMs: number | null = null;
  let allUpMs: number | null = null;
  let converged = false;
  let lostWrites: string[] = [];
  let inDoubt: unknown[] = [];
  let verifyMs: number | null = null;
  // OK replies per second from the start of the load. Bounded: the chaos phase ends at the deadline,
  // or after the restart under way then (within a minute); seconds past that are not counted.
  const okPerSecond: number[] = new Array<number>(opts.seconds + 60).fill(0);
  let loadStartedAt: number | null = null;
  let chaosEndedAt: number | null = null;
  try {
    for (const n of [cluster.coordinator, ...cluster.workers]) watch(n);
    for (const id of HOT_IDS) {
      const r = await cluster.request({ action: 'post', tweet: { id, username: 'shared', content: 'start' } });
      if (r.status !== 'OK') throw new Error(`could not create ${id}: ${JSON.stringify(r)}`);
    }
    log(`${elapsed()} cluster up: coordinator ${cluster.address}, ${opts.workers} workers; ${opts.clients} clients, lock timeout ${opts.lockTimeoutS} s, ${evictText(opts.evictAfterS ?? null)}, seed ${opts.seed}`);

    const l = new Load({
      address: () => cluster.address,
      clients: opts.clients,
      hotIds: HOT_IDS,
      // Longer than any promised answer time, so a hang shows as a slow reply rather than being cut short.
      requestTimeoutMs: 60_000,
      onReply: (outcome, at) => {
        if (outcome !== 'OK' || loadStartedAt === null || chaosEndedAt !== null) return;
        const second = Math.floor((at - loadStartedAt) / 1000);
        if (second < okPerSecond.length) okPerSecond[second] = (okPerSecond[second] ?? 0) + 1;
      },
    });
    load = l;
    loadStartedAt = Date.now();
    l.start();
    // The first kill waits for the cluster to have proven it commits at all.
    await orInterrupt(eventually(async () => l.acked > 0, 30_000, 'a first commit before any kill'));

    const deadline = t0 + opts.seconds * 1000;
    const nodes = (): NodeProc[] => [cluster.coordinator, ...cluster.workers];
    // The first two victims are one coordinator and one worker, in a seeded order, so that a
    // run of a few seconds is sure to exercise both kinds of crash; later ones are uniform.
    const coordinatorFirst = prng.chance(0.5);
    let lastKillAt = Date.now();
    let lastUpAt = Date.now();
    for (let k = 0; ; k++) {
      const intervalMs = prng.int(1500, 4000);
      const downMs = prng.int(300, 2000);
      const victimIndex = k === 0 ? (coordinatorFirst ? 0 : prng.int(1, opts.workers))
        : k === 1 ? (coordinatorFirst ? prng.int(1, opts.workers) : 0)
        : prng.int(0, opts.workers);
      // Kills are intervalMs apart, but a restarted node gets a moment to come back first.
      const killAt = Math.max(lastKillAt + intervalMs, lastUpAt + 500);
      if (killAt > deadline) break;
      await pause(killAt - Date.now());
      // Never two nodes down at once: one that died by itself (already a problem) comes back first.
      for (const n of nodes()) {
        if (n.proc.exitCode !== null || n.proc.signalCode !== null) {
          log(`${elapsed()} ${n.name} is not running; starting it again before the next kill`);
          killedOnPurpose.add(n.proc);
          watch(await restartWithRetry(cluster, n, log, elapsed));
        }
      }
      const victim = nodes()[victimIndex] as NodeProc;
      if (k === 0) commitsBeforeFirstKill = l.acked;
      killedOnPurpose.add(victim.proc);
      const killedAt = Date.now();
      lastKillAt = killedAt;
      await cluster.kill(victim);
      log(`${elapsed()} kill -9 ${victim.name} (pid ${victim.proc.pid}); down for ${downMs} ms; commits so far ${l.acked}`);
      await pause(downMs);
      const fresh = await restartWithRetry(cluster, victim, log, elapsed);
      watch(fresh);
      lastUpAt = Date.now();
      commitsAtLastRestart = l.acked;
      kills.push({ node: victim.name, pid: victim.proc.pid, atMs: killedAt - t0, downMs: lastUpAt - killedAt });
      log(`${elapsed()} restarted ${victim.name} (pid ${fresh.proc.pid}) after ${lastUpAt - killedAt} ms; commits so far ${l.acked}`);
    }
    await pause(deadline - Date.now());
    durationMs = Date.now() - t0;
    chaosEndedAt = Date.now();
    const healedAt = Date.now();

    // Heal: every node running (one that died by itself is started again so the copies can still be checked).
    for (const n of nodes()) {
      if (n.proc.exitCode !== null || n.proc.signalCode !== null) {
        log(`${elapsed()} ${n.name} is not running; starting it again`);
        killedOnPurpose.add(n.proc);
        watch(await restartWithRetry(cluster, n, log, elapsed));
      }
    }
    try {
      await orInterrupt(cluster.waitAllUp(opts.workers, CONVERGE_TIMEOUT_MS));
      allUpMs = Date.now() - healedAt;
      log(`${elapsed()} every worker up ${allUpMs} ms after the chaos ended`);
    } catch (e) {
      if (e instanceof Interrupted) throw e;
      problems.push(`workers not all up within ${CONVERGE_TIMEOUT_MS / 1000} s of healing: ${(e as Error).message}`);
    }
    // Keep the load on until the healed cluster commits again, to show it does.
    try {
      await orInterrupt(eventually(async () => l.acked > commitsAtLastRestart, 30_000, 'a commit after the last restart'));
    } catch (e) {
      if (e instanceof Interrupted) throw e;
      // Otherwise reported below from the count.
    }
    await l.stop();
    await pause(0);
    log(`${elapsed()} load stopped: ${l.acked} commits, ${l.unknown} unknown`);

    try {
      await orInterrupt(cluster.waitConverged(CONVERGE_TIMEOUT_MS));
      convergeMs = Date.now() - healedAt;
      converged = true;
      log(`${elapsed()} converged ${convergeMs} ms after the chaos ended`);
    } catch (e) {
      if (e instanceof Interrupted) throw e;
      problems.push(`copies did not converge within ${CONVERGE_TIMEOUT_MS / 1000} s: ${(e as Error).message}`);
    }
    const verifyFrom = Date.now();
    lostWrites = await orInterrupt(l.verify(cluster.address));
    verifyMs = Date.now() - verifyFrom;
    inDoubt = (await cluster.status()).in_doubt as unknown[];
    log(`${elapsed()} verified ${l.owned.size + l.hot.size} ids in ${verifyMs} ms: ${lostWrites.length} acknowledged write(s) missing`);
  } catch (e) {
    problems.push(e instanceof Interrupted ? 'interrupted: nothing was checked' : `the run failed: ${(e as Error).stack ?? String(e)}`);
  } finally {
    if (durationMs === 0) durationMs = Date.now() - t0;
    if (load !== null) await load.stop();
    stopping = true;
    await cluster.stop();
  }

  const aborts: Record<string, number> = {};
  for (const [code, n] of [...(load?.codes ?? new Map<string, number>())].sort()) {
    if (code !== 'OK' && code !== 'UNKNOWN') aborts[code] = n;
  }
  const killsByNode: Record<string, number> = {};
  for (const k of kills) killsByNode[k.node] = (killsByNode[k.node] ?? 0) + 1;
  const errorLogLines: string[] = [];
  const fatalLogLines: string[] = [];
  for (const n of everyNode) {
    for (const line of n.logs) {
      const level = logLevel(line);
      if (level !== null && level >= 50) errorLogLines.push(`${n.name} (pid ${n.proc.pid}): ${line}`);
      if (level !== null && level >= 60) fatalLogLines.push(`${n.name} (pid ${n.proc.pid}): ${line}`);
    }
  }
  const commits = load?.acked ?? 0;
  // Only whole seconds count: the last, cut short by the end of the chaos, would understate it.
  const wholeSeconds = loadStartedAt === null ? 0 : Math.min(okPerSecond.length, Math.floor(((chaosEndedAt ?? Date.now()) - loadStartedAt) / 1000));
  const measured = okPerSecond.slice(0, wholeSeconds);
  const writeAvailability = wholeSeconds === 0 ? null : measured.filter((n) => n > 0).length / wholeSeconds;
  const maxLatencyMs = load?.maxLatencyMs ?? 0;
  const errorReplies = load?.errors ?? [];

  if (lostWrites.length > 0) problems.push(`${lostWrites.length} acknowledged write(s) lost:\n    ${lostWrites.slice(0, 20).join('\n    ')}`);
  if (inDoubt.length > 0) problems.push(`in_doubt is not empty: ${JSON.stringify(inDoubt)}`);
  for (const u of unexpectedExits) problems.push(u);
  for (const line of fatalLogLines) problems.push(`fatal log line: ${line}`);
  for (const r of errorReplies) problems.push(`ERROR reply to a write: ${r}`);
  if (maxLatencyMs > opts.lockTimeoutS * 1000 + HANG_SLACK_MS) problems.push(`a write hung: the slowest reply took ${maxLatencyMs} ms (lock timeout ${opts.lockTimeoutS} s)`);
  if (commits > 0 && kills.length > 0 && commits <= commitsAtLastRestart) problems.push('no write committed after the last restart');

  return {
    seed: opts.seed,
    seconds: opts.seconds,
    workers: opts.workers,
    clients: opts.clients,
    lockTimeoutS: opts.lockTimeoutS,
    evictAfterS: opts.evictAfterS ?? null,
    durationMs,
    kills,
    killsByNode,
    commits,
    commitsBeforeFirstKill,
    commitsAfterLastRestart: Math.max(0, commits - commitsAtLastRestart),
    aborts,
    unknown: load?.unknown ?? 0,
    writeAvailability,
    okPerSecond: measured,
    lostWrites,
    converged,
    convergeMs,
    allUpMs,
    inDoubt,
    verifyMs,
    maxLatencyMs,
    unexpectedExits,
    errorLogLines,
    errorReplies,
    problems,
    ok: problems.length === 0,
  };
}

class Interrupted extends Error {
  constructor() {
    super('interrupted');
  }
}

/**
 * Restarts a killed node on its port and data directory. A few attempts: in the moment the node
 * is down another socket on this machine may take its ephemeral port (EADDRINUSE), which says
 * nothing about tweetdb.
 */
async function restartWithRetry(cluster: LocalCluster, node: NodeProc, log: (line: string) => void, elapsed: () => string): Promise<NodeProc> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await cluster.restart(node);
    } catch (e) {
      if (attempt >= 3) throw e;
      log(`${elapsed()} restart of ${node.name} failed (attempt ${attempt}), retrying: ${(e as Error).message.split('\n')[0]}`);
      await sleep(500);
    }
  }
}

function evictText(evictAfterS: number | null): string {
  return evictAfterS === null ? 'evict after the coordinator\'s default' : `evict after ${evictAfterS} s`;
}

function logLevel(line: string): number | null {
  if (!line.startsWith('{')) return null;
  try {
    const rec = JSON.parse(line) as { level?: unknown };
    return typeof rec.level === 'number' ? rec.level : null;
  } catch {
    return null;
  }
}

/** The summary as an aligned two-column table, then the problems, if any. */
export function formatSummary(s: ChaosSummary): string {
  const rows: [string, string][] = [
    ['seed', String(s.seed)],
    ['duration', `${(s.durationMs / 1000).toFixed(1)} s (asked ${s.seconds} s)`],
    ['cluster', `coordinator + ${s.workers} workers, ${s.clients} clients, lock timeout ${s.lockTimeoutS} s, ${evictText(s.evictAfterS)}`],
    ['kills', `${s.kills.length} (${Object.entries(s.killsByNode).map(([n, k]) => `${n} ${k}`).join(', ') || 'none'})`],
    ['commits acknowledged', `${s.commits} (before the first kill ${s.commitsBeforeFirstKill}, after the last restart ${s.commitsAfterLastRestart})`],
    ['aborts by code', Object.entries(s.aborts).map(([c, n]) => `${c} ${n}`).join(', ') || 'none'],
    ['unknown outcomes', String(s.unknown)],
    [
      'write availability',
      s.writeAvailability === null
        ? 'not measured (the load ran less than a second)'
        : `${(s.writeAvailability * 100).toFixed(1)}% (${s.okPerSecond.filter((n) => n > 0).length} of ${s.okPerSecond.length} whole seconds with a write acknowledged)`,
    ],
    ['slowest reply', `${s.maxLatencyMs} ms`],
    ['lost acknowledged writes', String(s.lostWrites.length)],
    ['in doubt after healing', String(s.inDoubt.length)],
    ['every worker up after healing', s.allUpMs === null ? 'no' : `${s.allUpMs} ms`],
    ['time to converge after healing', s.convergeMs === null ? 'did not converge' : `${s.convergeMs} ms`],
    ['error log lines', String(s.errorLogLines.length)],
    ['result', s.ok ? 'PASS' : 'FAIL'],
  ];
  const w = Math.max(...rows.map(([k]) => k.length));
  const out = rows.map(([k, v]) => `  ${k.padEnd(w)}  ${v}`);
  if (s.errorLogLines.length > 0) out.push('', 'error log lines:', ...s.errorLogLines.slice(0, 20).map((l) => `  ${l}`));
  if (s.problems.length > 0) out.push('', 'problems:', ...s.problems.map((p) => `  - ${p}`));
  return out.join('\n');
}
