/**
 * The edge agent's command path against a real nats-server, with actuators that only record
 * what they are asked (the kernel side is test/kernel/agent.test.ts): who may command a node,
 * and exactly one execution and one outcome per command id across NATS restarts, agent
 * restarts and a SIGKILL at the worst moment.
 */
import { spawn } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CommandApplied, CommandFailed, healCommandSubject, HealingCommandIssued } from "../../domains/healing/index.ts";
import { canonicalBytes, EventStore, generateSigningKey, Producer, ProducerRegistry, publicKeyObject, sealBytes, verifyBytes } from "../../streams/index.ts";
import { startTestNats, type TestNats } from "../../test/support/nats.ts";
import { EdgeAgent, EX_TEMPFAIL, nodeOutcomeEventId } from "./index.ts";
import { CommandJournal } from "./journal.ts";
import { commandEvent, enrolProducer, issueCommand, RecordingActuators, storedOutcomes, until } from "./testing.ts";

const FIXTURE = fileURLToPath(new URL("./crash-fixture.ts", import.meta.url));
const REPO = fileURLToPath(new URL("../..", import.meta.url));

describe("edge agent: commands over JetStream", () => {
  let nats: TestNats;
  let store: EventStore;
  let controlPlane: Producer;
  let operator: Producer;
  let chaos: Producer;
  let dir: string;
  const agents: EdgeAgent[] = [];

  const startAgent = async (nodeId: string, actuators: RecordingActuators, nc: NatsConnection = nats.nc, extra: { log?: (l: string) => void } = {}) => {
    const agent = await EdgeAgent.start(nc, {
      nodeId,
      dataDir: dir,
      telemetry: false,
      addresses: { primaryMac: "02:00:00:00:0a:01", macs: [] },
      actuators,
      ...extra,
    });
    agents.push(agent);
    return agent;
  };

  const perCommand = (ids: readonly string[]) => {
    const counts = new Map<string, number>();
    for (const id of ids) counts.set(id, (counts.get(id) ?? 0) + 1);
    return counts;
  };

  beforeAll(async () => {
    nats = await startTestNats();
    store = new EventStore(nats.nc);
    dir = await mkdtemp(join(tmpdir(), "x0-agent-"));
    controlPlane = await enrolProducer(nats.nc, "control-plane", "control-plane");
    operator = await enrolProducer(nats.nc, "operator-alice", "operator");
    chaos = await enrolProducer(nats.nc, "chaos-run", "chaos");
  });
  afterAll(async () => {
    for (const agent of agents) await agent.stop().catch(() => undefined);
    await nats?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it("carries out a command once and answers it signed by the node, joined to the command", async () => {
    const actuators = new RecordingActuators();
    const agent = await startAgent("node-a", actuators);
    const seq = await issueCommand(store, controlPlane, "node-a", { kind: "hop-penalty", value: 60 }, "cmd-1");
    await agent.waitFor(seq);
    const [outcome, ...more] = await storedOutcomes(nats.nc, "node-a");
    expect(more).toEqual([]);
    expect(outcome!.meta).toMatchObject({
      type: CommandApplied.type,
      producerId: "node-a",
      keyId: agent.producer.key.keyId,
      eventId: nodeOutcomeEventId("node-a", "cmd-1"),
      correlationId: "cmd-1",
    });
    expect(verifyBytes(publicKeyObject(agent.producer.key.publicKey), canonicalBytes(outcome!.meta, outcome!.data), outcome!.meta.signature)).toBe(true);
    expect(outcome!.payload).toMatchObject({ commandId: "cmd-1", targetNodeId: "node-a", exitCode: 0, detail: "recorded hop-penalty" });
    expect(actuators.executed).toEqual(["cmd-1"]);

    // The same command id again (a retrying sender) is not carried out or answered again.
    const again = await issueCommand(store, operator, "node-a", { kind: "hop-penalty", value: 60 }, "cmd-1");
    await agent.waitFor(again);
    expect(actuators.executed).toEqual(["cmd-1"]);
    expect(await storedOutcomes(nats.nc, "node-a")).toHaveLength(1);
    expect(agent.stats).toMatchObject({ applied: 1, repeated: 1, outcomesStored: 1, outcomesPending: 0 });
  });

  it("answers a failure with the actuator's exit code and stderr", async () => {
    const actuators = new RecordingActuators(undefined, () => ({ exitCode: 1, detail: "batctl meshif bat0 hop_penalty 9", stderr: "Error - invalid hardif mesh9: No such device" }));
    const agent = await startAgent("node-f", actuators);
    const seq = await issueCommand(store, controlPlane, "node-f", { kind: "hop-penalty", hardIf: "mesh9", value: 9 }, "cmd-f");
    await agent.waitFor(seq);
    const [outcome] = await storedOutcomes(nats.nc, "node-f");
    expect(outcome!.meta.type).toBe(CommandFailed.type);
    expect(outcome!.payload).toMatchObject({ commandId: "cmd-f", exitCode: 1, stderr: "Error - invalid hardif mesh9: No such device" });
  });

  it("refuses commands not signed by an enrolled control plane or operator, and commands for another node", async () => {
    const actuators = new RecordingActuators();
    const logs: string[] = [];
    const agent = await startAgent("node-b", actuators, nats.nc, { log: (l) => logs.push(l) });
    const action = { kind: "quarantine", source: { kind: "mac", mac: "02:00:00:00:00:66" } } as const;
    // A stranger's key: the registry does not know it.
    const stranger = new Producer("mallory", generateSigningKey());
    await store.append(commandEvent(stranger, "node-b", action, "cmd-stranger"));
    // The control plane's id, signed with another key.
    const forger = new Producer("control-plane", generateSigningKey());
    await store.append(commandEvent(forger, "node-b", action, "cmd-forged"));
    // A real control-plane command whose payload was altered after signing.
    const genuine = commandEvent(controlPlane, "node-b", { kind: "release", source: action.source }, "cmd-tampered");
    const tampered = sealBytes(HealingCommandIssued, genuine.payload, { subject: genuine.meta.subject, key: controlPlane.key, producerId: "control-plane" });
    const altered = commandEvent(controlPlane, "node-b", action, "cmd-tampered");
    await store.append({ meta: tampered.meta, payload: altered.payload });
    // An enrolled chaos run: a role that may not command.
    await store.append(commandEvent(chaos, "node-b", action, "cmd-chaos"));
    // A command for node-c published on node-b's subject.
    await store.append(controlPlane.seal(HealingCommandIssued, { commandId: "cmd-other", targetNodeId: "node-c", action, issuedBy: "operator" }, healCommandSubject("node-b")));
    const last = await issueCommand(store, controlPlane, "node-b", action, "cmd-good");
    await agent.waitFor(last);

    expect(actuators.executed).toEqual(["cmd-good"]);
    expect((await storedOutcomes(nats.nc, "node-b")).map((o) => o.payload.commandId)).toEqual(["cmd-good"]);
    expect(agent.stats.refused).toBe(1);
    expect(logs.some((l) => /refused command cmd-chaos from chaos-run \(role chaos\)/.test(l))).toBe(true);
    const jsm = await jetstreamManager(nats.nc);
    const quarantined = await until(async () => {
      const info = await jsm.streams.info("QUARANTINE", { subjects_filter: "quarantine.HEAL.>" });
      const subjects = (info.state.subjects ?? {}) as Record<string, number>;
      return Object.values(subjects).reduce((a, b) => a + b, 0) >= 4 ? subjects : undefined;
    }, "four refusals are in QUARANTINE");
    expect(quarantined).toEqual({
      "quarantine.HEAL.unknown-producer": 1,
      "quarantine.HEAL.key-mismatch": 1,
      "quarantine.HEAL.bad-signature": 1,
      "quarantine.HEAL.unauthorized": 1,
    });
  });

  it("loses no command and applies none twice across two NATS restarts and an agent restart mid-stream", { timeout: 120_000 }, async () => {
    const actuators = new RecordingActuators();
    const nc = await nats.connect("agent-node-r");
    let agent = await startAgent("node-r", actuators, nc);
    const ids = Array.from({ length: 40 }, (_, i) => `cmd-r${i}`);
    let lastSeq = 0;
    for (const [i, id] of ids.entries()) {
      lastSeq = await issueCommand(store, controlPlane, "node-r", { kind: "rate-limit", source: { kind: "ipv4", address: "10.0.0.9" }, pps: 100 + i, burst: 10 }, id);
      if (i === 10 || i === 30) await nats.restart!();
      if (i === 20) {
        await agent.stop();
        agent = await startAgent("node-r", actuators, nc);
      }
    }
    await agent.waitFor(lastSeq, { timeoutMs: 60_000 });
    const outcomes = await storedOutcomes(nats.nc, "node-r");
    expect([...perCommand(outcomes.map((o) => o.payload.commandId)).values()].every((n) => n === 1)).toBe(true);
    expect(outcomes.map((o) => o.payload.commandId).sort()).toEqual([...ids].sort());
    expect([...perCommand(actuators.executed)].filter(([, n]) => n !== 1)).toEqual([]);
    expect(actuators.executed.sort()).toEqual([...ids].sort());
  });

  it("killed (SIGKILL) after storing an outcome and before its checkpoint: on restart the command is neither carried out nor answered again", { timeout: 120_000 }, async () => {
    const record = join(dir, "executed.log");
    const run = (killAfter?: string) => {
      const child = spawn(process.execPath, ["--import", "tsx", FIXTURE, nats.url, "node-k", dir, record, ...(killAfter ? [killAfter] : [])], {
        cwd: REPO,
        stdio: ["ignore", "pipe", "pipe"],
      });
      let stderr = "";
      child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
      const ready = new Promise<void>((resolve, reject) => {
        child.stdout.on("data", (d: Buffer) => d.toString().includes("ready") && resolve());
        child.on("exit", (code, signal) => reject(new Error(`fixture exited ${code ?? signal} before ready: ${stderr}`)));
      });
      const exited = new Promise<NodeJS.Signals | number | null>((resolve) => child.on("exit", (code, signal) => resolve(signal ?? code)));
      return { child, ready, exited };
    };
    const first = run("cmd-k3");
    await first.ready;
    let lastSeq = 0;
    const ids = Array.from({ length: 8 }, (_, i) => `cmd-k${i}`);
    for (const id of ids) lastSeq = await issueCommand(store, controlPlane, "node-k", { kind: "hop-penalty", value: 40 }, id);
    expect(await first.exited).toBe("SIGKILL");
    const executedBeforeCrash = (await readFile(record, "utf8")).trim().split("\n");
    expect(executedBeforeCrash).toEqual(["cmd-k0", "cmd-k1", "cmd-k2", "cmd-k3"]);

    const second = run();
    await second.ready;
    await until(async () => (await storedOutcomes(nats.nc, "node-k")).length >= ids.length, "every command answered", 30_000);
    second.child.kill("SIGTERM");
    await second.exited;
    const executed = (await readFile(record, "utf8")).trim().split("\n");
    expect(executed).toEqual(ids);
    const outcomes = await storedOutcomes(nats.nc, "node-k");
    expect(outcomes.map((o) => o.payload.commandId)).toEqual(ids);
    const jsm = await jetstreamManager(nats.nc);
    const consumer = await jsm.consumers.info("HEAL", "agent-node-k");
    expect(consumer.ack_floor.stream_seq).toBeGreaterThanOrEqual(lastSeq);
  });

  it("a restart-interface interrupted by a crash is answered as failed (75), not repeated", async () => {
    // The journal as a killed agent leaves it: begun, never done.
    const journal = await CommandJournal.open(join(dir, "agent", "node-i.journal"));
    await journal.begin("cmd-i", Date.now());
    await journal.close();
    const actuators = new RecordingActuators();
    const agent = await startAgent("node-i", actuators);
    const seq = await issueCommand(store, controlPlane, "node-i", { kind: "restart-interface", ifname: "mesh0" }, "cmd-i");
    await agent.waitFor(seq);
    expect(actuators.executed).toEqual([]);
    const [outcome] = await storedOutcomes(nats.nc, "node-i");
    expect(outcome!.payload).toMatchObject({ commandId: "cmd-i", exitCode: EX_TEMPFAIL, stderr: expect.stringMatching(/not repeated/) });
    expect(agent.stats.interrupted).toBe(1);
  });

  it("refuses to start with a key other than the one its node id is bound to", async () => {
    // What the knowledge base does with node-a's first announcement: bind its key.
    const registry = await ProducerRegistry.open(nats.nc);
    registry.introduce("node-a", agents[0]!.producer.key.publicKey, { stream: "MESH", seq: 1 });
    await registry.flush();
    const other = await mkdtemp(join(tmpdir(), "x0-agent-other-"));
    try {
      await expect(
        EdgeAgent.start(nats.nc, { nodeId: "node-a", dataDir: other, telemetry: false, addresses: { primaryMac: "02:00:00:00:0a:01", macs: [] }, actuators: new RecordingActuators() }),
      ).rejects.toThrow(/node node-a is bound to key/);
    } finally {
      await rm(other, { recursive: true, force: true });
    }
  });
});
