// TLS between nodes (mutual) and on the client API, with certificates from `tweetdb certs`,
// each node on its own loopback address as on separate machines.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import { Cluster, BIN, eventually, spawnNode, waitExit } from '../helpers/cluster.ts';
import { rawSession } from '../helpers/raw.ts';
import { TweetdbClient } from '../../src/client/client.ts';

const HOSTS = ['127.0.0.2', '127.0.0.3', '127.0.0.4'];
let dir: string;
let cluster: Cluster;

function certs(out: string, nodes: string): void {
  const r = spawnSync(process.execPath, [BIN, 'certs', '--out', out, '--nodes', nodes], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
}

function tlsEnv(d: string, host: string): Record<string, string> {
  return { TWEETDB_TLS_CERT: join(d, `node-${host}.pem`), TWEETDB_TLS_KEY: join(d, `node-${host}-key.pem`), TWEETDB_TLS_CA: join(d, 'ca.pem') };
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'tweetdb-tls-'));
  certs(join(dir, 'certs'), HOSTS.join(','));
  const c = join(dir, 'certs');
  cluster = await Cluster.start({
    workers: 2,
    hosts: HOSTS,
    nodeEnv: { coordinator: tlsEnv(c, HOSTS[0]!), 'worker-1': tlsEnv(c, HOSTS[1]!), 'worker-2': tlsEnv(c, HOSTS[2]!) },
    clientTls: { ca: readFileSync(join(c, 'ca.pem')), cert: null, key: null },
  });
});
after(async () => {
  await cluster.stop();
  rmSync(dir, { recursive: true, force: true });
});

test('over TLS with certificates from tweetdb certs: writes commit on both workers and the copies are equal', async () => {
  for (let i = 0; i < 20; i++) {
    const r = await cluster.request({ action: 'post', tweet: { id: `tls${i}`, username: 'ada', content: `over tls ${i}` } });
    assert.equal(r.status, 'OK', JSON.stringify(r));
  }
  const copies = await cluster.waitConverged();
  assert.deepEqual(copies.map((c) => c.count), [20, 20]);
});

test('a plain-TCP client gets nothing from a TLS coordinator', async () => {
  const s = await rawSession(cluster.address);
  s.write('{"action":"status"}\n');
  await Promise.race([s.closed, new Promise((r) => setTimeout(r, 6_000))]);
  assert.equal(s.lines.some((l) => l.includes('"status"')), false, s.lines.join('\n'));
  s.socket.destroy();
});

test('a client that does not trust the cluster\'s CA refuses the coordinator', async () => {
  const other = join(dir, 'other');
  certs(other, '127.0.0.9');
  await assert.rejects(TweetdbClient.connect(cluster.address, 3_000, { ca: readFileSync(join(other, 'ca.pem')), cert: null, key: null }), /coordinator/);
});

test('a worker port refuses a TLS client without a certificate from the cluster\'s CA', async () => {
  const w = cluster.workers[0]!.address;
  const i = w.lastIndexOf(':');
  const outcome = await new Promise<string>((res) => {
    const s = tlsConnect({ host: w.slice(0, i), port: Number(w.slice(i + 1)), ca: readFileSync(join(dir, 'certs', 'ca.pem')), servername: undefined });
    s.on('secureConnect', () => {
      s.write('{"type":"auth_hello"}\n');
      s.on('data', () => res('answered'));
    });
    s.on('error', (e) => res(`error: ${e.message}`));
    s.on('close', () => res('closed'));
  });
  assert.notEqual(outcome, 'answered');
});

test('a worker whose certificate is from another CA cannot register, though it holds the key', async () => {
  const other = join(dir, 'rogue');
  certs(other, '127.0.0.5');
  const rogue = await spawnNode('rogue', ['worker', '0', '--host', '127.0.0.5', '--coordinator', cluster.address, '--data', join(dir, 'rogue-data')], {
    ...cluster.keyEnv,
    ...tlsEnv(other, '127.0.0.5'),
  });
  try {
    await eventually(async () => rogue.logs.some((l) => l.includes('could not register')), 15_000, 'the rogue worker fails to register');
    assert.equal(((await cluster.status()).workers as unknown[]).length, 2);
  } finally {
    rogue.proc.kill('SIGTERM');
    await waitExit(rogue.proc);
  }
});
