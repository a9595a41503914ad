// A socket carrying JSON objects both ways: one object per line out, any
// whitespace-separated objects in. Writes made in one turn of the event loop go
// out in one socket write (several protocol messages per write).

import type { Socket } from 'node:net';
import { JsonStreamSplitter } from '../wire/framing.ts';

/** Peer messages may carry a page of a full copy; they get a larger limit than client requests. */
export const PEER_MAX_MESSAGE_BYTES = 64 * 1024 * 1024;

export class JsonLink {
  readonly socket: Socket;
  private readonly splitter: JsonStreamSplitter;
  private outbox: string[] = [];
  private flushScheduled = false;
  private closed = false;

  constructor(
    socket: Socket,
    onMessage: (msg: Record<string, unknown>) => void,
    onClose: (why: string) => void,
    maxBytes = PEER_MAX_MESSAGE_BYTES,
  ) {
    this.socket = socket;
    this.splitter = new JsonStreamSplitter(maxBytes);
    socket.setEncoding('utf8');
    socket.setNoDelay(true);
    socket.setKeepAlive(true, 5_000);
    socket.on('data', (chunk: string) => {
      if (this.closed) return;
      for (const f of this.splitter.push(chunk)) {
        if (f.kind === 'error') {
          this.close(`bad message from peer: ${f.error}`);
          return;
        }
        let msg: unknown;
        try {
          msg = JSON.parse(f.text);
        } catch {
          this.close('bad JSON from peer');
          return;
        }
        onMessage(msg as Record<string, unknown>);
        if (this.closed) return;
      }
    });
    socket.on('error', () => undefined); // 'close' follows and reports it
    socket.on('close', () => {
      if (this.closed) return;
      this.closed = true;
      onClose('connection closed');
    });
    this.onCloseCb = onClose;
  }

  private readonly onCloseCb: (why: string) => void;

  get isClosed(): boolean {
    return this.closed;
  }

  send(msg: unknown): void {
    if (this.closed) return;
    this.outbox.push(JSON.stringify(msg) + '\n');
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
