// GET /metrics on the web server: the default Node metrics (event-loop lag, heap, GC, CPU) for
// Prometheus. No user data: nothing here names an account or a tweet.

import type { FastifyInstance } from 'fastify';
import { Registry, collectDefaultMetrics } from 'prom-client';

export function registerMetrics(app: FastifyInstance): void {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  app.get('/metrics', async (_req, reply) => {
    reply.header('content-type', registry.contentType);
    return registry.metrics();
  });
}
