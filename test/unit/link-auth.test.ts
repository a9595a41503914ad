// The node-link handshake (src/node/link-auth.ts) over real loopback sockets: both ends must
// prove the key; a recorded handshake replayed, or a proof reflected, does not pass.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { authenticateIncoming, authenticateOutgoing, linkProof, newNonce, type LinkRole } from '../../src/node/link-auth.ts';
import type { JsonLink } from '../../src/node/json-link.ts';
import { productionTimers } from '../../src/node/env.ts';

const KEY = Buffer.alloc(32, 1);
const OTHER = Buffer.alloc(32, 2);

interface Responder {
  server: Server;
  port: number;
  /** Roles that got through, with the first protocol message each sent. */
  accepted: { role: LinkRole; first: Promise<Record<string, unknown>> }[];
  refusals: string[];
}

async function responder(key: Buffer | null): Promise<Responder> {
  const r: Responder = { server: createServer(), port: 0, accepted: [], refusals: [] };
  r.server.on('connection', (s: Socket) => {
    authenticateIncoming(
      productionTimers, s,
      key,
      (role) => {
        let got!: (m: Record<string, unknown>) => void;
        r.accepted.push({ role, first: new Promise((res) => (got = res)) });
        return { onMessage: (m) => got(m), onClose: () => undefined };
      },
      (why) => r.refusals.push(why),
    );
  });
  await new Promise<void>((res) => r.server.listen(0, '127.0.0.1', () => res()));
  r.port = (r.server.address() as { port: number }).port;
  return r;
}

function dial(port: number): Promise<Socket> {
  return new Promise((res) => {
    const s = connect({ host: '127.0.0.1', port }, () => res(s));
  });
}

/** A raw line-level conversation, to play an attacker who replays or reflects. */
async function raw(port: number): Promise<{ send: (m: unknown) => void; next: () => Promise<Record<string, unknown> | null>; socket: Socket }> {
  const s = await dial(port);
  const lines: string[] = [];
  const waiters: (() => void)[] = [];
  let buf = '';
  let closed = false;
  s.setEncoding('utf8');
  s.on('data', (d: string) => {
    buf += d;
    let nl;
    while ((nl = buf.indexOf('\n')) >= 0) {
      lines.push(buf.slice(0, nl));
      buf = buf.slice(nl + 1);
    }
    for (const w of waiters.splice(0)) w();
  });
  s.on('close', () => {
    closed = true;
    for (const w of waiters.splice(0)) w();
  });
  return {
    socket: s,
    send: (m) => s.write(JSON.stringify(m) + '\n'),
    next: () =>
      new Promise((res) => {
        const check = (): void => {
          const l = lines.shift();
          if (l !== undefined) return res(JSON.parse(l) as Record<string, unknown>);
          if (closed) return res(null);
          waiters.push(check);
        };
        check();
      }),
  };
}

test('both ends holding the key: the link opens in the role asked for and carries messages', async () => {
  const r = await responder(KEY);
  const s = await dial(r.port);
  const opened = new Promise<JsonLink>((res) => authenticateOutgoing(productionTimers, s, KEY, 'coordinator', { onMessage: () => undefined, onClose: () => undefined }, res));
  const link = await opened;
  link.send({ type: 'hello', lock_timeout_ms: 1 });
  await new Promise((res) => setTimeout(res, 50));
  assert.equal(r.accepted.length, 1);
  assert.equal(r.accepted[0]!.role, 'coordinator');
  assert.deepEqual(await r.accepted[0]!.first, { type: 'hello', lock_timeout_ms: 1 });
  link.close('done');
  r.server.close();
});

test('an initiator without the key is refused; the responder reads nothing else from it', async () => {
  const r = await responder(KEY);
  const s = await dial(r.port);
  const why = await new Promise<string>((res) => authenticateOutgoing(productionTimers, s, OTHER, 'coordinator', { onMessage: () => undefined, onClose: res }, () => assert.fail('must not open')));
  assert.match(why, /does not hold this cluster's key/);
  assert.equal(r.accepted.length, 0);
  r.server.close();
});

test('a responder without the key is detected by the initiator before it sends anything of the protocol', async () => {
  const r = await responder(OTHER);
  const s = await dial(r.port);
  let opened = false;
  const why = await new Promise<string>((res) => authenticateOutgoing(productionTimers, s, KEY, 'coordinator', { onMessage: () => undefined, onClose: res }, () => (opened = true)));
  assert.equal(opened, false);
  assert.match(why, /does not hold this cluster's key/);
  r.server.close();
});

test('a recorded handshake replayed on a new connection does not pass (the responder\'s nonce is new)', async () => {
  const r = await responder(KEY);
  // An honest handshake, recorded.
  const a = await raw(r.port);
  const na = newNonce();
  a.send({ type: 'auth_hello', v: 1, role: 'coordinator', nonce: na });
  const ch = (await a.next())!;
  const proof = linkProof(KEY, 'initiator', 'coordinator', na, ch.nonce as string, Buffer.alloc(0));
  a.send({ type: 'auth_proof', proof });
  a.send({ type: 'hello', lock_timeout_ms: 1 });
  while (r.accepted.length === 0) await new Promise((res) => setTimeout(res, 10));
  assert.deepEqual(await r.accepted[0]!.first, { type: 'hello', lock_timeout_ms: 1 });
  // The attacker replays the same lines.
  const b = await raw(r.port);
  b.send({ type: 'auth_hello', v: 1, role: 'coordinator', nonce: na });
  const ch2 = (await b.next())!;
  assert.notEqual(ch2.nonce, ch.nonce);
  b.send({ type: 'auth_proof', proof });
  b.send({ type: 'read', rid: 1, query: { kind: 'check' } });
  assert.equal(await b.next(), null, 'closed without another word');
  assert.equal(r.accepted.length, 1);
  assert.match(r.refusals.at(-1) ?? '', /does not hold this cluster's key/);
  a.socket.destroy();
  r.server.close();
});

test('the responder\'s own proof reflected back as the initiator\'s does not pass', async () => {
  const r = await responder(KEY);
  const a = await raw(r.port);
  a.send({ type: 'auth_hello', v: 1, role: 'peer', nonce: newNonce() });
  const ch = (await a.next())!;
  a.send({ type: 'auth_proof', proof: ch.proof });
  assert.equal(await a.next(), null);
  assert.equal(r.accepted.length, 0);
  r.server.close();
});

test('a proof for one role does not open a link in another', async () => {
  const r = await responder(KEY);
  const a = await raw(r.port);
  const na = newNonce();
  a.send({ type: 'auth_hello', v: 1, role: 'coordinator', nonce: na });
  const ch = (await a.next())!;
  a.send({ type: 'auth_proof', proof: linkProof(KEY, 'initiator', 'peer', na, ch.nonce as string, Buffer.alloc(0)) });
  assert.equal(await a.next(), null);
  assert.equal(r.accepted.length, 0);
  r.server.close();
});

test('anything but the handshake first, or an over-long line, closes the link', async () => {
  const r = await responder(KEY);
  const a = await raw(r.port);
  a.send({ type: 'hello', lock_timeout_ms: 1 });
  assert.equal(await a.next(), null);
  const b = await raw(r.port);
  b.socket.write('{"type":"auth_hello","pad":"' + 'x'.repeat(4096) + '"}\n');
  assert.equal(await b.next(), null);
  assert.equal(r.accepted.length, 0);
  assert.ok(r.refusals.some((w) => /larger than 1024 bytes/.test(w)), r.refusals.join('; '));
  r.server.close();
});
