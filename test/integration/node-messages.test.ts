// Validated node messages (issue #10): even a node that holds the cluster key cannot crash
// another with a malformed message; the link closes with a logged reason and the process serves on.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { Cluster, eventually } from '../helpers/cluster.ts';
import { FRESH_WORKER } from '../helpers/raw.ts';
import { TweetdbClient } from '../../src/client/client.ts';
import { authenticateIncoming, authenticateOutgoing, linkProof, newNonce } from '../../src/node/link-auth.ts';
import type { JsonLink } from '../../src/node/json-link.ts';
import { productionTimers } from '../../src/node/env.ts';

let cluster: Cluster;
let key: Buffer;
before(async () => {
  cluster = await Cluster.start({ workers: 1 });
  key = Buffer.from(readFileSync(cluster.keyFile as string, 'utf8').trim(), 'hex');
});
after(async () => {
  await cluster.stop();
});

/** A process holding the key that answers the coordinator's link with whatever `answer` says. */
async function fakeWorker(answer: (msg: Record<string, unknown>, link: JsonLink) => void): Promise<{ server: Server; address: string; links: number }> {
  const f = { server: createServer(), address: '', links: 0 };
  f.server.on('connection', (s: Socket) => {
    authenticateIncoming(
      productionTimers, s,
      key,
      (_role, link) => {
        f.links++;
        return { onMessage: (m) => answer(m, link), onClose: () => undefined };
      },
      () => undefined,
    );
  });
  await new Promise<void>((r) => f.server.listen(0, '127.0.0.1', () => r()));
  f.address = `127.0.0.1:${(f.server.address() as { port: number }).port}`;
  return f;
}

async function registerAs(id: string, address: string): Promise<void> {
  const c = await TweetdbClient.connect(cluster.address);
  try {
    const ours = newNonce();
    const hello = await c.request({ action: 'node_hello', role: 'worker', nonce: ours });
    const proof = await c.request({ action: 'node_proof', proof: linkProof(key, 'initiator', 'worker', ours, hello.nonce as string, Buffer.alloc(0)) });
    assert.equal(proof.status, 'OK');
    const r = await c.request({ action: 'register', worker: { id, address }, known: FRESH_WORKER });
    assert.equal(r.status, 'OK', JSON.stringify(r));
  } finally {
    c.close();
  }
}

test('attack: a registered worker answers hello with {"type":"state","prepared":5}: the coordinator cuts it off and keeps serving, on every redial', async () => {
  const fake = await fakeWorker((m, link) => {
    if (m.type === 'hello') link.send({ type: 'state', node_id: 'bad-state', prepared: 5, max_cseq: 0 });
  });
  try {
    await registerAs('bad-state', fake.address);
    await eventually(async () => fake.links >= 3, 20_000, 'the coordinator dials the bad worker again and again');
    assert.equal(cluster.coordinator.proc.exitCode, null, 'the coordinator is alive');
    assert.ok(cluster.coordinator.logs.some((l) => l.includes('bad message from worker') && l.includes('prepared')), 'the reason is logged, naming the field');
    const s = await cluster.status();
    const states = Object.fromEntries((s.workers as { id: string; state: string }[]).map((w) => [w.id, w.state]));
    assert.notEqual(states['bad-state'], 'up');
    // Reads still work from the healthy worker.
    const r = await cluster.request({ action: 'get_tweets' });
    assert.equal(r.status, 'OK');
  } finally {
    fake.server.close();
  }
});

test('a worker answering a read it was never asked, or in the wrong shape, is cut off; the coordinator lives', async () => {
  const fake = await fakeWorker((m, link) => {
    if (m.type === 'hello') {
      link.send({ type: 'state', node_id: 'bad-read', prepared: [], max_cseq: 0, known_config: { n: 0, voters: [], catching_up: [] }, proposed_config: null, reserved: 0 });
      link.sendText(424242, '{"status":"OK","tweets":[]}');
      link.send({ type: 'read_result', rid: 1, result: { tweets: 'nope' } });
    }
  });
  try {
    await registerAs('bad-read', fake.address);
    await eventually(async () => cluster.coordinator.logs.some((l) => l.includes('bad message from worker') && l.includes('tweets')), 10_000, 'the wrong shape is logged');
    assert.equal(cluster.coordinator.proc.exitCode, null);
  } finally {
    fake.server.close();
  }
});

test('a coordinator-role link holding the key that sends malformed messages is closed by the worker, which keeps running', async () => {
  const w = cluster.workers[0]!;
  const i = w.address.lastIndexOf(':');
  const bad: unknown[] = [
    { type: 'prepare', txid: '1.1', ops: 'x' },
    { type: 'install', rid: 1, rows: 5, reset: true, done: true, max_cseq: 0, stream_seq: 0 },
    { type: 'commit', txid: '1.1' },
    { type: 'read', rid: 1, query: { kind: 'get_tweets', limit: -1, before: null, username: null } },
    { type: 'hello', lock_timeout_ms: 'soon' },
    { type: 'prepare', txid: '1.2', ops: [{ kind: 'post', tweet: { id: '\ud800', username: 'u', content: 'x', created_at: 1, updated_at: null } }] },
  ];
  for (const msg of bad) {
    const s = connect({ host: w.address.slice(0, i), port: Number(w.address.slice(i + 1)) });
    await new Promise<void>((r) => s.once('connect', () => r()));
    const closed = new Promise<string>((res) => {
      authenticateOutgoing(productionTimers, s, key, 'coordinator', { onMessage: () => undefined, onClose: res }, (link) => link.send(msg));
    });
    assert.match(await closed, /closed/);
  }
  await eventually(async () => w.logs.filter((l) => l.includes('bad message; closing the link')).length >= bad.length, 10_000, 'each refusal is logged');
  assert.equal(w.proc.exitCode, null);
  // The worker is still the cluster's: the real coordinator's link to it is up again.
  await eventually(async () => ((await cluster.status()).workers as { state: string }[])[0]?.state === 'up', 20_000, 'the real worker up again');
});

test('garbage after authentication (not JSON, not an object, an unasked text frame) closes the link and the reason is logged, on a worker and on the coordinator', async () => {
  const w = cluster.workers[0]!;
  const i = w.address.lastIndexOf(':');
  const before = w.logs.length;
  for (const line of ['{"type":"read",', '[1]', '#1 x']) {
    const s = connect({ host: w.address.slice(0, i), port: Number(w.address.slice(i + 1)) });
    await new Promise<void>((r) => s.once('connect', () => r()));
    const closed = new Promise<string>((res) => {
      authenticateOutgoing(productionTimers, s, key, 'coordinator', { onMessage: () => undefined, onClose: res }, (link) => {
        link.flush(); // the proof first, then the garbage
        s.write(line + '\n');
      });
    });
    await closed;
  }
  await eventually(async () => w.logs.slice(before).filter((l) => l.includes('link closed') && /bad (JSON|message|frame)/.test(l)).length >= 3, 10_000, 'each reason in the worker\'s log', () => w.logs.slice(before).join('\n'));
  // The coordinator: a registered worker that sends a line that is not JSON.
  const fake = await fakeWorker((m, link) => {
    if (m.type === 'hello') link.socket.write('{"type":"state",\n');
  });
  try {
    await registerAs('garbage-state', fake.address);
    await eventually(async () => cluster.coordinator.logs.some((l) => l.includes('garbage-state') && l.includes('bad JSON')), 10_000, 'the reason in the coordinator\'s log');
  } finally {
    fake.server.close();
  }
  await eventually(async () => ((await cluster.status()).workers as { state: string }[])[0]?.state === 'up', 20_000, 'the real worker up again');
});
