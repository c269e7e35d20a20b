/**
 * The MAPE-K loop's decisions, without I/O: Monitor (a `MeshMonitor` fed by the caller),
 * Analyze (`findings`), Plan (`planHealing`) and the Execute bookkeeping (the incident
 * decider), over Knowledge it keeps itself: open incidents, recent actions, the hop
 * penalties and gateway modes nodes applied.
 *
 * `tick(nowMs)` returns the HEAL events to append, in order, already folded into the loop's
 * state; the caller appends them (retrying until stored, the event ids make that safe) and
 * feeds back what the nodes answer through `apply`. Ids come from the injected `newId`, time
 * from the caller: the same calls give the same events.
 *
 * One incident per finding target at a time. A recovered incident whose finding persists
 * (the link is still bad, but routes avoid it) is *mitigated*: no new incident until the
 * finding clears. A finding that comes back inside a policy's cooldown is held (flapping).
 *
 * | option | default |
 * |---|---|
 * | `plan` | `plan.ts` defaults (budget 10 actions / 10 s) |
 * | `deadlineAfterSettleMs` (escalate when not recovered by settle + this) | 10 000 |
 * | `hopPenalty` (mesh-wide default of every node) | 30 |
 * | `routeDestinations` (destinations route checks look at, for meshes larger than this) | 24 |
 */
import { decide, evolve, initialState, type IncidentCommand, type IncidentState } from "./incident.ts";
import type { ActionPlanned, HealEvent, HealingAction } from "./events.ts";
import { MAX_LISTED_AFFECTED } from "./events.ts";
import type { MeshMonitor, TimedFinding } from "./monitor.ts";
import { findingTarget, planHealing, toPlanSteps, type ExpectedEffect, type GatewayMode, type PlanningContext, type PlanOptions, type RecentAction } from "./plan.ts";
import { DEFAULT_HOP_PENALTY, routeTable, type NodeRouting, type RouteTopology } from "./route-cost.ts";
import * as Result from "effect/Result";

export interface HealingLoopOptions {
  readonly plan?: PlanOptions;
  readonly deadlineAfterSettleMs?: number;
  readonly hopPenalty?: number;
  readonly routeDestinations?: number;
}

interface RecentRecord {
  policy: string;
  target: string;
  actions: RecentAction["actions"];
  atMs: number;
  outcome: RecentAction["outcome"];
}

interface OpenIncident {
  state: IncidentState;
  readonly target: string;
  readonly record: RecentRecord | undefined;
}

/** What one tick did, for logs and metrics. */
export interface TickSummary {
  readonly findings: number;
  readonly opened: number;
  readonly held: number;
}

const compare = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);
const RECENT_KEEP_MS = 3_600_000;
const COMMANDS_KEPT = 100_000;

export class HealingLoop {
  private readonly incidents = new Map<string, OpenIncident>();
  private readonly openByTarget = new Map<string, string>();
  private readonly mitigated = new Map<string, string>();
  /**
   * Nodes the loop itself disturbs (an interface restart takes their links down for a moment),
   * until when: what they look like meanwhile is the loop's doing, not a new failure.
   */
  private readonly disturbed = new Map<string, number>();
  /** Targets the planner said to hold, until when: not planned again (nor recomputed) before. */
  private readonly heldUntil = new Map<string, number>();
  private recent: RecentRecord[] = [];
  /** Every command seen (the loop's and operators'), so an applied one updates the knowledge. */
  private readonly commandActions = new Map<string, { readonly target: string; readonly action: HealingAction }>();
  private readonly routing = new Map<string, { hopPenalty?: number; interfaceHopPenalty: Record<string, number> }>();
  private readonly gatewayModes = new Map<string, GatewayMode>();
  private readonly deadlineAfterSettleMs: number;
  private readonly hopPenalty: number;
  private readonly routeDestinations: number;
  private lastSummary: TickSummary = { findings: 0, opened: 0, held: 0 };

  constructor(
    readonly monitor: MeshMonitor,
    private readonly newId: () => string,
    private readonly options: HealingLoopOptions = {},
  ) {
    this.deadlineAfterSettleMs = options.deadlineAfterSettleMs ?? 10_000;
    this.hopPenalty = options.hopPenalty ?? DEFAULT_HOP_PENALTY;
    this.routeDestinations = options.routeDestinations ?? 24;
  }

  get summary(): TickSummary {
    return this.lastSummary;
  }

  /** Incidents the loop is still working on. */
  openIncidents(): IncidentState[] {
    return [...this.incidents.values()].map((i) => i.state).filter((s) => s.status !== "recovered" && s.status !== "escalated");
  }

  incident(incidentId: string): IncidentState | undefined {
    return this.incidents.get(incidentId)?.state;
  }

  /**
   * Folds a HEAL event from the log: the nodes' outcomes, operators' commands, and after a
   * restart the loop's own history (its incidents are rebuilt, so nothing is planned twice).
   */
  apply(event: HealEvent): void {
    if (event.type === "heal.HealingCommandIssued") this.rememberCommand(event.data.commandId, event.data.targetNodeId, event.data.action);
    if (event.type === "heal.CommandApplied") this.learnApplied(event.data.commandId);
    const id = event.data.incidentId;
    if (id === undefined) return;
    let open = this.incidents.get(id);
    if (!open) {
      if (event.type !== "heal.IncidentDetected") return; // a chain whose start is not in the loop's history
      const target = findingTarget({ kind: event.data.kind, blamed: event.data.blamed, affected: event.data.affected, reason: event.data.reason } as TimedFinding);
      open = { state: initialState(), target, record: undefined };
      this.incidents.set(id, open);
      this.openByTarget.set(target, id);
    }
    this.fold(id, open, event);
  }

  private fold(id: string, open: OpenIncident, event: HealEvent): void {
    const before = open.state.status;
    open.state = evolve(open.state, event);
    if (event.type === "heal.ActionPlanned" && open.record === undefined) {
      // Rebuilt from the log: the plan counts against budget and cooldown like a fresh one.
      const record: RecentRecord = { policy: event.data.policy, target: open.target, actions: [], atMs: open.state.detected?.detectedAt ?? 0, outcome: "pending" };
      (open as { record: RecentRecord }).record = record;
      this.recent.push(record);
    }
    const after = open.state.status;
    if (before === after) return;
    if (after === "recovered" || after === "escalated") {
      if (open.record) open.record.outcome = after === "recovered" ? "recovered" : open.state.commands.some((c) => c.failed) ? "failed" : "not-recovered";
      if (this.openByTarget.get(open.target) === id) this.openByTarget.delete(open.target);
      if (after === "recovered") this.mitigated.set(open.target, id);
      else this.recent.push({ policy: "escalate", target: open.target, actions: [{ kind: "escalate", reason: open.state.escalated?.reason ?? "" }], atMs: open.state.escalated?.escalatedAt ?? 0, outcome: "failed" });
    }
  }

  private rememberCommand(commandId: string, target: string, action: HealingAction): void {
    if (this.commandActions.size >= COMMANDS_KEPT) this.commandActions.delete(this.commandActions.keys().next().value!);
    this.commandActions.set(commandId, { target, action });
  }

  private learnApplied(commandId: string): void {
    const c = this.commandActions.get(commandId);
    if (!c) return;
    const a = c.action;
    if (a.kind === "hop-penalty") {
      const r = this.routing.get(c.target) ?? { interfaceHopPenalty: {} };
      if (a.hardIf === undefined) r.hopPenalty = a.value;
      else r.interfaceHopPenalty[a.hardIf] = a.value;
      this.routing.set(c.target, r);
    } else if (a.kind === "gateway") this.gatewayModes.set(c.target, a.mode);
  }

  /** The route-cost view: reported TQs with the penalties nodes applied. */
  routeTopology(nowMs: number): RouteTopology {
    const nodes: Record<string, NodeRouting> = {};
    for (const [node, r] of this.routing) nodes[node] = r.hopPenalty === undefined ? { interfaceHopPenalty: { ...r.interfaceHopPenalty } } : { hopPenalty: r.hopPenalty, interfaceHopPenalty: { ...r.interfaceHopPenalty } };
    return { links: this.monitor.routeLinks(nowMs), nodes };
  }

  private planningContext(nowMs: number, topology: RouteTopology): PlanningContext {
    return {
      topology,
      hopPenalty: this.hopPenalty,
      gateways: Object.fromEntries(this.gatewayModes),
      nodes: this.monitor.flags(nowMs),
      recentActions: this.recent,
      neighbourMac: (from, to) => this.monitor.neighbourMac(from, to),
    };
  }

  /** One cycle: verify what was applied, escalate what ran out of time, open incidents for new findings. */
  tick(nowMs: number): HealEvent[] {
    const out: HealEvent[] = [];
    const run = (id: string, command: IncidentCommand): void => {
      const open = this.incidents.get(id)!;
      const decision = decide(command, open.state);
      if (Result.isFailure(decision)) return; // not legal now (e.g. already escalated): nothing to append
      for (const event of decision.success) {
        this.fold(id, open, event);
        if (event.type === "heal.HealingCommandIssued") this.rememberCommand(event.data.commandId, event.data.targetNodeId, event.data.action);
        out.push(event);
      }
    };
    this.recent = this.recent.filter((r) => r.atMs > nowMs - RECENT_KEEP_MS);
    let topology: RouteTopology | undefined;
    const topologyNow = () => (topology ??= this.routeTopology(nowMs));

    for (const [id, open] of this.incidents) {
      const s = open.state;
      if (s.status === "recovered" || s.status === "escalated") continue;
      if (s.status === "applied") {
        const { observed, evidence } = this.effectsHold(s.plan!.effects, s, nowMs, topologyNow);
        run(id, { type: "VerifyEffect", data: { incidentId: id, observed, at: nowMs, evidence } });
        continue;
      }
      const failed = s.commands.find((c) => c.failed);
      if (failed) {
        const f = failed.failed!;
        run(id, { type: "RecordOutcome", data: { incidentId: id, commandId: f.commandId, targetNodeId: f.targetNodeId, outcome: { result: "failed", exitCode: f.exitCode, stderr: f.stderr, at: f.failedAt } } });
        continue;
      }
      if (s.plan && nowMs >= s.plan.deadline) {
        const missing = s.plan.steps.flatMap((step, i) => step.targetNodeIds.filter((t) => !s.commands.some((c) => c.issued.step === i && c.issued.targetNodeId === t && c.applied)));
        run(id, { type: "Escalate", data: { incidentId: id, reason: `no outcome by the deadline from ${missing.slice(0, 8).join(", ")}${missing.length > 8 ? ` and ${missing.length - 8} more` : ""}`, at: nowMs } });
      }
    }

    const findings = this.monitor.findings(nowMs);
    const current = new Set(findings.map(findingTarget));
    for (const target of [...this.mitigated.keys()]) if (!current.has(target)) this.mitigated.delete(target);
    for (const [target, until] of this.heldUntil) if (until <= nowMs || !current.has(target)) this.heldUntil.delete(target);
    for (const [node, until] of this.disturbed) if (until <= nowMs) this.disturbed.delete(node);
    let opened = 0;
    let held = 0;
    for (const finding of findings) {
      const target = findingTarget(finding);
      if (this.openByTarget.has(target) || this.mitigated.has(target) || this.heldUntil.has(target)) continue;
      if (this.disturbed.size > 0 && blamedNodes(finding).some((n) => this.disturbed.has(n))) continue;
      const context = this.planningContext(nowMs, topologyNow());
      const near = finding.blamed.kind === "link" ? [...finding.blamed.link] : finding.blamed.kind === "node" ? [finding.blamed.node] : [...finding.blamed.nodes];
      const decision = planHealing(finding, { ...context, routeDestinations: this.destinations(context.topology, near) }, nowMs, this.options.plan);
      if (decision.decision === "hold") {
        // Route arithmetic is costly: a held target is looked at again a second later at the soonest.
        this.heldUntil.set(target, Math.max(decision.untilMs, nowMs + 1_000));
        held++;
        continue;
      }
      const id = this.newId();
      const affected = [...finding.affected].sort(compare);
      this.incidents.set(id, { state: initialState(), target, record: undefined });
      this.openByTarget.set(target, id);
      opened++;
      run(id, {
        type: "DetectIncident",
        data: {
          incidentId: id,
          kind: finding.kind,
          blamed: finding.blamed,
          affected: affected.slice(0, MAX_LISTED_AFFECTED),
          affectedCount: affected.length,
          reason: finding.reason.slice(0, 1024),
          detectedAt: nowMs,
          onsetAt: Math.min(finding.onsetAt, nowMs),
        },
      });
      if (decision.decision === "escalate") {
        run(id, { type: "Escalate", data: { incidentId: id, reason: decision.actions[0].reason, at: nowMs } });
        continue;
      }
      const record: RecentRecord = { policy: decision.policy, target, actions: decision.actions, atMs: nowMs, outcome: "pending" };
      (this.incidents.get(id) as { record: RecentRecord }).record = record;
      this.recent.push(record);
      const settleMs = decision.verifyAtMs - nowMs;
      const steps = toPlanSteps(decision.actions);
      const plan: ActionPlanned = {
        incidentId: id,
        actionId: this.newId(),
        policy: decision.policy,
        steps,
        expectedEffect: describeEffects(decision.expectedEffects),
        effects: decision.expectedEffects.map((e) => ({ ...e })) as ActionPlanned["effects"],
        settleMs,
        deadline: nowMs + settleMs + this.deadlineAfterSettleMs,
      };
      run(id, { type: "PlanAction", data: plan });
      steps.forEach((step, i) => {
        // The loop's own disruptions are not new failures: an interface it restarts goes down
        // for a moment; a node it fences or quarantines goes quiet at its neighbours.
        const blocked = step.action.kind === "quarantine" && step.action.source.kind === "mac" ? this.monitor.ownerOfMac(step.action.source.mac) : undefined;
        if (blocked !== undefined) this.disturbed.set(blocked, nowMs + (step.action.kind === "quarantine" && step.action.ttlMs !== undefined ? step.action.ttlMs : 60_000) + this.deadlineAfterSettleMs);
        for (const targetNodeId of step.targetNodeIds) {
          if (step.action.kind === "restart-interface") this.disturbed.set(targetNodeId, plan.deadline);
          run(id, { type: "IssueCommand", data: { incidentId: id, commandId: this.newId(), targetNodeId, step: i } });
        }
      });
    }
    this.lastSummary = { findings: findings.length, opened, held };
    return out;
  }

  /**
   * Destinations route arithmetic looks at: all of them on a mesh up to `routeDestinations`
   * nodes; on a larger one, the nodes nearest the finding plus an even spread of the rest
   * (a full check costs one route computation per node, too slow for a loop on 1 000 nodes).
   */
  private destinations(topology: RouteTopology, around: readonly string[]): string[] {
    const all = [...new Set(topology.links.flatMap((l) => [l.source, l.target]))].sort(compare);
    if (all.length <= this.routeDestinations) return all;
    const chosen = new Set<string>();
    const adjacency = new Map<string, string[]>();
    for (const l of topology.links) adjacency.set(l.source, [...(adjacency.get(l.source) ?? []), l.target]);
    for (const queue = [...around]; queue.length > 0 && chosen.size < this.routeDestinations / 2; ) {
      const n = queue.shift()!;
      if (chosen.has(n)) continue;
      chosen.add(n);
      queue.push(...(adjacency.get(n) ?? []));
    }
    const step = all.length / (this.routeDestinations - chosen.size);
    for (let i = 0; chosen.size < this.routeDestinations && i < all.length; i += step) chosen.add(all[Math.floor(i)]!);
    return [...chosen].sort(compare);
  }

  /** Whether every expected effect of a plan is observed now, and what was seen. */
  private effectsHold(effects: ActionPlanned["effects"], s: IncidentState, nowMs: number, topologyNow: () => RouteTopology): { observed: boolean; evidence: string } {
    const seen: string[] = [];
    const appliedAt = s.appliedAt ?? 0;
    for (const e of effects) {
      switch (e.kind) {
        case "route-avoids-link": {
          const [from, to] = e.link;
          const topology = topologyNow();
          const destinations = this.destinations(topology, [to]);
          const routes = routeTable(topology, { hopPenalty: this.hopPenalty });
          // Traffic between the two ends must use their link; every other destination must not.
          const using = destinations.filter((d) => d !== from && d !== to && routes(d).get(from)?.path[1] === to);
          if (using.length > 0) return { observed: false, evidence: `${from} still routes to ${using.length} destination(s) via ${to}, e.g. ${using[0]}` };
          seen.push(`${from} routes around ${to} (${destinations.length} destinations checked)`);
          break;
        }
        case "node-reachable": {
          if (this.monitor.liveness(e.node, nowMs)?.suspected !== false) return { observed: false, evidence: `${e.node} is not heard` };
          seen.push(`${e.node} is heard again`);
          break;
        }
        case "node-isolated": {
          // Each enforcing neighbour applied the block (the incident is `applied`) and reports it
          // no longer hears the node.
          const still = e.atNodes.filter((n) => this.monitor.reportsDead(n, e.node) === false);
          if (still.length > 0) return { observed: false, evidence: `${still.length} of ${e.atNodes.length} neighbours have not shown ${e.node} blocked yet` };
          seen.push(`${e.node} isolated at ${e.atNodes.length} neighbour(s)`);
          break;
        }
        case "traffic-below": {
          // The limit is enforced by XDP at every neighbour once applied; the node's own counters keep showing what it tries to send.
          seen.push(`${e.node} held to ${e.pps} pps at its neighbours`);
          break;
        }
        case "gateway-serving": {
          if (this.gatewayModes.get(e.node) !== "server") return { observed: false, evidence: `${e.node} does not serve as gateway` };
          seen.push(`${e.node} serves as gateway`);
          break;
        }
        case "link-healthy": {
          const [a, b] = e.link;
          if (this.monitor.linkBad(a, b) || this.monitor.linkBad(b, a)) return { observed: false, evidence: `${a}-${b} is still bad` };
          if ((this.monitor.reportedAt(a) ?? 0) < appliedAt || (this.monitor.reportedAt(b) ?? 0) < appliedAt) return { observed: false, evidence: `no report of ${a}-${b} since the restart` };
          seen.push(`${a}-${b} is back within its baseline`);
          break;
        }
      }
    }
    return { observed: true, evidence: seen.join("; ").slice(0, 2048) || "all commands applied" };
  }
}

/** Every node a finding blames (its node, link ends, cut). */
const blamedNodes = (finding: TimedFinding): string[] => {
  const b = finding.blamed;
  return b.kind === "node" ? [b.node, ...("link" in b && b.link ? b.link : [])] : b.kind === "link" ? [...b.link] : [...b.nodes, ...b.links.flat()];
};

/** An operator's reading of what the loop will check. */
export const describeEffects = (effects: readonly ExpectedEffect[]): string =>
  (effects
    .map((e) => {
      switch (e.kind) {
        case "route-avoids-link":
          return `no route uses ${e.link[0]}->${e.link[1]}`;
        case "node-reachable":
          return `${e.node} is heard again`;
        case "traffic-below":
          return `${e.node} is held to ${e.pps} pps`;
        case "node-isolated":
          return `${e.atNodes.length} neighbour(s) drop ${e.node}'s frames`;
        case "gateway-serving":
          return `${e.node} serves as gateway`;
        case "link-healthy":
          return `${e.link[0]}-${e.link[1]} is back within its baseline`;
      }
    })
    .join("; ") || "every command applied").slice(0, 512);
