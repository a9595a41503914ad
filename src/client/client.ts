// A client of the coordinator's TCP API: one persistent connection, requests
// pipelined, replies matched in order. Shared by the CLI, the workers'
// registration, the tests and the benchmark.

import type { Socket } from 'node:net';
import { JsonStreamSplitter } from '../wire/framing.ts';
import { dial, type TlsConfig } from '../node/transport.ts';

export type ApiReply = { status: 'OK' | 'ABORT' | 'ERROR'; code?: string; error?: string; [k: string]: unknown };

interface Waiter {
  resolve: (r: ApiReply) => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout | null;
}

/** How to reach a coordinator beyond its address: TLS (with the CA to check it) and a client token. */
export interface CoordinatorAccess {
  tls: TlsConfig | null;
  token: string | null;
}
export const PLAIN_ACCESS: CoordinatorAccess = { tls: null, token: null };

export class ConnectionLost extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConnectionLost';
  }
}

export class TweetdbClient {
  private readonly socket: Socket;
  private readonly waiters: Waiter[] = [];
  private readonly splitter = new JsonStreamSplitter(64 * 1024 * 1024);
  private closedWith: Error | null = null;
  /** Lines that are not replies (subscription events). */
  onEvent: ((msg: ApiReply) => void) | null = null;
  /** Called once when the connection is gone, for whatever reason. */
  onClose: ((why: Error) => void) | null = null;

  private constructor(socket: Socket) {
    this.socket = socket;
    socket.setEncoding('utf8');
    socket.setNoDelay(true);
    socket.on('data', (chunk: string) => {
      for (const f of this.splitter.push(chunk)) {
        if (f.kind === 'error') {
          this.fail(new Error(`bad reply from coordinator: ${f.error}`));
          return;
        }
        const msg = JSON.parse(f.text) as ApiReply;
        // Change events (subscribe) come between replies; they are never a reply.
        if ('event' in msg && !('status' in msg)) {
          this.onEvent?.(msg);
          continue;
        }
        const w = this.waiters.shift();
        if (w === undefined) continue; // a reply nobody waits for (its request timed out): dropped

        if (w.timer !== null) clearTimeout(w.timer);
        w.resolve(msg);
      }
    });
    socket.on('error', (e) => this.fail(new ConnectionLost(`connection to the coordinator failed: ${e.message}`)));
    socket.on('close', () => this.fail(new ConnectionLost('connection to the coordinator closed')));
  }

  /** The socket under the connection (a node's handshake binds its proof to a TLS session's keys). */
  get connection(): Socket {
    return this.socket;
  }

  /**
   * `tls`: the coordinator speaks TLS; its certificate is checked against the CA (src/node/transport.ts).
   * `token`: the coordinator wants a client token (--client-token-file): it is sent first.
   */
  static async connect(address: string, timeoutMs = 5_000, tls: TlsConfig | null = null, token: string | null = null): Promise<TweetdbClient> {
    const c = await TweetdbClient.open(address, timeoutMs, tls);
    if (token === null) return c;
    const refused = (why: string): ConnectionLost => {
      c.close();
      return new ConnectionLost(`the coordinator at ${address} refused the client token: ${why}`);
    };
    let r: ApiReply;
    try {
      r = await c.request({ action: 'auth', token }, timeoutMs);
    } catch (e) {
      // No reply at all (the connection dropped, or the time ran out): refused all the same.
      throw refused((e as Error).message);
    }
    if (r.status !== 'OK') throw refused(r.error ?? '');
    return c;
  }

  private static open(address: string, timeoutMs: number, tls: TlsConfig | null): Promise<TweetdbClient> {
    const i = address.lastIndexOf(':');
    const host = address.slice(0, i).replace(/^\[(.*)\]$/, '$1');
    const port = Number(address.slice(i + 1));
    return new Promise((resolve, reject) => {
      const s = dial(host, port, tls, () => {
        clearTimeout(timer);
        resolve(new TweetdbClient(s));
      });
      const timer = setTimeout(() => {
        s.destroy();
        reject(new ConnectionLost(`could not connect to the coordinator at ${address} within ${timeoutMs} ms`));
      }, timeoutMs);
      s.once('error', (e) => {
        clearTimeout(timer);
        reject(new ConnectionLost(`could not connect to the coordinator at ${address}: ${e.message}`));
      });
    });
  }

  /**
   * Sends one request. Resolves with the reply; rejects with ConnectionLost when the
   * connection dies first (the outcome of a write is then unknown: retry it).
   * A timeout also closes the connection, since later replies would be out of step.
   */
  request(body: Record<string, unknown>, timeoutMs = 30_000): Promise<ApiReply> {
    if (this.closedWith !== null) return Promise.reject(this.closedWith);
    return new Promise((resolve, reject) => {
      const w: Waiter = { resolve, reject, timer: null };
      if (timeoutMs > 0) {
        w.timer = setTimeout(() => this.fail(new ConnectionLost(`no reply from the coordinator within ${timeoutMs} ms`)), timeoutMs);
      }
      this.waiters.push(w);
      this.socket.write(JSON.stringify(body) + '\n');
    });
  }

  get isClosed(): boolean {
    return this.closedWith !== null;
  }

  private fail(e: Error): void {
    const first = this.closedWith === null;
    const why = this.closedWith ?? e;
    this.closedWith = why;
    for (const w of this.waiters.splice(0)) {
      if (w.timer !== null) clearTimeout(w.timer);
      w.reject(why);
    }
    this.socket.destroy();
    if (first) this.onClose?.(e);
  }

  close(): void {
    this.fail(new ConnectionLost('client closed'));
  }
}
