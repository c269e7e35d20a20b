import { describe, expect, it } from "vitest";
import {
  defaultPlanOptions,
  findingTarget,
  healingPolicies,
  planHealing,
  type Finding,
  type HealingAction,
  type PlanDecision,
  type PlanningContext,
  type RecentAction,
} from "./plan.ts";
import type { RootCause } from "./root-cause.ts";
import { bestRoutesTo, hopPenaltyToAvoid, hopPenaltyToSteer, routeTable, type RouteLink, type RouteTopology } from "./route-cost.ts";

const NOW = 1_000_000;

/** Both directions of a link, each end on its own named interface (or none). */
const both = (a: string, b: string, tq: number, ifA?: string, ifB?: string): RouteLink[] => [
  ifA === undefined ? { source: a, target: b, tq } : { source: a, target: b, tq, hardIf: ifA },
  ifB === undefined ? { source: b, target: a, tq } : { source: b, target: a, tq, hardIf: ifB },
];

// A square: A-B is the good direct path, A-C-D-B the detour.
const square: RouteTopology = {
  links: [...both("A", "B", 250, "mesh0", "mesh0"), ...both("B", "D", 250, "mesh1", "mesh0"), ...both("A", "C", 200, "mesh1", "mesh0"), ...both("C", "D", 200, "mesh1", "mesh1")],
};
// A chain: A-B is the only way to A.
const chain: RouteTopology = { links: [...both("A", "B", 250), ...both("B", "C", 250)] };
const chainWithIfs: RouteTopology = { links: [...both("A", "B", 250, "wlan0", "wlan0"), ...both("B", "C", 250, "wlan1", "wlan0")] };

const linkFinding = (kind: "link-degraded" | "link-dead", a: string, b: string): RootCause => ({ kind, blamed: { kind: "link", link: [a, b] }, affected: [], reason: "test" });
const nodeFinding = (kind: "node-dead" | "node-silent", node: string): RootCause => ({ kind, blamed: { kind: "node", node }, affected: [node], reason: "test" });
const misbehaving = (node: string): Finding => ({ kind: "node-misbehaving", blamed: { kind: "node", node }, affected: [], reason: "test" });

const recent = (policy: string, target: string, actions: HealingAction[], atMs: number, outcome: RecentAction["outcome"]): RecentAction => ({ policy, target, actions, atMs, outcome });

const expectPlan = (d: PlanDecision) => {
  if (d.decision !== "plan") throw new Error(`expected a plan, got ${JSON.stringify(d)}`);
  return d;
};
const expectEscalation = (d: PlanDecision) => {
  if (d.decision !== "escalate") throw new Error(`expected an escalation, got ${JSON.stringify(d)}`);
  return d;
};

describe("policies as data", () => {
  it("are tried in a fixed order, each with a settle time shorter than its cooldown", () => {
    expect(healingPolicies.map((p) => p.name)).toEqual(["rate-limit-flooding-node", "quarantine-misbehaving-node", "switch-gateway", "fence-dead-node", "re-route-around-link", "steer-transit-off-link", "block-degraded-link", "restart-interface"]);
    for (const p of healingPolicies) expect(p.settleMs).toBeLessThan(p.cooldownMs);
  });

  it("defaults: 10 actions per 10 s, operator told at most once per 15 min per target, 1 000 pps rate limit", () => {
    expect(defaultPlanOptions.budget).toEqual({ maxActions: 10, windowMs: 10_000 });
    expect(defaultPlanOptions.escalateCooldownMs).toBe(900_000);
    expect(defaultPlanOptions.rateLimitPps).toBe(1_000);
  });
});

describe("re-route around a bad link", () => {
  it("given a degraded A-B with a detour, when planning, then both ends raise the hop penalty route-cost computes, and the routes avoid the link", () => {
    const plan = expectPlan(planHealing(linkFinding("link-degraded", "A", "B"), { topology: square }, NOW));
    const ab = hopPenaltyToAvoid(square, "A", "B")!;
    const ba = hopPenaltyToAvoid(square, "B", "A")!;
    expect(plan.policy).toBe("re-route-around-link");
    expect(plan.actions).toEqual([
      { kind: "hop-penalty", node: "A", hardIf: "mesh0", value: ab.hopPenalty },
      { kind: "hop-penalty", node: "B", hardIf: "mesh0", value: ba.hopPenalty },
    ]);
    expect(plan.expectedEffects).toEqual([
      { kind: "route-avoids-link", link: ["A", "B"] },
      { kind: "route-avoids-link", link: ["B", "A"] },
    ]);
    expect(plan.verifyAtMs).toBe(NOW + 3_000);
    expect(plan.cooldownUntilMs).toBe(NOW + 60_000);

    const healed: RouteTopology = { ...square, nodes: { A: { interfaceHopPenalty: { mesh0: ab.hopPenalty } }, B: { interfaceHopPenalty: { mesh0: ba.hopPenalty } } } };
    for (const d of ["A", "B", "C", "D"])
      for (const r of bestRoutesTo(healed, d).values()) expect(r.links.some((l) => (l.source === "A" && l.target === "B") || (l.source === "B" && l.target === "A"))).toBe(false);
  });

  it("given the current penalties already keep every route off a degraded link, then re-route does not apply and the link is taken out of service at both ends for a while", () => {
    const ab = hopPenaltyToAvoid(square, "A", "B")!;
    const ba = hopPenaltyToAvoid(square, "B", "A")!;
    const topology: RouteTopology = { ...square, nodes: { A: { interfaceHopPenalty: { mesh0: ab.hopPenalty } }, B: { interfaceHopPenalty: { mesh0: ba.hopPenalty } } } };
    const d = expectPlan(planHealing(linkFinding("link-degraded", "A", "B"), { topology, nodes: { A: { mac: "m:a" }, B: { mac: "m:b" } } }, NOW));
    expect(d.policy).toBe("block-degraded-link");
    expect(d.skipped.find((s) => s.policy === "re-route-around-link")).toMatchObject({ cause: "precondition", why: expect.stringContaining("no route uses A|B") });
    expect(d.actions).toEqual([
      { kind: "quarantine", atNodes: ["A"], mac: "m:b", ttlMs: defaultPlanOptions.blockTtlMs },
      { kind: "quarantine", atNodes: ["B"], mac: "m:a", ttlMs: defaultPlanOptions.blockTtlMs },
    ]);
  });

  it("given a route still crosses the degraded link (its ends' own traffic), then it is not blocked: the operator is told", () => {
    // A and B are each other's only neighbour in reach for their own traffic; no transit to steer.
    const topology: RouteTopology = { links: [...both("A", "B", 250, "mesh0", "mesh0"), ...both("A", "C", 20, "mesh0", "mesh0"), ...both("C", "B", 20, "mesh0", "mesh0")] };
    const e = expectEscalation(planHealing(linkFinding("link-degraded", "A", "B"), { topology, nodes: { A: { mac: "m:a" }, B: { mac: "m:b" } } }, NOW));
    expect(e.skipped).toContainEqual(expect.objectContaining({ policy: "block-degraded-link", cause: "would-cut-routes", why: expect.stringContaining("still cross A|B") }));
  });

  it("given the same for a dead link, then re-route does not apply (nothing to raise) and the interface is restarted", () => {
    const ab = hopPenaltyToAvoid(square, "A", "B")!;
    const ba = hopPenaltyToAvoid(square, "B", "A")!;
    const topology: RouteTopology = { ...square, nodes: { A: { interfaceHopPenalty: { mesh0: ab.hopPenalty } }, B: { interfaceHopPenalty: { mesh0: ba.hopPenalty } } } };
    const d = planHealing(linkFinding("link-dead", "A", "B"), { topology }, NOW);
    expect(d.decision === "plan" && d.policy).toBe("restart-interface");
    expect(d.decision === "plan" && d.skipped.find((s) => s.policy === "re-route-around-link")).toMatchObject({ cause: "precondition", why: expect.stringContaining("no route uses A|B") });
  });

  it("given the link is the only way to A, when planning, then re-route is refused and, with no interface known, the operator is told why", () => {
    const e = expectEscalation(planHealing(linkFinding("link-degraded", "A", "B"), { topology: chain }, NOW));
    expect(e.reason).toBe("would-cut-routes");
    expect(e.skipped).toContainEqual(expect.objectContaining({ policy: "re-route-around-link", cause: "would-cut-routes" }));
    expect(e.actions[0].reason).toMatch(/^would-cut-routes: link-degraded link:A\|B: .*without a route/);
  });

  it("given the same refusal but known interfaces, then a degraded link is still not restarted (a restart clears no interference): the operator is told", () => {
    const e = expectEscalation(planHealing(linkFinding("link-degraded", "A", "B"), { topology: chainWithIfs }, NOW));
    expect(e.reason).toBe("would-cut-routes");
    // Rate limit and quarantine need a flagged suspect; re-route and steering would cut A off; the block needs MACs.
    expect(e.skipped.map((s) => [s.policy, s.cause])).toEqual([
      ["rate-limit-flooding-node", "precondition"],
      ["quarantine-misbehaving-node", "precondition"],
      ["re-route-around-link", "would-cut-routes"],
      ["steer-transit-off-link", "would-cut-routes"],
      ["block-degraded-link", "precondition"],
    ]);
  });

  it("given the same refusal for a dead link with known interfaces, then the interface is restarted (a wedged radio may come back)", () => {
    const plan = expectPlan(planHealing(linkFinding("link-dead", "A", "B"), { topology: chainWithIfs }, NOW));
    expect(plan.policy).toBe("restart-interface");
    expect(plan.actions).toEqual([{ kind: "restart-interface", node: "A", ifname: "wlan0" }]);
  });
});

describe("re-route at the edge of batman-adv's reach", () => {
  // The square with Z hanging off B by a weak link: every route to Z goes through B, and
  // raising B's hop_penalty (to steer A's transit off A-B) weakens all of them.
  const withZ = (tq: number): RouteTopology => ({ links: [...square.links.map((l) => ({ ...l, hardIf: "mesh0" })), ...both("B", "Z", tq, "mesh0", "mesh0")] });
  const steerCost = (topology: RouteTopology) => {
    const before = routeTable(topology);
    return ["A", "B"].flatMap((from) => hopPenaltyToSteer(topology, from, from === "A" ? "B" : "A")!.lostRoutes.map((l) => before(l.destination).get(l.source)!.tq));
  };

  it("given a margin of 3 and a steer that costs only routes at batman-adv's floor (TQ at most 3), when planning, then transit is steered off the link anyway", () => {
    const topology = withZ(4);
    const lost = steerCost(topology);
    expect(lost.length).toBeGreaterThan(0);
    expect(Math.max(...lost)).toBeLessThanOrEqual(3);
    const plan = expectPlan(planHealing(linkFinding("link-degraded", "A", "B"), { topology }, NOW, { marginalRouteTq: 3 }));
    expect(plan.policy).toBe("steer-transit-off-link");
  });

  it("given a margin of 3 and a steer that would cost a route above it, then it is refused as cutting routes", () => {
    const topology = withZ(20);
    expect(Math.max(...steerCost(topology))).toBeGreaterThan(3);
    const e = expectEscalation(planHealing(linkFinding("link-degraded", "A", "B"), { topology }, NOW, { marginalRouteTq: 3 }));
    expect(e.reason).toBe("would-cut-routes");
    expect(e.skipped).toContainEqual(expect.objectContaining({ policy: "steer-transit-off-link", cause: "would-cut-routes" }));
  });

  it("given the default margin (0), then even a route at the floor keeps the link in service", () => {
    expect(defaultPlanOptions.marginalRouteTq).toBe(0);
    const e = expectEscalation(planHealing(linkFinding("link-degraded", "A", "B"), { topology: withZ(4) }, NOW));
    expect(e.reason).toBe("would-cut-routes");
  });
});

describe("restart an interface", () => {
  it("given a dead link no route uses any more, then the end whose interface carries the fewest other neighbours restarts it", () => {
    // B's mesh0 also carries D; A's mesh0 only B.
    const topology: RouteTopology = { links: square.links.filter((l) => !(l.source === "A" && l.target === "B") && !(l.source === "B" && l.target === "A")).concat(both("A", "B", 0, "mesh0", "mesh0")) };
    const plan = expectPlan(planHealing(linkFinding("link-dead", "A", "B"), { topology }, NOW));
    expect(plan.policy).toBe("restart-interface");
    expect(plan.actions).toEqual([{ kind: "restart-interface", node: "A", ifname: "mesh0" }]);
    expect(plan.expectedEffects).toEqual([{ kind: "link-healthy", link: ["A", "B"] }]);
    expect(plan.verifyAtMs).toBe(NOW + 10_000);
  });

  it("given an upstream failure blamed on C or its link to B, then B restarts its interface towards C", () => {
    const finding: RootCause = { kind: "upstream-failure", blamed: { kind: "node", node: "C", link: ["B", "C"] }, affected: ["C", "D"], reason: "test" };
    const topology: RouteTopology = { links: [...chainWithIfs.links, ...both("C", "D", 200, "wlan1", "wlan0")] };
    const plan = expectPlan(planHealing(finding, { topology }, NOW));
    expect(plan.actions).toEqual([{ kind: "restart-interface", node: "B", ifname: "wlan1" }]);
    expect(plan.expectedEffects).toEqual([
      { kind: "node-reachable", node: "C" },
      { kind: "node-reachable", node: "D" },
    ]);
  });

  it("given a partition, then no interface is restarted (the cut-off side hears no command, the main side's other links would go down): the operator is told", () => {
    const finding: RootCause = { kind: "partition", blamed: { kind: "cut", nodes: [], links: [["B", "C"]] }, affected: ["C"], reason: "test" };
    const e = expectEscalation(planHealing(finding, { topology: chainWithIfs }, NOW));
    expect(e.reason).toBe("no-policy-applies");
    expect(e.actions[0].reason).toMatch(/^no-policy-applies: partition /);
  });
});

describe("switch gateway", () => {
  // G serves; S1 hangs off the edge, S2 sits in the middle of the mesh.
  const topology: RouteTopology = { links: [...both("G", "A", 250), ...both("A", "S2", 250), ...both("S2", "B", 250), ...both("B", "S1", 150)] };
  const context: PlanningContext = { topology, gateways: { G: "server", S1: "client", S2: "client" }, gatewayCandidates: ["S1", "S2"] };

  it("given the serving gateway G is dead, then the best-connected standby is promoted", () => {
    const plan = expectPlan(planHealing(nodeFinding("node-dead", "G"), context, NOW));
    expect(plan.policy).toBe("switch-gateway");
    expect(plan.actions).toEqual([{ kind: "gateway", node: "S2", mode: "server" }]);
    expect(plan.expectedEffects).toEqual([{ kind: "gateway-serving", node: "S2" }]);
    expect(plan.verifyAtMs).toBe(NOW + 5_000);
  });

  it("given G is alive in the mesh but silent, then it is also switched off, since clients still choose it", () => {
    const plan = expectPlan(planHealing(nodeFinding("node-silent", "G"), context, NOW));
    expect(plan.actions).toEqual([
      { kind: "gateway", node: "S2", mode: "server" },
      { kind: "gateway", node: "G", mode: "off" },
    ]);
  });

  it("given no standby candidate, then the operator is told there is none", () => {
    const e = expectEscalation(planHealing(nodeFinding("node-dead", "G"), { ...context, gatewayCandidates: ["G"] }, NOW));
    expect(e.reason).toBe("no-policy-applies");
    expect(e.actions[0].reason).toContain("no standby gateway candidate");
  });
});

describe("rate-limit a flooding node", () => {
  const topology: RouteTopology = { links: [...both("A", "X", 200), ...both("X", "B", 200), ...both("A", "B", 200)] };

  it("given X floods, then its neighbours cap its MAC at its baseline rate", () => {
    const context: PlanningContext = { topology, nodes: { X: { mac: "02:00:00:00:00:0x", flooding: true, baselinePps: 200 } } };
    const plan = expectPlan(planHealing(misbehaving("X"), context, NOW));
    expect(plan.policy).toBe("rate-limit-flooding-node");
    expect(plan.actions).toEqual([{ kind: "rate-limit", atNodes: ["A", "B"], mac: "02:00:00:00:00:0x", pps: 200, burst: 200 }]);
    expect(plan.expectedEffects).toEqual([{ kind: "traffic-below", node: "X", pps: 200 }]);
    expect(plan.verifyAtMs).toBe(NOW + 1_000);
  });

  it("given a degraded link next to a flooding node, then the flood is limited rather than routed around", () => {
    const context: PlanningContext = { topology, nodes: { X: { mac: "m:x", flooding: true } } };
    const plan = expectPlan(planHealing(linkFinding("link-degraded", "A", "X"), context, NOW));
    expect(plan.actions).toEqual([{ kind: "rate-limit", atNodes: ["A", "B"], mac: "m:x", pps: 1_000, burst: 1_000 }]);
    expect(plan.expectedEffects).toEqual([{ kind: "traffic-below", node: "X", pps: 1_000 }]);
  });

  it("given the rate limit on X failed within its cooldown, then X is quarantined", () => {
    const context: PlanningContext = {
      topology,
      nodes: { X: { mac: "m:x", flooding: true } },
      recentActions: [recent("rate-limit-flooding-node", "node:X", [{ kind: "rate-limit", atNodes: ["A", "B"], mac: "m:x", pps: 1_000, burst: 1_000 }], NOW - 5_000, "not-recovered")],
    };
    const plan = expectPlan(planHealing(misbehaving("X"), context, NOW));
    expect(plan.policy).toBe("quarantine-misbehaving-node");
    expect(plan.skipped).toEqual([expect.objectContaining({ policy: "rate-limit-flooding-node", cause: "cooldown" })]);
  });
});

describe("quarantine a misbehaving node", () => {
  const topology: RouteTopology = { links: [...both("A", "X", 200), ...both("X", "B", 200), ...both("A", "B", 200)] };

  it("given X lies in its metrics, then its neighbours block its MAC with XDP", () => {
    const plan = expectPlan(planHealing(misbehaving("X"), { topology, nodes: { X: { mac: "m:x", lying: true, flooding: true } } }, NOW));
    expect(plan.policy).toBe("quarantine-misbehaving-node");
    expect(plan.actions).toEqual([{ kind: "quarantine", atNodes: ["A", "B"], mac: "m:x" }]);
    expect(plan.expectedEffects).toEqual([{ kind: "node-isolated", node: "X", atNodes: ["A", "B"] }]);
    expect(plan.cooldownUntilMs).toBe(NOW + 600_000);
  });

  it("given X sends badly signed events but is the only way to C, then quarantine is refused as cutting routes", () => {
    const t: RouteTopology = { links: [...both("A", "X", 200), ...both("X", "C", 200)] };
    const e = expectEscalation(planHealing(misbehaving("X"), { topology: t, nodes: { X: { mac: "m:x", badSignatures: true } } }, NOW));
    expect(e.reason).toBe("would-cut-routes");
    expect(e.actions[0].reason).toContain("X is a cut vertex");
  });

  it("given the MAC is unknown, then nothing can be blocked and the operator is told", () => {
    const e = expectEscalation(planHealing(misbehaving("X"), { topology, nodes: { X: { lying: true } } }, NOW));
    expect(e.reason).toBe("no-policy-applies");
    expect(e.actions[0].reason).toContain("MAC is unknown");
  });
});

describe("cooldown: no flapping", () => {
  const finding = linkFinding("link-degraded", "A", "B");
  const target = findingTarget(finding);
  const first = expectPlan(planHealing(finding, { topology: square }, NOW));
  const earlier = (outcome: RecentAction["outcome"], atMs: number) => [recent(first.policy, target, [...first.actions], atMs, outcome)];

  it("given the re-route is still settling, then planning holds until its settle time ends", () => {
    const d = planHealing(finding, { topology: square, recentActions: earlier("pending", NOW - 1_000) }, NOW);
    expect(d).toMatchObject({ decision: "hold", policy: "re-route-around-link", untilMs: NOW - 1_000 + 3_000 });
  });

  it("given the re-route recovered and the link degrades again inside the cooldown, then it is not repeated: hold until the cooldown ends", () => {
    const d = planHealing(finding, { topology: square, recentActions: earlier("recovered", NOW - 20_000) }, NOW);
    expect(d).toMatchObject({ decision: "hold", cause: "cooldown", untilMs: NOW - 20_000 + 60_000 });
  });

  it("given that hold, when the finding is a new occurrence, then it is escalated (repeat-within-cooldown), not repeated and not passed over", () => {
    const e = expectEscalation(planHealing(finding, { topology: square, recentActions: earlier("recovered", NOW - 20_000), newOccurrence: true }, NOW));
    expect(e.reason).toBe("repeat-within-cooldown");
    expect(e.actions[0].reason).toBe(`repeat-within-cooldown: link-degraded ${target}: came back while re-route-around-link at ${NOW - 20_000} recovered; not repeated before ${NOW + 40_000} (flapping)`);
  });

  it("given the re-route is still settling, when the finding is a new occurrence, then it still holds (the plan for it is under way)", () => {
    const d = planHealing(finding, { topology: square, recentActions: earlier("pending", NOW - 1_000), newOccurrence: true }, NOW);
    expect(d).toMatchObject({ decision: "hold", cause: "settling" });
  });

  it("given the re-route did not recover, then the next policy is tried; when none is left, escalate as tried-within-cooldown", () => {
    const next = expectPlan(planHealing(finding, { topology: square, recentActions: earlier("not-recovered", NOW - 20_000) }, NOW));
    expect(next.policy).toBe("steer-transit-off-link");
    const steered = [...earlier("not-recovered", NOW - 20_000), recent("steer-transit-off-link", target, [...next.actions], NOW - 10_000, "not-recovered")];
    const e = expectEscalation(planHealing(finding, { topology: square, recentActions: steered }, NOW));
    expect(e.reason).toBe("tried-within-cooldown");
    expect(e.skipped.filter((s) => s.cause === "cooldown").map((s) => s.policy)).toEqual(["re-route-around-link", "steer-transit-off-link"]);
  });

  it("given a plan still unverified after its settle time, then it counts as not worked", () => {
    const d = expectPlan(planHealing(finding, { topology: square, recentActions: earlier("pending", NOW - 4_000) }, NOW));
    expect(d.skipped).toContainEqual(expect.objectContaining({ policy: "re-route-around-link", why: expect.stringContaining("unverified") }));
  });

  it("given the cooldown has passed, then the re-route is planned again", () => {
    expect(expectPlan(planHealing(finding, { topology: square, recentActions: earlier("failed", NOW - 60_000) }, NOW)).policy).toBe("re-route-around-link");
  });

  it("given an equivalent action on the same MAC came from another finding, then it is not repeated either", () => {
    const topology: RouteTopology = { links: [...both("A", "X", 200), ...both("X", "B", 200), ...both("A", "B", 200)] };
    const nodes = { X: { mac: "m:x", flooding: true } };
    const other = recent("rate-limit-flooding-node", "link:A|X", [{ kind: "rate-limit", atNodes: ["A", "B"], mac: "m:x", pps: 1_000, burst: 1_000 }], NOW - 500, "pending");
    expect(planHealing(misbehaving("X"), { topology, nodes, recentActions: [other] }, NOW)).toMatchObject({ decision: "hold", policy: "rate-limit-flooding-node", target: "misbehaving:X" });
  });
});

describe("action budget: no storms", () => {
  const finding = linkFinding("link-degraded", "A", "B"); // its plan needs 2 actions
  const busy = (n: number, atMs: number): RecentAction[] =>
    Array.from({ length: n }, (_, i) => recent("restart-interface", `link:N${i}|M${i}`, [{ kind: "restart-interface", node: `N${i}`, ifname: "wlan0" }], atMs, "pending"));

  it("given 9 actions in the last 10 s, when a plan needs 2, then it escalates as action-budget-exhausted", () => {
    const e = expectEscalation(planHealing(finding, { topology: square, recentActions: busy(9, NOW - 2_000) }, NOW));
    expect(e.reason).toBe("action-budget-exhausted");
    expect(e.actions[0].reason).toContain("9 of 10");
  });

  it("given 8 actions in the window, then the 2-action plan fits", () => {
    expect(planHealing(finding, { topology: square, recentActions: busy(8, NOW - 2_000) }, NOW).decision).toBe("plan");
  });

  it("actions older than the window and escalations do not count", () => {
    const old = busy(10, NOW - 10_000);
    const told = Array.from({ length: 10 }, (_, i) => recent("escalate", `node:E${i}`, [{ kind: "escalate", reason: "x" }], NOW - 1_000, "pending"));
    expect(planHealing(finding, { topology: square, recentActions: [...old, ...told] }, NOW).decision).toBe("plan");
  });

  it("the budget is an option", () => {
    expect(expectEscalation(planHealing(finding, { topology: square }, NOW, { budget: { maxActions: 1 } })).reason).toBe("action-budget-exhausted");
  });
});

describe("escalate to the operator", () => {
  it("given a dead node that is no gateway and whose MAC is unknown, then no policy applies: hands must fix it", () => {
    const e = expectEscalation(planHealing(nodeFinding("node-dead", "C"), { topology: chain }, NOW));
    expect(e).toMatchObject({ decision: "escalate", policy: "escalate", target: "node:C", reason: "no-policy-applies", cooldownUntilMs: NOW + 900_000 });
    expect(e.actions[0].kind).toBe("escalate");
    expect(e.actions[0].reason).toMatch(/^no-policy-applies: node-dead node:C: switch-gateway: C is not a serving gateway; fence-dead-node: C's MAC is unknown$/);
  });

  it("given a dead node with a known MAC, then its heard neighbours fence it (drop its frames)", () => {
    const plan = expectPlan(planHealing(nodeFinding("node-dead", "C"), { topology: chain, nodes: { C: { mac: "02:00:00:00:00:0c" } } }, NOW));
    expect(plan.policy).toBe("fence-dead-node");
    expect(plan.actions).toEqual([{ kind: "quarantine", atNodes: ["B"], mac: "02:00:00:00:00:0c", ttlMs: 5_000 }]);
    expect(plan.expectedEffects).toEqual([{ kind: "node-isolated", node: "C", atNodes: ["B"] }]);
  });

  it("given a finding no policy handles, then the reason says so", () => {
    const finding: RootCause = { kind: "node-silent", blamed: { kind: "node", node: "C" }, affected: ["C"], reason: "test" };
    const e = expectEscalation(planHealing(finding, { topology: chain }, NOW, { policies: [] }));
    expect(e.actions[0].reason).toBe("no-policy-applies: node-silent node:C: no policy handles node-silent");
  });

  it("given the operator was told about this target within the escalation cooldown, then hold; after it, tell again", () => {
    const told = [recent("escalate", "node:C", [{ kind: "escalate", reason: "x" }], NOW - 60_000, "pending")];
    expect(planHealing(nodeFinding("node-dead", "C"), { topology: chain, recentActions: told }, NOW)).toMatchObject({
      decision: "hold",
      policy: "escalate",
      untilMs: NOW - 60_000 + 900_000,
    });
    expect(planHealing(nodeFinding("node-dead", "C"), { topology: chain, recentActions: told }, NOW + 900_000).decision).toBe("escalate");
    // The node dead again after it had come back: a new occurrence is recorded and told.
    const again = expectEscalation(planHealing(nodeFinding("node-dead", "C"), { topology: chain, recentActions: told, newOccurrence: true }, NOW));
    expect(again.actions[0].reason).toMatch(/^repeat-within-cooldown: node-dead node:C: came back while operator already told at /);
  });

  it("is pure: the same finding, context and time give the same decision", () => {
    const context: PlanningContext = { topology: square };
    expect(planHealing(linkFinding("link-degraded", "A", "B"), context, NOW)).toEqual(planHealing(linkFinding("link-degraded", "A", "B"), context, NOW));
  });
});
