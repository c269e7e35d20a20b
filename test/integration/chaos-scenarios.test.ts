import { readFile } from "node:fs/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runChaos, type ChaosRunResult } from "../../adapters/chaos/index.ts";
import { parseScenario, type FaultOutcome } from "../../domains/chaos/index.ts";
import { Producer, generateSigningKey } from "../../streams/index.ts";
import { startControlPlane } from "../support/control-plane.ts";
import { startTestNats, type TestNats } from "../support/nats.ts";

/**
 * The whole loop on a real nats-server: a 24-node twin (answering healing commands over
 * JetStream), the knowledge base, the identity projection and the healing loop in this
 * process, and the scenario library's every-fault run — one fault of each kind, one after
 * the other. The report comes from the HEAL log alone.
 */
let nats: TestNats;
let plane: Awaited<ReturnType<typeof startControlPlane>>;
let result: ChaosRunResult;

beforeAll(async () => {
  nats = await startTestNats();
  // A loaded CI machine delays the twin's heartbeats now and then: half a second more
  // tolerance keeps the test about what the loop decides, not about scheduling jitter.
  // For the same reason, silent nodes may take longer to be judged as a group.
  plane = await startControlPlane(nats.nc, { monitor: { detector: { acceptableHeartbeatPauseMs: 500 }, classifyWithinMs: 4_000 } });
  const scenario = parseScenario(await readFile(new URL("../../adapters/chaos/scenarios/every-fault.json", import.meta.url), "utf8"));
  result = await runChaos({ servers: nats.url, scenario, producer: new Producer("chaos-test", generateSigningKey()) });
}, 240_000);

afterAll(async () => {
  await plane?.stop();
  await nats?.close();
});

const outcome = (id: string): FaultOutcome => {
  const o = result.report.faults.find((f) => f.fault.faultId === id);
  if (!o) throw new Error(`no fault ${id} in the report`);
  return o;
};

const describeOutcome = (o: FaultOutcome) =>
  `${o.fault.faultId}: ${o.status}, first incident ${o.incidents[0]?.kind ?? "none"} ${JSON.stringify(o.incidents[0]?.blamed ?? {})} policy ${o.incidents[0]?.policy ?? "-"} ${o.incidents[0]?.escalationReason ?? ""}`;

describe("chaos scenarios on a real nats-server: every fault is detected, localized and healed or escalated with a reason", () => {
  it.each([
    ["crash", ["node-dead"]],
    ["hang", ["node-silent"]],
    ["degradation", ["link-degraded"]],
    ["flap", ["link-dead", "link-degraded"]],
    ["flood", ["node-misbehaving"]],
    ["lie", ["node-misbehaving"]],
    ["bad-signatures", ["node-misbehaving"]],
  ])("%s: the right root cause, then recovered or escalated with a reason", (id, kinds) => {
    const o = outcome(id);
    expect(o.status, describeOutcome(o)).not.toBe("undetected");
    expect(kinds, describeOutcome(o)).toContain(o.incidents[0]!.kind);
    expect(["recovered", "escalated"], describeOutcome(o)).toContain(o.status);
    if (o.status === "escalated") expect(o.incidents[0]!.escalationReason, describeOutcome(o)).toMatch(/\w/);
  });

  it("partition: the cut-off nodes are found (as a partition, or, when the group goes quiet over several heartbeats, node by node: a known limit) and each incident ends", () => {
    const o = outcome("partition");
    expect(o.status, describeOutcome(o)).not.toBe("undetected");
    expect(["partition", "upstream-failure", "node-dead", "node-silent"], describeOutcome(o)).toEqual(expect.arrayContaining(o.incidents.map((i) => i.kind)));
    expect(o.incidents.every((i) => i.recoveredAt !== undefined || i.escalationReason !== undefined), describeOutcome(o)).toBe(true);
  });

  it("crash: fenced at the dead node's neighbours (recovered once they all applied it; escalated if one could not be reached)", () => {
    const o = outcome("crash");
    expect(o.incidents[0]!.policy, describeOutcome(o)).toBe("fence-dead-node");
    if (o.status === "escalated") expect(o.incidents[0]!.escalationReason, describeOutcome(o)).toMatch(/no outcome by the deadline/);
    else expect(o.status, describeOutcome(o)).toBe("recovered");
  });

  it("hang: escalated, since no command reaches a node that stopped answering", () => {
    const o = outcome("hang");
    expect(o.status, describeOutcome(o)).toBe("escalated");
  });

  it("degradation: transit steered or the link blocked, and recovered", () => {
    const o = outcome("degradation");
    expect(["steer-transit-off-link", "re-route-around-link", "block-degraded-link"], describeOutcome(o)).toContain(o.incidents[0]!.policy);
    expect(o.status, describeOutcome(o)).toBe("recovered");
  });

  it("byzantine nodes: rate-limited or quarantined at their neighbours", () => {
    for (const id of ["flood", "lie", "bad-signatures"]) {
      const o = outcome(id);
      expect(["rate-limit-flooding-node", "quarantine-misbehaving-node", undefined], describeOutcome(o)).toContain(o.incidents[0]!.policy);
    }
  });

  it("jamming: the links in the region are found bad", () => {
    const o = outcome("jamming");
    expect(o.status, describeOutcome(o)).not.toBe("undetected");
    expect(["link-degraded", "link-dead", "upstream-failure", "partition", "node-dead"], describeOutcome(o)).toContain(o.incidents[0]!.kind);
  });

  it("no incident opened while no fault was active: no false positives on the healthy mesh", () => {
    // During a fault, nodes it cuts off from the observers go quiet too: those incidents are its
    // consequences. Between faults (after a 5 s grace for recovery) the mesh is healthy.
    const active = result.faults.map((f) => [f.injectedAt, (f.clearedAt ?? result.endedAt) + 5_000] as const);
    const quiet = result.report.unexplained.filter((i) => !active.some(([from, to]) => i.detectedAt >= from && i.detectedAt <= to));
    expect(quiet.map((i) => `${i.kind} ${JSON.stringify(i.blamed)} at +${i.detectedAt - result.startedAt} ms`)).toEqual([]);
  });
});

