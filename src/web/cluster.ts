// The cluster page's routes (issue #14 item 4), behind sign-in: GET /api/cluster (the nodes and
// what is in doubt, now) and GET /api/cluster/events (the same every second, and each finished
// transaction's phases, as server-sent events). The data comes from ClusterWatch.

import type { FastifyInstance, FastifyRequest } from 'fastify';
import { accountKey } from './auth.ts';
import type { ClusterWatch } from './cluster-watch.ts';
import { ProblemError } from './problems.ts';

const nullable = (type: string): { type: string[] } => ({ type: [type, 'null'] });

const nodeSchema = {
  type: 'object',
  required: ['id', 'role', 'state', 'address', 'applied', 'lag', 'digest_differs', 'prepared', 'locks', 'fsync_ms', 'error', 'member', 'learner'],
  properties: {
    id: { type: 'string' },
    role: { type: 'string', enum: ['coordinator', 'worker'] },
    state: { type: 'string' },
    address: { type: 'string' },
    applied: nullable('integer'),
    lag: nullable('integer'),
    digest_differs: { type: 'boolean' },
    prepared: nullable('integer'),
    locks: nullable('integer'),
    fsync_ms: nullable('number'),
    error: nullable('string'),
    member: { type: ['string', 'null'], enum: ['voter', 'learner', 'evicted', 'leaving', null] },
    learner: {
      type: ['object', 'null'],
      properties: { phase: { type: 'string' }, behind: { type: 'integer' }, copied_rows: { type: 'integer' }, copied_bytes: { type: 'integer' } },
    },
  },
} as const;

/** The reply of GET /api/cluster, and the data of each `snapshot` event. */
export const clusterSnapshotSchema = {
  type: 'object',
  required: ['at', 'coordinator', 'reachable', 'error', 'checked_at', 'commits_per_s', 'aborts_per_s', 'nodes', 'in_doubt'],
  properties: {
    at: { type: 'integer' },
    coordinator: { type: 'string' },
    reachable: { type: 'boolean' },
    error: nullable('string'),
    checked_at: nullable('integer'),
    commits_per_s: { type: 'integer' },
    aborts_per_s: { type: 'integer' },
    nodes: { type: 'array', items: nodeSchema },
    in_doubt: {
      type: 'array',
      items: {
        type: 'object',
        required: ['txid', 'state', 'age_ms', 'waiting_for'],
        properties: { txid: { type: 'string' }, state: { type: 'string' }, age_ms: { type: 'integer' }, waiting_for: { type: 'array', items: { type: 'string' } } },
      },
    },
  },
} as const;

/** What the server sends with every stream (passed in: server.ts imports this file). */
export interface StreamHeaders {
  /** The security headers of every response (a hijacked reply skips the onSend hook). */
  securityHeaders: Record<string, string>;
  /** Retry-After of a stream refused for TOO_MANY_STREAMS. */
  retryAfterS: number;
}

/** The routes, on a scope whose preHandler has set req.username and req.sessionToken. */
export function clusterRoutes(authed: FastifyInstance, watch: ClusterWatch, user: (req: FastifyRequest) => string, stream: StreamHeaders): void {
  authed.get('/api/cluster', { schema: { response: { 200: clusterSnapshotSchema } } }, async () => watch.snapshot());

  authed.get('/api/cluster/events', async (req, reply) => {
    if (watch.full) throw new ProblemError('UNAVAILABLE', `${watch.limits.followers} cluster pages are open on this server, the most it feeds; close one or try again later`);
    const account = accountKey(user(req));
    if (watch.userFull(account)) {
      throw new ProblemError('TOO_MANY_STREAMS', `this account already has ${watch.limits.perUser} cluster pages open; close one (or reload it later)`, stream.retryAfterS);
    }
    reply.hijack();
    reply.raw.writeHead(200, {
      ...stream.securityHeaders,
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
    });
    watch.add(reply.raw, account, req.sessionToken ?? '');
  });
}
