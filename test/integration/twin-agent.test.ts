import { jetstreamManager, type JetStreamManager } from "@nats-io/jetstream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { generatedNodeId, nodeKeySeed, runSim, type RunningSim } from "../../adapters/twin/index.ts";
import {
  CommandApplied,
  CommandFailed,
  healCommandSubject,
  HealingCommandIssued,
  healOutcomeSubject,
  type HealingAction,
} from "../../domains/healing/index.ts";
import { enrolmentSubject, ProducerEnrolled } from "../../domains/identity/index.ts";
import {
  canonicalBytes,
  decodeCbor,
  EventStore,
  generateSigningKey,
  Producer,
  ProducerRegistry,
  publicKeyObject,
  readEnvelope,
  signingKeyFromSeed,
  verifyBytes,
  type EnvelopeMeta,
} from "../../streams/index.ts";
import { startTestNats, type TestNats } from "../support/nats.ts";

const SEED = 9;

const until = async <T>(probe: () => Promise<T | undefined> | T | undefined, what: string, timeoutMs = 30_000): Promise<T> => {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
};

describe("twin agent: simulated nodes answer healing commands over JetStream", () => {
  let nats: TestNats;
  let jsm: JetStreamManager;
  let store: EventStore;
  let sim: RunningSim | undefined;
  const controlPlane = new Producer("control-plane-1", generateSigningKey());
  const chaosRun = new Producer("chaos-run-1", generateSigningKey());
  /** The twin's second node, with its own key. */
  const node1 = new Producer(generatedNodeId(1, 6, SEED), signingKeyFromSeed(nodeKeySeed(SEED, 1, generatedNodeId(1, 6, SEED))));
  const lines: string[] = [];

  const start = () => runSim({ servers: nats.url, nodes: 6, intervalMs: 500, seed: SEED, progressEveryMs: 60_000, log: (l) => lines.push(l) });

  const issue = async (by: Producer, target: string, action: HealingAction, commandId: string) => {
    const event = by.seal(
      HealingCommandIssued,
      { commandId, incidentId: "inc-7", targetNodeId: target, action, step: 0, issuedBy: "loop" },
      healCommandSubject(target),
      { correlationId: "inc-7" },
    );
    const { seq } = await store.append(event);
    return { seq, eventId: event.meta.eventId };
  };

  /** Every outcome stored on a node's subject, decoded. */
  const outcomes = async (nodeId: string) => {
    const info = await jsm.streams.info("HEAL", { subjects_filter: healOutcomeSubject(nodeId) });
    const found: { meta: EnvelopeMeta; payload: Record<string, unknown>; data: Uint8Array }[] = [];
    if (info.state.messages === 0) return found;
    for (let seq = info.state.first_seq; seq <= info.state.last_seq; seq++) {
      const m = await jsm.streams.getMessage("HEAL", { seq });
      if (!m || m.subject !== healOutcomeSubject(nodeId)) continue;
      const meta = readEnvelope(m.subject, m.header);
      if (meta instanceof Error) throw meta;
      found.push({ meta, payload: decodeCbor(m.data) as Record<string, unknown>, data: m.data });
    }
    return found;
  };

  const quarantineRecord = async (seq: number) => {
    const info = await jsm.streams.info("QUARANTINE");
    for (let s = info.state.first_seq; s <= info.state.last_seq && info.state.messages > 0; s++) {
      const m = await jsm.streams.getMessage("QUARANTINE", { seq: s });
      if (m?.header.get("X0-Original-Stream") === "HEAL" && m.header.get("X0-Original-Seq") === String(seq)) {
        return { reason: m.header.get("X0-Quarantine-Reason"), by: m.header.get("X0-Quarantined-By") };
      }
    }
    return undefined;
  };

  beforeAll(async () => {
    nats = await startTestNats();
    jsm = await jetstreamManager(nats.nc);
    store = new EventStore(nats.nc);
    // Enrol the control plane. Only a projection of IDENTITY binds keys; this test binds it the same way, by hand.
    const enrolment = controlPlane.seal(
      ProducerEnrolled,
      { producerId: controlPlane.producerId, publicKey: controlPlane.key.publicKey, role: "control-plane" },
      enrolmentSubject(controlPlane.producerId),
    );
    const { seq } = await store.append(enrolment);
    const chaosEnrolment = chaosRun.seal(
      ProducerEnrolled,
      { producerId: chaosRun.producerId, publicKey: chaosRun.key.publicKey, role: "chaos" },
      enrolmentSubject(chaosRun.producerId),
    );
    const chaosSeq = (await store.append(chaosEnrolment)).seq;
    const registry = await ProducerRegistry.open(nats.nc);
    registry.introduce(controlPlane.producerId, controlPlane.key.publicKey, { stream: "IDENTITY", seq });
    registry.introduce(chaosRun.producerId, chaosRun.key.publicKey, { stream: "IDENTITY", seq: chaosSeq });
    registry.introduce(node1.producerId, node1.key.publicKey, { stream: "MESH", seq: 1 });
    await registry.flush();
    sim = await start();
  });

  afterAll(async () => {
    await sim?.stop();
    await nats?.close();
  });

  it("carries out a command and answers it signed by the target node, once per command id", { timeout: 90_000 }, async () => {
    const twin = sim!.twin;
    const target = twin.nodes[2]!;
    expect(sim!.agent?.name).toBe(`twin-agent-s${SEED}`);

    const first = await issue(controlPlane, target.id, { kind: "hop-penalty", value: 60 }, "cmd-a1");
    const [outcome] = await until(async () => {
      const found = await outcomes(target.id);
      return found.length > 0 ? found : undefined;
    }, "the target node's outcome is stored");
    expect(outcome!.meta).toMatchObject({
      type: CommandApplied.type,
      producerId: target.id,
      keyId: target.keyId,
      correlationId: "inc-7",
      causationId: first.eventId,
    });
    expect(verifyBytes(publicKeyObject(target.publicKey), canonicalBytes(outcome!.meta, outcome!.data), outcome!.meta.signature)).toBe(true);
    expect(outcome!.payload).toMatchObject({ commandId: "cmd-a1", incidentId: "inc-7", targetNodeId: target.id, exitCode: 0 });
    expect(twin.nodeState(target.id).hopPenalty).toBe(60);

    // The same command id again (re-sent with another value): no second outcome, nothing changes.
    const again = await issue(controlPlane, target.id, { kind: "hop-penalty", value: 90 }, "cmd-a1");
    await sim!.agent!.waitFor(again.seq, { timeoutMs: 30_000 });
    expect(await outcomes(target.id)).toHaveLength(1);
    expect(twin.nodeState(target.id).hopPenalty).toBe(60);
    expect(sim!.agent!.stats).toMatchObject({ applied: 1, repeated: 1 });

    // A command the node cannot carry out is answered with the tool's exit code and stderr.
    const failing = await issue(controlPlane, target.id, { kind: "restart-interface", ifname: "wlan9" }, "cmd-a2");
    await sim!.agent!.waitFor(failing.seq, { timeoutMs: 30_000 });
    const failed = (await outcomes(target.id)).find((o) => o.payload.commandId === "cmd-a2")!;
    expect(failed.meta.type).toBe(CommandFailed.type);
    expect(failed.payload).toMatchObject({ exitCode: 1, stderr: 'Cannot find device "wlan9"\n' });
  });

  it("answers nothing to an unknown key, a node's key or a chaos key; the first two go to QUARANTINE", { timeout: 90_000 }, async () => {
    const target = sim!.twin.nodes[3]!;
    const gatewayBefore = sim!.twin.nodeState(target.id).gateway;
    const rogue = new Producer("rogue-operator", generateSigningKey());
    const unknown = await issue(rogue, target.id, { kind: "gateway", mode: "off" }, "cmd-r1");

    // A node's key is bound (beforeAll, as its announcement would) but a node may not command.
    const byNode = await issue(node1, target.id, { kind: "gateway", mode: "off" }, "cmd-r2");

    expect(await until(() => quarantineRecord(unknown.seq), "the unknown key's command is quarantined")).toEqual({
      reason: "unknown-producer",
      by: `twin-agent-s${SEED}`,
    });
    expect(await until(() => quarantineRecord(byNode.seq), "the node's command is quarantined")).toEqual({
      reason: "unauthorized",
      by: `twin-agent-s${SEED}`,
    });
    // An enrolled chaos run may inject faults, not command nodes: refused, not quarantined.
    const byChaos = await issue(chaosRun, target.id, { kind: "gateway", mode: "off" }, "cmd-r3");
    await sim!.agent!.waitFor(byChaos.seq, { timeoutMs: 30_000 });
    expect(await quarantineRecord(byChaos.seq)).toBeUndefined();
    expect(sim!.agent!.stats.refused).toBe(1);
    expect(lines.some((l) => /refused command cmd-r3 from chaos-run-1 \(role chaos\)/.test(l))).toBe(true);
    expect(await outcomes(target.id)).toHaveLength(0);
    expect(sim!.twin.nodeState(target.id).gateway).toEqual(gatewayBefore);
  });

  it("resumes after a restart from its checkpoint: old commands are not answered again, one issued while down is answered once", { timeout: 120_000 }, async () => {
    const target = sim!.twin.nodes[4]!;
    const before = await issue(controlPlane, target.id, { kind: "gateway", mode: "server" }, "cmd-s1");
    await sim!.agent!.waitFor(before.seq, { timeoutMs: 30_000 });
    await sim!.stop();

    const whileDown = await issue(controlPlane, target.id, { kind: "gateway", mode: "off" }, "cmd-s2");
    sim = await start();
    await sim.agent!.waitFor(whileDown.seq, { timeoutMs: 60_000 });
    const answered = await until(async () => {
      const found = await outcomes(target.id);
      return found.length >= 2 ? found : undefined;
    }, "the command issued while the twin was down is answered");
    expect(answered.map((o) => o.payload.commandId)).toEqual(["cmd-s1", "cmd-s2"]);
    expect(sim.agent!.stats).toMatchObject({ applied: 1, repeated: 0 });
    expect(sim.twin.nodeState(target.id).gateway.mode).toBe("off");
    // Every outcome of the whole run is stored exactly once.
    const all = await jsm.streams.info("HEAL", { subjects_filter: "heal.*.outcome" });
    expect(all.state.subjects).toBeDefined();
    expect(Object.values(all.state.subjects ?? {}).reduce((sum, n) => sum + n, 0)).toBe(4);
    expect(lines.some((l) => /answering healing commands/.test(l))).toBe(true);
  });
});
