import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";

/** The process's one metrics registry; the HTTP adapter serves it on /metrics. */
export const metricsRegistry = new Registry();
collectDefaultMetrics({ register: metricsRegistry, prefix: "x0_" });

export const eventsApplied = new Counter({
  name: "x0_events_applied_total",
  help: "Events applied by a projection",
  labelNames: ["projection", "type"] as const,
  registers: [metricsRegistry],
});

export const eventsQuarantined = new Counter({
  name: "x0_events_quarantined_total",
  help: "Events refused and sent to the QUARANTINE stream, by reason",
  labelNames: ["projection", "stream", "reason"] as const,
  registers: [metricsRegistry],
});

export const projectionSequence = new Gauge({
  name: "x0_projection_applied_sequence",
  help: "Last stream sequence a projection has applied and checkpointed",
  labelNames: ["projection", "stream"] as const,
  registers: [metricsRegistry],
});

export const checkpointSeconds = new Histogram({
  name: "x0_projection_checkpoint_seconds",
  help: "Time to persist a projection checkpoint",
  labelNames: ["projection"] as const,
  buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5],
  registers: [metricsRegistry],
});
