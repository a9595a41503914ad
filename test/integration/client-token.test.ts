// Optional client credentials (issue #10 item 3): with --client-token-file the coordinator serves
// only connections that sent {"action":"auth","token":...} first; workers still get in with the
// cluster key, and the CLI and the web app take the token too.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Cluster, BIN, spawnNode, waitExit } from '../helpers/cluster.ts';
import { rawSession, sendAndClose } from '../helpers/raw.ts';

const TOKEN = 'a-client-token-of-some-length-42';
let cluster: Cluster;
let tokenFile: string;

let tokenDir: string;

before(async () => {
  tokenDir = mkdtempSync(join(tmpdir(), 'tweetdb-token-'));
  tokenFile = join(tokenDir, 'client.token');
  writeFileSync(tokenFile, TOKEN + '\n', { mode: 0o600 });
  cluster = await Cluster.start({ workers: 2, clientToken: TOKEN, nodeEnv: { coordinator: { TWEETDB_CLIENT_TOKEN_FILE: tokenFile } } });
});
after(async () => {
  await cluster.stop();
  rmSync(tokenDir, { recursive: true, force: true });
});

test('without the token every action is refused with UNAUTHENTICATED and nothing is stored; workers still get in with the cluster key', async () => {
  const replies = await sendAndClose(cluster.address, '{"action":"post","tweet":{"id":"nope","username":"u","content":"x"}}\n{"action":"get_tweets"}\n{"action":"status"}\n');
  assert.deepEqual(replies.map((r) => r.code), ['UNAUTHENTICATED', 'UNAUTHENTICATED', 'UNAUTHENTICATED']);
  assert.match(String(replies[0]?.error), /auth/);
  const r = await cluster.request({ action: 'get_tweet', tweet: { id: 'nope' } });
  assert.equal(r.code, 'NOT_FOUND');
  assert.deepEqual(((await cluster.status()).workers as { state: string }[]).map((w) => w.state), ['up', 'up']);
});

test('a wrong token is refused and the connection closed; the right one opens the API', async () => {
  const s = await rawSession(cluster.address);
  s.write('{"action":"auth","token":"guess-guess-guess-guess"}\n{"action":"status"}\n');
  assert.equal((await s.line(0)).code, 'UNAUTHENTICATED');
  await s.closed;
  // What was already pipelined behind the wrong token is refused too; nothing more is read.
  assert.ok(s.lines.every((l) => (JSON.parse(l) as { code?: string }).code === 'UNAUTHENTICATED'), s.lines.join('\n'));
  const ok = await sendAndClose(cluster.address, `{"action":"auth","token":"${TOKEN}","req":1}\n{"action":"post","tweet":{"id":"tok1","username":"u","content":"with a token"}}\n`);
  assert.deepEqual(ok.map((r) => r.status), ['OK', 'OK']);
  assert.equal(ok[0]?.req, 1);
});

test('tweetdb client --client-token-file sends the token; without it the shell shows the refusal', async () => {
  const run = (args: string[]): Promise<{ code: number | null; out: string }> =>
    new Promise((res) => {
      const p = spawn(process.execPath, [BIN, 'client', '--coordinator', cluster.address, '--compact', ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
      let out = '';
      p.stdout.on('data', (d: Buffer) => (out += d.toString()));
      p.stderr.on('data', (d: Buffer) => (out += d.toString()));
      p.on('exit', (code) => res({ code, out }));
      p.stdin.end('{"action":"get_tweet","tweet":{"id":"tok1"}}\n');
    });
  const withToken = await run(['--client-token-file', tokenFile]);
  assert.match(withToken.out, /with a token/);
  const without = await run([]);
  assert.match(without.out, /UNAUTHENTICATED/);
});

test('tweetdb web reaches a coordinator that wants a client token with the admin token, which opens as much (#24)', async () => {
  const web = await spawnNode('web', ['web', '--port', '0', '--coordinator', cluster.address], cluster.keyEnv);
  try {
    const res = await fetch(`http://${web.address}/api/register`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', origin: `http://${web.address}` },
      body: JSON.stringify({ username: 'tokenuser', password: 'a-long-password' }),
    });
    assert.equal(res.status, 201, await res.text());
  } finally {
    web.proc.kill('SIGTERM');
    await waitExit(web.proc);
  }
});
