// Real tweetdb processes on loopback, on ephemeral ports, for integration tests.
// Every process is started from bin/tweetdb.js exactly as a user would start it.

import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer } from 'node:net';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { TweetdbClient, type ApiReply } from '../../src/client/client.ts';
import { newClusterKeyText } from '../../src/node/cluster-key.ts';
import type { TlsConfig } from '../../src/node/transport.ts';

export const BIN = fileURLToPath(new URL('../../bin/tweetdb.js', import.meta.url));

export interface NodeProc {
  name: string;
  args: string[];
  proc: ChildProcess;
  /** host:port it listens on, from its log. */
  address: string;
  logs: string[];
  env: Record<string, string>;
}

export function spawnNode(name: string, args: string[], env: Record<string, string> = {}): Promise<NodeProc> {
  const proc = spawn(process.execPath, [BIN, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, TWEETDB_LOG_LEVEL: 'info', ...env },
  });
  const node: NodeProc = { name, args, proc, address: '', logs: [], env };
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${name} did not start listening within 20 s:\n${node.logs.join('\n')}`)), 20_000);
    for (const s of [proc.stdout, proc.stderr]) {
      if (s === null) continue;
      createInterface({ input: s }).on('line', (line) => {
        node.logs.push(line);
        if (node.address === '' && line.includes('listening on')) {
          try {
            const rec = JSON.parse(line) as { address?: string };
            if (rec.address !== undefined) {
              node.address = rec.address;
              clearTimeout(timer);
              resolve(node);
            }
          } catch {
            // not a log record
          }
        }
      });
    }
    proc.once('exit', (code, sig) => {
      clearTimeout(timer);
      if (node.address === '') reject(new Error(`${name} exited (${sig ?? code}) before listening:\n${node.logs.join('\n')}`));
    });
  });
}

export function waitExit(p: ChildProcess): Promise<void> {
  if (p.exitCode !== null || p.signalCode !== null) return Promise.resolve();
  return new Promise((r) => p.once('exit', () => r()));
}

export interface ClusterOptions {
  workers?: number;
  lockTimeout?: number;
  /** Loopback addresses to bind: [coordinator host, worker 1 host, ...]. */
  hosts?: string[];
  env?: Record<string, string>;
  /** Extra environment for one node, by name ('coordinator', 'worker-1', ...): failpoints, say. */
  nodeEnv?: Record<string, Record<string, string>>;
  /** Run without a cluster key (loopback's open mode); by default every test cluster has its own key. */
  noKey?: boolean;
  /** The cluster speaks TLS: the test's own clients use this (the nodes get their files through env). */
  clientTls?: TlsConfig;
  /** The coordinator wants a client token: the test's own clients send this one. */
  clientToken?: string;
}

export class Cluster {
  readonly dir: string;
  coordinator!: NodeProc;
  readonly workers: NodeProc[] = [];
  private readonly clients: TweetdbClient[] = [];
  private readonly opts: ClusterOptions;

  /** The cluster key file every node of this cluster is given (null with `noKey`). */
  readonly keyFile: string | null;

  private constructor(opts: ClusterOptions) {
    this.dir = mkdtempSync(join(tmpdir(), 'tweetdb-test-'));
    this.keyFile = opts.noKey === true ? null : join(this.dir, 'cluster.key');
    if (this.keyFile !== null) writeFileSync(this.keyFile, newClusterKeyText(), { mode: 0o600 });
    this.opts = { ...opts, env: { ...this.keyEnv, ...opts.env } };
  }

  /** The environment that hands this cluster's key to a node. */
  get keyEnv(): Record<string, string> {
    return this.keyFile === null ? {} : { TWEETDB_CLUSTER_KEY_FILE: this.keyFile };
  }

  static async start(opts: ClusterOptions = {}): Promise<Cluster> {
    const c = new Cluster(opts);
    await c.startCoordinator(0);
    const n = opts.workers ?? 2;
    for (let i = 0; i < n; i++) await c.addWorker();
    await c.waitAllUp(n);
    return c;
  }

  get address(): string {
    return this.coordinator.address;
  }

  private hostFor(i: number): string {
    return this.opts.hosts?.[i] ?? '127.0.0.1';
  }

  async startCoordinator(port: number): Promise<NodeProc> {
    const args = ['coordinator', '--port', String(port), '--host', this.hostFor(0), '--data', join(this.dir, 'coordinator')];
    if (this.opts.lockTimeout !== undefined) args.push('--lock-timeout', String(this.opts.lockTimeout));
    this.coordinator = await spawnNode('coordinator', args, { ...this.opts.env, ...this.opts.nodeEnv?.coordinator });
    return this.coordinator;
  }

  async addWorker(): Promise<NodeProc> {
    const i = this.workers.length + 1;
    const args = ['worker', '0', '--host', this.hostFor(i), '--coordinator', this.address, '--data', join(this.dir, `worker-${i}`)];
    const w = await spawnNode(`worker-${i}`, args, { ...this.opts.env, ...this.opts.nodeEnv?.[`worker-${i}`] });
    this.workers.push(w);
    return w;
  }

  /** kill -9. */
  async kill(node: NodeProc): Promise<void> {
    node.proc.kill('SIGKILL');
    await waitExit(node.proc);
  }

  /** Starts the node again with the same data directory and port (and, if given, this environment instead of its own). */
  async restart(node: NodeProc, env?: Record<string, string>): Promise<NodeProc> {
    const args = [...node.args];
    const port = node.address.slice(node.address.lastIndexOf(':') + 1);
    if (args[0] === 'worker') args[1] = port;
    else args[args.indexOf('--port') + 1] = port;
    // The cluster's key goes with every start, whatever else the environment is.
    const fresh = await spawnNode(node.name, args, { ...this.keyEnv, ...(env ?? node.env) });
    if (node === this.coordinator) this.coordinator = fresh;
    const wi = this.workers.indexOf(node);
    if (wi >= 0) this.workers[wi] = fresh;
    return fresh;
  }

  async client(): Promise<TweetdbClient> {
    const c = await TweetdbClient.connect(this.address, 5_000, this.opts.clientTls ?? null, this.opts.clientToken ?? null);
    this.clients.push(c);
    return c;
  }

  async request(body: Record<string, unknown>): Promise<ApiReply> {
    const c = await TweetdbClient.connect(this.address, 5_000, this.opts.clientTls ?? null, this.opts.clientToken ?? null);
    try {
      return await c.request(body);
    } finally {
      c.close();
    }
  }

  async status(): Promise<ApiReply> {
    return this.request({ action: 'status' });
  }

  /** Waits until `n` workers are registered and all are up. */
  async waitAllUp(n: number, timeoutMs = 30_000): Promise<void> {
    await eventually(async () => {
      const s = await this.status();
      const ws = s.workers as { state: string }[];
      return ws.length === n && ws.every((w) => w.state === 'up');
    }, timeoutMs, `${n} workers up`);
  }

  /** Waits until every copy is identical and nothing is in doubt; returns the check reply. */
  async waitConverged(timeoutMs = 30_000): Promise<{ id: string; count: number; digest: string; prepared: number; locks: number }[]> {
    let last: unknown;
    await eventually(async () => {
      const s = await this.status();
      if ((s.in_doubt as unknown[]).length > 0) return false;
      const ws = (s.workers as { state: string }[]);
      if (!ws.every((w) => w.state === 'up')) return false;
      const c = await this.request({ action: 'check' });
      last = c.workers;
      const parts = c.workers as { digest?: string; prepared?: number; locks?: number }[];
      const d = parts[0]?.digest;
      return d !== undefined && parts.every((p) => p.digest === d && p.prepared === 0 && p.locks === 0);
    }, timeoutMs, 'all copies identical with nothing in doubt', () => JSON.stringify(last));
    return last as { id: string; count: number; digest: string; prepared: number; locks: number }[];
  }

  async stop(): Promise<void> {
    for (const c of this.clients) c.close();
    const all = [this.coordinator, ...this.workers].filter((n) => n !== undefined);
    for (const n of all) if (n.proc.exitCode === null && n.proc.signalCode === null) n.proc.kill('SIGTERM');
    await Promise.all(all.map((n) => waitExit(n.proc)));
    rmSync(this.dir, { recursive: true, force: true });
  }
}

export async function eventually(check: () => Promise<boolean>, timeoutMs: number, what: string, detail?: () => string): Promise<void> {
  const until = Date.now() + timeoutMs;
  let lastErr: unknown = null;
  while (Date.now() < until) {
    try {
      if (await check()) return;
    } catch (e) {
      lastErr = e;
    }
    await sleep(100);
  }
  throw new Error(`timed out waiting for: ${what}${detail ? `\nlast: ${detail()}` : ''}${lastErr ? `\nlast error: ${String(lastErr)}` : ''}`);
}

/**
 * Ports handed out for a server to bind later come from below Linux's ephemeral range (32768 and up):
 * a port from that range can be taken meanwhile as the local end of any outgoing connection (the
 * fuzzers open thousands), and a test that starts a server twice on one port would then find it taken.
 */
export const FIXED_PORT_RANGE = { from: 20_000, to: 32_000 } as const;

/** A port that is free on `host` right now, from FIXED_PORT_RANGE (bound, read, closed). */
export async function freePort(host = '127.0.0.1'): Promise<number> {
  for (let i = 0; i < 200; i++) {
    const p = FIXED_PORT_RANGE.from + Math.floor(Math.random() * (FIXED_PORT_RANGE.to - FIXED_PORT_RANGE.from));
    if (await canBind(host, p)) return p;
  }
  throw new Error(`no free port on ${host} in ${FIXED_PORT_RANGE.from}-${FIXED_PORT_RANGE.to}`);
}

function canBind(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once('error', () => resolve(false));
    s.listen(port, host, () => s.close(() => resolve(true)));
  });
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
