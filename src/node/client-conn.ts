// One client connection to the coordinator's TCP API (README "The TCP API"; docs/ARCHITECTURE.md 4.1):
// requests in as a stream of JSON objects, one reply line each, in request
// order, `req` echoed. A half-close is answered and then closed; invalid JSON,
// an over-size request or one left unfinished too long gets an ERROR and the
// connection is closed.
//
// Every byte a client sends is hostile, so everything a connection holds has a
// limit: the requests read and not yet run (count and bytes), the replies it has
// not read (reading and running pause above one mark, the connection is cut
// above another), the time an unfinished request may take, and, optionally, the
// time it may sit idle. Replies reach the socket in pieces of at most 1 MiB, and
// only as fast as the socket drains.

import type { Conn, Timer, Timers } from './env.ts';
import type { Reply } from '../wire/protocol.ts';
import { errorReply, type ErrorReplyCode } from '../wire/errors.ts';
import { JsonStreamSplitter } from '../wire/framing.ts';
import {
  DEFAULT_MAX_REQUEST_BYTES,
  FATAL_LINGER_MS,
  MAX_CLIENT_CONNECTIONS_PER_ADDRESS,
  MAX_NESTING_DEPTH,
  MAX_PIPELINED_REQUESTS,
  MAX_QUEUED_REQUEST_BYTES,
  MAX_UNREAD_OUTPUT_BYTES,
  MAX_WRITE_BYTES,
  OUTPUT_PAUSE_BYTES,
  REQUEST_TIMEOUT_MS,
} from '../wire/limits.ts';

export interface ConnectionHandlers {
  /** A parsed request object; the handler must eventually call deliver(slot, ...). */
  onRequest(conn: ClientConnection, slot: number, body: Record<string, unknown>): void;
  onClose(conn: ClientConnection): void;
}

export interface ConnectionOptions {
  maxRequestBytes?: number;
  /** Close the connection once it has been silent this long with nothing in flight and no subscription; 0: never. */
  idleTimeoutMs?: number;
}

const errorLine = (code: ErrorReplyCode, error: string): string => JSON.stringify(errorReply(code, error)) + '\n';

// The core emits one `push` per subscriber carrying the same event object: the last one
// encoded is kept, so an event is stringified once however many subscribers there are.
let lastFeedEvent: unknown = undefined;
let lastFeedLine = '';
function feedLine(event: unknown): string {
  if (event !== lastFeedEvent) {
    lastFeedLine = JSON.stringify(event) + '\n';
    lastFeedEvent = event;
  }
  return lastFeedLine;
}

export class ClientConnection {
  readonly id: number;
  /** Why the coordinator closed it (output limit, timeout), for the log; null if the client went away or it ended normally. */
  closeReason: string | null = null;
  private readonly socket: Conn;
  private readonly splitter: JsonStreamSplitter;
  private nextSlot = 0;
  private nextToWrite = 0;
  private readonly ready = new Map<number, string>();
  private readonly reqIds = new Map<number, unknown>();
  private inputEnded = false;
  private fatal = false;
  /** Our side is closed after a fatal error; the client's late bytes are being dropped. */
  private lingering = false;
  private closed = false;
  private readingPaused = false;
  private busy = false;
  private starting = false;
  private subscribed = false;
  private waiting: { slot: number; body: Record<string, unknown>; chars: number }[] = [];
  private queuedChars = 0;
  private flushScheduled = false;
  private awaitingDrain = false;
  /** Reply lines not yet handed to the socket, from outboxHead on, holding outboxChars characters. */
  private outbox: string[] = [];
  private outboxHead = 0;
  private outboxChars = 0;
  private requestTimer: Timer | null = null;

  constructor(
    private readonly timers: Timers,
    id: number,
    socket: Conn,
    private readonly handlers: ConnectionHandlers,
    opts: ConnectionOptions = {},
  ) {
    this.id = id;
    this.socket = socket;
    this.splitter = new JsonStreamSplitter(opts.maxRequestBytes ?? DEFAULT_MAX_REQUEST_BYTES, MAX_NESTING_DEPTH);
    socket.setEncoding('utf8');
    socket.setNoDelay(true);
    socket.on('data', (chunk: string) => this.onData(chunk));
    socket.on('end', () => {
      this.clearRequestTimer();
      // Half-closed in the middle of a request: say so rather than drop it silently.
      if (!this.fatal && this.splitter.partial) {
        this.failAndClose(this.nextSlot++, 'INVALID', 'the input ended in the middle of a request; it was not run');
        return;
      }
      this.inputEnded = true;
      this.maybeEnd();
    });
    socket.on('drain', () => {
      this.awaitingDrain = false;
      this.flush();
    });
    socket.on('error', () => undefined);
    socket.on('close', () => {
      if (this.closed) return;
      this.closed = true;
      this.clearRequestTimer();
      // Let go of everything it held at once (a client cut off for not reading may hold MiBs).
      this.outbox = [];
      this.outboxHead = 0;
      this.outboxChars = 0;
      this.waiting = [];
      this.queuedChars = 0;
      this.ready.clear();
      this.reqIds.clear();
      this.handlers.onClose(this);
    });
    const idleMs = opts.idleTimeoutMs ?? 0;
    if (idleMs > 0) {
      // Node re-arms this on every read and write; it fires after idleMs of neither.
      socket.setTimeout(idleMs);
      socket.on('timeout', () => {
        if (!this.isIdle()) return;
        this.closeReason = `idle for ${idleMs / 1000} s (--idle-timeout)`;
        this.socket.destroy();
      });
    }
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** Closed, or being closed by us (destroy() is at once; the 'close' event comes later). */
  private get gone(): boolean {
    return this.closed || this.socket.destroyed;
  }

  /** It subscribed to the change feed: a quiet subscriber is waiting for events, not idle. */
  markSubscribed(): void {
    this.subscribed = true;
  }

  /** Unread output: what the socket holds plus the replies queued behind it. */
  /** Requests received and not yet started (they run one at a time). */
  get queued(): number {
    return this.waiting.length;
  }

  get unreadOutput(): number {
    return this.socket.writableLength + this.outboxChars;
  }

  private isIdle(): boolean {
    return (
      !this.subscribed &&
      !this.busy &&
      this.nextToWrite === this.nextSlot &&
      this.waiting.length === 0 &&
      !this.splitter.partial &&
      this.unreadOutput === 0
    );
  }

  private onData(chunk: string): void {
    if (this.fatal) return;
    for (const f of this.splitter.push(chunk)) {
      const slot = this.nextSlot++;
      if (f.kind === 'error') {
        if (f.fatal) {
          this.failAndClose(slot, f.code, f.error);
          break;
        }
        this.ready.set(slot, errorLine(f.code, f.error));
        continue;
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
      this.waiting.push({ slot, body: obj, chars: f.text.length });
      this.queuedChars += f.text.length;
    }
    this.armRequestTimer();
    this.release();
    this.startNext();
    this.updateReading();
  }

  /**
   * Requests on one connection run one after another, as a session: each sees what the
   * previous one did (the seed's post-then-update pasted into nc must work). Clients get
   * concurrency from several connections; pipelining still saves them the round trips.
   * None starts while the client has more than OUTPUT_PAUSE_BYTES of replies unread.
   */
  private startNext(): void {
    if (this.starting) return; // a reply delivered synchronously lands back here: the loop below goes on
    this.starting = true;
    while (!this.busy && !this.gone && this.unreadOutput <= OUTPUT_PAUSE_BYTES) {
      const next = this.waiting.shift();
      if (next === undefined) break;
      this.queuedChars -= next.chars;
      this.busy = true;
      this.handlers.onRequest(this, next.slot, next.body);
    }
    this.starting = false;
  }

  /** Pauses reading while too much is read and not answered, or written and not read; resumes below half of each mark. */
  private updateReading(): void {
    if (this.gone || this.fatal) return;
    const inFlight = this.nextSlot - this.nextToWrite;
    const unread = this.unreadOutput;
    if (!this.readingPaused) {
      if (inFlight > MAX_PIPELINED_REQUESTS || this.queuedChars > MAX_QUEUED_REQUEST_BYTES || unread > OUTPUT_PAUSE_BYTES) {
        this.readingPaused = true;
        this.socket.pause();
        this.armRequestTimer(); // not the client's delay while we do not read
      }
    } else if (inFlight <= MAX_PIPELINED_REQUESTS / 2 && this.queuedChars <= MAX_QUEUED_REQUEST_BYTES / 2 && unread <= OUTPUT_PAUSE_BYTES / 2) {
      this.readingPaused = false;
      this.socket.resume();
      this.armRequestTimer();
    }
  }

  /** The unfinished request's clock runs from its first byte, while we are reading. */
  private armRequestTimer(): void {
    if (this.splitter.partial && !this.readingPaused && !this.fatal && !this.closed) {
      if (this.requestTimer === null) {
        this.requestTimer = this.timers.setTimeout(() => {
          this.requestTimer = null;
          this.closeReason = 'a request left unfinished';
          this.failAndClose(
            this.nextSlot++,
            'TIMEOUT',
            `the request was not complete ${REQUEST_TIMEOUT_MS / 1000} s after its first byte arrived; it was not run and the connection is closed`,
          );
        }, REQUEST_TIMEOUT_MS);
      }
    } else {
      this.clearRequestTimer();
    }
  }

  private clearRequestTimer(): void {
    if (this.requestTimer !== null) {
      this.timers.clearTimeout(this.requestTimer);
      this.requestTimer = null;
    }
  }

  private failAndClose(slot: number, code: 'INVALID' | 'TOO_LARGE' | 'TIMEOUT', error: string): void {
    this.fatal = true;
    this.inputEnded = true;
    this.clearRequestTimer();
    this.ready.set(slot, errorLine(code, error));
    this.release();
  }

  deliver(slot: number, reply: Reply): void {
    this.deliverText(slot, JSON.stringify(reply));
  }

  /** A reply rendered as a JSON object (never empty: it has a status; no newline): `req` goes in last, without parsing it. */
  deliverText(slot: number, text: string): void {
    if (this.gone) return;
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
    this.updateReading();
  }

  /** A change event, outside the reply order; replies keep their own order around it. */
  push(event: unknown): void {
    if (this.gone) return;
    this.enqueue(feedLine(event));
  }

  /** Moves the replies that are next in order to the outbox. */
  private release(): void {
    while (this.ready.has(this.nextToWrite)) {
      const line = this.ready.get(this.nextToWrite) as string;
      this.ready.delete(this.nextToWrite);
      this.nextToWrite++;
      this.enqueue(line);
      if (this.gone) return;
    }
  }

  private enqueue(line: string): void {
    this.outbox.push(line);
    this.outboxChars += line.length;
    if (this.unreadOutput > MAX_UNREAD_OUTPUT_BYTES) {
      // It does not read what it asked for: cut it rather than hold its output without end.
      this.closeReason = `more than ${MAX_UNREAD_OUTPUT_BYTES / 1024 / 1024} MiB of output unread`;
      this.socket.destroy();
      return;
    }
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      this.timers.setImmediate(() => this.flush());
    }
  }

  /** Hands the outbox to the socket in pieces of at most MAX_WRITE_BYTES, stopping whenever the socket asks us to wait. */
  private flush(): void {
    this.flushScheduled = false;
    if (this.gone) return;
    const box = this.outbox;
    while (this.outboxHead < box.length && !this.awaitingDrain) {
      const from = this.outboxHead;
      let end = from;
      let size = 0;
      do {
        size += (box[end] as string).length;
        end++;
      } while (end < box.length && size + (box[end] as string).length <= MAX_WRITE_BYTES);
      const piece = end - from === 1 ? (box[from] as string) : box.slice(from, end).join('');
      this.outboxHead = end;
      this.outboxChars -= size;
      if (!this.socket.write(piece)) this.awaitingDrain = true;
    }
    if (this.outboxHead === box.length) {
      this.outbox = [];
      this.outboxHead = 0;
    } else if (this.outboxHead > 1_024 && this.outboxHead * 2 > box.length) {
      this.outbox = box.slice(this.outboxHead);
      this.outboxHead = 0;
    }
    this.startNext();
    this.updateReading();
    this.maybeEnd();
  }

  /** After the client's half-close (or a fatal error), close once every reply is out. */
  private maybeEnd(): void {
    if (!this.inputEnded || this.gone) return;
    if (this.nextToWrite < this.nextSlot || this.outboxHead < this.outbox.length) return;
    if (this.fatal) {
      if (this.lingering) {
        this.socket.destroy(); // the client closed its side too
        return;
      }
      // A lingering close, as HTTP servers make one: the replies and our FIN go out, and what the
      // client still sends is read and dropped (onData returns at once) until it closes too, or
      // FATAL_LINGER_MS has passed. Destroying at once would answer its late bytes with a reset,
      // and a reset makes the client's kernel drop the replies it had not read yet.
      this.lingering = true;
      this.socket.end();
      this.socket.resume();
      const t = this.timers.setTimeout(() => this.socket.destroy(), FATAL_LINGER_MS);
      this.socket.once('close', () => this.timers.clearTimeout(t));
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

/**
 * Which client connections are let in: at most `maxTotal` open, and at most
 * `maxPerAddress` from one address. The one place admission is decided (slots kept
 * for nodes belong here too).
 */
export class ClientAdmission {
  private total = 0;
  private readonly byAddress = new Map<string, number>();

  constructor(
    private readonly maxTotal: number,
    private readonly maxPerAddress = MAX_CLIENT_CONNECTIONS_PER_ADDRESS,
  ) {}

  /** null: admitted (and counted until release); otherwise the reason to give the client. */
  admit(address: string): string | null {
    if (this.total >= this.maxTotal) {
      return `the coordinator already has ${this.maxTotal} client connections open, its limit; try again later`;
    }
    const n = this.byAddress.get(address) ?? 0;
    if (n >= this.maxPerAddress) {
      return `${address} already has ${n} connections open to this coordinator, the limit for one address; close some first`;
    }
    this.total++;
    this.byAddress.set(address, n + 1);
    return null;
  }

  release(address: string): void {
    this.total--;
    const n = (this.byAddress.get(address) ?? 1) - 1;
    if (n <= 0) this.byAddress.delete(address);
    else this.byAddress.set(address, n);
  }
}

/** The client's address, IPv4-mapped IPv6 written as IPv4 (one host, one count). */
export function peerAddress(socket: Conn): string {
  const a = socket.remoteAddress ?? 'unknown';
  return a.startsWith('::ffff:') ? a.slice(7) : a;
}

/** Tells a connection that was not admitted why, in one ERROR line, and closes it. */
export function refuseConnection(socket: Conn, reason: string): void {
  socket.on('error', () => undefined);
  socket.resume(); // whatever it sent is dropped, so closing does not reset the line away
  socket.end(errorLine('UNAVAILABLE', `connection refused: ${reason}`), () => socket.destroy());
}
