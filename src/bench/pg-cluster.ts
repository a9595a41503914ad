// One throwaway local PostgreSQL cluster for the comparison: found binaries,
// initdb into a directory, a postgres server as our child process on a
// loopback port, and a bounded stop. The pair and its cleanup live in
// postgres.ts; this file knows about one server at a time.

import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { accessSync, appendFileSync, chownSync, closeSync, constants, openSync, readdirSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { delimiter, dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { PgBenchError, PgMissingError, asError } from './pg-errors.ts';

const INSTALL_HINT = 'install Debian\'s PostgreSQL server packages as root: `apt-get update && apt-get install -y postgresql`';
/** Binaries we run: initdb to create a cluster, postgres to serve it (we spawn it ourselves, so no pg_ctl). */
const NEEDED = ['initdb', 'postgres'] as const;
/** Where Debian's packages put each major version's binaries (not on PATH). */
const DEBIAN_ROOT = '/usr/lib/postgresql';
/** An explicit directory, for machines where PostgreSQL lives elsewhere (Homebrew, a source build). */
const BINDIR_ENV = 'TWEETDB_PG_BINDIR';

const INITDB_TIMEOUT_MS = 120_000;
const START_TIMEOUT_MS = 30_000;
const STOP_FAST_MS = 20_000;
const STOP_IMMEDIATE_MS = 5_000;
const STOP_KILL_MS = 5_000;
/** Attempts at a free port: another process can take the one we picked before postgres binds it. */
const PORT_ATTEMPTS = 3;
/** The bench's superuser; the password is random per pair. */
export const PG_USER = 'bench';
export const PG_DATABASE = 'postgres';

export interface PgEndpoint {
  readonly host: string;
  readonly port: number;
  readonly user: string;
  readonly password: string;
  readonly database: string;
}

/** The OS user the servers run as: null = the current one. */
export interface RunAs {
  readonly uid: number;
  readonly gid: number;
}

function isExecutable(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** Debian's per-version directories, newest first, then where PATH's initdb really lives. */
function candidateBinDirs(): string[] {
  const dirs: string[] = [];
  try {
    const versions = readdirSync(DEBIAN_ROOT).filter((v) => /^\d+(\.\d+)?$/.test(v));
    versions.sort((x, y) => Number(y) - Number(x));
    for (const v of versions) dirs.push(join(DEBIAN_ROOT, v, 'bin'));
  } catch {
    // No Debian layout: PATH below.
  }
  for (const p of (process.env.PATH ?? '').split(delimiter)) {
    if (p === '') continue;
    const initdb = join(p, 'initdb');
    // Resolve symlinks: initdb finds postgres next to its real location, and so must we.
    if (isExecutable(initdb)) dirs.push(dirname(realpathSync(initdb)));
  }
  return [...new Set(dirs)];
}

function hasServerBinaries(dir: string): boolean {
  return NEEDED.every((b) => isExecutable(join(dir, b)));
}

/** Finds the server binaries; throws PgMissingError (code 'POSTGRES_MISSING', message says how to install) when absent. */
export function findPostgres(): { binDir: string } {
  const needed = NEEDED.join(' and ');
  const explicit = process.env[BINDIR_ENV];
  if (explicit) {
    // Set on purpose: a wrong value is reported, not silently replaced by another installation.
    if (hasServerBinaries(explicit)) return { binDir: explicit };
    throw new PgMissingError(`${BINDIR_ENV}=${explicit}, but ${needed} are not both executables there; point it at the directory holding PostgreSQL's server binaries, or unset it to use Debian's packages (${INSTALL_HINT})`);
  }
  const dirs = candidateBinDirs();
  const found = dirs.find(hasServerBinaries);
  if (found !== undefined) return { binDir: found };
  throw new PgMissingError(
    `PostgreSQL's server binaries (${needed}) were not found in ${DEBIAN_ROOT}/<version>/bin or on PATH${dirs.length > 0 ? ` (looked in ${dirs.join(', ')})` : ''}. ` +
      `To compare with PostgreSQL, ${INSTALL_HINT}, or set ${BINDIR_ENV} to the directory that holds them; this command installs nothing itself.`,
  );
}

/**
 * PostgreSQL refuses to run as root, so as root the servers run as the
 * `postgres` system user that Debian's package creates; otherwise as us.
 */
export function serverUser(): RunAs | null {
  if (process.getuid?.() !== 0) return null;
  try {
    const id = (flag: string): number => Number(execFileSync('id', [flag, 'postgres'], { encoding: 'utf8', timeout: 5_000, stdio: ['ignore', 'pipe', 'ignore'] }).trim());
    const runAs = { uid: id('-u'), gid: id('-g') };
    if (!Number.isInteger(runAs.uid) || !Number.isInteger(runAs.gid)) throw new Error('`id postgres` printed no number');
    return runAs;
  } catch (e) {
    throw new PgBenchError(
      'POSTGRES_USER_MISSING',
      `running as root, and PostgreSQL refuses to run as root, but there is no \`postgres\` system user to run the servers as (${asError(e).message}); ${INSTALL_HINT} (it creates that user), or run the bench as an ordinary user.`,
    );
  }
}

/** Makes `path` belong to the server's user (a no-op when not root). */
export function giveTo(path: string, runAs: RunAs | null): void {
  if (runAs) chownSync(path, runAs.uid, runAs.gid);
}

/** The environment of initdb and postgres: nothing of ours that could change their behaviour (PG*, locales). */
function serverEnv(): NodeJS.ProcessEnv {
  return { PATH: process.env.PATH ?? '/usr/bin:/bin', LANG: 'C', LC_ALL: 'C' };
}

/** The settings the comparison runs with; written to postgresql.conf and reported. */
export function serverSettings(maxClients: number): Record<string, string> {
  return {
    listen_addresses: "'127.0.0.1'",
    // No Unix socket: nothing but our loopback TCP port, behind a random password.
    unix_socket_directories: "''",
    // Each client holds one connection per cluster; room for the decision janitor,
    // recovery reconnects and the end-of-run sweep on top.
    max_connections: String(maxClients + 16),
    // At most one prepared transaction per client per cluster, plus a margin for
    // ones awaiting recovery (0, the default, disables PREPARE TRANSACTION).
    max_prepared_transactions: String(maxClients + 8),
    // Durability as tweetdb's (every acknowledged commit fsynced); stated
    // explicitly so a changed packaging default cannot move the figures.
    fsync: 'on',
    synchronous_commit: 'on',
    full_page_writes: 'on',
    logging_collector: 'off',
  };
}

function settingsText(settings: Record<string, string>): string {
  const lines = Object.entries(settings).map(([k, v]) => `${k} = ${v}`);
  return `\n# tweetdb bench --compare postgres\n${lines.join('\n')}\n`;
}

/** initdb of a cluster in `dataDir` (which must not exist) with the bench user and password, then our settings. */
export async function initCluster(binDir: string, dataDir: string, password: string, settings: Record<string, string>, runAs: RunAs | null, signal: AbortSignal): Promise<void> {
  const pwfile = `${dataDir}.pw`;
  writeFileSync(pwfile, `${password}\n`, { mode: 0o600 });
  giveTo(pwfile, runAs);
  // --no-sync: only initdb's own files go unsynced; the bench's commits are fsynced as always.
  const args = ['-D', dataDir, '-U', PG_USER, `--pwfile=${pwfile}`, '--auth=scram-sha-256', '-E', 'UTF8', '--locale=C', '--no-sync'];
  try {
    await new Promise<void>((resolve, reject) => {
      execFile(
        join(binDir, 'initdb'),
        args,
        { cwd: dirname(dataDir), env: serverEnv(), timeout: INITDB_TIMEOUT_MS, signal, maxBuffer: 4 * 1024 * 1024, ...(runAs ?? {}) },
        (err, stdout, stderr) => {
          if (err) reject(new Error(`${err.message.split('\n')[0]}\n${stderr || stdout}`.trim()));
          else resolve();
        },
      );
    });
  } catch (e) {
    throw new PgBenchError(
      'POSTGRES_INIT_FAILED',
      `initdb of ${dataDir} failed or exceeded ${INITDB_TIMEOUT_MS / 1000} s: ${asError(e).message}` +
        (runAs ? ' (as root it runs as the postgres user, which must be able to reach the temp directory: set TMPDIR to a world-traversable directory such as /tmp)' : ''),
      { cause: e },
    );
  } finally {
    rmSync(pwfile, { force: true }); // initdb has stored the password's hash.
  }
  appendFileSync(join(dataDir, 'postgresql.conf'), settingsText(settings));
}

/** A loopback port nobody listens on right now (postgres may still lose a race for it: see PORT_ATTEMPTS). */
async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => (port > 0 ? resolve(port) : reject(new Error('no port assigned'))));
    });
  });
}

function tail(file: string, chars = 2_000): string {
  try {
    const text = readFileSync(file, 'utf8');
    return text.length > chars ? `...${text.slice(-chars)}` : text;
  } catch {
    return '(no log)';
  }
}

/** One running postgres server, our child process. */
export class PgServer {
  private exitCode: number | null | undefined = undefined;
  private readonly exited: Promise<void>;

  private constructor(
    readonly name: string,
    readonly dataDir: string,
    readonly logFile: string,
    readonly endpoint: PgEndpoint,
    private readonly child: ChildProcess,
  ) {
    this.exited = new Promise((resolve) => {
      child.once('exit', (code, sig) => {
        this.exitCode = code ?? (sig ? -1 : null);
        resolve();
      });
    });
  }

  get pid(): number {
    return this.child.pid ?? -1;
  }

  get running(): boolean {
    return this.exitCode === undefined;
  }

  /**
   * Starts postgres on a free loopback port and waits until it accepts our
   * user's connections. `onSpawn` sees every server process spawned, before
   * it is ready, so a caller's cleanup can stop it whatever happens next.
   */
  static async start(
    name: string,
    binDir: string,
    dataDir: string,
    password: string,
    runAs: RunAs | null,
    signal: AbortSignal,
    onSpawn: (server: PgServer) => void,
  ): Promise<PgServer> {
    const logFile = `${dataDir}.log`;
    for (let attempt = 1; ; attempt++) {
      const port = await freePort();
      const server = PgServer.spawn(name, binDir, dataDir, logFile, port, password, runAs);
      onSpawn(server);
      try {
        await server.waitReady(signal);
        return server;
      } catch (e) {
        await server.stop().catch(() => undefined);
        const lostPortRace = /could not bind|address already in use/i.test(tail(logFile));
        if (!lostPortRace || attempt >= PORT_ATTEMPTS || signal.aborted) throw e;
      }
    }
  }

  private static spawn(name: string, binDir: string, dataDir: string, logFile: string, port: number, password: string, runAs: RunAs | null): PgServer {
    // The log goes to a file next to the data directory (its tail explains a failed start).
    const fd = openSync(logFile, 'a');
    let child: ChildProcess;
    try {
      // Not detached: a Ctrl-C at the terminal reaches the servers too (SIGINT is
      // postgres's fast shutdown), a second line of defence behind our cleanup.
      child = spawn(join(binDir, 'postgres'), ['-D', dataDir, '-p', String(port)], {
        cwd: dirname(dataDir),
        env: serverEnv(),
        stdio: ['ignore', fd, fd],
        ...(runAs ?? {}),
      });
    } finally {
      closeSync(fd);
    }
    child.on('error', () => undefined); // A failed spawn shows as 'exit' too; waitReady reports it.
    const endpoint = { host: '127.0.0.1', port, user: PG_USER, password, database: PG_DATABASE };
    return new PgServer(name, dataDir, logFile, endpoint, child);
  }

  private async waitReady(signal: AbortSignal): Promise<void> {
    const deadline = Date.now() + START_TIMEOUT_MS;
    let last = 'no attempt yet';
    for (;;) {
      if (signal.aborted) throw new PgBenchError('INTERRUPTED', `interrupted while PostgreSQL cluster ${this.name} was starting`);
      if (!this.running) {
        throw new PgBenchError('POSTGRES_START_FAILED', `PostgreSQL cluster ${this.name} (postgres on 127.0.0.1:${this.endpoint.port}) exited with ${this.exitCode} while starting; its log ${this.logFile} ends:\n${tail(this.logFile)}`);
      }
      const client = new pg.Client({ ...this.endpoint, connectionTimeoutMillis: 1_000 });
      client.on('error', () => undefined);
      try {
        await client.connect();
        await client.end();
        return;
      } catch (e) {
        last = asError(e).message; // Refused, or 57P03 "the database system is starting up": try again.
      }
      if (Date.now() > deadline) {
        throw new PgBenchError(
          'POSTGRES_START_FAILED',
          `PostgreSQL cluster ${this.name} (pid ${this.pid}) did not accept connections on 127.0.0.1:${this.endpoint.port} within ${START_TIMEOUT_MS / 1000} s (last: ${last}); its log ${this.logFile} ends:\n${tail(this.logFile)}`,
        );
      }
      await sleep(100);
    }
  }

  private async waitExit(ms: number): Promise<boolean> {
    if (!this.running) return true;
    const timer = sleep(ms, false, { ref: false });
    return Promise.race([this.exited.then(() => true), timer]);
  }

  private signal(sig: NodeJS.Signals): void {
    if (!this.running) return;
    try {
      this.child.kill(sig);
    } catch {
      // Already gone: the 'exit' event is on its way.
    }
  }

  /**
   * Fast shutdown (SIGINT: sessions rolled back, a checkpoint), then immediate
   * (SIGQUIT) if that hangs, then SIGKILL; each step bounded. Prepared
   * transactions are not waited for (they live on disk, which we delete).
   */
  async stop(): Promise<void> {
    const steps: [NodeJS.Signals, number][] = [['SIGINT', STOP_FAST_MS], ['SIGQUIT', STOP_IMMEDIATE_MS], ['SIGKILL', STOP_KILL_MS]];
    for (const [sig, ms] of steps) {
      if (!this.running) return;
      this.signal(sig);
      if (await this.waitExit(ms)) return;
    }
    throw new PgBenchError('POSTGRES_CLEANUP_FAILED', `PostgreSQL cluster ${this.name} (pid ${this.pid}) did not exit after SIGINT, SIGQUIT and SIGKILL; check it with \`ps -p ${this.pid}\``);
  }

  /** For the synchronous last resort at process exit: immediate shutdown, not waited for. */
  stopNow(): void {
    this.signal('SIGQUIT');
  }
}
