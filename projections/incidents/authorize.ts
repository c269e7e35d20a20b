import { faultSubject, type FaultCleared, type FaultInjected } from "../../domains/chaos/index.ts";
import { healSubjectOf, type HealEvent } from "../../domains/healing/index.ts";
import type { RoleSource } from "../identity/index.ts";

/** What authorization reads of an event's envelope. */
export interface HealEnvelope {
  readonly producerId: string;
  readonly subject: string;
  readonly type: string;
}

const article = (role: string) => (role === "operator" ? "an operator" : `a ${role}`);

/**
 * Who may append what on HEAL, from the roles producers enrolled with on IDENTITY (a mesh node
 * has none):
 * - an incident's lifecycle (detected, planned, recovered, escalated) and loop commands: the control plane;
 * - operator commands: an operator (or the control plane acting for one);
 * - a command's outcome: the target node itself, or the control plane recording it;
 * - faults: a chaos run or the control plane.
 * Each event must be on the subject its type and payload call for (`healSubjectOf`,
 * `faultSubject`). Returns why the event is refused, or undefined.
 */
export const authorizeHealEvent = (envelope: HealEnvelope, payload: unknown, roles: RoleSource): string | undefined => {
  const { producerId, subject, type } = envelope;
  const role = roles.roleOf(producerId);
  const who = role === undefined ? producerId : `${producerId} (${role})`;
  const needs = (allowed: readonly string[], what: string) =>
    role !== undefined && allowed.includes(role) ? undefined : `${who} may not append ${what}; that takes ${allowed.map(article).join(" or ")}`;
  if (type === "chaos.FaultInjected" || type === "chaos.FaultCleared") {
    const expected = faultSubject((payload as FaultInjected | FaultCleared).faultId);
    if (subject !== expected) return `${type} belongs on ${expected}, not ${subject}`;
    return needs(["chaos", "control-plane"], type);
  }
  const event = { type, data: payload } as HealEvent;
  const expected = healSubjectOf(event);
  if (subject !== expected) return `${type} belongs on ${expected}, not ${subject}`;
  switch (event.type) {
    case "heal.HealingCommandIssued":
      return event.data.issuedBy === "loop" ? needs(["control-plane"], "a loop command") : needs(["operator", "control-plane"], "an operator command");
    case "heal.CommandApplied":
    case "heal.CommandFailed":
      return producerId === event.data.targetNodeId ? undefined : needs(["control-plane"], `the outcome of a command to ${event.data.targetNodeId}`);
    default:
      return needs(["control-plane"], type);
  }
};
