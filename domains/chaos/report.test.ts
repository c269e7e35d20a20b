import { describe, expect, it } from "vitest";
import { chaosReport, collectChaosLog, percentile } from "./report.ts";

const T = 1_700_000_000_000;
const log = [
  { type: "chaos.FaultInjected", data: { faultId: "f1", scenario: "s", fault: { kind: "node-crash", node: "n3" }, injectedAt: T } },
  { type: "heal.IncidentDetected", data: { incidentId: "i1", kind: "node-dead", blamed: { kind: "node", node: "n3" }, affected: ["n3"], affectedCount: 1, reason: "r", detectedAt: T + 700 } },
  { type: "heal.ActionPlanned", data: { incidentId: "i1", policy: "fence-dead-node" } },
  { type: "heal.Recovered", data: { incidentId: "i1", verifiedAt: T + 900, evidence: "e" } },
  { type: "chaos.FaultInjected", data: { faultId: "f2", scenario: "s", fault: { kind: "link-degradation", link: ["n1", "n2"], loss: 0.3 }, injectedAt: T + 10_000 } },
  { type: "heal.IncidentDetected", data: { incidentId: "i2", kind: "link-dead", blamed: { kind: "link", link: ["n5", "n6"] }, affected: [], affectedCount: 0, reason: "r", detectedAt: T + 11_000 } },
  { type: "heal.IncidentDetected", data: { incidentId: "i3", kind: "link-degraded", blamed: { kind: "link", link: ["n2", "n1"] }, affected: [], affectedCount: 0, reason: "r", detectedAt: T + 13_000 } },
  { type: "heal.Escalated", data: { incidentId: "i3", reason: "no-policy-applies", escalatedAt: T + 13_000 } },
  { type: "chaos.FaultCleared", data: { faultId: "f2", clearedAt: T + 20_000 } },
  { type: "chaos.FaultInjected", data: { faultId: "f3", scenario: "s", fault: { kind: "node-hang", node: "n9" }, injectedAt: T + 30_000 } },
];

describe("chaos report from the HEAL log alone", () => {
  const { faults, incidents } = collectChaosLog(log);
  const report = chaosReport(faults, incidents);

  it("given a crash answered by a recovered node-dead incident, then detection and repair time count from the injection", () => {
    expect(report.faults[0]).toMatchObject({ status: "recovered", rootCauseRight: true, detectionMs: 700, timeToRepairMs: 900 });
    expect(report.faults[0]!.incidents.map((i) => i.policy)).toEqual(["fence-dead-node"]);
  });

  it("given a degraded link answered by an escalation on the same link (either order), then it is escalated with no repair time", () => {
    expect(report.faults[1]).toMatchObject({ status: "escalated", rootCauseRight: true, detectionMs: 3_000, timeToRepairMs: undefined });
  });

  it("given an incident on an unrelated link, then it is unexplained (a false positive)", () => {
    expect(report.unexplained.map((i) => i.incidentId)).toEqual(["i2"]);
  });

  it("given a fault no incident answered, then it is undetected", () => {
    expect(report.faults[2]).toMatchObject({ status: "undetected", rootCauseRight: false });
  });

  it("given the wrong root cause, then it is reported as wrong", () => {
    const wrong = chaosReport(faults.slice(0, 1), [{ ...incidents[0]!, kind: "node-silent" }]);
    expect(wrong.faults[0]!.rootCauseRight).toBe(false);
  });

  it("percentile by nearest rank", () => {
    expect(percentile([5, 1, 4, 2, 3], 50)).toBe(3);
    expect(percentile([5, 1, 4, 2, 3], 95)).toBe(5);
    expect(percentile([], 95)).toBeUndefined();
  });
});
