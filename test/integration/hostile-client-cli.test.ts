// `tweetdb client` and what others wrote: control characters in a tweet (ANSI escapes,
// BEL, a one-character CSI, DEL, a bidi override) must not reach the terminal as they
// are. The real CLI process, with piped standard input, in both output modes.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { BIN, Cluster, waitExit } from '../helpers/cluster.ts';

// What a terminal would act on: C0 but the newline, DEL, C1, U+2028/2029, bidi controls.
// eslint-disable-next-line no-control-regex
const RAW_CONTROL = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u2028-\u202e\u2066-\u2069]/u;
const HOSTILE = '\u001b[2J\u001b]0;pwned\u0007\u001b[31mred \u009b31m \u007f \u202eevil \u0085';

let cluster: Cluster;
before(async () => {
  cluster = await Cluster.start({ workers: 1 });
  const r = await cluster.request({ action: 'post', tweet: { id: 'ansi', username: 'mallory', content: HOSTILE } });
  assert.equal(r.status, 'OK');
});
after(async () => {
  await cluster.stop();
});

async function runCli(args: string[], input: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const p = spawn(process.execPath, [BIN, 'client', '--coordinator', cluster.address, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  p.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  p.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  p.stdin.end(input);
  const timer = setTimeout(() => p.kill('SIGKILL'), 30_000);
  await waitExit(p);
  clearTimeout(timer);
  return { code: p.exitCode, stdout, stderr };
}

for (const mode of ['--compact', 'pretty'] as const) {
  test(`attack: control characters in a tweet are shown escaped by tweetdb client (${mode}), and the reply still parses to the same text`, async () => {
    // On main JSON.stringify escaped C0 but let DEL, C1 (U+009B is a one-character CSI) and bidi overrides through.
    const r = await runCli(mode === 'pretty' ? [] : [mode], '{"action":"get_tweet","tweet":{"id":"ansi"}}\n{"action":"get_tweets","username":"mallory"}\n');
    assert.equal(r.code, 0, r.stderr);
    const bad = RAW_CONTROL.exec(r.stdout);
    assert.equal(bad, null, `a raw U+${bad?.[0].charCodeAt(0).toString(16).padStart(4, '0')} reached the terminal`);
    for (const shown of ['\\u001b[2J', '\\u0007', '\\u009b31m', '\\u007f', '\\u202eevil', '\\u0085']) assert.ok(r.stdout.includes(shown), `${shown} is shown literally`);
    const objs = mode === 'pretty' ? r.stdout.split(/\n(?=\{)/) : r.stdout.trim().split('\n');
    const replies = objs.map((o) => JSON.parse(o) as { tweet?: { content: string }; tweets?: { content: string }[] });
    assert.equal(replies[0]?.tweet?.content, HOSTILE);
    assert.equal(replies[1]?.tweets?.[0]?.content, HOSTILE);
  });
}

test('attack: control characters in the user\'s own malformed input are escaped in the "not sent" message too', async () => {
  const r = await runCli(['--compact'], '{"action": \u001b\u0007\u009b}\n');
  assert.equal(r.code, 1);
  assert.match(r.stderr, /not sent/);
  assert.equal(RAW_CONTROL.exec(r.stderr), null, JSON.stringify(r.stderr));
});

test('a request nested past 32 levels is not sent; the requests after it are', async () => {
  const r = await runCli(['--compact'], `{"action":"status","req":${'['.repeat(40)}${']'.repeat(40)}}\n{"action":"status","req":"next"}\n`);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /not sent: .*more than 32 levels deep/);
  const replies = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as { status: string; req?: string });
  assert.deepEqual(replies.map((x) => [x.status, x.req]), [['OK', 'next']]);
});
