/**
 * Health ratio: delivered capacity over required capacity, per node and for
 * the mesh, and the four states the plan acts on.
 *
 * Definitions (units kbit/s, from what the knowledge base holds):
 *
 * - Delivered capacity of a directed link, as its reporting node sees it:
 *   - with a BATMAN_V `throughput` estimate: `throughput × (1 - loss)`: the
 *     throughput is the link's rate estimate, the measured loss is what is lost
 *     on top of it;
 *   - without one (BATMAN_IV reports only TQ): `nominalLinkKbps × tq / 255`.
 *     TQ already is batman-adv's delivery probability, so loss is not applied
 *     a second time.
 * - Delivered capacity of a node: the sum over its reported links (its link table).
 * - Required capacity of a node: its observed traffic rate (see
 *   `trafficDemandKbps`: rx + tx + forwarded + management bytes over the
 *   reporting interval), never less than `minDemandKbps`, so an idle node has a
 *   finite ratio and a node with no links and no traffic is still `critical`.
 * - Node ratio: delivered / required.
 * - Mesh ratio: Σ delivered / Σ required over the nodes (the demand-weighted
 *   mean of node ratios). Not the mean of ratios, where a few idle nodes with
 *   huge ratios would outweigh loaded ones; not the minimum, which is one node's
 *   story: the worst node is reported beside it, and the plan heals per node.
 *   Each physical link appears once per direction, as each end reports it, and
 *   forwarded traffic counts at every hop on the demand side too.
 *
 * States (the seed's thresholds; exactly at a threshold is the lower state):
 * ratio > 1.4 `surplus` (optimize: scale down, cache), > 1.0 `healthy`
 * (maintain), > 0.8 `strained` (watch closely), otherwise `critical` (heal
 * aggressively).
 */
import type { LinkSample } from "../mesh/events.ts";

export type HealthState = "surplus" | "healthy" | "strained" | "critical";
export type HealthDirective = "optimize" | "maintain" | "watch" | "heal";

/** Lower bounds, exclusive: a ratio must be strictly above a bound to reach its state. */
export const healthThresholds = { surplus: 1.4, healthy: 1.0, strained: 0.8 } as const;

export const healthDirective: Readonly<Record<HealthState, HealthDirective>> = {
  surplus: "optimize",
  healthy: "maintain",
  strained: "watch",
  critical: "heal",
};

/**
 * The seed's names for the same states, for readers of the seed document only:
 * EUPHORIC > 1.4, HARMONIC > 1.0, CONTEMPLATIVE > 0.8, MYSTICAL below.
 * Code and events use the honest names.
 */
export const seedAliases: Readonly<Record<"EUPHORIC" | "HARMONIC" | "CONTEMPLATIVE" | "MYSTICAL", HealthState>> = {
  EUPHORIC: "surplus",
  HARMONIC: "healthy",
  CONTEMPLATIVE: "strained",
  MYSTICAL: "critical",
};

export const classifyHealth = (ratio: number): HealthState =>
  ratio > healthThresholds.surplus
    ? "surplus"
    : ratio > healthThresholds.healthy
      ? "healthy"
      : ratio > healthThresholds.strained
        ? "strained"
        : "critical";

export interface HealthOptions {
  /** Capacity assumed for a link without a throughput estimate at TQ 255, kbit/s. Default 10 000 (10 Mbit/s). */
  readonly nominalLinkKbps?: number;
  /** Floor of a node's required capacity, kbit/s. Default 1 000 (1 Mbit/s). */
  readonly minDemandKbps?: number;
}

export const defaultHealthOptions: Required<HealthOptions> = { nominalLinkKbps: 10_000, minDemandKbps: 1_000 };

/** What the ratio reads from a link: the mesh domain's `LinkSample` fields. */
export type CapacitySample = Pick<LinkSample, "tq" | "loss" | "throughput">;

export const linkDeliveredKbps = (link: CapacitySample, options: HealthOptions = {}): number =>
  link.throughput !== undefined
    ? link.throughput * (1 - link.loss)
    : (options.nominalLinkKbps ?? defaultHealthOptions.nominalLinkKbps) * (link.tq / 255);

/** Cumulative traffic counters as `NodeMetricsReported.traffic` carries them, in bytes. */
export interface TrafficCounters {
  readonly rx_bytes: number;
  readonly tx_bytes: number;
  readonly forward_bytes: number;
  readonly mgmt_rx_bytes: number;
  readonly mgmt_tx_bytes: number;
}

/**
 * Traffic rate between two counter readings `elapsedMs` apart, kbit/s
 * (bytes × 8 / ms = kbit/s). Management traffic counts: it uses the same air
 * time. A counter that went backwards (node restarted) gives undefined: the
 * interval says nothing about demand.
 */
export const trafficDemandKbps = (previous: TrafficCounters, next: TrafficCounters, elapsedMs: number): number | undefined => {
  if (!(elapsedMs > 0)) return undefined;
  const keys = ["rx_bytes", "tx_bytes", "forward_bytes", "mgmt_rx_bytes", "mgmt_tx_bytes"] as const;
  let bytes = 0;
  for (const k of keys) {
    const d = next[k] - previous[k];
    if (d < 0) return undefined;
    bytes += d;
  }
  return (bytes * 8) / elapsedMs;
};

export interface NodeHealthInput {
  readonly nodeId: string;
  readonly links: ReadonlyArray<CapacitySample>;
  /** Observed traffic rate, kbit/s; undefined when not yet known (the floor applies). */
  readonly demandKbps: number | undefined;
}

export interface NodeHealth {
  readonly nodeId: string;
  readonly deliveredKbps: number;
  /** Demand after the floor. */
  readonly requiredKbps: number;
  readonly ratio: number;
  readonly state: HealthState;
  readonly directive: HealthDirective;
}

export const nodeHealth = (input: NodeHealthInput, options: HealthOptions = {}): NodeHealth => {
  const floor = options.minDemandKbps ?? defaultHealthOptions.minDemandKbps;
  if (!(floor > 0)) throw new RangeError(`minDemandKbps must be > 0, got ${floor}`);
  let deliveredKbps = 0;
  for (const l of input.links) deliveredKbps += linkDeliveredKbps(l, options);
  const requiredKbps = Math.max(input.demandKbps ?? 0, floor);
  const ratio = deliveredKbps / requiredKbps;
  const state = classifyHealth(ratio);
  return { nodeId: input.nodeId, deliveredKbps, requiredKbps, ratio, state, directive: healthDirective[state] };
};

export interface MeshHealth {
  readonly deliveredKbps: number;
  readonly requiredKbps: number;
  readonly ratio: number;
  readonly state: HealthState;
  readonly directive: HealthDirective;
  /** The node with the lowest ratio (first in input order on ties); undefined for an empty mesh. */
  readonly worst: NodeHealth | undefined;
  readonly nodes: ReadonlyArray<NodeHealth>;
  /** How many nodes are in each state. */
  readonly count: Readonly<Record<HealthState, number>>;
}

/** Mesh health; an empty mesh has ratio 0 (nothing is delivered) and is `critical`. */
export const meshHealth = (inputs: ReadonlyArray<NodeHealthInput>, options: HealthOptions = {}): MeshHealth => {
  const nodes = inputs.map((n) => nodeHealth(n, options));
  let deliveredKbps = 0;
  let requiredKbps = 0;
  let worst: NodeHealth | undefined;
  const count: Record<HealthState, number> = { surplus: 0, healthy: 0, strained: 0, critical: 0 };
  for (const n of nodes) {
    deliveredKbps += n.deliveredKbps;
    requiredKbps += n.requiredKbps;
    count[n.state] += 1;
    if (worst === undefined || n.ratio < worst.ratio) worst = n;
  }
  const ratio = requiredKbps > 0 ? deliveredKbps / requiredKbps : 0;
  const state = classifyHealth(ratio);
  return { deliveredKbps, requiredKbps, ratio, state, directive: healthDirective[state], worst, nodes, count };
};
