import * as Schema from "effect/Schema";
import { describe, expect, it } from "vitest";
import {
  ActionPlanned,
  CommandApplied,
  CommandFailed,
  Escalated,
  HealingAction,
  HealingCommandIssued,
  healCommandSubject,
  healEvents,
  healOutcomeSubject,
  healSubjectOf,
  IncidentDetected,
  incidentSubject,
  MAX_ACTION_TARGETS,
  MAX_LISTED_AFFECTED,
  Recovered,
} from "./events.ts";
import { localizeRootCauses } from "./root-cause.ts";

const decode = (schema: Schema.Top, value: unknown) => Schema.decodeUnknownExit(schema as Schema.Decoder<unknown>)(value)._tag;

const detected = {
  incidentId: "inc-1",
  kind: "upstream-failure",
  blamed: { kind: "node", node: "C", link: ["B", "C"] },
  affected: ["C", "D"],
  affectedCount: 2,
  reason: "C or its link to B failed",
  detectedAt: 1_700_000_000_000,
};
const planned = {
  incidentId: "inc-1",
  actionId: "act-1",
  policy: "reroute-around-link",
  steps: [{ action: { kind: "hop-penalty", hardIf: "mesh0", value: 120 }, targetNodeIds: ["B"] }],
  effects: [{ kind: "route-avoids-link", link: ["B", "C"] }],
  expectedEffect: "routes to D avoid B-C",
  settleMs: 2000,
  deadline: 1_700_000_030_000,
};
const issued = { commandId: "cmd-1", incidentId: "inc-1", targetNodeId: "B", action: planned.steps[0]!.action, step: 0, issuedBy: "loop" };
const mac = { kind: "mac", mac: "02:00:00:00:00:0c" } as const;

describe("heal events: valid payloads", () => {
  it.each([
    ["IncidentDetected", IncidentDetected.schema, detected],
    ["ActionPlanned", ActionPlanned.schema, planned],
    ["HealingCommandIssued by the loop", HealingCommandIssued.schema, issued],
    ["HealingCommandIssued by an operator, outside any incident", HealingCommandIssued.schema, { ...issued, incidentId: undefined, issuedBy: "operator" }],
    ["CommandApplied", CommandApplied.schema, { commandId: "cmd-1", incidentId: "inc-1", targetNodeId: "B", exitCode: 0, detail: "hop_penalty 120", appliedAt: 5 }],
    ["CommandFailed", CommandFailed.schema, { commandId: "cmd-1", targetNodeId: "B", exitCode: 1, stderr: "Error - no such interface", failedAt: 5 }],
    ["Recovered", Recovered.schema, { incidentId: "inc-1", verifiedAt: 9, evidence: "all 6 pairs routed" }],
    ["Escalated", Escalated.schema, { incidentId: "inc-1", reason: "deadline passed", escalatedAt: 9 }],
  ])("accepts %s", (_name, schema, payload) => {
    const clean = Object.fromEntries(Object.entries(payload).filter(([, v]) => v !== undefined));
    expect(decode(schema, clean)).toBe("Success");
  });

  it("accepts every finding localizeRootCauses produces as an IncidentDetected", () => {
    const findings = localizeRootCauses({
      nodes: ["A", "B", "C", "D", "E", "F"],
      links: [["A", "B"], ["B", "C"], ["C", "D"], ["A", "E"], ["E", "F"], ["A", "F"]],
      observers: ["A"],
      silent: ["C", "D"],
      deadLinks: [["B", "C"], ["E", "F"]],
      degradedLinks: [["A", "F"]],
    });
    expect(findings.map((f) => f.kind)).toEqual(["upstream-failure", "link-dead", "link-degraded"]);
    for (const [i, f] of findings.entries())
      expect(decode(IncidentDetected.schema, { incidentId: `inc-${i}`, ...f, affectedCount: f.affected.length, detectedAt: 0 })).toBe("Success");
  });

  it.each([
    ["mesh-wide hop penalty", { kind: "hop-penalty", value: 0 }],
    ["hop penalty 255 on one hard interface", { kind: "hop-penalty", hardIf: "wlan0.10", value: 255 }],
    ["gateway off", { kind: "gateway", mode: "off" }],
    ["gateway client with selection class", { kind: "gateway", mode: "client", selClass: 20 }],
    ["gateway server with bandwidth", { kind: "gateway", mode: "server", downKbps: 10_000, upKbps: 2_000 }],
    ["quarantine by MAC", { kind: "quarantine", source: mac }],
    ["quarantine by IPv4", { kind: "quarantine", source: { kind: "ipv4", address: "10.0.255.1" } }],
    ["release an IPv6 prefix", { kind: "release", source: { kind: "ipv6-prefix", prefix: "fd00:1:2::/64" } }],
    ["rate limit", { kind: "rate-limit", source: mac, pps: 1000, burst: 200 }],
    ["restart an interface", { kind: "restart-interface", ifname: "mesh0" }],
  ])("accepts the action: %s", (_name, action) => {
    expect(decode(HealingAction, action)).toBe("Success");
  });
});

describe("heal events: invalid payloads", () => {
  it.each([
    ["hop penalty above 255", { kind: "hop-penalty", value: 256 }],
    ["fractional hop penalty", { kind: "hop-penalty", value: 1.5 }],
    ["interface name longer than IFNAMSIZ", { kind: "hop-penalty", hardIf: "a-very-long-ifname0", value: 30 }],
    ["unknown gateway mode", { kind: "gateway", mode: "relay" }],
    ["selection class outside client mode", { kind: "gateway", mode: "server", selClass: 20 }],
    ["bandwidth outside server mode", { kind: "gateway", mode: "client", downKbps: 1000 }],
    ["upper-case MAC", { kind: "quarantine", source: { kind: "mac", mac: "02:00:00:00:00:AB" } }],
    ["IPv4 octet above 255", { kind: "quarantine", source: { kind: "ipv4", address: "10.0.256.1" } }],
    ["IPv4 with a prefix", { kind: "quarantine", source: { kind: "ipv4", address: "10.0.0.0/8" } }],
    ["IPv6 prefix without length", { kind: "release", source: { kind: "ipv6-prefix", prefix: "fd00::" } }],
    ["IPv6 prefix length above 128", { kind: "release", source: { kind: "ipv6-prefix", prefix: "fd00::/129" } }],
    ["IPv6 prefix with two '::'", { kind: "release", source: { kind: "ipv6-prefix", prefix: "fd00::1::/64" } }],
    ["source without a kind", { kind: "quarantine", source: { mac: "02:00:00:00:00:0c" } }],
    ["rate limit of 0 pps", { kind: "rate-limit", source: mac, pps: 0, burst: 1 }],
    ["rate limit without burst", { kind: "rate-limit", source: mac, pps: 10 }],
    ["unknown action", { kind: "reboot" }],
  ])("refuses the action: %s", (_name, action) => {
    expect(decode(HealingAction, action)).toBe("Failure");
  });

  it.each([
    ["an unknown root-cause kind", IncidentDetected.schema, { ...detected, kind: "node-sad" }],
    ["an affectedCount below the list", IncidentDetected.schema, { ...detected, affectedCount: 1 }],
    ["a node id that is not one subject token", IncidentDetected.schema, { ...detected, affected: ["C.D"] }],
    ["more affected nodes than can be listed", IncidentDetected.schema, { ...detected, affected: Array.from({ length: MAX_LISTED_AFFECTED + 1 }, (_, i) => `n${i}`), affectedCount: 5000 }],
    ["a reason over 1024 characters", IncidentDetected.schema, { ...detected, reason: "x".repeat(1025) }],
    ["an incident id with a dot", IncidentDetected.schema, { ...detected, incidentId: "inc.1" }],
    ["the reserved incident id 'command'", IncidentDetected.schema, { ...detected, incidentId: "command" }],
    ["a fractional detection time", IncidentDetected.schema, { ...detected, detectedAt: 1.5 }],
    ["a plan without targets", ActionPlanned.schema, { ...planned, steps: [{ ...planned.steps[0]!, targetNodeIds: [] }] }],
    ["a plan with a target twice", ActionPlanned.schema, { ...planned, steps: [{ ...planned.steps[0]!, targetNodeIds: ["B", "B"] }] }],
    ["a plan with too many targets", ActionPlanned.schema, { ...planned, steps: [{ ...planned.steps[0]!, targetNodeIds: Array.from({ length: MAX_ACTION_TARGETS + 1 }, (_, i) => `n${i}`) }] }],
    ["a policy name with spaces", ActionPlanned.schema, { ...planned, policy: "re route" }],
    ["a settle time over ten minutes", ActionPlanned.schema, { ...planned, settleMs: 600_001 }],
    ["a loop command outside an incident", HealingCommandIssued.schema, { commandId: "cmd-1", targetNodeId: "B", action: planned.steps[0]!.action, issuedBy: "loop" }],
    ["an unknown issuer", HealingCommandIssued.schema, { ...issued, issuedBy: "root" }],
    ["an applied command with a non-zero exit code", CommandApplied.schema, { commandId: "c", targetNodeId: "B", exitCode: 1, detail: "", appliedAt: 0 }],
    ["a failed command with exit code 0", CommandFailed.schema, { commandId: "c", targetNodeId: "B", exitCode: 0, stderr: "", failedAt: 0 }],
    ["stderr over 4096 characters", CommandFailed.schema, { commandId: "c", targetNodeId: "B", exitCode: 2, stderr: "e".repeat(4097), failedAt: 0 }],
    ["evidence over 2048 characters", Recovered.schema, { incidentId: "inc-1", verifiedAt: 0, evidence: "e".repeat(2049) }],
    ["an escalation without a time", Escalated.schema, { incidentId: "inc-1", reason: "gave up" }],
  ])("refuses %s", (_name, schema, payload) => {
    expect(decode(schema, payload)).toBe("Failure");
  });
});

describe("heal events: sizes and subjects", () => {
  it("fits the largest valid IncidentDetected (JSON, larger than its CBOR) within its payload limit", () => {
    const worst = {
      ...detected,
      incidentId: "i".repeat(64),
      blamed: { kind: "cut", nodes: Array.from({ length: 256 }, (_, i) => `${i}`.padStart(64, "n")), links: [] },
      affected: Array.from({ length: MAX_LISTED_AFFECTED }, (_, i) => `${i}`.padStart(64, "n")),
      affectedCount: 10_000,
      reason: "r".repeat(1024),
    };
    expect(decode(IncidentDetected.schema, worst)).toBe("Success");
    expect(new TextEncoder().encode(JSON.stringify(worst)).length).toBeLessThanOrEqual(IncidentDetected.maxPayloadBytes);
  });

  it("names every event heal.<PastTense> and lists it once", () => {
    const types = healEvents.map((d) => d.type);
    expect(new Set(types).size).toBe(types.length);
    for (const t of types) expect(t).toMatch(/^heal\.[A-Z][A-Za-z]+$/u);
  });

  it("addresses commands to their node, outcomes from it and the rest to the incident", () => {
    expect(healCommandSubject("n7")).toBe("heal.n7.command");
    expect(healOutcomeSubject("n7")).toBe("heal.n7.outcome");
    expect(incidentSubject("inc-1")).toBe("heal.incident.inc-1");
    expect(healSubjectOf({ type: "heal.HealingCommandIssued", data: { commandId: "c", incidentId: "inc-1", targetNodeId: "B", action: { kind: "restart-interface", ifname: "mesh0" }, step: 0, issuedBy: "loop" } })).toBe("heal.B.command");
    expect(healSubjectOf({ type: "heal.CommandFailed", data: { commandId: "c", targetNodeId: "B", exitCode: 1, stderr: "", failedAt: 0 } })).toBe("heal.B.outcome");
    expect(healSubjectOf({ type: "heal.Escalated", data: { incidentId: "inc-1", reason: "r", escalatedAt: 0 } })).toBe("heal.incident.inc-1");
  });
});
