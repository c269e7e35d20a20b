import { describe, expect, it } from "vitest";
import type { ReadEvent } from "../../streams/event-reader.ts";
import { sseMessage } from "./routes/events.ts";

const meta = {
  subject: "mesh.alice.heartbeat",
  type: "mesh.HeartbeatSent",
  version: 1,
  eventId: "e-1",
  producerId: "alice",
  keyId: "k-1",
  occurredAt: "2024-05-01T12:00:00.000Z",
  correlationId: "e-1",
  causationId: "e-1",
  traceparent: "00-0-0-01",
  signature: new Uint8Array([1, 2, 3]),
};
const event = (overrides: Partial<ReadEvent>): ReadEvent => ({
  stream: "MESH",
  seq: 42,
  subject: meta.subject,
  storedAt: new Date("2024-05-01T12:00:00.001Z"),
  meta,
  payload: { nodeId: "alice", uptime: 7 },
  status: "verified",
  ...overrides,
});
const fields = (message: string) => message.split("\n");

describe("one Server-Sent Event per stored event", () => {
  it("names a verified event by its type, with the sequence as id and the event as one data line", () => {
    const message = sseMessage(event({}));
    expect(message.endsWith("\n\n")).toBe(true);
    const [id, name, data] = fields(message);
    expect(id).toBe("id: 42");
    expect(name).toBe("event: mesh.HeartbeatSent");
    expect(JSON.parse(data!.slice("data: ".length))).toMatchObject({ seq: 42, status: "verified", payload: { uptime: 7 } });
  });

  it("names an event that failed verification by its status, so type listeners never get it", () => {
    const [, name, data] = fields(sseMessage(event({ status: "bad-signature", detail: "signature does not verify" })));
    expect(name).toBe("event: bad-signature");
    expect(JSON.parse(data!.slice("data: ".length))).toMatchObject({ status: "bad-signature", type: "mesh.HeartbeatSent" });
  });

  it("keeps an undecodable event on one line, without payload", () => {
    const { meta: _meta, payload: _payload, ...stored } = event({});
    const message = sseMessage({ ...stored, status: "malformed-envelope", detail: "no headers\nat all" });
    expect(message.split("\n").length).toBe(5);
    expect(message).toContain("event: malformed-envelope\n");
  });

  it("cannot be split into extra fields by a type carrying a newline", () => {
    const message = sseMessage(event({ meta: { ...meta, type: "mesh.X\ndata: injected" } }));
    expect(message.split("\n").filter((line) => line.startsWith("data:"))).toHaveLength(1);
  });
});
