import * as Result from "effect/Result";
import * as Schema from "effect/Schema";
import { describe, expect, it } from "vitest";
import { healEvents, type HealEvent } from "./events.ts";
import { decide, evolve, fold, type IncidentCommand, IncidentStateError, initialState, type IncidentStatus } from "./incident.ts";

const T0 = 1_700_000_000_000;
const id = "inc-1";

// Commands
const detect: IncidentCommand = {
  type: "DetectIncident",
  data: { incidentId: id, kind: "link-degraded", blamed: { kind: "link", link: ["A", "B"] }, affected: [], affectedCount: 0, reason: "A-B lost 40 % TQ", detectedAt: T0 },
};
const plan: IncidentCommand = {
  type: "PlanAction",
  data: {
    incidentId: id,
    actionId: "act-1",
    policy: "reroute-around-link",
    steps: [{ action: { kind: "hop-penalty", hardIf: "mesh0", value: 120 }, targetNodeIds: ["A", "B"] }],
    expectedEffect: "routes avoid A-B",
    effects: [{ kind: "route-avoids-link", link: ["A", "B"] }],
    settleMs: 2000,
    deadline: T0 + 30_000,
  },
};
const issue = (commandId: string, targetNodeId: string, step = 0): IncidentCommand => ({ type: "IssueCommand", data: { incidentId: id, commandId, targetNodeId, step } });
const recordApplied = (commandId: string, targetNodeId: string, at: number): IncidentCommand => ({
  type: "RecordOutcome",
  data: { incidentId: id, commandId, targetNodeId, outcome: { result: "applied", detail: "ok", at } },
});
const recordFailed = (commandId: string, targetNodeId: string, at: number): IncidentCommand => ({
  type: "RecordOutcome",
  data: { incidentId: id, commandId, targetNodeId, outcome: { result: "failed", exitCode: 2, stderr: "no such device mesh0", at } },
});
const verify = (observed: boolean, at: number): IncidentCommand => ({ type: "VerifyEffect", data: { incidentId: id, observed, at, evidence: "A→C via D" } });
const escalate = (at: number): IncidentCommand => ({ type: "Escalate", data: { incidentId: id, reason: "operator takes over", at } });

// Events, as the decider produces them
const action = { kind: "hop-penalty", hardIf: "mesh0", value: 120 } as const;
const Detected: HealEvent = { type: "heal.IncidentDetected", data: (detect as Extract<IncidentCommand, { type: "DetectIncident" }>).data };
const Planned: HealEvent = { type: "heal.ActionPlanned", data: (plan as Extract<IncidentCommand, { type: "PlanAction" }>).data };
const Issued = (commandId: string, targetNodeId: string): HealEvent => ({
  type: "heal.HealingCommandIssued",
  data: { commandId, incidentId: id, targetNodeId, action, step: 0, issuedBy: "loop" },
});
const Applied = (commandId: string, targetNodeId: string, at: number): HealEvent => ({
  type: "heal.CommandApplied",
  data: { commandId, incidentId: id, targetNodeId, exitCode: 0, detail: "ok", appliedAt: at },
});
const Failed = (commandId: string, targetNodeId: string, at: number): HealEvent => ({
  type: "heal.CommandFailed",
  data: { commandId, incidentId: id, targetNodeId, exitCode: 2, stderr: "no such device mesh0", failedAt: at },
});
const Escalated = (reason: string, at: number): HealEvent => ({ type: "heal.Escalated", data: { incidentId: id, reason, escalatedAt: at } });
const Recovered = (at: number): HealEvent => ({ type: "heal.Recovered", data: { incidentId: id, verifiedAt: at, evidence: "A→C via D" } });

// Histories
const detected = [Detected];
const planned = [...detected, Planned];
const commanded = [...planned, Issued("c-a", "A"), Issued("c-b", "B")];
const halfApplied = [...commanded, Applied("c-a", "A", T0 + 100)];
const applied = [...halfApplied, Applied("c-b", "B", T0 + 300)];
const recovered = [...applied, Recovered(T0 + 2500)];
const escalated = [...applied, Escalated("gave up", T0 + 2500)];

/** given these past events, when this command → then these new events, or this error. */
const given = (events: readonly HealEvent[]) => ({
  when: (command: IncidentCommand) => {
    const decision = decide(command, fold(events));
    return {
      then: (expected: readonly HealEvent[]) => {
        expect(Result.isSuccess(decision) ? decision.success : decision.failure).toEqual(expected);
        // What the decider emits must be valid on the wire.
        for (const e of expected) {
          const def = healEvents.find((d) => d.type === e.type)!;
          expect(Schema.decodeUnknownExit(def.schema as Schema.Decoder<unknown>)(e.data)._tag).toBe("Success");
        }
      },
      thenRefused: (state: IncidentStatus, message: RegExp) => {
        expect(Result.isFailure(decision)).toBe(true);
        const error = (decision as Result.Failure<unknown, IncidentStateError>).failure;
        expect(error).toBeInstanceOf(IncidentStateError);
        expect(error._tag).toBe("IncidentStateError");
        expect(error).toMatchObject({ incidentId: command.data.incidentId, state, command: command.type });
        expect(error.message).toMatch(message);
      },
    };
  },
});

describe("incident lifecycle: evolve", () => {
  it.each<[string, readonly HealEvent[], IncidentStatus]>([
    ["nothing", [], "none"],
    ["detection", detected, "detected"],
    ["a plan", planned, "planned"],
    ["commands issued", commanded, "commanded"],
    ["one of two targets applied", halfApplied, "commanded"],
    ["every target applied", applied, "applied"],
    ["recovery", recovered, "recovered"],
    ["escalation", escalated, "escalated"],
  ])("after %s the incident is %s", (_name, events, status) => {
    expect(fold(events).status).toBe(status);
  });

  it("starts the settle time at the last target's application", () => {
    expect(fold(applied).appliedAt).toBe(T0 + 300);
  });

  it("ignores events of another incident and events that do not fit", () => {
    const state = fold(planned);
    expect(evolve(state, { type: "heal.Escalated", data: { incidentId: "inc-2", reason: "x", escalatedAt: 0 } })).toBe(state);
    expect(evolve(state, Applied("c-unknown", "A", T0))).toBe(state);
    expect(fold([Recovered(T0)]).status).toBe("none");
    expect(fold([...recovered, Escalated("late", T0 + 9000)]).status).toBe("recovered");
  });

  it("starts from none with no commands", () => {
    expect(initialState()).toEqual({ status: "none", commands: [] });
  });
});

describe("incident lifecycle: decide, the happy path", () => {
  it("none: DetectIncident opens it", () => given([]).when(detect).then([Detected]));
  it("detected: PlanAction plans it", () => given(detected).when(plan).then([Planned]));
  it("planned: IssueCommand sends the plan's action to a target", () => given(planned).when(issue("c-a", "A")).then([Issued("c-a", "A")]));
  it("commanded: IssueCommand sends it to the next target", () => given([...planned, Issued("c-a", "A")]).when(issue("c-b", "B")).then([Issued("c-b", "B")]));
  it("commanded: RecordOutcome applied records it", () => given(commanded).when(recordApplied("c-a", "A", T0 + 100)).then([Applied("c-a", "A", T0 + 100)]));
  it("commanded: the last target's application makes it applied", () => {
    given(halfApplied).when(recordApplied("c-b", "B", T0 + 300)).then([Applied("c-b", "B", T0 + 300)]);
    expect(fold([...halfApplied, Applied("c-b", "B", T0 + 300)]).status).toBe("applied");
  });
  it("applied: VerifyEffect observed records the recovery", () => given(applied).when(verify(true, T0 + 2300)).then([Recovered(T0 + 2300)]));
});

describe("incident lifecycle: decide, escalation", () => {
  it("commanded: a failed command escalates at once", () =>
    given(commanded).when(recordFailed("c-b", "B", T0 + 200)).then([Failed("c-b", "B", T0 + 200), Escalated("command c-b failed on B (exit 2)", T0 + 200)]));

  it("commanded: a failure the node already appended still gets the loop's escalation", () =>
    given([...commanded, Failed("c-b", "B", T0 + 200)]).when(recordFailed("c-b", "B", T0 + 250)).then([Escalated("command c-b failed on B (exit 2)", T0 + 250)]));

  it("applied: effect not yet observed within the settle time → wait, nothing to append", () => given(applied).when(verify(false, T0 + 300 + 1999)).then([]));

  it("applied: effect not observed once the settle time passed → escalated", () =>
    given(applied).when(verify(false, T0 + 300 + 2000)).then([Escalated("routes avoid A-B not observed 2000 ms after the action was applied (settle 2000 ms)", T0 + 2300)]));

  it("applied: effect not observed after the deadline → escalated for the deadline", () =>
    given(applied).when(verify(false, T0 + 30_000)).then([Escalated("deadline passed: routes avoid A-B not observed", T0 + 30_000)]));

  it.each<[string, readonly HealEvent[]]>([
    ["detected", detected],
    ["planned", planned],
    ["commanded", commanded],
    ["applied", applied],
  ])("%s: Escalate escalates", (_name, events) => given(events).when(escalate(T0 + 5000)).then([Escalated("operator takes over", T0 + 5000)]));

  it("escalated: a late outcome is recorded, with no second escalation", () =>
    given([...commanded, Escalated("deadline", T0 + 30_000)]).when(recordApplied("c-a", "A", T0 + 31_000)).then([Applied("c-a", "A", T0 + 31_000)]));

  it("escalated: a late failure is recorded, with no second escalation", () =>
    given([...commanded, Escalated("deadline", T0 + 30_000)]).when(recordFailed("c-a", "A", T0 + 31_000)).then([Failed("c-a", "A", T0 + 31_000)]));
});

describe("incident lifecycle: decide, idempotency", () => {
  it("detected: the same detection again → nothing", () => given(detected).when(detect).then([]));
  it("planned: the same plan again → nothing", () => given(commanded).when(plan).then([]));
  it("commanded: the same command again → nothing", () => given(commanded).when(issue("c-a", "A")).then([]));
  it("applied: the same command again → nothing", () => given(applied).when(issue("c-b", "B")).then([]));
  it("commanded: the same application twice → nothing", () => given(halfApplied).when(recordApplied("c-a", "A", T0 + 999)).then([]));
  it("escalated: the same failure twice → nothing", () =>
    given([...commanded, Failed("c-b", "B", T0 + 200), Escalated("command c-b failed on B (exit 2)", T0 + 200)]).when(recordFailed("c-b", "B", T0 + 200)).then([]));
  it("recovered: the effect observed again → nothing", () => given(recovered).when(verify(true, T0 + 9000)).then([]));
  it("escalated: Escalate again → nothing", () => given(escalated).when(escalate(T0 + 9000)).then([]));
  it("recovered: the detection again → nothing", () => given(recovered).when(detect).then([]));
});

describe("incident lifecycle: decide, illegal transitions", () => {
  it("detected: a different finding for the same incident is refused", () =>
    given(detected).when({ ...detect, data: { ...(detect.data as object), reason: "other" } } as IncidentCommand).thenRefused("detected", /different finding/));

  it("any command for another incident is refused", () =>
    given(detected).when({ type: "Escalate", data: { incidentId: "inc-2", reason: "x", at: T0 } }).thenRefused("detected", /this is incident inc-1/));

  it("none: PlanAction is refused", () => given([]).when(plan).thenRefused("none", /no incident/));
  it("planned: a second, different plan is refused", () =>
    given(planned).when({ ...plan, data: { ...(plan.data as object), actionId: "act-2" } } as IncidentCommand).thenRefused("planned", /already has action act-1/));
  it("escalated: planning is refused", () => given([...detected, Escalated("x", T0)]).when(plan).thenRefused("escalated", /only a detected incident/));
  it("detected: a deadline before detection is refused", () =>
    given(detected).when({ ...plan, data: { ...(plan.data as object), deadline: T0 } } as IncidentCommand).thenRefused("detected", /deadline/));

  it("detected: IssueCommand without a plan is refused", () => given(detected).when(issue("c-a", "A")).thenRefused("detected", /planned action/));
  it("planned: a command to a node outside the plan is refused", () => given(planned).when(issue("c-x", "X")).thenRefused("planned", /X is not a target/));
  it("commanded: a second command to the same target is refused", () => given(commanded).when(issue("c-a2", "A")).thenRefused("commanded", /already has command c-a/));
  it("commanded: reusing a command id for another target is refused", () => given(commanded).when(issue("c-a", "B")).thenRefused("commanded", /already went to A/));
  it("recovered: a new command is refused", () => given(recovered).when(issue("c-c", "A")).thenRefused("recovered", /planned action/));

  it("planned: an outcome of a command never issued is refused", () => given(planned).when(recordApplied("c-a", "A", T0)).thenRefused("planned", /no command c-a/));
  it("commanded: an outcome from the wrong node is refused", () => given(commanded).when(recordApplied("c-a", "B", T0)).thenRefused("commanded", /went to A, not B/));
  it("commanded: a failure after the application is refused", () => given(halfApplied).when(recordFailed("c-a", "A", T0 + 500)).thenRefused("commanded", /already applied/));
  it("escalated: an application after the failure is refused", () =>
    given([...commanded, Failed("c-a", "A", T0), Escalated("x", T0)]).when(recordApplied("c-a", "A", T0 + 500)).thenRefused("escalated", /already failed/));

  it.each<[IncidentStatus, readonly HealEvent[]]>([
    ["none", []],
    ["planned", planned],
    ["commanded", halfApplied],
    ["escalated", escalated],
  ])("%s: VerifyEffect is refused", (status, events) => given(events).when(verify(true, T0 + 9000)).thenRefused(status, /every target applied/));
  it("recovered: the effect missing again is refused (that is a new incident)", () => given(recovered).when(verify(false, T0 + 9000)).thenRefused("recovered", /every target applied/));

  it("none: Escalate is refused", () => given([]).when(escalate(T0)).thenRefused("none", /open incident/));
  it("recovered: Escalate is refused", () => given(recovered).when(escalate(T0 + 9000)).thenRefused("recovered", /open incident/));
});

describe("incident lifecycle: replay", () => {
  it("deciding a whole incident step by step yields a chain that folds to the same state", () => {
    let state = initialState();
    const log: HealEvent[] = [];
    for (const command of [detect, plan, issue("c-a", "A"), issue("c-b", "B"), recordApplied("c-a", "A", T0 + 100), recordApplied("c-b", "B", T0 + 300), verify(false, T0 + 1000), verify(true, T0 + 2400)]) {
      const decision = decide(command, state);
      if (Result.isFailure(decision)) throw decision.failure;
      log.push(...decision.success);
      state = decision.success.reduce(evolve, state);
    }
    expect(log.map((e) => e.type)).toEqual([
      "heal.IncidentDetected",
      "heal.ActionPlanned",
      "heal.HealingCommandIssued",
      "heal.HealingCommandIssued",
      "heal.CommandApplied",
      "heal.CommandApplied",
      "heal.Recovered",
    ]);
    expect(log.every((e) => e.data.incidentId === id)).toBe(true);
    expect(fold(log)).toEqual(state);
    expect(state.status).toBe("recovered");
  });
});
