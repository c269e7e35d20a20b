import { describe, expect, it } from "vitest";
import {
  classifyHealth,
  healthDirective,
  linkDeliveredKbps,
  meshHealth,
  nodeHealth,
  seedAliases,
  trafficDemandKbps,
} from "./health.ts";

const counters = (bytes: number) => ({ rx_bytes: bytes, tx_bytes: bytes, forward_bytes: bytes, mgmt_rx_bytes: 0, mgmt_tx_bytes: 0 });

describe("health state", () => {
  it.each([
    [2.0, "surplus"],
    [1.4000001, "surplus"],
    [1.4, "healthy"],
    [1.0000001, "healthy"],
    [1.0, "strained"],
    [0.8000001, "strained"],
    [0.8, "critical"],
    [0, "critical"],
  ] as const)("a ratio of %s is %s (exactly at a threshold is the lower state)", (ratio, state) => {
    expect(classifyHealth(ratio)).toBe(state);
  });

  it("each state carries the seed's directive", () => {
    expect(healthDirective).toEqual({ surplus: "optimize", healthy: "maintain", strained: "watch", critical: "heal" });
  });

  it("the seed's labels are only aliases of the honest names, in the seed's order", () => {
    expect(seedAliases).toEqual({ EUPHORIC: "surplus", HARMONIC: "healthy", CONTEMPLATIVE: "strained", MYSTICAL: "critical" });
  });
});

describe("delivered and required capacity", () => {
  it("a link with a throughput estimate delivers throughput × (1 - loss)", () => {
    expect(linkDeliveredKbps({ tq: 200, loss: 0.25, throughput: 8000 })).toBe(6000);
  });

  it("a link with only TQ delivers the nominal capacity scaled by TQ, loss not applied twice", () => {
    expect(linkDeliveredKbps({ tq: 255, loss: 0.3 })).toBe(10_000);
    expect(linkDeliveredKbps({ tq: 51, loss: 0.3 }, { nominalLinkKbps: 5000 })).toBe(1000);
  });

  it("traffic demand is the counters' growth in kbit/s; a counter reset gives no reading", () => {
    // 3 × 125 000 bytes in 1 s = 3 000 000 bit/s = 3000 kbit/s.
    expect(trafficDemandKbps(counters(0), counters(125_000), 1000)).toBe(3000);
    expect(trafficDemandKbps(counters(125_000), counters(10), 1000)).toBeUndefined();
    expect(trafficDemandKbps(counters(0), counters(10), 0)).toBeUndefined();
  });
});

describe("node health", () => {
  it("given two links and a demand, the ratio is delivered over demand", () => {
    const h = nodeHealth({ nodeId: "a", links: [{ tq: 255, loss: 0, throughput: 3000 }, { tq: 255, loss: 0.5, throughput: 2000 }], demandKbps: 2500 });
    expect(h).toMatchObject({ deliveredKbps: 4000, requiredKbps: 2500, ratio: 1.6, state: "surplus", directive: "optimize" });
  });

  it("given an idle node, the demand floor applies so the ratio stays finite", () => {
    const h = nodeHealth({ nodeId: "a", links: [{ tq: 255, loss: 0, throughput: 1200 }], demandKbps: 0 });
    expect(h).toMatchObject({ requiredKbps: 1000, ratio: 1.2, state: "healthy" });
    expect(nodeHealth({ nodeId: "a", links: [{ tq: 255, loss: 0, throughput: 1200 }], demandKbps: undefined }).ratio).toBe(1.2);
  });

  it("given a node with no links left, it is critical", () => {
    expect(nodeHealth({ nodeId: "a", links: [], demandKbps: 500 }).state).toBe("critical");
  });

  it("given a demand exactly equal to the delivered capacity, the node is strained, not healthy", () => {
    expect(nodeHealth({ nodeId: "a", links: [{ tq: 255, loss: 0, throughput: 4000 }], demandKbps: 4000 }).state).toBe("strained");
  });
});

describe("mesh health", () => {
  it("is total delivered over total required, so an idle node does not hide a loaded one", () => {
    const mesh = meshHealth([
      { nodeId: "idle", links: [{ tq: 255, loss: 0, throughput: 10_000 }], demandKbps: 0 }, // ratio 10
      { nodeId: "gateway", links: [{ tq: 255, loss: 0, throughput: 5_000 }], demandKbps: 9_000 }, // ratio 0.56
    ]);
    expect(mesh.ratio).toBe(15_000 / 10_000);
    // The mean of the node ratios would be 5.3; the weighted ratio is 1.5.
    expect(mesh.state).toBe("surplus");
    expect(mesh.worst?.nodeId).toBe("gateway");
    expect(mesh.worst?.state).toBe("critical");
    expect(mesh.count).toEqual({ surplus: 1, healthy: 0, strained: 0, critical: 1 });
  });

  it("given an empty mesh, nothing is delivered: critical, no worst node", () => {
    expect(meshHealth([])).toMatchObject({ ratio: 0, state: "critical", worst: undefined });
  });
});
