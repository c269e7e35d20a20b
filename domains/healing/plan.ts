/**
 * Plan: which healing actions answer a root cause, as data.
 *
 * A policy is a record: the finding kinds it handles, a precondition over the finding and a
 * planning context, the actions it proposes, the effect the Execute step verifies after the
 * settle time, and a cooldown. `planHealing` walks the policies in order and takes the first
 * that applies; when none does, it escalates to the operator with a reason.
 *
 * Anti-flapping and anti-storm rules (all times are ms passed in; nothing reads a clock):
 * - A policy already used on the same target (or any policy that issued an equivalent action:
 *   same kind on the same node/interface/MAC) within the policy's cooldown is not repeated:
 *   - still settling (pending, inside its settle time): `hold` until the settle time ends;
 *   - it recovered: `hold` until the cooldown ends (the fix held; a recurrence inside the
 *     cooldown is flapping, and repeating the same fix would make it flap faster);
 *   - it failed, did not recover, or is still unverified after its settle time: skipped, and
 *     the next policy is tried. If no other policy applies, the escalation reason is
 *     `tried-within-cooldown`.
 * - A global budget caps healing actions (escalations excluded) issued in a sliding window;
 *   a plan that would exceed it becomes an escalation `action-budget-exhausted`.
 * - Escalating the same target again within `escalateCooldownMs` is a `hold`, so an operator
 *   is told once per incident, not once per analysis cycle.
 *
 * | option | default |
 * |---|---|
 * | `budget.maxActions` | 10 actions |
 * | `budget.windowMs` | 10 000 ms |
 * | `escalateCooldownMs` | 900 000 ms (15 min) |
 * | `rateLimitPps` (when a node has no `baselinePps`) | 1 000 pps, burst = 1 s worth |
 * | `fenceTtlMs` (how long a dead node's neighbours drop its frames) | 5 000 ms |
 * | `blockTtlMs` (how long a degraded link no route needs stays blocked at its ends) | 10 000 ms |
 * | `marginalRouteTq` (a route change may cost routes whose TQ is at most this; 0: it may cost none) | 0 |
 * | `policies` | `healingPolicies` |
 */
import type { PlanStep } from "./events.ts";
import type { Link, RootCause, RootCauseKind } from "./root-cause.ts";
import { bestRoutesTo, DEFAULT_HOP_PENALTY, hopPenaltyToAvoid, hopPenaltyToSteer, routeTable, type LinkAvoidance, type RouteTopology, type TransitSteering } from "./route-cost.ts";

/** batman-adv gateway mode (`batctl gw_mode`). */
export type GatewayMode = "off" | "client" | "server";

/** What a node is told to do; mirrors the healing command kinds of the Execute step. */
export type HealingAction =
  | { readonly kind: "hop-penalty"; readonly node: string; readonly hardIf?: string; readonly value: number }
  | { readonly kind: "gateway"; readonly node: string; readonly mode: GatewayMode }
  | { readonly kind: "quarantine"; readonly atNodes: readonly string[]; readonly mac: string; readonly ttlMs?: number }
  | { readonly kind: "rate-limit"; readonly atNodes: readonly string[]; readonly mac: string; readonly pps: number; readonly burst: number }
  | { readonly kind: "restart-interface"; readonly node: string; readonly ifname: string }
  | { readonly kind: "escalate"; readonly reason: string };

/** A node that misbehaves while heard: Analyze emits it from the node metrics flags. */
export interface MisbehaviourFinding {
  readonly kind: "node-misbehaving";
  readonly blamed: { readonly kind: "node"; readonly node: string };
  readonly affected: readonly string[];
  readonly reason: string;
}

export type Finding = RootCause | MisbehaviourFinding;
export type FindingKind = RootCauseKind | "node-misbehaving";

/** What the Execute step checks after the settle time to call the plan a recovery. */
export type ExpectedEffect =
  /** No best route uses the directed link `from → to`. */
  | { readonly kind: "route-avoids-link"; readonly link: Link }
  /** Every heard node has a route to `node`. */
  | { readonly kind: "node-reachable"; readonly node: string }
  /** `node`'s traffic as its neighbours count it is at most `pps`. */
  | { readonly kind: "traffic-below"; readonly node: string; readonly pps: number }
  /** The neighbours drop every frame from `mac`: `node` has no working link left. */
  | { readonly kind: "node-isolated"; readonly node: string; readonly atNodes: readonly string[] }
  /** `node` announces itself as a gateway and clients select it. */
  | { readonly kind: "gateway-serving"; readonly node: string }
  /** The link is back and within its baseline. */
  | { readonly kind: "link-healthy"; readonly link: Link };

/** Flags the knowledge base keeps per node, from its metrics and envelopes. */
export interface NodeFlags {
  /** The node's mesh MAC (what XDP at its neighbours matches). */
  readonly mac?: string;
  /** Sends far above its own baseline traffic. */
  readonly flooding?: boolean;
  /** Its metrics contradict what its neighbours report. */
  readonly lying?: boolean;
  /** Sends events whose signature does not verify. */
  readonly badSignatures?: boolean;
  /** Normal packet rate, used as its rate limit. */
  readonly baselinePps?: number;
}

export type ActionOutcome = "pending" | "failed" | "recovered" | "not-recovered";

/** A plan or escalation issued earlier, as the incident projection knows it. */
export interface RecentAction {
  readonly policy: string;
  /** `findingTarget` of the finding it answered. */
  readonly target: string;
  readonly actions: readonly HealingAction[];
  readonly atMs: number;
  /** pending: commanded or applied, not verified yet. */
  readonly outcome: ActionOutcome;
}

export interface PlanningContext {
  /** Route-cost view of the mesh; `nodes[n].interfaceHopPenalty` holds the current per-interface penalties. */
  readonly topology: RouteTopology;
  /** Mesh-wide hop_penalty; default 30 (batman-adv's). */
  readonly hopPenalty?: number;
  /** Current gateway mode per node; absent means client. */
  readonly gateways?: Readonly<Record<string, GatewayMode>>;
  /** Nodes with an uplink that may serve as gateway. */
  readonly gatewayCandidates?: readonly string[];
  readonly nodes?: Readonly<Record<string, NodeFlags>>;
  readonly recentActions?: readonly RecentAction[];
  /**
   * The finding is a new occurrence with no incident yet (it came back after being gone, or is
   * seen for the first time): a hold for a cooldown or an earlier escalation becomes the
   * escalation `repeat-within-cooldown`, so that it is recorded rather than passed over.
   * Default false.
   */
  readonly newOccurrence?: boolean;
  /** The MAC `from` hears `to` with on their link; default `to`'s flagged MAC. */
  readonly neighbourMac?: (from: string, to: string) => string | undefined;
  /** Destinations route arithmetic checks; default every node (costly beyond a few hundred). */
  readonly routeDestinations?: readonly string[];
}

/** A precondition's answer: why not, and whether that is a refusal worth escalating. */
export type Verdict = { readonly ok: true } | { readonly ok: false; readonly why: string; readonly refused?: "would-cut-routes" };

export interface HealingPolicy {
  readonly name: string;
  readonly handles: readonly FindingKind[];
  readonly precondition: (finding: Finding, context: PlanningContext, options: ResolvedPlanOptions) => Verdict;
  /** Called only when the precondition holds. */
  readonly actions: (finding: Finding, context: PlanningContext, options: ResolvedPlanOptions) => HealingAction[];
  readonly expectedEffect: (finding: Finding, actions: readonly HealingAction[]) => ExpectedEffect[];
  /** Time for the effect to show before Execute verifies it. */
  readonly settleMs: number;
  /** The same policy on the same target (or an equivalent action) is not repeated within it. */
  readonly cooldownMs: number;
}

export interface PlanOptions {
  readonly budget?: { readonly maxActions?: number; readonly windowMs?: number };
  readonly escalateCooldownMs?: number;
  readonly rateLimitPps?: number;
  readonly fenceTtlMs?: number;
  readonly blockTtlMs?: number;
  readonly marginalRouteTq?: number;
  readonly policies?: readonly HealingPolicy[];
}

export interface ResolvedPlanOptions {
  readonly budget: { readonly maxActions: number; readonly windowMs: number };
  readonly escalateCooldownMs: number;
  readonly rateLimitPps: number;
  readonly fenceTtlMs: number;
  readonly blockTtlMs: number;
  readonly marginalRouteTq: number;
  readonly policies: readonly HealingPolicy[];
}

export interface Skipped {
  readonly policy: string;
  readonly why: string;
  readonly cause: "precondition" | "would-cut-routes" | "cooldown";
}

export interface Plan {
  readonly decision: "plan";
  readonly policy: string;
  readonly target: string;
  readonly actions: readonly HealingAction[];
  readonly expectedEffects: readonly ExpectedEffect[];
  /** When Execute checks the expected effects. */
  readonly verifyAtMs: number;
  readonly cooldownUntilMs: number;
  /** Policies tried before this one, and why they did not apply. */
  readonly skipped: readonly Skipped[];
}

export type EscalationReason = "action-budget-exhausted" | "tried-within-cooldown" | "would-cut-routes" | "no-policy-applies" | "repeat-within-cooldown";

export interface Escalation {
  readonly decision: "escalate";
  readonly policy: "escalate";
  readonly target: string;
  readonly reason: EscalationReason;
  readonly actions: readonly [HealingAction & { readonly kind: "escalate" }];
  readonly cooldownUntilMs: number;
  readonly skipped: readonly Skipped[];
}

/** Nothing to do now: an earlier plan is settling, held, or the operator was already told. */
export interface Hold {
  readonly decision: "hold";
  readonly policy: string;
  readonly target: string;
  readonly untilMs: number;
  /** An earlier plan is still settling; a fix that recovered is inside its cooldown; the operator was told inside `escalateCooldownMs`. */
  readonly cause: "settling" | "cooldown" | "told";
  readonly why: string;
}

export type PlanDecision = Plan | Escalation | Hold;

// --- helpers -------------------------------------------------------------------------------

const compare = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);
const linkName = ([a, b]: Link): string => (a < b ? `${a}|${b}` : `${b}|${a}`);

/** A stable name for what a finding blames; recent actions are matched on it. */
export const findingTarget = (finding: Finding): string => {
  const b = finding.blamed;
  // Misbehaviour is its own story: a node mitigated for a flood may still be found dead or silent.
  if (finding.kind === "node-misbehaving" && b.kind === "node") return `misbehaving:${b.node}`;
  if (b.kind === "node") return `node:${b.node}`;
  if (b.kind === "link") return `link:${linkName(b.link)}`;
  return `cut:${[...b.nodes, ...b.links.map(linkName)].join(",")}`;
};

/** Two actions with the same key are the same action on the same target (values may differ). */
export const actionKey = (a: HealingAction): string => {
  switch (a.kind) {
    case "hop-penalty":
      return `hop-penalty:${a.node}:${a.hardIf ?? ""}`;
    case "gateway":
      return `gateway:${a.node}`;
    // The same rule at the same nodes: a link's end blocking its neighbour is not its fence.
    case "quarantine":
      return `quarantine:${a.mac}@${[...a.atNodes].sort(compare).join(",")}`;
    case "rate-limit":
      return `rate-limit:${a.mac}@${[...a.atNodes].sort(compare).join(",")}`;
    case "restart-interface":
      return `restart-interface:${a.node}:${a.ifname}`;
    case "escalate":
      return "escalate";
  }
};

/** Every node linked to `node` in either direction, sorted. */
const neighboursOf = (topology: RouteTopology, node: string): string[] => {
  const out = new Set<string>();
  for (const l of topology.links) {
    if (l.source === node && l.target !== node) out.add(l.target);
    if (l.target === node && l.source !== node) out.add(l.source);
  }
  return [...out].sort(compare);
};

/** Nodes the finding suspects of misbehaving: the blamed node, or both ends of the blamed link. */
const suspects = (finding: Finding): string[] =>
  finding.blamed.kind === "node" ? [finding.blamed.node] : finding.blamed.kind === "link" ? [...finding.blamed.link].sort(compare) : [];

const flagsOf = (context: PlanningContext, node: string): NodeFlags =>
  context.nodes !== undefined && Object.hasOwn(context.nodes, node) ? context.nodes[node]! : {};

const serving = (context: PlanningContext, n: string): boolean =>
  context.gateways !== undefined && Object.hasOwn(context.gateways, n) && context.gateways[n] === "server";

const isByzantine = (f: NodeFlags): boolean => f.lying === true || f.badSignatures === true;

const firstSuspect = (finding: Finding, context: PlanningContext, test: (f: NodeFlags) => boolean): string | undefined =>
  suspects(finding).find((n) => test(flagsOf(context, n)));

/** Whether removing `removed` disconnects two other nodes that were connected (plain graph reachability). */
const cutsOthers = (topology: RouteTopology, removed: string): boolean => {
  const components = (skip: string | undefined): Map<string, number> => {
    const adj = new Map<string, string[]>();
    for (const l of topology.links) {
      // Every node gets a component, also one left without links.
      for (const n of [l.source, l.target]) if (n !== skip && !adj.has(n)) adj.set(n, []);
      if (l.tq < 1 || l.source === skip || l.target === skip) continue;
      adj.set(l.source, [...(adj.get(l.source) ?? []), l.target]);
      adj.set(l.target, [...(adj.get(l.target) ?? []), l.source]);
    }
    const id = new Map<string, number>();
    let next = 0;
    for (const start of [...adj.keys()].sort(compare)) {
      if (id.has(start)) continue;
      id.set(start, next);
      for (const queue = [start]; queue.length > 0; )
        for (const m of adj.get(queue.pop()!) ?? [])
          if (!id.has(m)) {
            id.set(m, next);
            queue.push(m);
          }
      next++;
    }
    return id;
  };
  const before = components(undefined);
  const after = components(removed);
  // Two others that shared a component before must share one after.
  const firstAfter = new Map<number, number | undefined>();
  for (const [n, c] of before) {
    if (n === removed) continue;
    const a = after.get(n);
    if (!firstAfter.has(c)) firstAfter.set(c, a);
    else if (firstAfter.get(c) !== a) return true;
  }
  return false;
};

const macSeen = (context: PlanningContext, from: string, to: string): string | undefined => context.neighbourMac?.(from, to) ?? flagsOf(context, to).mac;

/** Whether the working links minus `a`-`b` leave `a` and `b` apart. */
const linkIsBridge = (topology: RouteTopology, a: string, b: string): boolean => {
  const adj = new Map<string, string[]>();
  for (const l of topology.links) {
    if (l.tq < 1 || (l.source === a && l.target === b) || (l.source === b && l.target === a)) continue;
    adj.set(l.source, [...(adj.get(l.source) ?? []), l.target]);
    adj.set(l.target, [...(adj.get(l.target) ?? []), l.source]);
  }
  const seen = new Set([a]);
  for (const queue = [a]; queue.length > 0; ) for (const m of adj.get(queue.pop()!) ?? []) if (!seen.has(m)) (seen.add(m), queue.push(m));
  return !seen.has(b);
};

/** The mesh-wide raises on each end that take the finding's link out of transit routes. */
const transitRaises = (finding: Finding, context: PlanningContext): TransitSteering[] => {
  if (finding.blamed.kind !== "link") return [];
  const [a, b] = finding.blamed.link;
  const options = { hopPenalty: context.hopPenalty ?? DEFAULT_HOP_PENALTY, ...(context.routeDestinations ? { destinations: context.routeDestinations } : {}) };
  return [hopPenaltyToSteer(context.topology, a, b, options), hopPenaltyToSteer(context.topology, b, a, options)].filter(
    (x): x is TransitSteering => x !== undefined && x.hopPenalty > x.currentHopPenalty,
  );
};

/** The per-direction raises that keep routes off the finding's link. */
const linkRaises = (finding: Finding, context: PlanningContext): LinkAvoidance[] => {
  if (finding.blamed.kind !== "link") return [];
  const [a, b] = finding.blamed.link;
  const options = { hopPenalty: context.hopPenalty ?? DEFAULT_HOP_PENALTY, ...(context.routeDestinations ? { destinations: context.routeDestinations } : {}) };
  return [hopPenaltyToAvoid(context.topology, a, b, options), hopPenaltyToAvoid(context.topology, b, a, options)].filter(
    (x): x is LinkAvoidance => x !== undefined && x.hopPenalty > x.currentHopPenalty,
  );
};

/**
 * The routes a raise would cut that are worth keeping: those whose TQ now is above
 * `marginalRouteTq`. By default (0) that is every route: a route at batman-adv's floor (TQ 1-3
 * of 255) comes and goes with every fade, but it works while it is there, and a mesh-wide raise
 * held for the length of a fault cut such routes for all of it (a 10-fault run on the 1,000-node
 * twin with a margin of 3: 28 pair-samples failed where 1 was saved). A margin lets a degraded
 * link be steered around on a large mesh, where some pair is always at the edge of reach, at
 * that cost.
 */
const beyondMargin = (context: PlanningContext, lost: readonly { readonly source: string; readonly destination: string }[], options: ResolvedPlanOptions) => {
  if (lost.length === 0) return lost;
  const routes = routeTable(context.topology, { hopPenalty: context.hopPenalty ?? DEFAULT_HOP_PENALTY });
  return lost.filter((l) => (routes(l.destination).get(l.source)?.tq ?? 0) > options.marginalRouteTq);
};

/** Routes (over the destinations route checks look at) that cross `a`-`b` in either direction. */
const routesCrossing = (context: PlanningContext, a: string, b: string): number => {
  const routes = routeTable(context.topology, { hopPenalty: context.hopPenalty ?? DEFAULT_HOP_PENALTY });
  const destinations = context.routeDestinations ?? [...new Set(context.topology.links.flatMap((l) => [l.source, l.target]))];
  let n = 0;
  for (const d of destinations)
    for (const r of routes(d).values()) if (r.links.some((l) => (l.source === a && l.target === b) || (l.source === b && l.target === a))) n++;
  return n;
};

/** `node`'s named hard interfaces towards `neighbour`. */
const interfacesTowards = (topology: RouteTopology, node: string, neighbour: string): string[] =>
  [...new Set(topology.links.filter((l) => l.source === node && l.target === neighbour && l.hardIf !== undefined).map((l) => l.hardIf!))].sort(compare);

/** Other neighbours sharing `node`'s interface: what a restart disturbs as well. */
const sharing = (topology: RouteTopology, node: string, ifname: string): number =>
  new Set(topology.links.filter((l) => l.source === node && l.hardIf === ifname).map((l) => l.target)).size;

/** Interfaces to restart: for each (heard end, far end) of the finding, the end's interface towards it. */
const interfaceRestarts = (finding: Finding, context: PlanningContext): HealingAction[] => {
  const t = context.topology;
  const ends: [string, string][] = [];
  const b = finding.blamed;
  if (b.kind === "link") {
    // Both ends are heard: restart on the end whose interface disturbs the fewest other neighbours.
    const [x, y] = [...b.link].sort(compare) as [string, string];
    const options = [
      ...interfacesTowards(t, x, y).map((i) => ({ node: x, ifname: i, cost: sharing(t, x, i) })),
      ...interfacesTowards(t, y, x).map((i) => ({ node: y, ifname: i, cost: sharing(t, y, i) })),
    ].sort((p, q) => p.cost - q.cost || compare(p.node, q.node) || compare(p.ifname, q.ifname));
    const best = options[0];
    return best ? [{ kind: "restart-interface", node: best.node, ifname: best.ifname }] : [];
  }
  const lost = new Set(finding.affected);
  if (b.kind === "node" && finding.kind === "upstream-failure") {
    const link = "link" in b ? b.link : undefined;
    if (link) {
      const [p, q] = link;
      if (lost.has(p) !== lost.has(q)) ends.push(lost.has(p) ? [q, p] : [p, q]);
    } else if (!lost.has(b.node)) {
      // A heard hub whose links to the silent nodes behind it failed.
      for (const n of neighboursOf(t, b.node)) if (lost.has(n)) ends.push([b.node, n]);
    }
  } else if (b.kind === "cut" && finding.kind === "partition") {
    // Restart on the main part's side of each cut link; the cut-off group is heard through its own observer.
    for (const [p, q] of b.links) ends.push(lost.has(p) ? [q, p] : [p, q]);
  }
  const seen = new Set<string>();
  const actions: HealingAction[] = [];
  for (const [node, far] of ends)
    for (const ifname of interfacesTowards(t, node, far).slice(0, 1)) {
      const k = `${node}:${ifname}`;
      if (seen.has(k)) continue;
      seen.add(k);
      actions.push({ kind: "restart-interface", node, ifname });
    }
  return actions;
};

/** The standby with the best summed route TQ from the rest of the mesh, without the lost nodes. */
const bestStandby = (finding: Finding, context: PlanningContext): string | undefined => {
  const lost = new Set(finding.affected);
  const standbys = [...(context.gatewayCandidates ?? [])].filter((n) => !lost.has(n) && !serving(context, n)).sort(compare);
  if (standbys.length === 0) return undefined;
  const topology: RouteTopology = {
    ...context.topology,
    links: context.topology.links.filter((l) => !lost.has(l.source) && !lost.has(l.target)),
  };
  let best: { node: string; score: number } | undefined;
  for (const s of standbys) {
    let score = 0;
    for (const r of bestRoutesTo(topology, s, { hopPenalty: context.hopPenalty ?? DEFAULT_HOP_PENALTY }).values()) score += r.tq;
    if (!best || score > best.score) best = { node: s, score };
  }
  return best && best.score > 0 ? best.node : undefined;
};

const ok: Verdict = { ok: true };
const no = (why: string): Verdict => ({ ok: false, why });

// --- the policies --------------------------------------------------------------------------

/**
 * The policies, in the order they are tried. Misbehaviour first: re-routing around a flooding
 * node only moves the flood. Then the cheap, reversible route changes, then the disruptive
 * interface restart.
 */
export const healingPolicies: readonly HealingPolicy[] = [
  {
    name: "rate-limit-flooding-node",
    handles: ["node-misbehaving", "link-degraded"],
    precondition: (finding, context) => {
      const n = firstSuspect(finding, context, (f) => f.flooding === true && !isByzantine(f));
      if (n === undefined) return no("no suspect is flagged flooding (without lying or bad signatures)");
      if (flagsOf(context, n).mac === undefined) return no(`${n}'s MAC is unknown`);
      if (neighboursOf(context.topology, n).length === 0) return no(`${n} has no neighbours to enforce a limit`);
      return ok;
    },
    actions: (finding, context, options) => {
      const n = firstSuspect(finding, context, (f) => f.flooding === true && !isByzantine(f))!;
      const f = flagsOf(context, n);
      const pps = f.baselinePps ?? options.rateLimitPps;
      return [{ kind: "rate-limit", atNodes: neighboursOf(context.topology, n), mac: f.mac!, pps, burst: pps }];
    },
    expectedEffect: (finding, actions) =>
      actions.flatMap((a) => (a.kind === "rate-limit" ? [{ kind: "traffic-below", node: suspectOf(finding, a.atNodes), pps: a.pps } as const] : [])),
    settleMs: 1_000, // XDP applies at once; two metric reports show the new rate
    cooldownMs: 60_000,
  },
  {
    name: "quarantine-misbehaving-node",
    handles: ["node-misbehaving", "link-degraded"],
    precondition: (finding, context) => {
      const n = firstSuspect(finding, context, (f) => isByzantine(f) || f.flooding === true);
      if (n === undefined) return no("no suspect is flagged lying, badly signing or flooding");
      if (flagsOf(context, n).mac === undefined) return no(`${n}'s MAC is unknown`);
      if (neighboursOf(context.topology, n).length === 0) return no(`${n} has no neighbours to block it`);
      if (cutsOthers(context.topology, n))
        return { ok: false, why: `${n} is a cut vertex: blocking it would disconnect other nodes`, refused: "would-cut-routes" };
      return ok;
    },
    actions: (finding, context) => {
      const n = firstSuspect(finding, context, (f) => isByzantine(f) || f.flooding === true)!;
      return [{ kind: "quarantine", atNodes: neighboursOf(context.topology, n), mac: flagsOf(context, n).mac! }];
    },
    expectedEffect: (finding, actions) =>
      actions.flatMap((a) => (a.kind === "quarantine" ? [{ kind: "node-isolated", node: suspectOf(finding, a.atNodes), atNodes: a.atNodes } as const] : [])),
    settleMs: 1_000,
    cooldownMs: 600_000,
  },
  {
    name: "switch-gateway",
    handles: ["node-dead", "node-silent", "upstream-failure"],
    precondition: (finding, context) => {
      const b = finding.blamed;
      if (b.kind !== "node" || !finding.affected.includes(b.node)) return no("the blamed element is not a lost node");
      if (!serving(context, b.node)) return no(`${b.node} is not a serving gateway`);
      return bestStandby(finding, context) === undefined ? no("no standby gateway candidate is reachable") : ok;
    },
    actions: (finding, context) => {
      const lost = (finding.blamed as { node: string }).node;
      const actions: HealingAction[] = [{ kind: "gateway", node: bestStandby(finding, context)!, mode: "server" }];
      // Alive in the mesh, it still announces itself and clients keep choosing it.
      if (finding.kind === "node-silent") actions.push({ kind: "gateway", node: lost, mode: "off" });
      return actions;
    },
    expectedEffect: (_finding, actions) =>
      actions.flatMap((a) => (a.kind === "gateway" && a.mode === "server" ? [{ kind: "gateway-serving", node: a.node } as const] : [])),
    settleMs: 5_000, // gateway announcement travels with OGMs; clients reselect on their next gateway check
    cooldownMs: 300_000,
  },
  {
    // A crashed node cannot be told anything; its neighbours can stop listening to it. The
    // fence keeps a half-dead node (rebooting, flapping radio) from pulling routes back
    // through itself before it is healthy. It lifts itself after `fenceTtlMs`, so a node
    // that comes back is heard again; `x0 heal release` lifts it sooner.
    name: "fence-dead-node",
    handles: ["node-dead"],
    precondition: (finding, context) => {
      const b = finding.blamed;
      if (b.kind !== "node") return no("the finding blames no single node");
      if (flagsOf(context, b.node).mac === undefined) return no(`${b.node}'s MAC is unknown`);
      const lost = new Set(finding.affected);
      return neighboursOf(context.topology, b.node).some((n) => !lost.has(n)) ? ok : no(`${b.node} has no heard neighbour to fence it`);
    },
    actions: (finding, context, options) => {
      const node = (finding.blamed as { node: string }).node;
      const lost = new Set(finding.affected);
      return [{ kind: "quarantine", atNodes: neighboursOf(context.topology, node).filter((n) => !lost.has(n)), mac: flagsOf(context, node).mac!, ttlMs: options.fenceTtlMs }];
    },
    expectedEffect: (finding, actions) =>
      actions.flatMap((a) => (a.kind === "quarantine" ? [{ kind: "node-isolated", node: (finding.blamed as { node: string }).node, atNodes: a.atNodes } as const] : [])),
    settleMs: 1_000,
    cooldownMs: 600_000,
  },
  {
    name: "re-route-around-link",
    handles: ["link-degraded", "link-dead"],
    precondition: (finding, context, options) => {
      if (finding.blamed.kind !== "link") return no("the finding blames no single link");
      const raises = linkRaises(finding, context);
      if (raises.length === 0) return no(`no route uses ${linkName(finding.blamed.link)}, or it is not in the route topology`);
      const lost = beyondMargin(context, raises.flatMap((r) => r.lostRoutes), options);
      if (lost.length > 0)
        return {
          ok: false,
          why: `avoiding ${linkName(finding.blamed.link)} would leave ${lost.length} source/destination pair(s) without a route, e.g. ${lost[0]!.source}->${lost[0]!.destination}`,
          refused: "would-cut-routes",
        };
      return ok;
    },
    actions: (finding, context) =>
      linkRaises(finding, context).flatMap((r) =>
        r.hardIfs.map((h): HealingAction => (h === "" ? { kind: "hop-penalty", node: r.node, value: r.hopPenalty } : { kind: "hop-penalty", node: r.node, hardIf: h, value: r.hopPenalty })),
      ),
    expectedEffect: (finding, actions) => {
      if (finding.blamed.kind !== "link") return [];
      const [a, b] = finding.blamed.link;
      const nodes = new Set(actions.flatMap((x) => (x.kind === "hop-penalty" ? [x.node] : [])));
      return [...nodes].sort(compare).map((n) => ({ kind: "route-avoids-link", link: n === a ? [a, b] : [b, a] }) as const);
    },
    settleMs: 3_000, // a few OGM intervals for the TQ window to take the new penalty
    cooldownMs: 60_000,
  },
  {
    // A single-radio node's links share one interface, so a per-interface penalty cannot
    // single out one neighbour. Raising the mesh-wide hop_penalty of each end takes it out of
    // the other end's transit routes: only traffic between the two ends stays on the link.
    name: "steer-transit-off-link",
    handles: ["link-degraded", "link-dead"],
    precondition: (finding, context, options) => {
      if (finding.blamed.kind !== "link") return no("the finding blames no single link");
      const steers = transitRaises(finding, context);
      if (steers.length === 0) return no(`no transit route uses ${linkName(finding.blamed.link)}`);
      const lost = beyondMargin(context, steers.flatMap((r) => r.lostRoutes), options);
      if (lost.length > 0)
        return {
          ok: false,
          why: `steering transit off ${linkName(finding.blamed.link)} would leave ${lost.length} source/destination pair(s) without a route, e.g. ${lost[0]!.source}->${lost[0]!.destination}`,
          refused: "would-cut-routes",
        };
      return ok;
    },
    actions: (finding, context) => transitRaises(finding, context).map((r): HealingAction => ({ kind: "hop-penalty", node: r.via, value: r.hopPenalty })),
    expectedEffect: (finding, actions) => {
      if (finding.blamed.kind !== "link") return [];
      const [a, b] = finding.blamed.link;
      return actions.flatMap((x) => (x.kind === "hop-penalty" ? [{ kind: "route-avoids-link", link: x.node === b ? [a, b] : [b, a] } as const] : []));
    },
    settleMs: 2_000, // the next OGM carries the new penalty; a link report later the loop sees it
    cooldownMs: 60_000,
  },
  {
    // Takes a degraded link out of service while no route needs it: batman-adv's own TQ has
    // already moved every route off it (or re-routing moved them), so dropping each end's
    // frames at the other (XDP) cuts nothing, and keeps batman-adv from taking the link back at
    // the next good OGM while it is still bad. Never while a route crosses it: until
    // batman-adv's TQ window notices a block (seconds), such a route loses every frame, where
    // the degraded link still delivered most of them after the radio's retries. The block
    // lifts itself after `blockTtlMs`, so a link that recovered is seen to recover.
    name: "block-degraded-link",
    handles: ["link-degraded"],
    precondition: (finding, context) => {
      if (finding.blamed.kind !== "link") return no("the finding blames no single link");
      const [a, b] = finding.blamed.link;
      if (macSeen(context, a, b) === undefined || macSeen(context, b, a) === undefined) return no(`the MACs of ${linkName(finding.blamed.link)} are unknown`);
      if (linkIsBridge(context.topology, a, b))
        return { ok: false, why: `${linkName(finding.blamed.link)} is a bridge: blocking it would disconnect the mesh`, refused: "would-cut-routes" };
      const crossing = routesCrossing(context, a, b);
      if (crossing > 0)
        return { ok: false, why: `${crossing} route(s) still cross ${linkName(finding.blamed.link)}: blocking it would cut them until batman-adv notices`, refused: "would-cut-routes" };
      return ok;
    },
    actions: (finding, context, options) => {
      const [a, b] = (finding.blamed as { link: Link }).link;
      return [
        { kind: "quarantine", atNodes: [a], mac: macSeen(context, a, b)!, ttlMs: options.blockTtlMs },
        { kind: "quarantine", atNodes: [b], mac: macSeen(context, b, a)!, ttlMs: options.blockTtlMs },
      ];
    },
    expectedEffect: (finding) => {
      const [a, b] = (finding.blamed as { link: Link }).link;
      return [
        { kind: "route-avoids-link", link: [a, b] },
        { kind: "route-avoids-link", link: [b, a] },
      ];
    },
    settleMs: 1_000, // XDP drops at once; the next link report shows the link gone
    cooldownMs: 600_000,
  },
  {
    // For a link that died while both ends are heard (a wedged radio or driver), or a hub whose
    // links to the nodes behind it died. Not for a degraded link: a restart does not clear a
    // radio's interference, and takes every other link on the interface down with it. Not for a
    // partition: the cut-off side hears no command, and a restart on the main side only
    // disturbs its other links.
    name: "restart-interface",
    handles: ["link-dead", "upstream-failure"],
    precondition: (finding, context) =>
      interfaceRestarts(finding, context).length > 0 ? ok : no("no heard end of the failed link(s) has a known interface towards it"),
    actions: (finding, context) => interfaceRestarts(finding, context),
    expectedEffect: (finding, actions) => {
      if (finding.blamed.kind === "link") return [{ kind: "link-healthy", link: finding.blamed.link }];
      return finding.affected.map((n) => ({ kind: "node-reachable", node: n }) as const);
    },
    settleMs: 10_000, // interface up, neighbour re-learned, TQ window refilled
    cooldownMs: 300_000,
  },
];

/** The node a quarantine or rate limit aims at: the suspect not among the enforcing neighbours. */
const suspectOf = (finding: Finding, atNodes: readonly string[]): string => suspects(finding).find((n) => !atNodes.includes(n)) ?? suspects(finding)[0]!;

export const defaultPlanOptions: ResolvedPlanOptions = {
  budget: { maxActions: 10, windowMs: 10_000 },
  escalateCooldownMs: 900_000,
  rateLimitPps: 1_000,
  fenceTtlMs: 5_000,
  blockTtlMs: 10_000,
  marginalRouteTq: 0,
  policies: healingPolicies,
};

export const resolvePlanOptions = (options: PlanOptions = {}): ResolvedPlanOptions => ({
  budget: {
    maxActions: options.budget?.maxActions ?? defaultPlanOptions.budget.maxActions,
    windowMs: options.budget?.windowMs ?? defaultPlanOptions.budget.windowMs,
  },
  escalateCooldownMs: options.escalateCooldownMs ?? defaultPlanOptions.escalateCooldownMs,
  rateLimitPps: options.rateLimitPps ?? defaultPlanOptions.rateLimitPps,
  fenceTtlMs: options.fenceTtlMs ?? defaultPlanOptions.fenceTtlMs,
  blockTtlMs: options.blockTtlMs ?? defaultPlanOptions.blockTtlMs,
  marginalRouteTq: options.marginalRouteTq ?? defaultPlanOptions.marginalRouteTq,
  policies: options.policies ?? defaultPlanOptions.policies,
});

// --- the planner ---------------------------------------------------------------------------

type Prior = { readonly hold: Hold } | { readonly skip: Skipped } | undefined;

/** What an earlier use of `policy` (matched by `matches`) inside its cooldown means now. */
const priorOf = (policy: HealingPolicy, target: string, recent: readonly RecentAction[], matches: (r: RecentAction) => boolean, nowMs: number): Prior => {
  const prior = recent.filter((r) => r.atMs <= nowMs && nowMs < r.atMs + policy.cooldownMs && matches(r)).sort((a, b) => b.atMs - a.atMs)[0];
  if (!prior) return undefined;
  const settleEnd = prior.atMs + policy.settleMs;
  if (prior.outcome === "pending" && nowMs < settleEnd)
    return { hold: { decision: "hold", policy: policy.name, target, untilMs: settleEnd, cause: "settling", why: `${prior.policy} at ${prior.atMs} is settling until ${settleEnd}` } };
  if (prior.outcome === "recovered") {
    const until = prior.atMs + policy.cooldownMs;
    return { hold: { decision: "hold", policy: policy.name, target, untilMs: until, cause: "cooldown", why: `${prior.policy} at ${prior.atMs} recovered; not repeated before ${until} (flapping)` } };
  }
  const how = prior.outcome === "pending" ? "unverified after its settle time" : prior.outcome;
  return { skip: { policy: policy.name, cause: "cooldown", why: `${prior.policy} at ${prior.atMs} was ${how}; within cooldown until ${prior.atMs + policy.cooldownMs}` } };
};

/**
 * Picks the first applicable policy for a finding, or escalates, or holds. Pure: `nowMs` is
 * the only time, `context.recentActions` the only memory. A hold is never the answer to a new
 * occurrence (`context.newOccurrence`) unless an earlier plan is still settling: a node that
 * crashes again inside its fence's cooldown, or a link degraded again after the operator was
 * told, is escalated (`repeat-within-cooldown`), not repeated and not passed over in silence.
 */
export const planHealing = (finding: Finding, context: PlanningContext, nowMs: number, planOptions: PlanOptions = {}): PlanDecision => {
  const options = resolvePlanOptions(planOptions);
  const decision = firstApplicable(finding, context, nowMs, options);
  if (decision.decision !== "hold" || decision.cause === "settling" || context.newOccurrence !== true) return decision;
  const reason: EscalationReason = "repeat-within-cooldown";
  return {
    decision: "escalate",
    policy: "escalate",
    target: decision.target,
    reason,
    actions: [{ kind: "escalate", reason: `${reason}: ${finding.kind} ${decision.target}: came back while ${decision.why}` }],
    cooldownUntilMs: nowMs + options.escalateCooldownMs,
    skipped: [],
  };
};

const firstApplicable = (finding: Finding, context: PlanningContext, nowMs: number, options: ResolvedPlanOptions): PlanDecision => {
  const target = findingTarget(finding);
  const recent = context.recentActions ?? [];
  const skipped: Skipped[] = [];

  for (const policy of options.policies) {
    if (!policy.handles.includes(finding.kind)) continue;
    const byTarget = priorOf(policy, target, recent, (r) => r.policy === policy.name && r.target === target, nowMs);
    if (byTarget && "hold" in byTarget) return byTarget.hold;
    if (byTarget) {
      skipped.push(byTarget.skip);
      continue;
    }
    const verdict = policy.precondition(finding, context, options);
    if (!verdict.ok) {
      skipped.push({ policy: policy.name, why: verdict.why, cause: verdict.refused ?? "precondition" });
      continue;
    }
    const actions = policy.actions(finding, context, options);
    const keys = new Set(actions.map(actionKey));
    const byAction = priorOf(policy, target, recent, (r) => r.policy !== "escalate" && r.actions.some((a) => keys.has(actionKey(a))), nowMs);
    if (byAction && "hold" in byAction) return byAction.hold;
    if (byAction) {
      skipped.push(byAction.skip);
      continue;
    }
    const { maxActions, windowMs } = options.budget;
    const used = recent
      .filter((r) => r.atMs <= nowMs && r.atMs > nowMs - windowMs)
      .reduce((n, r) => n + r.actions.filter((a) => a.kind !== "escalate").length, 0);
    if (used + actions.length > maxActions)
      return escalate(finding, target, "action-budget-exhausted", `${policy.name} needs ${actions.length} action(s) but ${used} of ${maxActions} were issued in the last ${windowMs} ms`, skipped, recent, nowMs, options);
    return {
      decision: "plan",
      policy: policy.name,
      target,
      actions,
      expectedEffects: policy.expectedEffect(finding, actions),
      verifyAtMs: nowMs + policy.settleMs,
      cooldownUntilMs: nowMs + policy.cooldownMs,
      skipped,
    };
  }

  const reason: EscalationReason = skipped.some((s) => s.cause === "cooldown")
    ? "tried-within-cooldown"
    : skipped.some((s) => s.cause === "would-cut-routes")
      ? "would-cut-routes"
      : "no-policy-applies";
  const detail = skipped.length === 0 ? `no policy handles ${finding.kind}` : skipped.map((s) => `${s.policy}: ${s.why}`).join("; ");
  return escalate(finding, target, reason, detail, skipped, recent, nowMs, options);
};

const escalate = (
  finding: Finding,
  target: string,
  reason: EscalationReason,
  detail: string,
  skipped: readonly Skipped[],
  recent: readonly RecentAction[],
  nowMs: number,
  options: ResolvedPlanOptions,
): Escalation | Hold => {
  const told = recent
    .filter((r) => r.policy === "escalate" && r.target === target && r.atMs <= nowMs && nowMs < r.atMs + options.escalateCooldownMs)
    .sort((a, b) => b.atMs - a.atMs)[0];
  if (told) {
    const until = told.atMs + options.escalateCooldownMs;
    return { decision: "hold", policy: "escalate", target, untilMs: until, cause: "told", why: `operator already told at ${told.atMs}; not again before ${until}` };
  }
  return {
    decision: "escalate",
    policy: "escalate",
    target,
    reason,
    actions: [{ kind: "escalate", reason: `${reason}: ${finding.kind} ${target}: ${detail}` }],
    cooldownUntilMs: nowMs + options.escalateCooldownMs,
    skipped,
  };
};

/**
 * A plan's actions as the HEAL events carry them: one step per action, its target nodes apart
 * from the action (a quarantine is one XDP rule, enforced at every neighbour). Escalations
 * are not steps: the loop records them as `heal.Escalated`.
 */
export const toPlanSteps = (actions: readonly HealingAction[]): PlanStep[] =>
  actions.flatMap((a): PlanStep[] => {
    switch (a.kind) {
      case "hop-penalty":
        return [{ action: a.hardIf === undefined ? { kind: "hop-penalty", value: a.value } : { kind: "hop-penalty", hardIf: a.hardIf, value: a.value }, targetNodeIds: [a.node] }];
      case "gateway":
        return [{ action: { kind: "gateway", mode: a.mode }, targetNodeIds: [a.node] }];
      case "quarantine":
        return [{ action: { kind: "quarantine", source: { kind: "mac", mac: a.mac }, ...(a.ttlMs !== undefined ? { ttlMs: a.ttlMs } : {}) }, targetNodeIds: [...a.atNodes] }];
      case "rate-limit":
        return [{ action: { kind: "rate-limit", source: { kind: "mac", mac: a.mac }, pps: a.pps, burst: a.burst }, targetNodeIds: [...a.atNodes] }];
      case "restart-interface":
        return [{ action: { kind: "restart-interface", ifname: a.ifname }, targetNodeIds: [a.node] }];
      case "escalate":
        return [];
    }
  });
