import { describe, expect, it } from "vitest";
import {
  adjacency,
  components,
  generateTopology,
  loadMeshviewer,
  MAC,
  meanDegree,
  NODE_ID,
  parseMeshviewer,
  TopologyFileError,
  type MeshTopology,
} from "./topology.ts";

const FREIFUNK = new URL("../../../shared/data/topologies/freifunk-bremen-2020-meshviewer.json", import.meta.url).pathname;

const expectValidIdentities = (t: MeshTopology) => {
  const macs = new Set<string>();
  for (const node of t.nodes) {
    expect(node.id).toMatch(NODE_ID);
    expect(node.macs[0]).toBe(node.primaryMac);
    for (const mac of node.macs) {
      expect(mac).toMatch(MAC);
      // A MAC names one node only, or neighbour addresses would resolve to the wrong node.
      expect(macs.has(mac)).toBe(false);
      macs.add(mac);
    }
  }
  expect(new Set(t.nodes.map((n) => n.id)).size).toBe(t.nodes.length);
  for (const link of t.links) {
    expect(t.nodes[link.a]!.macs).toContain(link.aMac);
    expect(t.nodes[link.b]!.macs).toContain(link.bMac);
  }
};

describe("generateTopology (random geometric graph)", () => {
  it("is the same mesh for the same seed and another for another seed", () => {
    expect(generateTopology({ nodes: 60, seed: 9 })).toEqual(generateTopology({ nodes: 60, seed: 9 }));
    const other = generateTopology({ nodes: 60, seed: 10 });
    expect(other.links).not.toEqual(generateTopology({ nodes: 60, seed: 9 }).links);
  });

  it("is always connected", () => {
    for (const nodes of [1, 2, 3, 10, 50, 200]) {
      for (const seed of [1, 2, 3, 4, 5]) {
        const t = generateTopology({ nodes, seed });
        expect(components(t)).toHaveLength(1);
        expect(t.nodes).toHaveLength(nodes);
      }
    }
  });

  it("has a mean degree of 6-8 with the default radio range", () => {
    for (const nodes of [20, 50, 100, 500]) {
      for (const seed of [1, 2, 3]) {
        const degree = meanDegree(generateTopology({ nodes, seed }));
        expect(degree).toBeGreaterThanOrEqual(6);
        expect(degree).toBeLessThanOrEqual(8);
      }
    }
  });

  it("keeps links within radio range, except bridges between components", () => {
    const t = generateTopology({ nodes: 200, seed: 3, radioRangeM: 120 });
    for (const link of t.links) {
      expect(link.kind).toBe("wifi");
      if (!link.bridge) expect(link.distanceM!).toBeLessThan(120);
    }
  });

  it("names nodes node-001 … and gives them locally administered MACs", () => {
    const t = generateTopology({ nodes: 12, seed: 1 });
    expect(t.nodes.map((n) => n.id).slice(0, 2)).toEqual(["node-001", "node-002"]);
    expect(generateTopology({ nodes: 1500, seed: 1 }).nodes[0]!.id).toBe("node-0001");
    for (const node of t.nodes) {
      // Bit 1 of the first octet set (locally administered), bit 0 clear (unicast).
      expect(parseInt(node.primaryMac.slice(0, 2), 16) & 0b11).toBe(0b10);
      expect(node.location!.latitude).toBeGreaterThan(-90);
    }
    expectValidIdentities(t);
  });

  it("refuses a mesh without nodes", () => {
    expect(() => generateTopology({ nodes: 0 })).toThrow(RangeError);
  });
});

describe("meshviewer loader", () => {
  it("loads the Freifunk Bremen snapshot: 891 nodes, 1 395 links", async () => {
    const t = await loadMeshviewer(FREIFUNK);
    expect(t.source).toBe("meshviewer");
    expect(t.nodes).toHaveLength(891);
    expect(t.links).toHaveLength(1395);
    expect(t.nodes.filter((n) => n.online)).toHaveLength(833);
    expect(t.links.filter((l) => l.kind === "wifi")).toHaveLength(606);
    expect(t.links.filter((l) => l.kind === "vpn")).toHaveLength(575);
    expectValidIdentities(t);
    // One big component of 833 nodes; 58 nodes have no link at all.
    const parts = components(t);
    expect(parts[0]).toHaveLength(833);
    expect(parts.slice(1).every((c) => c.length === 1)).toBe(true);
    // 755 nodes carry a location; one of them is an empty object, which is no location.
    expect(t.nodes.filter((n) => n.location)).toHaveLength(754);
  });

  it("maps a node and its link as the file states them", async () => {
    const t = await loadMeshviewer(FREIFUNK);
    const node = t.nodes.find((n) => n.id === "30b5c29edb76")!;
    expect(node.primaryMac).toBe("30:b5:c2:9e:db:76");
    expect(node.macs).toContain("1e:71:13:20:fa:e7");
    expect(node.location).toEqual({ latitude: 53.142, longitude: 8.909 });
    expect(node.hardware).toEqual({ model: "TP-Link TL-WR841N/ND v9", nproc: 1 });
    expect(node.firmware).toBe("2019.1.1+bremen3");
    const link = t.links.find((l) => t.nodes[l.a]!.id === "30b5c29edb76" && t.nodes[l.b]!.id === "52540062fe02")!;
    // 0.91764706 and 0.9843137 of 255.
    expect(link).toMatchObject({ kind: "vpn", tqAB: 234, tqBA: 251, aMac: "1e:71:13:20:fa:e7", bMac: "ba:f1:c8:52:bc:42" });
    for (const l of t.links) {
      for (const tq of [l.tqAB!, l.tqBA!]) expect(Number.isInteger(tq) && tq >= 0 && tq <= 255).toBe(true);
    }
    expect(Math.max(...adjacency(t).map((n) => n.size))).toBeLessThanOrEqual(256);
  });

  it("says what is wrong with a bad file", async () => {
    expect(() => parseMeshviewer({ nodes: [] }, "x.json")).toThrow(TopologyFileError);
    expect(() => parseMeshviewer({ nodes: [{ node_id: "has space" }], links: [] }, "x.json")).toThrow(/nodes\[0\].*node_id "has space"/);
    expect(() =>
      parseMeshviewer({ nodes: [{ node_id: "a", mac: "02:00:00:00:00:01" }], links: [{ source: "a", target: "b" }] }, "x.json"),
    ).toThrow(/links\[0\]: unknown target node "b"/);
    expect(() =>
      parseMeshviewer({ nodes: [{ node_id: "a", mac: "02:00:00:00:00:01" }, { node_id: "b", mac: "02:00:00:00:00:01" }], links: [] }, "x.json"),
    ).toThrow(/already belongs to node a/);
    await expect(loadMeshviewer("/nonexistent/meshviewer.json")).rejects.toThrow(TopologyFileError);
  });
});
