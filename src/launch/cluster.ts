// A local tweetdb cluster of real processes on loopback, on ephemeral ports: a coordinator and
// workers started from bin/tweetdb.js by the launcher, each killed (kill -9) and restarted on
// its data at will. The tests and the chaos run use it.

import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TweetdbClient, type ApiReply, type CoordinatorAccess } from '../client/client.ts';
import { randomBytes } from 'node:crypto';
import { ADMIN_TOKEN_FILE_NAME } from '../node/access-tokens.ts';
import { newClusterKeyText } from '../node/cluster-key.ts';
import type { TlsConfig } from '../node/transport.ts';
import { eventually } from './eventually.ts';
import { spawnNode, stopProcesses, waitExit, type NodeProc } from './processes.ts';

export interface ClusterOptions {
  workers?: number;
  lockTimeout?: number;
  /** The coordinator's --evict-after, in seconds (its default otherwise). */
  evictAfter?: number;
  /** The coordinator's --min-voters (its default otherwise). */
  minVoters?: number;
  /** Loopback addresses to bind: [coordinator host, worker 1 host, ...]. */
  hosts?: string[];
  env?: Record<string, string>;
  /** Extra environment for one node, by name ('coordinator', 'worker-1', ...): failpoints, say. */
  nodeEnv?: Record<string, Record<string, string>>;
  /** Run without a cluster key (loopback's open mode); by default every cluster has its own key. */
  noKey?: boolean;
  /** The cluster speaks TLS: its own clients (client(), request()) use this (the nodes get their files through env). */
  clientTls?: TlsConfig;
  /** The coordinator wants a client token: openRequest() sends this one (the others send the admin token, which opens as much and more). */
  clientToken?: string;
}

export class LocalCluster {
  readonly dir: string;
  coordinator!: NodeProc;
  readonly workers: NodeProc[] = [];
  private readonly clients: TweetdbClient[] = [];
  private readonly opts: ClusterOptions;

  /** The cluster key file every node of this cluster is given (null with `noKey`). */
  readonly keyFile: string | null;
  /** The coordinator's admin token (README Security, "Roles") and its file, given to the coordinator and to web apps. */
  readonly adminToken = randomBytes(32).toString('hex');
  readonly adminTokenFile: string;

  private constructor(opts: ClusterOptions) {
    this.dir = mkdtempSync(join(tmpdir(), 'tweetdb-test-'));
    this.keyFile = opts.noKey === true ? null : join(this.dir, 'cluster.key');
    if (this.keyFile !== null) writeFileSync(this.keyFile, newClusterKeyText(), { mode: 0o600 });
    this.adminTokenFile = join(this.dir, ADMIN_TOKEN_FILE_NAME);
    writeFileSync(this.adminTokenFile, this.adminToken + '\n', { mode: 0o600 });
    this.opts = { ...opts, env: { ...this.keyEnv, ...opts.env } };
  }

  /** The environment that hands this cluster's key and its admin token file to a node (a web app too). */
  get keyEnv(): Record<string, string> {
    return { ...(this.keyFile === null ? {} : { TWEETDB_CLUSTER_KEY_FILE: this.keyFile }), TWEETDB_ADMIN_TOKEN_FILE: this.adminTokenFile };
  }

  /** How this cluster's own clients reach it: as admins. */
  get access(): CoordinatorAccess {
    return { tls: this.opts.clientTls ?? null, token: this.adminToken };
  }

  static async start(opts: ClusterOptions = {}): Promise<LocalCluster> {
    const c = new LocalCluster(opts);
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
    const data = join(this.dir, 'coordinator');
    // A cluster's first coordinator forms it at once; one started again on no data takes its workers' cluster over.
    const args = ['coordinator', '--port', String(port), '--host', this.hostFor(0), '--data', data, ...(existsSync(data) || this.workers.length > 0 ? [] : ['--new-cluster'])];
    if (this.opts.lockTimeout !== undefined) args.push('--lock-timeout', String(this.opts.lockTimeout));
    if (this.opts.evictAfter !== undefined) args.push('--evict-after', String(this.opts.evictAfter));
    if (this.opts.minVoters !== undefined) args.push('--min-voters', String(this.opts.minVoters));
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
    // A restart is never a new cluster.
    const args = node.args.filter((a) => a !== '--new-cluster');
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

  /** A client with the admin token; `open`: without it (with the client token, if the coordinator wants one). */
  async client(open = false): Promise<TweetdbClient> {
    const c = await TweetdbClient.connect(this.address, 5_000, this.opts.clientTls ?? null, open ? (this.opts.clientToken ?? null) : this.adminToken);
    this.clients.push(c);
    return c;
  }

  /** One request on a connection of its own, as an admin. */
  async request(body: Record<string, unknown>): Promise<ApiReply> {
    return this.requestAs(body, this.adminToken);
  }

  /** One request as a client without the admin token: what anyone who reaches the port may do. */
  async openRequest(body: Record<string, unknown>): Promise<ApiReply> {
    return this.requestAs(body, this.opts.clientToken ?? null);
  }

  private async requestAs(body: Record<string, unknown>, token: string | null): Promise<ApiReply> {
    const c = await TweetdbClient.connect(this.address, 5_000, this.opts.clientTls ?? null, token);
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
    await stopProcesses(all.map((n) => n.proc));
    rmSync(this.dir, { recursive: true, force: true });
  }
}
