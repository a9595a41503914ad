// `tweetdb client`: a shell on the coordinator's TCP API. Requests may span
// several lines (a request is sent once its JSON object is complete); replies
// are pretty-printed; history with the arrow keys. Not a terminal: requests are
// read from standard input and each reply printed.

import { createInterface } from 'node:readline';
import { TweetdbClient } from '../node/client.ts';
import { JsonStreamSplitter } from '../wire/framing.ts';

const HELP = `Type a request as JSON, for example:
  {"action":"post","tweet":{"username":"ada","content":"hello"}}
  {"action":"get_tweets","limit":10}
  {"action":"begin"}  ...  {"action":"commit"}
  {"action":"status"}   {"action":"check"}
A request may span several lines. .help shows this, .exit (or Ctrl-D) leaves.`;

export async function runClient(coordinator: string, compact: boolean): Promise<number> {
  let client: TweetdbClient;
  try {
    client = await TweetdbClient.connect(coordinator);
  } catch (e) {
    console.error(`tweetdb client: ${(e as Error).message}. Is the coordinator running (npm start)?`);
    return 1;
  }
  const tty = process.stdin.isTTY === true;
  const show = (r: unknown): void => console.log(compact ? JSON.stringify(r) : JSON.stringify(r, null, 2));
  let splitter = new JsonStreamSplitter();
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
        console.error(`not sent: ${f.error}`);
        exitCode = 1;
        splitter = new JsonStreamSplitter(); // start afresh with the next line
        break;
      }
      let body: Record<string, unknown>;
      try {
        body = JSON.parse(f.text) as Record<string, unknown>;
      } catch (e) {
        console.error(`not sent: invalid JSON: ${(e as Error).message}`);
        exitCode = 1;
        continue;
      }
      const p = client.request(body, 0);
      queue = queue.then(() =>
        p.then(
          (r) => show(r),
          (e: Error) => {
            console.error(`no reply: ${e.message} (the outcome of a write is unknown; retry it)`);
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
