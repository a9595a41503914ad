// The runtime shell's environment: its clock and timers, its network and its
// disk's durable-write path. The coordinator and worker processes
// (coordinator-node.ts, worker-node.ts) and every part they use (group commit,
// links, registration, client connections) reach the world only through an
// Env. Production passes Node's timers, sockets and the SQLite stores' fsync
// (productionEnv, below); the simulator (sim/sim-env.ts) passes a simulated
// clock, network and disk, so it runs the very shell that ships, as
// TigerBeetle's replica is generic over its MessageBus, Storage and Time.
//
// Everything here is callback-based, never a Promise: the simulator runs its
// events synchronously, and a continuation queued as a microtask would run
// outside its schedule.

import { createNodeServer, dial as dialNode, type TlsConfig } from './transport.ts';
import type { WalSync } from '../storage/sqlite.ts';

/** A timer handle; opaque to the shell. */
export interface Timer {
  readonly __timer?: never;
}

export interface Timers {
  /** Milliseconds since the epoch (Date.now() in production). */
  now(): number;
  setTimeout(fn: () => void, ms: number): Timer;
  clearTimeout(t: Timer | null | undefined): void;
  setInterval(fn: () => void, ms: number): Timer;
  clearInterval(t: Timer | null | undefined): void;
  /** Runs fn once the current turn's I/O is handled (Node's check phase). */
  setImmediate(fn: () => void): void;
}

/**
 * A byte stream to another node or a client: the part of net.Socket the shell uses.
 * Data arrives as strings (setEncoding('utf8') is always called first).
 */
export interface Conn {
  readonly remoteAddress?: string | undefined;
  readonly destroyed: boolean;
  /** Bytes handed to write() and not yet passed to the network. */
  readonly writableLength: number;
  setEncoding(encoding: 'utf8'): unknown;
  setNoDelay(noDelay: boolean): unknown;
  setKeepAlive(enable: boolean, initialDelayMs: number): unknown;
  /** Emits 'timeout' after this long with nothing read or written (0: never). */
  setTimeout(ms: number): unknown;
  write(data: string): boolean;
  end(): unknown;
  end(data: string, cb?: () => void): unknown;
  destroy(): unknown;
  pause(): unknown;
  resume(): unknown;
  on(event: 'data', listener: (chunk: string) => void): unknown;
  on(event: 'end' | 'close' | 'drain' | 'timeout', listener: () => void): unknown;
  on(event: 'error', listener: (err: Error) => void): unknown;
  once(event: 'end' | 'close' | 'drain' | 'timeout', listener: () => void): unknown;
  once(event: 'error', listener: (err: Error) => void): unknown;
}

export interface Listener {
  /** Stops accepting connections (open ones stay). */
  close(): void;
  /** Past this many open connections a new one is dropped without a word. */
  setMaxConnections(n: number): void;
}

export interface ListenSpec {
  host: string;
  port: number;
  tls: TlsConfig | null;
  /** Over TLS, only peers with a certificate from the cluster's CA get through (a worker's port). */
  mutual: boolean;
  /** The connection stays writable after the peer ends its side (the client API's half-close). */
  allowHalfOpen: boolean;
}

export interface Network {
  /** Listens; `done` hears the bound address ("host:port") or why it could not. */
  listen(spec: ListenSpec, onConnection: (c: Conn) => void, done: (err: Error | null, address: string) => void): Listener;
  /** Connects; `ready` is called once the connection may carry data (after TLS's handshake, with TLS). */
  dial(host: string, port: number, tls: TlsConfig | null, ready: () => void): Conn;
}

/** A store's durable-write path: what it wrote so far is made durable, then `done` is called. */
export interface Disk {
  sync(store: SyncedStore, done: (err: unknown) => void): void;
}

/** What the disk needs of a store (src/storage/*). */
export interface SyncedStore {
  readonly wal: WalSync;
}

export interface Env {
  readonly timers: Timers;
  readonly network: Network;
  readonly disk: Disk;
  /** Ends the process (production) or the simulated node, for `reason` (already logged): never returns. */
  exit(code: number, reason?: unknown): never;
}

export const productionTimers: Timers = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms) as Timer,
  clearTimeout: (t) => {
    if (t !== null && t !== undefined) clearTimeout(t as NodeJS.Timeout);
  },
  setInterval: (fn, ms) => setInterval(fn, ms) as Timer,
  clearInterval: (t) => {
    if (t !== null && t !== undefined) clearInterval(t as NodeJS.Timeout);
  },
  setImmediate: (fn) => {
    setImmediate(fn);
  },
};

export const productionNetwork: Network = {
  listen(spec, onConnection, done) {
    const server = createNodeServer(spec.tls, spec.mutual, { allowHalfOpen: spec.allowHalfOpen }, onConnection);
    const onError = (e: Error): void => done(e, '');
    server.once('error', onError);
    server.listen(spec.port, spec.host, () => {
      server.off('error', onError);
      const a = server.address();
      done(null, a !== null && typeof a === 'object' ? `${a.address}:${a.port}` : '');
    });
    return {
      close: () => {
        server.close();
      },
      setMaxConnections: (n) => {
        server.maxConnections = n;
      },
    };
  },
  dial(host, port, tls, ready) {
    return dialNode(host, port, tls, () => ready());
  },
};

export const productionDisk: Disk = {
  sync(store, done) {
    store.wal.sync().then(
      () => done(null),
      (e: unknown) => done(e ?? new Error('fsync failed')),
    );
  },
};

export const productionEnv: Env = {
  timers: productionTimers,
  network: productionNetwork,
  disk: productionDisk,
  exit: (code) => process.exit(code),
};
