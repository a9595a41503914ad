// A socket between two nodes carrying one frame per line, both ways: a JSON
// object, or a text frame `#TAG TEXT` whose text is passed on unparsed (a read
// answered as the client's reply line). Writes made in one turn of the event
// loop go out in one socket write (several protocol messages per write).
//
// A link starts with a small line limit: until the peer has proved it holds the
// cluster key (src/node/link-auth.ts), nothing it sends may cost much memory.

import { LineSplitter } from '../wire/framing.ts';
import type { Conn, Timers } from './env.ts';
import { LINK_WRITE_MAX_CHARS, UNAUTHENTICATED_MAX_MESSAGE_BYTES } from '../wire/limits.ts';

const TEXT_FRAME = 0x23; /* # */
const OBJECT_FRAME = 0x7b; /* { */

export interface LinkHandlers {
  onMessage: (msg: Record<string, unknown>) => void;
  onClose: (why: string) => void;
  /** Where text frames go; a link without it refuses them (the peer is confused). */
  onText?: (tag: number, text: string) => void;
}

export class JsonLink {
  readonly socket: Conn;
  private readonly splitter: LineSplitter;
  private outbox: string[] = [];
  private flushScheduled = false;
  private closed = false;
  /** Swapped once the handshake is over: from the handshake's to the protocol's. */
  handlers: LinkHandlers;
  /** Why the link closed, once it has. */
  closedWhy = '';

  constructor(
    private readonly timers: Timers,
    socket: Conn,
    handlers: LinkHandlers,
    maxBytes = UNAUTHENTICATED_MAX_MESSAGE_BYTES,
  ) {
    this.socket = socket;
    this.handlers = handlers;
    this.splitter = new LineSplitter(maxBytes);
    let limit = maxBytes;
    this.raiseLimit = (n: number): void => {
      limit = n;
      this.splitter.setLimit(n);
    };
    socket.setEncoding('utf8');
    socket.setNoDelay(true);
    socket.setKeepAlive(true, 5_000);
    socket.on('data', (chunk: string) => {
      if (this.closed) return;
      const lines = this.splitter.push(chunk);
      if (lines === null) {
        this.close(`bad message from peer: larger than ${limit} bytes`);
        return;
      }
      for (const line of lines) {
        const kind = line.charCodeAt(0);
        const onText = this.handlers.onText;
        if (kind === OBJECT_FRAME) {
          let msg: unknown;
          try {
            msg = JSON.parse(line);
          } catch {
            this.close('bad JSON from peer');
            return;
          }
          if (typeof msg !== 'object' || msg === null || Array.isArray(msg)) {
            this.close('bad message from peer: not a JSON object');
            return;
          }
          this.handlers.onMessage(msg as Record<string, unknown>);
        } else if (kind === TEXT_FRAME && onText !== undefined) {
          const space = line.indexOf(' ');
          const tag = Number(line.slice(1, space));
          if (space < 2 || !Number.isSafeInteger(tag)) {
            this.close('bad text frame from peer');
            return;
          }
          onText(tag, line.slice(space + 1));
        } else {
          this.close(`bad frame from peer: it starts with ${JSON.stringify(line.slice(0, 1))}`);
          return;
        }
        if (this.closed) return;
      }
    });
    socket.on('error', () => undefined); // 'close' follows and reports it
    socket.on('close', () => {
      if (this.closed) return;
      this.closed = true;
      this.closedWhy = 'connection closed';
      this.handlers.onClose('connection closed');
    });
  }

  /** Raises (or lowers) the longest line accepted from the peer. */
  readonly raiseLimit: (maxBytes: number) => void;

  get isClosed(): boolean {
    return this.closed;
  }

  send(msg: unknown): void {
    this.queue(JSON.stringify(msg) + '\n');
  }

  /** A text frame: `text` must hold no newline (JSON.stringify's output never does). */
  sendText(tag: number, text: string): void {
    this.queue(`#${tag} ${text}\n`);
  }

  private queue(line: string): void {
    if (this.closed) return;
    this.outbox.push(line);
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      this.timers.setImmediate(() => this.flush());
    }
  }

  /**
   * Writes what is queued now (normally done once per turn of the event loop), joined into
   * pieces of at most LINK_WRITE_MAX_CHARS: many large replies of one turn (reads of 1,000
   * tweets each) must never be built into one string past V8's limit.
   */
  flush(): void {
    this.flushScheduled = false;
    if (this.closed || this.outbox.length === 0) return;
    const lines = this.outbox;
    this.outbox = [];
    let piece: string[] = [];
    let size = 0;
    for (const line of lines) {
      if (size > 0 && size + line.length > LINK_WRITE_MAX_CHARS) {
        this.socket.write(piece.join(''));
        piece = [];
        size = 0;
      }
      piece.push(line);
      size += line.length;
    }
    if (piece.length > 0) this.socket.write(piece.join(''));
  }

  /**
   * Sends what is queued, then closes (FIN after the data), destroying the socket after `graceMs`
   * at the latest: a last message (a removed worker told so) must not be cut off by the close,
   * and a peer that never reads must not keep the socket for ever.
   */
  closeAfterFlush(why: string, graceMs: number): void {
    if (this.closed) return;
    this.flush();
    this.closed = true;
    this.closedWhy = why;
    this.socket.end();
    const timer = this.timers.setTimeout(() => this.socket.destroy(), graceMs);
    this.socket.once('close', () => this.timers.clearTimeout(timer));
    this.handlers.onClose(why);
  }

  close(why: string): void {
    if (this.closed) return;
    this.closed = true;
    this.closedWhy = why;
    this.socket.destroy();
    this.handlers.onClose(why);
  }
}
