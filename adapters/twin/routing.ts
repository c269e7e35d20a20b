import { DELIVERY_THRESHOLD, hopDelivery, routeTable, UNICAST_ATTEMPTS, type NodeRouting, type Route, type RouteLink, type RouteTopology } from "../../domains/healing/index.ts";

// The unicast delivery arithmetic is the planner's (domains/healing/route-cost.ts): the twin judges routes as the plan does.
export { DELIVERY_THRESHOLD, hopDelivery, routeDelivery, UNICAST_ATTEMPTS } from "../../domains/healing/index.ts";
import { tqFromLoss } from "./link-model.ts";
import type { MeshModel } from "./mesh-model.ts";
import { HARD_IFNAME, type DirectedLink } from "./node.ts";
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
  return { links, nodes: nodeRouting(model) };
};

/** The TQ batman-adv believes a direction has: its window average (twin.ts, `BATMAN_TQ_TIME_CONSTANT_MS`); undefined before its first round. */
export const believedTq = (link: DirectedLink): number | undefined => (link.tqView ? Math.round(link.tqView.tq) : undefined);

/**
 * The route-cost view batman-adv routes on: each direction with the TQ it believes
 * (`believedTq`), each node's penalties now. A direction that died (a crashed end, a cut, an
 * XDP drop) stays in it while its average decays, and is gone once that is below 1.
 */
export const believedTopology = (model: MeshModel): RouteTopology => {
  const links: RouteLink[] = [];
  for (const l of model.links) {
    const tq = believedTq(l);
    if (tq !== undefined && tq >= 1) links.push({ source: model.nodes[l.from]!.id, target: model.nodes[l.to]!.id, tq, hardIf: l.hardIfname });
  }
  return { links, nodes: nodeRouting(model) };
};

/** Every alive node's batman-adv settings now. */
const nodeRouting = (model: MeshModel): Record<string, NodeRouting> => {
  const nodes: Record<string, NodeRouting> = {};
  for (const n of model.nodes) {
    if (!n.alive) continue;
    nodes[n.id] = {
      hopPenalty: n.hopPenalty,
      interfaceHopPenalty: Object.fromEntries(n.interfaceHopPenalty),
      wifiInterfaces: n.interfaces.has(HARD_IFNAME.wifi) ? [HARD_IFNAME.wifi] : [],
    };
  }
  return nodes;
};

export interface AvailabilityOptions {
  /** Most ordered (source, destination) pairs drawn; above it a deterministic sample. Default 2 000. */
  readonly maxPairs?: number;
  /** Only routes towards these nodes (e.g. the gateways). Default: every alive node. */
  readonly destinations?: readonly string[];
  /** End-to-end delivery after retries a route needs to work, 0-1. Default `DELIVERY_THRESHOLD` (0.9). */
  readonly threshold?: number;
  /** Transmissions per unicast frame and hop. Default `UNICAST_ATTEMPTS` (7). */
  readonly attempts?: number;
  /**
   * The links as batman-adv currently believes them (e.g. `routeTopology` of a few seconds
   * ago: its TQ window lags the radio). Routes are chosen over these links with the nodes'
   * current hop penalties, and judged over the true links now. Default: batman-adv knows the
   * truth at once.
   */
  readonly believed?: RouteTopology;
  /** Also list each failing pair and why it fails. Default false. */
  readonly explain?: boolean;
  /**
   * The sources batman-adv routes to `destination` when nothing is broken (e.g. over the mesh
   * at the end of a warm-up): pairs beyond that horizon are left out. batman-adv drops an OGM
   * whose TQ has decayed below 1 (a hop penalty and a link's TQ take their share at every hop),
   * so on a large all-radio mesh far pairs never have a route, with healing or without. Default:
   * every pair.
   */
  readonly horizon?: (destination: string) => ReadonlySet<string>;
}

/** Why a connected pair has no working route. */
export type PairFailureCause = "no-route" | "node-down" | "link-cut" | "xdp-blocked" | "interface-restart" | "lossy";

export interface PairFailure {
  readonly source: string;
  readonly destination: string;
  readonly cause: PairFailureCause;
  /** The hop to blame: the first that carries nothing, else the lossiest; none for `no-route`. */
  readonly hop?: readonly [string, string];
}

export interface Availability {
  /** delivered / pairs; 1 when no pair is connected. */
  readonly fraction: number;
  /** Sampled pairs that are physically connected: the denominator. */
  readonly pairs: number;
  /** Of those, the pairs whose route works. */
  readonly delivered: number;
  /** Sampled pairs the medium itself does not connect now (a partition, a crashed relay): left out. */
  readonly unconnected: number;
  /** The pairs are a sample, not every pair. */
  readonly sampled: boolean;
  /** With `explain`. */
  readonly failures?: readonly PairFailure[];
}

/**
 * Availability at `t`: the share of connected node pairs with a working route.
 *
 * - **Pairs**: ordered (source, destination) pairs of alive nodes within batman-adv's reach
 *   (`horizon`) that the medium connects now: a path of directions that carry frames,
 *   whatever the control plane does (down nodes and fault cuts count; XDP drop rules and
 *   interface restarts, being healing's own doing, do not). So blocking something never
 *   shrinks the denominator.
 * - **Working route**: the route batman-adv chooses (over `believed`, its lagging view, with
 *   every node's hop penalties now) uses only directions that carry frames now — no down
 *   node, no cut, no XDP drop, no restarting interface — and delivers at least `threshold` of
 *   unicast frames end to end, each hop delivering 1 − loss^attempts of them (the link
 *   layer's retries) at its true loss now. A connected pair batman-adv has no route for fails.
 *
 * Above `maxPairs` pairs, about √maxPairs destinations are drawn and as many sources for each,
 * from a stream seeded by the twin's seed: the same alive nodes give the same sample, so two
 * runs (healing on and off) are measured on the same pairs. Cost: one route computation and
 * one reachability search per destination.
 */
export const availability = (model: MeshModel, t: number, seed: number, options: AvailabilityOptions = {}): Availability => {
  const maxPairs = Math.max(1, options.maxPairs ?? 2_000);
  const threshold = options.threshold ?? DELIVERY_THRESHOLD;
  const attempts = options.attempts ?? UNICAST_ATTEMPTS;
  const alive = model.nodes.filter((n) => n.alive).map((n) => n.id);
  const n = alive.length;
  const none = { fraction: 1, pairs: 0, delivered: 0, unconnected: 0 };
  if (n < 2) return { ...none, sampled: false, ...(options.explain ? { failures: [] } : {}) };

  const wanted = options.destinations ? new Set(options.destinations) : undefined;
  const targets = wanted ? alive.filter((id) => wanted.has(id)) : alive;
  const horizon = options.horizon;
  const sourcesOf = (d: string) => {
    const within = horizon?.(d);
    return alive.filter((s) => s !== d && (within === undefined || within.has(s)));
  };
  const plan = new Map<string, readonly string[]>();
  // Without a horizon every alive node is a source; with one, counted per destination.
  const candidates = horizon ? targets.reduce((sum, d) => sum + sourcesOf(d).length, 0) : targets.length * (n - 1);
  const sampled = candidates > maxPairs;
  if (!sampled) {
    for (const d of targets) plan.set(d, sourcesOf(d));
  } else {
    const rng = new Rng(seed, 0x61766169);
    const destinations = Math.min(targets.length, Math.max(1, Math.round(Math.sqrt(maxPairs))));
    const chosen = pickDistinct(targets, destinations, rng);
    const perDestination = Math.max(1, Math.min(n - 1, Math.floor(maxPairs / chosen.length)));
    for (const d of chosen) plan.set(d, pickDistinct(sourcesOf(d), perDestination, rng));
  }
  if (plan.size === 0) return { ...none, sampled, ...(options.explain ? { failures: [] } : {}) };

  // The true directions by their ends and interface, as route-cost links name them.
  const byHop = new Map<string, DirectedLink>();
  const into: DirectedLink[][] = model.nodes.map(() => []);
  for (const l of model.links) {
    const key = `${model.nodes[l.from]!.id}>${model.nodes[l.to]!.id}>${l.hardIfname}`;
    const seen = byHop.get(key);
    // Two links on one interface between the same nodes: judge by the one that carries more.
    if (!seen || model.loss(l, t) < model.loss(seen, t)) byHop.set(key, l);
    if (model.physicallyWorks(l, t)) into[l.to]!.push(l);
  }
  const choice: RouteTopology = options.believed ? { links: options.believed.links, nodes: nodeRouting(model) } : routeTopology(model, t);
  const table = routeTable(choice);
  const failures: PairFailure[] = [];
  let pairs = 0;
  let delivered = 0;
  let unconnected = 0;
  for (const [destination, sources] of plan) {
    const connected = reachingNodes(model, into, model.byId.get(destination)!.index);
    const routes = table(destination);
    for (const source of sources) {
      if (connected[model.byId.get(source)!.index] !== 1) {
        unconnected++;
        continue;
      }
      pairs++;
      const failure = judgeRoute(model, byHop, routes.get(source), t, threshold, attempts);
      if (failure === undefined) delivered++;
      else if (options.explain) failures.push({ source, destination, ...failure });
    }
  }
  return { fraction: pairs === 0 ? 1 : delivered / pairs, pairs, delivered, unconnected, sampled, ...(options.explain ? { failures } : {}) };
};

/** Nodes with a physically working path to `destination` (1 in the array), by a search backwards over `into`. */
const reachingNodes = (model: MeshModel, into: readonly (readonly DirectedLink[])[], destination: number): Uint8Array => {
  const reached = new Uint8Array(model.nodes.length);
  reached[destination] = 1;
  const queue = [destination];
  for (let head = 0; head < queue.length; head++) {
    for (const l of into[queue[head]!]!) {
      if (reached[l.from] === 1) continue;
      reached[l.from] = 1;
      queue.push(l.from);
    }
  }
  return reached;
};

/** Why a route does not work now (undefined when it does). */
const judgeRoute = (
  model: MeshModel,
  byHop: ReadonlyMap<string, DirectedLink>,
  route: Route | undefined,
  t: number,
  threshold: number,
  attempts: number,
): { cause: PairFailureCause; hop?: readonly [string, string] } | undefined => {
  if (!route) return { cause: "no-route" };
  let kept = 1;
  let worst: { hop: readonly [string, string]; delivery: number } | undefined;
  for (const l of route.links) {
    const hop = [l.source, l.target] as const;
    const link = byHop.get(`${l.source}>${l.target}>${l.hardIf ?? ""}`);
    if (!link) return { cause: "link-cut", hop };
    const cut = model.whyCut(link, t);
    if (cut) return { cause: cut, hop };
    const delivery = hopDelivery(model.loss(link, t), attempts);
    kept *= delivery;
    if (!worst || delivery < worst.delivery) worst = { hop, delivery };
  }
  return kept >= threshold ? undefined : { cause: "lossy", ...(worst ? { hop: worst.hop } : {}) };
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
