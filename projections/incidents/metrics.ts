import { Counter, Histogram } from "prom-client";
import { metricsRegistry } from "../../streams/metrics.ts";

/*
 * Healing metrics, observed once per incident by the incident projection when the incident's
 * record is made durable (see IncidentProjection.checkpoint), never on a replay.
 */

export const detectionSeconds = new Histogram({
  name: "x0_heal_detection_seconds",
  help: "Failure onset to incident detection (IncidentDetected.detectedAt - onsetAt), for incidents that name their onset",
  labelNames: ["kind"] as const,
  buckets: [0.25, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600],
  registers: [metricsRegistry],
});

export const timeToRecoverSeconds = new Histogram({
  name: "x0_heal_time_to_recover_seconds",
  help: "Failure onset (else detection) to verified recovery (Recovered.verifiedAt)",
  labelNames: ["kind"] as const,
  buckets: [1, 2, 5, 10, 30, 60, 120, 300, 600, 1800, 3600],
  registers: [metricsRegistry],
});

export const incidentsEnded = new Counter({
  name: "x0_heal_incidents_total",
  help: "Incidents that ended, by kind and final status (recovered or escalated)",
  labelNames: ["kind", "status"] as const,
  registers: [metricsRegistry],
});
