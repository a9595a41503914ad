// `tweetdb start`: a whole local cluster as child processes (a coordinator, N
// workers and the web app), their logs as readable lines. It supervises them: a
// child that dies is restarted with backoff while the others keep serving (one that
// exits by itself with code 0, a worker removed from the cluster, is not), and
// Ctrl-C (or SIGTERM) stops everything within STOP_GRACE_MS + STOP_KILL_WAIT_MS.

import type { ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { TweetdbClient } from '../client/client.ts';
import { hasExited, launchProcess, stopProcesses } from '../launch/processes.ts';
import { ClusterKeyError, ensureClusterKeyFile, readClusterKeyFile } from '../node/cluster-key.ts';
import { AccessTokenError, ADMIN_TOKEN_FILE_NAME, ensureAdminTokenFile, readTokenFile } from '../node/access-tokens.ts';
import { RESTARTS_ENV } from '../node/supervised.ts';

const READY_WAIT_MS = 60_000;

/** The wait before restarting a child that died; it doubles with each death in a row. */
export const RESTART_MIN_MS = 500;
/** The longest wait before a restart. */
export const RESTART_MAX_MS = 10_000;
/** A child that stayed up this long is healthy again: if it dies, it is restarted after RESTART_MIN_MS again. */
export const RESTART_RESET_AFTER_MS = 30_000;
/** After Ctrl-C or SIGTERM, how long the children get to stop after SIGTERM before they are SIGKILLed. */
export const STOP_GRACE_MS = 3_000;
/** After the SIGKILLs, how long to wait for the children's exits before leaving regardless. */
export const STOP_KILL_WAIT_MS = 1_000;
/**
 * The exit code of a node, or of `tweetdb start`, that cannot listen (its port is taken, say): the command
 * line must change, so `tweetdb start` does not retry a child that exits with it at its first start.
 */
export const EXIT_CANNOT_LISTEN = 2;

/** How a person picks another port or host for one listener, as the one-line error names it. */
export interface ListenFlags {
  /** For example `--port or TWEETDB_PORT`. */
  port: string;
  /** For example `--host or TWEETDB_HOST`. */
  host: string;
}

/** One line saying why host:port cannot be listened on and which flag changes it; null for an error it does not know. */
export function listenErrorLine(e: unknown, host: string, port: number, flags: ListenFlags): string | null {
  const code = e instanceof Error ? (e as NodeJS.ErrnoException).code : undefined;
  switch (code) {
    case 'EADDRINUSE':
      return `port ${port} is taken (another tweetdb?); pick another with ${flags.port}`;
    case 'EACCES':
      return `port ${port} needs privileges to listen on; pick one above 1023 with ${flags.port}`;
    case 'EADDRNOTAVAIL':
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return `cannot listen on ${host}: it is not an address of this machine; pick another with ${flags.host}`;
    default:
      return null;
  }
}

export interface StartOptions {
  workers: number;
  data: string;
  port: number;
  workerPort: number;
  host: string;
  lockTimeout: number;
  /** Seconds a voting worker may be down before it is evicted (the coordinator's --evict-after). */
  evictAfter: number;
  /** Writes are refused while fewer workers vote (the coordinator's --min-voters). */
  minVoters: number;
  webPort: number;
  /** Start the web app too. */
  web: boolean;
  /** The cluster key every node gets; default DATA/cluster.key, made (mode 0600) when missing. */
  clusterKeyFile?: string;
}

const LEVELS: Record<number, string> = { 10: 'trace', 20: 'debug', 30: 'info', 40: 'warn', 50: 'error', 60: 'fatal' };

/** One pino JSON line as a person reads it: time, node, level, message, fields. */
export function prettyLogLine(name: string, line: string): string {
  let rec: Record<string, unknown>;
  try {
    rec = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return `${name.padEnd(14)} ${line}`;
  }
  const { time, level, msg, pid: _pid, hostname: _h, name: _n, ...rest } = rec;
  const t = typeof time === 'number' ? new Date(time).toISOString().slice(11, 23) : '';
  const lvl = LEVELS[level as number] ?? String(level);
  const fields = Object.entries(rest)
    .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
    .join(' ');
  return `${t} ${name.padEnd(14)} ${lvl.padEnd(5)} ${String(msg ?? '')}${fields ? `  ${fields}` : ''}`;
}

/** A line of the supervisor's own, in the same shape as the children's. */
function say(level: 'info' | 'warn' | 'error', msg: string): void {
  console.log(`${new Date().toISOString().slice(11, 23)} ${'start'.padEnd(14)} ${level.padEnd(5)} ${msg}`);
}

/** One listener of the cluster, as checked before anything starts. */
interface Listener {
  what: string;
  port: number;
  flags: ListenFlags;
}

/**
 * Binds host:port and closes it again: the port to use (a free one for 0), or the one line saying why it cannot
 * be used. Checked before any child starts, so that a taken port stops `tweetdb start` with nothing started.
 */
function probe(host: string, l: Listener): Promise<{ port: number } | { error: string }> {
  return new Promise((done) => {
    const s = createServer();
    s.once('error', (e) => done({ error: listenErrorLine(e, host, l.port, l.flags) ?? `cannot listen on ${host}:${l.port} for the ${l.what}: ${e.message}` }));
    s.listen(l.port, host, () => {
      const a = s.address();
      const port = a !== null && typeof a === 'object' ? a.port : l.port;
      s.close(() => done({ port }));
    });
  });
}

/** One supervised child: its command line, its current process, its restarts. */
interface Child {
  readonly name: string;
  readonly args: string[];
  proc: ChildProcess | null;
  /** How many times it has been restarted. */
  restarts: number;
  /** The wait before its next restart. */
  delayMs: number;
  startedAt: number;
  timer: NodeJS.Timeout | null;
}

export async function runStart(o: StartOptions): Promise<void> {
  const dataDir = resolve(o.data);
  const children: Child[] = [];
  /** The web app's URL, from its log once it listens. */
  let webUrl: string | null = null;
  let stopping = false;

  const launch = (c: Child): void => {
    if (stopping) return;
    const proc = launchProcess({
      args: c.args,
      env: { [RESTARTS_ENV]: String(c.restarts) },
      onLine: (l) => {
        if (c.name === 'web' && webUrl === null) webUrl = urlFromLog(l);
        console.log(prettyLogLine(c.name, l));
      },
    });
    c.proc = proc;
    c.startedAt = Date.now();
    if (c.restarts > 0) say('info', `${c.name} restarted (restart ${c.restarts}, pid ${proc.pid ?? '?'})`);
    proc.on('exit', (code, signal) => {
      c.proc = null;
      if (stopping) return;
      const how = signal !== null ? `killed by ${signal}` : `exit code ${code ?? '?'}`;
      const upMs = Date.now() - c.startedAt;
      if (c.restarts === 0 && code === EXIT_CANNOT_LISTEN) {
        // At its first start, checked just before: its configuration is wrong (the line above says how), not its luck.
        say('error', `${c.name} could not start (${how}; see its line above); stopping the cluster`);
        void stopAll(EXIT_CANNOT_LISTEN);
        return;
      }
      if (code === 0 && signal === null) {
        // It stopped by itself and says all is well: a worker removed from the cluster (tweetdb admin
        // remove-worker) does that, and restarting it would only have it refused again.
        say('info', `${c.name} exited by itself (exit code 0, as a worker removed from the cluster does) after ${(upMs / 1000).toFixed(1)} s; not restarting it`);
        return;
      }
      if (upMs >= RESTART_RESET_AFTER_MS) c.delayMs = RESTART_MIN_MS;
      c.restarts++;
      say('warn', `${c.name} died (${how}) after ${(upMs / 1000).toFixed(1)} s; restart ${c.restarts} in ${c.delayMs / 1000} s`);
      c.timer = setTimeout(() => {
        c.timer = null;
        launch(c);
      }, c.delayMs);
      c.delayMs = Math.min(c.delayMs * 2, RESTART_MAX_MS);
    });
  };

  const summary = (): string => {
    const restarted = children.filter((c) => c.restarts > 0);
    return restarted.length === 0 ? 'no child was restarted' : `restarts: ${restarted.map((c) => `${c.name} ${c.restarts}`).join(', ')}`;
  };

  const stopAll = async (exitCode: number): Promise<void> => {
    if (stopping) return;
    stopping = true;
    for (const c of children) if (c.timer !== null) clearTimeout(c.timer);
    say('info', 'stopping tweetdb...');
    const live = children.flatMap((c) => (c.proc !== null ? [{ name: c.name, proc: c.proc }] : []));
    await stopProcesses(live.map((c) => c.proc), {
      graceMs: STOP_GRACE_MS,
      killWaitMs: STOP_KILL_WAIT_MS,
      beforeKill: (stuck) => {
        const names = live.filter((c) => stuck.includes(c.proc)).map((c) => c.name);
        say('warn', `${names.join(', ')} did not stop within ${STOP_GRACE_MS / 1000} s of SIGTERM; killing (SIGKILL)`);
      },
    });
    say('info', summary());
    console.log('tweetdb stopped');
    process.exit(exitCode);
  };
  /** A second Ctrl-C: no more waiting. */
  const killNow = (): void => {
    const live = children.flatMap((c) => (c.proc !== null && !hasExited(c.proc) ? [c] : []));
    say('warn', `second interrupt: killing ${live.length === 0 ? 'nothing left' : live.map((c) => c.name).join(', ')} now (SIGKILL)`);
    for (const c of live) c.proc?.kill('SIGKILL');
    process.exit(130);
  };
  const onSignal = (): void => {
    if (stopping) killNow();
    else void stopAll(0);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  // Every port is checked (and 0 resolved to a free port, kept across restarts) before any child starts.
  const coordinatorL: Listener = { what: 'coordinator', port: o.port, flags: { port: '--port or TWEETDB_PORT', host: '--host or TWEETDB_HOST' } };
  const listeners: Listener[] = [coordinatorL];
  if (o.workerPort === 0) fail('start needs a fixed --worker-port (each worker\'s data folder is named by its port); pick one with --worker-port or TWEETDB_WORKER_PORT');
  if (o.workerPort + o.workers - 1 > 65535) fail(`--worker-port ${o.workerPort} with ${o.workers} workers goes past port 65535; pick a lower one with --worker-port or TWEETDB_WORKER_PORT`);
  const workerFlags = { port: `--worker-port or TWEETDB_WORKER_PORT${o.workers > 1 ? ` (worker ports are ${o.workerPort} to ${o.workerPort + o.workers - 1})` : ''}`, host: '--host or TWEETDB_HOST' };
  for (let i = 0; i < o.workers; i++) listeners.push({ what: `worker ${o.workerPort + i}`, port: o.workerPort + i, flags: workerFlags });
  const webL: Listener = { what: 'web app', port: o.webPort, flags: { port: '--web-port or TWEETDB_WEB_PORT (or --no-web)', host: '--host or TWEETDB_HOST' } };
  if (o.web) listeners.push(webL);
  const seen = new Map<number, Listener>();
  for (const l of listeners) {
    const other = l.port === 0 ? undefined : seen.get(l.port);
    if (other !== undefined) fail(`port ${l.port} is given to both the ${other.what} and the ${l.what}; pick another with ${l.flags.port}`);
    seen.set(l.port, l);
  }
  for (const l of listeners) {
    const r = await probe(o.host, l);
    if ('error' in r) fail(r.error);
    else l.port = r.port;
  }
  if (stopping) return;
  // The key is made (or checked) only now, so a start refused above leaves nothing behind;
  // every child reads it from the environment it inherits.
  try {
    const keyFile = o.clusterKeyFile !== undefined ? resolve(o.clusterKeyFile) : join(dataDir, 'cluster.key');
    if (o.clusterKeyFile !== undefined) readClusterKeyFile(keyFile);
    else ensureClusterKeyFile(keyFile);
    process.env.TWEETDB_CLUSTER_KEY_FILE = keyFile;
    // The admin token, where the coordinator keeps it by default; the web app reads it from here.
    const given = process.env.TWEETDB_ADMIN_TOKEN_FILE;
    const adminFile = given !== undefined && given !== '' ? resolve(given) : join(dataDir, 'coordinator', ADMIN_TOKEN_FILE_NAME);
    if (given !== undefined && given !== '') readTokenFile(adminFile, 'admin');
    else ensureAdminTokenFile(adminFile);
    process.env.TWEETDB_ADMIN_TOKEN_FILE = adminFile;
  } catch (e) {
    if (e instanceof ClusterKeyError || e instanceof AccessTokenError) fail(e.message);
    throw e;
  }

  const coordinator = `${o.host}:${coordinatorL.port}`;
  const add = (name: string, args: string[]): void => {
    const c: Child = { name, args, proc: null, restarts: 0, delayMs: RESTART_MIN_MS, startedAt: 0, timer: null };
    children.push(c);
    launch(c);
  };
  // A new cluster when no node has data yet: its coordinator forms it at once. Otherwise a
  // coordinator whose data directory is gone takes its workers' cluster over (never a new one).
  const fresh = !existsSync(join(dataDir, 'coordinator', 'coordinator.db')) && Array.from({ length: o.workers }, (_, i) => join(dataDir, `worker-${o.workerPort + i}`, 'worker.db')).every((f) => !existsSync(f));
  add('coordinator', ['coordinator', '--port', String(coordinatorL.port), '--host', o.host, '--data', join(dataDir, 'coordinator'), '--lock-timeout', String(o.lockTimeout), '--evict-after', String(o.evictAfter), '--min-voters', String(o.minVoters), ...(fresh ? ['--new-cluster'] : [])]);
  for (let i = 0; i < o.workers; i++) {
    const p = o.workerPort + i;
    add(`worker ${p}`, ['worker', String(p), '--host', o.host, '--coordinator', coordinator, '--data', join(dataDir, `worker-${p}`)]);
  }
  if (o.web) add('web', ['web', '--port', String(webL.port), '--host', o.host, '--coordinator', coordinator]);

  const ready = (await waitUntilUp(coordinator, o.workers)) && (!o.web || (await waitFor(() => webUrl !== null)));
  if (stopping) return;
  if (!ready) {
    console.log(`tweetdb: the cluster is not fully up after ${READY_WAIT_MS / 1000} s; see the logs above`);
    return;
  }
  console.log('');
  console.log(`tweetdb is up: coordinator at ${coordinator} with ${o.workers} workers, data in ${dataDir}`);
  console.log(`  try:   nc ${o.host} ${coordinatorL.port}     then type {"action":"get_tweets"}`);
  console.log(`  or:    npx tweetdb client --coordinator ${coordinator}`);
  if (webUrl !== null) console.log(`  web:   ${webUrl as string}   (the app: create an account, post, watch updates live)`);
  console.log(`  admin: ${process.env.TWEETDB_ADMIN_TOKEN_FILE ?? ''} holds the admin token (tweetdb admin reads it there; see README Security)`);
  console.log('  Ctrl-C stops everything. A node that dies is restarted.');
  console.log('');
}

/** The one line of a start that cannot begin; nothing has been started yet. */
function fail(line: string): never {
  console.error(`tweetdb: ${line}`);
  process.exit(EXIT_CANNOT_LISTEN);
}

function urlFromLog(line: string): string | null {
  try {
    const rec = JSON.parse(line) as { url?: unknown };
    return typeof rec.url === 'string' ? rec.url : null;
  } catch {
    return null;
  }
}

async function waitFor(cond: () => boolean): Promise<boolean> {
  const until = Date.now() + READY_WAIT_MS;
  while (!cond()) {
    if (Date.now() > until) return false;
    await new Promise((r) => setTimeout(r, 50));
  }
  return true;
}

async function waitUntilUp(coordinator: string, workers: number): Promise<boolean> {
  const until = Date.now() + READY_WAIT_MS;
  while (Date.now() < until) {
    try {
      const c = await TweetdbClient.connect(coordinator, 1_000);
      try {
        const s = await c.request({ action: 'status' }, 2_000);
        const ws = (s.workers as { state: string }[] | undefined) ?? [];
        if (ws.length >= workers && ws.every((w) => w.state === 'up')) return true;
      } finally {
        c.close();
      }
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  return false;
}
