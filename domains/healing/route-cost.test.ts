import { describe, expect, it } from "vitest";
import {
  applyHopPenalty,
  bestRoute,
  bestRoutesTo,
  DEFAULT_HOP_PENALTY,
  hopPenaltyToAvoid,
  pathTq,
  receivedTq,
  routeCheckDestinations,
  type RouteLink,
  type RouteTopology,
} from "./route-cost.ts";

const link = (source: string, target: string, tq: number, hardIf?: string): RouteLink =>
  hardIf === undefined ? { source, target, tq } : { source, target, tq, hardIf };

describe("batman-adv IV arithmetic", () => {
  it("the mesh-wide hop penalty defaults to batman-adv's 30", () => {
    expect(DEFAULT_HOP_PENALTY).toBe(30);
  });

  it("a hop penalty scales TQ by (255 - penalty) / 255, truncated", () => {
    expect(applyHopPenalty(255, 30)).toBe(225);
    expect(applyHopPenalty(200, 30)).toBe(176); // 200·225/255 = 176.47
    expect(applyHopPenalty(100, 15)).toBe(94); // 100·240/255 = 94.1
    expect(applyHopPenalty(255, 0)).toBe(255);
    expect(applyHopPenalty(255, 255)).toBe(0);
  });

  it("a received OGM's TQ is the product of OGM TQ, local TQ, asymmetry and interface factors over 255³", () => {
    expect(receivedTq({ ogmTq: 255, tqOwn: 200 })).toBe(200);
    expect(receivedTq({ ogmTq: 225, tqOwn: 200 })).toBe(176); // 225·200/255 = 176.47
    expect(receivedTq({ ogmTq: 200, tqOwn: 255, tqAsymPenalty: 128 })).toBe(100); // 200·128/255 = 100.4
    expect(receivedTq({ ogmTq: 255, tqOwn: 255, interfaceHopPenalty: 55 })).toBe(200);
  });

  it("an OGM re-sent on the WiFi interface it came in on pays the hop penalty once more", () => {
    expect(receivedTq({ ogmTq: 255, tqOwn: 255, sameWifiInterface: true })).toBe(225);
    expect(receivedTq({ ogmTq: 255, tqOwn: 255, sameWifiInterface: true, hopPenalty: 15 })).toBe(240);
  });

  it("values outside 0-255 are rejected", () => {
    expect(() => applyHopPenalty(256, 30)).toThrow(RangeError);
    expect(() => receivedTq({ ogmTq: 255, tqOwn: 1.5 })).toThrow(RangeError);
  });
});

describe("path TQ", () => {
  const chain: RouteTopology = { links: [link("A", "B", 200), link("B", "C", 200)] };

  it("given A->B->C at TQ 200 each, A's TQ to C is 138: 255 -> 200 at B, 176 after B's hop penalty, 138 at A", () => {
    expect(pathTq(chain, ["B", "C"])).toBe(200);
    expect(pathTq(chain, ["A", "B", "C"])).toBe(138);
  });

  it("the source's and destination's own hop penalties do not count, the forwarder's does", () => {
    expect(pathTq({ ...chain, nodes: { A: { hopPenalty: 255 }, C: { hopPenalty: 255 } } }, ["A", "B", "C"])).toBe(138);
    expect(pathTq({ ...chain, nodes: { B: { hopPenalty: 0 } } }, ["A", "B", "C"])).toBe(156); // 200·200/255
    expect(pathTq(chain, ["A", "B", "C"], { hopPenalty: 15 })).toBe(147); // 188 at B after 15, then ·200/255
  });

  it("a per-interface hop penalty lowers what arrives on that interface", () => {
    const t: RouteTopology = { links: [link("A", "B", 255, "mesh0")], nodes: { A: { interfaceHopPenalty: { mesh0: 55 } } } };
    expect(pathTq(t, ["A", "B"])).toBe(200);
  });

  it("a single-radio WiFi forwarder pays the hop penalty twice", () => {
    const t: RouteTopology = {
      links: [link("A", "B", 200, "wlan0"), link("B", "A", 200, "wlan0"), link("B", "C", 200, "wlan0")],
      nodes: { B: { wifiInterfaces: ["wlan0"] } },
    };
    // at B: 255·200·225/255² = 176, after hop penalty 155; at A: 155·200/255 = 121
    expect(pathTq(t, ["A", "B", "C"])).toBe(121);
  });

  it("a path over a missing link has TQ 0", () => {
    expect(pathTq(chain, ["A", "C"])).toBe(0);
  });
});

describe("best route", () => {
  it("given a direct link better than the two-hop path, the direct link wins", () => {
    const t: RouteTopology = { links: [link("A", "B", 200), link("B", "C", 200), link("A", "C", 150)] };
    expect(bestRoute(t, "A", "C")).toMatchObject({ tq: 150, path: ["A", "C"] });
  });

  it("given a direct link worse than the two-hop path, the two-hop path wins", () => {
    const t: RouteTopology = { links: [link("A", "B", 200), link("B", "C", 200), link("A", "C", 130)] };
    expect(bestRoute(t, "A", "C")).toMatchObject({ tq: 138, path: ["A", "B", "C"] });
  });

  it("every node gets a route, and each route's TQ is its path's TQ", () => {
    const t: RouteTopology = {
      links: [
        link("A", "B", 250, "wlan0"), link("B", "A", 250, "wlan0"), link("B", "C", 240, "wlan0"), link("C", "B", 240, "wlan0"),
        link("A", "D", 180, "eth0"), link("D", "A", 180, "eth0"), link("D", "C", 230, "wlan0"), link("C", "D", 230, "wlan0"),
      ],
      nodes: { A: { wifiInterfaces: ["wlan0"] }, B: { wifiInterfaces: ["wlan0"] }, C: { wifiInterfaces: ["wlan0"] }, D: { wifiInterfaces: ["wlan0"] } },
    };
    const routes = bestRoutesTo(t, "C");
    expect([...routes.keys()].sort()).toEqual(["A", "B", "D"]);
    for (const r of routes.values()) expect(pathTq(t, r.path)).toBe(r.tq);
    // via B: B gets 240, re-sends on wlan0 (same WiFi interface) -> 240·225/255 = 211, penalty -> 186, A: 186·250/255 = 182
    // via D: D gets 230 on wlan0, re-sends on eth0 -> 230, penalty -> 202, A: 202·180/255 = 142
    expect(routes.get("A")).toMatchObject({ tq: 182, path: ["A", "B", "C"] });
  });

  it("a node whose end-to-end TQ truncates to 0 has no route", () => {
    const t: RouteTopology = { links: [link("A", "B", 1), link("B", "C", 1)] };
    expect(bestRoute(t, "B", "C")?.tq).toBe(1);
    expect(bestRoute(t, "A", "C")).toBeUndefined();
  });
});

describe("hop penalty to avoid a link", () => {
  // A reaches D via B (TQ 215) or via C (TQ 138), on separate interfaces.
  const square: RouteTopology = {
    links: [link("A", "B", 250, "mesh0"), link("B", "D", 250), link("A", "C", 200, "mesh1"), link("C", "D", 200)],
  };

  it("given routes over A->B, the smallest interface penalty on A's mesh0 that moves them to C is 92", () => {
    expect(bestRoute(square, "A", "D")).toMatchObject({ tq: 215, path: ["A", "B", "D"] });
    const avoid = hopPenaltyToAvoid(square, "A", "B", { destinations: ["D"] });
    // at 92: 220·250·163/255² = 137 < 138; at 91 the two tie at 138 and B stays
    expect(avoid).toEqual({
      node: "A", neighbour: "B", hardIfs: ["mesh0"], currentHopPenalty: 0, hopPenalty: 92, alsoPenalised: [], lostRoutes: [],
    });
    const healed: RouteTopology = { ...square, nodes: { A: { interfaceHopPenalty: { mesh0: 92 } } } };
    expect(bestRoute(healed, "A", "D")?.path).toEqual(["A", "C", "D"]);
  });

  it("when the link is the only way to a destination, the answer reports the routes it would cut", () => {
    const avoid = hopPenaltyToAvoid(square, "A", "B");
    // at 254 the interface factor is 1: 255·250·1/255² truncates to 0, so A has no route to B at all
    expect(avoid?.hopPenalty).toBe(254);
    expect(avoid?.lostRoutes).toEqual([{ source: "A", destination: "B" }]);
  });

  it("other neighbours on the same interface are named, since they are penalised too", () => {
    const t: RouteTopology = { links: [...square.links, link("A", "E", 200, "mesh0")] };
    expect(hopPenaltyToAvoid(t, "A", "B", { destinations: ["D"] })?.alsoPenalised).toEqual(["E"]);
  });

  it("when no route uses the link, nothing changes; an unknown link has no answer", () => {
    expect(hopPenaltyToAvoid(square, "A", "C", { destinations: ["D"] })).toMatchObject({ hopPenalty: 0, lostRoutes: [] });
    expect(hopPenaltyToAvoid(square, "D", "A")).toBeUndefined();
  });
});

describe("destinations route checks look at", () => {
  // A line n00 - n01 - ... - n59, both directions at TQ 200.
  const names = Array.from({ length: 60 }, (_, i) => `n${String(i).padStart(2, "0")}`);
  const line: RouteTopology = { links: names.slice(1).flatMap((n, i) => [link(names[i]!, n, 200), link(n, names[i]!, 200)]) };

  it("given a mesh no larger than the count, then every node", () => {
    expect(routeCheckDestinations(line, ["n05"], 60)).toEqual(names);
  });

  it("given a larger mesh, then half nearest the finding and half from the farthest quarter of the mesh", () => {
    const chosen = routeCheckDestinations(line, ["n10", "n11"], 24);
    expect(chosen).toHaveLength(24);
    // The 12 nearest: n05..n16 (ties at equal distance go to the breadth-first order).
    expect(chosen.filter((n) => Math.abs(Number(n.slice(1)) - 10.5) <= 6)).toHaveLength(12);
    // The farthest quarter from n10/n11 is n45..n59: 12 of its 15 nodes, spread from the far end.
    const far = chosen.filter((n) => Number(n.slice(1)) >= 45);
    expect(far).toHaveLength(12);
    expect(far).toContain("n59");
  });

  it("given the finding's nodes in either order, then the same destinations", () => {
    expect(routeCheckDestinations(line, ["n31", "n30"], 24)).toEqual(routeCheckDestinations(line, ["n30", "n31"], 24));
  });
});
