import { describe, expect, it } from "vitest";
import { generateSigningKey } from "./keys.ts";
import { ProducerRegistry } from "./producer-registry.ts";

describe("ProducerRegistry", () => {
  it("binds the first key of a producer and keeps it (trust on first use)", () => {
    const registry = ProducerRegistry.inMemory();
    const first = generateSigningKey();
    registry.introduce("n1", first.publicKey, { stream: "MESH", seq: 1 });
    registry.introduce("n1", generateSigningKey().publicKey, { stream: "MESH", seq: 2 });
    expect(registry.get("n1")).toMatchObject({ keyId: first.keyId, introducedAt: { seq: 1 } });
  });

  it("an overlay sees keys its base binds later, and never writes its own into the base", () => {
    const base = ProducerRegistry.inMemory();
    const overlay = ProducerRegistry.overlay(base);
    const a = generateSigningKey();
    base.introduce("a", a.publicKey, { stream: "MESH", seq: 1 });
    expect(overlay.get("a")?.keyId).toBe(a.keyId);
    overlay.introduce("b", generateSigningKey().publicKey, { stream: "MESH", seq: 2 });
    expect(overlay.get("b")).toBeDefined();
    expect(base.get("b")).toBeUndefined();
  });
});
