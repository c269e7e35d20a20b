import { describe, expect, it } from "vitest";
import { EnrolledProducers } from "./model.ts";

const T0 = 1_700_000_000_000;

describe("enrolled producers", () => {
  const enrolment = { producerId: "operator-ann", publicKey: new Uint8Array(32), role: "operator" } as const;
  const envelope = { producerId: "operator-ann", subject: "identity.operator-ann.enrolled" };

  it("binds a role on first use: the same key cannot enrol again in another role", () => {
    const producers = new EnrolledProducers();
    expect(producers.refusal(envelope, enrolment)).toBeUndefined();
    producers.apply(enrolment, { seq: 1, keyId: "k", occurredAt: T0 });
    expect(producers.refusal(envelope, enrolment)).toBeUndefined();
    expect(producers.apply(enrolment, { seq: 2, keyId: "k", occurredAt: T0 })).toBeUndefined();
    expect(producers.refusal(envelope, { ...enrolment, role: "control-plane" })).toContain("enrolled as operator");
    expect(producers.roleOf("operator-ann")).toBe("operator");
  });

  it("refuses an enrolment for someone else, on another subject, or of a mesh node's id", () => {
    const producers = new EnrolledProducers();
    expect(producers.refusal({ ...envelope, producerId: "mallory" }, enrolment)).toContain("mallory may not enrol operator-ann");
    expect(producers.refusal({ ...envelope, subject: "identity.x.enrolled" }, enrolment)).toContain("belongs on identity.operator-ann.enrolled");
    expect(producers.refusal(envelope, enrolment, "MESH")).toContain("producer of MESH");
  });
});
