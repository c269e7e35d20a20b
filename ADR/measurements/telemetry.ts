// Per-event cost of the observability hooks on the hot path, one core, median of 3 runs:
// a labelled prom-client counter increment, and the W3C traceparent each envelope carries
// (@opentelemetry/api with no SDK registered: no active span, so a fresh root context),
// split into the API lookup and one 16-byte draw from node:crypto randomBytes.
//   node adapters/cli/run-ts.js ADR/measurements/telemetry.ts
import { randomBytes } from "node:crypto";
import { trace } from "@opentelemetry/api";
import { currentTraceparent } from "../../streams/envelope.ts";
import { eventsApplied, metricsRegistry } from "../../streams/metrics.ts";

const rate = (f: () => unknown) => {
  for (let i = 0; i < 100_000; i++) f();
  let n = 0;
  const start = performance.now();
  let t = start;
  while (t - start < 1000) {
    for (let i = 0; i < 1024; i++) f();
    n += 1024;
    t = performance.now();
  }
  return n / ((t - start) / 1000);
};
const median3 = (f: () => unknown) => [rate(f), rate(f), rate(f)].sort((x, y) => x - y)[1]!;
const ns = (perSecond: number) => (1e9 / perSecond).toFixed(0);

const inc = median3(() => eventsApplied.inc({ projection: "knowledge-base", type: "mesh.LinkMetricsReported" }));
const traceparent = median3(() => currentTraceparent());
const span = median3(() => trace.getActiveSpan());
const random16 = median3(() => randomBytes(16));
const scrapeStart = performance.now();
const text = await metricsRegistry.metrics();
const scrapeMs = performance.now() - scrapeStart;
console.log(
  `counter_inc_ns=${ns(inc)} traceparent_ns=${ns(traceparent)} get_active_span_ns=${ns(span)} random_bytes_16_ns=${ns(random16)} scrape_ms=${scrapeMs.toFixed(1)} scrape_bytes=${text.length}`,
);
