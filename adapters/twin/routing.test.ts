import { describe, expect, it } from "vitest";
import { DELIVERY_THRESHOLD, hopDelivery, routeDelivery, UNICAST_ATTEMPTS } from "./routing.ts";
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
  it("is 1 for a healthy small mesh: every ordered pair connected and routed", () => {
    const twin = manualTwin({ topology: handmade(["A", "B", "C"], ["A-B", "B-C"]) });
    expect(twin.availability()).toEqual({ fraction: 1, pairs: 6, delivered: 6, unconnected: 0, sampled: false });
  });

  it("leaves out pairs the medium no longer connects (the only relay crashed): they are not failures", () => {
    const twin = manualTwin({ topology: handmade(["A", "B", "C"], ["A-B", "B-C"]) });
    twin.inject("crash", { kind: "node-crash", node: "B" });
    // Only alive nodes count, A and C, and nothing carries frames between them.
    expect(twin.availability()).toEqual({ fraction: 1, pairs: 0, delivered: 0, unconnected: 2, sampled: false });
  });

  it("fails a connected pair whose route, as batman-adv still believes it, crosses a node that is down", () => {
    const twin = manualTwin({ topology: handmade(["A", "B", "C", "D"], ["A-B", "B-D", "A-C", "C-D"]), seed: 3 });
    const before = twin.routeTopology();
    const via = twin.routes("D").get("A")!.path[1]!;
    twin.inject("crash", { kind: "node-crash", node: via });
    const lagging = twin.availability({ believed: before, explain: true });
    // A and D are still connected through the other relay, but the believed route goes through the dead one.
    expect(lagging.failures).toContainEqual({ source: "A", destination: "D", cause: "node-down", hop: ["A", via] });
    expect(twin.availability({ explain: true }).failures).not.toContainEqual(expect.objectContaining({ source: "A", destination: "D" }));
  });

  it(`counts a route down when, after ${UNICAST_ATTEMPTS} attempts per hop, less than ${DELIVERY_THRESHOLD * 100} % of unicast frames arrive`, () => {
    const twin = manualTwin({ topology: handmade(["A", "B", "C"], ["A-B", "B-C"]) });
    // +60 % loss: about 1 − 0.6^7 ≈ 97 % still arrives after the link layer's retries.
    twin.inject("deg", { kind: "link-degradation", link: ["B", "C"], loss: 0.6 });
    expect(hopDelivery(0.6)).toBeGreaterThan(DELIVERY_THRESHOLD);
    expect(twin.availability()).toMatchObject({ pairs: 6, delivered: 6 });
    twin.inject("deg", { kind: "link-degradation", link: ["B", "C"], loss: 0.9 });
    // A-B both ways still deliver; every pair that crosses B-C does not.
    const a = twin.availability({ explain: true });
    expect(a).toMatchObject({ pairs: 6, delivered: 2 });
    // Over one hop batman-adv still has the route and it loses frames; over two its TQ may fall below 1: no route at all.
    expect(a.failures).toContainEqual({ source: "B", destination: "C", cause: "lossy", hop: ["B", "C"] });
    for (const f of a.failures!) expect(["lossy", "no-route"]).toContain(f.cause);
    // A laxer threshold forgives the loss, not a missing route.
    const noRoute = a.failures!.filter((f) => f.cause === "no-route").length;
    expect(twin.availability({ threshold: 0.2 }).delivered).toBe(6 - noRoute);
  });

  it("never shrinks its denominator for a drop rule: a blocked link is a failure, not a missing pair", () => {
    const twin = manualTwin({ topology: handmade(["A", "B", "C"], ["A-B", "B-C"]) });
    const b = twin.nodes.find((n) => n.id === "B")!;
    twin.applyCommand(command("A", { kind: "quarantine", source: { kind: "mac", mac: b.primaryMac } }));
    const a = twin.availability({ explain: true });
    expect(a.pairs).toBe(6);
    expect(a.unconnected).toBe(0);
    expect(a.delivered).toBe(2);
    expect(a.failures!.filter((f) => f.cause === "xdp-blocked" || f.cause === "no-route")).toHaveLength(4);
  });

  it("moves with the routing commands: a node that hears nothing on its radio routes nothing, until the penalty is lifted", () => {
    const twin = manualTwin({ topology: handmade(["A", "B", "C", "D"], ["A-B", "A-C", "B-D", "C-D"]), seed: 2 });
    expect(twin.availability().fraction).toBe(1);
    // hop_penalty 255 on a hard interface: every OGM received there is worth nothing.
    twin.applyCommand(command("B", { kind: "hop-penalty", hardIf: "mesh0", value: 255 }));
    const cut = twin.availability({ explain: true });
    expect(cut.delivered).toBe(cut.pairs - 3);
    expect(cut.failures!.map((f) => [f.source, f.cause])).toEqual([
      ["B", "no-route"],
      ["B", "no-route"],
      ["B", "no-route"],
    ]);
    expect(twin.routes("D").get("A")!.path).toEqual(["A", "C", "D"]);
    twin.applyCommand(command("B", { kind: "hop-penalty", hardIf: "mesh0", value: 0 }));
    expect(twin.availability().fraction).toBe(1);
  });

  it("measures only pairs within the horizon it is given (batman-adv's reach when nothing is broken)", () => {
    const twin = manualTwin({ topology: handmade(["A", "B", "C"], ["A-B", "B-C"]) });
    const horizon = (d: string) => new Set(d === "C" ? ["B"] : ["A", "B", "C"].filter((n) => n !== d));
    expect(twin.availability({ horizon })).toMatchObject({ pairs: 5, delivered: 5 });
  });

  it("samples a big mesh deterministically: the same pairs on every call and every run of the seed", () => {
    const twin = manualTwin({ nodes: 150, seed: 4 });
    const a = twin.availability({ maxPairs: 100 });
    expect(a.sampled).toBe(true);
    expect(a.pairs + a.unconnected).toBe(100);
    expect(twin.availability({ maxPairs: 100 })).toEqual(a);
    expect(manualTwin({ nodes: 150, seed: 4 }).availability({ maxPairs: 100 })).toEqual(a);
    expect(a.fraction).toBeGreaterThan(0);
  });

  it("measures routes towards chosen destinations only, e.g. the observers (gateways)", () => {
    const twin = manualTwin({ nodes: 40, seed: 6 });
    const toGateways = twin.availability({ destinations: twin.observers });
    expect(toGateways.pairs + toGateways.unconnected).toBe(twin.observers.length * 39);
    twin.inject("crash", { kind: "node-crash", node: twin.observers[0]! });
    const after = twin.availability({ destinations: twin.observers });
    expect(after.pairs + after.unconnected).toBe((twin.observers.length - 1) * 38);
  });
});
