// One client connection to the coordinator's TCP API (DESIGN section 2):
// requests in as a stream of JSON objects, one reply line each, in request
// order, `req` echoed. A half-close is answered and then closed; invalid JSON
// or an over-size request gets an ERROR and the connection is closed.

import type { Socket } from 'node:net';
import type { Reply } from '../core/types.ts';
import { JsonStreamSplitter, DEFAULT_MAX_REQUEST_BYTES } from '../wire/framing.ts';

export interface ConnectionHandlers {
  /** A parsed request object; the handler must eventually call deliver(slot, ...). */
  onRequest(conn: ClientConnection, slot: number, body: Record<string, unknown>): void;
  onClose(conn: ClientConnection): void;
}

/** Requests a connection may have in flight before reading pauses (backpressure). */
export const MAX_PIPELINED_REQUESTS = 4_096;
/** A subscriber that lets this much of its change feed pile up unread is disconnected. */
export const MAX_UNREAD_FEED_BYTES = 8 * 1024 * 1024;

export class ClientConnection {
  readonly id: number;
  private readonly socket: Socket;
  private readonly splitter: JsonStreamSplitter;
  private nextSlot = 0;
  private nextToWrite = 0;
  private readonly ready = new Map<number, string>();
  private readonly reqIds = new Map<number, unknown>();
  private inputEnded = false;
  private fatal = false;
  private closed = false;
  private paused = false;
  private busy = false;
  private starting = false;
  private readonly waiting: { slot: number; body: Record<string, unknown> }[] = [];
  private flushScheduled = false;
  private outbox: string[] = [];

  constructor(id: number, socket: Socket, private readonly handlers: ConnectionHandlers, maxBytes = DEFAULT_MAX_REQUEST_BYTES) {
    this.id = id;
    this.socket = socket;
    this.splitter = new JsonStreamSplitter(maxBytes);
    socket.setEncoding('utf8');
    socket.setNoDelay(true);
    socket.on('data', (chunk: string) => this.onData(chunk));
    socket.on('end', () => {
      // Half-closed in the middle of a request: say so rather than drop it silently.
      if (!this.fatal && this.splitter.partial) {
        this.failAndClose(this.nextSlot++, 'INVALID', 'the input ended in the middle of a request; it was not run');
        return;
      }
      this.inputEnded = true;
      this.maybeEnd();
    });
    socket.on('error', () => undefined);
    socket.on('close', () => {
      if (this.closed) return;
      this.closed = true;
      this.handlers.onClose(this);
    });
  }

  get isClosed(): boolean {
    return this.closed;
  }

  private onData(chunk: string): void {
    if (this.fatal) return;
    for (const f of this.splitter.push(chunk)) {
      const slot = this.nextSlot++;
      if (f.kind === 'error') {
        this.failAndClose(slot, f.code, f.error);
        break;
      }
      let body: unknown;
      try {
        body = JSON.parse(f.text);
      } catch (e) {
        this.failAndClose(slot, 'INVALID', `invalid JSON: ${(e as Error).message}`);
        break;
      }
      const obj = body as Record<string, unknown>;
      if (obj.req !== undefined) this.reqIds.set(slot, obj.req);
      this.waiting.push({ slot, body: obj });
    }
    this.startNext();
    if (this.nextSlot - this.nextToWrite > MAX_PIPELINED_REQUESTS && !this.paused) {
      this.paused = true;
      this.socket.pause();
    }
  }

  /**
   * Requests on one connection run one after another, as a session: each sees what the
   * previous one did (the seed's post-then-update pasted into nc must work). Clients get
   * concurrency from several connections; pipelining still saves them the round trips.
   */
  private startNext(): void {
    if (this.starting) return; // a reply delivered synchronously lands back here: the loop below goes on
    this.starting = true;
    while (!this.busy && !this.closed) {
      const next = this.waiting.shift();
      if (next === undefined) break;
      this.busy = true;
      this.handlers.onRequest(this, next.slot, next.body);
    }
    this.starting = false;
  }

  private failAndClose(slot: number, code: 'INVALID' | 'TOO_LARGE', error: string): void {
    this.fatal = true;
    this.inputEnded = true;
    this.ready.set(slot, JSON.stringify({ status: 'ERROR', code, error }) + '\n');
    this.release();
  }

  deliver(slot: number, reply: Reply): void {
    this.deliverText(slot, JSON.stringify(reply));
  }

  /** A reply rendered as a JSON object (never empty: it has a status; no newline): `req` goes in last, without parsing it. */
  deliverText(slot: number, text: string): void {
    if (this.closed) return;
    const req = this.reqIds.get(slot);
    let line: string;
    if (req !== undefined) {
      this.reqIds.delete(slot);
      line = `${text.slice(0, -1)},"req":${JSON.stringify(req)}}\n`;
    } else {
      line = text + '\n';
    }
    this.ready.set(slot, line);
    this.busy = false;
    this.release();
    this.startNext();
  }

  /** A line outside the reply order (a change event); replies keep their own order around it. */
  push(line: unknown): void {
    if (this.closed) return;
    if (this.socket.writableLength > MAX_UNREAD_FEED_BYTES) {
      // It cannot keep up: better to cut it (it resubscribes with `since`) than to buffer without end.
      this.socket.destroy();
      return;
    }
    this.outbox.push(JSON.stringify(line) + '\n');
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(() => this.flush());
    }
  }

  private release(): void {
    while (this.ready.has(this.nextToWrite)) {
      this.outbox.push(this.ready.get(this.nextToWrite) as string);
      this.ready.delete(this.nextToWrite);
      this.nextToWrite++;
    }
    if (this.paused && this.nextSlot - this.nextToWrite < MAX_PIPELINED_REQUESTS / 2) {
      this.paused = false;
      this.socket.resume();
    }
    if (!this.flushScheduled && this.outbox.length > 0) {
      this.flushScheduled = true;
      setImmediate(() => this.flush());
    }
  }

  private flush(): void {
    this.flushScheduled = false;
    if (this.closed) return;
    if (this.outbox.length > 0) {
      this.socket.write(this.outbox.join(''));
      this.outbox = [];
    }
    this.maybeEnd();
  }

  /** After the client's half-close (or a fatal error), close once every reply is out. */
  private maybeEnd(): void {
    if (!this.inputEnded || this.closed) return;
    if (this.nextToWrite < this.nextSlot || this.outbox.length > 0) return;
    if (this.fatal) {
      this.socket.end(() => this.socket.destroy());
    } else {
      this.socket.end();
    }
  }

  /** Reads nothing more: answers what is pending, then closes (a refused node handshake). */
  endAfterReplies(): void {
    this.fatal = true;
    this.inputEnded = true;
    this.maybeEnd();
  }

  destroy(): void {
    this.socket.destroy();
  }
}
