// The `tweetdb` command: every piece of the system is a subcommand.
// Every flag has an environment variable twin (TWEETDB_<FLAG>).

import { Command, InvalidArgumentError, Option } from 'commander';
import { join, resolve } from 'node:path';
import { CoordinatorNode } from '../node/coordinator-node.ts';
import { WorkerNode } from '../node/worker-node.ts';
import { WebNode } from '../web/web-node.ts';
import { parseTrustProxy } from '../web/trust-proxy.ts';
import { parseAddress } from '../wire/validate.ts';
import { runStart, listenErrorLine, EXIT_CANNOT_LISTEN, type ListenFlags } from './start.ts';
import { runClient } from './client.ts';
import { armFailpoints, FailpointError } from '../node/failpoints.ts';
import { WORKLOADS, WORKLOAD_HELP, type Workload } from '../bench/load.ts';
import { loadTls, TlsSetupError, type TlsConfig } from '../node/transport.ts';
import { AccessTokenError, ADMIN_TOKEN_FILE_NAME, ensureAdminTokenFile, readTokenFile } from '../node/access-tokens.ts';
import type { CoordinatorAccess } from '../client/client.ts';
import { ClusterKeyError, newClusterKeyText, readClusterKeyFile } from '../node/cluster-key.ts';

export const DEFAULTS = {
  host: '127.0.0.1',
  coordinatorPort: 8571,
  webPort: 8570,
  coordinator: '127.0.0.1:8571',
  lockTimeoutS: 10,
  evictAfterS: 10,
  minVoters: 1,
  workers: 2,
  firstWorkerPort: 10001,
  data: './data',
} as const;

function port(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new InvalidArgumentError('a port is a whole number from 0 to 65535 (0 picks a free one)');
  return n;
}

function seconds(v: string): number {
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0 || n > 3600) throw new InvalidArgumentError('the lock timeout is a number of seconds above 0 and at most 3600');
  return n;
}

/** The longest --evict-after: a day, in effect never (a worker down that long is not coming back by itself). */
const EVICT_AFTER_MAX_S = 86_400;

function evictSeconds(v: string): number {
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0 || n > EVICT_AFTER_MAX_S) throw new InvalidArgumentError(`the eviction delay is a number of seconds above 0 and at most ${EVICT_AFTER_MAX_S}`);
  return n;
}

function minVoters(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1 || n > 32) throw new InvalidArgumentError('the least number of voters is a whole number from 1 to 32');
  return n;
}

/** --evict-after, on `tweetdb coordinator` and on `tweetdb start` (which passes it on). */
function evictAfterOption(): Option {
  return new Option('--evict-after <seconds>', 'a voting worker not up for this long is taken out of the voting set, so writes go on without it (it rejoins as a learner)')
    .default(DEFAULTS.evictAfterS)
    .argParser(evictSeconds)
    .env('TWEETDB_EVICT_AFTER');
}

/** --min-voters, on `tweetdb coordinator` and on `tweetdb start` (which passes it on). */
function minVotersOption(): Option {
  return new Option('--min-voters <n>', 'refuse writes (UNAVAILABLE) while fewer workers vote: the least number of copies every acknowledged write has')
    .default(DEFAULTS.minVoters)
    .argParser(minVoters)
    .env('TWEETDB_MIN_VOTERS');
}

function idleSeconds(v: string): number {
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0 || n > 86_400) throw new InvalidArgumentError('the idle timeout is a number of seconds from 0 (never) to 86400');
  return n;
}

function count(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1 || n > 32) throw new InvalidArgumentError('the number of workers is a whole number from 1 to 32');
  return n;
}

function address(v: string): string {
  if (parseAddress(v) === null) throw new InvalidArgumentError('an address is HOST:PORT, for example 127.0.0.1:8571');
  return v;
}

const CLUSTER_KEY_HELP = 'file holding the cluster\'s shared secret (make one with `tweetdb secret`); every node of a cluster needs the same one, and a node bound to a non-loopback address refuses to start without it';

const METRICS_PORT_HELP = 'serve Prometheus metrics at http://HOST:PORT/metrics on the --host address (off unless given)';

/** Starts the metrics server when --metrics-port is given, or says in one line why it cannot. */
async function metricsOrExit(port: number | undefined, host: string, registry: import('prom-client').Registry): Promise<void> {
  if (port === undefined) return;
  const { serveMetrics } = await import('../node/metrics.ts');
  await listenOrExit(() => serveMetrics(registry, host, port).then(() => undefined), host, port, { port: '--metrics-port or TWEETDB_METRICS_PORT', host: '--host or TWEETDB_HOST' });
}

const CLIENT_TOKEN_HELP = 'file holding the token the coordinator was given with --client-token-file; sent first on every connection';

function clientToken(path: string | undefined): string | null {
  return path === undefined || path === '' ? null : readTokenFile(resolve(path), 'client');
}

/** Where a coordinator started with the defaults (and `tweetdb start`) keeps its admin token. */
const DEFAULT_ADMIN_TOKEN_FILE = join(DEFAULTS.data, 'coordinator', ADMIN_TOKEN_FILE_NAME);
const ADMIN_TOKEN_HELP = `file holding the coordinator's admin token (README Security, "Roles"); default ${DEFAULT_ADMIN_TOKEN_FILE}, where tweetdb start and a coordinator with the default --data keep it`;

/** The admin token for a command that needs it (the web app, tweetdb admin). */
function adminToken(path: string | undefined): string {
  const file = resolve(path === undefined || path === '' ? DEFAULT_ADMIN_TOKEN_FILE : path);
  try {
    return readTokenFile(file, 'admin');
  } catch (e) {
    throw new AccessTokenError(`${(e as Error).message}. The coordinator makes its admin token at its first start, as DATA/${ADMIN_TOKEN_FILE_NAME} in its data directory (or the file its --admin-token-file names): pass that file with --admin-token-file or TWEETDB_ADMIN_TOKEN_FILE`);
  }
}

/** The cluster key named by --cluster-key-file, or null when none is given (loopback only). */
function clusterKey(path: string | undefined): Buffer | null {
  return path === undefined || path === '' ? null : readClusterKeyFile(resolve(path));
}

/** A problem with the set-up (a key file, say) is one line a person can act on, not a stack trace. */
function setupError(e: unknown): never {
  if (e instanceof ClusterKeyError || e instanceof TlsSetupError || e instanceof AccessTokenError) {
    console.error(`tweetdb: ${e.message}`);
    process.exit(2);
  }
  throw e;
}

interface TlsFlags {
  tlsCert?: string;
  tlsKey?: string;
  tlsCa?: string;
}

/** --tls-cert, --tls-key, --tls-ca (and their environment twins) on a command. */
function withTls(cmd: Command, forClient: boolean): Command {
  return cmd
    .addOption(new Option('--tls-cert <file>', forClient ? 'this client\'s certificate (PEM), if the coordinator asks for one' : 'this node\'s certificate (PEM; `tweetdb certs` makes them)').env('TWEETDB_TLS_CERT'))
    .addOption(new Option('--tls-key <file>', 'the key of --tls-cert (PEM)').env('TWEETDB_TLS_KEY'))
    .addOption(new Option('--tls-ca <file>', forClient ? 'the CA certificate that signed the coordinator\'s (PEM): speak TLS to it' : 'the cluster\'s CA certificate (PEM): every peer\'s certificate must chain to it').env('TWEETDB_TLS_CA'));
}

function tlsOf(o: TlsFlags, role: 'node' | 'client'): TlsConfig | null {
  return loadTls({ cert: o.tlsCert, key: o.tlsKey, ca: o.tlsCa }, role);
}

/** Stops cleanly on SIGINT/SIGTERM. */
function onSignals(stop: () => Promise<void>): void {
  let stopping = false;
  const handler = (): void => {
    if (stopping) return;
    stopping = true;
    stop().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.on('SIGINT', handler);
  process.on('SIGTERM', handler);
}

/** Listens, or says in one line why it cannot (a taken port, say) and which flag changes it: no stack trace. */
async function listenOrExit(start: () => Promise<void>, host: string, port: number, flags: ListenFlags): Promise<void> {
  try {
    await start();
  } catch (e) {
    const line = listenErrorLine(e, host, port, flags);
    if (line === null) throw e;
    console.error(`tweetdb: ${line}`);
    process.exit(EXIT_CANNOT_LISTEN);
  }
}

// Failpoints are for tests (see src/node/failpoints.ts); a misspelt one must not pass silently.
try {
  armFailpoints(process.env.TWEETDB_FAILPOINTS);
} catch (e) {
  if (!(e instanceof FailpointError)) throw e;
  console.error(`tweetdb: ${e.message}`);
  process.exit(2);
}

const program = new Command();
program
  .name('tweetdb')
  .description('A replicated tweet store whose writes are atomic across all of its storage nodes (two-phase commit).')
  .showHelpAfterError();

withTls(program
  .command('coordinator'), false)
  .description('run the coordinator: the TCP JSON API and the two-phase commit over the workers')
  .addOption(new Option('--port <port>', 'port of the TCP API').default(DEFAULTS.coordinatorPort).argParser(port).env('TWEETDB_PORT'))
  .addOption(new Option('--host <host>', 'address to bind (the API is trusted: keep it private)').default(DEFAULTS.host).env('TWEETDB_HOST'))
  .addOption(new Option('--data <dir>', 'data directory (default ./data/coordinator)').env('TWEETDB_DATA'))
  .addOption(new Option('--lock-timeout <seconds>', 'lock timeout for the whole cluster').default(DEFAULTS.lockTimeoutS).argParser(seconds).env('TWEETDB_LOCK_TIMEOUT'))
  .addOption(evictAfterOption())
  .addOption(minVotersOption())
  .addOption(
    new Option('--new-cluster', 'with an empty data directory, start a new cluster (without it, such a coordinator waits for a worker holding a cluster\'s data and takes that cluster over); ignored once the data directory holds a cluster').env('TWEETDB_NEW_CLUSTER'),
  )
  .addOption(
    new Option('--idle-timeout <seconds>', 'close a client connection silent this long with nothing in flight and no subscription (0: never)')
      .default(0)
      .argParser(idleSeconds)
      .env('TWEETDB_IDLE_TIMEOUT'),
  )
  .addOption(new Option('--cluster-key-file <file>', CLUSTER_KEY_HELP).env('TWEETDB_CLUSTER_KEY_FILE'))
  .addOption(new Option('--client-token-file <file>', 'require every client to send this token first ({"action":"auth","token":...}); without it, clients need none').env('TWEETDB_CLIENT_TOKEN_FILE'))
  .addOption(new Option('--admin-token-file <file>', `the admin token, which items, trace, resolve and remove_worker need (default DATA/${ADMIN_TOKEN_FILE_NAME}, made with mode 0600 when missing)`).env('TWEETDB_ADMIN_TOKEN_FILE'))
  .addOption(new Option('--metrics-port <port>', METRICS_PORT_HELP).argParser(port).env('TWEETDB_METRICS_PORT'))
  .action(async (o: { port: number; host: string; data?: string; lockTimeout: number; idleTimeout: number; evictAfter: number; minVoters: number; newCluster?: boolean; clusterKeyFile?: string; clientTokenFile?: string; adminTokenFile?: string; metricsPort?: number } & TlsFlags) => {
    let node: CoordinatorNode;
    const metrics = o.metricsPort === undefined ? undefined : new (await import('../node/metrics.ts')).CoordinatorMetrics();
    const dataDir = resolve(o.data ?? join(DEFAULTS.data, 'coordinator'));
    try {
      const adminFile = o.adminTokenFile === undefined || o.adminTokenFile === '' ? join(dataDir, ADMIN_TOKEN_FILE_NAME) : resolve(o.adminTokenFile);
      node = new CoordinatorNode({
        host: o.host,
        port: o.port,
        dataDir,
        lockTimeoutMs: Math.round(o.lockTimeout * 1000),
        idleTimeoutMs: Math.round(o.idleTimeout * 1000),
        evictAfterMs: Math.round(o.evictAfter * 1000),
        minVoters: o.minVoters,
        newCluster: o.newCluster === true,
        clusterKey: clusterKey(o.clusterKeyFile),
        tls: tlsOf(o, 'node'),
        clientToken: clientToken(o.clientTokenFile),
        // One named by the operator must exist; the default one is made at the first start.
        adminToken: o.adminTokenFile === undefined || o.adminTokenFile === '' ? ensureAdminTokenFile(adminFile) : readTokenFile(adminFile, 'admin'),
        adminTokenFile: adminFile,
        ...(metrics !== undefined ? { metrics } : {}),
      });
    } catch (e) {
      setupError(e);
    }
    onSignals(() => node.stop());
    await listenOrExit(() => node.start(), o.host, o.port, { port: '--port or TWEETDB_PORT', host: '--host or TWEETDB_HOST' });
    if (metrics !== undefined) await metricsOrExit(o.metricsPort, o.host, metrics.registry);
  });

withTls(program
  .command('worker'), false)
  .description('run a worker: a full durable copy of the data that votes in two-phase commit')
  .argument('[port]', 'port to listen on', port, DEFAULTS.firstWorkerPort)
  .addOption(new Option('--coordinator <host:port>', 'the coordinator to register with').default(DEFAULTS.coordinator).argParser(address).env('TWEETDB_COORDINATOR'))
  .addOption(new Option('--host <host>', 'address to bind').default(DEFAULTS.host).env('TWEETDB_HOST'))
  .addOption(new Option('--advertise <host:port>', 'address the coordinator should dial (default: the bound host:port)').argParser(address).env('TWEETDB_ADVERTISE'))
  .addOption(new Option('--data <dir>', 'data directory (default ./data/worker-PORT)').env('TWEETDB_DATA'))
  .addOption(new Option('--cluster-key-file <file>', CLUSTER_KEY_HELP).env('TWEETDB_CLUSTER_KEY_FILE'))
  .addOption(new Option('--metrics-port <port>', METRICS_PORT_HELP).argParser(port).env('TWEETDB_METRICS_PORT'))
  .action(async (p: number, o: { coordinator: string; host: string; advertise?: string; data?: string; clusterKeyFile?: string; metricsPort?: number } & TlsFlags) => {
    let node: WorkerNode;
    const metrics = o.metricsPort === undefined ? undefined : new (await import('../node/metrics.ts')).WorkerMetrics();
    try {
      node = new WorkerNode({
        host: o.host,
        port: p,
        advertise: o.advertise ?? null,
        coordinator: o.coordinator,
        dataDir: resolve(o.data ?? join(DEFAULTS.data, `worker-${p}`)),
        clusterKey: clusterKey(o.clusterKeyFile),
        tls: tlsOf(o, 'node'),
        ...(metrics !== undefined ? { metrics } : {}),
      });
    } catch (e) {
      setupError(e);
    }
    onSignals(() => node.stop());
    await listenOrExit(() => node.start(), o.host, p, { port: 'the PORT argument (tweetdb worker PORT)', host: '--host or TWEETDB_HOST' });
    if (metrics !== undefined) await metricsOrExit(o.metricsPort, o.host, metrics.registry);
  });

withTls(program
  .command('web'), true)
  .description('run the web app (accounts, timeline, live updates): a client of the coordinator')
  .addOption(new Option('--port <port>', 'port of the web server').default(DEFAULTS.webPort).argParser(port).env('TWEETDB_WEB_PORT'))
  .addOption(new Option('--host <host>', 'address to bind').default(DEFAULTS.host).env('TWEETDB_WEB_HOST'))
  .addOption(new Option('--coordinator <host:port>', 'the coordinator').default(DEFAULTS.coordinator).argParser(address).env('TWEETDB_COORDINATOR'))
  .addOption(new Option('--secure-cookies', 'mark the session cookie Secure (serve it behind HTTPS)').env('TWEETDB_SECURE_COOKIES'))
  .addOption(
    new Option('--trust-proxy <addresses>', 'the proxies (comma-separated addresses or CIDR ranges, or loopback) whose X-Forwarded-For names the client; without it X-Forwarded-For is ignored')
      .argParser((v: string): string[] => {
        try {
          return parseTrustProxy(v);
        } catch (e) {
          throw new InvalidArgumentError((e as Error).message);
        }
      })
      .env('TWEETDB_TRUST_PROXY'),
  )
  .addOption(new Option('--admin-token-file <file>', `${ADMIN_TOKEN_HELP}; the web app keeps accounts and sessions as items, which need it`).env('TWEETDB_ADMIN_TOKEN_FILE'))
  .action(async (o: { port: number; host: string; coordinator: string; secureCookies?: boolean; trustProxy?: string[]; adminTokenFile?: string } & TlsFlags) => {
    let access: CoordinatorAccess;
    try {
      // The admin token opens the coordinator to it whether or not it also wants a client token.
      access = { tls: tlsOf(o, 'client'), token: adminToken(o.adminTokenFile) };
    } catch (e) {
      setupError(e);
    }
    const node = new WebNode({ host: o.host, port: o.port, coordinator: o.coordinator, coordinatorAccess: access, secureCookies: o.secureCookies === true, ...(o.trustProxy !== undefined ? { trustProxy: o.trustProxy } : {}) });
    onSignals(() => node.stop());
    await listenOrExit(() => node.start(), o.host, o.port, { port: '--port or TWEETDB_WEB_PORT', host: '--host or TWEETDB_WEB_HOST' });
  });

program
  .command('start')
  .description('run a whole local cluster: a coordinator and its workers (what `npm start` runs); Ctrl-C stops all')
  .addOption(new Option('--workers <n>', 'number of workers').default(DEFAULTS.workers).argParser(count).env('TWEETDB_WORKERS'))
  .addOption(new Option('--data <dir>', 'data directory; each node gets a folder in it').default(DEFAULTS.data).env('TWEETDB_DATA'))
  .addOption(new Option('--port <port>', 'coordinator port').default(DEFAULTS.coordinatorPort).argParser(port).env('TWEETDB_PORT'))
  .addOption(new Option('--worker-port <port>', 'port of the first worker; the others follow it').default(DEFAULTS.firstWorkerPort).argParser(port).env('TWEETDB_WORKER_PORT'))
  .addOption(new Option('--host <host>', 'address every node binds').default(DEFAULTS.host).env('TWEETDB_HOST'))
  .addOption(new Option('--lock-timeout <seconds>', 'lock timeout for the whole cluster').default(DEFAULTS.lockTimeoutS).argParser(seconds).env('TWEETDB_LOCK_TIMEOUT'))
  .addOption(evictAfterOption())
  .addOption(minVotersOption())
  .addOption(new Option('--web-port <port>', 'port of the web app').default(DEFAULTS.webPort).argParser(port).env('TWEETDB_WEB_PORT'))
  .addOption(new Option('--no-web', 'do not start the web app').env('TWEETDB_NO_WEB'))
  .addOption(new Option('--cluster-key-file <file>', 'the cluster key every node gets (default DATA/cluster.key, made with mode 0600 when missing)').env('TWEETDB_CLUSTER_KEY_FILE'))
  .action(async (o: { workers: number; data: string; port: number; workerPort: number; host: string; lockTimeout: number; evictAfter: number; minVoters: number; webPort: number; web: boolean; clusterKeyFile?: string }) => {
    await runStart({ ...o, clusterKeyFile: o.clusterKeyFile === '' ? undefined : o.clusterKeyFile });
  });

program
  .command('certs')
  .description('make a CA and a certificate for each node (openssl), for --tls-cert/--tls-key/--tls-ca; keep ca-key.pem offline')
  .requiredOption('--nodes <list>', 'one entry per node, comma-separated; an entry is its addresses and names joined by +, e.g. 10.0.0.1,10.0.0.2+db2.internal,10.0.0.3')
  .addOption(new Option('--out <dir>', 'where the files go (an existing CA there is reused)').default('./certs'))
  .action(async (o: { nodes: string; out: string }) => {
    const { makeCerts, CertsError } = await import('./certs.ts');
    try {
      const made = makeCerts({ out: resolve(o.out), nodes: o.nodes.split(',').filter((n) => n.trim() !== '') });
      console.log(`CA: ${made.ca} (its key ${made.caKey}: keep it off the nodes)`);
      for (const n of made.nodes) console.log(`${n.name}: --tls-cert ${n.cert} --tls-key ${n.key} --tls-ca ${made.ca}   (${n.altNames.join(', ')})`);
    } catch (e) {
      if (!(e instanceof CertsError)) throw e;
      console.error(`tweetdb certs: ${e.message}`);
      process.exit(2);
    }
  });

program
  .command('secret')
  .description('print a new cluster key (256 random bits as hex): save it to a file (chmod 600) on every node and pass --cluster-key-file')
  .action(() => {
    process.stdout.write(newClusterKeyText());
  });

withTls(program
  .command('client'), true)
  .description('interactive shell on the coordinator\'s TCP API (reads requests from standard input when it is not a terminal)')
  .addOption(new Option('--coordinator <host:port>', 'the coordinator').default(DEFAULTS.coordinator).argParser(address).env('TWEETDB_COORDINATOR'))
  .addOption(new Option('--compact', 'print each reply on one line').env('TWEETDB_COMPACT'))
  .addOption(new Option('--client-token-file <file>', CLIENT_TOKEN_HELP).env('TWEETDB_CLIENT_TOKEN_FILE'))
  .addOption(new Option('--admin-token-file <file>', 'send the coordinator\'s admin token instead, for the actions only admins may use (items, trace, resolve, remove_worker)').env('TWEETDB_ADMIN_TOKEN_FILE'))
  .action(async (o: { coordinator: string; compact?: boolean; clientTokenFile?: string; adminTokenFile?: string } & TlsFlags) => {
    let access: CoordinatorAccess;
    try {
      const asAdmin = o.adminTokenFile !== undefined && o.adminTokenFile !== '';
      access = { tls: tlsOf(o, 'client'), token: asAdmin ? adminToken(o.adminTokenFile) : clientToken(o.clientTokenFile) };
    } catch (e) {
      setupError(e);
    }
    process.exitCode = await runClient(o.coordinator, o.compact === true, access);
  });

withTls(program
  .command('status'), true)
  .description('the cluster at a glance: the voting set (configuration number, evict-after, min-voters), every node (role, state, member: voter, learner or evicted, applied commit and lag, copy digest, prepared, locks, mean fsync), each learner\'s progress, and every transaction in doubt; exit 0 healthy, 1 something down or in doubt, 2 coordinator unreachable')
  .addOption(new Option('--coordinator <host:port>', 'the coordinator').default(DEFAULTS.coordinator).argParser(address).env('TWEETDB_COORDINATOR'))
  .addOption(new Option('--watch', 'redraw every second until Ctrl-C'))
  .addOption(new Option('--json', 'print the raw object (the coordinator\'s status and check replies); with --watch, one line a second'))
  .addOption(new Option('--client-token-file <file>', CLIENT_TOKEN_HELP).env('TWEETDB_CLIENT_TOKEN_FILE'))
  .action(async (o: { coordinator: string; watch?: boolean; json?: boolean; clientTokenFile?: string } & TlsFlags) => {
    let access: CoordinatorAccess;
    try {
      access = { tls: tlsOf(o, 'client'), token: clientToken(o.clientTokenFile) };
    } catch (e) {
      setupError(e);
    }
    const { runStatus } = await import('./status.ts');
    const stop = new AbortController();
    process.once('SIGINT', () => stop.abort());
    process.once('SIGTERM', () => stop.abort());
    process.exitCode = await runStatus({ coordinator: o.coordinator, watch: o.watch === true, json: o.json === true, access, signal: stop.signal });
  });

const admin = program.command('admin').description('operator actions: settle a transaction by hand, take a worker out of the cluster');
withTls(admin
  .command('resolve <txid> <outcome>'), true)
  .description('settle by hand a transaction workers hold prepared and the coordinator no longer knows (its data directory was lost): shows what each worker knows, asks for confirmation, refuses where a record decides it; only abort is carried out; exit 0 resolved or nothing to do, 1 refused, 2 not asked (no terminal and no --yes, coordinator unreachable or the request refused)')
  .addOption(new Option('--coordinator <host:port>', 'the coordinator').default(DEFAULTS.coordinator).argParser(address).env('TWEETDB_COORDINATOR'))
  .addOption(new Option('--yes', 'do not ask for confirmation'))
  .addOption(new Option('--admin-token-file <file>', ADMIN_TOKEN_HELP).env('TWEETDB_ADMIN_TOKEN_FILE'))
  .action(async (txid: string, outcome: string, o: { coordinator: string; yes?: boolean; adminTokenFile?: string } & TlsFlags) => {
    if (outcome !== 'commit' && outcome !== 'abort') {
      console.error(`tweetdb admin resolve: the outcome must be commit or abort, not ${JSON.stringify(outcome)}`);
      process.exit(2);
    }
    let access: CoordinatorAccess;
    try {
      access = { tls: tlsOf(o, 'client'), token: adminToken(o.adminTokenFile) };
    } catch (e) {
      setupError(e);
    }
    const { runResolve } = await import('./admin.ts');
    process.exitCode = await runResolve({ coordinator: o.coordinator, txid, outcome, yes: o.yes === true, access, stdinIsTty: process.stdin.isTTY === true });
  });

withTls(admin
  .command('remove-worker <worker>'), true)
  .description('take a worker (its id or HOST:PORT, as tweetdb status lists them) out of the cluster for good: out of the voting set and the membership; it is told so, stops (exit 0) and keeps its data directory; the last voter is refused; exit 0 removed, 1 refused, 2 coordinator unreachable')
  .addOption(new Option('--coordinator <host:port>', 'the coordinator').default(DEFAULTS.coordinator).argParser(address).env('TWEETDB_COORDINATOR'))
  .addOption(new Option('--admin-token-file <file>', ADMIN_TOKEN_HELP).env('TWEETDB_ADMIN_TOKEN_FILE'))
  .action(async (worker: string, o: { coordinator: string; adminTokenFile?: string } & TlsFlags) => {
    let access: CoordinatorAccess;
    try {
      access = { tls: tlsOf(o, 'client'), token: adminToken(o.adminTokenFile) };
    } catch (e) {
      setupError(e);
    }
    const { runRemoveWorker } = await import('./admin.ts');
    process.exitCode = await runRemoveWorker({ coordinator: o.coordinator, worker, access });
  });

function benchAdminToken(path: string): string {
  try {
    return adminToken(path);
  } catch (e) {
    return setupError(e);
  }
}

function concurrencyList(v: string): number[] {
  const list = v.split(',').map((x) => Number(x.trim()));
  if (list.length === 0 || list.some((n) => !Number.isInteger(n) || n < 1 || n > 4096)) {
    throw new InvalidArgumentError('a comma-separated list of client counts from 1 to 4096, for example 1,16,64,256');
  }
  return list;
}

function wholeNumber(max: number): (v: string) => number {
  return (v: string): number => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 0 || n > max) throw new InvalidArgumentError(`a whole number from 0 to ${max}`);
    return n;
  };
}

program
  .command('bench')
  .description('benchmark: a fresh durable cluster with a cluster key (or a running one) under closed-loop clients at several concurrencies, with the per-phase times of its commits; prints tables and writes JSON, Markdown and an SVG chart')
  .addOption(new Option('--workload <name>', `one of: ${WORKLOADS.map((w) => `${w} (${WORKLOAD_HELP[w]})`).join('; ')}`).choices(WORKLOADS).default('post').env('TWEETDB_BENCH_WORKLOAD'))
  .addOption(new Option('--concurrency <list>', 'client counts to run, one after another').default([1, 16, 64, 256], '1,16,64,256').argParser(concurrencyList).env('TWEETDB_BENCH_CONCURRENCY'))
  .addOption(new Option('--seconds <s>', 'measured seconds at each concurrency').default(10).argParser(wholeNumber(3600)).env('TWEETDB_BENCH_SECONDS'))
  .addOption(new Option('--warmup <s>', 'seconds run before measuring at each concurrency').default(2).argParser(wholeNumber(600)).env('TWEETDB_BENCH_WARMUP'))
  .addOption(new Option('--workers <n>', 'workers of the fresh cluster').default(DEFAULTS.workers).argParser(count).env('TWEETDB_WORKERS'))
  .addOption(new Option('--preload <n>', 'tweets stored before measuring (default: 100000 for read, else 0)').argParser(wholeNumber(10_000_000)).env('TWEETDB_BENCH_PRELOAD'))
  .addOption(new Option('--coordinator <host:port>', 'benchmark this running cluster instead of a fresh one').argParser(address).env('TWEETDB_COORDINATOR'))
  .addOption(new Option('--admin-token-file <file>', 'with --coordinator: that cluster\'s admin token, for the per-phase times (the trace feed needs it; without it they are not measured)').env('TWEETDB_ADMIN_TOKEN_FILE'))
  .addOption(
    new Option(
      '--compare <what>',
      'postgres: also run the post workload against PostgreSQL\'s two-phase commit over two local clusters; security: run the workload against three fresh clusters in turn, open (no cluster key), key (authenticated links) and key+tls (and TLS on every link and client connection), with each one\'s cost against open; metrics: against two fresh keyed clusters in turn, off (no --metrics-port) and on (--metrics-port on every node: Prometheus metrics and the coordinator\'s tracing), with the cost of on against off; connect: the post workload at each concurrency with persistent clients, then with one connection per request (post-connect), with the second against the first',
    ).choices(['postgres', 'security', 'metrics', 'connect']),
  )
  .addOption(
    new Option('--phase-seconds <s>', 'after each measured window, seconds the load goes on while the coordinator\'s trace feed is followed, for the per-phase times of a commit (0: none)')
      .default(2)
      .argParser(wholeNumber(600))
      .env('TWEETDB_BENCH_PHASE_SECONDS'),
  )
  .addOption(new Option('--lock-timeout <seconds>', 'lock timeout of the fresh cluster').default(DEFAULTS.lockTimeoutS).argParser(seconds).env('TWEETDB_LOCK_TIMEOUT'))
  .addOption(new Option('--out <dir>', 'where the results go').default('bench/results').env('TWEETDB_BENCH_OUT'))
  .addOption(new Option('--name <name>', 'base name of the result files (default: DATE-WORKLOAD)'))
  .action(
    async (o: { workload: Workload; concurrency: number[]; seconds: number; warmup: number; workers: number; preload?: number; coordinator?: string; compare?: 'postgres' | 'security' | 'metrics' | 'connect'; phaseSeconds: number; lockTimeout: number; out: string; name?: string; adminTokenFile?: string }) => {
      const { runBench } = await import('../bench/run.ts');
      if (o.seconds < 1) throw new InvalidArgumentError('--seconds must be at least 1');
      if ((o.compare === 'security' || o.compare === 'metrics') && o.coordinator !== undefined) {
        console.error(`tweetdb bench: --compare ${o.compare} starts its own ${o.compare === 'security' ? 'three' : 'two'} clusters; leave out --coordinator (and TWEETDB_COORDINATOR)`);
        process.exit(2);
      }
      if (o.compare === 'connect' && o.workload !== 'post') {
        console.error(`tweetdb bench: --compare connect runs the post workload with persistent clients and with one connection per request; leave out --workload ${o.workload}`);
        process.exit(2);
      }
      // The nodes inherit this process's environment: with the variable set, the `off` cluster would export metrics too.
      if (o.compare === 'metrics' && process.env.TWEETDB_METRICS_PORT !== undefined) {
        console.error('tweetdb bench: --compare metrics turns metrics off and on itself; unset TWEETDB_METRICS_PORT');
        process.exit(2);
      }
      await runBench(
        {
          workload: o.workload,
          concurrency: o.concurrency,
          seconds: o.seconds,
          warmup: o.warmup,
          workers: o.workers,
          preload: o.preload ?? (o.workload === 'read' ? 100_000 : 0),
          adminToken: o.coordinator !== undefined && o.adminTokenFile !== undefined && o.adminTokenFile !== '' ? benchAdminToken(o.adminTokenFile) : null,
          coordinator: o.coordinator ?? null,
          compare: o.compare ?? null,
          phaseSeconds: o.phaseSeconds,
          out: resolve(o.out),
          name: o.name ?? `${new Date().toISOString().slice(0, 10)}-${o.workload}${o.compare === 'postgres' ? '-vs-postgres' : o.compare === 'security' ? '-security' : o.compare === 'metrics' ? '-metrics' : o.compare === 'connect' ? '-connections' : ''}`,
          lockTimeoutS: o.lockTimeout,
        },
        (line) => console.log(line),
      );
    },
  );

await program.parseAsync(process.argv);
