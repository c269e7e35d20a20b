import { describe, expect, it } from "vitest";
import { DELIVERY_THRESHOLD, routeDelivery } from "./routing.ts";
import { command, handmade } from "./testing.ts";
import { MeshTwin } from "./twin.ts";

const manualTwin = (topology: ConstructorParameters<typeof MeshTwin>[0]) => {
  const twin = new MeshTwin(topology);
  twin.startManual(() => undefined);
  twin.advanceTo(3_000);
  return twin;
};

describe("route topology", () => {
  it("holds every working direction with the TQ of its true loss, and each node's penalties", () => {
    const twin = manualTwin({ topology: handmade(["A", "B", "C"], ["A-B", "B-C"]) });
    twin.applyCommand(command("B", { kind: "hop-penalty", hardIf: "mesh0", value: 40 }));
    const topology = twin.routeTopology();
    expect(topology.links.map((l) => `${l.source}>${l.target}`).sort()).toEqual(["A>B", "B>A", "B>C", "C>B"]);
    for (const l of topology.links) {
      expect(l.hardIf).toBe("mesh0");
      expect(l.tq).toBeGreaterThan(200);
    }
    expect(topology.nodes!["B"]).toEqual({ hopPenalty: 30, interfaceHopPenalty: { mesh0: 40 }, wifiInterfaces: ["mesh0"] });
    const route = twin.routes("C").get("A")!;
    expect(route.path).toEqual(["A", "B", "C"]);
    expect(routeDelivery(route)).toBeGreaterThan(0.9);
  });
});

describe("availability", () => {
  it("is 1 for a healthy small mesh (every ordered pair), 0 once the only relay crashes", () => {
    const twin = manualTwin({ topology: handmade(["A", "B", "C"], ["A-B", "B-C"]) });
    expect(twin.availability()).toEqual({ fraction: 1, pairs: 6, delivered: 6, sampled: false });
    twin.inject("crash", { kind: "node-crash", node: "B" });
    // Only alive nodes count: A and C, and neither reaches the other.
    expect(twin.availability()).toEqual({ fraction: 0, pairs: 2, delivered: 0, sampled: false });
  });

  it(`counts a route that delivers less than ${DELIVERY_THRESHOLD * 100} % as down`, () => {
    const twin = manualTwin({ topology: handmade(["A", "B", "C"], ["A-B", "B-C"]) });
    twin.inject("deg", { kind: "link-degradation", link: ["B", "C"], loss: 0.6 });
    // A-B both ways still deliver; every pair that crosses B-C does not.
    expect(twin.availability()).toMatchObject({ pairs: 6, delivered: 2 });
    expect(twin.availability({ threshold: 0.2 }).delivered).toBe(6);
  });

  it("moves with the routing commands: a node that hears nothing on its radio routes nothing, until the penalty is lifted", () => {
    const twin = manualTwin({ topology: handmade(["A", "B", "C", "D"], ["A-B", "A-C", "B-D", "C-D"]), seed: 2 });
    expect(twin.availability().fraction).toBe(1);
    // hop_penalty 255 on a hard interface: every OGM received there is worth nothing.
    twin.applyCommand(command("B", { kind: "hop-penalty", hardIf: "mesh0", value: 255 }));
    const cut = twin.availability();
    expect(cut.delivered).toBe(cut.pairs - 3);
    expect(twin.routes("D").get("A")!.path).toEqual(["A", "C", "D"]);
    twin.applyCommand(command("B", { kind: "hop-penalty", hardIf: "mesh0", value: 0 }));
    expect(twin.availability().fraction).toBe(1);
  });

  it("samples a big mesh deterministically: the same pairs on every call and every run of the seed", () => {
    const twin = manualTwin({ nodes: 150, seed: 4 });
    const a = twin.availability({ maxPairs: 100 });
    expect(a.sampled).toBe(true);
    expect(a.pairs).toBe(100);
    expect(twin.availability({ maxPairs: 100 })).toEqual(a);
    expect(manualTwin({ nodes: 150, seed: 4 }).availability({ maxPairs: 100 })).toEqual(a);
    expect(a.fraction).toBeGreaterThan(0);
  });

  it("measures routes towards chosen destinations only, e.g. the observers (gateways)", () => {
    const twin = manualTwin({ nodes: 40, seed: 6 });
    const toGateways = twin.availability({ destinations: twin.observers });
    expect(toGateways.pairs).toBe(twin.observers.length * 39);
    twin.inject("crash", { kind: "node-crash", node: twin.observers[0]! });
    expect(twin.availability({ destinations: twin.observers }).pairs).toBe((twin.observers.length - 1) * 38);
  });
});
