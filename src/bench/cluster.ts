// A fresh, durable tweetdb cluster for the benchmark: a coordinator and N
// workers as child processes, in a temporary directory, on loopback ephemeral
// ports, exactly as a user would start them (bin/tweetdb.js). Also reads each
// node's memory from /proc, and its fsync counters through the public API.

import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { TweetdbClient, type ApiReply } from '../node/client.ts';

const BIN = fileURLToPath(new URL('../../bin/tweetdb.js', import.meta.url));
const START_TIMEOUT_MS = 30_000;

export interface BenchNode {
  name: string;
  proc: ChildProcess;
  address: string;
}

function spawnNode(name: string, args: string[], env: Record<string, string>, nodeArgs: string[]): Promise<BenchNode> {
  // Info level: the "listening on" line carries the address (port 0 picks a free one).
  const proc = spawn(process.execPath, [...nodeArgs, BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, TWEETDB_LOG_LEVEL: 'info', ...env } });
  const lines: string[] = [];
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${name} did not start within ${START_TIMEOUT_MS / 1000} s:\n${lines.join('\n')}`)), START_TIMEOUT_MS);
    for (const s of [proc.stdout, proc.stderr]) {
      createInterface({ input: s }).on('line', (line) => {
        if (lines.length < 200) lines.push(line);
        const m = /"address":"([^"]+)"/.exec(line);
        if (m !== null && line.includes('listening on')) {
          clearTimeout(timer);
          resolve({ name, proc, address: m[1] as string });
        }
      });
    }
    proc.once('exit', (code, sig) => {
      clearTimeout(timer);
      reject(new Error(`${name} exited (${sig ?? code}) before listening:\n${lines.join('\n')}`));
    });
  });
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

export interface FsyncCounts {
  coordinator: number;
  workers: number[];
  /** Milliseconds spent in those fsyncs, in total, per node. */
  coordinatorMs: number;
  workersMs: number[];
}

export async function request(address: string, body: Record<string, unknown>): Promise<ApiReply> {
  const c = await TweetdbClient.connect(address, 5_000);
  try {
    return await c.request(body, 60_000);
  } finally {
    c.close();
  }
}

/** fsyncs so far: the coordinator's decision log (status) and each worker's store (check). */
export async function fsyncCounts(address: string): Promise<FsyncCounts> {
  const s = await request(address, { action: 'status' });
  const c = await request(address, { action: 'check' });
  return {
    coordinator: (s.counters as { log_fsyncs?: number }).log_fsyncs ?? NaN,
    workers: (c.workers as { fsyncs?: number }[]).map((w) => w.fsyncs ?? NaN),
    coordinatorMs: (s.counters as { log_fsync_ms?: number }).log_fsync_ms ?? NaN,
    workersMs: (c.workers as { fsync_ms?: number }[]).map((w) => w.fsync_ms ?? NaN),
  };
}

export class BenchCluster {
  readonly dir: string;
  readonly nodes: BenchNode[] = [];

  private constructor(dir: string) {
    this.dir = dir;
  }

  get address(): string {
    return (this.nodes[0] as BenchNode).address;
  }

  /**
   * Starts a coordinator and `workers` workers; resolves once every worker is up.
   * `cpuProfileDir`: each node writes a V8 CPU profile there when it stops (node --cpu-prof).
   */
  static async start(workers: number, lockTimeoutS: number, env: Record<string, string> = {}, cpuProfileDir: string | null = null): Promise<BenchCluster> {
    const nodeArgs = cpuProfileDir === null ? [] : ['--cpu-prof', `--cpu-prof-dir=${cpuProfileDir}`];
    const c = new BenchCluster(mkdtempSync(join(tmpdir(), 'tweetdb-bench-')));
    try {
      c.nodes.push(await spawnNode('coordinator', ['coordinator', '--port', '0', '--data', join(c.dir, 'coordinator'), '--lock-timeout', String(lockTimeoutS)], env, nodeArgs));
      for (let i = 1; i <= workers; i++) {
        c.nodes.push(await spawnNode(`worker-${i}`, ['worker', '0', '--coordinator', c.address, '--data', join(c.dir, `worker-${i}`)], env, nodeArgs));
      }
      const until = Date.now() + START_TIMEOUT_MS;
      for (;;) {
        const s = await request(c.address, { action: 'status' });
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

  /** Stops every node (SIGTERM, by PID) and removes the data. */
  async stop(): Promise<void> {
    await Promise.all(
      this.nodes.map(
        (n) =>
          new Promise<void>((done) => {
            if (n.proc.exitCode !== null || n.proc.signalCode !== null) return done();
            n.proc.once('exit', () => done());
            n.proc.kill('SIGTERM');
          }),
      ),
    );
    rmSync(this.dir, { recursive: true, force: true });
  }
}
