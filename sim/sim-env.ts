// The simulator's world: one clock, one queue of events, and for each process
// an Env (src/node/env.ts) of simulated timers, network and disk, so the
// production shell (CoordinatorNode, WorkerNode and everything they use) runs
// here unchanged, as FoundationDB runs its processes over a simulated INetwork.
//
// The network is TCP as the shell relies on it: each connection is two ordered
// byte pipes; data is delayed (now and then a lot), never reordered within a
// pipe, lost only when the connection is reset. A partition stalls the pipes
// that cross it (a black hole) or resets their connections (loud); a stalled
// connection is reset later, as TCP keepalive would. A crashed process's
// timers never fire, its connections are reset for the other end, and its disk
// keeps what it wrote (a process crash) or only what an fsync covered (a power
// loss).

import { EventEmitter } from 'node:events';
import type { Conn, Disk, Env, Listener, ListenSpec, Network, SyncedStore, Timer, Timers } from '../src/node/env.ts';
import { Prng } from './prng.ts';

/** A simulated process ended itself (env.exit): unwinds whatever it was doing, like process.exit. */
export class ProcessExit extends Error {
  constructor(
    readonly process: string,
    readonly code: number,
  ) {
    super(`${process} exited with code ${code}`);
  }
}

class Heap<T> {
  private items: { at: number; seq: number; v: T }[] = [];
  get size(): number {
    return this.items.length;
  }
  peekAt(): number {
    return this.items[0]?.at ?? Number.POSITIVE_INFINITY;
  }
  push(at: number, seq: number, v: T): void {
    const a = this.items;
    a.push({ at, seq, v });
    let i = a.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (less(a[p]!, a[i]!)) break;
      [a[p], a[i]] = [a[i]!, a[p]!];
      i = p;
    }
  }
  pop(): { at: number; v: T } | undefined {
    const a = this.items;
    if (a.length === 0) return undefined;
    const top = a[0]!;
    const last = a.pop()!;
    if (a.length > 0) {
      a[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < a.length && less(a[l]!, a[m]!)) m = l;
        if (r < a.length && less(a[r]!, a[m]!)) m = r;
        if (m === i) break;
        [a[m], a[i]] = [a[i]!, a[m]!];
        i = m;
      }
    }
    return { at: top.at, v: top.v };
  }
}
function less(x: { at: number; seq: number }, y: { at: number; seq: number }): boolean {
  return x.at < y.at || (x.at === y.at && x.seq < y.seq);
}

/** One run of a process (a restart is a new incarnation): everything it scheduled dies with it. */
export class SimProcess {
  alive = true;
  readonly conns = new Set<SimConn>();
  readonly listening: string[] = [];
  /** Set by the fault schedule: the next fsync this process starts is interrupted by a crash. */
  crashInNextSync = false;
  /** Set by the fault schedule: the process crashes at the start of its Nth next turn (before a write or a flush queued for it); 0: not. */
  crashAtTurn = 0;
  /** When this process's last queued turn runs: its setImmediate callbacks keep their order. */
  lastTurnAt = 0;
  constructor(
    readonly name: string,
    /** Clients are never cut off by partitions (the simulation is about the cluster's links). */
    readonly isClient: boolean,
  ) {}
}

interface SimTimer extends Timer {
  cancelled: boolean;
}

interface Pipe {
  from: SimConn;
  to: SimConn;
  items: (string | null)[]; // null: the sender's FIN
  scheduled: boolean;
  broken: boolean;
}

/** Message faults between nodes, per seed (sim/weather.ts draws them). */
export interface NetworkWeather {
  /** The chance that a message (a line) is lost. */
  loss: number;
  /** The chance that a message arrives twice. */
  duplicate: number;
  /** The chance that a message is held back 5 to 300 ms, so that the next ones overtake it. */
  overtake: number;
  /** The chance that a pipe delivers its next chunk slowly (5 to 300 ms): messages on other connections overtake it. */
  slow: number;
}

/** The rates every seed had before they were drawn per seed: the world's default. */
export const FAIR_NETWORK: NetworkWeather = { loss: 0.003, duplicate: 0.01, overtake: 0.05, slow: 0.05 };

export interface WorldOptions {
  rng: Prng;
  /** Crashes are power losses: writes whose fsync had not returned are lost. */
  loseUnsynced: boolean;
  /** Called when a process is to crash where the fault schedule asked (in an fsync, or at its next turn). */
  crashProcess: (p: SimProcess) => void;
}

export class SimWorld {
  now = 0;
  private seq = 0;
  private readonly queue = new Heap<() => void>();
  events = 0;
  /**
   * Message faults on (off once the run heals): slow pipes, and, between nodes, beyond what TCP
   * does, whole messages lost, duplicated or overtaken (at the rates of `net`), so the protocol
   * is proven against a worse network than the one it needs.
   */
  slowNetwork = true;
  /** The rates of the message faults while they are on. */
  net: NetworkWeather = FAIR_NETWORK;
  /** Nodes on the far side of the current partition (empty: none). */
  readonly isolated = new Set<string>();
  private readonly listeners = new Map<string, { proc: SimProcess; spec: ListenSpec; onConnection: (c: Conn) => void }>();
  readonly rng: Prng;

  constructor(readonly opts: WorldOptions) {
    this.rng = opts.rng;
  }

  at(delay: number, fn: () => void): void {
    this.queue.push(this.now + delay, this.seq++, fn);
  }

  /** Runs events until the queue is empty, `until` passes, or `stop()` says so; a process that exits unwinds to here. */
  run(until: number, stop: () => boolean, onExit: (e: ProcessExit) => void): void {
    while (this.queue.size > 0 && this.queue.peekAt() <= until) {
      const e = this.queue.pop()!;
      this.now = e.at; (globalThis as unknown as { simNow: number }).simNow = e.at;
      this.events++;
      try {
        e.v();
      } catch (err) {
        if (err instanceof ProcessExit) onExit(err);
        else throw err;
      }
      if (stop()) return;
    }
  }

  canTalk(a: SimProcess, b: SimProcess): boolean {
    if (a.isClient || b.isClient) return true;
    return this.isolated.has(a.name) === this.isolated.has(b.name);
  }

  netDelay(): number {
    // Mostly sub-millisecond; now and then slow, which reorders messages across connections.
    return this.slowNetwork && this.rng.chance(this.net.slow) ? this.rng.int(5, 300) : this.rng.next() * 2;
  }

  /** An fsync takes a little while: a crash can land in the middle of it. */
  private fsyncDelay(): number {
    return 0.2 + this.rng.next() * 2;
  }

  // ---------------------------------------------------------------- processes

  /** The Env a process runs on: its timers, network and disk die with it. */
  envFor(proc: SimProcess, onExit: (code: number, reason: unknown) => void): Env {
    const guard = (fn: () => void) => (): void => {
      if (proc.alive) fn();
    };
    const timers: Timers = {
      now: () => Math.floor(this.now),
      setTimeout: (fn, ms) => {
        const t: SimTimer = { cancelled: false };
        this.at(Math.max(ms, 1), guard(() => {
          if (!t.cancelled) fn();
        }));
        return t;
      },
      clearTimeout: (t) => {
        if (t !== null && t !== undefined) (t as SimTimer).cancelled = true;
      },
      setInterval: (fn, ms) => {
        const t: SimTimer = { cancelled: false };
        const tick = (): void => {
          if (t.cancelled) return;
          this.at(ms, guard(tick));
          fn();
        };
        this.at(ms, guard(tick));
        return t;
      },
      clearInterval: (t) => {
        if (t !== null && t !== undefined) (t as SimTimer).cancelled = true;
      },
      setImmediate: (fn) => {
        // A turn of the event loop takes a little while (a crash can land before it), and keeps its order.
        const at = Math.max(this.now + this.rng.next() * 0.5, proc.lastTurnAt);
        proc.lastTurnAt = at;
        this.at(at - this.now, guard(() => {
          if (proc.crashAtTurn > 0 && --proc.crashAtTurn === 0) {
            this.opts.crashProcess(proc);
            return;
          }
          fn();
        }));
      },
    };
    const network: Network = {
      listen: (spec, onConnection, done) => this.listen(proc, spec, onConnection, done),
      dial: (host, port, _tls, ready) => this.dial(proc, host, port, ready),
    };
    const disk: Disk = {
      sync: (store, done) => this.sync(proc, store, done),
    };
    return {
      timers,
      network,
      disk,
      exit: (code, reason) => {
        onExit(code, reason);
        throw new ProcessExit(proc.name, code);
      },
    };
  }

  /** The process dies at once: timers never fire, listeners go, its connections are reset for the other end. */
  kill(proc: SimProcess): void {
    if (!proc.alive) return;
    proc.alive = false;
    for (const a of proc.listening) if (this.listeners.get(a)?.proc === proc) this.listeners.delete(a);
    // The kernel closes its connections: what they had sent still arrives, then the other end hears the close.
    for (const c of [...proc.conns]) c.vanish();
    proc.conns.clear();
  }

  // ---------------------------------------------------------------- disk

  private sync(proc: SimProcess, store: SyncedStore, done: (err: unknown) => void): void {
    const held = store as unknown as { settleWrites(keep: boolean): void; holdWrites(): void };
    if (proc.crashInNextSync) {
      proc.crashInNextSync = false;
      this.at(this.rng.next() * 0.2, () => {
        if (proc.alive) this.opts.crashProcess(proc);
      });
    }
    this.at(this.fsyncDelay(), () => {
      if (!proc.alive) return;
      // Whatever was written so far is on disk now (the next writes are held again until their fsync).
      held.settleWrites(true);
      held.holdWrites();
      done(null);
    });
  }

  // ---------------------------------------------------------------- network

  private listen(proc: SimProcess, spec: ListenSpec, onConnection: (c: Conn) => void, done: (err: Error | null, address: string) => void): Listener {
    const address = `${spec.host}:${spec.port}`;
    const taken = this.listeners.get(address);
    if (taken !== undefined && taken.proc.alive) done(new Error(`listen EADDRINUSE ${address}`), '');
    else {
      this.listeners.set(address, { proc, spec, onConnection });
      proc.listening.push(address);
      done(null, address);
    }
    return {
      close: () => {
        if (this.listeners.get(address)?.proc === proc) this.listeners.delete(address);
      },
      setMaxConnections: () => undefined,
    };
  }

  dial(proc: SimProcess, host: string, port: number, ready: () => void): SimConn {
    const address = `${host}:${port}`;
    const client = new SimConn(this, proc, address, false, true);
    const attempt = (): void => {
      if (client.destroyed || !proc.alive) return;
      const l = this.listeners.get(address);
      if (l === undefined || !l.proc.alive) {
        client.reset(); // ECONNREFUSED
        return;
      }
      if (!this.canTalk(proc, l.proc)) {
        this.at(1_000, attempt); // the SYN is lost; it is sent again
        return;
      }
      const server = new SimConn(this, l.proc, proc.name, l.spec.allowHalfOpen, false);
      client.connect(server);
      l.onConnection(server);
      this.at(this.netDelay(), () => {
        if (!client.destroyed && proc.alive) ready();
      });
    };
    this.at(this.netDelay(), attempt);
    return client;
  }

  /** Chunks from one end to the other, in order, after a delay; stalled while a partition lies between them. */
  send(pipe: Pipe, item: string | null): void {
    if (pipe.broken) return;
    pipe.items.push(item);
    this.schedulePump(pipe, this.netDelay());
  }

  private schedulePump(pipe: Pipe, delay: number): void {
    if (pipe.scheduled) return;
    pipe.scheduled = true;
    this.at(delay, () => {
      pipe.scheduled = false;
      if (pipe.broken) return;
      if (!this.canTalk(pipe.from.proc, pipe.to.proc)) {
        this.schedulePump(pipe, this.rng.int(100, 500)); // retransmitted until the partition heals or the connection is reset
        return;
      }
      const items = pipe.items;
      pipe.items = [];
      const faulty = this.slowNetwork && !pipe.from.proc.isClient && !pipe.to.proc.isClient;
      for (const item of items) {
        if (pipe.broken) return;
        if (faulty && item !== null) this.deliverLines(pipe, item);
        else pipe.to.receive(item);
      }
    });
  }

  /** Between nodes, each message (a line) may be lost, duplicated or overtaken. */
  private deliverLines(pipe: Pipe, chunk: string): void {
    let now = '';
    const later = (line: string, delay: number): void =>
      this.at(delay, () => {
        if (!pipe.broken) pipe.to.receive(line);
      });
    for (const body of chunk.split('\n')) {
      if (body === '') continue;
      const line = body + '\n';
      if (this.rng.chance(this.net.loss)) continue;
      if (this.rng.chance(this.net.overtake)) later(line, this.rng.int(5, 300));
      else now += line;
      if (this.rng.chance(this.net.duplicate)) later(line, this.netDelay() + 10);
    }
    if (now !== '') pipe.to.receive(now);
  }

  newPipe(from: SimConn, to: SimConn): Pipe {
    return { from, to, items: [], scheduled: false, broken: false };
  }

  /** Every open connection between two cluster nodes (not clients), for faults. */
  nodeConnections(procs: readonly SimProcess[]): SimConn[] {
    const out: SimConn[] = [];
    for (const p of procs) for (const c of p.conns) if (c.peer !== null && !c.peer.proc.isClient && !p.isClient && c.initiator) out.push(c);
    return out;
  }
}

/** One end of a simulated TCP connection: the part of net.Socket the shell uses (src/node/env.ts Conn). */
export class SimConn extends EventEmitter implements Conn {
  peer: SimConn | null = null;
  private out: Pipe | null = null;
  destroyed = false;
  readonly writableLength = 0;
  private paused = false;
  private readonly inbox: (string | null)[] = [];
  private sentFin = false;
  private gotFin = false;
  private closed = false;
  /** This end dialled. */
  readonly initiator: boolean;

  constructor(
    private readonly world: SimWorld,
    readonly proc: SimProcess,
    /** The other end's name, as remoteAddress. */
    readonly remoteAddress: string,
    private readonly allowHalfOpen: boolean,
    initiator: boolean,
  ) {
    super();
    this.initiator = initiator;
    proc.conns.add(this);
  }

  /** Joins the two ends (the dialler's side calls it). */
  connect(server: SimConn): void {
    this.peer = server;
    server.peer = this;
    this.out = this.world.newPipe(this, server);
    server.out = this.world.newPipe(server, this);
  }

  setEncoding(): this {
    return this;
  }
  setNoDelay(): this {
    return this;
  }
  setKeepAlive(): this {
    return this;
  }
  setTimeout(ms: number): this {
    if (ms > 0) throw new Error('idle timeouts are not simulated');
    return this;
  }

  write(data: string): boolean {
    if (this.destroyed || this.sentFin || this.out === null) return false;
    this.world.send(this.out, data);
    return true;
  }

  end(data?: string, cb?: () => void): this {
    if (data !== undefined) this.write(data);
    if (!this.sentFin && !this.destroyed && this.out !== null) {
      this.sentFin = true;
      this.world.send(this.out, null);
    }
    if (cb !== undefined) this.later(cb);
    this.maybeClose();
    return this;
  }

  /** Closes this end: what was written still goes out, then a FIN; 'close' follows. */
  destroy(): this {
    if (this.destroyed) return this;
    this.destroyed = true;
    if (!this.sentFin && this.out !== null) {
      this.sentFin = true;
      this.world.send(this.out, null);
    }
    this.proc.conns.delete(this);
    this.later(() => this.emitClose());
    return this;
  }

  pause(): this {
    this.paused = true;
    return this;
  }

  resume(): this {
    if (!this.paused) return this;
    this.paused = false;
    this.later(() => {
      while (!this.paused && this.inbox.length > 0) this.deliver(this.inbox.shift()!);
    });
    return this;
  }

  /** A chunk (or the FIN, null) arrives from the other end. */
  receive(item: string | null): void {
    if (this.destroyed || this.closed) return;
    if (this.paused || this.inbox.length > 0) {
      this.inbox.push(item);
      return;
    }
    this.deliver(item);
  }

  private deliver(item: string | null): void {
    if (this.destroyed || this.closed) return;
    if (item !== null) {
      this.emit('data', item);
      return;
    }
    this.gotFin = true;
    this.emit('end');
    if (!this.allowHalfOpen) this.end();
    this.maybeClose();
  }

  private maybeClose(): void {
    if (this.sentFin && this.gotFin && !this.closed) {
      this.destroyed = true;
      this.proc.conns.delete(this);
      this.later(() => this.emitClose());
    }
  }

  /** The connection is reset (a crash at the other end, a partition, keepalive): data in flight is lost. */
  reset(): void {
    for (const p of [this.out, this.peer?.out ?? null]) if (p !== null) p.broken = true;
    if (this.closed || !this.proc.alive) return;
    this.destroyed = true;
    this.proc.conns.delete(this);
    this.later(() => {
      if (this.closed) return;
      this.emit('error', new Error('ECONNRESET'));
      this.emitClose();
    });
  }

  /** Its process died: it hears nothing more; the kernel sends what it had written, then a FIN. */
  vanish(): void {
    this.closed = true;
    this.destroyed = true;
    if (!this.sentFin && this.out !== null) {
      this.sentFin = true;
      this.world.send(this.out, null);
    }
  }

  private emitClose(): void {
    if (this.closed || !this.proc.alive) return;
    this.closed = true;
    this.emit('close');
  }

  private later(fn: () => void): void {
    this.world.at(0, () => {
      if (this.proc.alive) fn();
    });
  }
}
