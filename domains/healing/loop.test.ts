import { describe, expect, it } from "vitest";
import type { LinkSample } from "../mesh/index.ts";
import type { HealEvent } from "./events.ts";
import { HealingLoop } from "./loop.ts";
import { MeshMonitor, type MonitorOptions } from "./monitor.ts";

/**
 * A small mesh fed to the monitor the way the twin reports: heartbeats every 250 ms, link
 * tables and metrics every second. Given the mesh and a fault, when the loop ticks, then
 * these HEAL events.
 *
 *      A ─── B ─── C
 *      │     │     │
 *      D ─── E ─── F        (a 2×3 grid: every link has a detour)
 */
const T0 = 1_700_000_000_000;
const ids = ["A", "B", "C", "D", "E", "F"] as const;
const edges: [string, string][] = [
  ["A", "B"], ["B", "C"], ["D", "E"], ["E", "F"], ["A", "D"], ["B", "E"], ["C", "F"],
];
const mac = (n: string) => `02:00:00:00:00:0${ids.indexOf(n as (typeof ids)[number]) + 1}`;
const neighbours = (n: string) => edges.flatMap(([a, b]) => (a === n ? [b] : b === n ? [a] : []));

interface MeshState {
  /** Nodes that stopped everything (crash) or only their own reports (hang). */
  crashed: Set<string>;
  hung: Set<string>;
  /** Nodes cut off from the rest (a partition): alive, linked among themselves, unheard by the control plane. */
  cutOff: Set<string>;
  /** Extra loss and latency per undirected link "A|B". */
  loss: Map<string, number>;
  latency: Map<string, number>;
  /** Links a neighbour dropped by quarantine: "enforcer>blocked". */
  blocked: Set<string>;
  txRate: Map<string, number>;
}

const key = (a: string, b: string) => (a < b ? `${a}|${b}` : `${b}|${a}`);

class FakeMeshClock {
  now = T0;
  readonly state: MeshState = { crashed: new Set(), hung: new Set(), cutOff: new Set(), loss: new Map(), latency: new Map(), blocked: new Set(), txRate: new Map() };
  private tx = new Map<string, number>();
  constructor(readonly monitor: MeshMonitor) {
    for (const n of ids) monitor.announced(n, mac(n), [mac(n)], T0);
  }

  private sample(from: string, to: string): LinkSample {
    const s = this.state;
    const dead = s.crashed.has(to) || s.crashed.has(from) || s.blocked.has(`${from}>${to}`) || s.cutOff.has(from) !== s.cutOff.has(to);
    const loss = dead ? 1 : Math.min(1, 0.02 + (s.loss.get(key(from, to)) ?? 0));
    return { neigh_address: mac(to), hard_ifname: "mesh0", tq: dead ? 0 : Math.round(255 * (1 - loss) ** 2), last_seen_msecs: 100, loss, latency_ms: 2 + (s.latency.get(key(from, to)) ?? 0) };
  }

  /** Runs the mesh forward to `until`, ticking the loop every 100 ms; returns what the loop emitted. */
  run(loop: HealingLoop | undefined, until: number, answer?: (e: HealEvent) => HealEvent | undefined): HealEvent[] {
    const emitted: HealEvent[] = [];
    for (let t = this.now + 50; t <= until; t += 50) {
      this.now = t;
      const since = t - T0;
      ids.forEach((n, i) => {
        if (this.state.crashed.has(n) || this.state.hung.has(n) || this.state.cutOff.has(n)) return;
        // Each node on its own phase; a little jitter, as a real radio has.
        if ((since + i * 37) % 250 < 50) this.monitor.heartbeat(n, t - ((i * 7) % 20));
        if ((since + i * 149) % 1000 < 50) {
          this.monitor.linksReported(n, neighbours(n).map((m) => this.sample(n, m)), t);
          const bytes = (this.tx.get(n) ?? 0) + (this.state.txRate.get(n) ?? 2_000);
          this.tx.set(n, bytes);
          this.monitor.metricsReported(n, bytes, t);
        }
      });
      if (loop && since % 100 === 0) {
        const events = loop.tick(t);
        emitted.push(...events);
        for (const e of events) {
          const reply = answer?.(e);
          if (reply) loop.apply(reply);
        }
      }
    }
    return emitted;
  }
}

/** A node agent that applies every command at once and reports it. */
const agent = (mesh: FakeMeshClock) => (e: HealEvent): HealEvent | undefined => {
  if (e.type !== "heal.HealingCommandIssued") return undefined;
  const { action, targetNodeId, commandId, incidentId } = e.data;
  if (mesh.state.crashed.has(targetNodeId)) return undefined;
  if (action.kind === "quarantine" && action.source.kind === "mac") {
    const blocked = ids.find((n) => mac(n) === (action.source as { mac: string }).mac)!;
    mesh.state.blocked.add(`${targetNodeId}>${blocked}`);
  }
  return {
    type: "heal.CommandApplied",
    data: { commandId, ...(incidentId ? { incidentId } : {}), targetNodeId, exitCode: 0, detail: "applied", appliedAt: mesh.now },
  };
};

const setup = (options: MonitorOptions = {}, prepare?: (mesh: FakeMeshClock) => void) => {
  const monitor = new MeshMonitor(options);
  const mesh = new FakeMeshClock(monitor);
  prepare?.(mesh);
  let n = 0;
  const loop = new HealingLoop(monitor, () => `id-${++n}`);
  // Warm up: baselines learnt (30 link reports), detector intervals known.
  mesh.run(loop, T0 + 40_000);
  return { monitor, mesh, loop };
};

const types = (events: readonly HealEvent[]) => events.map((e) => e.type);
const detected = (events: readonly HealEvent[]) => events.filter((e) => e.type === "heal.IncidentDetected").map((e) => e.data as { kind: string; blamed: unknown });

describe("healing loop: given a healthy mesh", () => {
  it("when nothing breaks for a minute, then no incident is opened", () => {
    const { mesh, loop } = setup();
    const events = mesh.run(loop, mesh.now + 60_000);
    expect(events).toEqual([]);
  });

  it("then its route arithmetic knows each node's radio by the interface name its links report (batman-adv penalises re-sending on it)", () => {
    const { mesh, loop } = setup();
    for (const n of ids) expect(loop.routeTopology(mesh.now).nodes?.[n]?.wifiInterfaces).toEqual(["mesh0"]);
    const wired = new HealingLoop(loop.monitor, () => "x", { radioInterface: /^wlan\d+$/ });
    expect(wired.routeTopology(mesh.now).nodes?.["A"]?.wifiInterfaces).toBeUndefined();
  });
});

describe("healing loop: given a node crash", () => {
  it("then the node is found dead, fenced at its neighbours, and the incident recovers", () => {
    const { mesh, loop } = setup();
    const crashAt = mesh.now;
    mesh.state.crashed.add("E");
    const events = mesh.run(loop, crashAt + 3_000, agent(mesh));
    const d = detected(events);
    expect(d).toEqual([expect.objectContaining({ kind: "node-dead", blamed: { kind: "node", node: "E" } })]);
    const plan = events.find((e) => e.type === "heal.ActionPlanned")!.data as unknown as { policy: string; steps: { action: unknown; targetNodeIds: string[] }[] };
    expect(plan.policy).toBe("fence-dead-node");
    expect(plan.steps).toEqual([{ action: { kind: "quarantine", source: { kind: "mac", mac: mac("E") }, ttlMs: 5_000 }, targetNodeIds: ["B", "D", "F"] }]);
    expect(types(events).filter((t) => t === "heal.HealingCommandIssued")).toHaveLength(3);
    expect(types(events)).toContain("heal.Recovered");
    const onset = (events[0]!.data as { onsetAt: number }).onsetAt;
    const recovered = events.find((e) => e.type === "heal.Recovered")!.data as { verifiedAt: number };
    // The crash happened after the last heartbeat; recovery is under two seconds after it.
    expect(onset).toBeLessThanOrEqual(crashAt);
    expect(recovered.verifiedAt - crashAt).toBeLessThan(2_000);
  });

  it("when the same node crashes again inside its fence's cooldown, then the second crash is an incident too, escalated rather than fenced again", () => {
    const { mesh, loop } = setup();
    mesh.state.crashed.add("E");
    const first = mesh.run(loop, mesh.now + 5_000, agent(mesh));
    expect(types(first)).toContain("heal.Recovered");
    // Back for a minute (its neighbours learn it again), then down again: 10 min is the fence's cooldown.
    mesh.state.crashed.delete("E");
    expect(detected(mesh.run(loop, mesh.now + 60_000, agent(mesh)))).toEqual([]);
    mesh.state.crashed.add("E");
    const second = mesh.run(loop, mesh.now + 5_000, agent(mesh));
    expect(detected(second)).toEqual([expect.objectContaining({ kind: "node-dead", blamed: { kind: "node", node: "E" } })]);
    expect(types(second)).not.toContain("heal.HealingCommandIssued");
    const escalated = second.find((e) => e.type === "heal.Escalated")!.data as { reason: string };
    expect(escalated.reason).toMatch(/^repeat-within-cooldown: node-dead node:E: came back while fence-dead-node at \d+ recovered/);
    // Still down: the same occurrence, told once.
    expect(detected(mesh.run(loop, mesh.now + 20_000, agent(mesh)))).toEqual([]);
  });

  it("when the node flickers (back for less than the recurrence gap), then its return is the same occurrence, not a new incident", () => {
    const monitor = new MeshMonitor();
    const mesh = new FakeMeshClock(monitor);
    let n = 0;
    const loop = new HealingLoop(monitor, () => `id-${++n}`, { recurrenceGapMs: 120_000 });
    mesh.run(loop, T0 + 40_000);
    mesh.state.crashed.add("E");
    expect(types(mesh.run(loop, mesh.now + 5_000, agent(mesh)))).toContain("heal.Recovered");
    mesh.state.crashed.delete("E");
    mesh.run(loop, mesh.now + 60_000, agent(mesh));
    mesh.state.crashed.add("E");
    // Gone for a minute, under the 2-minute gap: held as flapping, as before.
    const again = mesh.run(loop, mesh.now + 5_000, agent(mesh));
    expect(detected(again)).toEqual([]);
    expect(types(again)).not.toContain("heal.Escalated");
  });

  it("when the nodes never answer, then the incident escalates at its deadline", () => {
    const { mesh, loop } = setup();
    mesh.state.crashed.add("E");
    const events = mesh.run(loop, mesh.now + 20_000);
    expect(types(events)).toContain("heal.Escalated");
    const escalated = events.find((e) => e.type === "heal.Escalated")!.data as { reason: string };
    expect(escalated.reason).toMatch(/no outcome by the deadline from B, D, F/);
  });
});

describe("healing loop: given a hung node (silent, still forwarding)", () => {
  it("then it is localized as node-silent, not dead, and escalated with a reason", () => {
    const { mesh, loop } = setup();
    mesh.state.hung.add("E");
    const events = mesh.run(loop, mesh.now + 4_000, agent(mesh));
    expect(detected(events)).toEqual([expect.objectContaining({ kind: "node-silent", blamed: { kind: "node", node: "E" } })]);
    const escalated = events.find((e) => e.type === "heal.Escalated")!.data as { reason: string };
    expect(escalated.reason).toMatch(/^no-policy-applies: node-silent node:E/);
  });
});

describe("healing loop: given a partition (D, E and F cut off from A, B and C at once)", () => {
  it("then one partition incident blames the cut, however the members' heartbeat phases fall", () => {
    // Each start lands at another point of the nodes' heartbeat phases.
    for (const offset of [0, 30, 60, 90, 120, 150, 180, 210, 240]) {
      const { mesh, loop } = setup();
      mesh.run(loop, mesh.now + offset, agent(mesh));
      for (const n of ["D", "E", "F"]) mesh.state.cutOff.add(n);
      const events = mesh.run(loop, mesh.now + 5_000, agent(mesh));
      expect(detected(events), `cut ${offset} ms into the phases`).toEqual([expect.objectContaining({ kind: "partition" })]);
      expect(types(events).filter((t) => t === "heal.HealingCommandIssued"), `cut ${offset} ms into the phases`).toEqual([]);
    }
  });

  it("when the cut heals, then its nodes come back without an incident of their own", () => {
    const { mesh, loop } = setup();
    for (const n of ["D", "E", "F"]) mesh.state.cutOff.add(n);
    mesh.run(loop, mesh.now + 12_000, agent(mesh));
    mesh.state.cutOff.clear();
    const after = mesh.run(loop, mesh.now + 10_000, agent(mesh));
    expect(detected(after)).toEqual([]);
    expect(types(after).filter((t) => t === "heal.HealingCommandIssued")).toEqual([]);
  });
});

describe("healing loop: given a degraded link with a detour", () => {
  it("when it loses a third of its frames more (the radio's retries still deliver them), then it is not blamed", () => {
    const { mesh, loop } = setup();
    mesh.state.loss.set(key("B", "E"), 0.35);
    expect(detected(mesh.run(loop, mesh.now + 10_000, agent(mesh)))).toEqual([]);
    // The same with most frames lost is.
    mesh.state.loss.set(key("B", "E"), 0.6);
    expect(detected(mesh.run(loop, mesh.now + 10_000, agent(mesh)))).toEqual([expect.objectContaining({ kind: "link-degraded", blamed: { kind: "link", link: ["B", "E"] } })]);
  });

  it("when batman-adv already avoids it (its TQ fell with the loss), then it is taken out of service at both ends for a while, and both ends stay judged", () => {
    const { mesh, loop } = setup();
    mesh.state.loss.set(key("B", "E"), 0.6);
    const events = mesh.run(loop, mesh.now + 10_000, agent(mesh));
    const plan = events.find((e) => e.type === "heal.ActionPlanned")?.data as unknown as { policy: string; steps: { action: { ttlMs?: number } }[] } | undefined;
    expect(plan?.policy).toBe("block-degraded-link");
    for (const step of plan!.steps) expect(step.action.ttlMs).toBeGreaterThan(0);
    expect(types(events)).toContain("heal.Recovered");
    // A block of the link does not silence its ends: E crashing now is found at once.
    mesh.state.crashed.add("E");
    const after = mesh.run(loop, mesh.now + 3_000, agent(mesh));
    expect(detected(after)).toEqual([expect.objectContaining({ kind: "node-dead", blamed: { kind: "node", node: "E" } })]);
  });

  it("when its latency rises (TQ does not see it), then the loop steers transit off it with hop_penalty and recovers once routes avoid it", () => {
    const { mesh, loop } = setup();
    mesh.state.latency.set(key("B", "E"), 60);
    const events = mesh.run(loop, mesh.now + 15_000, agent(mesh));
    expect(detected(events)).toEqual([expect.objectContaining({ kind: "link-degraded", blamed: { kind: "link", link: ["B", "E"] } })]);
    const plan = events.find((e) => e.type === "heal.ActionPlanned")!.data as unknown as { policy: string; steps: { action: { kind: string }; targetNodeIds: string[] }[] };
    // Every link of these nodes shares mesh0: a per-interface penalty cannot single one out, so each end's
    // mesh-wide hop_penalty takes it out of the other's transit routes.
    expect(plan.policy).toBe("steer-transit-off-link");
    expect(plan.steps.length).toBeGreaterThan(0);
    for (const step of plan.steps) {
      expect(step.action).toEqual({ kind: "hop-penalty", value: expect.any(Number) });
      expect(["B", "E"]).toContain(step.targetNodeIds[0]);
    }
    expect(types(events)).toContain("heal.Recovered");
  });

  it("when the latency goes back to normal, then each hop_penalty the plan raised goes back to its value before, on the same incident", () => {
    const { mesh, loop } = setup();
    mesh.state.latency.set(key("B", "E"), 60);
    const first = mesh.run(loop, mesh.now + 15_000, agent(mesh));
    expect(types(first)).toContain("heal.Recovered");
    const incidentId = (first[0]!.data as { incidentId: string }).incidentId;
    const raised = first.filter((e) => e.type === "heal.HealingCommandIssued").map((e) => e.data as { targetNodeId: string; action: { value: number } });
    expect(raised.length).toBeGreaterThan(0);
    for (const r of raised) expect(r.action.value).toBeGreaterThan(30);
    // Still bad: nothing is undone while the finding holds.
    expect(types(mesh.run(loop, mesh.now + 5_000, agent(mesh)))).not.toContain("heal.HealingCommandIssued");

    mesh.state.latency.delete(key("B", "E"));
    const after = mesh.run(loop, mesh.now + 15_000, agent(mesh));
    const reverts = after.filter((e) => e.type === "heal.HealingCommandIssued").map((e) => e.data as { incidentId: string; targetNodeId: string; action: unknown; issuedBy: string });
    expect(reverts.map((r) => r.targetNodeId).sort()).toEqual(raised.map((r) => r.targetNodeId).sort());
    for (const r of reverts) expect(r).toMatchObject({ incidentId, action: { kind: "hop-penalty", value: 30 }, issuedBy: "loop" });
    // The loop's own knowledge follows the applied reverts; no new incident comes of it.
    for (const r of reverts) expect(loop.routeTopology(mesh.now).nodes?.[r.targetNodeId]?.hopPenalty).toBe(30);
    expect(detected(after)).toEqual([]);
  });

  it("when the link also loses frames, so that batman-adv's own TQ keeps routes off it, then the raise is given back while the link is still bad, and no second incident opens", () => {
    const { mesh, loop } = setup();
    mesh.state.latency.set(key("B", "E"), 60);
    const first = mesh.run(loop, mesh.now + 15_000, agent(mesh));
    expect(types(first)).toContain("heal.Recovered");
    const raised = first.filter((e) => e.type === "heal.HealingCommandIssued").map((e) => (e.data as { targetNodeId: string }).targetNodeId);
    mesh.state.loss.set(key("B", "E"), 0.5);
    const later = mesh.run(loop, mesh.now + 10_000, agent(mesh));
    const given = later.filter((e) => e.type === "heal.HealingCommandIssued").map((e) => e.data as { targetNodeId: string; action: unknown });
    expect(given.map((g) => g.targetNodeId).sort()).toEqual([...raised].sort());
    for (const g of given) expect(g.action).toEqual({ kind: "hop-penalty", value: 30 });
    expect(loop.monitor.linkBad("B", "E")).toBe(true);
    expect(detected(later)).toEqual([]);
  });

  it("when the links around it get worse after the raise, so that the raise now costs pairs their only route, then it is given back while the link is still bad", () => {
    // The detours A-D and C-F are long-standing weak links (their baseline), so steering
    // transit off B-E takes a large raise at both ends.
    const { mesh, loop } = setup({}, (m) => {
      m.state.loss.set(key("A", "D"), 0.5);
      m.state.loss.set(key("C", "F"), 0.5);
    });
    mesh.state.latency.set(key("B", "E"), 60);
    const first = mesh.run(loop, mesh.now + 15_000, agent(mesh));
    expect(types(first)).toContain("heal.Recovered");
    const incidentId = (first[0]!.data as { incidentId: string }).incidentId;
    const raised = first.filter((e) => e.type === "heal.HealingCommandIssued").map((e) => e.data as { targetNodeId: string; action: { value: number } });
    expect(raised.map((r) => r.targetNodeId).sort()).toEqual(["B", "E"]);
    for (const r of raised) expect(r.action.value).toBeGreaterThan(100);
    // While it costs nothing, it stays.
    expect(types(mesh.run(loop, mesh.now + 5_000, agent(mesh)))).not.toContain("heal.HealingCommandIssued");

    // Then the region around B gets worse (as a jamming spreads): the detours die and A-B, B-C
    // fall to TQ 20. C still reaches A over B at TQ 1 with B's penalty at 30; at the raised one, not at all.
    mesh.state.loss.set(key("A", "D"), 0.89);
    mesh.state.loss.set(key("C", "F"), 0.89);
    mesh.state.loss.set(key("A", "B"), 0.7);
    mesh.state.loss.set(key("B", "C"), 0.7);
    const later = mesh.run(loop, mesh.now + 15_000, agent(mesh));
    const given = later.filter((e) => e.type === "heal.HealingCommandIssued" && (e.data as { incidentId?: string }).incidentId === incidentId).map((e) => e.data as { targetNodeId: string; action: unknown; issuedBy: string });
    expect(given.map((g) => g.targetNodeId).sort()).toEqual(["B", "E"]);
    for (const g of given) expect(g).toMatchObject({ action: { kind: "hop-penalty", value: 30 }, issuedBy: "loop" });
    expect(loop.monitor.linkBad("B", "E")).toBe(true);
    expect(loop.routeTopology(mesh.now).nodes?.B?.hopPenalty).toBe(30);
    // The steered link opens no second incident: it stays mitigated while it is bad.
    expect(detected(later).map((d) => d.blamed)).not.toContainEqual({ kind: "link", link: ["B", "E"] });
  });

  it("when a raised knob was given back, then another link at the same node may raise it again (it is not held as flapping)", () => {
    const { mesh, loop } = setup();
    mesh.state.latency.set(key("B", "E"), 60);
    const first = mesh.run(loop, mesh.now + 15_000, agent(mesh));
    const raisedAt = (first.find((e) => e.type === "heal.HealingCommandIssued")!.data as { targetNodeId: string }).targetNodeId;
    mesh.state.latency.delete(key("B", "E"));
    expect(types(mesh.run(loop, mesh.now + 15_000, agent(mesh)))).toContain("heal.HealingCommandIssued");
    // Another link of the node whose hop_penalty was raised and given back degrades.
    const other = neighbours(raisedAt).find((n) => n !== "B" && n !== "E")!;
    mesh.state.latency.set(key(raisedAt, other), 60);
    const second = mesh.run(loop, mesh.now + 15_000, agent(mesh));
    expect(detected(second)).toEqual([expect.objectContaining({ kind: "link-degraded", blamed: { kind: "link", link: [raisedAt, other].sort() } })]);
    expect(types(second)).toContain("heal.ActionPlanned");
    expect(types(second)).toContain("heal.Recovered");
  });

  it("when the link stays bad after recovery, then no second incident is opened (mitigated)", () => {
    const { mesh, loop } = setup();
    mesh.state.latency.set(key("B", "E"), 60);
    const first = mesh.run(loop, mesh.now + 15_000, agent(mesh));
    expect(types(first)).toContain("heal.Recovered");
    const later = mesh.run(loop, mesh.now + 30_000, agent(mesh));
    expect(detected(later)).toEqual([]);
  });
});

describe("healing loop: given a flooding node", () => {
  it("then it is found misbehaving and rate-limited at its neighbours", () => {
    const { mesh, loop } = setup();
    mesh.state.txRate.set("C", 2_000_000);
    const events = mesh.run(loop, mesh.now + 4_000, agent(mesh));
    expect(detected(events)).toEqual([expect.objectContaining({ kind: "node-misbehaving", blamed: { kind: "node", node: "C" } })]);
    const plan = events.find((e) => e.type === "heal.ActionPlanned")!.data as unknown as { policy: string; steps: { action: { kind: string }; targetNodeIds: string[] }[] };
    expect(plan.policy).toBe("rate-limit-flooding-node");
    expect(plan.steps[0]!.targetNodeIds).toEqual(["B", "F"]);
    expect(types(events)).toContain("heal.Recovered");
  });

  it("given a quiet node (200 B/s of its own), when its clients come back (3.5 kB/s), then that is no flood", () => {
    const { mesh, loop } = setup({}, (m) => m.state.txRate.set("C", 200));
    mesh.state.txRate.set("C", 3_500);
    const events = mesh.run(loop, mesh.now + 10_000, agent(mesh));
    expect(detected(events)).toEqual([]);
  });

  it("when the flood stops, then the rate limit is released at each neighbour, on the same incident", () => {
    const { mesh, loop } = setup();
    mesh.state.txRate.set("C", 2_000_000);
    const first = mesh.run(loop, mesh.now + 4_000, agent(mesh));
    expect(types(first)).toContain("heal.Recovered");
    const incidentId = (first[0]!.data as { incidentId: string }).incidentId;
    mesh.state.txRate.delete("C");
    const after = mesh.run(loop, mesh.now + 5_000, agent(mesh));
    const released = after.filter((e) => e.type === "heal.HealingCommandIssued").map((e) => e.data as { incidentId: string; targetNodeId: string; action: unknown });
    expect(released.map((r) => r.targetNodeId).sort()).toEqual(["B", "F"]);
    for (const r of released) expect(r).toMatchObject({ incidentId, action: { kind: "release", source: { kind: "mac", mac: mac("C") } } });
  });
});

describe("healing loop: given a restart", () => {
  it("when the loop's own history is applied to a new loop, then it does not open the incident again", () => {
    const { mesh, loop, monitor } = setup();
    mesh.state.crashed.add("E");
    const events = mesh.run(loop, mesh.now + 3_000, agent(mesh));
    expect(types(events)).toContain("heal.Recovered");
    let n = 100;
    const restarted = new HealingLoop(monitor, () => `id-${++n}`);
    for (const e of events) restarted.apply(e);
    const after = mesh.run(restarted, mesh.now + 5_000, agent(mesh));
    expect(detected(after)).toEqual([]);
  });
});
