import * as Schema from "effect/Schema";
import { describe, expect, it } from "vitest";
import { LinkMetricsReported, NodeAnnounced, NodeMetricsReported } from "./events.ts";

const decode = (schema: Schema.Top, value: unknown) => Schema.decodeUnknownExit(schema as Schema.Decoder<unknown>)(value)._tag;
const link = { neigh_address: "02:00:00:00:00:02", tq: 255, last_seen_msecs: 120, loss: 0, latency_ms: 1.5, throughput: 54000 };

describe("mesh events", () => {
  it("accepts a link table shaped like batctl's JSON (neigh_address, tq, last_seen_msecs, throughput)", () => {
    expect(decode(LinkMetricsReported.schema, { nodeId: "n1", links: [link, { ...link, hard_ifname: "mesh0", tq: 0 }] })).toBe("Success");
    expect(decode(LinkMetricsReported.schema, { nodeId: "n1", links: [] })).toBe("Success");
  });

  it.each([
    ["tq above 255", { ...link, tq: 256 }],
    ["fractional tq", { ...link, tq: 12.5 }],
    ["upper-case MAC", { ...link, neigh_address: "02:00:00:00:00:AB" }],
    ["loss above 1", { ...link, loss: 1.5 }],
    ["negative latency", { ...link, latency_ms: -1 }],
  ])("refuses a link with %s", (_case, bad) => {
    expect(decode(LinkMetricsReported.schema, { nodeId: "n1", links: [bad] })).toBe("Failure");
  });

  it("refuses a node id that is not one subject token", () => {
    expect(decode(NodeMetricsReported.schema, { nodeId: "a.b", cpu: 0, loadavg: 0, memory: { total: 1, available: 1 }, traffic: { rx_bytes: 0, tx_bytes: 0, forward_bytes: 0, mgmt_rx_bytes: 0, mgmt_tx_bytes: 0 } })).toBe("Failure");
  });

  it("requires a 32-byte Ed25519 public key in an announcement", () => {
    const base = { nodeId: "n1", primaryMac: "02:00:00:00:00:01", macs: [], hardware: {}, software: {} };
    expect(decode(NodeAnnounced.schema, { ...base, publicKey: new Uint8Array(32) })).toBe("Success");
    expect(decode(NodeAnnounced.schema, { ...base, publicKey: new Uint8Array(31) })).toBe("Failure");
  });
});
