// The cluster page's routes (GET /api/cluster, GET /api/cluster/events) against a real 2-worker
// cluster: behind sign-in, the nodes with role, state and lag, each finished transaction's phases
// streamed, a killed worker shown down and back up, the limits of followers.

import { test, after, before, describe } from 'node:test';
import assert from 'node:assert/strict';
import type { FastifyInstance } from 'fastify';
import { buildWebApp, SECURITY_HEADERS, type WebApp } from '../../src/web/server.ts';
import { SESSION_COOKIE } from '../../src/web/auth.ts';
import { Cluster, eventually } from '../helpers/cluster.ts';
import { json, problem, readEvents, signUp, type Json, type SseEvent } from '../helpers/web.ts';

interface Node {
  id: string;
  role: string;
  state: string;
  address: string;
  applied: number | null;
  lag: number | null;
}

describe('the cluster page routes', () => {
  let cluster: Cluster;
  let web: WebApp;
  let app: FastifyInstance;
  let base: string;
  let ada: string;
  const as = (cookie: string) => ({ cookies: { [SESSION_COOKIE]: cookie } });

  before(async () => {
    cluster = await Cluster.start({ workers: 2, lockTimeout: 2 });
    web = await buildWebApp({ coordinator: cluster.address, coordinatorAccess: cluster.access, clusterLimits: { perUser: 2 } });
    app = web.app;
    await app.listen({ host: '127.0.0.1', port: 0 });
    const a = app.server.address();
    base = `http://127.0.0.1:${a !== null && typeof a === 'object' ? a.port : 0}`;
    ada = await signUp(app, 'ada');
  });

  after(async () => {
    await app?.close();
    await cluster?.stop();
  });

  const open = async (cookie = ada): Promise<Response> => {
    const res = await fetch(`${base}/api/cluster/events`, { headers: { cookie: `${SESSION_COOKIE}=${cookie}` } });
    return res;
  };
  const data = (e: SseEvent | undefined): Json => JSON.parse(e?.data ?? '{}') as Json;

  test('GET /api/cluster: 401 signed out; signed in, the coordinator and each worker with role, state, applied and lag', async () => {
    problem(await app.inject({ method: 'GET', url: '/api/cluster' }), 401, 'UNAUTHENTICATED');
    const r = await app.inject({ method: 'GET', url: '/api/cluster', ...as(ada) });
    assert.equal(r.statusCode, 200, r.body);
    assert.equal(r.headers['cache-control'], 'no-store');
    const s = json(r);
    assert.equal(s.reachable, true);
    assert.equal(s.coordinator, cluster.address);
    const nodes = s.nodes as Node[];
    assert.deepEqual(
      nodes.map((n) => [n.role, n.state]),
      [
        ['coordinator', 'up'],
        ['worker', 'up'],
        ['worker', 'up'],
      ],
    );
    const last = nodes[0]?.applied ?? -1;
    assert.ok(last >= 1, 'the sign-up committed');
    for (const w of nodes.slice(1)) {
      assert.equal(w.applied, last, `${w.id} applied every commit`);
      assert.equal(w.lag, 0);
    }
    assert.deepEqual(s.in_doubt, []);
  });

  test('GET /api/cluster/events: 401 signed out; a snapshot at once and every second; a posted tweet\'s transaction with every phase', async () => {
    assert.equal((await fetch(`${base}/api/cluster/events`)).status, 401);
    const res = await open();
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), 'text/event-stream; charset=utf-8');
    assert.equal(res.headers.get('content-security-policy'), SECURITY_HEADERS['content-security-policy']);
    // Post once the trace feed is followed: the page is told so.
    let posted = false;
    const events = await readEvents(res, (es) => {
      if (!posted && es.some((e) => e.event === 'trace' && data(e).following === true)) {
        posted = true;
        void app.inject({ method: 'POST', url: '/api/tweet', ...as(ada), payload: { content: 'watched' } });
      }
      return es.filter((e) => e.event === 'snapshot').length >= 2 && es.some((e) => e.event === 'txn' && data(e).trace !== undefined && Object.keys((data(e).trace as Json).acks as Json).length === 2);
    });
    const txn = events.find((e) => e.event === 'txn' && Object.keys((data(e).trace as Json).acks as Json).length === 2);
    const line = data(txn);
    const t = line.trace as { txid: string; outcome: string; voters: string[]; votes: Json; decision: number; applied: Json; acks: Json };
    assert.equal(t.outcome, 'commit');
    assert.equal(t.voters.length, 2);
    for (const v of t.voters) {
      assert.equal(typeof t.votes[v], 'number', `${v} voted`);
      assert.equal(typeof t.applied[v], 'number', `${v} applied`);
      assert.equal(typeof t.acks[v], 'number', `${v} acked`);
    }
    assert.equal(typeof t.decision, 'number');
    assert.equal(line.sampled_1_in, 1);
    const snap = data(events.find((e) => e.event === 'snapshot'));
    assert.equal((snap.nodes as Node[]).length, 3);
  });

  test('a killed worker is shown down within 2 seconds, then up again when it is back', async () => {
    const res = await open();
    const worker = cluster.workers[0];
    assert.ok(worker !== undefined);
    let killedAt = 0;
    const downOf = (es: SseEvent[]): SseEvent | undefined => es.find((e) => e.event === 'snapshot' && killedAt > 0 && (data(e).nodes as Node[]).some((n) => n.role === 'worker' && n.state !== 'up'));
    const events = await readEvents(res, (es) => {
      if (killedAt === 0 && es.some((e) => e.event === 'snapshot')) {
        killedAt = Date.now();
        void cluster.kill(worker);
      }
      return downOf(es) !== undefined;
    });
    assert.ok(downOf(events) !== undefined);
    assert.ok(Date.now() - killedAt < 2_000, `shown down after ${Date.now() - killedAt} ms`);
    await cluster.restart(worker);
    const res2 = await open();
    const back = await readEvents(res2, (es) => es.some((e) => e.event === 'snapshot' && (data(e).nodes as Node[]).filter((n) => n.role === 'worker' && n.state === 'up').length === 2), 30_000);
    assert.ok(back.length > 0);
  });

  test('limits: past perUser pages an account is refused with 429 and Retry-After; when every page has gone, nothing is followed', async () => {
    await eventually(async () => web.cluster.size === 0, 5_000, 'the earlier pages closed');
    const pages = [await open(), await open()];
    assert.deepEqual(pages.map((p) => p.status), [200, 200]);
    const third = await open();
    assert.equal(third.status, 429);
    assert.equal(third.headers.get('retry-after'), '30');
    assert.equal((await third.json() as Json).code, 'TOO_MANY_STREAMS');
    for (const p of pages) await p.body?.cancel();
    await eventually(async () => web.cluster.size === 0 && !web.cluster.trace.following, 5_000, 'no page follows, so neither does the server');
  });
});
