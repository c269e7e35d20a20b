import { routeTable, type NodeRouting, type Route, type RouteLink, type RouteTopology } from "../../domains/healing/index.ts";
import { tqFromLoss } from "./link-model.ts";
import type { MeshModel } from "./mesh-model.ts";
import { HARD_IFNAME } from "./node.ts";
import { Rng } from "../../domains/kernel/rng.ts";

/**
 * Routing in the twin: batman-adv IV's choices over the true link state, computed with the same
 * arithmetic the healing planner uses (`bestRoutesTo`, domains/healing/route-cost.ts), and an
 * availability figure to compare a mesh with and without healing.
 */

/** A route-cost link carrying the true loss of its direction, so a route's delivery can be computed. */
export interface TwinRouteLink extends RouteLink {
  readonly loss: number;
}

/**
 * A route delivers when the product of (1 − loss) along its links is at least this: half the
 * frames arrive. Below that TCP stalls and voice or video are unusable, so an operator would
 * call the pair cut even though batman-adv still has a route.
 */
export const DELIVERY_THRESHOLD = 0.5;

/**
 * The route-cost view of the mesh at `t`: every working direction with the TQ of its true loss
 * (TQ = 255·(1−loss)², as the link model reports it), each node's mesh-wide and per-interface
 * hop_penalty, and its WiFi interfaces (batman-adv penalises re-sending on the interface an
 * OGM came in on, as half-duplex radios halve throughput). Cut directions (down nodes,
 * quarantines, faults at loss 1) are left out.
 */
export const routeTopology = (model: MeshModel, t: number): RouteTopology & { readonly links: readonly TwinRouteLink[] } => {
  const links: TwinRouteLink[] = [];
  for (const l of model.links) {
    if (!model.works(l, t)) continue;
    const loss = model.loss(l, t);
    const tq = tqFromLoss(loss);
    if (tq === 0) continue;
    links.push({ source: model.nodes[l.from]!.id, target: model.nodes[l.to]!.id, tq, hardIf: l.hardIfname, loss });
  }
  const nodes: Record<string, NodeRouting> = {};
  for (const n of model.nodes) {
    if (!n.alive) continue;
    nodes[n.id] = {
      hopPenalty: n.hopPenalty,
      interfaceHopPenalty: Object.fromEntries(n.interfaceHopPenalty),
      wifiInterfaces: n.interfaces.has(HARD_IFNAME.wifi) ? [HARD_IFNAME.wifi] : [],
    };
  }
  return { links, nodes };
};

/** Fraction of frames a route delivers: the product of (1 − loss) over its links. */
export const routeDelivery = (route: Route): number =>
  route.links.reduce((kept, l) => kept * (1 - ((l as TwinRouteLink).loss ?? 0)), 1);

export interface AvailabilityOptions {
  /** Most ordered (source, destination) pairs measured; above it a deterministic sample. Default 2 000. */
  readonly maxPairs?: number;
  /**
   * Only routes towards these nodes (e.g. `twin.observers`: what clients reaching the internet
   * through the gateways need). Default: every alive node.
   */
  readonly destinations?: readonly string[];
  /** Delivery a route needs to count, 0-1. Default `DELIVERY_THRESHOLD` (0.5). */
  readonly threshold?: number;
  /**
   * The links as batman-adv currently believes them (e.g. `routeTopology` of a few seconds
   * ago: its TQ window lags the radio). Routes are chosen over these links with the nodes'
   * current hop penalties, and delivered over the true links now (a link that no longer
   * works loses everything). Default: batman-adv knows the truth at once.
   */
  readonly believed?: RouteTopology;
}

export interface Availability {
  /** delivered / pairs; 1 when there is no pair to measure. */
  readonly fraction: number;
  readonly pairs: number;
  readonly delivered: number;
  /** The pairs are a sample, not every pair. */
  readonly sampled: boolean;
}

/**
 * Availability at `t`: the fraction of ordered (source, destination) pairs of alive nodes whose
 * current best route delivers at least `threshold` of its frames. A pair without a route counts
 * as not delivered. A destination that is down is left out (its pairs are not measured). Above `maxPairs` pairs, about √maxPairs destinations are drawn and as many
 * sources for each, from a stream seeded by the twin's seed: the same alive nodes give the same
 * sample, so two runs (healing on and off) are measured on the same pairs. Cost: one route
 * computation per destination.
 */
export const availability = (model: MeshModel, t: number, seed: number, options: AvailabilityOptions = {}): Availability => {
  const maxPairs = Math.max(1, options.maxPairs ?? 2_000);
  const threshold = options.threshold ?? DELIVERY_THRESHOLD;
  const alive = model.nodes.filter((n) => n.alive).map((n) => n.id);
  const n = alive.length;
  if (n < 2) return { fraction: 1, pairs: 0, delivered: 0, sampled: false };

  const wanted = options.destinations ? new Set(options.destinations) : undefined;
  const targets = wanted ? alive.filter((id) => wanted.has(id)) : alive;
  const plan = new Map<string, readonly string[]>();
  const sampled = targets.length * (n - 1) > maxPairs;
  if (!sampled) {
    for (const d of targets) plan.set(d, alive.filter((s) => s !== d));
  } else {
    const rng = new Rng(seed, 0x61766169);
    const destinations = Math.min(targets.length, Math.max(1, Math.round(Math.sqrt(maxPairs))));
    const chosen = pickDistinct(targets, destinations, rng);
    const perDestination = Math.max(1, Math.min(n - 1, Math.floor(maxPairs / chosen.length)));
    for (const d of chosen) plan.set(d, pickDistinct(alive.filter((s) => s !== d), perDestination, rng));
  }
  if (plan.size === 0) return { fraction: 1, pairs: 0, delivered: 0, sampled };

  const truth = routeTopology(model, t);
  const choice: RouteTopology = options.believed ? { links: options.believed.links, ...(truth.nodes ? { nodes: truth.nodes } : {}) } : truth;
  const trueLoss = options.believed ? new Map((truth.links as readonly TwinRouteLink[]).map((l): [string, number] => [`${l.source}>${l.target}`, l.loss])) : undefined;
  const delivery = (route: Route): number =>
    trueLoss ? route.links.reduce((kept, l) => kept * (1 - (trueLoss.get(`${l.source}>${l.target}`) ?? 1)), 1) : routeDelivery(route);
  let pairs = 0;
  let delivered = 0;
  const table = routeTable(choice);
  for (const [destination, sources] of plan) {
    const routes = table(destination);
    for (const source of sources) {
      pairs++;
      const route = routes.get(source);
      if (route && delivery(route) >= threshold) delivered++;
    }
  }
  return { fraction: pairs === 0 ? 1 : delivered / pairs, pairs, delivered, sampled };
};

/** `count` distinct items in a seeded order (partial Fisher–Yates). */
const pickDistinct = <T>(items: readonly T[], count: number, rng: Rng): T[] => {
  const pool = [...items];
  const k = Math.min(count, pool.length);
  for (let i = 0; i < k; i++) {
    const j = i + rng.int(pool.length - i);
    [pool[i], pool[j]] = [pool[j]!, pool[i]!];
  }
  return pool.slice(0, k);
};
