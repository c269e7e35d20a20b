import { jetstream, jetstreamManager, type JetStreamManager } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import * as Schema from "effect/Schema";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FaultInjected, faultSubject } from "../../domains/chaos/index.ts";
import {
  ActionPlanned,
  CommandApplied,
  Escalated,
  healCommandSubject,
  HealingCommandIssued,
  healOutcomeSubject,
  IncidentDetected,
  incidentSubject,
  Recovered,
  type HealingAction,
} from "../../domains/healing/index.ts";
import { enrolmentSubject, ProducerEnrolled } from "../../domains/identity/index.ts";
import { startHttpApi, type HttpApi } from "../../adapters/http/index.ts";
import { ApiError, FaultRecord, IncidentDetail, IncidentSummary, NodeHealth, OperatorCommand } from "../../adapters/http/schemas.ts";
import { IdentityProjection } from "../../projections/identity/index.ts";
import { IncidentProjection } from "../../projections/incidents/index.ts";
import { KnowledgeBaseProjection } from "../../projections/knowledge-base/index.ts";
import {
  EventStore,
  generateSigningKey,
  metricsRegistry,
  Producer,
  ProducerRegistry,
  ProjectionRunner,
  sealBytes,
  toHeaders,
  VerifyPool,
  type SealedEvent,
} from "../../streams/index.ts";
import { testNode } from "../support/mesh.ts";
import { startTestNats, type TestNats } from "../support/nats.ts";

/** Decodes a response body with the Schema the OpenAPI document was generated from. */
const conforms = <S extends Schema.Top>(schema: S, body: unknown) =>
  Schema.decodeUnknownSync(Schema.toCodecJson(schema) as unknown as Schema.Decoder<S["Type"]>)(body);

const T0 = Date.parse("2026-11-26T10:00:00.000Z");
const hopPenalty: HealingAction = { kind: "hop-penalty", hardIf: "mesh0", value: 120 };

/** The QUARANTINE record of an original stream sequence. */
const quarantined = async (jsm: JetStreamManager, stream: string, seq: number, timeoutMs = 10_000) => {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const info = await jsm.streams.info("QUARANTINE");
    for (let s = info.state.first_seq; s <= info.state.last_seq && info.state.messages > 0; s++) {
      const m = await jsm.streams.getMessage("QUARANTINE", { seq: s }).catch(() => null);
      if (m?.header.get("X0-Original-Stream") === stream && m.header.get("X0-Original-Seq") === String(seq)) {
        return { reason: m.header.get("X0-Quarantine-Reason"), detail: m.header.get("X0-Quarantine-Detail") };
      }
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`${stream} sequence ${seq} never reached QUARANTINE`);
};

/** `<name>_count{kind="<kind>"}` from GET /metrics, 0 when absent. */
const histogramCount = async (name: string, kind: string): Promise<number> => {
  const text = await metricsRegistry.metrics();
  const match = new RegExp(`^${name}_count\\{kind="${kind}"\\} (\\d+)$`, "mu").exec(text);
  return match ? Number(match[1]) : 0;
};

describe("incident log over a real nats-server: signed chains, API, restart, quarantine", () => {
  let nats: TestNats;
  let store: EventStore;
  let jsm: JetStreamManager;
  let registry: ProducerRegistry;
  let pool: VerifyPool;
  let identity: IdentityProjection;
  let identityRunner: ProjectionRunner;
  let kbRunner: ProjectionRunner;
  let kb: KnowledgeBaseProjection;
  let incidents: IncidentProjection;
  let incidentRunner: ProjectionRunner;
  let api: HttpApi;
  const loop = new Producer("healing-loop", generateSigningKey());
  const operator = new Producer("operator-ann", generateSigningKey());
  const chaos = new Producer("chaos-run", generateSigningKey());
  const nodeA = testNode("node-a", 1);
  const nodeB = testNode("node-b", 2);

  const enrol = (producer: Producer, role: "control-plane" | "operator" | "chaos") =>
    producer.seal(ProducerEnrolled, { producerId: producer.producerId, publicKey: producer.key.publicKey, role }, enrolmentSubject(producer.producerId));

  const get = async (path: string) => {
    const res = await fetch(`${api.url}${path}`);
    return { status: res.status, res, body: (await res.json()) as unknown };
  };

  /** Appends events in order and waits until the incident projection has made them durable. */
  const appendHeal = async (...events: SealedEvent[]) => {
    let seq = 0;
    for (const event of events) seq = (await store.append(event)).seq;
    await incidentRunner.waitFor(seq, { durable: true });
    return seq;
  };

  /** A loop incident: detected -> planned -> commanded (to node-a) -> applied by node-a. */
  const incidentChain = (incidentId: string, onsetAt?: number) => {
    const detected = loop.seal(
      IncidentDetected,
      {
        incidentId,
        kind: "link-degraded",
        blamed: { kind: "link", link: ["node-a", "node-b"] },
        affected: ["node-a", "node-b"],
        affectedCount: 2,
        reason: "node-a -> node-b lost 40 % TQ",
        detectedAt: T0,
        ...(onsetAt !== undefined ? { onsetAt } : {}),
      },
      incidentSubject(incidentId),
      { correlationId: incidentId },
    );
    const planned = loop.seal(
      ActionPlanned,
      {
        incidentId,
        actionId: `${incidentId}-act`,
        policy: "reroute-around-link",
        steps: [{ action: hopPenalty, targetNodeIds: ["node-a"] }],
        expectedEffect: "routes avoid node-a -> node-b",
        effects: [{ kind: "route-avoids-link", link: ["node-a", "node-b"] }],
        settleMs: 2_000,
        deadline: T0 + 60_000,
      },
      incidentSubject(incidentId),
      { correlationId: incidentId, causationId: detected.meta.eventId },
    );
    const issued = loop.seal(
      HealingCommandIssued,
      { commandId: `${incidentId}-cmd`, incidentId, targetNodeId: "node-a", action: hopPenalty, step: 0, issuedBy: "loop" },
      healCommandSubject("node-a"),
      { correlationId: incidentId, causationId: planned.meta.eventId },
    );
    const applied = nodeA.producer.seal(
      CommandApplied,
      { commandId: `${incidentId}-cmd`, incidentId, targetNodeId: "node-a", exitCode: 0, detail: "hop_penalty 120 on mesh0", appliedAt: T0 + 1_000 },
      healOutcomeSubject("node-a"),
      { correlationId: incidentId, causationId: issued.meta.eventId },
    );
    return [detected, planned, issued, applied] as const;
  };

  const serve = () =>
    startHttpApi({
      kb: kb.kb,
      incidents: incidents.log,
      nc: nats.nc,
      port: 0,
      liveness: { nodeLiveness: (id) => (id === "node-a" ? { phi: 1.5, suspected: false, lastHeartbeatAt: T0 } : undefined) },
    });

  beforeAll(async () => {
    nats = await startTestNats();
    store = new EventStore(nats.nc);
    jsm = await jetstreamManager(nats.nc);
    registry = await ProducerRegistry.open(nats.nc);
    pool = new VerifyPool({ workers: 1 });
    identity = new IdentityProjection(nats.nc, { registry });
    identityRunner = new ProjectionRunner(nats.nc, identity, registry, { verifyPool: pool, checkpointIntervalMs: 50 });
    await identityRunner.start();
    kb = new KnowledgeBaseProjection(nats.nc);
    kbRunner = new ProjectionRunner(nats.nc, kb, registry, { verifyPool: pool, checkpointIntervalMs: 50 });
    await kbRunner.start();
    incidents = new IncidentProjection(nats.nc, identity.producers);
    incidentRunner = new ProjectionRunner(nats.nc, incidents, registry, { verifyPool: pool, checkpointIntervalMs: 50 });
    await incidentRunner.start();

    // Keys: the control plane, an operator and a chaos run enrol; the nodes announce themselves.
    let seq = 0;
    for (const event of [enrol(loop, "control-plane"), enrol(operator, "operator"), enrol(chaos, "chaos")]) seq = (await store.append(event)).seq;
    await identityRunner.waitFor(seq);
    for (const event of [nodeA.announce(), nodeB.announce(), nodeA.links([{ mac: nodeB.mac, tq: 255 }]), nodeA.heartbeat(3600), nodeA.metrics()]) seq = (await store.append(event)).seq;
    await kbRunner.waitFor(seq);

    api = await serve();
  });

  afterAll(async () => {
    await api?.close();
    await incidentRunner?.stop();
    await kbRunner?.stop();
    await identityRunner?.stop();
    await pool?.close();
    await nats?.close();
  });

  it("shows a recovered incident with its whole signed chain, correlated and caused in order", async () => {
    const [detected, planned, issued, applied] = incidentChain("inc-recovered", T0 - 3_000);
    const recovered = loop.seal(
      Recovered,
      { incidentId: "inc-recovered", verifiedAt: T0 + 5_000, evidence: "every pair routes around node-a -> node-b" },
      incidentSubject("inc-recovered"),
      { correlationId: "inc-recovered", causationId: applied.meta.eventId },
    );
    const chain = [detected, planned, issued, applied, recovered];
    await appendHeal(...chain);

    const list = await get("/incidents");
    expect(list.status).toBe(200);
    const summaries = conforms(Schema.Array(IncidentSummary), list.body);
    const summary = summaries.find((i) => i.incidentId === "inc-recovered");
    expect(summary).toMatchObject({
      status: "recovered",
      kind: "link-degraded",
      commands: { issued: 1, applied: 1, failed: 0 },
      detectionSeconds: 3,
      timeToRecoverSeconds: 8,
      eventCount: 5,
    });

    const detail = await get("/incidents/inc-recovered");
    expect(detail.status).toBe(200);
    const incident = conforms(IncidentDetail, detail.body);
    expect(incident.state.status).toBe("recovered");
    expect(incident.state.commands[0]?.applied?.detail).toBe("hop_penalty 120 on mesh0");
    expect(incident.chain.map((l) => l.type)).toEqual([
      "heal.IncidentDetected",
      "heal.ActionPlanned",
      "heal.HealingCommandIssued",
      "heal.CommandApplied",
      "heal.Recovered",
    ]);
    expect(incident.chain.map((l) => l.eventId)).toEqual(chain.map((e) => e.meta.eventId));
    expect(incident.chain.map((l) => l.producerId)).toEqual(["healing-loop", "healing-loop", "healing-loop", "node-a", "healing-loop"]);
    expect(incident.chain.map((l) => l.subject)).toEqual([
      "heal.incident.inc-recovered",
      "heal.incident.inc-recovered",
      "heal.node-a.command",
      "heal.node-a.outcome",
      "heal.incident.inc-recovered",
    ]);
    expect(new Set(incident.chain.map((l) => l.correlationId))).toEqual(new Set(["inc-recovered"]));
    expect(incident.chain.slice(1).map((l) => l.causationId)).toEqual(incident.chain.slice(0, -1).map((l) => l.eventId));
    const seqs = incident.chain.map((l) => l.seq);
    expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
  });

  it("shows an escalated incident and filters the list by status and kind", async () => {
    const [detected] = incidentChain("inc-escalated");
    const escalated = loop.seal(
      Escalated,
      { incidentId: "inc-escalated", reason: "no planned action fits", escalatedAt: T0 + 2_000 },
      incidentSubject("inc-escalated"),
      { correlationId: "inc-escalated", causationId: detected.meta.eventId },
    );
    await appendHeal(detected, escalated);

    const incident = conforms(IncidentDetail, (await get("/incidents/inc-escalated")).body);
    expect(incident.incident).toMatchObject({ status: "escalated", escalationReason: "no planned action fits", eventCount: 2 });
    expect(incident.incident.timeToRecoverSeconds).toBeUndefined();

    const ids = async (query: string) => ((await get(`/incidents${query}`)).body as { incidentId: string }[]).map((i) => i.incidentId);
    expect(await ids("?status=escalated")).toEqual(["inc-escalated"]);
    expect(await ids("?status=recovered&kind=link-degraded")).toEqual(["inc-recovered"]);
    expect(await ids("?kind=node-dead")).toEqual([]);
    // Newest first: by the stream sequence of each incident's first event.
    expect((await ids("?limit=2")).slice(0, 2)).toEqual(["inc-escalated", "inc-recovered"]);
    const page = await get("/incidents?limit=1");
    expect(page.res.headers.get("x-total-count")).toBe(String((await ids("")).length));
  });

  it.each([
    ["/incidents?status=closed", 400, "status"],
    ["/incidents?limit=0", 400, "limit"],
    ["/incidents?kind=flood", 400, "kind"],
    ["/incidents?since=1", 400, "since: unknown query parameter"],
    ["/incidents/bad.id", 400, "id: "],
    ["/incidents/command", 400, "reserved"],
    ["/incidents/nope", 404, "nope"],
    ["/nodes/nobody/health", 404, "nobody"],
    ["/commands?node=a.b", 400, "node"],
  ])("GET %s answers %i", async (path, status, mention) => {
    const reply = await get(path);
    expect(reply.status).toBe(status);
    expect(conforms(ApiError, reply.body).detail).toContain(mention);
  });

  it("counts each incident once in the histograms, also when a restarted projection replays its events", async () => {
    expect(await histogramCount("x0_heal_time_to_recover_seconds", "link-degraded")).toBe(1);
    expect(await histogramCount("x0_heal_detection_seconds", "link-degraded")).toBe(1);
    const ended = (await metricsRegistry.metrics()).match(/^x0_heal_incidents_total\{kind="link-degraded",status="(\w+)"\} (\d+)$/gmu);
    expect(ended?.sort()).toEqual(['x0_heal_incidents_total{kind="link-degraded",status="escalated"} 1', 'x0_heal_incidents_total{kind="link-degraded",status="recovered"} 1']);

    await incidentRunner.stop();
    // As after a crash between storing the records and the checkpoint: everything is replayed.
    const kv = await new Kvm(nats.nc).open("incidents");
    await kv.put("checkpoint", "0");
    const restarted = new IncidentProjection(nats.nc, identity.producers);
    const again = new ProjectionRunner(nats.nc, restarted, registry, { verifyPool: pool, checkpointIntervalMs: 50 });
    await again.start();
    incidentRunner = again;
    const end = (await jsm.streams.info("HEAL")).state.last_seq;
    await again.waitFor(end, { durable: true });

    expect(JSON.stringify(restarted.log.incidents())).toBe(JSON.stringify(incidents.log.incidents()));
    expect(await histogramCount("x0_heal_time_to_recover_seconds", "link-degraded")).toBe(1);
    expect(await histogramCount("x0_heal_detection_seconds", "link-degraded")).toBe(1);
    expect((await metricsRegistry.metrics()).match(/^x0_heal_incidents_total\{kind="link-degraded",status="recovered"\} 1$/mu)).not.toBeNull();

    // A late event for an incident already counted (a second verdict, ignored by the decider)
    // touches its record again: the persisted flags keep it from being counted twice.
    await appendHeal(
      loop.seal(Escalated, { incidentId: "inc-recovered", reason: "late verdict", escalatedAt: T0 + 9_000 }, incidentSubject("inc-recovered"), { correlationId: "inc-recovered" }),
    );
    expect(restarted.log.incident("inc-recovered")?.chain.at(-1)).toMatchObject({ type: "heal.Escalated", ignored: true });
    expect(await histogramCount("x0_heal_time_to_recover_seconds", "link-degraded")).toBe(1);
    expect(await histogramCount("x0_heal_detection_seconds", "link-degraded")).toBe(1);

    // The restarted projection carries on: a new incident is counted once.
    const [detected] = incidentChain("inc-after-restart", T0 - 1_000);
    await appendHeal(detected);
    expect(restarted.log.incident("inc-after-restart")?.state.status).toBe("detected");
    expect(await histogramCount("x0_heal_detection_seconds", "link-degraded")).toBe(2);
    incidents = restarted;
    await api.close();
    api = await serve();
  });

  it("quarantines a HEAL event with a bad signature, or from a producer without the role, and leaves the incident unchanged", async () => {
    const [detected, planned] = incidentChain("inc-open");
    await appendHeal(detected, planned);
    const before = JSON.stringify(incidents.log.incident("inc-open"));

    // Claims to be the loop, signed with another key under the loop's key id.
    const honest = loop.seal(Recovered, { incidentId: "inc-open", verifiedAt: T0 + 3_000, evidence: "forged" }, incidentSubject("inc-open"), { correlationId: "inc-open" });
    const forged = sealBytes(Recovered, honest.payload, {
      subject: honest.meta.subject,
      key: { ...generateSigningKey(), keyId: loop.key.keyId },
      producerId: "healing-loop",
      correlationId: "inc-open",
    });
    const { seq: forgedSeq } = await jetstream(nats.nc).publish(forged.meta.subject, forged.payload, { headers: toHeaders(forged.meta) });
    // A node (no role) escalating someone's incident.
    const byNode = nodeB.producer.seal(Escalated, { incidentId: "inc-open", reason: "node says so", escalatedAt: T0 + 3_000 }, incidentSubject("inc-open"), { correlationId: "inc-open" });
    const byNodeSeq = await appendHeal(byNode);

    expect(await quarantined(jsm, "HEAL", forgedSeq)).toMatchObject({ reason: "bad-signature" });
    expect(await quarantined(jsm, "HEAL", byNodeSeq)).toMatchObject({ reason: "unauthorized" });
    expect(JSON.stringify(incidents.log.incident("inc-open"))).toBe(before);
    const incident = conforms(IncidentDetail, (await get("/incidents/inc-open")).body);
    expect(incident.incident.status).toBe("planned");
    expect(incident.chain).toHaveLength(2);
  });

  it("binds an enrolled key once: a second key for the same producer is quarantined as key-mismatch", async () => {
    const impostor = new Producer("healing-loop", generateSigningKey());
    const { seq } = await store.append(enrol(impostor, "control-plane"));
    expect(await quarantined(jsm, "IDENTITY", seq)).toMatchObject({ reason: "key-mismatch" });
    expect(registry.get("healing-loop")?.keyId).toBe(loop.key.keyId);
    expect(identity.producers.get("healing-loop")).toMatchObject({ role: "control-plane", keyId: loop.key.keyId });
  });

  it("lists operator commands outside incidents with the node's outcome, and injected faults", async () => {
    const issued = operator.seal(
      HealingCommandIssued,
      { commandId: "op-1", targetNodeId: "node-b", action: { kind: "hop-penalty", value: 60 }, issuedBy: "operator" },
      healCommandSubject("node-b"),
      { correlationId: "op-1" },
    );
    await appendHeal(issued);
    let commands = conforms(Schema.Array(OperatorCommand), (await get("/commands?node=node-b")).body);
    expect(commands.map((c) => [c.commandId, c.status, c.issuer])).toEqual([["op-1", "issued", "operator-ann"]]);
    expect((await get("/commands?node=node-a")).body).toEqual([]);

    const applied = nodeB.producer.seal(
      CommandApplied,
      { commandId: "op-1", targetNodeId: "node-b", exitCode: 0, detail: "hop_penalty 60", appliedAt: T0 + 100 },
      healOutcomeSubject("node-b"),
      { correlationId: "op-1", causationId: issued.meta.eventId },
    );
    await appendHeal(applied);
    commands = conforms(Schema.Array(OperatorCommand), (await get("/commands")).body);
    expect(commands[0]).toMatchObject({ commandId: "op-1", status: "applied", applied: { detail: "hop_penalty 60" } });
    expect(commands[0]!.chain.map((l) => l.causationId)).toEqual([issued.meta.eventId, issued.meta.eventId]);

    const fault = chaos.seal(FaultInjected, { faultId: "f-1", scenario: "crash-a", fault: { kind: "node-crash", node: "node-a" }, injectedAt: T0 }, faultSubject("f-1"));
    await appendHeal(fault);
    const faults = conforms(Schema.Array(FaultRecord), (await get("/faults")).body);
    expect(faults.map((f) => [f.faultId, f.active, f.fault?.kind])).toEqual([["f-1", true, "node-crash"]]);
  });

  it("GET /nodes/{id}/health gives the health ratio from the knowledge base and the live detector's view", async () => {
    const reply = await get("/nodes/node-a/health");
    expect(reply.status).toBe(200);
    const health = conforms(NodeHealth, reply.body);
    // One link at TQ 255 without a throughput estimate: 10 000 kbit/s delivered; almost no traffic, so the 1 000 kbit/s floor.
    expect(health.deliveredKbps).toBe(10_000);
    expect(health.requiredKbps).toBe(1_000);
    expect(health.ratio).toBeCloseTo(10);
    expect(health).toMatchObject({ state: "surplus", directive: "optimize", links: 1, demandBasis: "since-boot-average" });
    expect(health.liveness).toEqual({ phi: 1.5, suspected: false, lastHeartbeatAt: new Date(T0).toISOString() });

    const nodeBHealth = conforms(NodeHealth, (await get("/nodes/node-b/health")).body);
    expect(nodeBHealth).toMatchObject({ links: 0, ratio: 0, state: "critical", demandKbps: null, demandBasis: "unknown" });
    expect(nodeBHealth.liveness).toBeUndefined();
  });
});
