import { ScenarioError, type Fault } from "../../domains/chaos/index.ts";
import { Rng } from "../../domains/kernel/rng.ts";
import { distanceM, type MeshTwin } from "../twin/index.ts";
import { TargetPicker } from "./picks.ts";
import type { SimulatedFault } from "./simulate.ts";

/**
 * A long fault schedule whose faults overlap in time but never in space: a new fault starts
 * every `everyMs` and lasts `faultMs`, and its target is picked away from every fault still
 * active (or cleared less than `reserveAfterMs` ago, while healing actions and the mesh's own
 * recovery may linger there): neither its nodes nor their neighbours touch another such
 * fault's nodes or their neighbours. So each incident, repair and lost route is attributable
 * to one fault, as in a run of one fault at a time, at a fraction of the simulated time.
 */

/** The fault kinds a schedule mixes; Byzantine behaviours count as kinds of their own. */
export type ScheduledKind =
  | "node-crash"
  | "node-hang"
  | "link-degradation"
  | "link-flap"
  | "partition"
  | "byzantine-flood"
  | "byzantine-lie"
  | "byzantine-bad-signatures"
  | "jamming";

export interface DisjointScheduleOptions {
  /** How many faults of each kind, in any order; the schedule interleaves them (seeded). */
  readonly mix: Readonly<Partial<Record<ScheduledKind, number>>>;
  /** A new fault starts this often, ms. */
  readonly everyMs: number;
  /** Each fault lasts this long, ms. */
  readonly faultMs: number;
  /** A cleared fault's nodes stay out of bounds for this long, ms. Default 10 000. */
  readonly reserveAfterMs?: number;
  /** Link degradation: extra loss and latency. Default 0.5 and 100 ms. */
  readonly degradation?: { readonly loss: number; readonly latencyMs: number };
  /** Jamming: radius and loss. Default 80 m and 0.7. */
  readonly jamming?: { readonly radiusM: number; readonly loss: number };
}

export interface ScheduledFault extends SimulatedFault {
  /** What the schedule calls it (Byzantine behaviours apart). */
  readonly kind: ScheduledKind;
  /** The nodes the fault breaks (a jamming fault: every node in its region). */
  readonly nodes: readonly string[];
}

/** Picks tried for one fault before the mesh counts as too crowded for the schedule. */
const ATTEMPTS = 40;

export const disjointSchedule = (twin: MeshTwin, options: DisjointScheduleOptions): ScheduledFault[] => {
  const picker = new TargetPicker(twin, { reuse: true, stream: 0x73636864 });
  const rng = new Rng(twin.seed, 0x6d697873);
  const kinds: ScheduledKind[] = [];
  for (const [kind, count] of Object.entries(options.mix) as [ScheduledKind, number][]) for (let i = 0; i < count; i++) kinds.push(kind);
  // Fisher–Yates, seeded: kinds spread over the run instead of coming in blocks.
  for (let i = kinds.length - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    [kinds[i], kinds[j]] = [kinds[j]!, kinds[i]!];
  }
  const reserveAfterMs = options.reserveAfterMs ?? 10_000;
  const degradation = options.degradation ?? { loss: 0.5, latencyMs: 100 };
  const jamming = options.jamming ?? { radiusM: 80, loss: 0.7 };
  const located = (twin.topology?.nodes ?? []).filter((n) => n.online && n.location !== undefined);
  const region = (center: { latitude: number; longitude: number }) => located.filter((n) => distanceM(n.location!, center) <= jamming.radiusM).map((n) => n.id);
  const withNeighbours = (nodes: readonly string[]): Set<string> => {
    const out = new Set(nodes);
    for (const n of nodes) for (const m of picker.neighbours(n)) out.add(m);
    return out;
  };

  const out: ScheduledFault[] = [];
  kinds.forEach((kind, i) => {
    const atMs = i * options.everyMs;
    // Out of bounds: the nodes of live faults, their neighbours, and the neighbours of those
    // (a new fault's neighbours must not touch an old fault's neighbours either).
    const live = out.filter((f) => f.atMs <= atMs && atMs < (f.clearAtMs ?? Infinity) + reserveAfterMs);
    const zone = withNeighbours([...withNeighbours(live.flatMap((f) => f.nodes))]);
    picker.avoid = zone;
    for (let attempt = 0; ; attempt++) {
      if (attempt >= ATTEMPTS) throw new ScenarioError(`fault ${i} (${kind}): no target apart from the ${live.length} live fault(s) in this mesh; start faults less often`);
      const picked = pick(kind, picker, degradation, jamming, region);
      if (picked === undefined) continue;
      // Every pick avoids the zone; a jamming region (or a partition's cut-off leaves) may still reach into it.
      if ([...withNeighbours(picked.nodes)].some((n) => zone.has(n))) continue;
      if (kind === "jamming" && picked.nodes.some((n) => picker.isObserver(n))) continue;
      out.push({ faultId: `f${String(i).padStart(3, "0")}-${kind}`, kind, fault: picked.fault, nodes: picked.nodes, atMs, clearAtMs: atMs + options.faultMs });
      break;
    }
  });
  return out;
};

const pick = (
  kind: ScheduledKind,
  picker: TargetPicker,
  degradation: { readonly loss: number; readonly latencyMs: number },
  jamming: { readonly radiusM: number; readonly loss: number },
  region: (center: { latitude: number; longitude: number }) => string[],
): { fault: Fault; nodes: string[] } | undefined => {
  switch (kind) {
    case "node-crash":
    case "node-hang": {
      const node = picker.inner();
      return { fault: { kind, node }, nodes: [node] };
    }
    case "link-degradation": {
      const link = picker.detourLink();
      return { fault: { kind, link, loss: degradation.loss, latencyMs: degradation.latencyMs }, nodes: [...link] };
    }
    case "link-flap": {
      const link = picker.detourLink();
      return { fault: { kind, link, periodMs: 3_000, downMs: 1_500 }, nodes: [...link] };
    }
    case "partition": {
      const nodes = picker.cluster();
      return { fault: { kind, nodes }, nodes };
    }
    case "byzantine-flood":
    case "byzantine-lie":
    case "byzantine-bad-signatures": {
      const node = picker.inner();
      const behaviour = kind === "byzantine-flood" ? "flood" : kind === "byzantine-lie" ? "lie" : "bad-signatures";
      return { fault: { kind: "byzantine", node, behaviour }, nodes: [node] };
    }
    case "jamming": {
      const fault = picker.resolve({ kind: "jamming", center: "@near:@inner", radiusM: jamming.radiusM, loss: jamming.loss });
      if (fault.kind !== "jamming") return undefined;
      const nodes = region(fault.center);
      return nodes.length === 0 ? undefined : { fault, nodes };
    }
  }
};
