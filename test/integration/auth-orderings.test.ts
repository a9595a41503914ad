// #24 item 4: the token checks cannot be skipped by any handshake path. Every sequence of up to
// four steps (node_hello, node_proof, auth with the admin token, auth with the client token, an
// open request, a request only admins may make) runs on a connection of its own to a real
// coordinator that wants a client token and has no cluster key (the case where the node handshake
// proves nothing), and each reply is compared with a model of what the README's roles allow.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Cluster } from '../helpers/cluster.ts';
import { TweetdbClient } from '../../src/client/client.ts';
import { linkProof, newNonce } from '../../src/node/link-auth.ts';

const CLIENT_TOKEN = 'a-client-token-for-the-orderings';
type Step = 'hello' | 'proof' | 'admin' | 'client' | 'open_request' | 'admin_request';
const STEPS: readonly Step[] = ['hello', 'proof', 'admin', 'client', 'open_request', 'admin_request'];

/** What the coordinator must answer to each step, given what came before on the connection. */
class Model {
  role: 'none' | 'client' | 'admin' = 'none';
  hello = false;
  node = false;
  closed = false;

  /** The expected reply: 'OK', an error code, or null once the connection is closed. */
  step(s: Step): string | null {
    if (this.closed) return null;
    switch (s) {
      case 'hello':
        this.hello = true;
        return 'OK';
      case 'proof':
        if (!this.hello) {
          this.closed = true;
          return 'UNAUTHENTICATED';
        }
        this.hello = false;
        this.node = true;
        return 'OK';
      case 'admin':
        this.role = 'admin';
        return 'OK';
      case 'client':
        // A later auth replaces the role, as SET ROLE does: the admin token is not kept.
        this.role = 'client';
        return 'OK';
      case 'open_request':
        if (this.node) return 'UNAUTHENTICATED';
        return this.role === 'none' ? 'UNAUTHENTICATED' : 'OK';
      case 'admin_request':
        if (this.node) return 'UNAUTHENTICATED';
        return this.role === 'admin' ? 'OK' : 'UNAUTHENTICATED';
    }
  }
}

let cluster: Cluster;
let dir: string;
before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'tweetdb-orderings-'));
  const tokenFile = join(dir, 'client.token');
  writeFileSync(tokenFile, CLIENT_TOKEN + '\n', { mode: 0o600 });
  cluster = await Cluster.start({ workers: 1, noKey: true, clientToken: CLIENT_TOKEN, nodeEnv: { coordinator: { TWEETDB_CLIENT_TOKEN_FILE: tokenFile } } });
});
after(async () => {
  await cluster.stop();
  rmSync(dir, { recursive: true, force: true });
});

function* sequences(maxLength: number): Generator<Step[]> {
  const go = function* (prefix: Step[]): Generator<Step[]> {
    if (prefix.length > 0) yield prefix;
    if (prefix.length === maxLength) return;
    for (const s of STEPS) yield* go([...prefix, s]);
  };
  yield* go([]);
}

async function run(seq: Step[]): Promise<(string | null)[]> {
  const c = await TweetdbClient.connect(cluster.address);
  const got: (string | null)[] = [];
  let nonce = '';
  let theirs = '';
  try {
    for (const s of seq) {
      let body: Record<string, unknown>;
      if (s === 'hello') {
        nonce = newNonce();
        body = { action: 'node_hello', role: 'worker', nonce };
      } else if (s === 'proof') body = { action: 'node_proof', proof: linkProof(null, 'initiator', 'worker', nonce, theirs, Buffer.alloc(0)) };
      else if (s === 'admin') body = { action: 'auth', token: cluster.adminToken };
      else if (s === 'client') body = { action: 'auth', token: CLIENT_TOKEN };
      else if (s === 'open_request') body = { action: 'get_tweets', limit: 1 };
      else body = { action: 'put_item', item: { kind: 'session', key: `ordering-${seq.join('-')}`, value: {} } };
      let r;
      try {
        r = await c.request(body, 5_000);
      } catch {
        got.push(null);
        continue;
      }
      if (s === 'hello' && typeof r.nonce === 'string') theirs = r.nonce;
      got.push(r.status === 'OK' ? 'OK' : String(r.code));
    }
  } finally {
    c.close();
  }
  return got;
}

test('every ordering of up to four handshake, auth and request steps: a request is served only as the roles allow, and nothing else', { timeout: 600_000 }, async (t) => {
  let runs = 0;
  const refused: string[] = [];
  for (const seq of sequences(4)) {
    const m = new Model();
    const want = seq.map((s) => m.step(s));
    const got = await run(seq);
    assert.deepEqual(got, want, `steps ${seq.join(', ')}`);
    if (seq.includes('admin_request') && !seq.some((s, i) => s === 'admin_request' && want[i] === 'OK')) refused.push(`ordering-${seq.join('-')}`);
    runs++;
  }
  t.diagnostic(`${runs} orderings; ${refused.length} with every admin request refused`);
  // A refused admin request stored nothing.
  const c = await cluster.client();
  for (const key of refused) assert.equal((await c.request({ action: 'get_item', item: { kind: 'session', key } })).code, 'NOT_FOUND', key);
});
