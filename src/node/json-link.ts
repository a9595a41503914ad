// A socket between two nodes carrying one frame per line, both ways: a JSON
// object, or a text frame `#TAG TEXT` whose text is passed on unparsed (a read
// answered as the client's reply line). Writes made in one turn of the event
// loop go out in one socket write (several protocol messages per write).

import type { Socket } from 'node:net';
import { LineSplitter } from '../wire/framing.ts';

/** Peer messages may carry a page of a full copy; they get a larger limit than client requests. */
export const PEER_MAX_MESSAGE_BYTES = 64 * 1024 * 1024;

const TEXT_FRAME = 0x23; /* # */
const OBJECT_FRAME = 0x7b; /* { */

export class JsonLink {
  readonly socket: Socket;
  private readonly splitter: LineSplitter;
  private outbox: string[] = [];
  private flushScheduled = false;
  private closed = false;
  private readonly onCloseCb: (why: string) => void;

  /** `onText`: where text frames go; a link without it refuses them (the peer is confused). */
  constructor(
    socket: Socket,
    onMessage: (msg: Record<string, unknown>) => void,
    onClose: (why: string) => void,
    onText: ((tag: number, text: string) => void) | null = null,
    maxBytes = PEER_MAX_MESSAGE_BYTES,
  ) {
    this.socket = socket;
    this.onCloseCb = onClose;
    this.splitter = new LineSplitter(maxBytes);
    socket.setEncoding('utf8');
    socket.setNoDelay(true);
    socket.setKeepAlive(true, 5_000);
    socket.on('data', (chunk: string) => {
      if (this.closed) return;
      const lines = this.splitter.push(chunk);
      if (lines === null) {
        this.close(`bad message from peer: larger than ${maxBytes} bytes`);
        return;
      }
      for (const line of lines) {
        const kind = line.charCodeAt(0);
        if (kind === OBJECT_FRAME) {
          let msg: unknown;
          try {
            msg = JSON.parse(line);
          } catch {
            this.close('bad JSON from peer');
            return;
          }
          onMessage(msg as Record<string, unknown>);
        } else if (kind === TEXT_FRAME && onText !== null) {
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
      onClose('connection closed');
    });
  }

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
      setImmediate(() => this.flush());
    }
  }

  /** Writes what is queued now (normally done once per turn of the event loop). */
  flush(): void {
    this.flushScheduled = false;
    if (this.closed || this.outbox.length === 0) return;
    const data = this.outbox.join('');
    this.outbox = [];
    this.socket.write(data);
  }

  close(why: string): void {
    if (this.closed) return;
    this.closed = true;
    this.socket.destroy();
    this.onCloseCb(why);
  }
}
