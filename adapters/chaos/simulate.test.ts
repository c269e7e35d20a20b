import { afterAll, describe, expect, it } from "vitest";
import { VerifyPool } from "../../streams/verify-pool.ts";
import { generateTopology, MeshTwin } from "../twin/index.ts";
import { TargetPicker } from "./picks.ts";
import { simulateHealing, type HealingSimulationResult } from "./simulate.ts";

/**
 * The closed loop over a small twin in simulated time: every event sealed by its node and
 * verified at the intake before the monitor sees it. Given a fault, when the simulation runs,
 * then what the intake and the loop made of it.
 */
const pool = new VerifyPool({ workers: 1 });
afterAll(() => pool.close());

const incidents = (r: HealingSimulationResult) => r.report.faults.flatMap((o) => o.incidents).concat(r.report.unexplained);

describe("simulated healing: given a node whose events carry bad signatures", () => {
  it("then exactly its events after the fault fail verification at the intake, and it is found misbehaving and quarantined", async () => {
    const twin = new MeshTwin({ nodes: 30, seed: 3, intervalMs: 250, heartbeatIntervalMs: 250 });
    const liar = new TargetPicker(new MeshTwin({ nodes: 30, seed: 3 })).inner();
    const warmUpMs = 20_000;
    const T0 = 1_700_000_000_000;
    let sentDuringFault = 0;
    let sent = 0;
    const result = await simulateHealing({
      twin,
      faults: [{ faultId: "sig", fault: { kind: "byzantine", node: liar, behaviour: "bad-signatures" }, atMs: 0 }],
      warmUpMs,
      durationMs: 6_000,
      availabilityEveryMs: 0,
      verifyPool: pool,
      onMeshEvent: (nodeId, _type, _payload, atMs) => {
        sent++;
        if (nodeId === liar && atMs >= T0 + warmUpMs) sentDuringFault++;
      },
    });
    expect(sentDuringFault).toBeGreaterThan(0);
    expect(result.intake?.refused).toEqual({ "bad-signature": sentDuringFault });
    // Everything else, the liar's own events before the fault included, verified.
    expect(result.intake?.accepted).toBe(sent - sentDuringFault);
    const found = incidents(result).filter((i) => i.kind === "node-misbehaving" && i.blamed.node === liar);
    expect(found).toHaveLength(1);
    expect(found[0]!.policy).toBe("quarantine-misbehaving-node");
  });
});

describe("simulated healing: given a quiet node (no clients of its own) that starts to flood", () => {
  it("then its own transmit rate gives it away, though batman-adv's management traffic dwarfs it, and it is rate-limited", async () => {
    const generated = generateTopology({ nodes: 30, seed: 5 });
    const flooder = new TargetPicker(new MeshTwin({ topology: generated, seed: 5 })).inner();
    const topology = { ...generated, nodes: generated.nodes.map((n) => (n.id === flooder ? { ...n, baseline: { ...n.baseline, clients: 0 } } : n)) };
    const result = await simulateHealing({
      twin: new MeshTwin({ topology, seed: 5, intervalMs: 250, heartbeatIntervalMs: 250 }),
      faults: [{ faultId: "flood", fault: { kind: "byzantine", node: flooder, behaviour: "flood" }, atMs: 0 }],
      warmUpMs: 20_000,
      durationMs: 5_000,
      availabilityEveryMs: 0,
      verifyPool: pool,
    });
    const [outcome] = result.report.faults;
    expect(outcome!.status).toBe("recovered");
    expect(outcome!.incidents[0]).toMatchObject({ kind: "node-misbehaving", blamed: { node: flooder }, policy: "rate-limit-flooding-node" });
    expect(result.report.unexplained).toEqual([]);
  });
});
