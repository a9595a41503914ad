// A fresh, durable tweetdb cluster for the benchmark: a coordinator and N
// workers as child processes, in a temporary directory, on loopback ephemeral
// ports, exactly as a user would start them (bin/tweetdb.js). Also reads each
// node's memory from /proc, and its fsync counters through the public API.
// Its links are secured as the cluster's mode says: no key (loopback's open
// mode), a cluster key (what `tweetdb start` runs), or a key and mutual TLS
// with certificates made by `tweetdb certs`' makeCerts. With metrics on, every
// node serves Prometheus metrics (--metrics-port 0), which also turns on the
// coordinator's trace effects: what `--compare metrics` measures the cost of.

import { randomBytes } from 'node:crypto';
import { ADMIN_TOKEN_FILE_NAME } from '../node/access-tokens.ts';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TweetdbClient, type ApiReply } from '../client/client.ts';
import { newClusterKeyText } from '../node/cluster-key.ts';
import type { TlsConfig } from '../node/transport.ts';
import { makeCerts, type MadeCerts } from '../cli/certs.ts';
import { spawnNode, stopProcesses, type NodeProc } from '../launch/processes.ts';

const START_TIMEOUT_MS = 30_000;
/** Each node's first output lines kept, for the error when it does not start (a bench run is long). */
const KEPT_LOG_LINES = 200;

/**
 * How a bench cluster's links are secured. `open`: no cluster key (the nodes still run the
 * link handshake, with an empty key, as loopback allows); `key`: a cluster key, every link
 * authenticated (what `tweetdb start` runs, and the default); `key+tls`: the key, and TLS 1.3
 * on every link (mutual between nodes) and on the client API, the bench's clients included.
 */
export const SECURITY_MODES = ['open', 'key', 'key+tls'] as const;
export type SecurityMode = (typeof SECURITY_MODES)[number];

/** A fresh cluster's set-up as `--compare` varies it: how its links are secured, and whether its nodes export metrics. */
export interface ClusterVariant {
  /** What the rows of this cluster are labelled with (`open`, `key+tls`, `off`, `on`...). */
  label: string;
  security: SecurityMode;
  metrics: boolean;
}

export interface NodeMemory {
  node: string;
  /** Resident set now and its peak since the process started (VmRSS, VmHWM), in MiB. */
  rssMiB: number;
  peakRssMiB: number;
}

/** Resident memory of a process, from /proc (Linux); null elsewhere or when it is gone. */
export function memoryOf(pid: number): { rssMiB: number; peakRssMiB: number } | null {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (key: string): number => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
    return { rssMiB: kb('VmRSS') / 1024, peakRssMiB: kb('VmHWM') / 1024 };
  } catch {
    return null;
  }
}

/** Clock ticks per second of /proc/PID/stat's CPU times (USER_HZ: 100 on every Linux this runs on). */
const USER_HZ = 100;

/** CPU seconds (user and system) a process has used so far, from /proc (Linux); null elsewhere or when it is gone. */
export function cpuSecondsOf(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may hold spaces, so split after its closing parenthesis): utime and stime are the 12th and 13th.
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const t = (Number(f[11]) + Number(f[12])) / USER_HZ;
    return Number.isFinite(t) ? t : null;
  } catch {
    return null;
  }
}

export interface FsyncCounts {
  coordinator: number;
  workers: number[];
  /** Milliseconds spent in those fsyncs, in total, per node. */
  coordinatorMs: number;
  workersMs: number[];
}

export async function request(address: string, body: Record<string, unknown>, tls: TlsConfig | null = null): Promise<ApiReply> {
  const c = await TweetdbClient.connect(address, 5_000, tls);
  try {
    return await c.request(body, 60_000);
  } finally {
    c.close();
  }
}

/** fsyncs so far: the coordinator's decision log (status) and each worker's store (check). */
export async function fsyncCounts(address: string, tls: TlsConfig | null = null): Promise<FsyncCounts> {
  const s = await request(address, { action: 'status' }, tls);
  const c = await request(address, { action: 'check' }, tls);
  return {
    coordinator: (s.counters as { log_fsyncs?: number }).log_fsyncs ?? NaN,
    workers: (c.workers as { fsyncs?: number }[]).map((w) => w.fsyncs ?? NaN),
    coordinatorMs: (s.counters as { log_fsync_ms?: number }).log_fsync_ms ?? NaN,
    workersMs: (c.workers as { fsync_ms?: number }[]).map((w) => w.fsync_ms ?? NaN),
  };
}

export class BenchCluster {
  readonly dir: string;
  readonly nodes: NodeProc[] = [];
  /** What a client of this cluster needs to connect: the CA under `key+tls`, null otherwise. */
  readonly clientTls: TlsConfig | null;
  /** The coordinator's admin token: the bench follows the trace feed with it. */
  readonly adminToken = randomBytes(32).toString('hex');
  /** The environment every node of this cluster is started with: its key, TLS and admin token files. */
  private readonly securityEnv: Record<string, string>;

  private constructor(
    dir: string,
    readonly security: SecurityMode,
    readonly metrics: boolean,
  ) {
    this.dir = dir;
    // Set even when empty, so that a key or certificates in the caller's environment do not change what is measured.
    const env: Record<string, string> = { TWEETDB_CLUSTER_KEY_FILE: '', TWEETDB_TLS_CERT: '', TWEETDB_TLS_KEY: '', TWEETDB_TLS_CA: '' };
    let clientTls: TlsConfig | null = null;
    if (security !== 'open') {
      env.TWEETDB_CLUSTER_KEY_FILE = join(dir, 'cluster.key');
      writeFileSync(env.TWEETDB_CLUSTER_KEY_FILE, newClusterKeyText(), { mode: 0o600 });
    }
    if (security === 'key+tls') {
      const certs = makeCerts({ out: join(dir, 'certs'), nodes: ['127.0.0.1'] });
      const node = certs.nodes[0] as MadeCerts['nodes'][number];
      Object.assign(env, { TWEETDB_TLS_CERT: node.cert, TWEETDB_TLS_KEY: node.key, TWEETDB_TLS_CA: certs.ca });
      clientTls = { ca: readFileSync(certs.ca), cert: null, key: null };
    }
    // The trace feed (the phase times) needs the admin token (README Security, "Roles").
    env.TWEETDB_ADMIN_TOKEN_FILE = join(dir, ADMIN_TOKEN_FILE_NAME);
    writeFileSync(env.TWEETDB_ADMIN_TOKEN_FILE, this.adminToken + '\n', { mode: 0o600 });
    this.securityEnv = env;
    this.clientTls = clientTls;
  }

  get address(): string {
    return (this.nodes[0] as NodeProc).address;
  }

  /**
   * Starts a coordinator and `workers` workers; resolves once every worker is up.
   * `cpuProfileDir`: each node writes a V8 CPU profile there when it stops (node --cpu-prof).
   * `security`: how its links are secured (see SECURITY_MODES); `key` by default, as `tweetdb start` runs.
   * `metrics`: every node serves Prometheus metrics on a free port (and the coordinator traces); off by default, as the nodes run.
   */
  static async start(workers: number, lockTimeoutS: number, env: Record<string, string> = {}, cpuProfileDir: string | null = null, security: SecurityMode = 'key', metrics = false): Promise<BenchCluster> {
    const nodeArgs = cpuProfileDir === null ? [] : ['--cpu-prof', `--cpu-prof-dir=${cpuProfileDir}`];
    const dir = mkdtempSync(join(tmpdir(), 'tweetdb-bench-'));
    let c: BenchCluster;
    try {
      c = new BenchCluster(dir, security, metrics);
    } catch (e) {
      rmSync(dir, { recursive: true, force: true });
      throw e;
    }
    env = { ...c.securityEnv, ...env };
    const spawnOpts = { nodeArgs, timeoutMs: START_TIMEOUT_MS, maxLogLines: KEPT_LOG_LINES };
    // Port 0: each node picks a free one, so that the nodes of one machine do not collide.
    const metricsArgs = metrics ? ['--metrics-port', '0'] : [];
    try {
      c.nodes.push(await spawnNode('coordinator', ['coordinator', '--port', '0', '--data', join(c.dir, 'coordinator'), '--new-cluster', '--lock-timeout', String(lockTimeoutS), ...metricsArgs], env, spawnOpts));
      for (let i = 1; i <= workers; i++) {
        c.nodes.push(await spawnNode(`worker-${i}`, ['worker', '0', '--coordinator', c.address, '--data', join(c.dir, `worker-${i}`), ...metricsArgs], env, spawnOpts));
      }
      const until = Date.now() + START_TIMEOUT_MS;
      for (;;) {
        const s = await request(c.address, { action: 'status' }, c.clientTls);
        const ws = s.workers as { state: string }[];
        if (ws.length === workers && ws.every((w) => w.state === 'up')) break;
        if (Date.now() > until) throw new Error(`the cluster did not come up: ${JSON.stringify(s.workers)}`);
        await new Promise((r) => setTimeout(r, 100));
      }
      return c;
    } catch (e) {
      await c.stop();
      throw e;
    }
  }

  memory(): NodeMemory[] {
    return this.nodes.flatMap((n) => {
      const m = n.proc.pid === undefined ? null : memoryOf(n.proc.pid);
      return m === null ? [] : [{ node: n.name, ...m }];
    });
  }

  /** CPU seconds every node of the cluster has used so far, together (NaN when /proc cannot tell). */
  cpuSeconds(): number {
    return this.nodes.reduce((sum, n) => sum + (n.proc.pid === undefined ? NaN : (cpuSecondsOf(n.proc.pid) ?? NaN)), 0);
  }

  /** Stops every node (SIGTERM, by PID) and removes the data. */
  async stop(): Promise<void> {
    await stopProcesses(this.nodes.map((n) => n.proc));
    rmSync(this.dir, { recursive: true, force: true });
  }
}
