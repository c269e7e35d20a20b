import { describe, expect, it } from "vitest";
import { healSubjectOf, type HealEvent } from "../../domains/healing/index.ts";
import { EnrolledProducers } from "../identity/index.ts";
import { authorizeHealEvent } from "./authorize.ts";
import { IncidentLog, type LoggedEvent } from "./model.ts";
import { incidentSummary, operatorCommandView } from "./views.ts";

const T0 = 1_700_000_000_000;
const id = "inc-1";
const action = { kind: "hop-penalty", hardIf: "mesh0", value: 120 } as const;

const Detected = (incidentId = id, onsetAt?: number): HealEvent => ({
  type: "heal.IncidentDetected",
  data: {
    incidentId,
    kind: "link-degraded",
    blamed: { kind: "link", link: ["A", "B"] },
    affected: [],
    affectedCount: 0,
    reason: "A-B lost 40 % TQ",
    detectedAt: T0,
    ...(onsetAt !== undefined ? { onsetAt } : {}),
  },
});
const Planned: HealEvent = {
  type: "heal.ActionPlanned",
  data: {
    incidentId: id,
    actionId: "act-1",
    policy: "reroute-around-link",
    steps: [{ action, targetNodeIds: ["A"] }],
    expectedEffect: "routes avoid A-B",
    effects: [{ kind: "route-avoids-link", link: ["A", "B"] }],
    settleMs: 2000,
    deadline: T0 + 30_000,
  },
};
const Issued: HealEvent = { type: "heal.HealingCommandIssued", data: { commandId: "c-1", incidentId: id, targetNodeId: "A", action, step: 0, issuedBy: "loop" } };
/** A node agent may leave the incident out of its outcome: the log finds it by command id. */
const AppliedByNode: HealEvent = { type: "heal.CommandApplied", data: { commandId: "c-1", targetNodeId: "A", exitCode: 0, detail: "ok", appliedAt: T0 + 1_000 } };
const Recovered = (at: number): HealEvent => ({ type: "heal.Recovered", data: { incidentId: id, verifiedAt: at, evidence: "A→C via D" } });
const Escalated: HealEvent = { type: "heal.Escalated", data: { incidentId: id, reason: "effect not observed", escalatedAt: T0 + 9_000 } };
const OperatorCommand: HealEvent = { type: "heal.HealingCommandIssued", data: { commandId: "op-1", targetNodeId: "B", action: { kind: "hop-penalty", value: 60 }, issuedBy: "operator" } };
const OperatorOutcome = (targetNodeId: string): HealEvent => ({
  type: "heal.CommandFailed",
  data: { commandId: "op-1", targetNodeId, exitCode: 1, stderr: "batctl: not found", failedAt: T0 + 500 },
});

const logged = (seq: number, event: HealEvent, producerId = "loop"): LoggedEvent => ({
  seq,
  meta: {
    subject: healSubjectOf(event),
    type: event.type,
    eventId: `e-${seq}`,
    producerId,
    correlationId: event.data.incidentId ?? ("commandId" in event.data ? event.data.commandId : "?"),
    causationId: `e-${seq - 1}`,
    occurredAt: new Date(T0 + seq).toISOString(),
  },
  payload: event.data,
});

/** Given these events in stream order (sequence 1, 2, ...). */
const given = (...events: HealEvent[]) => {
  const log = new IncidentLog();
  events.forEach((e, i) => log.apply(logged(i + 1, e)));
  return log;
};

describe("incident log", () => {
  it("folds an incident with the decider's evolve and keeps its chain in stream order", () => {
    const log = given(Detected(id, T0 - 4_000), Planned, Issued, AppliedByNode, Recovered(T0 + 6_000));
    const record = log.incident(id)!;
    expect(record.state.status).toBe("recovered");
    expect(record.state.commands[0]?.applied?.detail).toBe("ok");
    expect(record.chain.map((l) => [l.seq, l.type])).toEqual([
      [1, "heal.IncidentDetected"],
      [2, "heal.ActionPlanned"],
      [3, "heal.HealingCommandIssued"],
      [4, "heal.CommandApplied"],
      [5, "heal.Recovered"],
    ]);
    expect(record.chain[3]).toMatchObject({ subject: "heal.A.outcome", eventId: "e-4", causationId: "e-3" });
    const summary = incidentSummary(record);
    expect(summary).toMatchObject({ status: "recovered", kind: "link-degraded", detectionSeconds: 4, timeToRecoverSeconds: 10, commands: { issued: 1, applied: 1, failed: 0 } });
  });

  it("measures recovery from detection when the detection names no onset", () => {
    const summary = incidentSummary(given(Detected(), Planned, Issued, AppliedByNode, Recovered(T0 + 6_000)).incident(id)!);
    expect(summary.detectionSeconds).toBeUndefined();
    expect(summary.timeToRecoverSeconds).toBe(6);
  });

  it("ignores a replayed event (at or below the record's sequence) and marks a fact that does not fit", () => {
    const log = given(Detected(), Escalated, Recovered(T0 + 10_000));
    const record = log.incident(id)!;
    expect(record.state.status).toBe("escalated");
    expect(record.chain[2]).toMatchObject({ type: "heal.Recovered", ignored: true });
    expect(log.apply(logged(2, Escalated))).toBeUndefined();
    expect(log.incident(id)!.chain).toHaveLength(3);
  });

  it("keeps operator commands outside incidents, first outcome from the target node wins", () => {
    const log = given(OperatorCommand, OperatorOutcome("C"), OperatorOutcome("B"));
    expect(log.incidents()).toEqual([]);
    const view = operatorCommandView(log.operatorCommand("op-1")!);
    expect(view).toMatchObject({ commandId: "op-1", targetNodeId: "B", status: "failed", failed: { exitCode: 1 } });
    expect(view.chain.map((l) => l.ignored ?? false)).toEqual([false, true, false]);
    expect(log.operatorCommands({ node: "A" })).toEqual([]);
  });

  it("lists incidents newest first, by status and kind", () => {
    const log = given(Detected("old"), Detected("new"), { type: "heal.Escalated", data: { incidentId: "old", reason: "x", escalatedAt: T0 } });
    expect(log.incidents().map((r) => r.incidentId)).toEqual(["new", "old"]);
    expect(log.incidents({ status: "open" }).map((r) => r.incidentId)).toEqual(["new"]);
    expect(log.incidents({ status: "escalated" }).map((r) => r.incidentId)).toEqual(["old"]);
    expect(log.incidents({ kind: "node-dead" })).toEqual([]);
  });

  it("restores persisted records: outcomes still find their incident, replays change nothing", () => {
    const before = given(Detected(), Planned, Issued);
    const restored = new IncidentLog();
    restored.load("incident.inc-1", structuredClone(before.incident(id)));
    expect(restored.apply(logged(3, Issued))).toBeUndefined();
    expect(restored.apply(logged(4, AppliedByNode))).toBe("incident.inc-1");
    expect(restored.incident(id)!.state.status).toBe("applied");
  });

  it("records faults from chaos events", () => {
    const log = new IncidentLog();
    const fault = { faultId: "f-1", scenario: "crash", fault: { kind: "node-crash", node: "A" }, injectedAt: T0 };
    log.apply({ seq: 1, meta: { ...logged(1, Detected()).meta, subject: "heal.fault.f-1", type: "chaos.FaultInjected" }, payload: fault });
    expect(log.fault("f-1")?.injected).toEqual(fault);
    log.apply({ seq: 2, meta: { ...logged(2, Detected()).meta, subject: "heal.fault.f-1", type: "chaos.FaultCleared" }, payload: { faultId: "f-1", clearedAt: T0 + 1 } });
    expect(log.fault("f-1")?.cleared?.clearedAt).toBe(T0 + 1);
  });
});

describe("who may append what on HEAL", () => {
  const roles = new EnrolledProducers();
  const enrol = (producerId: string, role: "control-plane" | "operator" | "chaos") =>
    roles.apply({ producerId, publicKey: new Uint8Array(32), role }, { seq: 1, keyId: "k", occurredAt: T0 });
  enrol("loop", "control-plane");
  enrol("operator-ann", "operator");
  const check = (event: HealEvent, producerId: string, subject = healSubjectOf(event)) => authorizeHealEvent({ producerId, subject, type: event.type }, event.data, roles);

  it("lets the control plane run incidents and the target node report outcomes", () => {
    expect(check(Detected(), "loop")).toBeUndefined();
    expect(check(Issued, "loop")).toBeUndefined();
    expect(check(AppliedByNode, "A")).toBeUndefined();
    expect(check(AppliedByNode, "loop")).toBeUndefined();
  });

  it("refuses a node or an operator speaking for the control plane, and a node answering for another", () => {
    expect(check(Detected(), "A")).toContain("A may not append heal.IncidentDetected");
    expect(check(Recovered(T0), "operator-ann")).toContain("operator-ann (operator) may not append heal.Recovered");
    expect(check(Issued, "operator-ann")).toContain("may not append a loop command");
    expect(check(AppliedByNode, "B")).toContain("the outcome of a command to A");
  });

  it("lets an operator issue operator commands, on the target node's command subject only", () => {
    expect(check(OperatorCommand, "operator-ann")).toBeUndefined();
    expect(check(OperatorCommand, "A")).toContain("may not append an operator command");
    expect(check(OperatorCommand, "operator-ann", "heal.C.command")).toContain("belongs on heal.B.command");
  });
});
