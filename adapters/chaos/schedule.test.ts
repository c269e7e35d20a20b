import { describe, expect, it } from "vitest";
import { ScenarioError } from "../../domains/chaos/index.ts";
import { distanceM, MeshTwin } from "../twin/index.ts";
import { disjointSchedule, type ScheduledFault } from "./schedule.ts";

const twin = () => new MeshTwin({ nodes: 300, seed: 2 });
const mix = { "node-crash": 8, "link-degradation": 6, partition: 2, "byzantine-flood": 2, jamming: 2 } as const;
const options = { mix, everyMs: 3_000, faultMs: 12_000 };

/** A fault's nodes and their neighbours. */
const zone = (t: MeshTwin, f: ScheduledFault): Set<string> => {
  const neighbours = new Map(t.nodes.map((n) => [n.id, n.neighbours]));
  return new Set(f.nodes.flatMap((n) => [n, ...(neighbours.get(n) ?? [])]));
};

describe("a disjoint fault schedule", () => {
  it("given a mix, then it holds that many faults of each kind, one starting every everyMs and each lasting faultMs, kinds interleaved", () => {
    const schedule = disjointSchedule(twin(), options);
    const counts: Record<string, number> = {};
    for (const f of schedule) counts[f.kind] = (counts[f.kind] ?? 0) + 1;
    expect(counts).toEqual(mix);
    schedule.forEach((f, i) => {
      expect(f.atMs).toBe(i * 3_000);
      expect(f.clearAtMs).toBe(i * 3_000 + 12_000);
    });
    // Not in blocks: the first eight are not all crashes.
    expect(new Set(schedule.slice(0, 8).map((f) => f.kind)).size).toBeGreaterThan(1);
  });

  it("keeps faults that overlap in time apart in space: no fault's nodes or neighbours touch a live one's", () => {
    const t = twin();
    const schedule = disjointSchedule(t, options);
    for (const [i, f] of schedule.entries())
      for (const g of schedule.slice(0, i)) {
        if (g.clearAtMs! + 10_000 <= f.atMs) continue;
        const theirs = zone(t, g);
        expect([...zone(t, f)].filter((n) => theirs.has(n))).toEqual([]);
      }
  });

  it("names every node a fault breaks: a jamming fault's region, and never an observer's uplink", () => {
    const t = twin();
    for (const f of disjointSchedule(t, options).filter((x) => x.fault.kind === "jamming")) {
      if (f.fault.kind !== "jamming") continue;
      const { center, radiusM } = f.fault;
      const inside = t.topology!.nodes.filter((n) => n.online && n.location && distanceM(n.location, center) <= radiusM).map((n) => n.id);
      expect([...f.nodes].sort()).toEqual(inside.sort());
      expect(f.nodes.some((n) => t.observers.includes(n))).toBe(false);
    }
  });

  it("is the same for the same seed", () => {
    expect(disjointSchedule(twin(), options)).toEqual(disjointSchedule(twin(), options));
  });

  it("given a mesh too small for that many faults at once, then it says so", () => {
    expect(() => disjointSchedule(new MeshTwin({ nodes: 20, seed: 2 }), { mix: { "node-crash": 10 }, everyMs: 100, faultMs: 12_000 })).toThrow(ScenarioError);
  });
});
