import { describe, expect, it } from "vitest";
import { evolveNode, KnowledgeBase, type MeshEvent } from "./model.ts";

const announced = (nodeId: string, mac: string): MeshEvent => ({
  type: "mesh.NodeAnnounced",
  payload: { nodeId, publicKey: new Uint8Array(32), primaryMac: mac, macs: [mac], hardware: { model: "TP-Link" }, software: { batmanAdv: "2022.3" } },
});
const links = (nodeId: string, neighbours: [string, number][]): MeshEvent => ({
  type: "mesh.LinkMetricsReported",
  payload: { nodeId, links: neighbours.map(([mac, tq]) => ({ neigh_address: mac, tq, last_seen_msecs: 10, loss: 0.02, latency_ms: 3 })) },
});
const heartbeat = (nodeId: string, uptime: number): MeshEvent => ({ type: "mesh.HeartbeatSent", payload: { nodeId, uptime } });
const ctx = (seq: number, occurredAt = seq * 1000) => ({ seq, occurredAt, keyId: "0123456789abcdef" });

/** given events (in stream order) → the knowledge base they build. */
const given = (...events: MeshEvent[]) => {
  const kb = new KnowledgeBase();
  events.forEach((e, i) => kb.apply(e, ctx(i + 1)));
  return kb;
};

describe("knowledge base", () => {
  it("given an announcement, the node is known with its hardware and key id, public key left out", () => {
    const kb = given(announced("a", "02:00:00:00:00:01"));
    expect(kb.node("a")).toMatchObject({ nodeId: "a", seq: 1, announced: { hardware: { model: "TP-Link" }, keyId: "0123456789abcdef" } });
    expect(kb.node("a")!.announced).not.toHaveProperty("publicKey");
  });

  it("given two announced nodes, a link report resolves the neighbour's MAC to its node id", () => {
    const kb = given(announced("a", "02:00:00:00:00:01"), announced("b", "02:00:00:00:00:02"), links("a", [["02:00:00:00:00:02", 230], ["02:00:00:00:00:99", 12]]));
    expect(kb.neighbours("a").map((l) => [l.target, l.tq])).toEqual([["b", 230], [undefined, 12]]);
    expect(kb.topology().links).toHaveLength(2);
  });

  it("when an event is replayed at or below the node's sequence, nothing changes", () => {
    const node = evolveNode(undefined, heartbeat("a", 10), ctx(5));
    expect(evolveNode(node, heartbeat("a", 99), ctx(5))).toBe(node);
    expect(evolveNode(node, heartbeat("a", 99), ctx(4))).toBe(node);
    expect(evolveNode(node, heartbeat("a", 11), ctx(6)).heartbeat?.uptime).toBe(11);
  });

  it("last seen never goes back in time when an older event arrives later", () => {
    const kb = new KnowledgeBase();
    kb.apply(heartbeat("a", 1), ctx(1, 5000));
    kb.apply(heartbeat("a", 2), ctx(2, 3000));
    expect(kb.node("a")!.lastSeen).toBe(5000);
  });

  it("a newer link table replaces the previous one (links that vanished are gone)", () => {
    const kb = given(links("a", [["02:00:00:00:00:02", 200], ["02:00:00:00:00:03", 100]]), links("a", [["02:00:00:00:00:03", 90]]));
    expect(kb.neighbours("a").map((l) => l.neigh_address)).toEqual(["02:00:00:00:00:03"]);
  });

  it("a link sample keeps exactly the fields it was reported with, optional ones absent when not reported", () => {
    const samples = [
      { neigh_address: "02:00:00:00:00:02", tq: 200, last_seen_msecs: 10, loss: 0.02, latency_ms: 3.5 },
      { neigh_address: "02:00:00:00:00:03", tq: 100, last_seen_msecs: 20, loss: 0.1, latency_ms: 7, hard_ifname: "mesh0" },
      { neigh_address: "02:00:00:00:00:04", tq: 90, last_seen_msecs: 30, loss: 0, latency_ms: 1, throughput: 5400 },
      { neigh_address: "02:00:00:00:00:05", tq: 80, last_seen_msecs: 40, loss: 0.5, latency_ms: 9, hard_ifname: "mesh1", throughput: 100.5 },
    ];
    const kb = given({ type: "mesh.LinkMetricsReported", payload: { nodeId: "a", links: samples } });
    expect(kb.node("a")!.links!.samples).toStrictEqual(samples);
  });

  it("a node that reported everything carries each part once, and a later event keeps the parts it does not touch", () => {
    const kb = given(
      announced("a", "02:00:00:00:00:01"),
      heartbeat("a", 5),
      { type: "mesh.NodeMetricsReported", payload: { nodeId: "a", cpu: 0.5, loadavg: 1, memory: { total: 100, available: 50 }, traffic: { rx_bytes: 1, tx_bytes: 2, forward_bytes: 3, mgmt_rx_bytes: 4, mgmt_tx_bytes: 5 } } },
      links("a", [["02:00:00:00:00:02", 230]]),
      heartbeat("a", 6),
    );
    const node = kb.node("a")!;
    expect(Object.keys(node)).toEqual(["nodeId", "seq", "lastSeen", "announced", "heartbeat", "metrics", "links"]);
    expect(node.heartbeat?.uptime).toBe(6);
    expect(node.metrics).toStrictEqual({ cpu: 0.5, loadavg: 1, memory: { total: 100, available: 50 }, traffic: { rx_bytes: 1, tx_bytes: 2, forward_bytes: 3, mgmt_rx_bytes: 4, mgmt_tx_bytes: 5 }, at: 3000 });
    expect(node.links?.samples.map((l) => l.tq)).toEqual([230]);
  });

  it("a node restored from storage keeps its MAC index", () => {
    const source = given(announced("b", "02:00:00:00:00:02"));
    const kb = new KnowledgeBase();
    kb.load(source.node("b")!);
    expect(kb.nodeForMac("02:00:00:00:00:02")).toBe("b");
  });
});
