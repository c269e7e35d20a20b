import { metricsRegistry } from "../../../streams/metrics.ts";
import type { Route } from "../context.ts";
import { sendJson, sendText } from "../respond.ts";
import type { Health } from "../schemas.ts";

/** GET /healthz: 200 only when NATS is connected and the control plane says it is ready. */
export const healthz: Route = {
  path: "/healthz",
  pattern: /^\/healthz$/u,
  handle: ({ res, api }) => {
    const nats = api.nc.isClosed() ? "closed" : api.natsState();
    const ready = api.ready();
    const health: Health = { status: nats === "connected" && ready ? "ok" : "unavailable", nats, ready };
    sendJson(res, health.status === "ok" ? 200 : 503, health);
  },
};

/** GET /metrics: the process's Prometheus registry (projections, quarantine, HTTP, Node.js). */
export const metrics: Route = {
  path: "/metrics",
  pattern: /^\/metrics$/u,
  handle: async ({ res }) => sendText(res, 200, await metricsRegistry.metrics(), metricsRegistry.contentType),
};

/** GET /openapi.json: this API described from its Schemas. */
export const openApiJson: Route = {
  path: "/openapi.json",
  pattern: /^\/openapi\.json$/u,
  handle: ({ res, api }) => sendJson(res, 200, api.openApi()),
};
