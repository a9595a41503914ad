// Splits a byte stream into JSON objects: one after another, separated by any
// white space, each free to span many lines (the seed's pretty-printed examples
// pasted into `nc` work as they are). Only the object boundaries are found here;
// JSON.parse does the parsing.

export const DEFAULT_MAX_REQUEST_BYTES = 1024 * 1024;

export type FrameResult =
  | { kind: 'object'; text: string }
  | { kind: 'error'; code: 'INVALID' | 'TOO_LARGE'; error: string };

export class JsonStreamSplitter {
  private buf = '';
  private scanned = 0;
  private depth = 0;
  private inString = false;
  private escaped = false;
  private start = -1;
  private failed = false;
  private readonly maxBytes: number;

  constructor(maxBytes = DEFAULT_MAX_REQUEST_BYTES) {
    this.maxBytes = maxBytes;
  }

  /** Feeds a chunk; returns the complete objects it finished, and at most one error (after which the stream is dead). */
  push(chunk: string): FrameResult[] {
    if (this.failed) return [];
    this.buf += chunk;
    const out: FrameResult[] = [];
    const b = this.buf;
    let i = this.scanned;
    for (; i < b.length; i++) {
      const c = b.charCodeAt(i);
      if (this.depth === 0) {
        if (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) continue;
        if (c !== 0x7b /* { */) {
          this.failed = true;
          out.push({ kind: 'error', code: 'INVALID', error: `invalid JSON: a request must be a JSON object, found ${JSON.stringify(b[i])}` });
          return out;
        }
        this.start = i;
        this.depth = 1;
        continue;
      }
      if (this.inString) {
        if (this.escaped) this.escaped = false;
        else if (c === 0x5c /* \ */) this.escaped = true;
        else if (c === 0x22 /* " */) this.inString = false;
        continue;
      }
      if (c === 0x22) this.inString = true;
      else if (c === 0x7b || c === 0x5b) this.depth++;
      else if (c === 0x7d || c === 0x5d) {
        this.depth--;
        if (this.depth === 0) {
          const text = b.slice(this.start, i + 1);
          this.start = -1;
          if (this.tooLarge(text)) {
            this.failed = true;
            out.push({ kind: 'error', code: 'TOO_LARGE', error: `request is larger than the limit of ${this.maxBytes} bytes` });
            return out;
          }
          out.push({ kind: 'object', text });
        }
      }
    }
    // Keep only the unfinished object.
    if (this.depth === 0) {
      this.buf = '';
      this.scanned = 0;
    } else {
      this.buf = b.slice(this.start);
      this.scanned = this.buf.length;
      this.start = 0;
      if (this.tooLarge(this.buf)) {
        this.failed = true;
        out.push({ kind: 'error', code: 'TOO_LARGE', error: `request is larger than the limit of ${this.maxBytes} bytes` });
      }
    }
    return out;
  }

  /** A UTF-16 unit is at most 3 UTF-8 bytes: the exact count is only needed near the limit. */
  private tooLarge(text: string): boolean {
    return text.length * 3 > this.maxBytes && Buffer.byteLength(text, 'utf8') > this.maxBytes;
  }

  /** True while an object has started and not finished. */
  get partial(): boolean {
    return this.depth > 0;
  }
}

/**
 * Newline-delimited frames, for the links between nodes: JSON.stringify never writes a raw
 * newline, so a line is a frame, found with one indexOf per frame instead of a scan of every
 * character. An unfinished line is kept as its parts (never re-joined until it ends).
 */
export class LineSplitter {
  private parts: string[] = [];
  private partLength = 0;

  constructor(private maxChars: number) {}

  /** Changes the longest line accepted from now on (a link raises it once its peer is authenticated). */
  setLimit(maxChars: number): void {
    this.maxChars = maxChars;
  }

  /** The lines the chunk completes (empty lines skipped); null once an unfinished line is over the limit. */
  push(chunk: string): string[] | null {
    const out: string[] = [];
    let start = 0;
    let nl = chunk.indexOf('\n');
    if (nl !== -1 && this.parts.length > 0) {
      if (this.partLength + nl > this.maxChars) return null;
      this.parts.push(chunk.slice(0, nl));
      out.push(this.parts.join(''));
      this.parts = [];
      this.partLength = 0;
      start = nl + 1;
      nl = chunk.indexOf('\n', start);
    }
    while (nl !== -1) {
      if (nl - start > this.maxChars) return null;
      if (nl > start) out.push(chunk.slice(start, nl));
      start = nl + 1;
      nl = chunk.indexOf('\n', start);
    }
    if (start < chunk.length) {
      this.parts.push(start === 0 ? chunk : chunk.slice(start));
      this.partLength += chunk.length - start;
      if (this.partLength > this.maxChars) return null;
    }
    return out;
  }
}
