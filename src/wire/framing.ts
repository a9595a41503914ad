// Splits a byte stream into JSON objects: one after another, separated by any
// white space, each free to span many lines (the seed's pretty-printed examples
// pasted into `nc` work as they are). Only the object boundaries are found here;
// JSON.parse does the parsing.
//
// Every character is scanned once: an unfinished object is kept as the pieces it
// arrived in, with a running count of its UTF-8 bytes, and joined once, when it
// ends. So a client trickling bytes into a large unfinished request costs the
// coordinator the size of each chunk, never the size of what is pending.

import { DEFAULT_MAX_REQUEST_BYTES } from './limits.ts';

export type FrameResult =
  | { kind: 'object'; text: string }
  /**
   * `fatal`: the stream is dead (not JSON objects, or over the size limit: where the next
   * request starts is no longer known). Not fatal: this one object is refused (it nests
   * too deep); its end was found, so the stream goes on with the next one.
   */
  | { kind: 'error'; code: 'INVALID' | 'TOO_LARGE'; error: string; fatal: boolean };

export class JsonStreamSplitter {
  /** The unfinished object, as the pieces of the chunks it arrived in (empty while it is being skipped). */
  private parts: string[] = [];
  /** Characters and UTF-8 bytes of the unfinished object so far (counted also while it is skipped). */
  private partChars = 0;
  private partBytes = 0;
  private depth = 0;
  private inString = false;
  private escaped = false;
  /** The current object nests deeper than maxDepth: its text is dropped and only its end is looked for. */
  private tooDeep = false;
  private failed = false;
  /**
   * Characters this splitter has touched: scanned, measured or copied. Each character is
   * touched a small constant number of times, whatever the chunk sizes (a unit test holds it to that).
   */
  charsTouched = 0;

  constructor(
    private readonly maxBytes = DEFAULT_MAX_REQUEST_BYTES,
    private readonly maxDepth = Number.POSITIVE_INFINITY,
  ) {}

  /** Feeds a chunk; returns the complete objects it finished, and errors (after a fatal one the stream is dead). */
  push(chunk: string): FrameResult[] {
    if (this.failed) return [];
    const out: FrameResult[] = [];
    this.charsTouched += chunk.length;
    // Where the current object's text starts in this chunk (0: it began in an earlier one).
    let from = 0;
    for (let i = 0; i < chunk.length; i++) {
      const c = chunk.charCodeAt(i);
      if (this.depth === 0) {
        if (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) continue;
        if (c !== 0x7b /* { */) {
          out.push(this.fail('INVALID', `invalid JSON: a request must be a JSON object, found ${JSON.stringify(chunk[i])}`));
          return out;
        }
        from = i;
        this.depth = 1;
        this.tooDeep = this.maxDepth < 1;
        continue;
      }
      if (this.inString) {
        if (this.escaped) this.escaped = false;
        else if (c === 0x5c /* \ */) this.escaped = true;
        else if (c === 0x22 /* " */) this.inString = false;
        continue;
      }
      if (c === 0x22) this.inString = true;
      else if (c === 0x7b || c === 0x5b) {
        if (++this.depth > this.maxDepth && !this.tooDeep) {
          this.tooDeep = true;
          this.parts = [];
        }
      } else if (c === 0x7d || c === 0x5d) {
        if (--this.depth > 0) continue;
        const piece = chunk.slice(from, i + 1);
        const chars = this.partChars + piece.length;
        // A UTF-16 unit is at most 3 UTF-8 bytes: the exact count is only needed near the limit.
        const bytes = chars * 3 > this.maxBytes ? this.partBytes + this.measure(piece) : 0;
        if (bytes > this.maxBytes) {
          out.push(this.fail('TOO_LARGE', `request is larger than the limit of ${this.maxBytes} bytes`));
          return out;
        }
        if (this.tooDeep) {
          out.push({ kind: 'error', code: 'INVALID', error: `the request nests objects and arrays more than ${this.maxDepth} levels deep; it was not run`, fatal: false });
        } else {
          const text = this.parts.length === 0 ? piece : this.parts.join('') + piece;
          if (this.parts.length > 0) this.charsTouched += text.length;
          out.push({ kind: 'object', text });
        }
        this.parts = [];
        this.partChars = 0;
        this.partBytes = 0;
        this.tooDeep = false;
      }
    }
    if (this.depth > 0) {
      // Keep the unfinished object's piece of this chunk (or only count it, while it is skipped).
      const piece = from === 0 ? chunk : chunk.slice(from);
      this.partChars += piece.length;
      this.partBytes += this.measure(piece);
      if (!this.tooDeep) this.parts.push(piece);
      if (this.partBytes > this.maxBytes) out.push(this.fail('TOO_LARGE', `request is larger than the limit of ${this.maxBytes} bytes`));
    }
    return out;
  }

  private measure(piece: string): number {
    this.charsTouched += piece.length;
    return Buffer.byteLength(piece, 'utf8');
  }

  private fail(code: 'INVALID' | 'TOO_LARGE', error: string): FrameResult {
    this.failed = true;
    this.parts = [];
    return { kind: 'error', code, error, fatal: true };
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
