// Least privilege on the client port (issue #24, README Security "Roles"): the seed's tweet API is
// open, as the seed has it; items (the web app's accounts, sessions, counters), trace, resolve and
// remove_worker need the admin token; a connection that proved the cluster key as a worker may only
// register. Each refused request changes nothing. Real processes, raw sockets, as `nc` would.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Cluster, eventually, freePort, runTweetdb, spawnNode, waitExit, type NodeProc } from '../helpers/cluster.ts';
import { rawSession, sendAndClose } from '../helpers/raw.ts';
import { TweetdbClient } from '../../src/client/client.ts';
import { linkProof, newNonce } from '../../src/node/link-auth.ts';

let cluster: Cluster;
before(async () => {
  cluster = await Cluster.start({ workers: 3 });
  assert.equal((await cluster.request({ action: 'put_item', item: { kind: 'session', key: 's-real', value: { user: 'ada' } } })).status, 'OK');
  assert.equal((await cluster.request({ action: 'post', tweet: { id: 'liked', username: 'ada', content: 'a tweet to like' } })).status, 'OK');
  assert.equal((await cluster.request({ action: 'incr_item', item: { kind: 'stats', key: 'liked' }, field: 'likes', by: 1 })).status, 'OK');
});
after(async () => {
  await cluster.stop();
});

const line = (o: Record<string, unknown>): string => JSON.stringify(o) + '\n';

test('the seed\'s tweet API needs no credential: post, update, get, a transaction, begin/commit, delete, subscribe, status and check', async () => {
  const replies = await sendAndClose(
    cluster.address,
    [
      { action: 'post', tweet: { id: 'open-1', username: 'nc', content: 'hello' } },
      { action: 'update', tweet: { id: 'open-1', content: 'edited' } },
      { action: 'get_tweet', tweet: { id: 'open-1' } },
      { action: 'get_tweets', limit: 5 },
      { action: 'transaction', ops: [{ action: 'post', tweet: { id: 'open-2', username: 'nc', content: 'two' } }] },
      { action: 'begin' },
      { action: 'delete', tweet: { id: 'open-2' } },
      { action: 'commit' },
      { action: 'subscribe' },
      { action: 'status' },
      { action: 'check' },
    ]
      .map(line)
      .join(''),
  );
  const statuses = replies.filter((r) => 'status' in r).map((r) => r.status);
  assert.deepEqual(statuses, Array(11).fill('OK'), JSON.stringify(replies));
  assert.equal((replies[2]?.tweet as { content?: string } | undefined)?.content, 'edited');
  assert.equal(replies[9]?.open_mode, undefined, 'a cluster with a key is not in open mode');
});

/** Each privileged request, and how to see that it changed nothing (as an admin). */
const PRIVILEGED: { what: string; body: Record<string, unknown>; unchanged?: () => Promise<void> }[] = [
  {
    what: 'put_item of a session (a forged sign-in)',
    body: { action: 'put_item', item: { kind: 'session', key: 's-forged', value: { user: 'ada' } } },
    unchanged: async () => assert.equal((await cluster.request({ action: 'get_item', item: { kind: 'session', key: 's-forged' } })).code, 'NOT_FOUND'),
  },
  { what: 'get_item of a session', body: { action: 'get_item', item: { kind: 'session', key: 's-real' } } },
  {
    what: 'delete_item of a session',
    body: { action: 'delete_item', item: { kind: 'session', key: 's-real' } },
    unchanged: async () => assert.equal((await cluster.request({ action: 'get_item', item: { kind: 'session', key: 's-real' } })).status, 'OK'),
  },
  {
    what: 'incr_item of a like counter (a million likes)',
    body: { action: 'incr_item', item: { kind: 'stats', key: 'liked' }, field: 'likes', by: 1_000_000 },
    unchanged: async () => assert.deepEqual(((await cluster.request({ action: 'get_item', item: { kind: 'stats', key: 'liked' } })).item as { value: unknown }).value, { likes: 1 }),
  },
  {
    what: 'a transaction with an item in it (its tweet is not stored either)',
    body: { action: 'transaction', ops: [{ action: 'post', tweet: { id: 'tx-with-item', username: 'nc', content: 'x' } }, { action: 'put_item', item: { kind: 'user', key: 'mallory', value: { admin: true } } }] },
    unchanged: async () => {
      assert.equal((await cluster.request({ action: 'get_tweet', tweet: { id: 'tx-with-item' } })).code, 'NOT_FOUND');
      assert.equal((await cluster.request({ action: 'get_item', item: { kind: 'user', key: 'mallory' } })).code, 'NOT_FOUND');
    },
  },
  { what: 'trace (its slots are few)', body: { action: 'trace' } },
  { what: 'resolve', body: { action: 'resolve', txid: '1.1', outcome: 'abort' } },
  {
    what: 'remove_worker',
    body: { action: 'remove_worker', worker: 'placeholder' },
    unchanged: async () => {
      const workers = (await cluster.status()).workers as { state: string }[];
      assert.deepEqual(workers.map((w) => w.state), ['up', 'up', 'up']);
      for (const w of cluster.workers) assert.equal(w.proc.exitCode, null, `${w.name} still runs`);
    },
  },
];

test('without the admin token every privileged action is refused with UNAUTHENTICATED naming the token, and changes nothing', async () => {
  const workerId = ((await cluster.status()).workers as { id: string }[])[2]?.id as string;
  for (const p of PRIVILEGED) {
    const body = p.body.action === 'remove_worker' ? { ...p.body, worker: workerId } : p.body;
    const [r] = await sendAndClose(cluster.address, line(body));
    assert.equal(r?.code, 'UNAUTHENTICATED', `${p.what}: ${JSON.stringify(r)}`);
    assert.match(String(r?.error), /admin token/, p.what);
    await p.unchanged?.();
  }
  // Inside an interactive transaction too: the refused op leaves the transaction as it was.
  const s = await rawSession(cluster.address);
  s.write(line({ action: 'begin' }) + line({ action: 'put_item', item: { kind: 'session', key: 's-in-tx', value: {} } }) + line({ action: 'post', tweet: { id: 'in-tx', username: 'nc', content: 'y' } }) + line({ action: 'commit' }));
  assert.deepEqual([(await s.line(0)).status, (await s.line(1)).code, (await s.line(2)).status, (await s.line(3)).status], ['OK', 'UNAUTHENTICATED', 'OK', 'OK']);
  s.end();
  await s.closed;
  assert.equal((await cluster.request({ action: 'get_item', item: { kind: 'session', key: 's-in-tx' } })).code, 'NOT_FOUND');
  assert.equal((await cluster.request({ action: 'get_tweet', tweet: { id: 'in-tx' } })).status, 'OK');
});

test('with the admin token each of them is served: auth says the role', async () => {
  const c = await TweetdbClient.connect(cluster.address);
  try {
    assert.deepEqual(await c.request({ action: 'auth', token: cluster.adminToken }), { status: 'OK', role: 'admin' });
    assert.equal((await c.request({ action: 'put_item', item: { kind: 'session', key: 's-admin', value: { user: 'ada' } } })).status, 'OK');
    assert.equal((await c.request({ action: 'get_item', item: { kind: 'session', key: 's-admin' } })).status, 'OK');
    assert.equal((await c.request({ action: 'incr_item', item: { kind: 'stats', key: 'liked' }, field: 'likes', by: 1 })).status, 'OK');
    assert.equal((await c.request({ action: 'delete_item', item: { kind: 'session', key: 's-admin' } })).status, 'OK');
    assert.equal((await c.request({ action: 'resolve', txid: '999.1', outcome: 'abort' })).status, 'OK');
    assert.equal((await c.request({ action: 'trace' })).status, 'OK');
  } finally {
    c.close();
  }
  const leaving = ((await cluster.status()).workers as { id: string }[])[2]?.id as string;
  const r = await cluster.request({ action: 'remove_worker', worker: leaving });
  assert.equal(r.status, 'OK', JSON.stringify(r));
  await waitExit((cluster.workers[2] as NodeProc).proc);
});

test('a wrong token is refused and the connection closed; a token that is not a string is INVALID and the connection goes on', async () => {
  const s = await rawSession(cluster.address);
  s.write(line({ action: 'auth' }) + line({ action: 'auth', token: 'not-the-admin-token-at-all' }) + line({ action: 'status' }));
  assert.equal((await s.line(0)).code, 'INVALID');
  assert.equal((await s.line(1)).code, 'UNAUTHENTICATED');
  await s.closed;
  assert.deepEqual(s.lines.slice(2).map((l) => (JSON.parse(l) as { code?: string }).code), s.lines.length > 2 ? ['UNAUTHENTICATED'] : [], `nothing served after the wrong token: ${s.lines.join(' | ')}`);
});

test('#24 finding 2: with a client token and no cluster key, a node handshake (empty key) opens nothing but register', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tweetdb-roles-'));
  const tokenFile = join(dir, 'client.token');
  writeFileSync(tokenFile, 'a-client-token-of-some-length-42\n', { mode: 0o600 });
  const open = await Cluster.start({ workers: 1, noKey: true, clientToken: 'a-client-token-of-some-length-42', nodeEnv: { coordinator: { TWEETDB_CLIENT_TOKEN_FILE: tokenFile } } });
  try {
    const c = await TweetdbClient.connect(open.address);
    try {
      const ours = newNonce();
      const hello = await c.request({ action: 'node_hello', role: 'worker', nonce: ours });
      assert.equal(hello.status, 'OK');
      const proof = await c.request({ action: 'node_proof', proof: linkProof(null, 'initiator', 'worker', ours, hello.nonce as string, Buffer.alloc(0)) });
      assert.equal(proof.status, 'OK', 'without a key the handshake proves nothing, and passes');
      for (const body of [{ action: 'status' }, { action: 'get_tweets' }, { action: 'put_item', item: { kind: 'session', key: 'by-relay', value: {} } }, { action: 'post', tweet: { username: 'x', content: 'y' } }]) {
        const r = await c.request(body);
        assert.equal(r.code, 'UNAUTHENTICATED', `${body.action}: ${JSON.stringify(r)}`);
        assert.match(String(r.error), /may only register/);
      }
    } finally {
      c.close();
    }
    assert.equal((await open.request({ action: 'get_item', item: { kind: 'session', key: 'by-relay' } })).code, 'NOT_FOUND');
    // Open mode says so: in the coordinator's log, in status, and in tweetdb status.
    assert.ok(open.coordinator.logs.some((l) => l.includes('open mode')), 'the coordinator warned of open mode');
    assert.match(String((await open.openRequest({ action: 'status' })).open_mode), /no cluster key/);
    const st = await runTweetdb(['status', '--coordinator', open.address, '--client-token-file', tokenFile], 20_000);
    assert.match(st.stdout, /^open mode: no cluster key/m, st.stdout + st.stderr);
  } finally {
    await open.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a coordinator started by hand makes its admin token in its data directory (mode 0600); tweetdb admin reads it with --admin-token-file, and says where it is when it cannot', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tweetdb-admin-token-'));
  const port = await freePort();
  const coord = await spawnNode('coordinator', ['coordinator', '--port', String(port), '--host', '127.0.0.1', '--data', dir, '--new-cluster'], { TWEETDB_CLUSTER_KEY_FILE: '', TWEETDB_ADMIN_TOKEN_FILE: '' });
  try {
    const file = join(dir, 'admin.token');
    await eventually(async () => coord.logs.some((l) => l.includes(file)), 10_000, 'the coordinator logs where its admin token is');
    assert.equal(statSync(file).mode & 0o777, 0o600);
    const token = readFileSync(file, 'utf8').trim();
    assert.match(token, /^[0-9a-f]{64}$/);
    const without = await runTweetdb(['admin', 'remove-worker', 'w-none', '--coordinator', coord.address, '--admin-token-file', join(dir, 'missing.token')], 20_000);
    assert.equal(without.code, 2, without.stdout + without.stderr);
    assert.match(without.stderr, /--admin-token-file/);
    const withIt = await runTweetdb(['admin', 'remove-worker', 'w-none', '--coordinator', coord.address, '--admin-token-file', file], 20_000);
    assert.equal(withIt.code, 1, 'refused by the coordinator (no such worker), not for the token: ' + withIt.stdout + withIt.stderr);
    assert.match(withIt.stdout + withIt.stderr, /NOT_FOUND|no worker/i);
  } finally {
    coord.proc.kill('SIGTERM');
    await waitExit(coord.proc);
    rmSync(dir, { recursive: true, force: true });
  }
});
