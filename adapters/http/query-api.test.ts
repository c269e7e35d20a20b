import { jetstream } from "@nats-io/jetstream";
import * as Schema from "effect/Schema";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { HeartbeatSent } from "../../domains/mesh/index.ts";
import { KnowledgeBaseProjection } from "../../projections/knowledge-base/index.ts";
import { EventStore, generateSigningKey, ProducerRegistry, ProjectionRunner, sealBytes, toHeaders } from "../../streams/index.ts";
import { testNode } from "../../test/support/mesh.ts";
import { startTestNats, type TestNats } from "../../test/support/nats.ts";
import { startHttpApi, type HttpApi } from "./index.ts";
import { ApiError, Health, NodeDetail, NodeSummary, StreamedEvent, Topology } from "./schemas.ts";

/** Decodes a response body with the Schema the OpenAPI document was generated from. */
const conforms = <S extends Schema.Top>(schema: S, body: unknown) =>
  Schema.decodeUnknownSync(Schema.toCodecJson(schema) as unknown as Schema.Decoder<S["Type"]>)(body);

interface SseMessage {
  readonly id?: string;
  readonly event?: string;
  readonly data?: string;
  readonly comments: readonly string[];
}

/** A GET /events client over fetch(): reads the body stream block by block, stops on demand. */
const openEvents = async (base: string, path: string, headers: Record<string, string> = {}) => {
  const controller = new AbortController();
  const res = await fetch(`${base}${path}`, { headers, signal: controller.signal });
  const reader = res.body!.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  /** The next SSE block (a message, or comments only); undefined once the server ends the stream. */
  const nextBlock = async (): Promise<SseMessage | undefined> => {
    while (!buffer.includes("\n\n")) {
      const { value, done } = await reader.read();
      if (done) return undefined;
      buffer += decoder.decode(value, { stream: true });
    }
    const end = buffer.indexOf("\n\n");
    const lines = buffer.slice(0, end).split("\n");
    buffer = buffer.slice(end + 2);
    const field = (name: string) => lines.find((l) => l.startsWith(`${name}: `))?.slice(name.length + 2);
    const message: Record<string, unknown> = { comments: lines.filter((l) => l.startsWith(":")).map((l) => l.slice(1).trim()) };
    for (const name of ["id", "event", "data"]) if (field(name) !== undefined) message[name] = field(name);
    return message as unknown as SseMessage;
  };
  return {
    res,
    nextBlock,
    /** The next `count` messages that carry an event, comments skipped. */
    async take(count: number) {
      const messages: (SseMessage & { json: typeof StreamedEvent.Type })[] = [];
      while (messages.length < count) {
        const block = await nextBlock();
        if (!block) throw new Error(`stream ended after ${messages.length} of ${count} events`);
        if (block.data !== undefined) messages.push({ ...block, json: conforms(StreamedEvent, JSON.parse(block.data)) });
      }
      return messages;
    },
    close: () => controller.abort(),
  };
};

describe("query API over a real knowledge base and nats-server", () => {
  let nats: TestNats;
  let store: EventStore;
  let runner: ProjectionRunner;
  let projection: KnowledgeBaseProjection;
  let api: HttpApi;
  const alice = testNode("alice", 1);
  const bob = testNode("bob", 2);
  const carol = testNode("carol", 3);
  const strangerMac = "02:00:00:00:00:99";

  const get = async (path: string, init?: RequestInit) => {
    const res = await fetch(`${api.url}${path}`, init);
    const text = await res.text();
    return { res, status: res.status, text, body: res.headers.get("content-type")?.startsWith("application/json") ? (JSON.parse(text) as unknown) : undefined };
  };
  const refused = async (path: string, status: number, init?: RequestInit) => {
    const reply = await get(path, init);
    expect(reply.status).toBe(status);
    expect(reply.res.headers.get("content-type")).toBe("application/json; charset=utf-8");
    return conforms(ApiError, reply.body);
  };

  beforeAll(async () => {
    nats = await startTestNats();
    store = new EventStore(nats.nc);
    projection = new KnowledgeBaseProjection(nats.nc);
    runner = new ProjectionRunner(nats.nc, projection, await ProducerRegistry.open(nats.nc), { checkpointIntervalMs: 50 });
    await runner.start();
    for (const node of [carol, alice, bob]) await store.append(node.announce());
    await store.append(alice.links([{ mac: bob.mac, tq: 230 }, { mac: carol.mac, tq: 120 }]));
    await store.append(bob.links([{ mac: alice.mac, tq: 225 }, { mac: strangerMac, tq: 40 }]));
    await store.append(alice.heartbeat(3600));
    const last = await store.append(alice.metrics(0.25));
    // Durable: the producers' keys are in KV, where /events readers look them up.
    await runner.waitFor(last.seq, { durable: true });
    api = await startHttpApi({ kb: projection.kb, nc: nats.nc, port: 0 });
  });
  afterAll(async () => {
    await api?.close();
    await runner?.stop();
    await nats?.close();
  });

  describe("GET /nodes", () => {
    it("lists every announced node by node id, with its latest state", async () => {
      const { status, res, body } = await get("/nodes");
      expect(status).toBe(200);
      expect(res.headers.get("content-type")).toBe("application/json; charset=utf-8");
      expect(res.headers.get("x-total-count")).toBe("3");
      const nodes = conforms(Schema.Array(NodeSummary), body);
      expect(nodes.map((n) => n.nodeId)).toEqual(["alice", "bob", "carol"]);
      const first = nodes[0]!;
      expect(first.primaryMac).toBe(alice.mac);
      expect(first.neighbourCount).toBe(2);
      expect(first.heartbeat?.uptime).toBe(3600);
      expect(first.metrics?.cpu).toBe(0.25);
      expect(Number.isNaN(Date.parse(first.lastSeen))).toBe(false);
      expect(nodes[2]!.neighbourCount).toBe(0);
    });

    it("pages with limit and offset", async () => {
      const { body } = await get("/nodes?limit=1&offset=1");
      expect((body as { nodeId: string }[]).map((n) => n.nodeId)).toEqual(["bob"]);
      expect((await get("/nodes?offset=5")).body).toEqual([]);
    });

    it.each([
      ["limit=0", "limit"],
      ["limit=abc", "limit"],
      ["limit=1.5", "limit"],
      ["offset=-1", "offset"],
      ["limit=1&limit=2", "limit"],
      ["lmit=5", "lmit: unknown query parameter"],
    ])("refuses ?%s with 400", async (query, mention) => {
      const error = await refused(`/nodes?${query}`, 400);
      expect(error.error).toBe("invalid query parameter");
      expect(error.detail).toContain(mention);
    });
  });

  describe("GET /nodes/{id}", () => {
    it("returns the node with its neighbours resolved to node ids", async () => {
      const { status, body } = await get("/nodes/alice");
      expect(status).toBe(200);
      const node = conforms(NodeDetail, body);
      expect(node.announced?.primaryMac).toBe(alice.mac);
      expect(node.announced?.keyId).toBe(alice.producer.key.keyId);
      expect(JSON.stringify(body)).not.toContain("publicKey");
      expect(node.neighbours.map((l) => [l.target, l.tq])).toEqual([
        ["bob", 230],
        ["carol", 120],
      ]);
    });

    it("answers 404 for a node the knowledge base does not know", async () => {
      const error = await refused("/nodes/nobody", 404);
      expect(error.error).toBe("node not found");
      expect(error.detail).toContain("nobody");
    });

    it.each(["bad.id", "a%20b", "x".repeat(65), "%E0%A4%A"])("answers 400 for the id %s", async (id) => {
      const error = await refused(`/nodes/${id}`, 400);
      expect(error.detail).toMatch(/^id: /u);
    });
  });

  it("GET /topology resolves link targets, leaving an unknown MAC as null", async () => {
    const { status, body } = await get("/topology");
    expect(status).toBe(200);
    const topology = conforms(Topology, body);
    expect(topology.nodes.map((n) => n.nodeId)).toEqual(["alice", "bob", "carol"]);
    expect(topology.links.map((l) => [l.source, l.target, l.neigh_address, l.tq])).toEqual([
      ["alice", "bob", bob.mac, 230],
      ["alice", "carol", carol.mac, 120],
      ["bob", "alice", alice.mac, 225],
      ["bob", null, strangerMac, 40],
    ]);
    expect(topology.links[0]).toMatchObject({ loss: 0, latency_ms: 2, last_seen_msecs: 100 });
  });

  describe("GET /events", () => {
    it("streams events stored after the stream opened, as verified SSE messages", async () => {
      const tail = await openEvents(api.url, "/events");
      expect(tail.res.status).toBe(200);
      expect(tail.res.headers.get("content-type")).toBe("text/event-stream; charset=utf-8");
      const opening = await tail.nextBlock();
      expect(opening?.comments[0]).toMatch(/^streaming mesh\.> from sequence \d+$/u);
      const first = await store.append(bob.heartbeat(11));
      const second = await store.append(carol.heartbeat(12));
      const messages = await tail.take(2);
      tail.close();
      expect(messages.map((m) => m.id)).toEqual([String(first.seq), String(second.seq)]);
      expect(messages.map((m) => m.event)).toEqual(["mesh.HeartbeatSent", "mesh.HeartbeatSent"]);
      expect(messages.map((m) => [m.json.status, m.json.producerId, (m.json.payload as { uptime: number }).uptime])).toEqual([
        ["verified", "bob", 11],
        ["verified", "carol", 12],
      ]);
    });

    it("resumes from from_seq (inclusive) and after Last-Event-ID", async () => {
      const first = await store.append(alice.heartbeat(21));
      const second = await store.append(alice.heartbeat(22));
      const third = await store.append(alice.heartbeat(23));

      const fromSeq = await openEvents(api.url, `/events?subject=mesh.alice.heartbeat&from_seq=${first.seq}`);
      expect((await fromSeq.take(3)).map((m) => Number(m.id))).toEqual([first.seq, second.seq, third.seq]);
      fromSeq.close();

      // A reconnecting EventSource sends its original URL and the id it last saw: the header wins.
      const resumed = await openEvents(api.url, `/events?subject=mesh.alice.heartbeat&from_seq=${first.seq}`, { "Last-Event-ID": String(first.seq) });
      expect((await resumed.take(2)).map((m) => Number(m.id))).toEqual([second.seq, third.seq]);
      resumed.close();
    });

    it("resumes from a time and honours the subject filter", async () => {
      const tail = await openEvents(api.url, "/events?subject=mesh.*.announced&since=2000-01-01T00:00:00Z");
      const messages = await tail.take(3);
      tail.close();
      expect(messages.map((m) => m.json.producerId)).toEqual(["carol", "alice", "bob"]);
      expect(messages.every((m) => m.event === "mesh.NodeAnnounced" && m.json.subject.endsWith(".announced"))).toBe(true);
    });

    it("streams an event that fails verification under its status instead of dropping it", async () => {
      const honest = alice.heartbeat(99);
      const forged = sealBytes(HeartbeatSent, honest.payload, {
        subject: honest.meta.subject,
        key: { ...generateSigningKey(), keyId: alice.producer.key.keyId },
        producerId: "alice",
      });
      const { seq } = await jetstream(nats.nc).publish(forged.meta.subject, forged.payload, { headers: toHeaders(forged.meta) });
      const tail = await openEvents(api.url, `/events?from_seq=${seq}`);
      const [message] = await tail.take(1);
      tail.close();
      expect(message?.id).toBe(String(seq));
      expect(message?.event).toBe("bad-signature");
      expect(message?.json.status).toBe("bad-signature");
      expect(message?.json.type).toBe("mesh.HeartbeatSent");
    });

    it.each([
      ["from_seq=abc", "from_seq: Expected a string representing a finite number"],
      ["from_seq=0", "from_seq: Expected a stream sequence"],
      ["since=garbage", "since: Expected an RFC 3339 time"],
      ["since=2024-05-01", "since: Expected an RFC 3339 time"],
      ["subject=foo.bar", "subject foo.bar is in no stream"],
      ["subject=mesh..x", "is not a NATS subject filter"],
      ["subject=mesh.>.x", "is not a NATS subject filter"],
      ["subject=%3E", "is in no stream"],
      ["from_seq=1&since=2024-05-01T00:00:00Z", "give from_seq or since, not both"],
      ["follow=1", "follow: unknown query parameter"],
    ])("refuses ?%s with 400", async (query, mention) => {
      const error = await refused(`/events?${query}`, 400);
      expect(error.detail).toContain(mention);
    });

    it("refuses a malformed Last-Event-ID with 400", async () => {
      const error = await refused("/events", 400, { headers: { "Last-Event-ID": "abc" } });
      expect(error.error).toBe("invalid Last-Event-ID header");
    });

    it("keeps an idle stream alive with comments, and ends it when the server closes", async () => {
      const other = await startHttpApi({ kb: projection.kb, nc: nats.nc, port: 0, keepAliveMs: 20 });
      const tail = await openEvents(other.url, "/events?subject=mesh.nobody.*");
      let block = await tail.nextBlock();
      while (block && !block.comments.includes("keep-alive")) block = await tail.nextBlock();
      expect(block?.data).toBeUndefined();
      await other.close();
      expect(await tail.nextBlock()).toBeUndefined();
    });
  });

  describe("operations", () => {
    it("GET /healthz is 200 while NATS is connected and the control plane ready", async () => {
      const { status, body } = await get("/healthz");
      expect(status).toBe(200);
      expect(conforms(Health, body)).toEqual({ status: "ok", nats: "connected", ready: true });
    });

    it("GET /healthz is 503 when not ready or when NATS is closed", async () => {
      const starting = await startHttpApi({ kb: projection.kb, nc: nats.nc, port: 0, ready: () => false });
      const notReady = await fetch(`${starting.url}/healthz`);
      expect(notReady.status).toBe(503);
      expect(await notReady.json()).toEqual({ status: "unavailable", nats: "connected", ready: false });
      await starting.close();

      const nc = await nats.connect("x0-http-health");
      const orphan = await startHttpApi({ kb: projection.kb, nc, port: 0 });
      await nc.close();
      const closed = await fetch(`${orphan.url}/healthz`);
      expect(closed.status).toBe(503);
      expect(await closed.json()).toMatchObject({ status: "unavailable", nats: "closed" });
      await orphan.close();
    });

    it("GET /metrics serves the x0_ metrics, HTTP requests counted by route template", async () => {
      await get("/nodes/alice");
      const { status, res, text } = await get("/metrics");
      expect(status).toBe(200);
      expect(res.headers.get("content-type")).toContain("text/plain");
      expect(text).toContain("x0_events_applied_total");
      expect(text).toMatch(/x0_http_requests_total\{route="\/nodes\/\{id\}",status="200"\} \d+/u);
      expect(text).toMatch(/x0_http_requests_total\{route="\/nodes",status="400"\} \d+/u);
    });

    it("GET /openapi.json describes every route, with schemas from the mesh events", async () => {
      const { status, body } = await get("/openapi.json");
      expect(status).toBe(200);
      const document = body as {
        openapi: string;
        paths: Record<string, { get: { responses: Record<string, unknown> } }>;
        components: { schemas: Record<string, unknown> };
      };
      expect(document.openapi).toBe("3.1.0");
      expect(Object.keys(document.paths).sort()).toEqual([
        "/audit/checkpoints",
        "/audit/checkpoints/{n}",
        "/audit/proof/consistency",
        "/audit/proof/inclusion",
        "/commands",
        "/events",
        "/faults",
        "/healthz",
        "/incidents",
        "/incidents/{id}",
        "/metrics",
        "/nodes",
        "/nodes/{id}",
        "/nodes/{id}/health",
        "/openapi.json",
        "/topology",
      ]);
      for (const name of ["mesh.NodeAnnounced", "mesh.HeartbeatSent", "mesh.LinkMetricsReported", "mesh.NodeMetricsReported", "NodeSummary", "NodeDetail", "Topology", "Link", "StreamedEvent", "ApiError", "Health", "AuditCheckpoint", "AuditInclusionBundle", "AuditConsistencyProof"]) {
        expect(document.components.schemas).toHaveProperty([name]);
      }
      expect(JSON.stringify(document.paths["/events"]!.get.responses["200"])).toContain("text/event-stream");
      // Every reference points at a component that exists.
      const refs = [...JSON.stringify(document).matchAll(/"\$ref":"#\/components\/schemas\/([^"]+)"/gu)].map((m) => m[1]!);
      expect(refs.length).toBeGreaterThan(0);
      for (const ref of refs) expect(document.components.schemas).toHaveProperty([ref]);
      expect(JSON.stringify(document)).not.toContain("#/$defs/");
    });

    it("answers unknown paths with 404, other methods with 405 and Allow, long queries with 414", async () => {
      expect((await refused("/nope", 404)).detail).toContain("/nope");
      const reply = await get("/nodes", { method: "POST" });
      expect(reply.status).toBe(405);
      expect(reply.res.headers.get("allow")).toBe("GET");
      await refused(`/nodes?limit=${"1".repeat(1100)}`, 414);
    });
  });
});
