import { jetstream, jetstreamManager, type JetStreamClient } from "@nats-io/jetstream";
import { headers as natsHeaders } from "@nats-io/transport-node";
import { createConnection } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { HeartbeatSent, LinkMetricsReported, meshSubject } from "../../domains/mesh/index.ts";
import { KnowledgeBaseProjection } from "../../projections/knowledge-base/index.ts";
import {
  encodeCbor,
  EventStore,
  generateSigningKey,
  metricsRegistry,
  Producer,
  ProducerRegistry,
  ProjectionRunner,
  sealBytes,
  toHeaders,
  type SealedEvent,
} from "../../streams/index.ts";
import { testNode } from "../support/mesh.ts";
import { startTestNats, type TestNats } from "../support/nats.ts";

/** Reads the QUARANTINE record for an original MESH sequence. */
const quarantined = async (js: JetStreamClient, seq: number, timeoutMs = 10_000) => {
  const jsm = await js.jetstreamManager();
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const info = await jsm.streams.info("QUARANTINE");
    for (let s = info.state.first_seq; s <= info.state.last_seq && info.state.messages > 0; s++) {
      const m = await jsm.streams.getMessage("QUARANTINE", { seq: s }).catch(() => null);
      if (m?.header.get("X0-Original-Seq") === String(seq)) {
        return { reason: m.header.get("X0-Quarantine-Reason"), detail: m.header.get("X0-Quarantine-Detail"), subject: m.subject, data: m.data };
      }
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`MESH sequence ${seq} never reached QUARANTINE`);
};

describe("projection runner: bad inputs go to QUARANTINE, the knowledge base is unchanged", () => {
  let nats: TestNats;
  let js: JetStreamClient;
  let store: EventStore;
  let projection: KnowledgeBaseProjection;
  let runner: ProjectionRunner;
  const alice = testNode("alice", 1);
  const bob = testNode("bob", 2);

  /** Publishes raw bytes and headers with a plain JetStream client, as an attacker or a buggy node would. */
  const publishRaw = async (subject: string, data: Uint8Array, h?: ReturnType<typeof natsHeaders>) =>
    (await js.publish(subject, data, h ? { headers: h } : {})).seq;

  const snapshot = () => JSON.stringify([...projection.kb.nodes()].map((n) => ({ ...n, announced: { ...n.announced } })));

  beforeAll(async () => {
    nats = await startTestNats();
    js = jetstream(nats.nc);
    store = new EventStore(nats.nc);
    projection = new KnowledgeBaseProjection(nats.nc);
    runner = new ProjectionRunner(nats.nc, projection, await ProducerRegistry.open(nats.nc), { checkpointIntervalMs: 100 });
    await runner.start();
    await store.append(alice.announce());
    await store.append(bob.announce());
    const last = await store.append(alice.links([{ mac: bob.mac, tq: 200 }]));
    await runner.waitFor(last.seq);
  });
  afterAll(async () => {
    await runner?.stop();
    await nats?.close();
  });

  const expectQuarantined = async (seq: number, reason: string) => {
    const before = snapshot();
    const record = await quarantined(js, seq);
    expect(record.reason).toBe(reason);
    expect(record.subject).toMatch(new RegExp(`^quarantine\\.MESH\\.${reason}$`));
    await runner.waitFor(seq);
    expect(snapshot()).toBe(before);
    return record;
  };

  it("a forged event (valid CBOR, wrong signature)", async () => {
    const mallory = generateSigningKey();
    const honest = alice.heartbeat(99);
    // Same envelope, alice's key id, but signed by another key.
    const forged = sealBytes(HeartbeatSent, honest.payload, {
      subject: honest.meta.subject,
      key: { ...mallory, keyId: alice.producer.key.keyId },
      producerId: "alice",
    });
    const seq = await publishRaw(forged.meta.subject, forged.payload, toHeaders(forged.meta));
    const record = await expectQuarantined(seq, "bad-signature");
    expect(Buffer.from(record.data)).toEqual(Buffer.from(forged.payload));
  });

  it("a payload that is not CBOR", async () => {
    // Correctly signed, but the bytes end inside a CBOR item: no decoder can read them.
    const truncated = encodeCbor({ nodeId: "alice", uptime: 5 }).subarray(0, 6);
    const event = sealBytes(HeartbeatSent, truncated, { subject: meshSubject("alice", HeartbeatSent.type), key: alice.producer.key, producerId: "alice" });
    const seq = await publishRaw(event.meta.subject, event.payload, toHeaders(event.meta));
    await expectQuarantined(seq, "malformed-payload");
  });

  it("a payload that violates the schema (tq 300)", async () => {
    const payload = encodeCbor({ nodeId: "alice", links: [{ neigh_address: bob.mac, tq: 300, last_seen_msecs: 1, loss: 0, latency_ms: 1 }] });
    const event = sealBytes(LinkMetricsReported, payload, { subject: meshSubject("alice", LinkMetricsReported.type), key: alice.producer.key, producerId: "alice" });
    const seq = await publishRaw(event.meta.subject, event.payload, toHeaders(event.meta));
    const record = await expectQuarantined(seq, "schema-violation");
    expect(record.detail).toContain("tq");
  });

  it("a message without an event envelope", async () => {
    const seq = await publishRaw("mesh.alice.heartbeat", encodeCbor({ nodeId: "alice", uptime: 5 }));
    await expectQuarantined(seq, "malformed-envelope");
  });

  it("a header block nats.js cannot parse (raw protocol, a space in a header name)", async () => {
    const block = "NATS/1.0\r\nBad Name: x\r\n\r\n";
    const payload = "hello";
    const port = Number(new URL(nats.url.split(",")[0]!.replace("nats://", "http://")).port);
    await new Promise<void>((resolve, reject) => {
      const socket = createConnection(port, "127.0.0.1", () => {
        socket.write(`CONNECT {"verbose":false,"headers":true,"protocol":1}\r\nHPUB mesh.alice.heartbeat ${block.length} ${block.length + payload.length}\r\n${block}${payload}\r\nPING\r\n`);
      });
      socket.on("data", (d) => d.toString().includes("PONG") && (socket.end(), resolve()));
      socket.on("error", reject);
    });
    const info = await (await jetstreamManager(nats.nc)).streams.info("MESH");
    const record = await expectQuarantined(info.state.last_seq, "malformed-envelope");
    expect(Buffer.from(record.data).toString()).toBe("hello");
  });

  it("an event type the stream does not carry", async () => {
    const event = sealBytes({ type: "mesh.Teleported", version: 1 }, encodeCbor({ nodeId: "alice" }), { subject: "mesh.alice.teleported", key: alice.producer.key, producerId: "alice" });
    const seq = await publishRaw(event.meta.subject, event.payload, toHeaders(event.meta));
    await expectQuarantined(seq, "unknown-type");
  });

  it("an event from a producer that never announced itself", async () => {
    const stranger = new Producer("stranger", generateSigningKey());
    const event = stranger.seal(HeartbeatSent, { nodeId: "stranger", uptime: 1 }, meshSubject("stranger", HeartbeatSent.type));
    const seq = (await store.append(event)).seq;
    await expectQuarantined(seq, "unknown-producer");
    expect(projection.kb.node("stranger")).toBeUndefined();
  });

  it("an oversized payload", async () => {
    const payload = encodeCbor({ nodeId: "alice", uptime: 1, padding: "x".repeat(4096) });
    const event = sealBytes(HeartbeatSent, payload, { subject: meshSubject("alice", HeartbeatSent.type), key: alice.producer.key, producerId: "alice" });
    const seq = await publishRaw(event.meta.subject, event.payload, toHeaders(event.meta));
    await expectQuarantined(seq, "oversized");
  });

  it("a second announcement of a known node with another key", async () => {
    const impostor = testNode("alice", 1);
    const seq = (await store.append(impostor.announce())).seq;
    await expectQuarantined(seq, "key-mismatch");
  });

  it("a node reporting for another node", async () => {
    const lie: SealedEvent = bob.producer.seal(HeartbeatSent, { nodeId: "alice", uptime: 7 }, meshSubject("alice", HeartbeatSent.type));
    const seq = (await store.append(lie)).seq;
    await expectQuarantined(seq, "unauthorized");
  });

  it("a duplicate event id arriving after the server's dedup window", async () => {
    const jsm = await jetstreamManager(nats.nc);
    const info = await jsm.streams.info("MESH");
    await jsm.streams.update("MESH", { ...info.config, duplicate_window: 100_000_000 });
    try {
      const event = alice.heartbeat(42);
      const first = await store.append(event);
      await new Promise((r) => setTimeout(r, 300));
      const again = await store.append(event);
      expect(again.duplicate).toBe(false);
      expect(again.seq).toBeGreaterThan(first.seq);
      await expectQuarantined(again.seq, "duplicate");
    } finally {
      await jsm.streams.update("MESH", info.config);
    }
  });

  it("keeps consuming good events after every bad one, and counts each reason in /metrics", async () => {
    const last = await store.append(alice.heartbeat(1234));
    await runner.waitFor(last.seq);
    expect(projection.kb.node("alice")?.heartbeat?.uptime).toBe(1234);
    expect(projection.kb.size).toBe(2);
    const text = await metricsRegistry.metrics();
    for (const reason of ["bad-signature", "malformed-payload", "schema-violation", "malformed-envelope", "unknown-type", "unknown-producer", "oversized", "key-mismatch", "unauthorized", "duplicate"]) {
      expect(text).toMatch(new RegExp(`x0_events_quarantined_total\\{[^}]*reason="${reason}"[^}]*\\} [1-9]`));
    }
  });
});
