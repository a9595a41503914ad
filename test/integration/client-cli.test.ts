// `tweetdb client` with standard input that is not a terminal: requests are read
// from the pipe, each reply printed, the exit code says whether all went well.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { BIN, Cluster, waitExit } from '../helpers/cluster.ts';

// The seed's post example, as SEED.txt prints it.
const SEED_POST = `{
"action": "post",
"tweet": {
"id": "<unique_tweet_id>",
"username": "<user>",
"content": "<message content>"
}
}
`;
const GET = `{
"action": "get_tweets"
}
`;

let cluster: Cluster;
const spawned: ChildProcess[] = [];
before(async () => {
  cluster = await Cluster.start({ workers: 2 });
});
after(async () => {
  for (const p of spawned) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
  await Promise.all(spawned.map((p) => waitExit(p)));
  await cluster.stop();
});

interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Runs `tweetdb client ...args` with `input` piped to its standard input. */
function runClient(args: string[], input: string, timeoutMs = 30_000): Promise<Run> {
  const p = spawn(process.execPath, [BIN, 'client', ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
  spawned.push(p);
  let stdout = '';
  let stderr = '';
  p.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  p.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  p.stdin.on('error', () => undefined); // it may exit before reading everything
  p.stdin.end(input);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      p.kill('SIGKILL');
      reject(new Error(`tweetdb client did not exit within ${timeoutMs} ms\nstdout: ${stdout}\nstderr: ${stderr}`));
    }, timeoutMs);
    p.once('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

/** Splits pretty-printed output into its objects: each starts with `{` and ends with `}` at the start of a line. */
function prettyObjects(out: string): string[] {
  const objs: string[] = [];
  let cur: string[] | null = null;
  for (const line of out.split('\n')) {
    if (cur === null) {
      if (line === '') continue;
      assert.equal(line, '{', `a pretty-printed reply starts with a line holding just "{":\n${out}`);
      cur = [line];
    } else {
      cur.push(line);
      if (line === '}') {
        objs.push(cur.join('\n'));
        cur = null;
      }
    }
  }
  assert.equal(cur, null, `the output ends with a whole reply:\n${out}`);
  return objs;
}

test('piped pretty-printed requests (the seed\'s post example, then get_tweets) get pretty-printed OK replies and exit code 0', async () => {
  const r = await runClient(['--coordinator', cluster.address], SEED_POST + GET);
  assert.equal(r.code, 0, `exit code 0\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
  assert.equal(r.stderr, '');
  const objs = prettyObjects(r.stdout);
  assert.equal(objs.length, 2, r.stdout);
  const replies = objs.map((o) => JSON.parse(o) as Record<string, unknown>);
  for (const [i, o] of objs.entries()) {
    assert.equal(o, JSON.stringify(replies[i], null, 2), 'each reply is printed with two-space indentation');
    assert.ok(o.split('\n').length > 3, 'pretty-printed over several lines');
  }
  const [post, list] = replies;
  assert.equal(post?.status, 'OK', r.stdout);
  assert.deepEqual(
    { id: (post?.tweet as { id?: string }).id, username: (post?.tweet as { username?: string }).username, content: (post?.tweet as { content?: string }).content },
    { id: '<unique_tweet_id>', username: '<user>', content: '<message content>' },
  );
  assert.equal(list?.status, 'OK', r.stdout);
  assert.ok((list?.tweets as { id: string }[]).some((t) => t.id === '<unique_tweet_id>'), r.stdout);
  // The post really happened.
  const got = await cluster.request({ action: 'get_tweet', tweet: { id: '<unique_tweet_id>' } });
  assert.equal((got.tweet as { content?: string } | undefined)?.content, '<message content>');
});

test('with --compact each reply is one line', async () => {
  const input = SEED_POST.replace('<unique_tweet_id>', 'compact-1') + GET + '{"action":"get_tweet","tweet":{"id":"compact-1"}}\n';
  const r = await runClient(['--coordinator', cluster.address, '--compact'], input);
  assert.equal(r.code, 0, `exit code 0\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
  assert.ok(r.stdout.endsWith('\n'), r.stdout);
  const lines = r.stdout.slice(0, -1).split('\n');
  assert.equal(lines.length, 3, `three replies, one line each:\n${r.stdout}`);
  const replies = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
  for (const [i, l] of lines.entries()) assert.equal(l, JSON.stringify(replies[i]));
  assert.deepEqual(replies.map((x) => x.status), ['OK', 'OK', 'OK']);
  assert.equal((replies[0]?.tweet as { id?: string }).id, 'compact-1');
  assert.ok((replies[1]?.tweets as { id: string }[]).some((t) => t.id === 'compact-1'));
  assert.equal((replies[2]?.tweet as { content?: string }).content, '<message content>');
});

test('an ABORT reply is printed and the client goes on; a malformed request is reported, not sent, and makes the exit code 1', async () => {
  const input = [
    '{"action":"update","tweet":{"id":"no-such-tweet","content":"x"}}',
    '{"action": "post", "tweet": ]',
    '{"action":"post","tweet":{"id":"after-bad","username":"u","content":"still works"}}',
    '',
  ].join('\n');
  const r = await runClient(['--coordinator', cluster.address, '--compact'], input);
  assert.equal(r.code, 1, `exit code 1\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
  assert.match(r.stderr, /not sent/);
  const replies = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
  assert.equal(replies.length, 2, r.stdout);
  assert.equal(replies[0]?.code, 'NOT_FOUND');
  assert.equal(replies[1]?.status, 'OK');
  assert.equal((await cluster.request({ action: 'get_tweet', tweet: { id: 'after-bad' } })).status, 'OK');
});

test('when the coordinator is not reachable it exits 1 with a message naming the address', async () => {
  // A port nobody listens on: bind one, then close it.
  const port = await new Promise<number>((resolve) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      s.close(() => resolve(a !== null && typeof a === 'object' ? a.port : 0));
    });
  });
  const address = `127.0.0.1:${port}`;
  const r = await runClient(['--coordinator', address], GET);
  assert.equal(r.code, 1, `exit code 1\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
  assert.equal(r.stdout, '');
  assert.ok(r.stderr.includes(address), `the message names ${address}: ${r.stderr}`);
});

test(
  'a request cut short at the end of the input is reported as not sent and makes the exit code 1',
  async () => {
    const r = await runClient(['--coordinator', cluster.address, '--compact'], '{"action":"get_tweets","limit":1}\n{"action":"post","tweet":{"id":"cut","username":"u","content":"never closed"}\n');
    const replies = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.equal(replies.length, 1, r.stdout);
    assert.equal(replies[0]?.status, 'OK');
    assert.equal((await cluster.request({ action: 'get_tweet', tweet: { id: 'cut' } })).code, 'NOT_FOUND');
    assert.notEqual(r.stderr, '', 'the user is told that the last request was not sent');
    assert.equal(r.code, 1, `exit code 1\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
  },
);
