/**
 * HTTP request counters and latency in the store's registry, so /metrics
 * has both. Labelled by the route's template (/api/flows/:id), never the
 * raw URL: a client cannot grow the label set; unmatched paths share one.
 */
import type { FastifyInstance } from 'fastify';
import { Counter, Histogram } from 'prom-client';
import type { Metrics } from '../metrics/registry';

/** Latency buckets, seconds: 0.5 ms to 5 s (the goal is p95 <= 20 ms). */
const BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];

export function installHttpMetrics(app: FastifyInstance, metrics: Metrics): void {
  const registers = [metrics.registry];
  const requests = new Counter({
    name: `${metrics.prefix}http_requests_total`, help: 'HTTP requests served, by method, route and status', labelNames: ['method', 'route', 'status'] as const, registers,
  });
  const duration = new Histogram({
    name: `${metrics.prefix}http_request_duration_seconds`, help: 'HTTP request latency, seconds, by method and route', labelNames: ['method', 'route'] as const, buckets: BUCKETS, registers,
  });
  app.addHook('onResponse', async (req, reply) => {
    const route = req.routeOptions.url ?? 'unmatched';
    requests.inc({ method: req.method, route, status: String(reply.statusCode) });
    duration.observe({ method: req.method, route }, reply.elapsedTime / 1000);
  });
}
