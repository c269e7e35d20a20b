import { describe, expect, it } from "vitest";
import { MeshTwin } from "./twin.ts";
import { command, handmade, recorder } from "./testing.ts";
import { FLOOD_MIN_EXTRA_BYTES_PER_SECOND, MEAN_PACKET_BYTES } from "./node.ts";

/** A diamond: A reaches D through B or through C; O is the observer next to A. */
const diamond = () => handmade(["O", "A", "B", "C", "D"], ["O-A", "A-B", "A-C", "B-D", "C-D"], { gateways: ["O"] });

const manualTwin = (topology = diamond(), seed = 1) => {
  const twin = new MeshTwin({ topology, seed });
  const rec = recorder();
  twin.startManual(rec.sink);
  twin.advanceTo(5_000);
  return { twin, rec };
};

const via = (twin: MeshTwin, from: string, to: string) => twin.routes(to).get(from)?.path;

describe("hop-penalty", () => {
  it("given a mesh-wide hop_penalty raised on B, then A's route to D moves through C, and back when C's is raised instead", () => {
    const { twin } = manualTwin();
    const raiseB = twin.applyCommand(command("B", { kind: "hop-penalty", value: 200 }))!;
    expect(raiseB.outcome).toMatchObject({
      type: "heal.CommandApplied",
      payload: { targetNodeId: "B", exitCode: 0, incidentId: "inc-1", detail: expect.stringContaining("hop_penalty 30 -> 200") },
    });
    expect(twin.nodeState("B").hopPenalty).toBe(200);
    expect(via(twin, "A", "D")).toEqual(["A", "C", "D"]);

    twin.applyCommand(command("B", { kind: "hop-penalty", value: 30 }));
    twin.applyCommand(command("C", { kind: "hop-penalty", value: 200 }));
    expect(via(twin, "A", "D")).toEqual(["A", "B", "D"]);
  });

  it("given a per-interface hop_penalty on A's radio towards B and C, then A's OGMs from there weigh less; an unknown interface fails as batctl does", () => {
    const { twin } = manualTwin();
    const before = twin.routes("D").get("A")!.tq;
    const applied = twin.applyCommand(command("A", { kind: "hop-penalty", hardIf: "mesh0", value: 100 }))!;
    expect(applied.outcome.type).toBe("heal.CommandApplied");
    expect(twin.nodeState("A").interfaceHopPenalty).toEqual({ mesh0: 100 });
    expect(twin.routes("D").get("A")!.tq).toBeLessThan(before);

    const failed = twin.applyCommand(command("A", { kind: "hop-penalty", hardIf: "mesh9", value: 100 }))!;
    expect(failed.outcome).toMatchObject({
      type: "heal.CommandFailed",
      payload: { exitCode: 1, stderr: "Error - invalid hardif mesh9: No such device\n", targetNodeId: "A" },
    });
    expect(twin.nodeState("A").interfaceHopPenalty).toEqual({ mesh0: 100 });
  });
});

describe("gateway", () => {
  it("sets the node's gw_mode; the observer starts as server, others as client", () => {
    const { twin } = manualTwin();
    expect(twin.nodeState("O").gateway).toEqual({ mode: "server" });
    expect(twin.nodeState("C").gateway).toEqual({ mode: "client" });
    const r = twin.applyCommand(command("C", { kind: "gateway", mode: "server", downKbps: 50_000, upKbps: 10_000 }))!;
    expect(r.outcome.payload).toMatchObject({ exitCode: 0, detail: expect.stringContaining("gw_mode server 50000kbit/10000kbit") });
    expect(twin.nodeState("C").gateway).toEqual({ mode: "server", downKbps: 50_000, upKbps: 10_000 });
  });
});

describe("quarantine and release", () => {
  it("given B and C quarantine D's MAC, then D has no working link, is not heard, and no route reaches it; release brings it back", () => {
    const { twin, rec } = manualTwin();
    const mac = twin.nodes.find((n) => n.id === "D")!.primaryMac;
    for (const at of ["B", "C"]) {
      const r = twin.applyCommand(command(at, { kind: "quarantine", source: { kind: "mac", mac } }))!;
      expect(r.outcome.payload).toMatchObject({ exitCode: 0, detail: expect.stringContaining(`${mac} (D)`) });
    }
    expect(twin.isHeard("D")).toBe(false);
    expect(twin.routes("D").size).toBe(0);
    expect(twin.routeTopology().links.filter((l) => l.source === "D" || l.target === "D")).toEqual([]);
    const heardBefore = rec.of("D").length;
    twin.advanceTo(10_000);
    expect(rec.of("D")).toHaveLength(heardBefore);
    // The enforcing node reports D's link dead: it drops D's OGMs.
    const bLinks = rec.of("B", "mesh.LinkMetricsReported").at(-1)!.payload as { links: { neigh_address: string; tq: number; last_seen_msecs: number }[] };
    expect(bLinks.links.find((l) => l.neigh_address === mac)!.last_seen_msecs).toBeGreaterThanOrEqual(3_000);

    const release = twin.applyCommand(command("B", { kind: "release", source: { kind: "mac", mac } }))!;
    expect(release.outcome.payload).toMatchObject({ exitCode: 0, detail: expect.stringContaining("removed the drop rule") });
    expect(twin.isHeard("D")).toBe(true);
    expect(via(twin, "A", "D")).toEqual(["A", "B", "D"]);
    expect(twin.nodeState("C").quarantined).toEqual([{ kind: "mac", mac }]);
  });

  it("installs an IP rule without touching the mesh (the twin carries no IP traffic)", () => {
    const { twin } = manualTwin();
    const before = JSON.stringify(twin.routeTopology());
    const r = twin.applyCommand(command("B", { kind: "quarantine", source: { kind: "ipv4", address: "10.0.0.7" } }))!;
    expect(r.outcome.type).toBe("heal.CommandApplied");
    expect(JSON.stringify(twin.routeTopology())).toBe(before);
    expect(twin.applyCommand(command("B", { kind: "release", source: { kind: "ipv4", address: "10.0.0.9" } }))!.outcome.payload).toMatchObject({
      detail: expect.stringContaining("nothing to release"),
    });
  });
});

describe("rate-limit", () => {
  it("given D floods, then B sees at least 20× its normal rate, and 1 Mbit/s more, until B caps D's MAC, then exactly the cap; C is not capped", () => {
    const { twin } = manualTwin();
    const normal = twin.trafficSeenPps("D", "B");
    twin.inject("flood", { kind: "byzantine", node: "D", behaviour: "flood" });
    const flooded = twin.trafficSeenPps("D", "B");
    expect(flooded).toBeGreaterThanOrEqual(20 * normal - 1e-9);
    expect(flooded).toBeGreaterThanOrEqual(normal + FLOOD_MIN_EXTRA_BYTES_PER_SECOND / MEAN_PACKET_BYTES - 1e-9);
    const mac = twin.nodes.find((n) => n.id === "D")!.primaryMac;
    const r = twin.applyCommand(command("B", { kind: "rate-limit", source: { kind: "mac", mac }, pps: 50, burst: 50 }))!;
    expect(r.outcome.payload).toMatchObject({ exitCode: 0, detail: expect.stringContaining("rate limit 50 pps") });
    expect(twin.trafficSeenPps("D", "B")).toBe(50);
    expect(twin.trafficSeenPps("D", "C")).toBeCloseTo(flooded, 6);
  });
});

describe("restart-interface", () => {
  it("takes the links on the interface down for 1-2 s, then they work again; an unknown interface fails as ip does", () => {
    const { twin } = manualTwin();
    const r = twin.applyCommand(command("B", { kind: "restart-interface", ifname: "mesh0" }))!;
    expect(r.outcome.payload).toMatchObject({ exitCode: 0, detail: expect.stringMatching(/ip link set dev mesh0 down .* re-learn after 1\d{3} ms/) });
    const touchesB = () => twin.routeTopology().links.filter((l) => l.source === "B" || l.target === "B");
    expect(touchesB()).toEqual([]);
    twin.advanceTo(5_000 + 999);
    expect(touchesB()).toEqual([]);
    twin.advanceTo(5_000 + 2_000);
    expect(touchesB().length).toBe(4);

    const failed = twin.applyCommand(command("B", { kind: "restart-interface", ifname: "mesh9" }))!;
    expect(failed.outcome).toMatchObject({ type: "heal.CommandFailed", payload: { exitCode: 1, stderr: 'Cannot find device "mesh9"\n' } });
  });
});

describe("answering", () => {
  it("answers a command id once: the same id again returns the first outcome, marked repeated, and changes nothing", () => {
    const { twin } = manualTwin();
    const first = twin.applyCommand(command("B", { kind: "hop-penalty", value: 90 }, "same-id"))!;
    twin.advanceTo(6_000);
    const again = twin.applyCommand(command("B", { kind: "hop-penalty", value: 120 }, "same-id"))!;
    expect(first.repeated).toBe(false);
    expect(again.repeated).toBe(true);
    expect(again.outcome).toEqual(first.outcome);
    expect(twin.nodeState("B").hopPenalty).toBe(90);
  });

  it("gets no answer from a node that is down, hung or cut off; a node back up answers", () => {
    const { twin } = manualTwin();
    twin.failNode("B");
    expect(twin.applyCommand(command("B", { kind: "hop-penalty", value: 60 }))).toBeUndefined();
    twin.recoverNode("B");
    twin.inject("hang", { kind: "node-hang", node: "B" });
    expect(twin.applyCommand(command("B", { kind: "hop-penalty", value: 60 }))).toBeUndefined();
    twin.clear("hang");
    twin.inject("cut", { kind: "partition", nodes: ["B"] });
    expect(twin.applyCommand(command("B", { kind: "hop-penalty", value: 60 }))).toBeUndefined();
    twin.clear("cut");
    expect(twin.applyCommand(command("B", { kind: "hop-penalty", value: 60 }))?.outcome.payload).toMatchObject({ exitCode: 0, appliedAt: 5_000 });
    expect(twin.nodeState("B").hopPenalty).toBe(60);
  });

  it("throws for a node the twin does not have", () => {
    const { twin } = manualTwin();
    expect(() => twin.applyCommand(command("Z", { kind: "hop-penalty", value: 60 }))).toThrow(/no node Z/);
  });
});
