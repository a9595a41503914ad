// The client-side transaction manager of the comparison: one post as a
// two-phase commit over clusters A and B with PostgreSQL's PREPARE
// TRANSACTION, the decision logged durably on A (the coordinator's log), and
// presumed-abort recovery of a transaction that failed part-way.

import pg from 'pg';
import type { PgEndpoint } from './pg-cluster.ts';
import { asError } from './pg-errors.ts';

/** Server-side limit on each statement; a stuck one fails instead of stalling the run. */
const STATEMENT_TIMEOUT_MS = 5_000;
/** Client-side limit on each query, should the server not answer at all. */
const QUERY_TIMEOUT_MS = 10_000;
const CONNECT_TIMEOUT_MS = 5_000;
const CLOSE_TIMEOUT_MS = 2_000;

export const SCHEMA_TWEETS = `CREATE TABLE tweets (
  id text PRIMARY KEY,
  username text NOT NULL,
  content text NOT NULL,
  created_at bigint NOT NULL
)`;
/** The coordinator's log, on A only: a row means "commit"; no row means abort (presumed abort). */
export const SCHEMA_DECISIONS = `CREATE TABLE tm_decisions (
  gid text PRIMARY KEY,
  decided_at bigint NOT NULL
)`;

// Named queries: parsed and planned once per connection, then only bound and executed.
const INSERT_TWEET = 'INSERT INTO tweets (id, username, content, created_at) VALUES ($1, $2, $3, $4)';
const INSERT_DECISION = 'INSERT INTO tm_decisions (gid, decided_at) VALUES ($1, $2)';
const FIND_DECISION = 'SELECT 1 FROM tm_decisions WHERE gid = $1';
const FIND_PREPARED = 'SELECT 1 FROM pg_prepared_xacts WHERE gid = $1';
export const FORGET_DECISIONS = 'DELETE FROM tm_decisions WHERE gid = ANY($1::text[])';

/** One post: the tweet and the global transaction id naming it on both clusters. */
export interface Post {
  readonly id: string;
  readonly gid: string;
  readonly username: string;
  readonly content: string;
  readonly createdAt: number;
}

/** A client's connections: one to each cluster. */
export interface TmSession {
  readonly a: pg.Client;
  readonly b: pg.Client;
}

/** The tweet of client `client`'s `k`-th post in run `run`: a unique id, a ~40-character text. */
export function makePost(run: string, client: number, k: number): Post {
  const id = `${run}-c${client}-${k}`;
  return {
    id,
    gid: `tweetdb-${id}`,
    username: `bench${client}`,
    content: `post ${k} from bench${client}, hello world`.padEnd(40, '.'),
    createdAt: Date.now(),
  };
}

/**
 * PREPARE TRANSACTION and COMMIT PREPARED take the gid as a literal, not a
 * parameter; ours are generated, and this keeps it that way.
 */
function gidLiteral(gid: string): string {
  if (!/^[A-Za-z0-9_.-]{1,180}$/.test(gid)) throw new Error(`refusing gid ${JSON.stringify(gid)}: only [A-Za-z0-9_.-], at most 180 characters`);
  return `'${gid}'`;
}

/** One connection with our limits. */
export async function connectOne(endpoint: PgEndpoint, name: string): Promise<pg.Client> {
  const client = new pg.Client({
    ...endpoint,
    application_name: name,
    connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
    statement_timeout: STATEMENT_TIMEOUT_MS,
    query_timeout: QUERY_TIMEOUT_MS,
    // A client that dies mid-transaction must not hold its locks for long.
    idle_in_transaction_session_timeout: 30_000,
  });
  // Without a listener an error on an idle connection (say, the server stopping)
  // would crash the process; the next query on it fails and is handled there.
  client.on('error', () => undefined);
  await client.connect();
  return client;
}

/** Connects one client's pair of connections. */
export async function openSession(a: PgEndpoint, b: PgEndpoint, name: string): Promise<TmSession> {
  const [ra, rb] = await Promise.allSettled([connectOne(a, `${name}-a`), connectOne(b, `${name}-b`)]);
  if (ra.status === 'fulfilled' && rb.status === 'fulfilled') return { a: ra.value, b: rb.value };
  // One side failed: close the other, report the failure.
  for (const r of [ra, rb]) if (r.status === 'fulfilled') await closeClient(r.value);
  const failed = ra.status === 'rejected' ? ra.reason : rb.status === 'rejected' ? rb.reason : null;
  throw asError(failed);
}

/** Ends a connection; never throws and never waits longer than CLOSE_TIMEOUT_MS. */
export async function closeClient(client: pg.Client): Promise<void> {
  const timeout = new Promise<void>((resolve) => setTimeout(resolve, CLOSE_TIMEOUT_MS).unref());
  await Promise.race([client.end().catch(() => undefined), timeout]);
}

export async function closeSession(s: TmSession): Promise<void> {
  await Promise.all([closeClient(s.a), closeClient(s.b)]);
}

/** Waits for both (so nothing is left in flight on either connection), then throws the first failure. */
async function both(x: Promise<unknown>, y: Promise<unknown>): Promise<void> {
  const [rx, ry] = await Promise.allSettled([x, y]);
  if (rx.status === 'rejected') throw asError(rx.reason);
  if (ry.status === 'rejected') throw asError(ry.reason);
}

/** Phase one on one cluster: the insert inside a transaction, then PREPARE TRANSACTION (fsynced, a "yes" vote). */
async function prepareOn(c: pg.Client, p: Post): Promise<void> {
  await c.query('BEGIN');
  await c.query({ name: 'post-tweet', text: INSERT_TWEET, values: [p.id, p.username, p.content, p.createdAt] });
  await c.query(`PREPARE TRANSACTION ${gidLiteral(p.gid)}`);
}

/**
 * One post as a two-phase commit, the client acting as the transaction
 * manager: prepare on both (concurrently), log the decision durably on A (an
 * autocommit INSERT, so fsynced before anyone learns the outcome), then
 * COMMIT PREPARED on both (concurrently). Throws on any failure, leaving the
 * outcome to resolveGid.
 */
export async function commitPost(s: TmSession, p: Post): Promise<void> {
  await both(prepareOn(s.a, p), prepareOn(s.b, p));
  await s.a.query({ name: 'tm-decide', text: INSERT_DECISION, values: [p.gid, Date.now()] });
  const commit = `COMMIT PREPARED ${gidLiteral(p.gid)}`;
  await both(s.a.query(commit), s.b.query(commit));
}

/**
 * Presumed-abort recovery of `gid` on connections that are not in a
 * transaction (fresh ones): where A holds a decision record, COMMIT PREPARED
 * wherever the gid is still prepared; otherwise ROLLBACK PREPARED. Both
 * clusters always go the same way. A decision INSERT still running on a
 * connection we abandoned can land after we rolled back; that leaves a stale
 * record, never a split outcome, because nobody commits without reading it
 * here first or writing it themselves.
 */
export async function resolveGid(a: pg.Client, b: pg.Client, gid: string): Promise<'committed' | 'rolled back'> {
  const decided = ((await a.query({ name: 'tm-find-decision', text: FIND_DECISION, values: [gid] })).rowCount ?? 0) > 0;
  const verb = decided ? 'COMMIT PREPARED' : 'ROLLBACK PREPARED';
  for (const c of [a, b]) {
    const prepared = ((await c.query({ name: 'tm-find-prepared', text: FIND_PREPARED, values: [gid] })).rowCount ?? 0) > 0;
    if (prepared) await c.query(`${verb} ${gidLiteral(gid)}`);
  }
  return decided ? 'committed' : 'rolled back';
}

/** The gids of prepared transactions on `c` whose name starts with `prefix` (the end-of-run sweep). */
export async function preparedGids(c: pg.Client, prefix: string): Promise<string[]> {
  const r = await c.query<{ gid: string }>('SELECT gid FROM pg_prepared_xacts WHERE starts_with(gid, $1) ORDER BY gid', [prefix]);
  return r.rows.map((row) => row.gid);
}
