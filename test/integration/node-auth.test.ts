// Trust no byte (issue #10): every link between nodes proves both ends hold the cluster key
// before any other message. Each test is an attack that worked before and must fail now.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync, chmodSync } from 'node:fs';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { Cluster, BIN, eventually, spawnNode, waitExit } from '../helpers/cluster.ts';
import { FRESH_WORKER, rawSession, type RawSession } from '../helpers/raw.ts';
import { TweetdbClient } from '../../src/client/client.ts';
import { linkProof, newNonce } from '../../src/node/link-auth.ts';
import { newClusterKeyText } from '../../src/node/cluster-key.ts';

let cluster: Cluster;
let key: Buffer;
before(async () => {
  cluster = await Cluster.start({ workers: 2 });
  key = Buffer.from(readFileSync(cluster.keyFile as string, 'utf8').trim(), 'hex');
  for (let i = 0; i < 20; i++) {
    const r = await cluster.request({ action: 'post', tweet: { id: `a${i}`, username: 'ada', content: `tweet ${i}` } });
    assert.equal(r.status, 'OK');
  }
  const s = await cluster.request({ action: 'put_item', item: { kind: 'session', key: 'real', value: { user: 'ada' } } });
  assert.equal(s.status, 'OK');
});
after(async () => {
  await cluster.stop();
});

/** Writes still commit on every worker and every copy is identical: the cluster was not hurt. */
async function assertUnharmed(tweets = 20): Promise<void> {
  const r = await cluster.request({ action: 'post', tweet: { username: 'ada', content: 'still writing' } });
  assert.equal(r.status, 'OK', JSON.stringify(r));
  const del = await cluster.request({ action: 'delete', tweet: { id: (r.tweet as { id: string }).id } });
  assert.equal(del.status, 'OK');
  const copies = await cluster.waitConverged();
  assert.equal(copies.length, 2);
  for (const c of copies) assert.equal(c.count, tweets);
}

/** Sends lines to a worker port as an unauthenticated client would, and collects what comes back until it closes. */
async function talkToWorker(worker: number, lines: unknown[]): Promise<{ replies: Record<string, unknown>[]; closed: boolean }> {
  const s: RawSession = await rawSession(cluster.workers[worker]!.address);
  for (const l of lines) s.write(JSON.stringify(l) + '\n');
  const closed = await Promise.race([s.closed.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), 7_000))]);
  s.socket.destroy();
  return { replies: s.lines.map((l) => JSON.parse(l) as Record<string, unknown>), closed };
}

test('attack: a client on a worker port says hello and reads the whole snapshot (accounts, sessions): refused, the real coordinator keeps its link', async () => {
  const { replies, closed } = await talkToWorker(0, [
    { type: 'hello', lock_timeout_ms: 10_000 },
    { type: 'copy_read', rid: 1, after: null, limit: 2000 },
  ]);
  assert.equal(closed, true, 'the worker closes a connection that does not authenticate');
  assert.equal(replies.some((r) => r.type === 'read_result' || r.type === 'copy_page' || r.type === 'state'), false, `nothing is answered: ${JSON.stringify(replies)}`);
  const s = await cluster.status();
  assert.deepEqual((s.workers as { state: string }[]).map((w) => w.state), ['up', 'up']);
  await eventually(async () => cluster.workers[0]!.logs.some((l) => l.includes('refused before it was authenticated')), 5_000, 'the refusal is logged');
  await assertUnharmed();
});

test('attack: prepare and commit of a forged session item on both workers: refused, no session appears', async () => {
  for (const w of [0, 1]) {
    const op = { kind: 'put_item', item: { kind: 'session', key: 'forged', value: { user: 'ada' } }, mode: 'replace' };
    const { closed } = await talkToWorker(w, [
      { type: 'hello', lock_timeout_ms: 10_000 },
      { type: 'prepare', txid: '999.1', ops: [op], voters: [] },
      { type: 'commit', txid: '999.1', cseq: 100_000 },
    ]);
    assert.equal(closed, true);
  }
  const r = await cluster.request({ action: 'get_item', item: { kind: 'session', key: 'forged' } });
  assert.equal(r.code, 'NOT_FOUND');
  await assertUnharmed();
});

test('attack: install with reset erases every tweet on both workers: refused, nothing erased', async () => {
  for (const w of [0, 1]) {
    const { closed } = await talkToWorker(w, [
      { type: 'hello', lock_timeout_ms: 10_000 },
      { type: 'install', rid: 1, rows: [], reset: true, done: true, max_cseq: 0, stream_seq: 0 },
    ]);
    assert.equal(closed, true);
  }
  await assertUnharmed();
});

test('attack: peer_query for the next 300 txids (tombstones that abort the next posts): refused, posts commit', async () => {
  const s = await cluster.status();
  void s;
  const queries = [];
  for (let i = 0; i < 300; i++) queries.push({ type: 'peer_query', txid: `1.${i}`, to: 'x' });
  for (const w of [0, 1]) assert.equal((await talkToWorker(w, queries)).closed, true);
  for (let i = 0; i < 40; i++) {
    const r = await cluster.request({ action: 'post', tweet: { id: `after-peer-${i}`, username: 'ada', content: 'x' } });
    assert.equal(r.status, 'OK', JSON.stringify(r));
    await cluster.request({ action: 'delete', tweet: { id: `after-peer-${i}` } });
  }
  await assertUnharmed();
});

test('attack: a commit for a txid never prepared, sent to a worker port: refused, the worker keeps running', async () => {
  const { closed } = await talkToWorker(1, [{ type: 'hello', lock_timeout_ms: 10_000 }, { type: 'commit', txid: '77.7', cseq: 5 }]);
  assert.equal(closed, true);
  assert.equal(cluster.workers[1]!.proc.exitCode, null);
  await assertUnharmed();
});

test('attack: a client registers a ghost worker through the client API: UNAUTHENTICATED, writes go on', async () => {
  const r = await cluster.request({ action: 'register', worker: { id: 'ghost', address: '127.0.0.1:9' } });
  assert.equal(r.status, 'ERROR');
  assert.equal(r.code, 'UNAUTHENTICATED');
  const s = await cluster.status();
  assert.equal((s.workers as unknown[]).length, 2);
  await assertUnharmed();
});

test('attack: registering a victim\'s id at another address (votes and reads diverted): refused, with or without the key', async () => {
  const s = await cluster.status();
  const victim = (s.workers as { id: string; address: string }[])[0]!;
  const r = await cluster.request({ action: 'register', worker: { id: victim.id, address: '127.0.0.1:9' }, known: FRESH_WORKER });
  assert.equal(r.code, 'UNAUTHENTICATED');
  // Even a process holding the key may not displace a live member.
  const c = await authenticatedNode();
  try {
    const again = await c.request({ action: 'register', worker: { id: victim.id, address: '127.0.0.1:9' }, known: FRESH_WORKER });
    assert.equal(again.status, 'ERROR');
    assert.equal(again.code, 'EXISTS');
    assert.match(String(again.error), /is live at/);
  } finally {
    c.close();
  }
  const after = await cluster.status();
  assert.deepEqual(after.workers, s.workers);
  await assertUnharmed();
});

test('attack: a new id at a live worker\'s address (evicts it, floods the log): refused, with or without the key', async () => {
  const s = await cluster.status();
  const live = (s.workers as { id: string; address: string }[])[1]!;
  const r = await cluster.request({ action: 'register', worker: { id: 'newcomer', address: live.address }, known: FRESH_WORKER });
  assert.equal(r.code, 'UNAUTHENTICATED');
  const c = await authenticatedNode();
  try {
    const again = await c.request({ action: 'register', worker: { id: 'newcomer', address: live.address }, known: FRESH_WORKER });
    assert.equal(again.code, 'EXISTS');
  } finally {
    c.close();
  }
  assert.deepEqual((await cluster.status()).workers, s.workers);
  await assertUnharmed();
});

test('a node handshake with the wrong key is refused and the connection closed', async () => {
  const c = await TweetdbClient.connect(cluster.address);
  try {
    const ours = newNonce();
    const hello = await c.request({ action: 'node_hello', role: 'worker', nonce: ours });
    assert.equal(hello.status, 'OK');
    const wrong = Buffer.alloc(32, 7);
    const r = await c.request({ action: 'node_proof', proof: linkProof(wrong, 'initiator', 'worker', ours, hello.nonce as string, Buffer.alloc(0)) });
    assert.equal(r.code, 'UNAUTHENTICATED');
    await assert.rejects(c.request({ action: 'status' }, 3_000));
  } finally {
    c.close();
  }
});

test('a worker started with another cluster\'s key never joins; the coordinator and it both say why', async () => {
  const other = join(cluster.dir, 'other.key');
  writeFileSync(other, newClusterKeyText(), { mode: 0o600 });
  const w = await spawnNode('stranger', ['worker', '0', '--coordinator', cluster.address, '--data', join(cluster.dir, 'stranger')], { TWEETDB_CLUSTER_KEY_FILE: other });
  try {
    await eventually(async () => w.logs.some((l) => l.includes('does not hold this cluster')), 10_000, 'the worker logs that the coordinator does not hold its key');
    assert.equal(((await cluster.status()).workers as unknown[]).length, 2);
  } finally {
    w.proc.kill('SIGTERM');
    await waitExit(w.proc);
  }
});

test('protected mode: a coordinator or worker asked to listen beyond loopback without a key refuses to start and says why', async () => {
  for (const args of [['coordinator', '--host', '0.0.0.0', '--port', '0'], ['worker', '0', '--host', '0.0.0.0']]) {
    const p = spawn(process.execPath, [BIN, ...args, '--data', join(cluster.dir, `pm-${args[0]}`)], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, TWEETDB_CLUSTER_KEY_FILE: '' } });
    let err = '';
    p.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const code = await new Promise<number | null>((r) => p.once('exit', (c) => r(c)));
    assert.equal(code, 2, err);
    assert.match(err, /without a cluster key/);
    assert.match(err, /--cluster-key-file/);
  }
});

test('a key file others can read is refused with the chmod to run', async () => {
  const loose = join(cluster.dir, 'loose.key');
  writeFileSync(loose, newClusterKeyText());
  chmodSync(loose, 0o644);
  const p = spawn(process.execPath, [BIN, 'coordinator', '--port', '0', '--data', join(cluster.dir, 'loose'), '--cluster-key-file', loose], { stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  p.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const code = await new Promise<number | null>((r) => p.once('exit', (c) => r(c)));
  assert.equal(code, 2);
  assert.match(err, /chmod 600/);
});

/** A connection to the coordinator that has proved it holds this cluster's key, as a worker does. */
async function authenticatedNode(): Promise<TweetdbClient> {
  const c = await TweetdbClient.connect(cluster.address);
  const ours = newNonce();
  const hello = await c.request({ action: 'node_hello', role: 'worker', nonce: ours });
  assert.equal(hello.status, 'OK');
  assert.equal(hello.proof, linkProof(key, 'responder', 'worker', ours, hello.nonce as string, Buffer.alloc(0)), 'the coordinator proves it holds the key first');
  const r = await c.request({ action: 'node_proof', proof: linkProof(key, 'initiator', 'worker', ours, hello.nonce as string, Buffer.alloc(0)) });
  assert.equal(r.status, 'OK');
  return c;
}

test('attack: clients take every connection slot of one address: a worker can still prove the key and register in a slot kept for nodes', async () => {
  const { MAX_CLIENT_CONNECTIONS_PER_ADDRESS } = await import('../../src/wire/limits.ts');
  const member = ((await cluster.status()).workers as { id: string; address: string }[])[0]!;
  const hogs: RawSession[] = [];
  try {
    for (let i = 0; i < MAX_CLIENT_CONNECTIONS_PER_ADDRESS; i++) hogs.push(await rawSession(cluster.address));
    // A plain client past the limit is refused with the reason...
    const late = await rawSession(cluster.address);
    late.write('{"action":"status"}\n');
    const r = await late.line(0, 5_000);
    assert.equal(r.code, 'UNAVAILABLE');
    late.socket.destroy();
    // ...and a node still gets in, proves the key, and is heard.
    const c = await authenticatedNode();
    try {
      // Re-registering a member as it is: what a worker does when it has had no link for a while.
      const s = await c.request({ action: 'register', worker: { id: member.id, address: member.address }, known: FRESH_WORKER });
      assert.equal(s.status, 'OK', JSON.stringify(s));
    } finally {
      c.close();
    }
  } finally {
    for (const h of hogs) h.socket.destroy();
  }
});
