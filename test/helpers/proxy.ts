// A TCP proxy that can partition a link without closing it, for fault tests with
// real processes. cut() black-holes the link: nothing is forwarded, nothing is
// closed, so both ends see silence, as with a pulled cable or a dropping firewall
// (a loud partition, with resets, is what kill -9 already tests). heal() then
// delivers everything that was held, in order, as TCP's retransmissions would.
//
// Several connections at once: the coordinator's link to the worker, and the
// other workers' connections asking it for outcomes (cooperative termination).
// No backpressure: the test traffic is small, and holding it all is the point.

import { connect, createServer, type Server, type Socket } from 'node:net';

/** What travels one way on one connection: bytes, or the sender's end of the stream. */
type Item = Buffer | 'end';

/** One direction of one proxied connection: delivers items to `dst` or holds them while it cannot. */
class Flow {
  dst: Socket | null = null;
  private readonly held: Item[] = [];

  constructor(private readonly proxy: TcpProxy) {}

  push(item: Item): void {
    this.held.push(item);
    this.drain();
  }

  /** Delivers what is held, in order, unless the link is cut or the far side is not connected yet. */
  drain(): void {
    const d = this.dst;
    if (this.proxy.isCut || d === null) return;
    for (const item of this.held.splice(0)) {
      if (d.destroyed) continue; // the far side is gone: like TCP to a dead peer, the bytes are lost
      // A close is passed on as an end: end() first flushes what was written, and the
      // process on the far side (allowHalfOpen false) then closes its side too.
      if (item === 'end') d.end();
      else d.write(item);
    }
  }
}

interface Conn {
  down: Socket;
  up: Socket | null;
  toUp: Flow;
  toDown: Flow;
}

export class TcpProxy {
  private cutNow = false;
  private readonly conns = new Set<Conn>();
  /** Connections accepted so far (for diagnostics). */
  accepted = 0;
  address = '';

  private constructor(
    private readonly server: Server,
    private readonly targetHost: string,
    private readonly targetPort: number,
  ) {}

  /** Listens on an ephemeral port of `host` and forwards to `target` (host:port). */
  static async start(target: string, host = '127.0.0.1'): Promise<TcpProxy> {
    const i = target.lastIndexOf(':');
    // allowHalfOpen: a half-close is passed on as it is, not turned into a full close here.
    const server = createServer({ allowHalfOpen: true });
    const proxy = new TcpProxy(server, target.slice(0, i), Number(target.slice(i + 1)));
    server.on('connection', (s) => proxy.accept(s));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, host, () => resolve());
    });
    const a = server.address();
    if (a === null || typeof a !== 'object') throw new Error('proxy has no address');
    proxy.address = `${a.address}:${a.port}`;
    return proxy;
  }

  get isCut(): boolean {
    return this.cutNow;
  }

  /** Black hole: from now on hold every byte and every close, both ways, on every connection. */
  cut(): void {
    this.cutNow = true;
  }

  /** Ends the partition: connects what was accepted meanwhile and delivers everything held, in order. */
  heal(): void {
    this.cutNow = false;
    for (const c of this.conns) {
      if (c.up === null) this.connectUp(c);
      c.toUp.drain();
      c.toDown.drain();
    }
  }

  /** Destroys every connection and stops listening. */
  async stop(): Promise<void> {
    for (const c of this.conns) {
      c.down.destroy();
      c.up?.destroy();
    }
    this.conns.clear();
    await new Promise<void>((r) => this.server.close(() => r()));
  }

  private accept(down: Socket): void {
    this.accepted++;
    const c: Conn = { down, up: null, toUp: new Flow(this), toDown: new Flow(this) };
    this.conns.add(c);
    c.toDown.dst = down;
    this.relay(down, c.toUp);
    down.once('close', () => this.forgetIfDone(c));
    // While cut, the connection is accepted (the client sees it open) but nothing reaches the target until heal().
    if (!this.cutNow) this.connectUp(c);
  }

  private connectUp(c: Conn): void {
    const up = connect({ host: this.targetHost, port: this.targetPort, allowHalfOpen: true });
    c.up = up;
    up.once('connect', () => {
      c.toUp.dst = up;
      c.toUp.drain();
    });
    // The target refused or failed before connecting: drop the client too, as a relay does.
    up.once('error', () => {
      if (c.toUp.dst === null) c.down.destroy();
    });
    this.relay(up, c.toDown);
    up.once('close', () => this.forgetIfDone(c));
  }

  /** A connection accepted during a cut is kept, even once its client has gone, until heal() has played it out. */
  private forgetIfDone(c: Conn): void {
    if (c.down.destroyed && c.up !== null && c.up.destroyed) this.conns.delete(c);
  }

  /** Feeds what `src` sends, and its end or close, into `flow`. */
  private relay(src: Socket, flow: Flow): void {
    src.on('data', (b: Buffer) => flow.push(b));
    src.on('end', () => flow.push('end'));
    src.on('close', () => flow.push('end'));
    src.on('error', () => undefined); // 'close' follows
  }
}
