import { describe, expect, it } from "vitest";
import { headers } from "@nats-io/transport-node";
import { HeartbeatSent, meshSubject } from "../domains/mesh/index.ts";
import { canonicalBytes, readEnvelope, sealEvent, toHeaders } from "./envelope.ts";
import { EventRejectedError } from "./errors.ts";
import { generateSigningKey, publicKeyObject, signingKeyFromSeed, verifyBytes } from "./keys.ts";

const key = signingKeyFromSeed(new Uint8Array(32).fill(7));
const fixedClock = { now: () => Date.parse("2026-11-26T10:00:00.123Z") };
const seal = (uptime = 5) =>
  sealEvent(HeartbeatSent, { nodeId: "n1", uptime }, { subject: meshSubject("n1", HeartbeatSent.type), key, producerId: "n1", clock: fixedClock });

describe("event envelope", () => {
  it("signs the canonical bytes: subject, type, version, ids, time and payload", () => {
    const event = seal();
    const bytes = canonicalBytes(event.meta, event.payload);
    expect(verifyBytes(publicKeyObject(key.publicKey), bytes, event.meta.signature)).toBe(true);
    expect(event.meta.occurredAt).toBe("2026-11-26T10:00:00.123Z");
    expect(event.meta.correlationId).toBe(event.meta.eventId);
    for (const field of ["subject", "type", "eventId", "producerId", "occurredAt", "correlationId", "causationId"] as const) {
      const altered = canonicalBytes({ ...event.meta, [field]: `${event.meta[field]}x` }, event.payload);
      expect(verifyBytes(publicKeyObject(key.publicKey), altered, event.meta.signature), field).toBe(false);
    }
    const otherPayload = seal(6).payload;
    expect(verifyBytes(publicKeyObject(key.publicKey), canonicalBytes(event.meta, otherPayload), event.meta.signature)).toBe(false);
  });

  it("event ids are UUIDv7 and differ per event", () => {
    const a = seal();
    const b = seal();
    expect(a.meta.eventId).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(a.meta.eventId).not.toBe(b.meta.eventId);
  });

  it("refuses to seal a payload that violates its schema", () => {
    expect(() =>
      sealEvent(HeartbeatSent, { nodeId: "bad id!", uptime: 1 }, { subject: "mesh.x.heartbeat", key, producerId: "n1" }),
    ).toThrow();
  });

  it("reads back what it wrote, including a W3C traceparent", () => {
    const event = seal();
    const meta = readEnvelope(event.meta.subject, toHeaders(event.meta));
    expect(meta).not.toBeInstanceOf(EventRejectedError);
    expect(meta).toMatchObject({ type: "mesh.HeartbeatSent", version: 1, producerId: "n1", keyId: key.keyId });
    expect((meta as { traceparent: string }).traceparent).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$/);
  });

  it.each([
    ["no headers", undefined],
    ["a missing signature", (() => { const h = toHeaders(seal().meta); h.delete("X0-Signature"); return h; })()],
    ["a bad time", (() => { const h = toHeaders(seal().meta); h.set("X0-Occurred-At", "yesterday"); return h; })()],
    ["a subject token in the producer id", (() => { const h = toHeaders(seal().meta); h.set("X0-Producer", "a.b"); return h; })()],
    ["a non-numeric version", (() => { const h = toHeaders(seal().meta); h.set("X0-Version", "one"); return h; })()],
    ["foreign headers only", (() => { const h = headers(); h.set("foo", "bar"); return h; })()],
  ])("rejects an envelope with %s as malformed", (_case, h) => {
    const result = readEnvelope("mesh.n1.heartbeat", h);
    expect(result).toBeInstanceOf(EventRejectedError);
    expect((result as EventRejectedError).reason).toBe("malformed-envelope");
  });

  it("derives the same key from the same seed, and different keys otherwise", () => {
    expect(signingKeyFromSeed(new Uint8Array(32).fill(7)).keyId).toBe(key.keyId);
    expect(generateSigningKey().keyId).not.toBe(key.keyId);
  });
});
