// `tweetdb bench --compare postgres`: the post workload against PostgreSQL's
// own two-phase commit. Two throwaway local clusters (A and B) in a temp
// directory on loopback ports, fsync on; every client is its own transaction
// manager: INSERT + PREPARE TRANSACTION on both, a durable decision record on
// A, COMMIT PREPARED on both (pg-tm.ts). The same durability contract as
// tweetdb's post: acknowledged only once both copies and the decision are on
// disk.
//
// Decision records are forgotten in batches (one DELETE a second) once both
// COMMIT PREPAREDs returned, as tweetdb forgets a decision once every voter
// acknowledged it; the DELETE is an ordinary fsynced commit on A, running
// alongside the clients.

import { randomBytes } from 'node:crypto';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type pg from 'pg';
import { findPostgres, giveTo, initCluster, PgServer, serverSettings, serverUser, type PgEndpoint } from './pg-cluster.ts';
import { PgBenchError, asError } from './pg-errors.ts';
import { PairGuard } from './pg-guard.ts';
import { SCHEMA_DECISIONS, SCHEMA_TWEETS, FORGET_DECISIONS, closeClient, closeSession, commitPost, connectOne, makePost, openSession, preparedGids, resolveGid, type TmSession } from './pg-tm.ts';

export { findPostgres } from './pg-cluster.ts';
export type { PgEndpoint } from './pg-cluster.ts';
export { PgBenchError, PgMissingError, type PgBenchErrorCode } from './pg-errors.ts';

/** Clients per run are bounded: each costs two server processes. */
const MAX_CLIENTS = 1_000;
/** Decision records are deleted this often, in one batch. */
const FORGET_INTERVAL_MS = 1_000;
const PROGRESS_INTERVAL_MS = 1_000;
/** Between reconnect attempts of a client whose transaction failed. */
const RECONNECT_BACKOFF_MS = 200;
/** The end-of-run sweep retries a gid that is still busy (its PREPARE finishing on an abandoned connection). */
const SWEEP_ATTEMPTS = 3;
/** Distinct error messages logged per run; the rest are only counted. */
const ERROR_MESSAGES_LOGGED = 5;

export interface PgPostResult {
  system: 'postgres-2pc';
  concurrency: number;
  seconds: number;
  commits: number;
  /** Failed transactions over the whole run, warmup and drain included: none is hidden. */
  errors: number;
  commitsPerSec: number;
  p50Ms: number;
  p99Ms: number;
  p999Ms: number;
}

/** Two running clusters with the schema, for runPgPost. */
export interface PgPair {
  /** Holds the coordinator's decision log (tm_decisions) and a copy of the tweets. */
  readonly a: PgEndpoint;
  /** The other copy of the tweets. */
  readonly b: PgEndpoint;
  /** The most clients a run may use (the servers' connection and prepared-transaction limits fit this). */
  readonly maxClients: number;
  /** The temp directory holding both clusters; removed by withPostgresPair. */
  readonly dir: string;
  /** `SELECT version()` of the servers. */
  readonly version: string;
  /** The settings both servers run with (postgresql.conf), for the report. */
  readonly settings: Readonly<Record<string, string>>;
  /** Aborted by SIGINT/SIGTERM: a run stops and throws INTERRUPTED. */
  readonly signal: AbortSignal;
  readonly log: (line: string) => void;
}

function checkWhole(name: string, v: number, min: number, max: number): void {
  if (!Number.isInteger(v) || v < min || v > max) throw new PgBenchError('INVALID_ARGUMENT', `${name} must be a whole number from ${min} to ${max}, not ${v}`);
}

function interrupted(signal: AbortSignal): PgBenchError {
  return signal.reason instanceof PgBenchError ? signal.reason : new PgBenchError('INTERRUPTED', 'the PostgreSQL comparison was interrupted');
}

/** The tables: tweets on both clusters, the decision log on A. */
async function createSchema(a: PgEndpoint, b: PgEndpoint): Promise<string> {
  const s = await openSession(a, b, 'tweetdb-bench-setup');
  try {
    await Promise.all([s.a.query(SCHEMA_TWEETS), s.b.query(SCHEMA_TWEETS)]);
    await s.a.query(SCHEMA_DECISIONS);
    const r = await s.a.query<{ version: string }>('SELECT version() AS version');
    return r.rows[0]?.version ?? 'unknown';
  } catch (e) {
    throw new PgBenchError('POSTGRES_SETUP_FAILED', `creating the schema failed: ${asError(e).message}`, { cause: e });
  } finally {
    await closeSession(s);
  }
}

/** initdb and start both clusters; every spawned server is registered with the guard first. */
async function startPair(guard: PairGuard, maxClients: number): Promise<{ a: PgServer; b: PgServer; settings: Record<string, string> }> {
  const { binDir } = findPostgres();
  const runAs = serverUser();
  giveTo(guard.dir, runAs);
  const settings = serverSettings(maxClients);
  const start = async (name: string): Promise<PgServer> => {
    const dataDir = join(guard.dir, name);
    const password = randomBytes(18).toString('base64url');
    await initCluster(binDir, dataDir, password, settings, runAs, guard.signal);
    return PgServer.start(name, binDir, dataDir, password, runAs, guard.signal, (s) => guard.servers.push(s));
  };
  // allSettled, not all: if one fails, the other must have finished (and registered
  // any server it spawned) before cleanup runs, or it could start after it.
  const [a, b] = await Promise.allSettled([start('A'), start('B')]);
  if (a.status === 'rejected') throw a.reason;
  if (b.status === 'rejected') throw b.reason;
  return { a: a.value, b: b.value, settings };
}

/**
 * Creates two clusters in a fresh temp directory on free loopback ports
 * (fsync=on, synchronous_commit=on, full_page_writes=on,
 * max_prepared_transactions >= maxClients+8, max_connections to fit), starts
 * them, creates the schema, runs fn, and ALWAYS stops both servers and
 * removes the directory (also on error and on SIGINT during the run).
 */
export async function withPostgresPair<T>(maxClients: number, fn: (pair: PgPair) => Promise<T>, log: (line: string) => void = () => undefined): Promise<T> {
  checkWhole('maxClients', maxClients, 1, MAX_CLIENTS);
  findPostgres(); // Fail before creating anything when PostgreSQL is missing.
  const guard = new PairGuard(await mkdtemp(join(tmpdir(), 'tweetdb-pg-')), log);
  let outcome: { ok: true; value: T } | { ok: false; error: unknown };
  try {
    const { a, b, settings } = await startPair(guard, maxClients);
    const version = await createSchema(a.endpoint, b.endpoint);
    log(`PostgreSQL 2PC: clusters A (127.0.0.1:${a.endpoint.port}, pid ${a.pid}) and B (127.0.0.1:${b.endpoint.port}, pid ${b.pid}) in ${guard.dir}; ${version.split(' on ')[0]}`);
    log(`PostgreSQL settings: ${Object.entries(settings).filter(([k]) => !k.includes('socket') && k !== 'logging_collector').map(([k, v]) => `${k}=${v}`).join(', ')}`);
    outcome = { ok: true, value: await fn({ a: a.endpoint, b: b.endpoint, maxClients, dir: guard.dir, version, settings, signal: guard.signal, log }) };
  } catch (e) {
    const alreadySaid = e instanceof PgBenchError && e.code === 'INTERRUPTED';
    outcome = { ok: false, error: guard.interruptedBy !== null && !alreadySaid ? new PgBenchError('INTERRUPTED', `${guard.interruptedBy} during the PostgreSQL comparison`, { cause: e }) : e };
  }
  const problems = await guard.cleanup();
  for (const p of problems) log(`PostgreSQL cleanup: ${p}`);
  if (problems.length === 0) log(`PostgreSQL 2PC: both servers stopped, ${guard.dir} removed`);
  guard.reraise(); // After a signal with nobody else listening, this ends the process as the signal would have.
  if (!outcome.ok) throw outcome.error; // A cleanup problem (logged above) must not hide the original error.
  if (problems.length > 0) throw new PgBenchError('POSTGRES_CLEANUP_FAILED', problems.join('; '));
  return outcome.value;
}

/** Counters of one run, shared by its clients. */
class RunState {
  stopping = false;
  commits = 0;
  errors = 0;
  readonly latencies: number[] = [];
  /** gids committed on both clusters: their decision records may be forgotten. */
  readonly acknowledged: string[] = [];
  private readonly messages = new Set<string>();

  constructor(
    readonly id: string,
    readonly measureFrom: number,
    readonly measureTo: number,
    readonly pair: PgPair,
  ) {}

  get aborted(): boolean {
    return this.pair.signal.aborted;
  }

  /** A commit counts when it completes inside the measured window; its latency is from BEGIN to both COMMIT PREPAREDs done. */
  committed(gid: string, started: number, ended: number): void {
    this.acknowledged.push(gid);
    if (ended >= this.measureFrom && ended < this.measureTo) {
      this.commits++;
      this.latencies.push(ended - started);
    }
  }

  failed(e: unknown): void {
    this.errors++;
    if (this.aborted) return; // The servers are being stopped: these are expected.
    const msg = asError(e).message;
    if (this.messages.size < ERROR_MESSAGES_LOGGED && !this.messages.has(msg)) {
      this.messages.add(msg);
      this.pair.log(`PostgreSQL 2PC run ${this.id}: transaction failed (counted as an error, then rolled back or completed per the decision log): ${msg}`);
    }
  }
}

/**
 * After a failed transaction: drop the connections (the server rolls back
 * whatever was not prepared), reconnect, and resolve the gid by the decision
 * log. Returns null only when the run is over before a reconnect succeeded;
 * the end-of-run sweep then resolves the gid.
 */
async function recover(run: RunState, client: number, old: TmSession, gid: string): Promise<TmSession | null> {
  await closeSession(old);
  while (!run.stopping && !run.aborted) {
    let s: TmSession;
    try {
      s = await openSession(run.pair.a, run.pair.b, `tweetdb-bench-${client}`);
    } catch (e) {
      run.pair.log(`PostgreSQL 2PC: client ${client} could not reconnect (${asError(e).message}); retrying in ${RECONNECT_BACKOFF_MS} ms`);
      await sleep(RECONNECT_BACKOFF_MS);
      continue;
    }
    try {
      // Committed by recovery: both voters now have it, so its decision may be forgotten too.
      if ((await resolveGid(s.a, s.b, gid)) === 'committed') run.acknowledged.push(gid);
    } catch (e) {
      run.pair.log(`PostgreSQL 2PC: could not resolve ${gid} now (${asError(e).message}); the end-of-run sweep will`);
    }
    return s;
  }
  return null;
}

/** One closed-loop client: post after post until the run stops. */
async function clientLoop(run: RunState, client: number, first: TmSession): Promise<void> {
  let session: TmSession | null = first;
  for (let k = 0; session !== null && !run.stopping; k++) {
    const post = makePost(run.id, client, k);
    const started = performance.now();
    try {
      await commitPost(session, post);
      run.committed(post.gid, started, performance.now());
    } catch (e) {
      run.failed(e);
      session = run.aborted ? session : await recover(run, client, session, post.gid);
    }
  }
  if (session !== null) await closeSession(session);
}

/** Deletes acknowledged decision records in batches, off the clients' path. */
class DecisionJanitor {
  private chain: Promise<void> = Promise.resolve();
  private readonly timer: NodeJS.Timeout;
  private lastError: string | null = null;

  constructor(
    private readonly client: pg.Client,
    private readonly run: RunState,
  ) {
    this.timer = setInterval(() => this.kick(), FORGET_INTERVAL_MS);
  }

  private kick(): void {
    this.chain = this.chain.then(() => this.flush());
  }

  private async flush(): Promise<void> {
    const gids = this.run.acknowledged.splice(0);
    if (gids.length === 0 || this.run.aborted) return;
    try {
      await this.client.query({ name: 'tm-forget', text: FORGET_DECISIONS, values: [gids] });
    } catch (e) {
      this.run.acknowledged.push(...gids); // Kept for the next batch.
      this.lastError = asError(e).message;
    }
  }

  /** The last batch, after the clients have finished; reports records it could not delete (harmless but not hidden). */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.kick();
    await this.chain;
    const left = this.run.acknowledged.length;
    if (left > 0 && !this.run.aborted) this.run.pair.log(`PostgreSQL 2PC: ${left} decision records on A could not be forgotten (${this.lastError}); they only take space`);
    await closeClient(this.client);
  }
}

/**
 * The end of a run: any prepared transaction of the run still on a cluster
 * (its client's recovery failed or raced an abandoned PREPARE) is committed or
 * rolled back by the decision log, so the next run starts clean.
 */
async function sweep(run: RunState): Promise<void> {
  const prefix = makePost(run.id, 0, 0).gid.replace(/c0-0$/, '');
  let s: TmSession;
  try {
    s = await openSession(run.pair.a, run.pair.b, 'tweetdb-bench-sweep');
  } catch (e) {
    throw new PgBenchError('POSTGRES_RECOVERY_FAILED', `could not connect to check for prepared transactions left by run ${run.id}: ${asError(e).message}`, { cause: e });
  }
  try {
    let left: string[] = [];
    for (let attempt = 1; attempt <= SWEEP_ATTEMPTS; attempt++) {
      left = [...new Set([...(await preparedGids(s.a, prefix)), ...(await preparedGids(s.b, prefix))])];
      if (left.length === 0) return;
      const outcomes = await Promise.allSettled(left.map((gid) => resolveGid(s.a, s.b, gid)));
      const done = outcomes.filter((o) => o.status === 'fulfilled').length;
      // The janitor has stopped: forget the decisions of the ones committed here ourselves.
      const committed = left.filter((_, i) => outcomes[i]?.status === 'fulfilled' && outcomes[i].value === 'committed');
      if (committed.length > 0) await s.a.query(FORGET_DECISIONS, [committed]);
      run.pair.log(`PostgreSQL 2PC: resolved ${done} of ${left.length} transactions left prepared by run ${run.id}`);
      await sleep(500);
    }
    if (left.length > 0) {
      throw new PgBenchError('POSTGRES_RECOVERY_FAILED', `${left.length} prepared transactions of run ${run.id} could not be resolved (first: ${left[0]}); the next run may hit max_prepared_transactions`);
    }
  } catch (e) {
    if (e instanceof PgBenchError) throw e;
    throw new PgBenchError('POSTGRES_RECOVERY_FAILED', `checking for prepared transactions left by run ${run.id} failed: ${asError(e).message}`, { cause: e });
  } finally {
    await closeSession(s);
  }
}

/** Sessions opened at once: each costs a backend fork and a SCRAM exchange, and 2 cores do a few at a time. */
const OPEN_AT_ONCE = 16;

/** Opens every client's connections before the clock starts, a few at a time; all or none. */
async function openSessions(pair: PgPair, concurrency: number): Promise<TmSession[]> {
  const opened: PromiseSettledResult<TmSession>[] = [];
  for (let from = 0; from < concurrency; from += OPEN_AT_ONCE) {
    const ids = Array.from({ length: Math.min(OPEN_AT_ONCE, concurrency - from) }, (_, k) => from + k);
    opened.push(...(await Promise.allSettled(ids.map((i) => openSession(pair.a, pair.b, `tweetdb-bench-${i}`)))));
  }
  const sessions = opened.flatMap((o) => (o.status === 'fulfilled' ? [o.value] : []));
  const failure = opened.find((o): o is PromiseRejectedResult => o.status === 'rejected');
  if (failure === undefined) return sessions;
  await Promise.all(sessions.map(closeSession));
  throw new PgBenchError('POSTGRES_SETUP_FAILED', `could not open ${concurrency} client connections to each cluster: ${asError(failure.reason).message}`, { cause: failure.reason });
}

/** Nearest-rank percentile of an ascending array, in ms with 2 decimals (NaN with no samples). */
function percentileMs(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return NaN;
  const v = sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))] ?? NaN;
  return Math.round(v * 100) / 100;
}

let runCount = 0;

/**
 * The post workload at one concurrency for `seconds` (after `warmupSeconds`
 * not counted): `concurrency` closed-loop clients, each with its own
 * connection to each cluster, each acting as the transaction manager.
 */
export async function runPgPost(pair: PgPair, concurrency: number, seconds: number, warmupSeconds: number, onProgress?: (commitsSoFar: number) => void): Promise<PgPostResult> {
  checkWhole('concurrency', concurrency, 1, pair.maxClients);
  if (!(seconds > 0 && seconds <= 86_400)) throw new PgBenchError('INVALID_ARGUMENT', `seconds must be more than 0 and at most 86400, not ${seconds}`);
  if (!(warmupSeconds >= 0 && warmupSeconds <= 86_400)) throw new PgBenchError('INVALID_ARGUMENT', `warmupSeconds must be from 0 to 86400, not ${warmupSeconds}`);
  if (pair.signal.aborted) throw interrupted(pair.signal);

  const sessions = await openSessions(pair, concurrency);
  let janitorClient: pg.Client;
  try {
    janitorClient = await connectOne(pair.a, 'tweetdb-bench-janitor');
  } catch (e) {
    await Promise.all(sessions.map(closeSession));
    throw new PgBenchError('POSTGRES_SETUP_FAILED', `could not open the decision janitor's connection to cluster A: ${asError(e).message}`, { cause: e });
  }
  // The clock starts once everyone is connected.
  const t0 = performance.now();
  const run = new RunState(`r${++runCount}`, t0 + warmupSeconds * 1000, t0 + (warmupSeconds + seconds) * 1000, pair);
  const janitor = new DecisionJanitor(janitorClient, run);
  const onAbort = (): void => {
    // Unblock the clients at once: their queries fail, the loops see `aborted`.
    run.stopping = true;
    for (const s of sessions) void closeSession(s);
  };
  pair.signal.addEventListener('abort', onAbort, { once: true });
  const progress = setInterval(() => onProgress?.(run.commits), PROGRESS_INTERVAL_MS);
  try {
    const loops = sessions.map((s, i) => clientLoop(run, i, s));
    await sleep(run.measureTo - performance.now(), undefined, { signal: pair.signal }).catch(() => undefined);
    run.stopping = true;
    await Promise.all(loops);
  } finally {
    clearInterval(progress);
    pair.signal.removeEventListener('abort', onAbort);
    await janitor.stop();
  }
  if (pair.signal.aborted) throw interrupted(pair.signal);
  await sweep(run);
  onProgress?.(run.commits);
  const sorted = Float64Array.from(run.latencies).sort();
  return {
    system: 'postgres-2pc',
    concurrency,
    seconds: Math.round(seconds * 100) / 100,
    commits: run.commits,
    errors: run.errors,
    commitsPerSec: Math.round(run.commits / seconds),
    p50Ms: percentileMs(sorted, 0.5),
    p99Ms: percentileMs(sorted, 0.99),
    p999Ms: percentileMs(sorted, 0.999),
  };
}
