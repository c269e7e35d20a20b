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
 * finding clears. A finding that persists after its incident was escalated, or that flickers
 * (gone for less than `recurrenceGapMs`), opens no new incident. One that comes back after
 * longer is a new occurrence: it always gets an incident, escalated as
 * `repeat-within-cooldown` when the fix for it is inside its cooldown (flapping) or the
 * operator was told about the target inside `escalateCooldownMs`.
 *
 * Lasting changes are reverted once their finding has cleared: a hop_penalty a plan raised
 * goes back to the value it had before (while no other open mitigation holds it raised), and
 * a rate limit is released. A raise goes back sooner, while the link is still bad, once
 * batman-adv's own TQ keeps the routes off the link without it (its average fell with the
 * loss), or once it costs a checked pair its route (the links around kept getting worse after
 * the plan sized it). A raised penalty left behind weakens every route through the node
 * for good, and at the edge of batman-adv's reach (an OGM whose TQ decays below 1 is dropped)
 * costs pairs their only route. The revert is a `HealingCommandIssued` of the same incident,
 * for the plan step it reverts (its chain shows what was undone); a harmful raise goes back
 * even while its plan is still settling, which then escalates unless the routes avoid the link
 * without it.
 *
 * | option | default |
 * |---|---|
 * | `plan` | `plan.ts` defaults (budget 10 actions / 10 s) |
 * | `deadlineAfterSettleMs` (escalate when not recovered by settle + this) | 10 000 |
 * | `hopPenalty` (mesh-wide default of every node) | 30 |
 * | `routeDestinations` (destinations route checks look at, for meshes larger than this) | 24 |
 * | `recurrenceGapMs` (a finding gone this long is a new occurrence when it comes back) | 30 000 |
 * | `radioInterface` (hard interfaces that are radios: batman-adv penalises re-sending an OGM on the radio it came in on, as a half-duplex radio halves throughput) | Gluon's `mesh0`, `mesh1`…, OpenWrt's `wlan0`… |
 */
import { decide, evolve, initialState, type IncidentCommand, type IncidentState } from "./incident.ts";
import type { ActionPlanned, HealEvent, HealingAction, HealingCommandIssued } from "./events.ts";
import { MAX_LISTED_AFFECTED } from "./events.ts";
import type { MeshMonitor, TimedFinding } from "./monitor.ts";
import { defaultPlanOptions, findingTarget, planHealing, toPlanSteps, type ExpectedEffect, type GatewayMode, type PlanningContext, type PlanOptions, type RecentAction } from "./plan.ts";
import { DEFAULT_HOP_PENALTY, routeCheckDestinations, routeTable, type NodeRouting, type RouteTopology } from "./route-cost.ts";
import * as Result from "effect/Result";

export interface HealingLoopOptions {
  readonly plan?: PlanOptions;
  readonly deadlineAfterSettleMs?: number;
  readonly hopPenalty?: number;
  readonly routeDestinations?: number;
  readonly radioInterface?: RegExp;
  /** A finding gone at least this long is a new occurrence when it comes back (it gets an incident even inside cooldowns), ms. */
  readonly recurrenceGapMs?: number;
}

/** A batman-adv knob (a node's mesh-wide or per-interface hop_penalty) raised by plans, and who holds it raised. */
interface RaisedPenalty {
  readonly node: string;
  readonly hardIf: string | undefined;
  /** Its value before the first plan raised it. */
  readonly original: number;
  /** Incident id → the plan step that raised it. */
  readonly holders: Map<string, number>;
}

/** A rate limit a plan installed at a node for a MAC, and the incidents holding it. */
interface InstalledLimit {
  readonly node: string;
  readonly mac: string;
  readonly holders: Map<string, number>;
}

interface KnownCommand {
  readonly target: string;
  readonly action: HealingAction;
  readonly incidentId: string | undefined;
  readonly step: number | undefined;
  /** Issued to undo a plan's step, not to carry it out. */
  readonly revert: boolean;
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
/** Best routes by destination, computed on first use (`routeTable`). */
type RouteLookup = ReturnType<typeof routeTable>;
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
  /** When each target last had a finding (kept while it was seen within `recurrenceGapMs`). */
  private readonly lastSeen = new Map<string, number>();
  /** Targets whose current occurrence has no incident yet. */
  private readonly unrecorded = new Set<string>();
  private recent: RecentRecord[] = [];
  /** Every command seen (the loop's and operators'), so an applied one updates the knowledge. */
  private readonly commandActions = new Map<string, KnownCommand>();
  /** Hop penalties plans raised, by node and interface; rate limits they installed, by node and MAC. */
  private readonly raised = new Map<string, RaisedPenalty>();
  private readonly limits = new Map<string, InstalledLimit>();
  /** When each incident's raises were last checked for being harmful or (recovered) redundant. */
  private readonly lastNeedCheck = new Map<string, number>();
  private readonly routeTables = new WeakMap<RouteTopology, RouteLookup>();
  private readonly routing = new Map<string, { hopPenalty?: number; interfaceHopPenalty: Record<string, number> }>();
  private readonly gatewayModes = new Map<string, GatewayMode>();
  private readonly deadlineAfterSettleMs: number;
  private readonly hopPenalty: number;
  private readonly routeDestinations: number;
  private readonly radioInterface: RegExp;
  private readonly recurrenceGapMs: number;
  private lastSummary: TickSummary = { findings: 0, opened: 0, held: 0 };

  constructor(
    readonly monitor: MeshMonitor,
    private readonly newId: () => string,
    private readonly options: HealingLoopOptions = {},
  ) {
    this.deadlineAfterSettleMs = options.deadlineAfterSettleMs ?? 10_000;
    this.hopPenalty = options.hopPenalty ?? DEFAULT_HOP_PENALTY;
    this.routeDestinations = options.routeDestinations ?? 24;
    this.radioInterface = options.radioInterface ?? /^(mesh|wlan)\d+$/;
    this.recurrenceGapMs = options.recurrenceGapMs ?? 30_000;
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
    if (event.type === "heal.HealingCommandIssued") this.rememberCommand(event.data, this.isRevert(event.data));
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
      // The finding was there then: after a restart, the same occurrence is not a new one.
      this.lastSeen.set(target, Math.max(this.lastSeen.get(target) ?? 0, event.data.detectedAt));
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

  private rememberCommand(c: HealingCommandIssued, revert: boolean): void {
    if (this.commandActions.size >= COMMANDS_KEPT) this.commandActions.delete(this.commandActions.keys().next().value!);
    this.commandActions.set(c.commandId, { target: c.targetNodeId, action: c.action, incidentId: c.incidentId, step: c.step, revert });
  }

  /** A loop command whose action is not its plan step's: it undoes that step (read back from the log). */
  private isRevert(c: HealingCommandIssued): boolean {
    if (c.issuedBy !== "loop" || c.incidentId === undefined || c.step === undefined) return false;
    const planned = this.incidents.get(c.incidentId)?.state.plan?.steps[c.step]?.action;
    return planned !== undefined && JSON.stringify(planned) !== JSON.stringify(c.action);
  }

  /** The hop_penalty the loop knows `node` runs with (mesh-wide, or on `hardIf`). */
  private knownPenalty(node: string, hardIf: string | undefined): number {
    const r = this.routing.get(node);
    return hardIf === undefined ? (r?.hopPenalty ?? this.hopPenalty) : (r?.interfaceHopPenalty[hardIf] ?? 0);
  }

  private learnApplied(commandId: string): void {
    const c = this.commandActions.get(commandId);
    if (!c) return;
    const a = c.action;
    const holder = c.incidentId !== undefined && c.step !== undefined && !c.revert ? c.incidentId : undefined;
    if (a.kind === "hop-penalty") {
      const knob = `${c.target}\u0000${a.hardIf ?? ""}`;
      const before = this.knownPenalty(c.target, a.hardIf);
      if (holder !== undefined && a.value > before) {
        const raised = this.raised.get(knob) ?? { node: c.target, hardIf: a.hardIf, original: before, holders: new Map<string, number>() };
        raised.holders.set(holder, c.step!);
        this.raised.set(knob, raised);
      }
      const r = this.routing.get(c.target) ?? { interfaceHopPenalty: {} };
      if (a.hardIf === undefined) r.hopPenalty = a.value;
      else r.interfaceHopPenalty[a.hardIf] = a.value;
      this.routing.set(c.target, r);
    } else if (a.kind === "gateway") this.gatewayModes.set(c.target, a.mode);
    else if (a.kind === "rate-limit" && a.source.kind === "mac" && holder !== undefined) {
      const key = `${c.target}\u0000${a.source.mac}`;
      const limit = this.limits.get(key) ?? { node: c.target, mac: a.source.mac, holders: new Map<string, number>() };
      limit.holders.set(holder, c.step!);
      this.limits.set(key, limit);
    }
  }

  /**
   * Commands undoing what ended incidents left in place, for every one whose finding is gone:
   * a raised hop_penalty back to its value before (once no other incident holds it raised),
   * a rate limit released.
   */
  private revertCleared(
    current: ReadonlySet<string>,
    nowMs: number,
    topologyNow: () => RouteTopology,
  ): { incidentId: string; command: Omit<HealingCommandIssued, "commandId" | "incidentId"> }[] {
    const ended = (id: string): boolean => {
      const open = this.incidents.get(id);
      if (!open) return true;
      const s = open.state.status;
      return (s === "recovered" || s === "escalated") && !current.has(open.target) && this.openByTarget.get(open.target) === undefined;
    };
    const giveBack = new Map<string, boolean>();
    const unneeded = (id: string): boolean => {
      if (!giveBack.has(id)) giveBack.set(id, ended(id) || this.raiseNoLongerPays(id, nowMs, topologyNow));
      return giveBack.get(id)!;
    };
    const out: { incidentId: string; command: Omit<HealingCommandIssued, "commandId" | "incidentId"> }[] = [];
    for (const [knob, r] of this.raised) {
      for (const [id, step] of [...r.holders]) {
        if (!unneeded(id)) continue;
        r.holders.delete(id);
        if (r.holders.size > 0) continue;
        this.raised.delete(knob);
        const action: HealingCommandIssued["action"] = r.hardIf === undefined ? { kind: "hop-penalty", value: r.original } : { kind: "hop-penalty", hardIf: r.hardIf, value: r.original };
        out.push({ incidentId: id, command: { targetNodeId: r.node, action, step, issuedBy: "loop" } });
      }
    }
    for (const [key, l] of this.limits) {
      for (const [id, step] of [...l.holders]) {
        if (!ended(id)) continue;
        l.holders.delete(id);
        if (l.holders.size > 0) continue;
        this.limits.delete(key);
        out.push({ incidentId: id, command: { targetNodeId: l.node, action: { kind: "release", source: { kind: "mac", mac: l.mac } }, step, issuedBy: "loop" } });
      }
    }
    // A knob given back no longer counts as this incident's action: another finding on the
    // same node may use it (the same finding coming back is still held by its target's cooldown).
    for (const id of new Set(out.map((o) => o.incidentId))) {
      const record = this.incidents.get(id)?.record;
      const holds = [...this.raised.values(), ...this.limits.values()].some((h) => h.holders.has(id));
      if (record && !holds) record.actions = record.actions.filter((a) => a.kind !== "hop-penalty" && a.kind !== "rate-limit");
      if (!holds) this.lastNeedCheck.delete(id);
    }
    return out;
  }

  /** The route-cost view: reported TQs, the penalties nodes applied, and their radios (by interface name). */
  routeTopology(nowMs: number): RouteTopology {
    const links = this.monitor.routeLinks(nowMs);
    const radios = new Map<string, Set<string>>();
    for (const l of links) {
      if (l.hardIf === undefined || !this.radioInterface.test(l.hardIf)) continue;
      let set = radios.get(l.source);
      if (!set) radios.set(l.source, (set = new Set()));
      set.add(l.hardIf);
    }
    const nodes: Record<string, NodeRouting> = {};
    for (const node of new Set([...this.routing.keys(), ...radios.keys()])) {
      const r = this.routing.get(node);
      nodes[node] = {
        ...(r?.hopPenalty === undefined ? {} : { hopPenalty: r.hopPenalty }),
        interfaceHopPenalty: { ...r?.interfaceHopPenalty },
        ...(radios.has(node) ? { wifiInterfaces: [...radios.get(node)!].sort(compare) } : {}),
      };
    }
    return { links, nodes };
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
        if (event.type === "heal.HealingCommandIssued") this.rememberCommand(event.data, false);
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
    for (const target of current) {
      const seen = this.lastSeen.get(target);
      if (seen === undefined || nowMs - seen >= this.recurrenceGapMs) this.unrecorded.add(target);
      this.lastSeen.set(target, nowMs);
    }
    for (const [target, seen] of this.lastSeen) {
      if (nowMs - seen < this.recurrenceGapMs) continue;
      this.lastSeen.delete(target);
      this.unrecorded.delete(target);
    }
    for (const target of [...this.mitigated.keys()]) if (!current.has(target)) this.mitigated.delete(target);
    for (const { incidentId, command } of this.revertCleared(current, nowMs, topologyNow)) {
      const event: HealEvent = { type: "heal.HealingCommandIssued", data: { commandId: this.newId(), incidentId, ...command } };
      const open = this.incidents.get(incidentId);
      if (open) this.fold(incidentId, open, event);
      this.rememberCommand(event.data, true);
      out.push(event);
    }
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
      const decision = planHealing(
        finding,
        { ...context, routeDestinations: this.destinations(context.topology, near), newOccurrence: this.unrecorded.has(target) },
        nowMs,
        this.options.plan,
      );
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
      this.unrecorded.delete(target);
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
        // A link taken out of service leaves both its ends heard: only a blocked node goes quiet.
        const blocked =
          finding.blamed.kind !== "link" && step.action.kind === "quarantine" && step.action.source.kind === "mac" ? this.monitor.ownerOfMac(step.action.source.mac) : undefined;
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

  /** Destinations route arithmetic looks at around these nodes (`routeCheckDestinations`). */
  private destinations(topology: RouteTopology, around: readonly string[]): string[] {
    return routeCheckDestinations(topology, around, this.routeDestinations);
  }

  /**
   * Best routes over a topology, shared by every check of one tick (the tick's topology is one
   * object): route arithmetic on a 1,000-node mesh costs milliseconds per destination.
   */
  private routesOver(topology: RouteTopology): RouteLookup {
    let routes = this.routeTables.get(topology);
    if (!routes) this.routeTables.set(topology, (routes = routeTable(topology, { hopPenalty: this.hopPenalty })));
    return routes;
  }

  /** The destinations (of those given) `from` routes to through its link to `to`; traffic between the two ends does not count. */
  private routedVia(routes: RouteLookup, from: string, to: string, destinations: readonly string[]): string[] {
    return destinations.filter((d) => d !== from && d !== to && routes(d).get(from)?.path[1] === to);
  }

  /**
   * Whether an incident's raised hop_penalties should go back now, while its link is still bad.
   * Compared with each knob it alone holds back at its value before:
   * - **harmful** (whatever the incident's state): some checked source/destination pair has a
   *   route only without the raise (routes at most `marginalRouteTq` aside, as the plan counts
   *   them). A raise is sized on the TQs of its moment. Around a link that is still getting
   *   worse (a jammed region, where every link's window average is still falling) the same
   *   raise later leaves pairs at the edge of batman-adv's reach without a route, which
   *   batman-adv alone would still carry;
   * - **redundant** (once recovered): batman-adv's own TQ (the link's average fell with the
   *   loss) keeps every checked route off the link all the same.
   * Looked at once a second.
   */
  private raiseNoLongerPays(id: string, nowMs: number, topologyNow: () => RouteTopology): boolean {
    const open = this.incidents.get(id);
    if (!open) return false;
    const links = (open.state.plan?.effects ?? []).flatMap((e) => (e.kind === "route-avoids-link" ? [e.link] : []));
    if (links.length === 0) return false;
    if ((this.lastNeedCheck.get(id) ?? -Infinity) > nowMs - 1_000) return false;
    this.lastNeedCheck.set(id, nowMs);
    const base = topologyNow();
    const nodes: Record<string, NodeRouting> = { ...base.nodes };
    for (const r of this.raised.values()) {
      if (!r.holders.has(id) || r.holders.size > 1) continue;
      const n = nodes[r.node] ?? {};
      nodes[r.node] = r.hardIf === undefined ? { ...n, hopPenalty: r.original } : { ...n, interfaceHopPenalty: { ...n.interfaceHopPenalty, [r.hardIf]: r.original } };
    }
    const without: RouteTopology = { links: base.links, nodes };
    // The destinations the plan looked at (both ends of each link); penalties do not change them.
    const checked = links.map(([from, to]) => this.destinations(base, [from, to]));
    const margin = this.options.plan?.marginalRouteTq ?? defaultPlanOptions.marginalRouteTq;
    const raisedRoutes = this.routesOver(base);
    const formerRoutes = routeTable(without, { hopPenalty: this.hopPenalty });
    for (const d of new Set(checked.flat())) {
      const kept = raisedRoutes(d);
      for (const [source, route] of formerRoutes(d)) if (route.tq > margin && !kept.has(source)) return true;
    }
    return open.state.status === "recovered" && links.every(([from, to], i) => this.routedVia(formerRoutes, from, to, checked[i]!).length === 0);
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
          // The destinations the plan looked at (both ends of the link): a raise is sized for those.
          const destinations = this.destinations(topology, [from, to]);
          const using = this.routedVia(this.routesOver(topology), from, to, destinations);
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
