// `tweetdb client`: a shell on the coordinator's TCP API. Requests may span
// several lines (a request is sent once its JSON object is complete); replies
// are pretty-printed; history with the arrow keys. Not a terminal: requests are
// read from standard input and each reply printed.

import { createInterface } from 'node:readline';
import { PLAIN_ACCESS, TweetdbClient, type CoordinatorAccess } from '../client/client.ts';
import { JsonStreamSplitter } from '../wire/framing.ts';
import { DEFAULT_MAX_REQUEST_BYTES, MAX_NESTING_DEPTH } from '../wire/limits.ts';

const HELP = `Type a request as JSON, for example:
  {"action":"post","tweet":{"username":"ada","content":"hello"}}
  {"action":"get_tweets","limit":10}
  {"action":"begin"}  ...  {"action":"commit"}
  {"action":"status"}   {"action":"check"}
A request may span several lines. .help shows this, .exit (or Ctrl-D) leaves.`;

/**
 * Characters a terminal may act on instead of showing: C0 controls but the newline (ESC
 * starts ANSI sequences, BEL rings), DEL, C1 controls (U+009B is a one-character CSI),
 * the line and paragraph separators, bidirectional overrides and isolates (they reorder
 * what is shown), and lone surrogates.
 */
// eslint-disable-next-line no-control-regex
const UNSAFE_FOR_TERMINAL = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069]|\p{Surrogate}/gu;

/**
 * Text as it may go to a terminal: each unsafe character written as its JSON escape
 * (`\u001b`). In JSON text such characters can only stand inside strings, where the
 * escape means the same: a reply printed this way still parses to the same value.
 */
export function escapeForTerminal(text: string): string {
  return text.replace(UNSAFE_FOR_TERMINAL, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

export async function runClient(coordinator: string, compact: boolean, access: CoordinatorAccess = PLAIN_ACCESS): Promise<number> {
  let client: TweetdbClient;
  try {
    client = await TweetdbClient.connect(coordinator, 5_000, access.tls, access.token);
  } catch (e) {
    console.error(`tweetdb client: ${(e as Error).message}. Is the coordinator running (npm start)?`);
    return 1;
  }
  const tty = process.stdin.isTTY === true;
  const show = (r: unknown): void => console.log(escapeForTerminal(compact ? JSON.stringify(r) : JSON.stringify(r, null, 2)));
  const warn = (text: string): void => console.error(escapeForTerminal(text));
  // The coordinator's limits, checked here too, so that what it would refuse is not sent.
  const newSplitter = (): JsonStreamSplitter => new JsonStreamSplitter(DEFAULT_MAX_REQUEST_BYTES, MAX_NESTING_DEPTH);
  let splitter = newSplitter();
  const rl = createInterface({ input: process.stdin, output: tty ? process.stdout : undefined, terminal: tty, historySize: 1000 });
  if (tty) {
    console.log(`connected to ${coordinator}. .help for help.`);
    rl.setPrompt('tweetdb> ');
    rl.prompt();
  }
  let exitCode = 0;
  let queue: Promise<void> = Promise.resolve();
  client.onEvent = (e) => show(e);
  for await (const line of rl) {
    const trimmed = line.trim();
    if (!splitter.partial && (trimmed === '.exit' || trimmed === '.quit')) break;
    if (!splitter.partial && trimmed === '.help') {
      console.log(HELP);
      if (tty) rl.prompt();
      continue;
    }
    for (const f of splitter.push(line + '\n')) {
      if (f.kind === 'error') {
        warn(`not sent: ${f.error}`);
        exitCode = 1;
        if (!f.fatal) continue; // that one request only (too deep): the ones after it are fine
        splitter = newSplitter(); // start afresh with the next line
        break;
      }
      let body: Record<string, unknown>;
      try {
        body = JSON.parse(f.text) as Record<string, unknown>;
      } catch (e) {
        warn(`not sent: invalid JSON: ${(e as Error).message}`);
        exitCode = 1;
        continue;
      }
      const p = client.request(body, 0);
      queue = queue.then(() =>
        p.then(
          (r) => show(r),
          (e: Error) => {
            warn(`no reply: ${e.message} (the outcome of a write is unknown; retry it)`);
            exitCode = 1;
          },
        ),
      );
      if (tty) await queue;
    }
    if (splitter.partial && tty) rl.setPrompt('....... ');
    else if (tty) rl.setPrompt('tweetdb> ');
    if (tty) rl.prompt();
  }
  if (splitter.partial) {
    console.error('not sent: the input ended in the middle of a request');
    exitCode = 1;
  }
  await queue;
  client.close();
  return exitCode;
}
