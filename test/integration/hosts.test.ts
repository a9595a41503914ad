// Nodes bound to different loopback addresses, and a worker that advertises the
// address the coordinator should dial (--advertise).

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { Cluster, freePort, spawnNode, waitExit, type NodeProc } from '../helpers/cluster.ts';

interface StatusWorker {
  id: string;
  address: string;
  state: string;
}
interface CheckWorker extends StatusWorker {
  count: number;
  digest: string;
}

const clusters: Cluster[] = [];
const procs: NodeProc[] = [];
const servers: Server[] = [];
after(async () => {
  for (const p of procs) if (p.proc.exitCode === null && p.proc.signalCode === null) p.proc.kill('SIGTERM');
  await Promise.all(procs.map((p) => waitExit(p.proc)));
  for (const s of servers) s.close();
  await Promise.all(clusters.map((c) => c.stop()));
});

function hostOf(address: string): string {
  return address.slice(0, address.lastIndexOf(':'));
}

function portOf(address: string): number {
  return Number(address.slice(address.lastIndexOf(':') + 1));
}


/** Does a TCP connection to host:port succeed? */
function canConnect(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host, port });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

test('coordinator on 127.0.0.2 and workers on 127.0.0.3 and 127.0.0.4: status shows those addresses, writes and reads work, copies are identical', async () => {
  const cluster = await Cluster.start({ workers: 2, hosts: ['127.0.0.2', '127.0.0.3', '127.0.0.4'] });
  clusters.push(cluster);
  assert.equal(hostOf(cluster.address), '127.0.0.2', `the coordinator listens on 127.0.0.2 (${cluster.address})`);
  assert.equal(await canConnect('127.0.0.1', portOf(cluster.address)), false, 'the coordinator is bound to 127.0.0.2 only, not 127.0.0.1');

  const status = await cluster.status();
  assert.equal(status.status, 'OK');
  const ws = status.workers as StatusWorker[];
  assert.equal(ws.length, 2);
  assert.deepEqual(ws.map((w) => hostOf(w.address)).sort(), ['127.0.0.3', '127.0.0.4'], JSON.stringify(ws));
  assert.ok(ws.every((w) => w.state === 'up'), JSON.stringify(ws));
  assert.deepEqual(ws.map((w) => w.address).sort(), cluster.workers.map((w) => w.address).sort());

  const c = await cluster.client();
  const posted = await c.request({ action: 'post', tweet: { id: 'h1', username: 'ada', content: 'from 127.0.0.2' } });
  assert.equal(posted.status, 'OK', JSON.stringify(posted));
  assert.equal((await c.request({ action: 'post', tweet: { id: 'h2', username: 'bob', content: 'second' } })).status, 'OK');
  assert.equal((await c.request({ action: 'update', tweet: { id: 'h2', content: 'second, edited' } })).status, 'OK');
  const list = await c.request({ action: 'get_tweets' });
  assert.equal(list.status, 'OK');
  assert.deepEqual(
    (list.tweets as { id: string; content: string }[]).map((t) => [t.id, t.content]),
    [['h2', 'second, edited'], ['h1', 'from 127.0.0.2']],
  );

  const check = await cluster.waitConverged();
  assert.equal(check.length, 2);
  assert.ok(check.every((w) => w.count === 2 && w.digest === check[0]?.digest), JSON.stringify(check));
  assert.deepEqual((check as unknown as CheckWorker[]).map((w) => hostOf(w.address)).sort(), ['127.0.0.3', '127.0.0.4']);
});

test('a worker bound to 127.0.0.5 with --advertise 127.0.0.5:<port> is listed under the advertised address and serves writes', async () => {
  const cluster = await Cluster.start({ workers: 0 });
  clusters.push(cluster);
  const port = await freePort('127.0.0.5');
  const advertised = `127.0.0.5:${port}`;
  const w = await spawnNode('worker-adv', ['worker', String(port), '--host', '127.0.0.5', '--advertise', advertised, '--coordinator', cluster.address, '--data', join(cluster.dir, 'worker-adv')], cluster.keyEnv);
  procs.push(w);
  assert.equal(w.address, advertised);
  await cluster.waitAllUp(1);
  const ws = (await cluster.status()).workers as StatusWorker[];
  assert.deepEqual(ws.map((x) => [x.address, x.state]), [[advertised, 'up']]);

  assert.equal((await cluster.request({ action: 'post', tweet: { id: 'adv', username: 'ada', content: 'via the advertised address' } })).status, 'OK');
  const got = await cluster.request({ action: 'get_tweet', tweet: { id: 'adv' } });
  assert.equal((got.tweet as { content?: string } | undefined)?.content, 'via the advertised address');
  const check = await cluster.waitConverged();
  assert.deepEqual(check.map((x) => x.count), [1]);
});

test('the coordinator dials the advertised address, not the bound one: a worker on 127.0.0.5 reached through a relay on 127.0.0.6', async () => {
  const cluster = await Cluster.start({ workers: 0 });
  clusters.push(cluster);
  const workerPort = await freePort('127.0.0.5');
  // A relay on 127.0.0.6 that forwards to the worker, counting the connections it carries.
  let relayed = 0;
  const sockets: Socket[] = [];
  const relay = createServer((inbound) => {
    relayed++;
    const outbound = connect({ host: '127.0.0.5', port: workerPort });
    sockets.push(inbound, outbound);
    inbound.pipe(outbound);
    outbound.pipe(inbound);
    inbound.on('error', () => outbound.destroy());
    outbound.on('error', () => inbound.destroy());
    inbound.on('close', () => outbound.destroy());
    outbound.on('close', () => inbound.destroy());
  });
  servers.push(relay);
  await new Promise<void>((r) => relay.listen(0, '127.0.0.6', () => r()));
  const ra = relay.address();
  assert.ok(ra !== null && typeof ra === 'object');
  const advertised = `127.0.0.6:${ra.port}`;

  const w = await spawnNode('worker-relayed', ['worker', String(workerPort), '--host', '127.0.0.5', '--advertise', advertised, '--coordinator', cluster.address, '--data', join(cluster.dir, 'worker-relayed')], cluster.keyEnv);
  procs.push(w);
  assert.equal(w.address, `127.0.0.5:${workerPort}`, 'it binds 127.0.0.5');
  await cluster.waitAllUp(1);
  const ws = (await cluster.status()).workers as StatusWorker[];
  assert.deepEqual(ws.map((x) => x.address), [advertised], 'status shows the advertised address');
  assert.ok(relayed > 0, 'the coordinator reached the worker through the advertised address');

  assert.equal((await cluster.request({ action: 'post', tweet: { id: 'r1', username: 'ada', content: 'relayed' } })).status, 'OK');
  const check = await cluster.waitConverged();
  assert.deepEqual(check.map((x) => x.count), [1]);

  // Stop the worker before the relay so that the relay has nothing left to carry.
  w.proc.kill('SIGTERM');
  await waitExit(w.proc);
  for (const s of sockets) s.destroy();
});
