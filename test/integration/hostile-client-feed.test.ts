// The change feed under many subscribers, and a subscriber that does not read: the
// coordinator's client connections (src/node/client-conn.ts) over real loopback sockets,
// in this process, so that the work done per event can be counted.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { ClientConnection } from '../../src/node/client-conn.ts';
import { MAX_UNREAD_OUTPUT_BYTES } from '../../src/wire/limits.ts';
import { productionTimers } from '../../src/node/env.ts';

const servers: Server[] = [];
const sockets: Socket[] = [];
after(() => {
  for (const s of sockets) s.destroy();
  for (const s of servers) s.close();
});

/** `n` client sockets and the server's ClientConnection for each. */
async function connections(n: number): Promise<{ conns: ClientConnection[]; clients: Socket[] }> {
  const conns: ClientConnection[] = [];
  const server = createServer({ allowHalfOpen: true }, (s) => {
    conns.push(new ClientConnection(productionTimers, conns.length + 1, s, { onRequest: () => undefined, onClose: () => undefined }));
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const a = server.address();
  const port = a !== null && typeof a === 'object' ? a.port : 0;
  const clients: Socket[] = [];
  for (let i = 0; i < n; i += 100) {
    const batch = await Promise.all(
      Array.from({ length: Math.min(100, n - i) }, () => new Promise<Socket>((resolve) => {
        const c = connect({ host: '127.0.0.1', port }, () => resolve(c));
        sockets.push(c);
      })),
    );
    clients.push(...batch);
  }
  while (conns.length < n) await new Promise((r) => setTimeout(r, 10));
  return { conns, clients };
}

test('attack: with 999 subscribers, each change event is encoded once, not once per subscriber, and every one gets the same line', async () => {
  // On main each push was JSON.stringify'd per subscriber: 4,000 posts with 999 subscribers took 24.6 s instead of 0.55 s.
  const { conns, clients } = await connections(999);
  const received = clients.map(() => '');
  clients.forEach((c, i) => c.setEncoding('utf8').on('data', (d: string) => (received[i] += d)));
  const events = Array.from({ length: 5 }, (_, i) => ({ event: 'tweet.created', tweet: { id: `e${i}`, username: 'u', content: 'x'.repeat(200) }, seq: i + 1 }));
  const stringify = JSON.stringify;
  let encoded = 0;
  JSON.stringify = ((value: unknown, ...rest: unknown[]) => {
    if (events.includes(value as (typeof events)[number])) encoded++;
    return (stringify as (v: unknown, ...r: unknown[]) => string)(value, ...rest);
  }) as typeof JSON.stringify;
  try {
    // As the coordinator's core emits them: for each event, one push per subscriber, with the same object.
    for (const e of events) for (const c of conns) c.push(e);
  } finally {
    JSON.stringify = stringify;
  }
  assert.equal(encoded, events.length, `${events.length} events were encoded ${encoded} times for ${conns.length} subscribers`);
  const expected = events.map((e) => JSON.stringify(e) + '\n').join('');
  const until = Date.now() + 10_000;
  while (received.some((r) => r.length < expected.length) && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
  received.forEach((r, i) => assert.equal(r, expected, `subscriber ${i}`));
});

test('a subscriber that does not read is cut off once its unread feed passes 16 MiB; one that reads keeps up', async () => {
  assert.equal(MAX_UNREAD_OUTPUT_BYTES, 16 * 1024 * 1024);
  const { conns, clients } = await connections(2);
  const [stuck, reading] = clients as [Socket, Socket];
  stuck.pause();
  let got = 0;
  reading.on('data', (d: Buffer) => (got += d.length));
  const big = 'x'.repeat(64 * 1024);
  let sent = 0;
  // Up to 64 MiB of events, a little at a time so the reader can keep up.
  for (let i = 0; i < 1_024 && conns[0]?.isClosed === false; i++) {
    const e = { event: 'tweet.created', tweet: { id: `b${i}`, content: big }, seq: i };
    for (const c of conns) c.push(e);
    sent += big.length;
    if (i % 16 === 15) await new Promise((r) => setTimeout(r, 5));
  }
  const until = Date.now() + 10_000;
  while (!conns[0]?.isClosed && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
  assert.equal(conns[0]?.isClosed, true, 'the subscriber that does not read was disconnected');
  assert.match(String(conns[0]?.closeReason), /more than 16 MiB of output unread/);
  assert.equal(conns[1]?.isClosed, false, 'the one that reads is kept');
  assert.ok(got > 0 && sent > MAX_UNREAD_OUTPUT_BYTES);
});
