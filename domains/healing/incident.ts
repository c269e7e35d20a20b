import * as Result from "effect/Result";
import * as Schema from "effect/Schema";
import type {
  ActionPlanned,
  CommandApplied,
  CommandFailed,
  Escalated,
  HealEvent,
  HealingCommandIssued,
  IncidentDetected,
  Recovered,
} from "./events.ts";

/**
 * The incident lifecycle as a decider (Emmett style): `decide(command, state)` says which
 * events to append, `evolve(state, event)` folds them, `initialState()` starts it.
 *
 *   none -> detected -> planned -> commanded -> applied -> recovered
 *                 \________\__________\__________\------> escalated
 *
 * `applied` means every target node of every step of the plan applied its command. Escalation: a failed
 * command, the expected effect not observed once the settle time has passed, the deadline
 * passed, or the loop or an operator giving up (`Escalate`).
 *
 * Correlation: every event of one incident carries its `incidentId`, and the envelope's
 * correlation id is that incident id, so the events this decider folds are exactly the
 * events whose correlation id is the incident id, wherever they were appended
 * (`healSubjectOf`: the incident subject, the target nodes' command and outcome subjects).
 *
 * Outcomes are facts the node reports: a node agent appends CommandApplied/CommandFailed
 * itself, and the loop may record them too. `decide` only emits what the state lacks, so an
 * outcome already folded is never appended twice; a failure folded from the node still
 * yields the Escalated the loop owes.
 *
 * Pure: no clock (every time is in the command, epoch ms), no randomness (ids come in).
 */

export type IncidentStatus = "none" | "detected" | "planned" | "commanded" | "applied" | "recovered" | "escalated";
export const IncidentStatus = Schema.Literals(["none", "detected", "planned", "commanded", "applied", "recovered", "escalated"]);

export interface CommandRecord {
  readonly issued: HealingCommandIssued;
  readonly applied?: CommandApplied;
  readonly failed?: CommandFailed;
}

export interface IncidentState {
  readonly status: IncidentStatus;
  readonly detected?: IncidentDetected;
  readonly plan?: ActionPlanned;
  /** In the order issued. */
  readonly commands: readonly CommandRecord[];
  /** When the last target applied its command: the settle time counts from here. */
  readonly appliedAt?: number;
  readonly recovered?: Recovered;
  readonly escalated?: Escalated;
}

export type CommandOutcome =
  | { readonly result: "applied"; readonly detail: string; readonly at: number }
  | { readonly result: "failed"; readonly exitCode: number; readonly stderr: string; readonly at: number };

export type IncidentCommand =
  | { readonly type: "DetectIncident"; readonly data: IncidentDetected }
  | { readonly type: "PlanAction"; readonly data: ActionPlanned }
  /** Issue the plan's action to one of its target nodes. */
  | { readonly type: "IssueCommand"; readonly data: { readonly incidentId: string; readonly commandId: string; readonly targetNodeId: string; readonly step: number } }
  | {
      readonly type: "RecordOutcome";
      readonly data: { readonly incidentId: string; readonly commandId: string; readonly targetNodeId: string; readonly outcome: CommandOutcome };
    }
  /** The loop looked for the plan's expected effect at `at`. */
  | { readonly type: "VerifyEffect"; readonly data: { readonly incidentId: string; readonly observed: boolean; readonly at: number; readonly evidence: string } }
  | { readonly type: "Escalate"; readonly data: { readonly incidentId: string; readonly reason: string; readonly at: number } };

/** The command is not legal in the incident's current state (or contradicts what it already recorded). */
export class IncidentStateError extends Schema.TaggedError<IncidentStateError>()("IncidentStateError", {
  incidentId: Schema.String,
  state: IncidentStatus,
  command: Schema.String,
  message: Schema.String,
}) {}

export type IncidentDecision = Result.Result<readonly HealEvent[], IncidentStateError>;

export const initialState = (): IncidentState => ({ status: "none", commands: [] });

const terminal = (s: IncidentStatus): boolean => s === "recovered" || s === "escalated";

const equal = (a: unknown, b: unknown): boolean => {
  if (a === b) return true;
  if (typeof a !== "object" || typeof b !== "object" || a === null || b === null) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  const ka = Object.keys(a).filter((k) => (a as Record<string, unknown>)[k] !== undefined);
  const kb = Object.keys(b).filter((k) => (b as Record<string, unknown>)[k] !== undefined);
  return ka.length === kb.length && ka.every((k) => equal((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]));
};

const ok = (...events: HealEvent[]): IncidentDecision => Result.succeed(events);
const none: IncidentDecision = Result.succeed([]);

const escalated = (incidentId: string, reason: string, at: number): HealEvent => ({
  type: "heal.Escalated",
  data: { incidentId, reason: reason.slice(0, 1024), escalatedAt: at },
});

export const decide = (command: IncidentCommand, state: IncidentState): IncidentDecision => {
  const { incidentId } = command.data;
  const refuse = (message: string): IncidentDecision =>
    Result.fail(new IncidentStateError({ incidentId, state: state.status, command: command.type, message }));
  if (state.detected && state.detected.incidentId !== incidentId) return refuse(`this is incident ${state.detected.incidentId}`);

  switch (command.type) {
    case "DetectIncident": {
      if (state.status === "none") return ok({ type: "heal.IncidentDetected", data: command.data });
      return equal(state.detected, command.data) ? none : refuse("incident already detected with a different finding");
    }

    case "PlanAction": {
      const plan = command.data;
      if (state.status === "none") return refuse("no incident to plan for");
      if (state.plan) return equal(state.plan, plan) ? none : refuse(`incident already has action ${state.plan.actionId}`);
      if (state.status !== "detected") return refuse("only a detected incident can be planned");
      if (plan.deadline <= state.detected!.detectedAt) return refuse("deadline is not after detection");
      return ok({ type: "heal.ActionPlanned", data: plan });
    }

    case "IssueCommand": {
      const { commandId, targetNodeId, step } = command.data;
      const existing = state.commands.find((c) => c.issued.commandId === commandId);
      if (existing)
        return existing.issued.targetNodeId === targetNodeId && existing.issued.step === step ? none : refuse(`command ${commandId} already went to ${existing.issued.targetNodeId} (step ${existing.issued.step})`);
      if (state.status !== "planned" && state.status !== "commanded") return refuse("commands are issued only for a planned action");
      const plan = state.plan!;
      const planned = plan.steps[step];
      if (!planned) return refuse(`action ${plan.actionId} has no step ${step}`);
      if (!planned.targetNodeIds.includes(targetNodeId)) return refuse(`${targetNodeId} is not a target of step ${step} of action ${plan.actionId}`);
      const other = state.commands.find((c) => c.issued.targetNodeId === targetNodeId && c.issued.step === step);
      if (other) return refuse(`${targetNodeId} already has command ${other.issued.commandId} for step ${step}`);
      return ok({ type: "heal.HealingCommandIssued", data: { commandId, incidentId, targetNodeId, action: planned.action, step, issuedBy: "loop" } });
    }

    case "RecordOutcome": {
      const { commandId, targetNodeId, outcome } = command.data;
      const record = state.commands.find((c) => c.issued.commandId === commandId);
      if (!record) return refuse(`no command ${commandId} in this incident`);
      if (record.issued.targetNodeId !== targetNodeId) return refuse(`command ${commandId} went to ${record.issued.targetNodeId}, not ${targetNodeId}`);
      const failure = (exitCode: number) => `command ${commandId} failed on ${targetNodeId} (exit ${exitCode})`;
      if (outcome.result === "applied") {
        if (record.failed) return refuse(`command ${commandId} already failed`);
        if (record.applied) return none;
        return ok({ type: "heal.CommandApplied", data: { commandId, incidentId, targetNodeId, exitCode: 0, detail: outcome.detail.slice(0, 1024), appliedAt: outcome.at } });
      }
      if (record.applied) return refuse(`command ${commandId} already applied`);
      // The failure may already be folded (the node appended it): only the escalation is owed then.
      const owed = terminal(state.status) ? [] : [escalated(incidentId, failure(record.failed?.exitCode ?? outcome.exitCode), outcome.at)];
      if (record.failed) return ok(...owed);
      return ok(
        {
          type: "heal.CommandFailed",
          // The tail of stderr says why; the head is usually the command line echoed back.
          data: { commandId, incidentId, targetNodeId, exitCode: outcome.exitCode, stderr: outcome.stderr.slice(-4096), failedAt: outcome.at },
        },
        ...owed,
      );
    }

    case "VerifyEffect": {
      const { observed, at, evidence } = command.data;
      if (state.status === "recovered" && observed) return none;
      if (state.status !== "applied") return refuse("the effect is verified only once every target applied its command");
      if (observed) return ok({ type: "heal.Recovered", data: { incidentId, verifiedAt: at, evidence: evidence.slice(0, 2048) } });
      const plan = state.plan!;
      if (at >= plan.deadline) return ok(escalated(incidentId, `deadline passed: ${plan.expectedEffect} not observed`, at));
      const settled = state.appliedAt! + plan.settleMs;
      if (at >= settled) return ok(escalated(incidentId, `${plan.expectedEffect} not observed ${at - state.appliedAt!} ms after the action was applied (settle ${plan.settleMs} ms)`, at));
      return none; // still settling: look again later
    }

    case "Escalate": {
      if (state.status === "escalated") return none;
      if (state.status === "none" || state.status === "recovered") return refuse("only an open incident can be escalated");
      return ok(escalated(incidentId, command.data.reason, command.data.at));
    }
  }
};

/** Every step's every target applied its command. */
export const allApplied = (plan: ActionPlanned, commands: readonly CommandRecord[]): boolean =>
  plan.steps.every((s, step) => s.targetNodeIds.every((t) => commands.some((c) => c.issued.targetNodeId === t && c.issued.step === step && c.applied !== undefined)));

/** Folds one event. Events are facts: one that does not fit the state is ignored, never thrown on. */
export const evolve = (state: IncidentState, event: HealEvent): IncidentState => {
  const own = state.detected?.incidentId;
  if (own !== undefined && event.data.incidentId !== undefined && event.data.incidentId !== own) return state;
  switch (event.type) {
    case "heal.IncidentDetected":
      return state.status === "none" ? { ...state, status: "detected", detected: event.data } : state;
    case "heal.ActionPlanned":
      return state.status === "detected" ? { ...state, status: "planned", plan: event.data } : state;
    case "heal.HealingCommandIssued": {
      if (state.commands.some((c) => c.issued.commandId === event.data.commandId)) return state;
      const commands = [...state.commands, { issued: event.data }];
      return { ...state, status: state.status === "planned" ? "commanded" : state.status, commands };
    }
    case "heal.CommandApplied":
    case "heal.CommandFailed": {
      const i = state.commands.findIndex((c) => c.issued.commandId === event.data.commandId);
      const record = state.commands[i];
      if (!record || record.applied || record.failed) return state;
      const updated: CommandRecord = event.type === "heal.CommandApplied" ? { ...record, applied: event.data } : { ...record, failed: event.data };
      const commands = state.commands.map((c, j) => (j === i ? updated : c));
      if (state.status === "commanded" && state.plan && allApplied(state.plan, commands)) {
        const appliedAt = Math.max(...commands.map((c) => c.applied?.appliedAt ?? 0));
        return { ...state, status: "applied", commands, appliedAt };
      }
      return { ...state, commands };
    }
    case "heal.Recovered":
      return terminal(state.status) || state.status === "none" ? state : { ...state, status: "recovered", recovered: event.data };
    case "heal.Escalated":
      return terminal(state.status) || state.status === "none" ? state : { ...state, status: "escalated", escalated: event.data };
  }
};

/** The state after these events, oldest first. */
export const fold = (events: readonly HealEvent[], state: IncidentState = initialState()): IncidentState => events.reduce(evolve, state);
