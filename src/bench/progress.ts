// A progress line on standard error: redrawn in place on a terminal, one line
// every few seconds otherwise (CI logs, pipes).

const WIDTH = 24;
const PLAIN_EVERY_MS = 3_000;

export class Progress {
  private readonly tty = process.stderr.isTTY === true;
  private lastPlain = 0;
  private shown = false;

  /** `fraction` of the current step done (0 to 1), and what is happening. */
  update(fraction: number, text: string): void {
    if (this.tty) {
      const f = Math.max(0, Math.min(1, fraction));
      const filled = Math.round(f * WIDTH);
      process.stderr.write(`\r\x1b[2K[${'#'.repeat(filled)}${'.'.repeat(WIDTH - filled)}] ${text}`);
      this.shown = true;
    } else if (Date.now() - this.lastPlain >= PLAIN_EVERY_MS) {
      this.lastPlain = Date.now();
      process.stderr.write(`  ${text}\n`);
    }
  }

  /** Ends the current step with a line that stays. */
  done(text: string): void {
    this.stop();
    process.stderr.write(`${text}\n`);
  }

  stop(): void {
    if (this.tty && this.shown) process.stderr.write('\r\x1b[2K');
    this.shown = false;
  }
}
